//! [`SensorLog`]: where sensor readings and alerts are kept. The twin decides what to store and
//! when; an implementation (the SQLite store, `renewtwin-store`) decides how. Readings are a
//! time series keyed by (sensor, t): a reading is stored once however often it arrives.

use serde::Serialize;

use super::Reading;
use super::SensorSource;
use super::rules::Alert;

/// How a write treats a reading already stored for the same (sensor, t).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDuplicate {
    /// Keep the stored one (real readings: ingestion is idempotent).
    Keep,
    /// Replace it (simulated readings: recomputed after a plan change).
    Replace,
}

/// One time bucket of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Unix seconds of the bucket's start (a multiple of the step).
    pub t: i64,
    /// Mean of the readings in it.
    pub avg: f64,
    /// Largest reading (or reported maximum) in it.
    pub max: f64,
    /// Readings in it.
    pub count: i64,
}

/// Why the sensor log failed.
#[derive(Debug, thiserror::Error)]
#[error("the sensor log failed")]
pub struct LogError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Where readings and alerts are kept.
pub trait SensorLog: std::fmt::Debug + Send + Sync {
    /// Writes `readings` (all from `source`) at once; returns how many were new.
    fn insert_readings(&self, readings: &[Reading], source: SensorSource, on_duplicate: OnDuplicate) -> Result<usize, LogError>;
    /// Stores `alert`; one with the same id keeps its evidence and takes the worse value.
    /// Returns whether it is new.
    fn upsert_alert(&self, alert: &Alert) -> Result<bool, LogError>;
    /// Deletes `source`'s readings older than `cutoff` (Unix seconds); returns how many.
    fn retain(&self, source: SensorSource, cutoff: i64) -> Result<usize, LogError>;
    /// `sensor`'s readings with `from ≤ t < to` in buckets of `step` seconds.
    fn series(&self, sensor: &str, from: i64, to: i64, step: i64) -> Result<Vec<Bucket>, LogError>;
    /// `sensor`'s latest reading.
    fn latest(&self, sensor: &str) -> Result<Option<Reading>, LogError>;
    /// Stored alerts with `from ≤ t < to`, newest first, at most `limit`.
    fn alerts(&self, from: i64, to: i64, limit: i64) -> Result<Vec<Alert>, LogError>;
}
