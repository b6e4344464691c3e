//! `renewtwin render`: the viewer's renderer run natively off-screen. The default scene from its
//! `overview` viewpoint at the plan's start and on 2026-08-14 (facades under construction,
//! windows renewed) must decode, show the scene, differ where lifecycle colours change, and
//! match the golden images in `tests/golden/` within a tolerance.
//!
//! Without a Vulkan or GL adapter (Mesa's lavapipe or llvmpipe will do) the GPU tests skip with
//! the reason, unless `RENEWTWIN_REQUIRE_GPU_SOFT=1` (CI sets it), which makes that a failure.
//! `RENEWTWIN_BLESS=1` rewrites the golden images from this machine's pictures.
//!
//! # Tolerance
//! Software rasterisers differ in a few pixels (lavapipe and llvmpipe disagreed in 6 of
//! 2,073,600 at 1080p), and a hardware GPU rasterises edges and lines a little differently again.
//! A pixel counts as different when a channel is off by more than [`PIXEL_THRESHOLD`]; a
//! picture matches when at most [`MAX_DIFFERING`] of its pixels are different.


use std::path::PathBuf;
use std::process::Command;

use renewtwin::render::{
    ColourBy, Image, OffscreenError, OffscreenViewer, RenderError, SceneRenderer, Shot, camera_of,
};
use renewtwin_protocol::{CivilDate, LifecycleState, ServerMsg};

/// The built-in default scene, through the real generator and importer.
fn default_scene() -> renewtwin_twin::renewal::LoadedScene {
    let manifest = renewtwin_twin::manifest::Manifest::parse("default", renewtwin_twin::scene::DEFAULT_MANIFEST)
        .expect("the default manifest parses");
    renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &renewtwin_importers::ImportConfig::default())
        .expect("the default scene loads")
}

/// Largest per-channel difference for two pixels to count as equal.
const PIXEL_THRESHOLD: u8 = 24;
/// Largest fraction of different pixels for a picture to match its golden.
const MAX_DIFFERING: f64 = 0.01;
/// Size of the test pictures.
const SIZE: (u32, u32) = (320, 240);
/// The viewer's clear colour (`render/src/render.rs`).
const BACKGROUND: [u8; 3] = [34, 40, 52];

fn required() -> bool {
    std::env::var("RENEWTWIN_REQUIRE_GPU_SOFT").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The renderer with the default scene uploaded, or `None` (the test skips) without an adapter.
fn renderer() -> Option<SceneRenderer> {
    match SceneRenderer::new(default_scene()) {
        Ok(renderer) => {
            eprintln!("rendering with {}", renderer.adapter());
            Some(renderer)
        }
        Err(RenderError::Offscreen(e @ OffscreenError::NoAdapter { .. })) => {
            assert!(!required(), "RENEWTWIN_REQUIRE_GPU_SOFT is set but {e}");
            eprintln!("SKIPPED: {e}");
            None
        }
        Err(e) => panic!("cannot set up the off-screen renderer: {e}"),
    }
}

fn shot(date: Option<CivilDate>) -> Shot {
    Shot {
        viewpoint: Some("overview".into()),
        date,
        colour: ColourBy::Lifecycle,
        width: SIZE.0,
        height: SIZE.1,
        edges: true,
    }
}

/// Pixels drawn in `state`'s colour (any lighting: the shader scales the sRGB colour by a
/// factor in 0.45..=1.0, so a lit pixel keeps its element's chromaticity).
fn pixels_in(image: &Image, state: LifecycleState) -> usize {
    let rgb = state.rgb().map(f32::from);
    let peak = rgb.iter().copied().fold(0.0, f32::max);
    image
        .rgba
        .chunks_exact(4)
        .filter(|p| {
            let f = f32::from(p[0].max(p[1]).max(p[2])) / peak;
            (0.4..=1.05).contains(&f)
                && (0..3).all(|c| (f32::from(p[c]) - rgb[c] * f).abs() <= 10.0)
        })
        .count()
}

fn decode_png(bytes: &[u8]) -> Image {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut rgba = vec![0; reader.output_buffer_size().expect("PNG size")];
    let info = reader.next_frame(&mut rgba).expect("PNG data");
    assert_eq!(
        (info.color_type, info.bit_depth),
        (png::ColorType::Rgba, png::BitDepth::Eight)
    );
    rgba.truncate(info.buffer_size());
    Image {
        width: info.width,
        height: info.height,
        rgba,
    }
}

/// Compares `image` with `tests/golden/NAME.png`; on a mismatch writes the picture and a diff
/// into the target directory and fails saying where. `RENEWTWIN_BLESS=1` writes the golden.
fn assert_matches_golden(name: &str, image: &Image) {
    let golden_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.png"));
    if std::env::var("RENEWTWIN_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(golden_path.parent().expect("golden dir"))
            .expect("create tests/golden");
        std::fs::write(&golden_path, image.to_png().expect("encode")).expect("write golden");
        eprintln!("blessed {}", golden_path.display());
        return;
    }
    let bytes = std::fs::read(&golden_path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run with RENEWTWIN_BLESS=1 to create it",
            golden_path.display()
        )
    });
    let golden = decode_png(&bytes);
    assert_eq!(
        (golden.width, golden.height),
        (image.width, image.height),
        "{name}: golden size"
    );
    let mut differing = 0usize;
    let mut diff = Vec::with_capacity(image.rgba.len());
    for (a, b) in image.rgba.chunks_exact(4).zip(golden.rgba.chunks_exact(4)) {
        let off = (0..3).any(|c| a[c].abs_diff(b[c]) > PIXEL_THRESHOLD);
        differing += usize::from(off);
        // Different pixels in red over a dimmed copy of the golden.
        diff.extend_from_slice(&if off {
            [255, 0, 0, 255]
        } else {
            [b[0] / 3, b[1] / 3, b[2] / 3, 255]
        });
    }
    let fraction = differing as f64 / (image.width * image.height) as f64;
    eprintln!(
        "{name}: {differing} of {} pixels differ from the golden by more than {PIXEL_THRESHOLD}",
        image.width * image.height
    );
    if fraction > MAX_DIFFERING {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("render-golden");
        std::fs::create_dir_all(&dir).expect("create the output dir");
        let actual = dir.join(format!("{name}.actual.png"));
        let diff_path = dir.join(format!("{name}.diff.png"));
        std::fs::write(&actual, image.to_png().expect("encode")).expect("write actual");
        let diff = Image {
            width: image.width,
            height: image.height,
            rgba: diff,
        };
        std::fs::write(&diff_path, diff.to_png().expect("encode")).expect("write diff");
        panic!(
            "{name}: {differing} pixels ({:.2} %) differ from {} by more than {PIXEL_THRESHOLD} (at most {:.2} % may); \
             the picture is at {} and the difference at {}; if the change is intended, rerun with RENEWTWIN_BLESS=1",
            fraction * 100.0,
            golden_path.display(),
            MAX_DIFFERING * 100.0,
            actual.display(),
            diff_path.display()
        );
    }
}

