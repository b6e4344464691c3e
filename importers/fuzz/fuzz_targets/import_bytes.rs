//! Fuzzes `renewtwin_importers::import_bytes` (format sniffing, the IFC importer with geometry,
//! and the JSON importers) on arbitrary bytes: a panic that reaches the caller, an abort, a hang
//! or a model with dangling or non-finite geometry is a bug.
//!
//! The importer catches panics inside ifc-lite (one product's meshing, the georeference) and
//! turns them into diagnostics. libFuzzer's default hook would abort on those too, so the hook
//! is replaced by one that only prints each caught panic's location once (`caught panic:` in
//! the log, to report upstream); a panic that escapes `import_bytes` still aborts the run
//! through libfuzzer-sys's own `catch_unwind`.
#![no_main]

use std::collections::HashSet;
use std::sync::{Mutex, Once};

use libfuzzer_sys::fuzz_target;
use renewtwin_importers::{ImportConfig, import_bytes};

static HOOK: Once = Once::new();
static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn quiet_hook() {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get_or_insert_with(HashSet::new).insert(at.clone()) {
                eprintln!("caught panic: {at}: {info}");
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    quiet_hook();
    let config = ImportConfig {
        // Keep single inputs small so libFuzzer explores rather than grinds.
        max_file_bytes: 1 << 20,
        ..ImportConfig::default()
    };
    if let Ok(model) = import_bytes("fuzz.ifc", data, &config) {
        // What the engine relies on: every placement points at a mesh, nothing is NaN.
        for element in &model.elements {
            for placement in &element.placements {
                assert!((placement.mesh.0 as usize) < model.meshes.len());
                assert!(placement.transform.iter().all(|v| v.is_finite()));
            }
        }
        for mesh in &model.meshes {
            assert!(mesh.positions.iter().all(|v| v.is_finite()));
            assert!(
                mesh.indices
                    .iter()
                    .all(|&i| (i as usize) < mesh.positions.len() / 3)
            );
        }
    }
});
