//! The `[sensors]` section of the scene manifest: where the sensors stand and what they
//! measure, the working hours, the jurisdiction's limits, the weather and the emission of
//! each kind of work. Every default below is stated where it is defined; values marked
//! "assumed" are typical figures, not measurements of this site.

use serde::{Deserialize, Serialize};

/// `[sensors]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorsConfig {
    /// Seed of the simulated readings' variation (weather, jitter).
    pub seed: u64,
    /// Local time = UTC + this many hours (China Standard Time: 8). Timestamps of readings
    /// are Unix seconds (UTC).
    pub utc_offset_hours: i32,
    /// Working hours as `[start, end)` local hours; emission happens only inside them
    /// (default 07:00–12:00 and 14:00–20:00).
    pub working_hours: Vec<[u32; 2]>,
    /// Working-hour options compared by the predicted nuisance.
    pub nuisance_options: Vec<HoursOption>,
    /// Receivers closer to a source than this are taken at this distance, metres (assumed 3).
    pub min_distance_m: f64,
    /// Readings older than this many days are deleted (0 keeps everything).
    pub retention_days: u32,
    /// Most readings in one ingested batch.
    pub max_batch: usize,
    /// Limits of the jurisdiction.
    pub limits: LimitsConfig,
    /// Weather and background levels.
    pub weather: WeatherConfig,
    /// Emission of each kind of work.
    pub emission: EmissionConfig,
    /// Further kinds of sensor (beyond the built-in `noise` and `pm10`).
    pub kinds: Vec<KindConfig>,
    /// The sensors; when none are given, a noise and a PM10 sensor stand at the middle of each
    /// side of the model's extent (the site boundary).
    pub sensors: Vec<SensorConfig>,
}

/// A named set of working hours.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursOption {
    /// Name shown to users.
    pub name: String,
    /// `[start, end)` local hours.
    pub working_hours: Vec<[u32; 2]>,
}

/// `[sensors.limits]`: construction noise at the site boundary (GB 12523-2011) and PM10 at the
/// monitoring point (set per province).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Which rules these are, for the record.
    pub jurisdiction: String,
    /// Daytime LAeq limit, dB(A) (GB 12523-2011: 70).
    pub noise_day_dba: f64,
    /// Night-time LAeq limit, dB(A) (GB 12523-2011: 55).
    pub noise_night_dba: f64,
    /// Night-time maximum level may exceed the night limit by at most this, dB(A)
    /// (GB 12523-2011: 15).
    pub night_max_above_dba: f64,
    /// First daytime hour (GB 12523-2011 / the noise law: 06:00).
    pub day_start_hour: u32,
    /// First night-time hour (22:00).
    pub night_start_hour: u32,
    /// Hourly PM10 limit at the monitoring point, µg/m³ (provincial; 80 is an example).
    pub pm10_ugm3: f64,
}

/// `[sensors.weather]`: the site's weather, drawn per day from the seed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeatherConfig {
    /// Prevailing wind, the direction it blows from, degrees clockwise from north
    /// (assumed 135°: the south-east summer monsoon of eastern China).
    pub wind_from_deg: f64,
    /// Daily wind directions spread uniformly ± this many degrees (assumed 45).
    pub wind_spread_deg: f64,
    /// Mean wind speed, m/s (assumed 2.5); a day's speed is uniform in 0.5–1.5 × the mean.
    pub wind_speed_ms: f64,
    /// Chance that a day is rainy (assumed 0.2).
    pub rain_probability: f64,
    /// Dust emission and background PM10 are multiplied by this on rainy days (assumed 0.3).
    pub rain_dust_factor: f64,
    /// Daytime background noise, dB(A) LAeq (assumed 55: a residential street, GB 3096 class 1–2).
    pub background_noise_day_dba: f64,
    /// Night-time background noise, dB(A) (assumed 45).
    pub background_noise_night_dba: f64,
    /// Background PM10, µg/m³ (assumed 50).
    pub background_pm10_ugm3: f64,
    /// Hourly noise readings vary uniformly ± this many dB (assumed 1).
    pub noise_jitter_db: f64,
    /// Hourly PM10 readings vary uniformly ± this fraction (assumed 0.1).
    pub pm10_jitter: f64,
    /// LAmax − LAeq of an hour, dB (assumed 10 while works emit, 6 otherwise).
    pub lmax_crest_db: f64,
}

