//! The `renewtwin` command line as a user runs it: generate a district, inspect it as JSON,
//! refuse a file it cannot read, and simulate the default scene.

use std::process::Command;

fn renewtwin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_renewtwin"))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("renewtwin-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn generate_then_inspect_prints_the_json_contract() {
    let dir = temp_dir("inspect");
    let file = dir.join("district.ifc");
    let out = renewtwin()
        .args(["generate", "district", "--buildings", "2", "--seed", "9", "--out"])
        .arg(&file)
        .output()
        .expect("run generate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = dir.join("again.ifc");
    let out2 = renewtwin().args(["generate", "district", "--buildings", "2", "--seed", "9", "--out"]).arg(&again).output().expect("run");
    assert!(out2.status.success());
    assert_eq!(std::fs::read(&file).expect("read"), std::fs::read(&again).expect("read"), "the same seed writes the same bytes");

    let out = renewtwin().arg("inspect").arg(&file).arg("--json").output().expect("run inspect");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "one JSON object on one line: {stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    for key in ["schema", "entities", "products", "products_with_geometry", "triangles", "storeys", "property_sets", "bbox", "diagnostics", "seconds", "diagnostics_by_kind", "triangles_by_class"] {
        assert!(v.get(key).is_some(), "inspect --json has {key}: {v}");
    }
    assert_eq!(v["schema"], "IFC4");
    assert!(v["products"].as_u64().expect("number") > 100);
    // Every product with a body is meshed; the heritage archway's assembly has no body of its
    // own (its parts do), so it is the one product without geometry.
    assert!(v["diagnostics_by_kind"].get("geometry_missing").is_none(), "{v}");
    let (products, meshed) = (v["products"].as_u64().expect("n"), v["products_with_geometry"].as_u64().expect("n"));
    assert!(meshed + 1 >= products && meshed < products + 1, "{meshed} of {products}");
    assert!(v["storeys"].as_u64().expect("number") >= 10, "two buildings of 5–7 storeys");
    assert_eq!(v["bbox"].as_array().expect("bbox").len(), 6);
    // The per-class counts add up to the total, and walls and windows are among them.
    let by_class = v["triangles_by_class"].as_object().expect("object");
    let sum: u64 = by_class.values().map(|n| n.as_u64().expect("count")).sum();
    assert_eq!(sum, v["triangles"].as_u64().expect("n"), "{v}");
    for class in ["IfcWall", "IfcWindow", "IfcSlab"] {
        assert!(by_class.get(class).and_then(|n| n.as_u64()).is_some_and(|n| n > 0), "{class} in {v}");
    }

    let out = renewtwin().arg("inspect").arg(&file).arg("--peer-json").output().expect("run inspect --peer-json");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for key in ["tool", "file", "bytes", "parse_s", "geometry_s", "total_s", "meshes", "triangles", "vertices", "peak_rss_mb"] {
        assert!(v.get(key).is_some(), "the bench-peers line has {key}: {v}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inspect_refuses_unreadable_files_with_a_message_naming_them() {
    let dir = temp_dir("bad");
    let garbage = dir.join("garbage.ifc");
    std::fs::write(&garbage, b"\x00\x01not an ifc file at all\xff").expect("write");
    for file in [garbage.clone(), dir.join("missing.ifc")] {
        let out = renewtwin().arg("inspect").arg(&file).arg("--json").output().expect("run inspect");
        assert!(!out.status.success(), "{} must fail", file.display());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&*file.display().to_string()), "the message names the file: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn logs_piped_to_a_file_carry_no_colour_codes() {
    let dir = temp_dir("plain-logs");
    let file = dir.join("model.ifc");
    let out = renewtwin().args(["generate", "district", "--buildings", "1", "--out"]).arg(&file).output().expect("run generate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // inspect logs the load (an INFO line) on stderr, here a pipe, not a terminal.
    let out = renewtwin().arg("inspect").arg(&file).env_remove("NO_COLOR").env("RUST_LOG", "info").output().expect("run inspect");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INFO"), "inspect logs at info: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no escape codes in piped logs: {stderr:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulate_prints_the_timeline_and_indicators_of_every_scenario() {
    let out = renewtwin().args(["simulate", "--scenario", "all", "--until", "2026-09-01", "--json"]).output().expect("run simulate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let scenarios = v["scenarios"].as_array().expect("scenarios");
    assert!(scenarios.len() >= 2, "the base plan and its alternatives");
    for s in scenarios {
        let timeline = s["timeline"].as_array().expect("timeline");
        assert!(!timeline.is_empty());
        assert!(timeline.iter().all(|e| e["date"].as_str().is_some_and(|d| d <= "2026-09-01")), "--until cuts the timeline");
        assert!(timeline.iter().all(|e| e["states"].is_object()));
        let ind = &s["indicators"];
        for key in ["duration_days", "cost_yuan", "households_affected", "noisy_work_days", "green_area_m2", "floor_area_ratio", "heritage_kept", "approvals"] {
            assert!(ind.get(key).is_some(), "indicator {key}: {ind}");
        }
    }
    // Sunlight on 大寒日 (20 January 2026, the plan's year) before the works and after each plan.
    let sun = &v["sunlight"];
    assert_eq!(sun["date"], "2026-01-20", "{}", sun["error"]);
    assert_eq!(sun["states"].as_array().map(Vec::len), Some(scenarios.len() + 1), "before, then each plan");
    let windows = sun["windows"].as_array().expect("windows");
    assert!(windows.len() > 100, "the district's windows: {}", windows.len());
    let hours = |w: &serde_json::Value| w["hours"][0].as_f64();
    assert!(windows.iter().any(|w| hours(w).is_some_and(|h| h >= 2.0)), "some south windows meet the standard");
    // A window facing north of east–west gets no winter sun at all.
    for w in windows.iter().filter(|w| w["facing"].as_f64().is_some_and(|f| f.to_radians().cos() > 0.05)) {
        assert_eq!(hours(w), Some(0.0), "{w}");
    }
    assert_eq!(sun["taken_below"].as_array().map(Vec::len), Some(scenarios.len()));
    let bad = renewtwin().args(["simulate", "--scenario", "no-such-scenario"]).output().expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no scenario named"), "{}", String::from_utf8_lossy(&bad.stderr));
}

/// `renewtwin simulate FILE.ifc` of a model without a work schedule: its own name, no plan and
/// nothing borrowed from the default district (no cost, no approvals, no archway caption).
#[test]
fn simulate_a_bare_ifc_says_it_has_no_plan() {
    let dir = std::env::var_os("RENEWTWIN_CORPUS")
        .map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"), std::path::PathBuf::from);
    let file = dir.join("ifc/AC20-FZK-Haus.ifc");
    if !file.is_file() {
        assert!(std::env::var("RENEWTWIN_REQUIRE_CORPUS").as_deref() != Ok("1"), "RENEWTWIN_REQUIRE_CORPUS=1 but {} is missing", file.display());
        println!("skipped: no corpus file {} (set RENEWTWIN_CORPUS to run it)", file.display());
        return;
    }
    let out = renewtwin().arg("simulate").arg(&file).arg("--json").output().expect("run simulate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["scene"].as_str().is_some_and(|s| s.ends_with("(AC20-FZK-Haus.ifc)")), "{}", v["scene"]);
    assert!(v["plan_note"].as_str().is_some_and(|n| n.starts_with("no plan")), "{}", v["plan_note"]);
    let ind = &v["scenarios"][0]["indicators"];
    assert_eq!(ind["cost_yuan"], 0.0);
    assert_eq!(ind["households_affected"], 0);
    assert_eq!(ind["approvals"].as_array().map(Vec::len), Some(0));
    assert_eq!(ind["green_area_declared"], false);
    let text = renewtwin().arg("simulate").arg(&file).output().expect("run simulate");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("no plan") && !text.contains("-0 m²") && !text.contains("archway"), "{text}");
}

/// The restore drill: data written through the civic domain, `renewtwin backup` while the
/// database is open elsewhere (as under a running server), then the copy opened as a server
/// would open it, with the data found.
#[test]
fn backup_then_restore_finds_the_data() {
    use renewtwin_store::Store;
    let dir = temp_dir("backup");
    let db = dir.join("live.db");
    let out = dir.join("copy.db");
    let _ = std::fs::remove_file(&db);
    let _ = std::fs::remove_file(&out);
    let migrations = [renewtwin_civic::MIGRATIONS, renewtwin_store::sensors::MIGRATIONS];
    let live = Store::open(&db, &migrations).expect("the live database");
    {
        let conn = live.lock().expect("lock");
        conn.execute(
            "INSERT INTO c_accounts (username, password_hash, role, display_name, created_at) VALUES ('gov', 'h', 'government', 'Li', 0)",
            [],
        )
        .expect("account");
        conn.execute("INSERT INTO c_comments (author_id, body, created_at) VALUES (1, 'keep the tree', 0)", []).expect("comment");
    }
    let run = renewtwin().args(["backup", "--db"]).arg(&db).arg("--out").arg(&out).output().expect("runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let restored = Store::open(&out, &migrations).expect("the copy opens as a database");
    let body: String =
        restored.lock().expect("lock").query_row("SELECT body FROM c_comments", [], |r| r.get(0)).expect("the comment is there");
    assert_eq!(body, "keep the tree");
    // A second run never overwrites the copy; a missing database is named.
    let again = renewtwin().args(["backup", "--db"]).arg(&db).arg("--out").arg(&out).output().expect("runs");
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let missing = renewtwin().args(["backup", "--db"]).arg(dir.join("nope.db")).arg("--out").arg(dir.join("x.db")).output().expect("runs");
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("nope.db"));

    // The drill with an operator key: the encrypted copy leaves no comment in clear, restores
    // only with the key, and the restored database serves the same data.
    let key = dir.join("operator.key");
    let made = renewtwin().args(["backup-key", "--out"]).arg(&key).output().expect("runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let recipient = String::from_utf8_lossy(&made.stdout).trim().to_owned();
    assert!(recipient.starts_with("age1"), "{recipient}");
    let sealed = dir.join("copy.age");
    let run = renewtwin().args(["backup", "--db"]).arg(&db).arg("--out").arg(&sealed).args(["--to", &recipient]).output().expect("runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let bytes = std::fs::read(&sealed).expect("the encrypted copy");
    assert!(!bytes.windows(13).any(|w| w == b"keep the tree"), "nothing in clear");
    let into = dir.join("restored.db");
    let refused = renewtwin().args(["restore", "--from"]).arg(&sealed).arg("--db").arg(&into).output().expect("runs");
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--identity"), "{}", String::from_utf8_lossy(&refused.stderr));
    let run = renewtwin().args(["restore", "--from"]).arg(&sealed).arg("--identity").arg(&key).arg("--db").arg(&into).output().expect("runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let restored = Store::open(&into, &migrations).expect("the restored database opens");
    let body: String =
        restored.lock().expect("lock").query_row("SELECT body FROM c_comments", [], |r| r.get(0)).expect("the comment is there");
    assert_eq!(body, "keep the tree");
    let bad = renewtwin().args(["backup", "--db"]).arg(&db).arg("--out").arg(dir.join("z.age")).args(["--to", "age1notakey"]).output().expect("runs");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("age1notakey"));
    drop(live);
    let _ = std::fs::remove_dir_all(&dir);
}
