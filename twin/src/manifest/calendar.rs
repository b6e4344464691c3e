//! The working calendar (`[calendar]` of `scene.toml`): days on which no work is done (public
//! holidays), days on which no noisy work is done (quiet days such as the gaokao), and declared
//! stops of some actions (winter heavy-pollution stops of earthworks and demolition). Tasks
//! count their `duration` in working days and stretch over the days they cannot work; the
//! simulated works (noise, dust, alerts) rest on those days. Day and night working hours are
//! `[sensors] working_hours`.
//!
//! The calendar has no built-in dates: holidays differ by year (in the PRC they are set each
//! year by the State Council General Office's notice on public-holiday arrangements, 国务院办公厅
//! 关于部分节假日安排的通知), so a scene declares the ones it relies on and names its source.

use renewtwin_protocol::CivilDate;
use serde::Deserialize;

use super::{Action, ConfigError};

/// A declared run of days, inclusive at both ends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// What it is (shown with the plan), e.g. "国庆节 National Day".
    pub name: String,
    /// First day.
    pub from: CivilDate,
    /// Last day (inclusive).
    pub to: CivilDate,
    /// Only for stops: the actions it stops (`demolish`, `new`, `retrofit`, `temporary`, `keep`).
    #[serde(default)]
    pub actions: Vec<String>,
}

impl Period {
    fn holds(&self, date: CivilDate) -> bool {
        self.from <= date && date <= self.to
    }
}

/// `[calendar]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// Where the dates come from (e.g. the holiday notice), shown with the plan.
    #[serde(default)]
    pub source: String,
    /// No work at all.
    #[serde(default)]
    pub holidays: Vec<Period>,
    /// No noisy work (tasks with `noisy = true`).
    #[serde(default)]
    pub quiet_days: Vec<Period>,
    /// No work of the listed actions (e.g. a heavy-pollution stop of earthworks and demolition).
    #[serde(default)]
    pub stops: Vec<Period>,
}

/// A calendar never looks further than this many days past a task's start for a working day
/// (a scene whose declared periods leave no working day then fails to stretch, instead of
/// hanging).
pub const MAX_LOOKAHEAD_DAYS: i32 = 3660;

