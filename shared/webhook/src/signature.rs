//! `X-Airlock-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`, for receivers to check.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The `X-Airlock-Signature` value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// True when `header` is the signature of `body` at `timestamp` (constant-time). Receivers should
/// also refuse timestamps more than a few minutes old.
pub fn verify_signature(secret: &[u8], timestamp: i64, body: &[u8], header: &str) -> bool {
    sign(secret, timestamp, body).as_bytes().ct_eq(header.trim().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_timestamp_dot_body() {
        let header = sign(b"s3cret", 1_700_000_000, b"{}");
        assert!(header.starts_with("v1=") && header.len() == 3 + 64);
        assert!(verify_signature(b"s3cret", 1_700_000_000, b"{}", &header));
        assert!(!verify_signature(b"s3cret", 1_700_000_001, b"{}", &header));
        assert!(!verify_signature(b"other", 1_700_000_000, b"{}", &header));
    }
}
