//! Alert rules: each reading is checked against the jurisdiction's limits, and the
//! exceedances of one sensor, rule and local date make one alert carrying its evidence (the
//! exceeding readings and the tasks at work, with each task's modelled share at the sensor).
//!
//! Rules (readings are hourly LAeq / hourly means):
//! - `noise_day`: a daytime noise reading above `noise_day_dba` (70 dB(A));
//! - `noise_night`: a night-time noise reading above `noise_night_dba` (55 dB(A));
//! - `noise_night_max`: a night-time maximum (`max`) above `noise_night_dba +
//!   night_max_above_dba` (55 + 15 dB(A));
//! - `pm10`: a PM10 reading above `pm10_ugm3` (80 µg/m³);
//! - `limit`: a reading of a configured kind above its `limit`.

use serde::{Deserialize, Serialize};

use super::emission::DayWeather;
use super::simulate::SensorSetup;
use crate::site::works::ActiveWork;
use super::{Reading, SensorSource, SensorSpec};
use crate::site::distance;

/// One broken limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exceedance {
    /// Rule key.
    pub rule: &'static str,
    /// The value that broke it.
    pub value: f64,
    /// The limit.
    pub limit: f64,
}

/// A task at work when an alert was raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEvidence {
    /// Task id.
    pub task: String,
    /// Name.
    pub name: String,
    /// Action key.
    pub action: String,
    /// Distance from the sensor to its nearest work position, metres.
    pub distance_m: f64,
    /// Its modelled share at the sensor (dB(A) for noise, µg/m³ for PM10), where modelled.
    pub modelled: Option<f64>,
}

/// What an alert rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Evidence {
    /// The readings that broke the limit (at most 24, in time order).
    pub readings: Vec<Reading>,
    /// Tasks at work.
    pub tasks: Vec<TaskEvidence>,
    /// The day's modelled weather (drawn from the seed), which the modelled shares assume.
    pub weather: Option<DayWeather>,
}

/// An exceedance alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `sensor:rule:YYYY-MM-DD`, stable: the same exceedance always has the same id.
    pub id: String,
    /// Sensor id.
    pub sensor: String,
    /// Sensor kind.
    pub kind: String,
    /// Rule key.
    pub rule: String,
    /// Where the readings came from (`simulated` or `real` in JSON).
    pub source: SensorSource,
    /// Local date.
    pub date: String,
    /// Unix seconds of the first exceeding reading.
    pub t: i64,
    /// Worst value.
    pub value: f64,
    /// The limit.
    pub limit: f64,
    /// Unit of both.
    pub unit: String,
    /// One line for people.
    pub message: String,
    /// What it rests on.
    pub evidence: Evidence,
}

/// The limits `reading` of a `kind` sensor breaks at local `hour`.
pub fn check(setup: &SensorSetup, kind: &str, hour: u32, reading: &Reading) -> Vec<Exceedance> {
    let l = &setup.config.limits;
    let mut out = Vec::new();
    match kind {
        "noise" if setup.is_day(hour) => {
            if reading.value > l.noise_day_dba {
                out.push(Exceedance { rule: "noise_day", value: reading.value, limit: l.noise_day_dba });
            }
        }
        "noise" => {
            if reading.value > l.noise_night_dba {
                out.push(Exceedance { rule: "noise_night", value: reading.value, limit: l.noise_night_dba });
            }
            let max_limit = l.noise_night_dba + l.night_max_above_dba;
            if let Some(m) = reading.max.filter(|m| *m > max_limit) {
                out.push(Exceedance { rule: "noise_night_max", value: m, limit: max_limit });
            }
        }
        "pm10" => {
            if reading.value > l.pm10_ugm3 {
                out.push(Exceedance { rule: "pm10", value: reading.value, limit: l.pm10_ugm3 });
            }
        }
        other => {
            if let Some(limit) = setup.config.kinds.iter().find(|k| k.name == other).and_then(|k| k.limit)
                && reading.value > limit
            {
                out.push(Exceedance { rule: "limit", value: reading.value, limit });
            }
        }
    }
    out
}

/// The alerts `readings` of `sensor` raise, one per rule and local date, with the tasks at
/// work (`active`) and the weather as evidence.
pub fn alerts_for(
    setup: &SensorSetup,
    sensor: &SensorSpec,
    readings: &[Reading],
    active: &[ActiveWork],
    weather: Option<&DayWeather>,
) -> Vec<Alert> {
    let mut alerts: Vec<Alert> = Vec::new();
    let unit = super::config::kind_range(&setup.config, &sensor.kind).map(|(u, _, _)| u).unwrap_or_default();
    let p = [sensor.position[0], sensor.position[1]];
    let mut sorted: Vec<&Reading> = readings.iter().collect();
    sorted.sort_by_key(|r| r.t);
    for r in sorted {
        for e in check(setup, &sensor.kind, setup.local_hour(r.t), r) {
            let date = setup.local_date(r.t).to_string();
            let id = format!("{}:{}:{date}", sensor.id, e.rule);
            if let Some(a) = alerts.iter_mut().find(|a| a.id == id) {
                a.value = a.value.max(e.value);
                if a.evidence.readings.len() < 24 {
                    a.evidence.readings.push(r.clone());
                }
                continue;
            }
            let modelled: Vec<(String, f64)> = match (sensor.kind.as_str(), weather) {
                ("noise", _) => setup.noise_contributions(p, active),
                ("pm10", Some(w)) => setup.dust_contributions(p, active, w),
                _ => Vec::new(),
            };
            let tasks = active
                .iter()
                .map(|a| TaskEvidence {
                    task: a.task.clone(),
                    name: a.name.clone(),
                    action: a.action.to_owned(),
                    distance_m: (a.positions.iter().map(|q| distance(p, *q)).fold(f64::INFINITY, f64::min) * 10.0).round() / 10.0,
                    modelled: modelled.iter().find(|(t, _)| *t == a.task).map(|(_, v)| (v * 100.0).round() / 100.0),
                })
                .collect();
            alerts.push(Alert {
                message: format!(
                    "{} {} {:.1} {unit} above the limit {:.1} {unit} on {date}",
                    sensor.kind, sensor.id, e.value, e.limit
                ),
                id,
                sensor: sensor.id.clone(),
                kind: sensor.kind.clone(),
                rule: e.rule.to_owned(),
                source: sensor.source,
                date,
                t: r.t,
                value: e.value,
                limit: e.limit,
                unit: unit.clone(),
                evidence: Evidence { readings: vec![r.clone()], tasks, weather: weather.copied() },
            });
        }
    }
    alerts
}

/// Every alert the simulated sensors raise under `plan` from day 0 until `until` (exclusive;
/// the plan's end when `None`), in day order.
pub fn alerts_over_plan(setup: &SensorSetup, plan: &crate::renewal::plan::Plan, until: Option<i32>) -> Vec<Alert> {
    let end = until.map_or(plan.end, |u| u.min(plan.end));
    let mut out = Vec::new();
    for day in 0..end.max(0) {
        let sim = setup.simulate_day(plan, day);
        for (i, readings) in &sim.readings {
            out.extend(alerts_for(setup, &setup.sensors[*i], readings, &sim.active, Some(&sim.weather)));
        }
    }
    out
}