impl CalendarConfig {
    /// Checks the periods: each ends no earlier than it starts, stops name known actions.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let lists = [
            ("holidays", &self.holidays),
            ("quiet_days", &self.quiet_days),
            ("stops", &self.stops),
        ];
        for (list, periods) in lists {
            for (i, p) in periods.iter().enumerate() {
                if p.to < p.from {
                    return Err(ConfigError::new(
                        format!("calendar.{list}[{i}].to"),
                        format!("{} is before {}", p.to, p.from),
                    ));
                }
                if list != "stops" && !p.actions.is_empty() {
                    return Err(ConfigError::new(
                        format!("calendar.{list}[{i}].actions"),
                        "only stops name actions",
                    ));
                }
                if list == "stops" && p.actions.is_empty() {
                    return Err(ConfigError::new(
                        format!("calendar.{list}[{i}].actions"),
                        "name the actions the stop halts, e.g. [\"demolish\"]",
                    ));
                }
                for a in &p.actions {
                    if !["keep", "retrofit", "demolish", "new", "temporary"].contains(&a.as_str()) {
                        return Err(ConfigError::new(
                            format!("calendar.{list}[{i}].actions"),
                            format!(
                                "unknown action {a:?}; expected keep, retrofit, demolish, new or temporary"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a task of `action` (noisy or not) may work on `date`.
    pub fn works_on(&self, date: CivilDate, action: Action, noisy: bool) -> bool {
        let holiday = self.holidays.iter().any(|p| p.holds(date));
        let quiet = noisy && self.quiet_days.iter().any(|p| p.holds(date));
        let stopped = self
            .stops
            .iter()
            .any(|p| p.holds(date) && p.actions.iter().any(|a| a == action.key()));
        !(holiday || quiet || stopped)
    }

    /// The plan day of the `k`-th (0-based) working day at or after plan day `base`, for a
    /// task of `action`; `start` is the date of plan day 0. Bounded by [`MAX_LOOKAHEAD_DAYS`].
    pub fn working_day(
        &self,
        start: CivilDate,
        base: i32,
        k: u32,
        action: Action,
        noisy: bool,
    ) -> i32 {
        let mut left = k;
        let limit = base
            .saturating_add(i32::try_from(k).unwrap_or(i32::MAX / 2))
            .saturating_add(MAX_LOOKAHEAD_DAYS);
        let mut day = base;
        while day < limit {
            let date = CivilDate::from_days_since_epoch(start.days_since_epoch() + i64::from(day));
            if self.works_on(date, action, noisy) {
                if left == 0 {
                    return day;
                }
                left -= 1;
            }
            day += 1;
        }
        day
    }
}

/// Plan day of the `k`-th working day from `base` under `calendar` (`base + k` without one).
pub fn working_day(
    calendar: Option<&CalendarConfig>,
    start: CivilDate,
    base: i32,
    k: u32,
    action: Action,
    noisy: bool,
) -> i32 {
    match calendar {
        None => base + i32::try_from(k).unwrap_or(i32::MAX / 2),
        Some(c) => c.working_day(start, base, k, action, noisy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(name: &str, from: (i32, u8, u8), to: (i32, u8, u8), actions: &[&str]) -> Period {
        Period {
            name: name.into(),
            from: CivilDate::new(from.0, from.1, from.2),
            to: CivilDate::new(to.0, to.1, to.2),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn a_ten_working_day_task_stretches_over_a_seven_day_holiday() {
        // Starts Tue 2026-09-29 (day 0); a holiday 2026-10-01..07 (7 days). Working days:
        // 29, 30 Sep (2), then 8..15 Oct (8 more): the 10th working day is 15 Oct, day 16, so
        // the task ends on day 17 (exclusive) instead of day 10.
        let cal = CalendarConfig {
            holidays: vec![period("holiday", (2026, 10, 1), (2026, 10, 7), &[])],
            ..Default::default()
        };
        let start = CivilDate::new(2026, 9, 29);
        assert_eq!(cal.working_day(start, 0, 0, Action::New, true), 0);
        assert_eq!(cal.working_day(start, 0, 9, Action::New, true) + 1, 17);
        assert_eq!(
            working_day(None, start, 0, 9, Action::New, true) + 1,
            10,
            "no calendar: calendar days"
        );
    }

    #[test]
    fn quiet_days_stop_only_noisy_work_and_stops_only_their_actions() {
        let cal = CalendarConfig {
            quiet_days: vec![period("高考 gaokao", (2026, 6, 7), (2026, 6, 9), &[])],
            stops: vec![period(
                "重污染天气 heavy pollution",
                (2026, 12, 1),
                (2026, 12, 3),
                &["demolish"],
            )],
            ..Default::default()
        };
        let d = |m, day| CivilDate::new(2026, m, day);
        assert!(!cal.works_on(d(6, 8), Action::Retrofit, true));
        assert!(cal.works_on(d(6, 8), Action::Retrofit, false));
        assert!(cal.works_on(d(6, 10), Action::Retrofit, true));
        assert!(!cal.works_on(d(12, 2), Action::Demolish, false));
        assert!(cal.works_on(d(12, 2), Action::New, true));
        // A demolition starting on 2026-11-30 for 3 working days: 30 Nov, then 4 and 5 Dec.
        let start = d(11, 30);
        assert_eq!(cal.working_day(start, 0, 2, Action::Demolish, true), 5);
    }

    #[test]
    fn a_calendar_without_working_days_stops_looking_instead_of_hanging() {
        let cal = CalendarConfig {
            holidays: vec![period("all", (2000, 1, 1), (2100, 1, 1), &[])],
            ..Default::default()
        };
        assert_eq!(
            cal.working_day(CivilDate::new(2026, 1, 1), 0, 5, Action::New, true),
            5 + MAX_LOOKAHEAD_DAYS
        );
        let bad = CalendarConfig {
            stops: vec![period("x", (2026, 1, 2), (2026, 1, 1), &["demolish"])],
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
