//! Slack request verification (v0 signatures): HMAC-SHA256 of `v0:<timestamp>:<raw body>` with the
//! app's signing secret, compared in constant time, and a timestamp within five minutes of now.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far the request timestamp may be from now, either way.
pub const MAX_CLOCK_SKEW_SECS: i64 = 5 * 60;

/// The header carrying the signature (`v0=<hex>`).
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The header carrying the request's Unix timestamp.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// Why a request is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing X-Slack-Signature header")]
    MissingSignature,
    #[error("missing X-Slack-Request-Timestamp header")]
    MissingTimestamp,
    #[error("malformed X-Slack-Signature header")]
    MalformedSignature,
    #[error("malformed X-Slack-Request-Timestamp header")]
    MalformedTimestamp,
    #[error("request timestamp is more than 5 minutes from now")]
    StaleTimestamp,
    #[error("signature does not match")]
    BadSignature,
}

/// Checks a request: `signature` and `timestamp` are the headers' values (None when absent).
pub fn verify_request(
    signing_secret: &str,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), VerifyError> {
    let signature = signature.ok_or(VerifyError::MissingSignature)?;
    let timestamp = timestamp.ok_or(VerifyError::MissingTimestamp)?;
    let claimed = signature
        .trim()
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|bytes| bytes.len() == 32)
        .ok_or(VerifyError::MalformedSignature)?;
    let seconds: i64 = timestamp.trim().parse().map_err(|_| VerifyError::MalformedTimestamp)?;
    if now.timestamp().abs_diff(seconds) > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
        return Err(VerifyError::StaleTimestamp);
    }
    let expected = mac(signing_secret, timestamp.trim(), body);
    if bool::from(expected.as_slice().ct_eq(&claimed)) { Ok(()) } else { Err(VerifyError::BadSignature) }
}

/// The `X-Slack-Signature` value Slack would send for `body` at `timestamp`.
pub fn sign(signing_secret: &str, timestamp: &str, body: &[u8]) -> String {
    format!("v0={}", hex::encode(mac(signing_secret, timestamp, body)))
}

fn mac(signing_secret: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // The example from Slack's "Verifying requests from Slack" page.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    fn check(signature: Option<&str>, timestamp: Option<&str>, body: &str, now: i64) -> Result<(), VerifyError> {
        verify_request(SECRET, signature, timestamp, body.as_bytes(), at(now))
    }

    #[test]
    fn accepts_slacks_documented_example() {
        assert_eq!(sign(SECRET, TIMESTAMP, BODY.as_bytes()), SIGNATURE);
        assert_eq!(check(Some(SIGNATURE), Some(TIMESTAMP), BODY, 1_531_420_618 + 10), Ok(()));
    }

    #[test]
    fn rejects_a_changed_body_or_secret() {
        let body = BODY.replace("roadrunner", "coyote");
        assert_eq!(check(Some(SIGNATURE), Some(TIMESTAMP), &body, 1_531_420_618), Err(VerifyError::BadSignature));
        let other = sign("another-secret", TIMESTAMP, BODY.as_bytes());
        assert_eq!(check(Some(&other), Some(TIMESTAMP), BODY, 1_531_420_618), Err(VerifyError::BadSignature));
    }

    #[test]
    fn rejects_timestamps_more_than_five_minutes_away_either_way() {
        let ts = 1_531_420_618;
        assert_eq!(check(Some(SIGNATURE), Some(TIMESTAMP), BODY, ts + 300), Ok(()));
        assert_eq!(check(Some(SIGNATURE), Some(TIMESTAMP), BODY, ts - 300), Ok(()));
        assert_eq!(check(Some(SIGNATURE), Some(TIMESTAMP), BODY, ts + 301), Err(VerifyError::StaleTimestamp));
        assert_eq!(check(Some(SIGNATURE), Some(TIMESTAMP), BODY, ts - 301), Err(VerifyError::StaleTimestamp));
    }

    #[test]
    fn missing_and_malformed_headers_are_distinct_errors() {
        let now = 1_531_420_618;
        assert_eq!(check(None, Some(TIMESTAMP), BODY, now), Err(VerifyError::MissingSignature));
        assert_eq!(check(Some(SIGNATURE), None, BODY, now), Err(VerifyError::MissingTimestamp));
        for bad in
            ["", "a2114d57", "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "v0=zz", "v0=abcd"]
        {
            assert_eq!(check(Some(bad), Some(TIMESTAMP), BODY, now), Err(VerifyError::MalformedSignature), "{bad:?}");
        }
        assert_eq!(check(Some(SIGNATURE), Some("yesterday"), BODY, now), Err(VerifyError::MalformedTimestamp));
    }

    #[test]
    fn extreme_timestamps_are_stale_not_overflows() {
        let now = 1_531_420_618;
        for ts in [i64::MIN.to_string(), i64::MAX.to_string(), "-9223372036854775808".into()] {
            assert_eq!(check(Some(SIGNATURE), Some(&ts), BODY, now), Err(VerifyError::StaleTimestamp), "{ts}");
        }
    }

    mod no_panic {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_headers_and_body(
                signature in any::<Option<String>>(),
                timestamp in any::<Option<String>>(),
                body in proptest::collection::vec(any::<u8>(), 0..256),
                now in any::<i32>(),
            ) {
                let result = verify_request(SECRET, signature.as_deref(), timestamp.as_deref(), &body, at(now.into()));
                prop_assert_ne!(result, Ok(()), "a random signature never verifies");
            }

            #[test]
            fn any_timestamp_number(ts in any::<i64>(), now in any::<i32>()) {
                let ts = ts.to_string();
                let signature = sign(SECRET, &ts, BODY.as_bytes());
                let _ = check(Some(&signature), Some(&ts), BODY, now.into());
            }

            #[test]
            fn signatures_of_any_body_verify(body in proptest::collection::vec(any::<u8>(), 0..256), secret in any::<String>()) {
                let signature = sign(&secret, TIMESTAMP, &body);
                let verified = verify_request(&secret, Some(&signature), Some(TIMESTAMP), &body, at(1_531_420_618));
                prop_assert_eq!(verified, Ok(()));
            }
        }
    }
}
