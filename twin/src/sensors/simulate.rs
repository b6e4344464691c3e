//! Simulated sensors: 24 hourly readings per simulated day for every simulated sensor, a pure
//! function of the plan, the day, the seed and the weather configuration.
//!
//! Noise (hourly LAeq, dB(A)): the background of the period (day 06–22, night) plus, in working
//! hours, every noisy task at work that day as point sources ([`super::emission`]), summed
//! energetically, then a uniform jitter of ± `noise_jitter_db`. LAmax = LAeq + `lmax_crest_db`
//! while works emit, + 6 dB otherwise.
//!
//! PM10 (hourly mean, µg/m³): the background plus, in working hours, the plume of every task at
//! work (all tasks raise dust, noisy or not) under the day's wind; on rainy days both are
//! scaled by `rain_dust_factor`; then a uniform jitter of ± `pm10_jitter` (relative).

use renewtwin_protocol::CivilDate;
use serde::Serialize;

use super::config::SensorsConfig;
use super::emission::{DayWeather, energetic_sum, level_at, plume_ugm3, unit, weather_on, working};
use crate::site::works::{ActiveWork, Works};
use super::{Reading, SensorSource, SensorSpec};
use crate::site::{Site, distance};
use crate::renewal::plan::Plan;

/// What the simulated sensors need, prepared once per scene.
#[derive(Debug, Clone)]
pub struct SensorSetup {
    /// The `[sensors]` configuration.
    pub config: SensorsConfig,
    /// Every sensor, simulated and real.
    pub sensors: Vec<SensorSpec>,
    /// Where each task works.
    pub works: Works,
    /// Calendar date of day 0.
    pub start: CivilDate,
    /// Sensor index by id.
    index: std::collections::HashMap<String, usize>,
}

/// One simulated day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaySimulation {
    /// The day.
    pub day: i32,
    /// Its weather.
    pub weather: DayWeather,
    /// Tasks at work.
    pub active: Vec<ActiveWork>,
    /// `(sensor index, 24 hourly readings)` for every simulated sensor.
    pub readings: Vec<(usize, Vec<Reading>)>,
}

const JITTER: u64 = 10;

impl Default for SensorSetup {
    fn default() -> Self {
        Self { config: SensorsConfig::default(), sensors: Vec::new(), works: Works::default(), start: CivilDate::new(2026, 1, 1), index: Default::default() }
    }
}

impl SensorSetup {
    /// Sensors from `config`, or, when it names none, a simulated noise and PM10 sensor at the
    /// middle of each side of the site's extent (the site boundary).
    pub fn new(config: SensorsConfig, site: &Site, works: Works, start: CivilDate) -> Self {
        let mut sensors: Vec<SensorSpec> = config
            .sensors
            .iter()
            .map(|s| SensorSpec {
                id: s.id.clone(),
                kind: s.kind.clone(),
                position: [s.x, s.y, s.z],
                source: if s.source == "real" { SensorSource::Real } else { SensorSource::Simulated },
            })
            .collect();
        if sensors.is_empty()
            && let Some(r) = site.extent
        {
            let c = r.centre();
            let sides = [("S", [c[0], r.min[1]]), ("E", [r.max[0], c[1]]), ("N", [c[0], r.max[1]]), ("W", [r.min[0], c[1]])];
            for (name, p) in sides {
                for kind in ["noise", "pm10"] {
                    sensors.push(SensorSpec {
                        id: format!("{kind}-{name}"),
                        kind: kind.into(),
                        position: [p[0], p[1], 1.5],
                        source: SensorSource::Simulated,
                    });
                }
            }
        }
        let index = sensors.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        Self { config, sensors, works, start, index }
    }

    /// The sensor with id `id`.
    pub fn sensor(&self, id: &str) -> Option<&SensorSpec> {
        self.index.get(id).and_then(|&i| self.sensors.get(i))
    }

    /// Unix seconds of local `hour`:00 on simulated `day`.
    pub fn hour_t(&self, day: i32, hour: u32) -> i64 {
        (self.start.days_since_epoch() + i64::from(day)) * 86_400 + i64::from(hour) * 3600
            - i64::from(self.config.utc_offset_hours) * 3600
    }

    /// The plan day (days since day 0) of Unix time `t`'s local date.
    pub fn sim_day(&self, t: i64) -> i32 {
        let days = self.local_date(t).days_since_epoch() - self.start.days_since_epoch();
        days.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    }

    /// Local hour of Unix time `t`.
    pub fn local_hour(&self, t: i64) -> u32 {
        ((t + i64::from(self.config.utc_offset_hours) * 3600).rem_euclid(86_400) / 3600) as u32
    }

