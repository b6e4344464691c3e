//! Real readings coming in over HTTP or the WebSocket: a bounded batch is validated reading by
//! reading (known real sensor, finite value in the kind's plausible range, a timestamp after
//! 2000 and not in the future), stored idempotently on (sensor, t) — a repeated reading is a
//! duplicate, not an error, and late readings simply fall into their place in the series —
//! and checked against the limits. An alert's evidence is the works the plan has at the
//! readings' own time (their local date as a plan day), not whatever the simulation shows now.

use serde::{Deserialize, Serialize};

use super::emission::{DayWeather, weather_on};
use super::rules::{Alert, alerts_for};
use super::log::{LogError, OnDuplicate, SensorLog};
use super::simulate::SensorSetup;
use crate::site::works::ActiveWork;
use super::{Reading, SensorSource};
use crate::renewal::plan::Plan;

/// Earliest timestamp accepted: 2000-01-01T00:00:00Z.
pub const EARLIEST_T: i64 = 946_684_800;
/// Sensor clocks may run ahead of ours by this many seconds.
pub const CLOCK_SKEW_S: i64 = 300;

/// One reading as a client sends it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingReading {
    /// Sensor id.
    pub sensor: String,
    /// Unix seconds (UTC).
    pub t: i64,
    /// The reading: hourly LAeq in dB(A) for noise, the hourly mean in µg/m³ for PM10.
    pub value: f64,
    /// Maximum level in the interval, where the sensor reports it.
    #[serde(default)]
    pub max: Option<f64>,
}

/// `POST /api/sensors/readings` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The readings, in any order.
    pub readings: Vec<IncomingReading>,
}

/// A reading that was refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    /// Its index in the batch.
    pub index: usize,
    /// Why.
    pub reason: String,
}

/// What became of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct IngestReport {
    /// Readings stored for the first time.
    pub accepted: usize,
    /// Readings already stored (or repeated in the batch), left as they were.
    pub duplicates: usize,
    /// Readings refused, with why.
    pub rejected: Vec<Rejected>,
    /// Alerts raised for the first time by this batch.
    pub alerts: Vec<Alert>,
}

/// Why a batch was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// More readings than the configured bound.
    #[error("batch of {count} readings exceeds the limit of {max}; split it")]
    TooMany {
        /// Readings sent.
        count: usize,
        /// `sensors.max_batch`.
        max: usize,
    },
    /// The sensor log failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Validates `batch` at wall-clock `now` (Unix seconds): the valid readings, refusals, and
/// how many repeat an earlier reading of the same batch.
pub fn validate(setup: &SensorSetup, batch: &[IncomingReading], now: i64) -> (Vec<Reading>, Vec<Rejected>, usize) {
    let mut ok: Vec<Reading> = Vec::with_capacity(batch.len());
    let mut seen = std::collections::HashSet::with_capacity(batch.len());
    let mut rejected = Vec::new();
    let mut repeats = 0;
    for (index, r) in batch.iter().enumerate() {
        let reject = |reason: String| Rejected { index, reason };
        let Some(sensor) = setup.sensor(&r.sensor) else {
            rejected.push(reject(format!("unknown sensor {:?}", truncate(&r.sensor))));
            continue;
        };
        if sensor.source != SensorSource::Real {
            rejected.push(reject(format!("sensor {:?} is simulated; its readings are computed, not ingested", sensor.id)));
            continue;
        }
        let Some((unit, min, max)) = super::config::kind_range(&setup.config, &sensor.kind) else {
            rejected.push(reject(format!("sensor {:?} has unknown kind {:?}", sensor.id, sensor.kind)));
            continue;
        };
        let in_range = |v: f64| v.is_finite() && (min..=max).contains(&v);
        if !in_range(r.value) {
            rejected.push(reject(format!("value {} is outside the plausible range {min}–{max} {unit} of {}", r.value, sensor.kind)));
            continue;
        }
        if let Some(m) = r.max
            && (!in_range(m) || m < r.value)
        {
            rejected.push(reject(format!("max {m} must be in {min}–{max} {unit} and at least the value")));
            continue;
        }
        if r.t < EARLIEST_T {
            rejected.push(reject(format!("timestamp {} is before 2000-01-01; send Unix seconds", r.t)));
            continue;
        }
        if r.t > now + CLOCK_SKEW_S {
            rejected.push(reject(format!("timestamp {} is in the future (now {now})", r.t)));
            continue;
        }
        if !seen.insert((sensor.id.as_str(), r.t)) {
            repeats += 1;
            continue;
        }
        ok.push(Reading { sensor: sensor.id.clone(), t: r.t, value: r.value, max: r.max });
    }
    (ok, rejected, repeats)
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Validates, stores and checks `batch`. The evidence of an alert is what `plan` has at work on
/// the local date of the readings that raise it (and that day's modelled weather); with no plan
/// (the simulation has not started), alerts carry their readings only.
pub fn ingest(setup: &SensorSetup, log: &dyn SensorLog, batch: &[IncomingReading], now: i64, plan: Option<&Plan>) -> Result<IngestReport, IngestError> {
    if batch.len() > setup.config.max_batch {
        return Err(IngestError::TooMany { count: batch.len(), max: setup.config.max_batch });
    }
    let (valid, rejected, repeats) = validate(setup, batch, now);
    let accepted = log.insert_readings(&valid, SensorSource::Real, OnDuplicate::Keep)?;
    let mut alerts = Vec::new();
    let mut by_day: std::collections::BTreeMap<(&str, i32), Vec<Reading>> = std::collections::BTreeMap::new();
    for r in &valid {
        by_day.entry((r.sensor.as_str(), setup.sim_day(r.t))).or_default().push(r.clone());
    }
    // The works and weather of each day, worked out once however many sensors read on it.
    let mut days: std::collections::BTreeMap<i32, (Vec<ActiveWork>, Option<DayWeather>)> = std::collections::BTreeMap::new();
    for ((id, day), mine) in by_day {
        let Some(sensor) = setup.sensor(id) else { continue };
        let (active, weather) = days.entry(day).or_insert_with(|| match plan {
            Some(plan) => (setup.works.active_on(plan, day), Some(weather_on(setup.config.seed, day, &setup.config.weather))),
            None => (Vec::new(), None),
        });
        for alert in alerts_for(setup, sensor, &mine, active, weather.as_ref()) {
            if log.upsert_alert(&alert)? {
                alerts.push(alert);
            }
        }
    }
    Ok(IngestReport { accepted, duplicates: valid.len() - accepted + repeats, rejected, alerts })
}
