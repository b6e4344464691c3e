//! Writes a generated district to a file and prints its summary.
//!
//! `cargo run -p renewtwin-generator --example write_district -- [buildings] [seed] [out.ifc]`

use renewtwin_generator::{DistrictConfig, write_district};
use std::io::BufWriter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let buildings = args.next().map(|a| a.parse()).transpose()?.unwrap_or(6);
    let seed = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1);
    let out = args
        .next()
        .unwrap_or_else(|| format!("district-{buildings}b-seed{seed}.ifc"));
    let config = DistrictConfig {
        buildings,
        seed,
        ..DistrictConfig::default()
    };
    let file = std::fs::File::create(&out).map_err(|e| format!("cannot create {out}: {e}"))?;
    let summary = write_district(&config, BufWriter::new(file))?;
    println!("{out}: {summary:#?}");
    Ok(())
}
