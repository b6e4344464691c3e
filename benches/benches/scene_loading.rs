//! Scene loading: IFC bytes → neutral model with meshes, for generated districts of growing
//! size and for the real corpus files (when `../shared/corpus` is present).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use renewtwin_importers::{ImportConfig, import_bytes};

fn generated_districts(c: &mut Criterion) {
    let mut group = c.benchmark_group("import_generated_district");
    group.sample_size(10);
    for buildings in [1u32, 6, 24] {
        let bytes = renewtwin_benches::district_bytes(buildings, 1);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(buildings), &bytes, |b, bytes| {
            b.iter(|| import_bytes("district.ifc", bytes, &ImportConfig::default()).map(|m| m.elements.len()))
        });
    }
    group.finish();
}

fn corpus_files(c: &mut Criterion) {
    let dir = renewtwin_benches::corpus_dir().join("ifc");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("corpus benchmarks skipped: {} is absent", dir.display());
        return;
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "ifc")).collect();
    files.sort();
    let mut group = c.benchmark_group("import_corpus");
    group.sample_size(10);
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(&name), &bytes, |b, bytes| {
            b.iter(|| import_bytes(&name, bytes, &ImportConfig::default()).map(|m| m.elements.len()))
        });
    }
    group.finish();
}

criterion_group!(benches, generated_districts, corpus_files);
criterion_main!(benches);
