//! One tick of the headless simulation (clock, lifecycles, delta publishing) over worlds of
//! 10,000 to 1,000,000 elements, each with a retrofit step spread over a year so that about
//! 1/365 of them change state per simulated day.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use renewtwin_twin::renewal::TickSeconds;
use renewtwin_twin::sim::{SimConfig, build_app};
use renewtwin_benches::retrofit_sim_input;

fn tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulation_tick");
    group.sample_size(20);
    for elements in [10_000usize, 100_000, 1_000_000] {
        // One simulated day per tick, looping over the year.
        let config = SimConfig { speed: 1.0, looping: true, ..SimConfig::default() };
        let (mut app, _live) = build_app(retrofit_sim_input(elements), &config);
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
