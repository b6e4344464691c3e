//! Scene loading, phase by phase, on every IFC file of the corpus (when `../shared/corpus` is
//! present) and on generated districts (10 and 100 buildings; set
//! `RENEWTWIN_BENCH_BUILDINGS=10,100,1000` for more):
//!
//! - `parse/…`: bytes → spatial tree, elements, property sets (no meshing);
//! - `geometry/…`: the meshing phase of a full import (timed inside the importer);
//! - `ecs_spawn/…`: the headless app with one entity per element;
//! - `protocol_encode/…`: every mesh quantized and packed into wire frames;
//! - `first_triangle/…`: bytes → the first mesh batch the streaming import hands out (the
//!   first building's envelope), which `renewtwin serve` sends as it comes;
//! - `full_load/…`: bytes → the scene ready to serve (all of the above);
//! - `cache_cold/…`, `cache_warm/…`: the same import through an empty and a primed
//!   content-addressed cache;
//! - `boolean_cuts/steel-50`: the meshing phase of 50 generated steel beams, each an I-profile
//!   extrusion minus three box copes and a tilted half-space (`IfcBooleanResult` chains, the
//!   shape of Tekla exports; see `importers/src/ifc/cut.rs`). Needs no corpus.
//!
//! Filter with criterion's usual argument, e.g. `cargo bench -p renewtwin-benches --bench
//! scene_loading -- 'full_load/district'`. The growth table of BENCHMARKS.md comes from
//! `benches/load_growth.rs`, which runs each size a few times instead of criterion's ten.

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    Bencher, BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use renewtwin_benches::{
    LoadTimes, district_bytes, district_sizes, encode, file_name, import, import_semantics,
    load_once, scene, spawn,
};
use renewtwin_importers::{Cache, ImportConfig, import_bytes_cached};

/// The allocator the `renewtwin` binary ships with (jemalloc, configured in
/// `.cargo/config.toml`), so that the loads measured here are the product's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// One benchmark input: a name and its bytes.
struct Input {
    name: String,
    bytes: Vec<u8>,
}

fn inputs() -> Vec<Input> {
    let mut inputs: Vec<Input> = renewtwin_benches::corpus_ifc_files()
        .into_iter()
        .filter_map(|path| {
            Some(Input {
                name: file_name(&path),
                bytes: std::fs::read(&path).ok()?,
            })
        })
        .collect();
    for buildings in district_sizes(&[10, 100]) {
        inputs.push(Input {
            name: format!("district-{buildings}"),
            bytes: district_bytes(buildings, 1),
        });
    }
    inputs
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group
}

/// Times `phase` of `load_once` over `iters` whole loads (each load's leftovers are dropped
/// after its clock stops).
fn phase_of_loads(input: &Input, iters: u64, phase: fn(&LoadTimes) -> Duration) -> Duration {
    (0..iters)
        .map(|_| match load_once(&input.name, &input.bytes) {
            Ok((times, _)) => phase(&times),
            Err(e) => panic!("{e:#}"),
        })
        .sum()
}

/// Times only the meshing phase of importing `input`, as the importer itself measures it.
fn geometry_only(b: &mut Bencher<'_, WallTime>, input: &Input) {
    b.iter_custom(|iters| {
        (0..iters)
            .map(|_| match import(&input.name, &input.bytes) {
                Ok(model) => Duration::from_secs_f64(model.source.geometry_seconds),
                Err(e) => panic!("{e:#}"),
            })
            .sum()
    })
}

