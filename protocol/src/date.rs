//! Simulated time: a day count from the plan's start, and the civil (Gregorian) date it names.

use serde::{Deserialize, Serialize};

/// Days since the start of the renewal plan (day 0 is the plan's start date).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct SimDay(pub i32);

/// A proleptic Gregorian calendar date. JSON writes it as `"YYYY-MM-DD"`; binary frames as
/// three integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    /// Year, e.g. 2026.
    pub year: i32,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of the month, 1..=31.
    pub day: u8,
}

impl CivilDate {
    /// A date from its parts; out-of-range parts are normalised through the day count.
    pub fn new(year: i32, month: u8, day: u8) -> Self {
        Self::from_days_since_epoch(Self { year, month, day }.days_since_epoch())
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn days_since_epoch(self) -> i64 {
        // Era-based conversion (Howard Hinnant's civil calendar algorithm).
        let m = i64::from(self.month.clamp(1, 12));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(self.day.max(1)) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days_since_epoch(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Self { year, month, day }
    }

    /// The civil date of simulated day `day` of a plan that starts on `start`.
    pub fn from_sim_day(start: CivilDate, day: SimDay) -> Self {
        Self::from_days_since_epoch(start.days_since_epoch() + i64::from(day.0))
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse_iso(text: &str) -> Option<Self> {
        let mut parts = text.trim().splitn(3, '-');
        let year: i32 = parts.next()?.parse().ok()?;
        let month: u8 = parts.next()?.parse().ok()?;
        let day: u8 = parts.next()?.parse().ok()?;
        let date = Self { year, month, day };
        ((1..=12).contains(&month)
            && day >= 1
            && Self::from_days_since_epoch(date.days_since_epoch()) == date)
            .then_some(date)
    }
}

impl Serialize for CivilDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            (self.year, self.month, self.day).serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for CivilDate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Self::parse_iso(&text)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid date {text:?}, expected YYYY-MM-DD")))
        } else {
            let (year, month, day) = <(i32, u8, u8)>::deserialize(deserializer)?;
            Ok(Self { year, month, day })
        }
    }
}

impl std::fmt::Display for CivilDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_is_day_zero() {
        assert_eq!(CivilDate::new(1970, 1, 1).days_since_epoch(), 0);
        assert_eq!(CivilDate::from_days_since_epoch(0), CivilDate::new(1970, 1, 1));
    }

    #[test]
    fn leap_days_are_counted() {
        let feb28 = CivilDate::parse_iso("2028-02-28").expect("valid");
        assert_eq!(CivilDate::from_sim_day(feb28, SimDay(1)).to_string(), "2028-02-29");
        assert_eq!(CivilDate::from_sim_day(feb28, SimDay(2)).to_string(), "2028-03-01");
        assert_eq!(CivilDate::new(2026, 12, 31).days_since_epoch() - CivilDate::new(2026, 1, 1).days_since_epoch(), 364);
    }

    #[test]
    fn json_writes_dates_as_iso_strings() {
        let d = CivilDate::new(2026, 3, 1);
        assert_eq!(serde_json::to_string(&d).expect("json"), "\"2026-03-01\"");
        assert_eq!(serde_json::from_str::<CivilDate>("\"2026-03-01\"").expect("parse"), d);
    }

    #[test]
    fn invalid_iso_dates_are_refused() {
        assert!(CivilDate::parse_iso("2026-02-30").is_none());
        assert!(CivilDate::parse_iso("2026-13-01").is_none());
        assert!(CivilDate::parse_iso("yesterday").is_none());
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        let start = CivilDate::new(1900, 1, 1).days_since_epoch();
        for d in start..start + 146_097 {
            assert_eq!(CivilDate::from_days_since_epoch(d).days_since_epoch(), d);
        }
    }
}
