//! Sensors: the physics against hand-computed values, ingestion edge cases, alert rules, the
//! time series, and the simulated sensors through a headless app on the default scene.

use std::sync::Arc;

use renewtwin_twin::renewal::TickSeconds;
use renewtwin_twin::scene::SceneSource;
use renewtwin_twin::sensors::config::{SensorConfig, SensorsConfig};
use renewtwin_twin::sensors::emission::{energetic_sum, level_at, plume_ugm3};
use renewtwin_twin::sensors::ingest::{IncomingReading, IngestError, ingest};
use renewtwin_twin::sensors::rules::{alerts_for, alerts_over_plan};
use renewtwin_twin::sensors::log::{OnDuplicate, SensorLog};
use renewtwin_twin::analytics::Analytics;
use renewtwin_twin::sensors::simulate::SensorSetup;
use renewtwin_twin::sensors::{AlertLog, Reading, SensorSource};
use renewtwin_twin::sim::{SimConfig, SimInput, build_app};
use renewtwin_store::Store;

/// The sensor tables only.
const ALL: &[renewtwin_store::Migrations] = &[renewtwin_store::sensors::MIGRATIONS];
use renewtwin_importers::ImportConfig;
use renewtwin_protocol::CivilDate;

/// 2026-06-01 00:00 China Standard Time, in Unix seconds.
const JUNE_1_LOCAL_MIDNIGHT: i64 = 1_780_272_000 - 8 * 3600;
const NOW: i64 = JUNE_1_LOCAL_MIDNIGHT + 30 * 86_400;

fn real(id: &str, kind: &str) -> SensorConfig {
    SensorConfig { id: id.into(), kind: kind.into(), x: 0.0, y: 0.0, z: 1.5, source: "real".into() }
}

fn setup() -> SensorSetup {
    let config = SensorsConfig {
        sensors: vec![real("n1", "noise"), real("d1", "pm10"), SensorConfig { source: "simulated".into(), ..real("sim", "noise") }],
        max_batch: 100,
        ..SensorsConfig::default()
    };
    config.validate().expect("valid config");
    SensorSetup::new(config, &Default::default(), Default::default(), CivilDate::new(2026, 1, 1))
}

fn at(hour: i64) -> i64 {
    JUNE_1_LOCAL_MIDNIGHT + hour * 3600
}

fn reading(sensor: &str, t: i64, value: f64) -> IncomingReading {
    IncomingReading { sensor: sensor.into(), t, value, max: None }
}

#[test]
fn a_point_source_on_the_ground_loses_20_log_r_plus_8_decibels() {
    // 100 dB(A) at 10 m: 100 − 20·log10(10) − 8 = 72.
    assert!((level_at(100.0, 10.0, 3.0) - 72.0).abs() < 1e-12);
    // Closer than the minimum distance counts as the minimum: 100 − 20·log10(3) − 8 = 82.458.
    assert!((level_at(100.0, 0.5, 3.0) - 82.4576).abs() < 1e-3);
    // Two 70 dB(A) sources: 73.01 dB(A).
    assert!((energetic_sum([70.0, 70.0]) - 73.0103).abs() < 1e-3);
}

#[test]
fn the_plume_100_m_downwind_matches_the_hand_computed_concentration() {
    // Q = 0.01 g/s, u = 2 m/s, receptor 100 m downwind on the axis:
    // σy = √(10² + (8/√1.01)²) = 12.7815, σz = √(5² + (6/√1.15)²) = 7.5036,
    // C = 10⁴ / (π · 12.7815 · 7.5036 · 2) = 16.594 µg/m³.
    // Wind from the west (270°) blows east.
    let c = plume_ugm3(0.01, [0.0, 0.0], [100.0, 0.0], 270.0, 2.0);
    assert!((c - 16.594).abs() < 0.01, "{c}");
    // 20 m off the axis: × exp(−20² / (2 · 12.7815²)) = × 0.2941.
    let off = plume_ugm3(0.01, [0.0, 0.0], [100.0, 20.0], 270.0, 2.0);
    assert!((off / c - 0.2941).abs() < 1e-3, "{}", off / c);
}

