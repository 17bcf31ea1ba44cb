//! Email addresses, compared case-insensitively (stored lowercased).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A syntactically plausible email address, lowercased.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }
}

impl FromStr for Email {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let valid = match s.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && !s.chars().any(char::is_whitespace)
            }
            None => false,
        };
        if valid { Ok(Self(s)) } else { Err(format!("invalid email address {s:?}")) }
    }
}

impl TryFrom<String> for Email {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_validates() {
        let e: Email = " Alice@Example.COM ".parse().unwrap();
        assert_eq!(e.as_str(), "alice@example.com");
        assert_eq!(e.domain(), "example.com");
        for bad in ["", "alice", "@example.com", "alice@", "alice@example", "a b@example.com"] {
            assert!(bad.parse::<Email>().is_err(), "{bad:?}");
        }
    }

    mod no_panic {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_text(s in any::<String>()) {
                if let Ok(email) = s.parse::<Email>() {
                    prop_assert!(!email.domain().is_empty());
                    prop_assert_eq!(email.as_str().parse::<Email>(), Ok(email.clone()), "parsing is idempotent");
                }
            }

            #[test]
            fn any_local_part_and_domain(local in any::<String>(), domain in any::<String>()) {
                let _ = format!("{local}@{domain}").parse::<Email>().map(|e| e.domain().len());
            }

            #[test]
            fn any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
                let _ = String::from_utf8_lossy(&bytes).parse::<Email>();
            }
        }
    }
}
