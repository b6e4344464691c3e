//! The sunlight rule (`[sunlight]`): the standard day, the hours a window needs and the
//! effective period, with the defaults of GB 50180-2018 *Standard for urban residential area
//! planning and design* §4.0.9, Table 4.0.9 (climate zones I, II, III, VII, cities of at least
//! 500,000 residents: at least 2 h of sun on 大寒日 within 8:00–16:00 true solar time). The
//! computation is `crate::sunlight`.

use serde::{Deserialize, Serialize};

/// The standard days of China's residential sunlight rule (GB 50180-2018 §4.0.9): 大寒 (the
/// sun at ecliptic longitude 300°, about 20 January) and 冬至 (270°, about 21 December).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StandardDay {
    /// 大寒日, Major Cold.
    Dahan,
    /// 冬至日, the winter solstice.
    Dongzhi,
}

impl StandardDay {
    /// The sun's ecliptic longitude that starts the term.
    pub fn longitude(self) -> f64 {
        match self {
            Self::Dahan => 300.0,
            Self::Dongzhi => 270.0,
        }
    }

    /// Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Dahan => "大寒日",
            Self::Dongzhi => "冬至日",
        }
    }
}

/// The scene's sunlight rule (`[sunlight]` in scene.toml); every field has the GB 50180-2018
/// default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SunlightRule {
    /// `dahan` (大寒日) or `dongzhi` (冬至日).
    pub standard_day: StandardDay,
    /// Hours of direct sun a window needs.
    pub min_hours: f64,
    /// Start of the effective period, hours of true solar time.
    pub from_hour: f64,
    /// End of the effective period.
    pub to_hour: f64,
    /// Sampling step in minutes (1: every minute, as GB 50180 calculations are usually made).
    pub step_minutes: u32,
    /// The year of the standard day (default: the year the scene's plan starts).
    pub year: Option<i32>,
    /// IFC classes whose elements are evaluated.
    pub classes: Vec<String>,
    /// Where the thresholds come from.
    pub source: String,
}

impl Default for SunlightRule {
    fn default() -> Self {
        Self {
            standard_day: StandardDay::Dahan,
            min_hours: 2.0,
            from_hour: 8.0,
            to_hour: 16.0,
            step_minutes: 1,
            year: None,
            classes: vec!["IfcWindow".into()],
            source: "GB 50180-2018 §4.0.9, Table 4.0.9 (climate zones I, II, III, VII, cities ≥ 500,000 residents: ≥ 2 h on 大寒日, 8:00–16:00 true solar time)".into(),
        }
    }
}

impl SunlightRule {
    /// Why the rule cannot be used, naming the field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(0.0..=24.0).contains(&self.min_hours) {
            return Err(("min_hours", format!("{} is not 0-24 hours", self.min_hours)));
        }
        if !((0.0..24.0).contains(&self.from_hour) && self.from_hour < self.to_hour && self.to_hour <= 24.0) {
            return Err(("to_hour", format!("the effective period {}–{} is not within one day", self.from_hour, self.to_hour)));
        }
        if !(1..=60).contains(&self.step_minutes) {
            return Err(("step_minutes", format!("{} is not 1-60 minutes", self.step_minutes)));
        }
        if self.classes.is_empty() {
            return Err(("classes", "names no IFC class to evaluate".into()));
        }
        Ok(())
    }
}

