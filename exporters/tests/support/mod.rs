//! What the export tests share: the Khronos glTF Validator (npm `gltf-validator`, installed by
//! `scripts/setup.sh --test`) run on a GLB.

use serde_json::Value;

/// The JSON and the binary chunk of a GLB, after checking its header and chunk lengths.
pub fn chunks(glb: &[u8]) -> (Value, &[u8]) {
    let u32_at =
        |at: usize| u32::from_le_bytes(glb[at..at + 4].try_into().expect("4 bytes")) as usize;
    assert_eq!(&glb[0..4], b"glTF");
    assert_eq!(u32_at(4), 2, "glTF 2");
    assert_eq!(u32_at(8), glb.len(), "the header's length is the file's");
    let json_len = u32_at(12);
    assert_eq!(&glb[16..20], b"JSON");
    assert_eq!(json_len % 4, 0);
    let json: Value =
        serde_json::from_slice(&glb[20..20 + json_len]).expect("the JSON chunk parses");
    let bin_at = 20 + json_len;
    let bin_len = u32_at(bin_at);
    assert_eq!(&glb[bin_at + 4..bin_at + 8], b"BIN\0");
    assert_eq!(
        bin_at + 8 + bin_len,
        glb.len(),
        "the binary chunk ends the file"
    );
    assert_eq!(
        json["buffers"][0]["byteLength"].as_u64(),
        Some(bin_len as u64)
    );
    (json, &glb[bin_at + 8..])
}

/// The Khronos glTF Validator reports no error (warnings and infos are printed).
pub fn validate(glb: &[u8], what: &str) {
    let required = std::env::var_os("RENEWTWIN_REQUIRE_VALIDATORS").is_some_and(|v| v == "1");
    let modules = std::env::var_os("RENEWTWIN_NPM_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache"))
                })?;
            Some(base.join("renewtwin/npm"))
        })
        .map(|d| d.join("node_modules"));
    let usable = modules
        .as_ref()
        .filter(|m| m.join("gltf-validator/package.json").is_file());
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let (Some(modules), true) = (usable, node_ok) else {
        assert!(
            !required,
            "RENEWTWIN_REQUIRE_VALIDATORS=1 but node or npm gltf-validator is missing (scripts/setup.sh --test installs them)"
        );
        eprintln!(
            "skipped the glTF Validator: node or npm gltf-validator is not installed (scripts/setup.sh --test installs them)"
        );
        return;
    };
    // One folder per call: tests of one binary validate in parallel.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("renewtwin-gltf-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("scene.glb");
    std::fs::write(&file, glb).expect("write the GLB");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gltf-validate.js");
    let out = std::process::Command::new("node")
        .arg(script)
        .arg(modules)
        .arg(&file)
        .output()
        .expect("run node");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "the validator did not run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let issues: Value = serde_json::from_slice(&out.stdout).expect("the report's issues");
    let messages = issues["messages"].as_array().cloned().unwrap_or_default();
    let errors: Vec<&Value> = messages.iter().filter(|m| m["severity"] == 0).collect();
    let mut others = std::collections::BTreeMap::<String, usize>::new();
    for m in messages.iter().filter(|m| m["severity"] != 0) {
        *others
            .entry(format!("{} {}", m["code"], m["message"]))
            .or_default() += 1;
    }
    eprintln!(
        "glTF Validator ({what}): {} errors; warnings and infos: {others:#?}",
        issues["numErrors"]
    );
    assert_eq!(
        issues["numErrors"], 0,
        "{what}: the glTF Validator reports errors: {errors:#?}"
    );
}