/// Emission of one kind of work while it runs in working hours.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionEmission {
    /// A-weighted sound power level of the work as one point source, dB(A).
    pub sound_power_dba: f64,
    /// PM10 emission rate, g/s.
    pub dust_gs: f64,
}

/// `[sensors.emission]`: per action. Assumed typical values (sound power in the range BS
/// 5228-1 Annex C gives for site activities; dust rates chosen so that a demolition 30 m upwind
/// of a monitor exceeds 80 µg/m³).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmissionConfig {
    /// Renewing in place (scaffold, facade, windows): 103 dB(A), 0.01 g/s.
    pub retrofit: ActionEmission,
    /// New construction (lift shafts, trenches): 108 dB(A), 0.03 g/s.
    pub new: ActionEmission,
    /// Demolition: 112 dB(A), 0.08 g/s.
    pub demolish: ActionEmission,
    /// Temporary works: 98 dB(A), 0.005 g/s.
    pub temporary: ActionEmission,
}

impl EmissionConfig {
    /// Emission of the action with key `action`; `keep` emits nothing.
    pub fn of(&self, action: &str) -> Option<ActionEmission> {
        match action {
            "retrofit" => Some(self.retrofit),
            "new" => Some(self.new),
            "demolish" => Some(self.demolish),
            "temporary" => Some(self.temporary),
            _ => None,
        }
    }
}

/// `[[sensors.kinds]]`: a further kind of sensor, checked against its plausible range and,
/// when given, an upper limit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindConfig {
    /// Key used by sensors, e.g. `pm25`, `vibration`.
    pub name: String,
    /// Unit shown to users.
    pub unit: String,
    /// Lowest plausible reading.
    pub min: f64,
    /// Highest plausible reading.
    pub max: f64,
    /// A reading above this raises an alert.
    #[serde(default)]
    pub limit: Option<f64>,
}

/// `[[sensors.sensors]]`: one sensor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorConfig {
    /// Stable id (1–64 characters).
    pub id: String,
    /// `noise`, `pm10` or a configured kind.
    pub kind: String,
    /// East, metres in the scene frame.
    pub x: f64,
    /// North, metres in the scene frame.
    pub y: f64,
    /// Height above the scene origin, metres (informative; the models work in plan).
    #[serde(default = "head_height")]
    pub z: f64,
    /// `simulated` (computed from the plan) or `real` (readings are ingested).
    #[serde(default = "simulated")]
    pub source: String,
}

fn head_height() -> f64 {
    1.5
}

fn simulated() -> String {
    "simulated".into()
}

