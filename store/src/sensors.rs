//! The sensors' tables: readings as a time series keyed by (sensor, t) — the primary key is
//! the (sensor, t) index, so a reading is stored once however often it arrives — and alerts
//! with their evidence as JSON. Queries downsample into time buckets (mean and max);
//! retention deletes readings older than a cutoff.

use crate::db::{Connection, OptionalExtension, Result as DbResult};
use crate::params;
use renewtwin_twin::sensors::log::{Bucket, LogError, OnDuplicate, SensorLog};
use renewtwin_twin::sensors::rules::Alert;
use renewtwin_twin::sensors::{Reading, SensorSource};

use crate::{Migrations, Store};

/// The sensors domain's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    domain: "sensors",
    steps: &[
        (
            "001_readings",
            "CREATE TABLE sensor_readings (
                sensor TEXT NOT NULL,
                t INTEGER NOT NULL,
                value REAL NOT NULL,
                max REAL,
                source TEXT NOT NULL,
                PRIMARY KEY (sensor, t)
            ) WITHOUT ROWID;
            CREATE INDEX sensor_readings_t ON sensor_readings (t);",
        ),
        (
            "002_alerts",
            "CREATE TABLE sensor_alerts (
                id TEXT PRIMARY KEY,
                sensor TEXT NOT NULL,
                rule TEXT NOT NULL,
                t INTEGER NOT NULL,
                value REAL NOT NULL,
                body TEXT NOT NULL
            );
            CREATE INDEX sensor_alerts_t ON sensor_alerts (t);",
        ),
    ],
};

/// Writes `readings` in one transaction; returns how many were new (the rest were already
/// stored).
fn insert_readings(conn: &mut Connection, readings: &[Reading], source: &str, on_duplicate: OnDuplicate) -> DbResult<usize> {
    let tx = conn.transaction()?;
    let mut inserted = 0;
    {
        let sql = match on_duplicate {
            OnDuplicate::Keep => "INSERT OR IGNORE INTO sensor_readings (sensor, t, value, max, source) VALUES (?1, ?2, ?3, ?4, ?5)",
            OnDuplicate::Replace => {
                "INSERT INTO sensor_readings (sensor, t, value, max, source) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sensor, t) DO UPDATE SET value = excluded.value, max = excluded.max, source = excluded.source"
            }
        };
        let mut stmt = tx.prepare(sql)?;
        for r in readings {
            inserted += stmt.execute(params![r.sensor, r.t, r.value, r.max, source])?;
        }
    }
    tx.commit()?;
    Ok(inserted)
}

/// Readings of `sensor` with `from ≤ t < to`, in buckets of `step` seconds, in time order.
fn series(conn: &Connection, sensor: &str, from: i64, to: i64, step: i64) -> DbResult<Vec<Bucket>> {
    let mut stmt = conn.prepare(
        "SELECT (t - ((t % ?4) + ?4) % ?4) AS bucket, AVG(value), MAX(COALESCE(max, value)), COUNT(*)
         FROM sensor_readings WHERE sensor = ?1 AND t >= ?2 AND t < ?3
         GROUP BY bucket ORDER BY bucket",
    )?;
    let rows = stmt.query_map(params![sensor, from, to, step.max(1)], |r| {
        Ok(Bucket { t: r.get(0)?, avg: r.get(1)?, max: r.get(2)?, count: r.get(3)? })
    })?;
    rows.collect()
}

/// The latest reading of `sensor`.
fn latest(conn: &Connection, sensor: &str) -> DbResult<Option<Reading>> {
    conn.query_row(
        "SELECT t, value, max FROM sensor_readings WHERE sensor = ?1 ORDER BY t DESC LIMIT 1",
        [sensor],
        |r| Ok(Reading { sensor: sensor.to_owned(), t: r.get(0)?, value: r.get(1)?, max: r.get(2)? }),
    )
    .optional()
}

/// Deletes readings older than `cutoff` (Unix seconds) of `source`; returns how many.
fn retain(conn: &Connection, source: &str, cutoff: i64) -> DbResult<usize> {
    conn.execute("DELETE FROM sensor_readings WHERE source = ?1 AND t < ?2", params![source, cutoff])
}

/// Stores `alert`; a stored alert with the same id keeps its evidence and takes the worse
/// value. Returns whether it was new.
fn upsert_alert(conn: &Connection, alert: &Alert) -> DbResult<bool> {
    let body = serde_json::to_string(alert).map_err(|e| crate::db::Error::FromSql { column: 5, source: Box::new(e) })?;
    let existed: bool = conn.query_row("SELECT EXISTS(SELECT 1 FROM sensor_alerts WHERE id = ?1)", [&alert.id], |r| r.get(0))?;
    conn.execute(
        "INSERT INTO sensor_alerts (id, sensor, rule, t, value, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET value = CASE WHEN excluded.value > sensor_alerts.value THEN excluded.value ELSE sensor_alerts.value END",
        params![alert.id, alert.sensor, alert.rule, alert.t, alert.value, body],
    )?;
    Ok(!existed)
}

/// Stored alerts with `from ≤ t < to`, newest first, at most `limit`.
fn alerts(conn: &Connection, from: i64, to: i64, limit: i64) -> DbResult<Vec<Alert>> {
    let mut stmt = conn.prepare("SELECT body, value FROM sensor_alerts WHERE t >= ?1 AND t < ?2 ORDER BY t DESC, id LIMIT ?3")?;
    let rows = stmt.query_map(params![from, to, limit], |r| Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (body, value) = row?;
        // A body that no longer parses (an older shape) is skipped rather than failing the list.
        if let Ok(mut a) = serde_json::from_str::<Alert>(&body) {
            a.value = value;
            out.push(a);
        }
    }
    Ok(out)
}

fn source_key(source: SensorSource) -> &'static str {
    match source {
        SensorSource::Real => "real",
        SensorSource::Simulated => "simulated",
    }
}

impl Store {
    fn sensor_log<T>(&self, work: impl FnOnce(&mut Connection) -> DbResult<T>) -> Result<T, LogError> {
        let mut conn = self.lock().map_err(|e| LogError(Box::new(e)))?;
        work(&mut conn).map_err(|e| LogError(Box::new(self.err(e))))
    }
}

/// The sensor log in the store's database (tables of [`MIGRATIONS`]).
impl SensorLog for Store {
    fn insert_readings(&self, readings: &[Reading], source: SensorSource, on_duplicate: OnDuplicate) -> Result<usize, LogError> {
        self.sensor_log(|conn| insert_readings(conn, readings, source_key(source), on_duplicate))
    }

    fn upsert_alert(&self, alert: &Alert) -> Result<bool, LogError> {
        self.sensor_log(|conn| upsert_alert(conn, alert))
    }

    fn retain(&self, source: SensorSource, cutoff: i64) -> Result<usize, LogError> {
        self.sensor_log(|conn| retain(conn, source_key(source), cutoff))
    }

    fn series(&self, sensor: &str, from: i64, to: i64, step: i64) -> Result<Vec<Bucket>, LogError> {
        self.sensor_log(|conn| series(conn, sensor, from, to, step))
    }

    fn latest(&self, sensor: &str) -> Result<Option<Reading>, LogError> {
        self.sensor_log(|conn| latest(conn, sensor))
    }

    fn alerts(&self, from: i64, to: i64, limit: i64) -> Result<Vec<Alert>, LogError> {
        self.sensor_log(|conn| alerts(conn, from, to, limit))
    }
}