#[test]
fn ingestion_rejects_unknown_simulated_implausible_and_mistimed_readings_naming_each() {
    let setup = setup();
    let store = Store::for_test(ALL).expect("database");
    let batch = vec![
        reading("n1", at(10), 65.0),
        reading("nobody", at(10), 65.0),
        reading("sim", at(10), 65.0),
        reading("n1", at(11), f64::NAN),
        reading("n1", at(12), 400.0),
        reading("d1", at(10), -1.0),
        reading("n1", 100, 60.0),
        reading("n1", NOW + 3600, 60.0),
        IncomingReading { max: Some(50.0), ..reading("n1", at(13), 60.0) },
    ];
    let report = ingest(&setup, &store, &batch, NOW, None).expect("ingested");
    assert_eq!(report.accepted, 1);
    let rejected: Vec<usize> = report.rejected.iter().map(|r| r.index).collect();
    assert_eq!(rejected, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(report.rejected[0].reason.contains("unknown sensor"), "{:?}", report.rejected[0]);
    assert!(report.rejected[1].reason.contains("simulated"), "{:?}", report.rejected[1]);
    assert!(report.rejected[5].reason.contains("before 2000"), "{:?}", report.rejected[5]);
    assert!(report.rejected[6].reason.contains("future"), "{:?}", report.rejected[6]);
    assert!(report.rejected[7].reason.contains("at least the value"), "{:?}", report.rejected[7]);
}

#[test]
fn ingestion_is_idempotent_on_sensor_and_time_and_takes_late_readings_in_order() {
    let setup = setup();
    let store = Store::for_test(ALL).expect("database");
    let batch = vec![reading("n1", at(12), 60.0), reading("n1", at(10), 50.0), reading("n1", at(10), 99.0), reading("n1", at(11), 55.0)];
    let first = ingest(&setup, &store, &batch, NOW, None).expect("first");
    assert_eq!((first.accepted, first.duplicates), (3, 1), "the repeat inside the batch is a duplicate");
    let again = ingest(&setup, &store, &batch, NOW, None).expect("again");
    assert_eq!((again.accepted, again.duplicates), (0, 4), "posting the same batch twice stores nothing new");
    let buckets = store.series("n1", at(0), at(24), 3600).expect("series");
    let values: Vec<(i64, f64)> = buckets.iter().map(|b| (b.t, b.avg)).collect();
    assert_eq!(values, vec![(at(10), 50.0), (at(11), 55.0), (at(12), 60.0)], "first value kept; out-of-order readings in time order");
}

#[test]
fn a_batch_over_the_bound_is_refused_whole() {
    let setup = setup();
    let store = Store::for_test(ALL).expect("database");
    let batch: Vec<IncomingReading> = (0..101).map(|i| reading("n1", at(0) + i, 50.0)).collect();
    let err = ingest(&setup, &store, &batch, NOW, None).expect_err("too many");
    assert!(matches!(err, IngestError::TooMany { count: 101, max: 100 }), "{err}");
}

#[test]
fn noise_rules_follow_gb_12523_by_day_and_night_and_raise_one_alert_per_rule_and_day() {
    let setup = setup();
    let sensor = setup.sensors[0].clone();
    let r = |hour: i64, value: f64, max: Option<f64>| Reading { sensor: "n1".into(), t: at(hour), value, max };
    let readings = vec![
        r(9, 70.0, None),        // at the day limit: fine
        r(10, 71.5, None),       // day exceedance
        r(15, 74.0, None),       // same rule, same day: same alert, worse value
        r(23, 56.0, Some(69.0)), // night LAeq above 55, max below 70
        r(2, 50.0, Some(71.0)),  // night max above 55 + 15
    ];
    let alerts = alerts_for(&setup, &sensor, &readings, &[], None);
    let summary: Vec<(&str, &str, f64, f64, usize)> =
        alerts.iter().map(|a| (a.rule.as_str(), a.date.as_str(), a.value, a.limit, a.evidence.readings.len())).collect();
    assert_eq!(
        summary,
        vec![
            ("noise_night_max", "2026-06-01", 71.0, 70.0, 1),
            ("noise_day", "2026-06-01", 74.0, 70.0, 2),
            ("noise_night", "2026-06-01", 56.0, 55.0, 1),
        ]
    );
    assert_eq!(alerts[1].id, "n1:noise_day:2026-06-01");
}

#[test]
fn a_pm10_reading_above_the_provincial_limit_alerts_and_is_stored_once() {
    let setup = setup();
    let store = Store::for_test(ALL).expect("database");
    let batch = vec![reading("d1", at(10), 80.0), reading("d1", at(11), 95.5)];
    let report = ingest(&setup, &store, &batch, NOW, None).expect("ingested");
    assert_eq!(report.alerts.len(), 1);
    assert_eq!((report.alerts[0].rule.as_str(), report.alerts[0].value, report.alerts[0].limit), ("pm10", 95.5, 80.0));
    let again = ingest(&setup, &store, &batch, NOW, None).expect("again");
    assert!(again.alerts.is_empty(), "the same exceedance is not raised twice");
    let stored = store.alerts(0, i64::MAX, 10).expect("alerts");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].evidence.readings[0].value, 95.5);
}

#[test]
fn series_downsample_to_buckets_with_mean_and_max_and_retention_deletes_old_readings() {
    let store = Store::for_test(ALL).expect("database");
    let readings: Vec<Reading> =
        (0..6).map(|h| Reading { sensor: "s".into(), t: at(h), value: f64::from(h as i32), max: (h == 1).then_some(9.0) }).collect();
    store.insert_readings(&readings, SensorSource::Real, OnDuplicate::Keep).expect("insert");
    // Buckets start at multiples of the step since the epoch (UTC); local midnight in China is
    // 16:00 UTC, a multiple of 2 hours.
    let buckets = store.series("s", at(0), at(6), 2 * 3600).expect("series");
    let got: Vec<(i64, f64, f64, i64)> = buckets.iter().map(|b| (b.t, b.avg, b.max, b.count)).collect();
    assert_eq!(
        got,
        vec![(at(0), 0.5, 9.0, 2), (at(2), 2.5, 3.0, 2), (at(4), 4.5, 5.0, 2)],
        "mean of each pair; max uses the reported maximum"
    );
    assert_eq!(store.retain(SensorSource::Real, at(4)).expect("retain"), 4);
    assert_eq!(store.series("s", at(0), at(6), 3600).expect("series").len(), 2);
}