fn phases(c: &mut Criterion) {
    let inputs = inputs();
    {
        let mut g = group(c, "parse");
        for input in &inputs {
            g.throughput(Throughput::Bytes(input.bytes.len() as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(&input.name),
                input,
                |b, input| {
                    b.iter_with_large_drop(|| {
                        import_semantics(&input.name, &input.bytes)
                            .map(|m| m.elements.len())
                            .ok()
                    })
                },
            );
        }
    }
    {
        let mut g = group(c, "geometry");
        for input in &inputs {
            g.throughput(Throughput::Bytes(input.bytes.len() as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(&input.name),
                input,
                |b, input| {
                    geometry_only(b, input)
                },
            );
        }
    }
    let scenes: Vec<_> = inputs
        .iter()
        .filter_map(|input| {
            let model = import(&input.name, &input.bytes).ok()?;
            Some((input, scene(&input.name, model).ok()?))
        })
        .collect();
    {
        let mut g = group(c, "ecs_spawn");
        for (input, scene) in &scenes {
            g.throughput(Throughput::Elements(scene.model.elements.len() as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(&input.name),
                scene,
                |b, scene| b.iter_with_large_drop(|| spawn(scene)),
            );
        }
    }
    {
        let mut g = group(c, "protocol_encode");
        for (input, scene) in &scenes {
            g.throughput(Throughput::Elements(scene.model.placed_triangles()));
            g.bench_with_input(
                BenchmarkId::from_parameter(&input.name),
                scene,
                |b, scene| b.iter_with_large_drop(|| encode(scene).map(|w| w.scene_bytes).ok()),
            );
        }
    }
    drop(scenes);
    for (name, phase) in [
        (
            "first_triangle",
            LoadTimes::first_triangle as fn(&LoadTimes) -> Duration,
        ),
        ("full_load", LoadTimes::full),
    ] {
        let mut g = group(c, name);
        for input in &inputs {
            g.throughput(Throughput::Bytes(input.bytes.len() as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(&input.name),
                input,
                |b, input| b.iter_custom(|iters| phase_of_loads(input, iters, phase)),
            );
        }
    }
}

/// A fresh, empty cache directory under the system temp dir.
fn empty_cache(tag: &str) -> Cache {
    let dir = std::env::temp_dir().join(format!(
        "renewtwin-bench-cache-{}-{tag}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Cache::new(dir)
}

fn cache(c: &mut Criterion) {
    let config = ImportConfig::default();
    let inputs = inputs();
    {
        let mut g = group(c, "cache_cold");
        for input in &inputs {
            g.throughput(Throughput::Bytes(input.bytes.len() as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(&input.name),
                input,
                |b, input| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let cache = empty_cache("cold");
                            let t = Instant::now();
                            let loaded =
                                import_bytes_cached(&input.name, &input.bytes, &config, &cache);
                            total += t.elapsed();
                            drop(loaded);
                            let _ = std::fs::remove_dir_all(cache.dir());
                        }
                        total
                    })
                },
            );
        }
    }
    let mut g = group(c, "cache_warm");
    for input in &inputs {
        let cache = empty_cache("warm");
        if import_bytes_cached(&input.name, &input.bytes, &config, &cache).is_err() {
            continue;
        }
        g.throughput(Throughput::Bytes(input.bytes.len() as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(&input.name),
            input,
            |b, input| {
                b.iter_with_large_drop(|| {
                    import_bytes_cached(&input.name, &input.bytes, &config, &cache).ok()
                })
            },
        );
        let _ = std::fs::remove_dir_all(cache.dir());
    }
}

/// An IFC4 file of `beams` steel beams, each an IPE200 extrusion minus three box copes (two
/// across the top flange at the ends, one across the bottom flange) and clipped by a tilted
/// half-space near its far end: the boolean-result chains steel detailing tools export.
fn steel_beams(beams: usize) -> Vec<u8> {
    let mut lines: Vec<String> = Vec::new();
    let mut entity = |text: String| {
        lines.push(format!("#{}={text};", lines.len() + 1));
        lines.len()
    };
    let origin = entity("IFCCARTESIANPOINT((0.,0.,0.))".into());
    let z = entity("IFCDIRECTION((0.,0.,1.))".into());
    let x = entity("IFCDIRECTION((1.,0.,0.))".into());
    let y = entity("IFCDIRECTION((0.,1.,0.))".into());
    let tilt = entity("IFCDIRECTION((0.,0.3,1.))".into());
    let world = entity(format!("IFCAXIS2PLACEMENT3D(#{origin},$,$)"));
    let context = entity(format!(
        "IFCGEOMETRICREPRESENTATIONCONTEXT($,'Model',3,1.E-05,#{world},$)"
    ));
    let mm = entity("IFCSIUNIT(*,.LENGTHUNIT.,.MILLI.,.METRE.)".into());
    let units = entity(format!("IFCUNITASSIGNMENT((#{mm}))"));
    let project = entity(format!(
        "IFCPROJECT('0YvctVUKr0kugbFTf53O9L',$,'steel',$,$,$,$,(#{context}),#{units})"
    ));
    let here = entity(format!("IFCLOCALPLACEMENT($,#{world})"));
    let site = entity(format!(
        "IFCSITE('0YvctVUKr0kugbFTf53O9M',$,'site',$,$,#{here},$,$,.ELEMENT.,$,$,$,$,$)"
    ));
    let building = entity(format!(
        "IFCBUILDING('0YvctVUKr0kugbFTf53O9N',$,'hall',$,$,#{here},$,$,.ELEMENT.,$,$,$)"
    ));
    let storey = entity(format!(
        "IFCBUILDINGSTOREY('0YvctVUKr0kugbFTf53O9O',$,'0',$,$,#{here},$,$,.ELEMENT.,0.)"
    ));
    entity(format!(
        "IFCRELAGGREGATES('0YvctVUKr0kugbFTf53O9P',$,$,$,#{project},(#{site}))"
    ));
    entity(format!(
        "IFCRELAGGREGATES('0YvctVUKr0kugbFTf53O9Q',$,$,$,#{site},(#{building}))"
    ));
    entity(format!(
        "IFCRELAGGREGATES('0YvctVUKr0kugbFTf53O9R',$,$,$,#{building},(#{storey}))"
    ));
    let ipe = entity("IFCISHAPEPROFILEDEF(.AREA.,'IPE200',$,100.,200.,5.6,8.5,12.)".into());
    let cope = entity("IFCRECTANGLEPROFILEDEF(.AREA.,'cope',$,120.,60.)".into());
    let mut members = Vec::with_capacity(beams);
    for b in 0..beams {
        let length = 4000 + (b % 7) * 100;
        let at = entity(format!("IFCCARTESIANPOINT(({}.,0.,0.))", b * 500));
        let axes = entity(format!("IFCAXIS2PLACEMENT3D(#{at},$,$)"));
        let placement = entity(format!("IFCLOCALPLACEMENT(#{here},#{axes})"));
        let mut item = entity(format!(
            "IFCEXTRUDEDAREASOLID(#{ipe},#{world},#{z},{length}.)"
        ));
        for (cy, cz) in [(80, 0), (80, length), (-80, 0)] {
            let corner = entity(format!(
                "IFCCARTESIANPOINT((-60.,{cy}.,{}.))",
                cz as i64 - 30
            ));
            let frame = entity(format!("IFCAXIS2PLACEMENT3D(#{corner},#{x},#{y})"));
            let cutter = entity(format!("IFCEXTRUDEDAREASOLID(#{cope},#{frame},#{z},120.)"));
            item = entity(format!("IFCBOOLEANRESULT(.DIFFERENCE.,#{item},#{cutter})"));
        }
        let on_plane = entity(format!(
            "IFCCARTESIANPOINT((0.,0.,{}.))",
            3900 + (b % 5) * 10
        ));
        let frame = entity(format!("IFCAXIS2PLACEMENT3D(#{on_plane},#{tilt},$)"));
        let plane = entity(format!("IFCPLANE(#{frame})"));
        let half_space = entity(format!("IFCHALFSPACESOLID(#{plane},.F.)"));
        item = entity(format!(
            "IFCBOOLEANCLIPPINGRESULT(.DIFFERENCE.,#{item},#{half_space})"
        ));
        let body = entity(format!(
            "IFCSHAPEREPRESENTATION(#{context},'Body','CSG',(#{item}))"
        ));
        let shape = entity(format!("IFCPRODUCTDEFINITIONSHAPE($,$,(#{body}))"));
        members.push(entity(format!(
            "IFCBEAM('1{b:021}',$,'B{b}',$,$,#{placement},#{shape},$,.BEAM.)"
        )));
    }
    let members: Vec<String> = members.iter().map(|m| format!("#{m}")).collect();
    entity(format!(
        "IFCRELCONTAINEDINSPATIALSTRUCTURE('0YvctVUKr0kugbFTf53O9S',$,$,$,({}),#{storey})",
        members.join(",")
    ));
    let mut text = String::from(
        "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('ViewDefinition [CoordinationView]'),'2;1');\n\
         FILE_NAME('steel.ifc','2026-11-28T00:00:00',(''),(''),'renewtwin bench','renewtwin bench','');\n\
         FILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n",
    );
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str("ENDSEC;\nEND-ISO-10303-21;\n");
    text.into_bytes()
}

fn boolean_cuts(c: &mut Criterion) {
    let input = Input {
        name: "steel-50".into(),
        bytes: steel_beams(50),
    };
    match import(&input.name, &input.bytes) {
        Ok(model)
            if model
                .elements
                .iter()
                .filter(|e| !e.placements.is_empty())
                .count()
                == 50 => {}
        Ok(_) => panic!("steel-50: not every beam was meshed"),
        Err(e) => panic!("{e:#}"),
    }
    let mut g = group(c, "boolean_cuts");
    g.throughput(Throughput::Bytes(input.bytes.len() as u64));
    g.bench_with_input(
        BenchmarkId::from_parameter(&input.name),
        &input,
        |b, input| {
            geometry_only(b, input)
        },
    );
}

criterion_group!(benches, phases, cache, boolean_cuts);
criterion_main!(benches);