#[test]
fn the_default_scene_renders_like_its_goldens_and_shows_the_renewal_by_date() {
    let Some(mut renderer) = renderer() else {
        return;
    };
    let start = renderer.scene().manifest.start;
    let later = CivilDate::parse_iso("2026-08-14").expect("date");
    let before = renderer
        .render(&shot(None))
        .expect("render the plan's start");
    let during = renderer
        .render(&shot(Some(later)))
        .expect("render 2026-08-14");
    assert_eq!((before.date, before.day), (start, 0));
    assert!(during.day > 100, "2026-08-14 is day {}", during.day);

    for (name, rendered) in [
        ("default-overview-start", &before),
        ("default-overview-2026-08-14", &during),
    ] {
        let image = &rendered.image;
        assert_eq!(
            (image.width, image.height, image.rgba.len()),
            (SIZE.0, SIZE.1, (SIZE.0 * SIZE.1 * 4) as usize)
        );
        // The PNG holds exactly these pixels.
        assert_eq!(
            &decode_png(&image.to_png().expect("encode")),
            image,
            "{name}: PNG round trip"
        );
        // Not blank: the corner is sky, and most of the frame is the district.
        assert_eq!(
            image.pixel(0, 0),
            [BACKGROUND[0], BACKGROUND[1], BACKGROUND[2], 255],
            "{name}: background"
        );
        let drawn = image
            .rgba
            .chunks_exact(4)
            .filter(|p| p[..3] != BACKGROUND)
            .count();
        assert!(
            drawn > (SIZE.0 * SIZE.1 / 5) as usize,
            "{name}: only {drawn} pixels show the scene"
        );
        assert!(
            pixels_in(image, LifecycleState::Existing) > 1000,
            "{name}: existing buildings are light grey"
        );
    }
    // At the start nothing is under construction or renewed; by mid-August facades and windows are.
    for state in [LifecycleState::UnderConstruction, LifecycleState::Renewed] {
        let (then, now) = (
            pixels_in(&before.image, state),
            pixels_in(&during.image, state),
        );
        assert!(then < 5, "{state:?} at the start: {then} pixels");
        assert!(now > 100, "{state:?} on 2026-08-14: only {now} pixels");
    }
    let changed = before
        .image
        .rgba
        .chunks_exact(4)
        .zip(during.image.rgba.chunks_exact(4))
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        changed > 2000,
        "only {changed} pixels changed between the dates"
    );

    assert_matches_golden("default-overview-start", &before.image);
    assert_matches_golden("default-overview-2026-08-14", &during.image);
}

