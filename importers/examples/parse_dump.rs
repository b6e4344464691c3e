//! Imports files with parse only and writes each parsed model (timings zeroed) as Debug text,
//! for comparing the parsed model of two builds byte for byte.
//!
//! `cargo run --release -p renewtwin-importers --example parse_dump -- OUT_DIR FILE...`

use anyhow::Context;
use renewtwin_importers::{ImportConfig, import_file};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().context("usage: parse_dump OUT_DIR FILE...")?);
    std::fs::create_dir_all(&out)?;
    let config = ImportConfig {
        geometry: false,
        ..ImportConfig::default()
    };
    for file in args {
        let path = std::path::Path::new(&file);
        let text = match import_file(path, &config) {
            Ok(mut model) => {
                model.source.parse_seconds = 0.0;
                model.source.geometry_seconds = 0.0;
                format!("{model:#?}")
            }
            Err(err) => format!("error: {err}"),
        };
        let name = path.file_name().context("file name")?.to_string_lossy().into_owned();
        std::fs::write(out.join(format!("{name}.txt")), text)?;
        println!("{name}");
    }
    Ok(())
}
