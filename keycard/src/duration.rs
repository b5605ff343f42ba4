//! `ms`-style durations (`90s`, `15m`, `12h`, `7d`) and rates (`10/m`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// Parses a duration written as a whole number and a unit: `s`, `m`, `h` or `d`
/// (`90s`, `15m`, `12h`, `7d`), as the `ms` package that Node's `jsonwebtoken` uses.
///
/// A bare number is taken as seconds. Values past 100 years are refused.
pub fn parse_duration(text: &str) -> Result<Duration, Error> {
    let bad = || {
        Error::new(
            ErrorKind::InvalidDuration,
            format!(
                "invalid duration {text:?}: expected a number and a unit, like 90s, 15m, 12h or 7d"
            ),
        )
    };
    let text_trim = text.trim();
    let split = text_trim
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text_trim.len());
    let (digits, unit) = text_trim.split_at(split);
    let value: u64 = digits.parse().map_err(|_| bad())?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let secs = value.checked_mul(factor).ok_or_else(bad)?;
    if secs > 100 * 365 * 86_400 {
        return Err(Error::new(
            ErrorKind::InvalidDuration,
            format!("invalid duration {text:?}: longer than 100 years"),
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// Writes a duration the way [`parse_duration`] reads it, in the largest unit that
/// divides it (`7d`, `15m`, `90s`); sub-second parts are dropped.
///
/// ```
/// use std::time::Duration;
/// use keycard::duration::{format_duration, parse_duration};
///
/// assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
/// assert_eq!(format_duration(Duration::from_secs(90)), "90s");
/// assert_eq!(parse_duration(&format_duration(Duration::from_secs(900))).unwrap().as_secs(), 900);
/// ```
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (value, unit) = match secs {
        0 => (0, "s"),
        s if s % 86_400 == 0 => (s / 86_400, "d"),
        s if s % 3600 == 0 => (s / 3600, "h"),
        s if s % 60 == 0 => (s / 60, "m"),
        s => (s, "s"),
    };
    format!("{value}{unit}")
}

/// A token-bucket rate: a bucket holding `burst` attempts that refills at `burst`
/// per `period`. Written `N/s`, `N/m` or `N/h`; `0` means no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    burst: u32,
    period: Duration,
}

impl Rate {
    /// `burst` attempts per `period`. Returns `None` (no limit) when either is zero.
    pub fn new(burst: u32, period: Duration) -> Option<Self> {
        (burst > 0 && !period.is_zero()).then_some(Self { burst, period })
    }

    /// How many attempts the bucket holds.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The time in which a drained bucket fills up again.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Parses `N/s`, `N/m`, `N/h`, or `0` for "no limit" (`Ok(None)`).
    pub fn parse(text: &str) -> Result<Option<Self>, Error> {
        let bad = || {
            Error::new(
                ErrorKind::InvalidRate,
                format!(
                    "invalid rate {text:?}: expected N/s, N/m or N/h (for example 10/m), or 0 to disable"
                ),
            )
        };
        let text = text.trim();
        if text == "0" {
            return Ok(None);
        }
        let (count, period) = text.split_once('/').ok_or_else(bad)?;
        let burst: u32 = count.trim().parse().map_err(|_| bad())?;
        let period = match period.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(Self::new(burst, period))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "m",
            3600 => "h",
            other => return write!(f, "{}/{}s", self.burst, other),
        };
        write!(f, "{}/{}", self.burst, unit)
    }
}

impl FromStr for Rate {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Rate::parse(s)?.ok_or_else(|| Error::new(ErrorKind::InvalidRate, "a rate of 0 is no rate"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_ms_style() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        for bad in [
            "",
            "s",
            "7w",
            "-5s",
            "1.5h",
            "7 d",
            "99999999999999999999d",
            "200000d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn durations_written_back() {
        for (secs, text) in [
            (0, "0s"),
            (30, "30s"),
            (90, "90s"),
            (300, "5m"),
            (7200, "2h"),
            (604_800, "7d"),
        ] {
            assert_eq!(format_duration(Duration::from_secs(secs)), text);
            assert_eq!(parse_duration(text).unwrap().as_secs(), secs);
        }
    }

    #[test]
    fn rates() {
        let r = Rate::parse("10/m").unwrap().unwrap();
        assert_eq!((r.burst(), r.period()), (10, Duration::from_secs(60)));
        assert_eq!(r.to_string(), "10/m");
        assert_eq!(
            Rate::parse("100/h").unwrap().unwrap().period(),
            Duration::from_secs(3600)
        );
        assert_eq!(Rate::parse("0").unwrap(), None);
        assert_eq!(Rate::parse("0/m").unwrap(), None);
        for bad in ["", "10", "10/d", "x/m", "-1/m", "10/"] {
            assert!(Rate::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