#[test]
fn colour_layers_and_viewpoints_change_the_picture() {
    let Some(mut renderer) = renderer() else {
        return;
    };
    let date = CivilDate::parse_iso("2026-08-14");
    let lifecycle = renderer.render(&shot(date)).expect("lifecycle").image;
    let phase = renderer
        .render(&Shot {
            colour: ColourBy::Phase,
            ..shot(date)
        })
        .expect("phase")
        .image;
    let risk = renderer
        .render(&Shot {
            colour: ColourBy::Risk,
            ..shot(date)
        })
        .expect("risk")
        .image;
    let lifts = renderer
        .render(&Shot {
            viewpoint: Some("lifts".into()),
            ..shot(date)
        })
        .expect("lifts")
        .image;
    for (name, other) in [
        ("phase", &phase),
        ("risk", &risk),
        ("lifts viewpoint", &lifts),
    ] {
        let changed = lifecycle
            .rgba
            .chunks_exact(4)
            .zip(other.rgba.chunks_exact(4))
            .filter(|(a, b)| a != b)
            .count();
        assert!(
            changed > 2000,
            "{name}: only {changed} pixels differ from the lifecycle overview"
        );
    }
    // The phase layer paints construction-phase projects in its construction colour.
    let construction = [239u8, 108, 0];
    let painted = phase.rgba.chunks_exact(4).filter(|p| {
        let f = f32::from(p[0]) / 239.0;
        (0.4..=1.05).contains(&f)
            && (0..3).all(|c| (f32::from(p[c]) - f32::from(construction[c]) * f).abs() <= 10.0)
    });
    assert!(
        painted.count() > 100,
        "no element is painted in the construction phase colour"
    );

    let too_big = renderer.render(&Shot {
        width: 9000,
        ..shot(date)
    });
    assert!(
        matches!(
            too_big,
            Err(RenderError::Offscreen(OffscreenError::Size { .. }))
        ),
        "{too_big:?}"
    );
}

#[test]
fn a_broken_scene_stream_is_an_error_not_a_panic() {
    let mut viewer = match OffscreenViewer::new() {
        Ok(viewer) => viewer,
        Err(e @ OffscreenError::NoAdapter { .. }) => {
            assert!(!required(), "RENEWTWIN_REQUIRE_GPU_SOFT is set but {e}");
            eprintln!("SKIPPED: {e}");
            return;
        }
        Err(e) => panic!("cannot set up the off-screen renderer: {e}"),
    };
    let batch = ServerMsg::Meshes {
        meshes: vec![],
        placements: vec![],
    };
    let err = viewer
        .receive(batch)
        .expect_err("a batch before the header");
    assert!(err.to_string().contains("before the scene header"), "{err}");
    assert!(matches!(
        viewer.receive(ServerMsg::SceneComplete),
        Err(OffscreenError::Protocol(_))
    ));
    assert!(
        matches!(viewer.render(64, 48), Err(OffscreenError::Protocol(_))),
        "nothing to draw yet"
    );
    assert!(matches!(
        viewer.render(0, 48),
        Err(OffscreenError::Size { .. })
    ));
    let err = viewer
        .set_states(Some(vec![LifecycleState::Existing; 3]))
        .expect_err("no scene has 3 elements");
    assert!(
        matches!(
            err,
            OffscreenError::StateCount {
                given: 3,
                expected: 0
            }
        ),
        "{err}"
    );
}

#[test]
fn an_unknown_viewpoint_is_refused_with_the_scene_s_names() {
    let loaded = default_scene();
    let err = camera_of(&loaded, Some("roof-garden"))
        .expect_err("no such viewpoint")
        .to_string();
    assert!(
        err.contains("\"roof-garden\"") && err.contains("overview, archway, lifts, street, park"),
        "{err}"
    );
    assert!(camera_of(&loaded, Some("archway")).is_ok());
}

fn renewtwin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_renewtwin"))
}

#[test]
fn the_command_writes_a_png_and_explains_bad_arguments() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("render-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let out = renewtwin()
        .args(["render", "--viewpoint", "roof-garden", "--out"])
        .arg(dir.join("x.png"))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("overview, archway, lifts, street, park"),
        "{stderr}"
    );
    let out = renewtwin()
        .args(["render", "--size", "0x10", "--out"])
        .arg(dir.join("x.png"))
        .output()
        .expect("run");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("1 to 8192"));
    let out = renewtwin()
        .args(["render", "--date", "2026-13-40", "--out"])
        .arg(dir.join("x.png"))
        .output()
        .expect("run");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));
    assert!(
        !dir.join("x.png").exists(),
        "nothing is written on an error"
    );

    let file = dir.join("lifts.png");
    let out = renewtwin()
        .args([
            "render",
            "--viewpoint",
            "lifts",
            "--date",
            "2026-10-01",
            "--size",
            "200x150",
            "--out",
        ])
        .arg(&file)
        .env("XDG_RUNTIME_DIR", &dir)
        .output()
        .expect("run render");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("no Vulkan or OpenGL adapter") {
        assert!(
            !required(),
            "RENEWTWIN_REQUIRE_GPU_SOFT is set but: {stderr}"
        );
        eprintln!("SKIPPED: {stderr}");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("200x150") && stdout.contains("2026-10-01"),
        "{stdout}"
    );
    let image = decode_png(&std::fs::read(&file).expect("the PNG was written"));
    assert_eq!((image.width, image.height), (200, 150));
    assert!(
        image
            .rgba
            .chunks_exact(4)
            .filter(|p| p[..3] != BACKGROUND)
            .count()
            > 200 * 150 / 5,
        "the picture shows the scene"
    );
}