    /// Local calendar date of Unix time `t`.
    pub fn local_date(&self, t: i64) -> CivilDate {
        CivilDate::from_days_since_epoch((t + i64::from(self.config.utc_offset_hours) * 3600).div_euclid(86_400))
    }

    /// Whether local `hour` is daytime under the limits.
    pub fn is_day(&self, hour: u32) -> bool {
        let l = &self.config.limits;
        if l.day_start_hour <= l.night_start_hour {
            (l.day_start_hour..l.night_start_hour).contains(&hour)
        } else {
            !(l.night_start_hour..l.day_start_hour).contains(&hour)
        }
    }

    /// Background noise of local `hour`, dB(A).
    pub fn background_noise(&self, hour: u32) -> f64 {
        let w = &self.config.weather;
        if self.is_day(hour) { w.background_noise_day_dba } else { w.background_noise_night_dba }
    }

    /// Each noisy task's level at `p`, dB(A) (its nearest work position counts; several
    /// positions of one task add energetically).
    pub fn noise_contributions(&self, p: [f64; 2], active: &[ActiveWork]) -> Vec<(String, f64)> {
        active
            .iter()
            .filter(|a| a.noisy)
            .filter_map(|a| {
                let lw = self.config.emission.of(a.action)?.sound_power_dba;
                let l = energetic_sum(a.positions.iter().map(|q| level_at(lw, distance(p, *q), self.config.min_distance_m)));
                Some((a.task.clone(), l))
            })
            .collect()
    }

    /// Each task's PM10 at `p` under `weather`, µg/m³ (before rain).
    pub fn dust_contributions(&self, p: [f64; 2], active: &[ActiveWork], weather: &DayWeather) -> Vec<(String, f64)> {
        active
            .iter()
            .filter_map(|a| {
                let q = self.config.emission.of(a.action)?.dust_gs;
                let c: f64 =
                    a.positions.iter().map(|s| plume_ugm3(q, *s, p, weather.wind_from_deg, weather.wind_speed_ms)).sum();
                Some((a.task.clone(), c))
            })
            .collect()
    }

    /// The hourly readings of simulated sensor `index` on `day`, given the day's works and
    /// weather. Empty for real sensors.
    pub fn sensor_day(&self, index: usize, day: i32, active: &[ActiveWork], weather: &DayWeather) -> Vec<Reading> {
        let Some(s) = self.sensors.get(index) else { return Vec::new() };
        if s.source != SensorSource::Simulated {
            return Vec::new();
        }
        let w = &self.config.weather;
        let p = [s.position[0], s.position[1]];
        let stream = JITTER + index as u64;
        match s.kind.as_str() {
            "noise" => {
                let works = energetic_sum(self.noise_contributions(p, active).into_iter().map(|(_, l)| l));
                (0..24)
                    .map(|h| {
                        let emitting = working(&self.config.working_hours, h) && works.is_finite();
                        let leq = if emitting { energetic_sum([self.background_noise(h), works]) } else { self.background_noise(h) };
                        let value = leq + w.noise_jitter_db * (2.0 * unit(self.config.seed, stream, day, h) - 1.0);
                        let crest = if emitting { w.lmax_crest_db } else { 6.0 };
                        Reading { sensor: s.id.clone(), t: self.hour_t(day, h), value: round2(value), max: Some(round2(value + crest)) }
                    })
                    .collect()
            }
            "pm10" => {
                let works: f64 = self.dust_contributions(p, active, weather).iter().map(|(_, c)| c).sum();
                let rain = if weather.rain { w.rain_dust_factor } else { 1.0 };
                (0..24)
                    .map(|h| {
                        let emitting = if working(&self.config.working_hours, h) { works } else { 0.0 };
                        let mean = (w.background_pm10_ugm3 + emitting) * rain;
                        let value = mean * (1.0 + w.pm10_jitter * (2.0 * unit(self.config.seed, stream, day, h) - 1.0));
                        Reading { sensor: s.id.clone(), t: self.hour_t(day, h), value: round2(value.max(0.0)), max: None }
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Every simulated sensor's readings on `day` under `plan`.
    pub fn simulate_day(&self, plan: &Plan, day: i32) -> DaySimulation {
        let weather = weather_on(self.config.seed, day, &self.config.weather);
        let active = self.works.active_on(plan, day);
        let readings = (0..self.sensors.len())
            .filter(|&i| self.sensors[i].source == SensorSource::Simulated)
            .map(|i| (i, self.sensor_day(i, day, &active, &weather)))
            .collect();
        DaySimulation { day, weather, active, readings }
    }
}

/// Rounds to 0.01 so stored and streamed values are stable in text.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
