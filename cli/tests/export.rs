//! `renewtwin export gltf` and `export ifc` as a user runs them: the default scene on a day and
//! in a scenario written as a GLB, and as IFC4; a clear refusal of a bad date or an unknown
//! scenario.

use std::process::Command;

fn renewtwin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_renewtwin"))
}

#[test]
fn export_gltf_writes_a_glb_of_the_day_and_refuses_bad_arguments() {
    let dir = std::env::temp_dir().join(format!("renewtwin-cli-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("block.glb");
    let out = renewtwin()
        .args([
            "export",
            "gltf",
            "--date",
            "2026-10-01",
            "--scenario",
            "lifts-only",
            "--out",
        ])
        .arg(&file)
        .output()
        .expect("run export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("2026-10-01")
            && stdout.contains("scenario lifts-only")
            && stdout.contains("elements drawn"),
        "{stdout}"
    );
    let glb = std::fs::read(&file).expect("the GLB is written");
    assert_eq!(&glb[0..4], b"glTF");
    assert_eq!(
        u32::from_le_bytes(glb[8..12].try_into().expect("4 bytes")) as usize,
        glb.len(),
        "the header's length is the file's"
    );
    let json_len = u32::from_le_bytes(glb[12..16].try_into().expect("4 bytes")) as usize;
    let json: serde_json::Value =
        serde_json::from_slice(&glb[20..20 + json_len]).expect("the JSON chunk parses");
    assert_eq!(json["asset"]["extras"]["date"], "2026-10-01");
    assert_eq!(json["asset"]["extras"]["scenario"], "lifts-only");

    let out = renewtwin()
        .args(["export", "gltf", "--date", "1 October", "--out"])
        .arg(dir.join("x.glb"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--date \"1 October\" is not a date; write YYYY-MM-DD"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = renewtwin()
        .args(["export", "gltf", "--scenario", "no-such", "--out"])
        .arg(dir.join("y.glb"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such"),
        "the error names the scenario: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_ifc_writes_an_ifc4_file_with_the_plan() {
    let dir = std::env::temp_dir().join(format!("renewtwin-cli-export-ifc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("plan.ifc");
    let out = renewtwin()
        .args(["export", "ifc", "--scenario", "lifts-only", "--out"])
        .arg(&file)
        .output()
        .expect("run export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("tasks of scenario lifts-only")
            && stdout.contains("(0 as IfcBuildingElementProxy)"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&file).expect("the file is written");
    assert!(
        text.starts_with("ISO-10303-21;")
            && text.contains("FILE_SCHEMA(('IFC4'))")
            && text.trim_end().ends_with("END-ISO-10303-21;")
    );
    assert!(
        text.contains("IFCWORKSCHEDULE(")
            && text.contains("IFCTASK(")
            && text.contains("IFCPROPERTYENUMERATEDVALUE('Status'")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_tiles_writes_a_tileset_within_the_bound_and_refuses_bad_arguments() {
    let dir = std::env::temp_dir().join(format!("renewtwin-cli-tiles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = renewtwin()
        .args(["export", "tiles", "--max-tile-bytes", "300000", "--out"])
        .arg(&dir)
        .output()
        .expect("run export tiles");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("from IfcSite") && stdout.contains("tiles ("), "{stdout}");
    let tileset: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("tileset.json")).expect("tileset.json")).expect("JSON");
    assert_eq!(tileset["asset"]["version"], "1.1");
    let tiles: Vec<_> = std::fs::read_dir(dir.join("tiles")).expect("tiles/").flatten().collect();
    assert!(tiles.len() > 6, "{} tiles", tiles.len());
    for t in &tiles {
        let len = t.metadata().expect("meta").len();
        assert!(len <= 300_000, "{:?} is {len} bytes", t.path());
    }
    // Bad arguments: a clear message each.
    for (args, says) in [
        (&["--origin", "200,10"][..], "longitude 200 is outside"),
        (&["--origin", "x"][..], "lon,lat"),
        (&["--max-tile-bytes", "100"][..], "too small"),
        (&["--date", "tomorrow"][..], "is not a date"),
    ] {
        let out = renewtwin().args(["export", "tiles"]).args(args).arg("--out").arg(&dir).output().expect("run");
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
