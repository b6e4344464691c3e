//! What the sensors share with the server: the sensor setup, the sensor log, a broadcast of
//! sensor and alert messages for WebSocket viewers, the most recent alerts, the simulated
//! day's works and weather, and the plan being played (real readings are explained by the
//! works it has at their own time). The simulation thread writes it; request handlers read it.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use renewtwin_protocol::{AlertInfo, SensorReading, ServerMsg};
use tokio::sync::broadcast;

use super::Reading;
use super::emission::DayWeather;
use super::rules::Alert;
use super::SensorSource;
use super::log::{LogError, OnDuplicate, SensorLog};
use super::simulate::SensorSetup;
use crate::renewal::plan::Plan;
use crate::site::works::ActiveWork;

/// Alerts kept in memory for `/api/alerts` when there is no database.
const RECENT_ALERTS: usize = 1000;
/// Frames a slow viewer may fall behind by before it misses some.
const CAPACITY: usize = 256;

/// Today's works and weather.
#[derive(Debug, Clone, Default)]
pub struct Today {
    /// Simulated day.
    pub day: Option<i32>,
    /// Its weather.
    pub weather: Option<DayWeather>,
    /// Tasks at work.
    pub active: Vec<ActiveWork>,
}

/// Shared between the simulation thread and the server.
#[derive(Debug)]
pub struct SensorHub {
    setup: Arc<SensorSetup>,
    log: Option<Arc<dyn SensorLog>>,
    tx: broadcast::Sender<Arc<ServerMsg>>,
    recent: RwLock<VecDeque<Alert>>,
    today: RwLock<Today>,
    plan: RwLock<Option<Arc<Plan>>>,
}

impl Default for SensorHub {
    fn default() -> Self {
        Self::new(Arc::new(SensorSetup::default()), None)
    }
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|p| p.into_inner()).clone()
}

impl SensorHub {
    /// A hub for `setup`, storing into `log` when given.
    pub fn new(setup: Arc<SensorSetup>, log: Option<Arc<dyn SensorLog>>) -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            setup,
            log,
            tx,
            recent: RwLock::new(VecDeque::new()),
            today: RwLock::new(Today::default()),
            plan: RwLock::new(None),
        }
    }

    /// The sensor setup.
    pub fn setup(&self) -> &Arc<SensorSetup> {
        &self.setup
    }

    /// Where readings and alerts are kept, if anywhere.
    pub fn log(&self) -> Option<&Arc<dyn SensorLog>> {
        self.log.as_ref()
    }

    /// Subscribes to [`ServerMsg::Alert`] and [`ServerMsg::SensorReadings`] messages (small:
    /// each session encodes them in its own format).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ServerMsg>> {
        self.tx.subscribe()
    }

    fn broadcast(&self, msg: &ServerMsg) {
        // No receiver is not an error: nobody is watching right now.
        drop(self.tx.send(Arc::new(msg.clone())));
    }

    /// Stores (when there is a database), remembers and streams `alert`.
    pub fn publish_alert(&self, alert: &Alert) {
        if let Some(log) = &self.log
            && let Err(e) = log.upsert_alert(alert)
        {
            tracing::error!(error = %e, alert = %alert.id, "cannot store an alert");
        }
        {
            let mut recent = self.recent.write().unwrap_or_else(|p| p.into_inner());
            recent.retain(|a| a.id != alert.id);
            recent.push_back(alert.clone());
            while recent.len() > RECENT_ALERTS {
                recent.pop_front();
            }
        }
        self.broadcast(&ServerMsg::Alert(alert_info(alert)));
    }

    /// Stores simulated `readings` (replacing earlier values for the same hours) and streams
    /// each sensor's last reading.
    pub fn publish_simulated(&self, readings: &[Reading]) {
        if readings.is_empty() {
            return;
        }
        if let Some(log) = &self.log
            && let Err(e) = log.insert_readings(readings, SensorSource::Simulated, OnDuplicate::Replace)
        {
            tracing::error!(error = %e, "cannot store simulated readings");
        }
        self.publish_readings(readings);
    }

    /// Streams the latest of `readings` per sensor.
    pub fn publish_readings(&self, readings: &[Reading]) {
        let mut latest: Vec<&Reading> = Vec::new();
        for r in readings {
            match latest.iter_mut().find(|l| l.sensor == r.sensor) {
                Some(l) if l.t < r.t => *l = r,
                Some(_) => {}
                None => latest.push(r),
            }
        }
        if !latest.is_empty() {
            self.broadcast(&ServerMsg::SensorReadings(latest.into_iter().map(wire_reading).collect()));
        }
    }

    /// The most recent alerts, newest last.
    pub fn recent_alerts(&self) -> Vec<Alert> {
        read(&self.recent).into_iter().collect()
    }

    /// Records today's works and weather.
    pub fn set_today(&self, today: Today) {
        *self.today.write().unwrap_or_else(|p| p.into_inner()) = today;
    }

    /// Today's works and weather.
    pub fn today(&self) -> Today {
        read(&self.today)
    }

    /// Records the plan the simulation plays (the works that explain real readings).
    pub fn set_plan(&self, plan: Arc<Plan>) {
        *self.plan.write().unwrap_or_else(|p| p.into_inner()) = Some(plan);
    }

    /// The plan the simulation plays, once it has started.
    pub fn plan(&self) -> Option<Arc<Plan>> {
        read(&self.plan)
    }

    /// Deletes real readings older than the retention at wall-clock `now`, and simulated
    /// readings older than the retention before simulated time `sim_now`. Returns how many.
    pub fn apply_retention(&self, now: i64, sim_now: Option<i64>) -> Result<usize, LogError> {
        let days = i64::from(self.setup.config.retention_days);
        let Some(log) = self.log.as_ref().filter(|_| days > 0) else { return Ok(0) };
        let mut n = log.retain(SensorSource::Real, now - days * 86_400)?;
        if let Some(s) = sim_now {
            n += log.retain(SensorSource::Simulated, s - days * 86_400)?;
        }
        Ok(n)
    }

    /// Streams `alerts` raised by ingestion (already stored) and remembers them.
    pub fn announce(&self, alerts: &[Alert]) {
        for alert in alerts {
            let mut recent = self.recent.write().unwrap_or_else(|p| p.into_inner());
            recent.push_back(alert.clone());
            while recent.len() > RECENT_ALERTS {
                recent.pop_front();
            }
            drop(recent);
            self.broadcast(&ServerMsg::Alert(alert_info(alert)));
        }
    }
}

/// A reading on the wire.
pub fn wire_reading(r: &Reading) -> SensorReading {
    SensorReading { sensor: r.sensor.clone(), t: r.t, value: r.value, max: r.max }
}

/// An alert on the wire.
pub fn alert_info(a: &Alert) -> AlertInfo {
    AlertInfo {
        id: a.id.clone(),
        sensor: a.sensor.clone(),
        rule: a.rule.clone(),
        date: a.date.clone(),
        t: a.t,
        value: a.value,
        limit: a.limit,
        unit: a.unit.clone(),
        message: a.message.clone(),
        tasks: a.evidence.tasks.iter().map(|t| t.task.clone()).collect(),
    }
}
