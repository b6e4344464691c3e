//! Live streaming costs: quantizing and encoding meshes, encoding state deltas (postcard and
//! JSON), encoding the whole default scene for the wire, and fanning one published delta out
//! to 100 / 1,000 subscribed sessions, unfiltered (shared bytes) and filtered (re-encoded).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use renewtwin_twin::renewal::TickSeconds;
use renewtwin_twin::sim::{SimConfig, build_app};
use renewtwin_benches::retrofit_sim_input;
use renewtwin_protocol::{CivilDate, LifecycleState, MeshData, ServerMsg, SimDay, StateChange, StateDelta};

/// A grid mesh of `n × n` vertices (a wavy roof), positions and normals three per vertex.
fn grid(n: usize) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    let mut positions = Vec::with_capacity(n * n * 3);
    let mut normals = Vec::with_capacity(n * n * 3);
    for y in 0..n {
        for x in 0..n {
            let (fx, fy) = (x as f32 * 0.1, y as f32 * 0.1);
            positions.extend([fx, fy, (fx.sin() + fy.cos()) * 0.5]);
            let (dx, dy) = (-fx.cos() * 0.5, fy.sin() * 0.5);
            let l = (dx * dx + dy * dy + 1.0).sqrt();
            normals.extend([dx / l, dy / l, 1.0 / l]);
        }
    }
    let mut indices = Vec::new();
    for y in 0..n as u32 - 1 {
        for x in 0..n as u32 - 1 {
            let i = y * n as u32 + x;
            indices.extend([i, i + 1, i + n as u32, i + 1, i + n as u32 + 1, i + n as u32]);
        }
    }
    (positions, normals, indices)
}

fn delta(changes: usize) -> StateDelta {
    StateDelta {
        seq: 1,
        day: SimDay(100),
        date: CivilDate::new(2026, 6, 9),
        changes: (0..changes as u32).map(|element| StateChange { element: element * 7, state: LifecycleState::UnderConstruction }).collect(),
        phases: vec![],
        sent_at_us: 1,
    }
}

fn encoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("streaming_encode");
    let (p, n, i) = grid(100);
    let mesh = MeshData::quantize(0, &p, &n, &i);
    let frame = renewtwin_protocol::encode(&ServerMsg::Meshes { meshes: vec![mesh.clone()], placements: vec![] }).expect("encode");
    group.throughput(Throughput::Elements((p.len() / 3) as u64));
    group.bench_function("quantize_mesh_10k_vertices", |b| b.iter(|| MeshData::quantize(0, &p, &n, &i)));
    group.bench_function("decode_dequantize_mesh_10k_vertices", |b| {
        b.iter(|| match renewtwin_protocol::decode::<ServerMsg>(&frame) {
            Ok(ServerMsg::Meshes { meshes, .. }) => meshes.iter().map(|m| m.dequantize().map_or(0, |d| d.positions.len())).sum::<usize>(),
            _ => 0,
        })
    });
    for changes in [10usize, 1_000] {
        let msg = ServerMsg::State(delta(changes));
        group.throughput(Throughput::Elements(changes as u64));
        group.bench_with_input(BenchmarkId::new("delta_postcard", changes), &msg, |b, m| b.iter(|| renewtwin_protocol::encode(m)));
        group.bench_with_input(BenchmarkId::new("delta_json", changes), &msg, |b, m| b.iter(|| serde_json::to_string(m)));
    }
    group.finish();

    let mut group = c.benchmark_group("streaming_scene");
    group.sample_size(10);
    let loaded = renewtwin_twin::renewal::LoadedScene::from_manifest(
        renewtwin_twin::scene::Manifest::parse("default", renewtwin_twin::scene::DEFAULT_MANIFEST).expect("manifest"),
        None,
        None,
        &renewtwin_importers::ImportConfig::default(),
    )
    .expect("the default scene loads");
    group.bench_function("encode_default_scene", |b| b.iter(|| renewtwin_twin::wire::SceneStatic::build(&loaded).map(|s| s.scene_bytes)));
    group.finish();
}

fn fan_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("streaming_fan_out");
    group.sample_size(20);
    for sessions in [100usize, 1_000] {
        let config = SimConfig { speed: 1.0, looping: true, ..SimConfig::default() };
        let (mut app, live) = build_app(retrofit_sim_input(10_000), &config);
        let mut receivers: Vec<_> = (0..sessions).map(|_| live.subscribe()).collect();
        group.throughput(Throughput::Elements(sessions as u64));
        // One tick publishes one delta; every session takes the shared encoded bytes.
        group.bench_with_input(BenchmarkId::new("shared_bytes", sessions), &sessions, |b, _| {
            b.iter(|| {
                app.world_mut().insert_resource(TickSeconds(1.0));
                app.update();
                let mut bytes = 0;
                for rx in &mut receivers {
                    while let Ok(frame) = rx.try_recv() {
                        bytes += frame.bytes.clone().len();
                    }
                }
                bytes
            })
        });
        // Every session filters the delta (half the elements) and encodes its own frame.
        group.bench_with_input(BenchmarkId::new("filtered_reencoded", sessions), &sessions, |b, _| {
            b.iter(|| {
                app.world_mut().insert_resource(TickSeconds(1.0));
                app.update();
                let mut bytes = 0;
                for rx in &mut receivers {
                    while let Ok(frame) = rx.try_recv() {
                        let mut d = frame.delta.clone();
                        d.changes.retain(|c| c.element % 2 == 0);
                        bytes += renewtwin_protocol::encode(&ServerMsg::State(d)).map_or(0, |f| f.len());
                    }
                }
                bytes
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encoding, fan_out);
criterion_main!(benches);
