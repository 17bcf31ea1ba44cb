//! Prefixed, sortable identifiers: `req_<ULID>` for requests, `evt_<ULID>` for audit events.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use ulid::{Generator, Ulid};

/// One generator per process, so ids made in the same millisecond still sort in creation order.
static GENERATOR: Mutex<Generator> = Mutex::new(Generator::new());

/// A ULID ordered after every one made earlier by this process.
pub(crate) fn monotonic_ulid() -> Ulid {
    let mut generator = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    generator.generate().unwrap_or_else(|_| Ulid::new())
}

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A new id, ordered after every id made earlier by this process.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, monotonic_ulid()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let ulid = s.strip_prefix($prefix).ok_or_else(|| format!("id must start with {:?}", $prefix))?;
                Ulid::from_string(ulid).map_err(|e| format!("invalid id {s:?}: {e}"))?;
                Ok(Self(s.to_string()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(RequestId, "req_", "An access request's id, `req_<ULID>`.");
prefixed_id!(EventId, "evt_", "An audit event's id, `evt_<ULID>`.");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_foreign_prefixes() {
        let id = RequestId::generate();
        assert_eq!(id.as_str().parse::<RequestId>().unwrap(), id);
        assert!("evt_01J00000000000000000000000".parse::<RequestId>().is_err());
        assert!("req_not-a-ulid".parse::<RequestId>().is_err());
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let ids: Vec<_> = (0..1000).map(|_| EventId::generate()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids sort in creation order, even within a millisecond");
    }

    mod no_panic {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_text(s in any::<String>()) {
                let _ = s.parse::<RequestId>();
                let _ = s.parse::<EventId>();
            }

            #[test]
            fn any_text_after_the_prefix(rest in "\\PC{0,30}") {
                if let Ok(id) = format!("req_{rest}").parse::<RequestId>() {
                    prop_assert_eq!(id.as_str().parse::<RequestId>(), Ok(id.clone()));
                }
            }

            #[test]
            fn any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
                let _ = String::from_utf8_lossy(&bytes).parse::<RequestId>();
            }
        }
    }
}
