//! Construction-site sensors: entities with a position that read noise (dB(A)), PM10 (µg/m³)
//! and configured kinds. Simulated sensors are driven by the tasks at work, the working hours
//! and the weather ([`simulate`], [`emission`]); real sensors' readings are ingested over HTTP
//! and the WebSocket ([`ingest`]). Readings are checked against the jurisdiction's limits
//! ([`rules`]); alerts carry their evidence, stream to viewers and are stored ([`log`],
//! [`hub`]).
//!
//! [`SensorsPlugin`] only registers; its systems run in [`SensorsSystems`] after the renewal
//! lifecycles: once per simulated day (or when the plan changes) `Sample` computes the day's 24
//! hourly readings, `Evaluate` checks them, `Publish` stores and streams them.

pub use crate::manifest::sensors as config;
pub mod emission;
pub mod hub;
pub mod ingest;
pub mod log;
pub mod nuisance;
pub mod rules;
pub mod simulate;

use std::sync::Arc;

use bevy_app::{App, Plugin, Startup, Update};
use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

use crate::renewal::{RenewalPlan, RenewalSystems, SimClock};
use hub::SensorHub;
use rules::{Alert, alerts_for};
use simulate::SensorSetup;

/// One reading of one sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Sensor id.
    pub sensor: String,
    /// Unix seconds (UTC) of the start of the interval.
    pub t: i64,
    /// The value: hourly LAeq in dB(A) for noise, hourly mean in µg/m³ for PM10.
    pub value: f64,
    /// Maximum in the interval (LAmax for noise), where known.
    #[serde(default)]
    pub max: Option<f64>,
}

/// Where a sensor's readings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorSource {
    /// Computed from the plan.
    Simulated,
    /// Ingested from the field.
    Real,
}

/// A sensor as configured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensorSpec {
    /// Stable id.
    pub id: String,
    /// `noise`, `pm10` or a configured kind.
    pub kind: String,
    /// Metres in the scene frame.
    pub position: [f64; 3],
    /// Simulated or real.
    pub source: SensorSource,
}

/// A sensor entity: its index in the setup and its spec.
#[derive(Component, Debug, Clone)]
pub struct Sensor {
    /// Index in [`SensorSetup::sensors`].
    pub index: usize,
    /// The spec.
    pub spec: SensorSpec,
}

/// Where a sensor stands, metres in the scene frame.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Position(pub [f64; 3]);

/// The current simulated day's hourly readings of a sensor (empty for real sensors).
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct DayReadings(pub Vec<Reading>);

/// The sensor setup as an ECS resource.
#[derive(Resource, Debug, Clone)]
pub struct SensorModel(pub Arc<SensorSetup>);

/// The hub shared with the server, as an ECS resource.
#[derive(Resource, Debug, Clone)]
pub struct SensorFeed(pub Arc<SensorHub>);

/// The sampled day's works and weather.
#[derive(Resource, Debug, Clone, Default)]
pub struct SampledDay(pub hub::Today);

/// Every alert raised in this app, in order (bounded to the last 10,000).
#[derive(Resource, Debug, Clone, Default)]
pub struct AlertLog(pub Vec<Alert>);

/// An alert raised this update.
#[derive(Message, Debug, Clone)]
pub struct AlertRaised(pub Alert);

/// Systems of the sensors domain, in the order they run.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum SensorsSystems {
    /// Computes the simulated day's readings.
    Sample,
    /// Checks readings against the limits.
    Evaluate,
    /// Stores and streams readings and alerts.
    Publish,
}

/// Registers the sensor entities and the sample → evaluate → publish systems. Does nothing
/// until a [`SensorModel`] resource is inserted (see [`crate::analytics::Analytics::insert_into`]).
#[derive(Debug, Default)]
pub struct SensorsPlugin;

impl Plugin for SensorsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SampledDay>()
            .init_resource::<AlertLog>()
            .add_message::<AlertRaised>()
            .configure_sets(
                Update,
                (SensorsSystems::Sample, SensorsSystems::Evaluate, SensorsSystems::Publish)
                    .chain()
                    .after(RenewalSystems::Lifecycle),
            )
            .add_systems(Startup, spawn_sensors)
            .add_systems(Update, sample_day.in_set(SensorsSystems::Sample))
            .add_systems(Update, evaluate_limits.in_set(SensorsSystems::Evaluate))
            .add_systems(Update, publish.in_set(SensorsSystems::Publish));
    }
}

fn spawn_sensors(mut commands: Commands, model: Option<Res<SensorModel>>) {
    let Some(model) = model else { return };
    for (index, spec) in model.0.sensors.iter().enumerate() {
        commands.spawn((Sensor { index, spec: spec.clone() }, Position(spec.position), DayReadings::default()));
    }
}

fn sample_day(
    clock: Res<SimClock>,
    plan: Option<Res<RenewalPlan>>,
    model: Option<Res<SensorModel>>,
    mut sampled: ResMut<SampledDay>,
    mut sensors: Query<(&Sensor, &mut DayReadings)>,
) {
    let (Some(plan), Some(model)) = (plan, model) else { return };
    let day = clock.whole_day();
    if sampled.0.day == Some(day) && !plan.is_changed() {
        return;
    }
    let setup = &model.0;
    let weather = emission::weather_on(setup.config.seed, day, &setup.config.weather);
    let active = setup.works.active_on(&plan.0, day);
    for (sensor, mut readings) in &mut sensors {
        if sensor.spec.source == SensorSource::Simulated {
            readings.0 = setup.sensor_day(sensor.index, day, &active, &weather);
        }
    }
    sampled.0 = hub::Today { day: Some(day), weather: Some(weather), active };
}

fn evaluate_limits(
    model: Option<Res<SensorModel>>,
    sampled: Res<SampledDay>,
    sensors: Query<(&Sensor, &DayReadings), Changed<DayReadings>>,
    mut raised: MessageWriter<AlertRaised>,
) {
    let Some(model) = model else { return };
    for (sensor, readings) in &sensors {
        for alert in alerts_for(&model.0, &sensor.spec, &readings.0, &sampled.0.active, sampled.0.weather.as_ref()) {
            raised.write(AlertRaised(alert));
        }
    }
}

fn publish(
    feed: Option<Res<SensorFeed>>,
    plan: Option<Res<RenewalPlan>>,
    sampled: Res<SampledDay>,
    mut raised: MessageReader<AlertRaised>,
    mut log: ResMut<AlertLog>,
    sensors: Query<&DayReadings, Changed<DayReadings>>,
) {
    let alerts: Vec<Alert> = raised.read().map(|a| a.0.clone()).collect();
    if let Some(feed) = &feed {
        if let Some(plan) = plan.filter(|p| p.is_changed()) {
            feed.0.set_plan(Arc::new(plan.0.clone()));
        }
        if sampled.is_changed() {
            feed.0.set_today(sampled.0.clone());
            let readings: Vec<Reading> = sensors.iter().flat_map(|r| r.0.iter().cloned()).collect();
            feed.0.publish_simulated(&readings);
        }
        for a in &alerts {
            feed.0.publish_alert(a);
        }
    }
    log.0.extend(alerts);
    let excess = log.0.len().saturating_sub(10_000);
    log.0.drain(..excess);
}
