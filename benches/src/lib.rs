//! Benchmarks of scene loading live in `benches/benches/`; run them with
//! `cargo bench -p renewtwin-benches`. This library holds what they share.

use std::path::PathBuf;

/// The corpus folder: `$RENEWTWIN_CORPUS`, else `../shared/corpus` beside the workspace.
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("RENEWTWIN_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"))
}

/// A generated district of `buildings` buildings as IFC bytes.
pub fn district_bytes(buildings: u32, seed: u64) -> Vec<u8> {
    let config = renewtwin_generator::DistrictConfig { buildings, seed, ..Default::default() };
    renewtwin_generator::district_ifc(&config).into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_benchmark_input_is_an_ifc4_file() {
        let bytes = super::district_bytes(1, 1);
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).into_owned();
        assert!(head.starts_with("ISO-10303-21;"), "{head}");
        assert!(head.contains("IFC4"), "{head}");
    }
}
