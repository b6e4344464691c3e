//! The model cache: a second import of unchanged bytes is served from the cache and equals the
//! first; a corrupt entry is rebuilt; the directory stays under its size bound; parallel
//! `import_files` keeps the order of its inputs.

use std::path::{Path, PathBuf};

use renewtwin_generator::{DistrictConfig, district_ifc};
use renewtwin_importers::{
    Cache, CacheStatus, ImportConfig, Model, import_file, import_file_cached, import_files,
};

/// A fresh, empty directory under the target dir's tmp folder.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cache-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

fn write_district(dir: &Path, buildings: u32, seed: u64) -> PathBuf {
    let config = DistrictConfig {
        buildings,
        seed,
        ..DistrictConfig::default()
    };
    let path = dir.join(format!("district-{buildings}-{seed}.ifc"));
    std::fs::write(&path, district_ifc(&config))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

fn cached(path: &Path, cache: &Cache) -> (Model, CacheStatus) {
    import_file_cached(path, &ImportConfig::default(), cache)
        .unwrap_or_else(|e| panic!("cached import of {} failed: {e}", path.display()))
}

/// Everything but the timings, as JSON (the model's own serde form).
fn content(model: &Model) -> serde_json::Value {
    let mut v = serde_json::to_value(model).unwrap_or_default();
    if let Some(source) = v
        .get_mut("source")
        .and_then(serde_json::Value::as_object_mut)
    {
        source.remove("parse_seconds");
        source.remove("geometry_seconds");
    }
    v
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.retain(|p| p.extension().is_some_and(|x| x == "rtwmodel"));
    out.sort();
    out
}

#[test]
fn second_load_is_a_cache_hit_identical_to_the_first() {
    let dir = scratch("hit");
    let file = write_district(&dir, 2, 3);
    let cache = Cache::new(dir.join("cache"));
    let (first, status) = cached(&file, &cache);
    assert_eq!(status, CacheStatus::Miss);
    assert!(!first.meshes.is_empty() && !first.elements.is_empty());
    let (second, status) = cached(&file, &cache);
    assert_eq!(status, CacheStatus::Hit);
    assert_eq!(
        content(&first),
        content(&second),
        "the cached model differs from the imported one"
    );
    assert_eq!(second.source.geometry_seconds, 0.0, "a hit builds no mesh");
    // And the uncached importer agrees with both.
    let plain = import_file(&file, &ImportConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(content(&plain), content(&second));
    assert_eq!(entries(cache.dir()).len(), 1);
}

/// How many distinct property sets (by allocation) the spatial nodes and elements hold, and
/// how many uses.
fn shared_sets(model: &Model) -> (usize, usize) {
    let all: Vec<&std::sync::Arc<renewtwin_importers::PropertySet>> = model
        .spatial
        .iter()
        .flat_map(|n| &n.property_sets)
        .chain(model.elements.iter().flat_map(|e| e.property_sets))
        .collect();
    let distinct: std::collections::HashSet<*const renewtwin_importers::PropertySet> =
        all.iter().map(|s| std::sync::Arc::as_ptr(s)).collect();
    (distinct.len(), all.len())
}

#[test]
fn a_hit_shares_the_property_sets_the_import_shared_and_those_equal_in_content() {
    let dir = scratch("shared-sets");
    let file = write_district(&dir, 3, 5);
    let cache = Cache::new(dir.join("cache"));
    let (first, status) = cached(&file, &cache);
    assert_eq!(status, CacheStatus::Miss);
    let (second, status) = cached(&file, &cache);
    assert_eq!(status, CacheStatus::Hit);
    let (distinct, uses) = shared_sets(&first);
    assert!(
        distinct * 4 < uses,
        "a district's elements share their sets: {distinct} distinct for {uses} uses"
    );
    // The entry writes each set once by content: the hit holds one allocation per distinct
    // set (fewer than the import where equal sets came from different records), used as
    // often.
    let by_content: std::collections::HashSet<String> = first
        .spatial
        .iter()
        .flat_map(|n| &n.property_sets)
        .chain(first.elements.iter().flat_map(|e| e.property_sets))
        .map(|s| serde_json::to_string(&**s).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert!(by_content.len() <= distinct);
    assert_eq!(shared_sets(&second), (by_content.len(), uses));
    assert_eq!(content(&first), content(&second));
}

#[test]
fn the_key_is_the_content_and_the_settings_not_the_name() {
    let dir = scratch("key");
    let file = write_district(&dir, 1, 5);
    let copy = dir.join("renamed.ifc");
    std::fs::copy(&file, &copy).unwrap_or_else(|e| panic!("{e}"));
    let cache = Cache::new(dir.join("cache"));
    assert_eq!(cached(&file, &cache).1, CacheStatus::Miss);
    let (model, status) = cached(&copy, &cache);
    assert_eq!(status, CacheStatus::Hit, "same bytes under another name");
    assert_eq!(
        model.source.name,
        copy.display().to_string(),
        "the name is the caller's"
    );
    let semantics_only = ImportConfig {
        geometry: false,
        ..ImportConfig::default()
    };
    let (model, status) =
        import_file_cached(&file, &semantics_only, &cache).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, CacheStatus::Miss, "other settings, other entry");
    assert!(model.meshes.is_empty());
    // One changed byte (in a name) is another file.
    let mut bytes = std::fs::read(&file).unwrap_or_default();
    let at = bytes.windows(4).position(|w| w == b"'Bui").unwrap_or(0);
    bytes[at + 1] = b'b';
    std::fs::write(&copy, &bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cached(&copy, &cache).1, CacheStatus::Miss);
}

#[test]
fn a_corrupt_entry_is_rebuilt_not_served() {
    let dir = scratch("corrupt");
    let file = write_district(&dir, 1, 9);
    let cache = Cache::new(dir.join("cache"));
    let (first, _) = cached(&file, &cache);
    let [entry] = &entries(cache.dir())[..] else {
        panic!("one entry expected");
    };
    // Truncated in the middle of the body.
    let bytes = std::fs::read(entry).unwrap_or_default();
    std::fs::write(entry, &bytes[..bytes.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    let (rebuilt, status) = cached(&file, &cache);
    assert_eq!(status, CacheStatus::Rebuilt);
    assert_eq!(content(&first), content(&rebuilt));
    assert_eq!(
        cached(&file, &cache).1,
        CacheStatus::Hit,
        "the entry was replaced"
    );
    // Garbage with the right name.
    std::fs::write(entry, b"not a cache entry").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cached(&file, &cache).1, CacheStatus::Rebuilt);
}

#[test]
fn the_cache_directory_stays_under_its_bound() {
    let dir = scratch("bound");
    let files: Vec<PathBuf> = (0..3).map(|seed| write_district(&dir, 1, seed)).collect();
    let unbounded = Cache::new(dir.join("probe"));
    cached(&files[0], &unbounded);
    let one_entry = entries(unbounded.dir())
        .first()
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    assert!(one_entry > 0);
    // Room for two entries and a bit, not three.
    let cache = Cache::new(dir.join("cache")).with_max_bytes(one_entry * 5 / 2);
    for file in &files {
        cached(file, &cache);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kept = entries(cache.dir());
    assert_eq!(kept.len(), 2, "the oldest entry was evicted");
    let total: u64 = kept
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    assert!(total <= cache.max_bytes());
    assert_eq!(
        cached(&files[2], &cache).1,
        CacheStatus::Hit,
        "the newest entry stays"
    );
    assert_eq!(
        cached(&files[0], &cache).1,
        CacheStatus::Miss,
        "the oldest is gone"
    );
}

#[test]
fn an_entry_over_the_bound_is_not_kept() {
    let dir = scratch("over-bound");
    let file = write_district(&dir, 1, 4);
    let cache = Cache::new(dir.join("cache")).with_max_bytes(1024);
    assert_eq!(cached(&file, &cache).1, CacheStatus::NotStored);
    assert!(
        entries(cache.dir()).is_empty(),
        "no entry over the bound on disk"
    );
    // Nothing to refuse next time either: imported again, not rebuilt.
    assert_eq!(cached(&file, &cache).1, CacheStatus::NotStored);
}

#[test]
fn import_files_loads_in_parallel_and_keeps_the_order() {
    let dir = scratch("parallel");
    let a = write_district(&dir, 1, 1);
    let b = write_district(&dir, 2, 2);
    let missing = dir.join("missing.ifc");
    let results = import_files(&[&b, &missing, &a], &ImportConfig::default());
    assert_eq!(results.len(), 3);
    let name = |r: &Result<Model, _>| r.as_ref().map(|m| m.source.name.clone()).ok();
    assert_eq!(name(&results[0]), Some(b.display().to_string()));
    assert!(
        results[1].is_err(),
        "a missing file is an error in its slot"
    );
    assert_eq!(name(&results[2]), Some(a.display().to_string()));
}
