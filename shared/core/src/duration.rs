//! Grant durations written as `30s`, `15m`, `4h` or `1d`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A positive whole number of seconds, at most [`GrantDuration::MAX_SECS`], parsed from `<n>s|m|h|d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantDuration(u64);

impl GrantDuration {
    /// The longest grant: a year (366 days).
    pub const MAX_SECS: u64 = 366 * 86_400;

    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    pub fn as_secs(self) -> u64 {
        self.0
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.0).unwrap_or(i64::MAX))
    }

    /// Parses `"15m"`-style text or plain whole seconds (`"900"`), as forms and the API accept.
    pub fn parse_or_seconds(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return Self::checked(s, s, 1);
        }
        s.parse()
    }

    /// `number` (ASCII digits only: no sign, no fraction) times `multiplier`, within (0, MAX_SECS].
    fn checked(text: &str, number: &str, multiplier: u64) -> Result<Self, String> {
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("invalid duration {text:?}: use a number and s, m, h or d, like \"15m\""));
        }
        if number.bytes().all(|b| b == b'0') {
            return Err(format!("invalid duration {text:?}: must be more than zero"));
        }
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(multiplier))
            .filter(|secs| *secs <= Self::MAX_SECS)
            .map(Self)
            .ok_or_else(|| format!("invalid duration {text:?}: at most one year"))
    }
}

impl FromStr for GrantDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        const UNITS: [(char, u64); 4] = [('s', 1), ('m', 60), ('h', 3_600), ('d', 86_400)];
        let Some((number, multiplier)) = UNITS.iter().find_map(|&(unit, m)| s.strip_suffix(unit).map(|n| (n, m)))
        else {
            return Err(format!("invalid duration {s:?}: use a number and s, m, h or d, like \"15m\""));
        };
        Self::checked(s, number, multiplier)
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
        for bad in ["", "h", "4", "4x", "-1h", "0m", "1.5h", "9999d", "+5m", "1 h", "99999999999999999999999d"] {
            assert!(bad.parse::<GrantDuration>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn multi_byte_text_is_an_error_not_a_panic() {
        for bad in ["1é", "🔥", "5🔥", "é", "1ｍ", "١m"] {
            assert!(bad.parse::<GrantDuration>().is_err(), "{bad:?}");
            assert!(GrantDuration::parse_or_seconds(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn whole_seconds_must_be_positive_plain_digits() {
        assert_eq!(GrantDuration::parse_or_seconds("900").unwrap().as_secs(), 900);
        assert_eq!(GrantDuration::parse_or_seconds(" 15m ").unwrap().as_secs(), 900);
        for bad in ["0", "00", "0s", "+60", "-60", "60.0", "1e3", "31622401", "", " "] {
            assert!(GrantDuration::parse_or_seconds(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(GrantDuration::parse_or_seconds("0").unwrap_err().contains("more than zero"));
    }

    proptest! {
        #[test]
        fn display_round_trips(secs in 1u64..=366 * 86_400) {
            let d = GrantDuration::from_secs(secs);
            prop_assert_eq!(d.to_string().parse::<GrantDuration>().unwrap(), d);
        }

        #[test]
        fn any_text_parses_or_errs_without_panicking(s in any::<String>()) {
            for d in [s.parse::<GrantDuration>(), GrantDuration::parse_or_seconds(&s)].into_iter().flatten() {
                prop_assert!(d.as_secs() > 0 && d.as_secs() <= GrantDuration::MAX_SECS);
            }
        }

        #[test]
        fn a_number_with_any_last_char_never_panics(n in any::<u64>(), unit in any::<char>()) {
            let text = format!("{n}{unit}");
            let parsed = text.parse::<GrantDuration>();
            if !"smhd".contains(unit) || n == 0 {
                prop_assert!(parsed.is_err());
            }
        }

        #[test]
        fn any_bytes_read_as_text_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = text.parse::<GrantDuration>();
            let _ = GrantDuration::parse_or_seconds(&text);
        }
    }
}
