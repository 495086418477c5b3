//! Timestamps: milliseconds since the Unix epoch, UTC.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in whole milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

// === impl Timestamp ===

impl Timestamp {
    /// From milliseconds since the epoch.
    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// The current time. A clock before 1970 reads as the epoch.
    pub fn now() -> Self {
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Self(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// This time plus `d`, saturating.
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    /// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-24T01:02:03.004Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1000);
        let ms = self.0.rem_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
    }
}

/// Why text is not an RFC 3339 UTC timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a timestamp: use RFC 3339 in UTC, e.g. 2026-11-24T01:02:03Z")]
pub struct TimestampError(String);

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (or `+00:00`).
    fn from_str(s: &str) -> Result<Self, TimestampError> {
        let err = || TimestampError(s.to_owned());
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't' | b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(err());
        }
        let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<i64>().ok()).ok_or_else(err);
        let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
        let mut rest = &s[19..];
        let mut ms = 0i64;
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                return Err(err());
            }
            let padded = format!("{:0<3}", &frac[..digits.min(3)]);
            ms = padded.parse().map_err(|_| err())?;
            rest = &frac[digits..];
        }
        if !matches!(rest, "Z" | "z" | "+00:00")
            || !(1..=12).contains(&mo)
            || !(1..=31).contains(&d)
            || h > 23
            || mi > 59
            || sec > 60
        {
            return Err(err());
        }
        let days = days_from_civil(y, mo as u32, d as u32);
        Ok(Self((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000 + ms))
    }
}

/// Howard Hinnant's civil-to-days algorithm.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(Timestamp::from_millis(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::from_millis(1_795_914_123_004).to_rfc3339(), "2026-11-29T01:02:03.004Z");
        assert_eq!(Timestamp::from_millis(951_782_400_000).to_rfc3339(), "2000-02-29T00:00:00.000Z");
        assert_eq!(Timestamp::from_millis(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
        for ms in [0, 951_782_400_000, 1_795_914_123_004, 1_795_914_123_000] {
            let t = Timestamp::from_millis(ms);
            assert_eq!(t.to_rfc3339().parse::<Timestamp>().unwrap(), t);
        }
        assert_eq!("2026-11-29T01:02:03Z".parse::<Timestamp>().unwrap().as_millis(), 1_795_914_123_000);
        assert_eq!("2026-11-29T01:02:03.5+00:00".parse::<Timestamp>().unwrap().as_millis(), 1_795_914_123_500);
        for bad in ["", "2026-11-29", "2026-13-01T00:00:00Z", "2026-11-29T01:02:03+02:00", "yesterday"] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn rfc3339_round_trip(ms in 0i64..253_402_300_799_999) {
                let t = Timestamp::from_millis(ms);
                prop_assert_eq!(t.to_rfc3339().parse::<Timestamp>().unwrap(), t);
            }

            #[test]
            fn parse_never_panics(s in ".{0,40}") {
                let _ = s.parse::<Timestamp>();
            }
        }
    }
}
