//! Grant durations written as `30s`, `15m`, `4h` or `1d`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A positive whole number of seconds, parsed from `<n>s|m|h|d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantDuration(u64);

impl GrantDuration {
    pub fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    pub fn as_secs(self) -> u64 {
        self.0
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.0).unwrap_or(i64::MAX))
    }
}

impl FromStr for GrantDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let unit_at = s.len().saturating_sub(1);
        let (number, unit) = s.split_at(unit_at);
        let multiplier = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => {
                return Err(format!("invalid duration {s:?}: use a number and s, m, h or d, like \"15m\""));
            }
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration {s:?}: use a number and s, m, h or d, like \"15m\""))?;
        if n == 0 {
            return Err(format!("invalid duration {s:?}: must be more than zero"));
        }
        n.checked_mul(multiplier)
            .filter(|secs| *secs <= 366 * 86_400)
            .map(Self)
            .ok_or_else(|| format!("invalid duration {s:?}: at most one year"))
    }
}

impl fmt::Display for GrantDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s.is_multiple_of(86_400) {
            write!(f, "{}d", s / 86_400)
        } else if s.is_multiple_of(3_600) {
            write!(f, "{}h", s / 3_600)
        } else if s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl Serialize for GrantDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GrantDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!("30s".parse::<GrantDuration>().unwrap().as_secs(), 30);
        assert_eq!("15m".parse::<GrantDuration>().unwrap().as_secs(), 900);
        assert_eq!("4h".parse::<GrantDuration>().unwrap().as_secs(), 14_400);
        assert_eq!("1d".parse::<GrantDuration>().unwrap().as_secs(), 86_400);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "h", "4", "4x", "-1h", "0m", "1.5h", "9999d"] {
            assert!(bad.parse::<GrantDuration>().is_err(), "{bad:?} should not parse");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(secs in 1u64..=366 * 86_400) {
            let d = GrantDuration::from_secs(secs);
            prop_assert_eq!(d.to_string().parse::<GrantDuration>().unwrap(), d);
        }
    }
}