#[test]
fn the_default_scene_s_simulated_sensors_are_deterministic_and_the_app_raises_what_the_pure_model_predicts() {
    let loaded = renewtwin_twin::renewal::LoadedScene::load(&SceneSource::Default, None, &ImportConfig::default(), None).expect("the default scene loads");
    let analytics = Analytics::prepare(&loaded.manifest, &loaded.model, None).expect("analytics");
    let setup = analytics.sensors.clone();
    assert_eq!(setup.sensors.len(), 8, "a noise and a PM10 sensor on each side of the site");
    assert!(setup.sensors.iter().all(|s| s.source == SensorSource::Simulated));
    let plan = &loaded.plan;
    let day = plan.tasks.iter().filter_map(|t| t.start).min().expect("a task starts");
    let a = setup.simulate_day(plan, day + 3);
    let b = setup.simulate_day(plan, day + 3);
    assert_eq!(a, b, "a pure function of plan, day, seed and weather");
    assert!(!a.active.is_empty());
    for (_, readings) in &a.readings {
        assert_eq!(readings.len(), 24);
        for r in readings {
            let hour = setup.local_hour(r.t);
            let outside = !(7..12).contains(&hour) && !(14..20).contains(&hour);
            if outside && r.sensor.starts_with("noise") {
                assert!(r.value <= setup.background_noise(hour) + 1.0 + 1e-9, "no works outside working hours: {r:?}");
            }
        }
    }

    // The app, stepped one day at a time, raises exactly the alerts of the pure model.
    let days = 240;
    let expected = alerts_over_plan(&setup, plan, Some(days));
    assert!(!expected.is_empty(), "the default plan's works exceed a limit somewhere");
    let feeds = analytics.feeds.clone();
    let config = SimConfig { speed: 1.0, looping: false, ..SimConfig::default() };
    let (mut app, _live) = build_app(SimInput::from_scene(&loaded).with_analytics(analytics), &config);
    app.update();
    for _ in 1..days {
        app.world_mut().insert_resource(TickSeconds(1.0));
        app.update();
    }
    let raised = &app.world().resource::<AlertLog>().0;
    assert_eq!(raised, &expected);
    assert_eq!(feeds.sensors.recent_alerts().len(), expected.len().min(1000));
    let risk = feeds.risk.0.get().expect("the risk layer is published");
    assert_eq!(risk.buildings.len(), 6);
    let today = feeds.population.today.get().expect("the population layer is published");
    assert!(today.day.is_some());
    let _ = Arc::clone(&feeds.sensors);
}

#[test]
fn an_alert_on_a_real_reading_names_the_works_of_the_reading_s_own_day() {
    // Regression: the evidence used to be whatever the simulation showed that moment.
    let mut loaded = renewtwin_twin::renewal::LoadedScene::load(&SceneSource::Default, None, &ImportConfig::default(), None).expect("the default scene loads");
    let mut sensors = loaded.manifest.sensors.clone().unwrap_or_default();
    sensors.sensors = vec![real("gate", "noise")];
    loaded.manifest.sensors = Some(sensors);
    let analytics = Analytics::prepare(&loaded.manifest, &loaded.model, None).expect("analytics");
    let setup = &analytics.sensors;
    let plan = &loaded.plan;
    let busy = (0..plan.end).find(|&d| setup.works.active_on(plan, d).len() >= 2).expect("a day with two tasks at work");
    let quiet = (0..plan.end).find(|&d| setup.works.active_on(plan, d).is_empty()).expect("a day with nothing at work");
    let store = Store::for_test(ALL).expect("database");
    let batch = [reading("gate", setup.hour_t(busy, 10), 75.0), reading("gate", setup.hour_t(quiet, 10), 75.0)];
    let report = ingest(setup, &store, &batch, setup.hour_t(plan.end, 0), Some(plan)).expect("ingested");
    assert_eq!(report.alerts.len(), 2, "one alert per day");
    let tasks = |day: i32| -> Vec<String> {
        let date = setup.local_date(setup.hour_t(day, 10)).to_string();
        report.alerts.iter().find(|a| a.date == date).expect("alert of the day").evidence.tasks.iter().map(|t| t.task.clone()).collect()
    };
    let expected: Vec<String> = setup.works.active_on(plan, busy).into_iter().map(|a| a.task).collect();
    assert_eq!(tasks(busy), expected);
    assert!(tasks(quiet).is_empty());
    let alert = report.alerts.iter().find(|a| !a.evidence.tasks.is_empty()).expect("busy alert");
    assert_eq!(alert.evidence.weather, Some(renewtwin_twin::sensors::emission::weather_on(setup.config.seed, busy, &setup.config.weather)));
}