impl Default for SensorsConfig {
    fn default() -> Self {
        let standard = vec![[7, 12], [14, 20]];
        Self {
            seed: 1,
            utc_offset_hours: 8,
            working_hours: standard.clone(),
            nuisance_options: vec![
                HoursOption { name: "standard 07–12, 14–20".into(), working_hours: standard },
                HoursOption { name: "long day 06–22".into(), working_hours: vec![[6, 22]] },
                HoursOption { name: "with evening 07–23".into(), working_hours: vec![[7, 23]] },
            ],
            min_distance_m: 3.0,
            retention_days: 730,
            max_batch: 10_000,
            limits: LimitsConfig::default(),
            weather: WeatherConfig::default(),
            emission: EmissionConfig::default(),
            kinds: Vec::new(),
            sensors: Vec::new(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            jurisdiction: "GB 12523-2011 noise; PM10 80 µg/m³ hourly at the monitoring point (example provincial limit)".into(),
            noise_day_dba: 70.0,
            noise_night_dba: 55.0,
            night_max_above_dba: 15.0,
            day_start_hour: 6,
            night_start_hour: 22,
            pm10_ugm3: 80.0,
        }
    }
}

impl Default for WeatherConfig {
    fn default() -> Self {
        Self {
            wind_from_deg: 135.0,
            wind_spread_deg: 45.0,
            wind_speed_ms: 2.5,
            rain_probability: 0.2,
            rain_dust_factor: 0.3,
            background_noise_day_dba: 55.0,
            background_noise_night_dba: 45.0,
            background_pm10_ugm3: 50.0,
            noise_jitter_db: 1.0,
            pm10_jitter: 0.1,
            lmax_crest_db: 10.0,
        }
    }
}

impl Default for EmissionConfig {
    fn default() -> Self {
        let e = |sound_power_dba, dust_gs| ActionEmission { sound_power_dba, dust_gs };
        Self { retrofit: e(103.0, 0.01), new: e(108.0, 0.03), demolish: e(112.0, 0.08), temporary: e(98.0, 0.005) }
    }
}

/// A kind's unit and plausible range: built in for `noise` (20–140 dB(A)) and `pm10`
/// (0–2000 µg/m³), configured for the rest.
pub fn kind_range(config: &SensorsConfig, kind: &str) -> Option<(String, f64, f64)> {
    match kind {
        "noise" => Some(("dB(A)".to_owned(), 20.0, 140.0)),
        "pm10" => Some(("µg/m³".to_owned(), 0.0, 2000.0)),
        _ => config.kinds.iter().find(|k| k.name == kind).map(|k| (k.unit.clone(), k.min, k.max)),
    }
}

impl SensorsConfig {
    /// Checks values the models cannot work with; the error names the field.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        let bad = |f: String, m: &str| Err(super::ConfigError::new(format!("sensors.{f}"), m));
        let hours_ok = |h: &[[u32; 2]]| h.iter().all(|[s, e]| s < e && *e <= 24);
        if !hours_ok(&self.working_hours) {
            return bad("working_hours".into(), "each entry is [start, end) with 0 ≤ start < end ≤ 24");
        }
        for (i, o) in self.nuisance_options.iter().enumerate() {
            if !hours_ok(&o.working_hours) {
                return bad(format!("nuisance_options[{i}].working_hours"), "each entry is [start, end) with 0 ≤ start < end ≤ 24");
            }
        }
        if !(-12..=14).contains(&self.utc_offset_hours) {
            return bad("utc_offset_hours".into(), "must be between -12 and 14");
        }
        if !(self.min_distance_m.is_finite() && self.min_distance_m > 0.0) {
            return bad("min_distance_m".into(), "must be a positive number of metres");
        }
        if self.max_batch == 0 || self.max_batch > 100_000 {
            return bad("max_batch".into(), "must be 1..=100000");
        }
        let l = &self.limits;
        if ![l.noise_day_dba, l.noise_night_dba, l.night_max_above_dba, l.pm10_ugm3].iter().all(|v| v.is_finite())
            || l.day_start_hour >= 24
            || l.night_start_hour >= 24
        {
            return bad("limits".into(), "limits must be numbers and hours 0..=23");
        }
        let w = &self.weather;
        if !w.wind_speed_ms.is_finite() || w.wind_speed_ms <= 0.0 || !(0.0..=1.0).contains(&w.rain_probability) {
            return bad("weather".into(), "wind_speed_ms must be positive and rain_probability in 0..=1");
        }
        for (i, k) in self.kinds.iter().enumerate() {
            if !(k.min.is_finite() && k.max.is_finite() && k.min < k.max) || k.name == "noise" || k.name == "pm10" {
                return bad(format!("kinds[{i}]"), "needs min < max and a name other than noise or pm10");
            }
        }
        for (i, s) in self.sensors.iter().enumerate() {
            if s.id.is_empty() || s.id.len() > 64 || self.sensors[..i].iter().any(|o| o.id == s.id) {
                return bad(format!("sensors[{i}].id"), "ids are 1–64 characters and unique");
            }
            if kind_range(self, &s.kind).is_none() {
                return bad(format!("sensors[{i}].kind"), "unknown kind; use noise, pm10 or one of [[sensors.kinds]]");
            }
            if !(s.x.is_finite() && s.y.is_finite() && s.z.is_finite()) {
                return bad(format!("sensors[{i}]"), "x, y and z must be numbers");
            }
            if s.source != "simulated" && s.source != "real" {
                return bad(format!("sensors[{i}].source"), "\"simulated\" or \"real\"");
            }
            if s.source == "simulated" && s.kind != "noise" && s.kind != "pm10" {
                return bad(format!("sensors[{i}].source"), "only noise and pm10 sensors can be simulated");
            }
        }
        Ok(())
    }
}
