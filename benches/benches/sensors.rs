//! 10,000 real sensors at 1 Hz: one second of readings (10,000, one per sensor) validated,
//! stored in SQLite (in memory, WAL settings as in production) and checked against the limits,
//! per iteration. Every iteration sends a new second, so nothing is a duplicate; one sensor in
//! a hundred reads above the day limit.

use std::cell::Cell;

use criterion::{Criterion, criterion_group, criterion_main};
use renewtwin_twin::renewal::plan::Plan;
use renewtwin_twin::sensors::config::{SensorConfig, SensorsConfig};
use renewtwin_twin::sensors::ingest::{IncomingReading, ingest, validate};
use renewtwin_twin::sensors::simulate::SensorSetup;
use renewtwin_store::Store;

/// The sensor tables only.
const ALL: &[renewtwin_store::Migrations] = &[renewtwin_store::sensors::MIGRATIONS];
use renewtwin_protocol::CivilDate;

const SENSORS: usize = 10_000;
/// 2026-06-01 02:00 UTC (10:00 in China: daytime limits).
const T0: i64 = 1_780_279_200;

fn setup() -> SensorSetup {
    let sensors = (0..SENSORS)
        .map(|i| SensorConfig {
            id: format!("s{i:05}"),
            kind: if i % 2 == 0 { "noise".into() } else { "pm10".into() },
            x: (i % 100) as f64,
            y: (i / 100) as f64,
            z: 1.5,
            source: "real".into(),
        })
        .collect();
    let config = SensorsConfig { sensors, max_batch: SENSORS, ..SensorsConfig::default() };
    SensorSetup::new(config, &Default::default(), Default::default(), CivilDate::new(2026, 1, 1))
}

fn second(t: i64) -> Vec<IncomingReading> {
    (0..SENSORS)
        .map(|i| {
            let loud = i % 100 == 0;
            let value = if i % 2 == 0 { if loud { 75.0 } else { 62.0 } } else if loud { 120.0 } else { 45.0 };
            IncomingReading { sensor: format!("s{i:05}"), t, value, max: None }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let setup = setup();
    let mut group = c.benchmark_group("sensors_10k_at_1hz");
    group.sample_size(20);
    let batch = second(T0);
    group.bench_function("validate_one_second", |b| b.iter(|| validate(&setup, &batch, T0 + 60)));
    let store = Store::in_memory(ALL).expect("database");
    // A plan with no works: alerts look up the (empty) works of their day, as in production.
    let plan = Plan::default();
    let t = Cell::new(T0);
    group.bench_function("ingest_one_second", |b| {
        b.iter_batched(
            || {
                t.set(t.get() + 1);
                second(t.get())
            },
            |batch| ingest(&setup, &store, &batch, T0 + 86_400, Some(&plan)).expect("ingested"),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
