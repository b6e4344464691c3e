//! One tick of the headless simulation (clock, lifecycles, delta publishing) over worlds of
//! 10,000 to 1,000,000 elements, each with a retrofit step spread over a year so that about
//! 1/365 of them change state per simulated day.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use renewtwin_engine::renewal::TickSeconds;
use renewtwin_engine::renewal::plan::{ElementSchedule, Plan, Step};
use renewtwin_engine::scene::manifest::Action;
use renewtwin_engine::sim::{SimConfig, SimInput, build_app};
use renewtwin_engine::twin::ElementSeed;
use renewtwin_protocol::CivilDate;

fn input(elements: usize) -> SimInput {
    // A fixed linear congruential sequence: the same world on every run.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let schedules = (0..elements)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let start = ((x >> 33) % 365) as i32;
            ElementSchedule(vec![Step { start, end: start + 30, action: Action::Retrofit }])
        })
        .collect();
    let plan = Plan { projects: vec!["bench".into()], schedules, end: 400, ..Plan::default() };
    let seeds = (0..elements).map(|i| ElementSeed { global_id: format!("{i:022}"), class: "IfcWall".into() }).collect();
    SimInput::new(plan, CivilDate::new(2026, 1, 1), seeds)
}

fn tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulation_tick");
    group.sample_size(20);
    for elements in [10_000usize, 100_000, 1_000_000] {
        // One simulated day per tick, looping over the year.
        let config = SimConfig { speed: 1.0, looping: true, ..SimConfig::default() };
        let (mut app, _live) = build_app(input(elements), &config);
        app.world_mut().insert_resource(TickSeconds(1.0));
        app.update();
        group.bench_with_input(BenchmarkId::from_parameter(elements), &elements, |b, _| {
            b.iter(|| {
                app.world_mut().insert_resource(TickSeconds(1.0));
                app.update();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, tick);
criterion_main!(benches);
