//! Builds the browser viewer into the engine binary.
//!
//! Runs a nested `cargo build --release --target wasm32-unknown-unknown -p renewtwin-web-viewer`
//! with its own target directory (`wasm/` inside the outer target directory, so it stays warm
//! across builds and never waits on the outer build's lock), runs wasm-bindgen on the result (the
//! `wasm-bindgen-cli-support` library, `web` target), and writes `index.html`, `style.css`, `panels.js`, `schedule.js`, `measure.js`, `consultation.js`, `governance.js`, the
//! JS glue and the `.wasm` into `$OUT_DIR/viewer/`, where `src/viewer_assets.rs` embeds them.
//!
//! `RENEWTWIN_SKIP_VIEWER=1` skips all of that and embeds a one-line page saying the viewer was
//! not built: for quick engine-only edit loops. CI never sets it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files the engine embeds, written into `$OUT_DIR/viewer/`.
const GLUE_JS: &str = "renewtwin_web_viewer.js";
const WASM: &str = "renewtwin_web_viewer_bg.wasm";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    println!("cargo:rerun-if-env-changed=RENEWTWIN_SKIP_VIEWER");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    let viewer_out = out_dir.join("viewer");
    std::fs::create_dir_all(&viewer_out).expect("cannot create $OUT_DIR/viewer");

    if std::env::var("RENEWTWIN_SKIP_VIEWER").is_ok_and(|v| !v.is_empty() && v != "0") {
        println!("cargo:warning=RENEWTWIN_SKIP_VIEWER is set: the viewer is not built, / shows a placeholder");
        write_placeholder(&viewer_out);
        println!("cargo:rustc-cfg=viewer_skipped");
        println!("cargo::rustc-check-cfg=cfg(viewer_skipped)");
        return;
    }
    println!("cargo::rustc-check-cfg=cfg(viewer_skipped)");

    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("the engine lives one level below the workspace root").to_path_buf();
    for watched in ["web-viewer/src", "web-viewer/static", "web-viewer/Cargo.toml", "render/src", "render/Cargo.toml", "protocol/src", "protocol/Cargo.toml", "Cargo.lock", "rust-toolchain.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }

    let target_dir = nested_target_dir(&out_dir, &workspace);
    if let Err(message) = build_viewer(&workspace, &target_dir, &viewer_out) {
        panic!("cannot build the web viewer: {message}\n(set RENEWTWIN_SKIP_VIEWER=1 to build the engine without it)");
    }
}

/// Builds the wasm, binds it, and copies the static files; the error says what to do.
fn build_viewer(workspace: &Path, target_dir: &Path, viewer_out: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--release", "--locked", "--target", WASM_TARGET, "-p", "renewtwin-web-viewer", "--target-dir"])
        .arg(target_dir);
    // The outer cargo configures its own compilation through these; the nested build must not
    // inherit them (host rustflags, the outer target dir, jobserver, profile and cfg settings,
    // clippy's wrapper).
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let inherited_config = key.starts_with("CARGO_CFG_")
            || key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_MANIFEST_")
            || key.starts_with("DEP_");
        let inherited_single = matches!(
            key,
            "RUSTFLAGS"
                | "RUSTDOCFLAGS"
                | "CARGO_ENCODED_RUSTFLAGS"
                | "CARGO_ENCODED_RUSTDOCFLAGS"
                | "CARGO_TARGET_DIR"
                | "CARGO_MAKEFLAGS"
                | "MAKEFLAGS"
                | "MFLAGS"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_CRATE_NAME"
                | "RUSTC_WORKSPACE_WRAPPER"
                | "RUSTC_LINKER"
                | "TARGET"
                | "HOST"
                | "OUT_DIR"
                | "OPT_LEVEL"
                | "PROFILE"
                | "DEBUG"
                | "NUM_JOBS"
        );
        if inherited_config || inherited_single {
            command.env_remove(key);
        }
    }
    let output = command.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("target may not be installed") || stderr.contains("can't find crate for `core`") || stderr.contains("can't find crate for `std`") {
            format!("\nhint: the wasm target is missing; run `rustup target add {WASM_TARGET}`")
        } else {
            String::new()
        };
        return Err(format!("nested `cargo build --target {WASM_TARGET} -p renewtwin-web-viewer` failed:\n{stderr}{hint}"));
    }

    let wasm = target_dir.join(WASM_TARGET).join("release").join("renewtwin_web_viewer.wasm");
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    // The library defaults differ from the CLI: keep the default `new URL(<wasm>, import.meta.url)`.
    bindgen.input_path(&wasm).typescript(false).keep_debug(false).omit_default_module_path(false);
    // Function names cost ~0.65 MB of the ~4 MB module; the console shows raw indices without them.
    bindgen.remove_name_section(true);
    bindgen.web(true).map_err(|e| format!("wasm-bindgen: {e}"))?;
    bindgen.generate(viewer_out).map_err(|e| format!("wasm-bindgen on {}: {e}", wasm.display()))?;
    for name in [GLUE_JS, WASM] {
        if !viewer_out.join(name).is_file() {
            return Err(format!("wasm-bindgen did not write {name}"));
        }
    }
    for name in ["index.html", "style.css", "panels.js", "schedule.js", "measure.js", "consultation.js", "governance.js"] {
        std::fs::copy(workspace.join("web-viewer/static").join(name), viewer_out.join(name))
            .map_err(|e| format!("cannot copy web-viewer/static/{name}: {e}"))?;
    }
    Ok(())
}

/// `<outer target dir>/wasm`: found as the ancestor of `OUT_DIR` that cargo tagged with
/// `CACHEDIR.TAG`, so a `CARGO_TARGET_DIR` outside the checkout (as CI uses) keeps the wasm
/// build warm too; `<workspace>/target/wasm` if there is none.
fn nested_target_dir(out_dir: &Path, workspace: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map_or_else(|| workspace.join("target"), Path::to_path_buf)
        .join("wasm")
}

/// The page embedded when `RENEWTWIN_SKIP_VIEWER` is set.
fn write_placeholder(viewer_out: &Path) {
    let page = "<!doctype html>\n<html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>renewtwin</title>\n\
        <p>此版本未构建三维查看器（构建时设置了 RENEWTWIN_SKIP_VIEWER）。</p>\n\
        <p lang=\"en\">This build has no 3D viewer: it was built with RENEWTWIN_SKIP_VIEWER set. \
        Rebuild without it to get the viewer; <code>/api/scene</code> and <code>/ws</code> still work.</p>\n</html>\n";
    std::fs::write(viewer_out.join("index.html"), page).expect("cannot write the placeholder page");
}
