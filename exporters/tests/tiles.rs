//! The 3D Tiles export of the default scene written to a folder and read back: the tileset's
//! structure (3D Tiles 1.1, the root transform the east-north-up frame at the scene's IfcSite
//! location), every tile within the declared size, every drawn element in exactly one tile with
//! its metadata row, every placement inside its tile's box and every box inside its parent's,
//! and zero errors from the Khronos glTF Validator on every tile GLB. Then the errors: no
//! georeference and no origin, an element alone over the bound.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use renewtwin_exporters::gltf::{self, Scene};
use renewtwin_exporters::tiles::{self, Origin, TilesError, TilesOptions};
use renewtwin_importers::ImportConfig;
use renewtwin_twin::renewal::LoadedScene;
use serde_json::Value;

mod support;
use support::{chunks, validate};

fn default_scene() -> LoadedScene {
    let manifest =
        renewtwin_twin::scene::Manifest::parse("default", renewtwin_twin::scene::DEFAULT_MANIFEST)
            .expect("the default manifest parses");
    LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default())
        .expect("the default scene loads")
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("renewtwin-tiles-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn export(
    loaded: &LoadedScene,
    day: i32,
    options: &TilesOptions,
    dir: &Path,
) -> Result<(Value, tiles::TilesStats), TilesError> {
    let scene = Scene {
        manifest: &loaded.manifest,
        model: &loaded.model,
        plan: &loaded.plan,
    };
    let mut sink = tiles::FolderSink(dir.to_path_buf());
    let mut reports = 0;
    let out = tiles::write_tiles(
        &scene,
        &mut gltf::ModelGeometry(&loaded.model),
        day,
        options,
        &mut sink,
        |_| reports += 1,
    )?;
    assert_eq!(reports, out.1.tiles, "a progress report per tile");
    Ok(out)
}

/// The strings of column `name` of the GLB's property table.
fn column(json: &Value, bin: &[u8], name: &str) -> Vec<String> {
    let table = &json["extensions"]["EXT_structural_metadata"]["propertyTables"][0];
    let p = &table["properties"][name];
    let view = |k: &str| {
        let v = &json["bufferViews"][p[k].as_u64().expect("view") as usize];
        let at = v["byteOffset"].as_u64().expect("offset") as usize;
        &bin[at..at + v["byteLength"].as_u64().expect("length") as usize]
    };
    let (values, offsets) = (view("values"), view("stringOffsets"));
    let offsets: Vec<usize> = offsets
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4")) as usize)
        .collect();
    offsets
        .windows(2)
        .map(|w| String::from_utf8(values[w[0]..w[1]].to_vec()).expect("UTF-8"))
        .collect()
}

/// `(min, max)` of a 3D Tiles axis-aligned `box`.
fn box_bounds(tile: &Value) -> ([f64; 3], [f64; 3]) {
    let b: Vec<f64> = tile["boundingVolume"]["box"]
        .as_array()
        .expect("a box")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect();
    assert_eq!(b.len(), 12);
    // Axis-aligned: the half-axes are along x, y and z.
    for (i, v) in b[3..].iter().enumerate() {
        if i % 4 != 0 {
            assert_eq!(*v, 0.0, "axis-aligned half-axes: {b:?}");
        }
    }
    let h = [b[3], b[7], b[11]];
    (
        [b[0] - h[0], b[1] - h[1], b[2] - h[2]],
        [b[0] + h[0], b[1] + h[1], b[2] + h[2]],
    )
}

fn inside(p: [f64; 3], (min, max): ([f64; 3], [f64; 3]), slack: f64) -> bool {
    (0..3).all(|k| p[k] >= min[k] - slack && p[k] <= max[k] + slack)
}

/// A box's min and max corners.
type Bounds = ([f64; 3], [f64; 3]);

/// Walks the tile tree: every content tile's GLB with its box, and box-in-parent checks.
fn walk(
    tile: &Value,
    parent: Option<([f64; 3], [f64; 3])>,
    out: &mut Vec<(String, Bounds)>,
) {
    let b = box_bounds(tile);
    if let Some(p) = parent {
        assert!(
            inside(b.0, p, 1e-6) && inside(b.1, p, 1e-6),
            "a child's box {b:?} lies inside its parent's {p:?}"
        );
    }
    let error = tile["geometricError"].as_f64().expect("geometricError");
    if let Some(uri) = tile["content"]["uri"].as_str() {
        assert_eq!(error, 0.0, "content tiles are the full detail");
        out.push((uri.to_owned(), b));
    } else {
        assert!(error > 0.0, "a tile without content has a geometric error");
    }
    for child in tile["children"].as_array().into_iter().flatten() {
        let child_error = child["geometricError"].as_f64().expect("geometricError");
        assert!(
            child_error <= error,
            "a child's error is at most its parent's"
        );
        walk(child, Some(b), out);
    }
}

#[test]
fn the_default_scene_as_georeferenced_tiles_each_within_the_bound() {
    let loaded = default_scene();
    let model = &loaded.model;
    let day = 213;
    // The whole scene's GLB, to pick a bound that forces buildings to be split.
    let scene = Scene {
        manifest: &loaded.manifest,
        model,
        plan: &loaded.plan,
    };
    let mut whole = Vec::new();
    let whole_stats = gltf::write_glb(
        &scene,
        &mut gltf::ModelGeometry(model),
        day,
        &mut whole,
        |_| {},
    )
    .expect("the GLB writes");
    let max = (whole.len() as u64 / 5).max(tiles::MIN_MAX_TILE_BYTES);
    let dir = tempdir("default");
    let options = TilesOptions {
        max_tile_bytes: max,
        ..TilesOptions::default()
    };
    let (tileset, stats) = export(&loaded, day, &options, &dir).expect("the tiles write");
    std::fs::write(
        dir.join("tileset.json"),
        serde_json::to_vec_pretty(&tileset).expect("json"),
    )
    .expect("write tileset.json");
    eprintln!("{stats:?}, whole GLB {} bytes, bound {max}", whole.len());
    assert!(
        stats.tiles > 6,
        "the six buildings and the site, some split: {stats:?}"
    );
    assert!(stats.largest <= max);
    assert_eq!(
        stats.elements, whole_stats.elements,
        "the same elements drawn as in one GLB"
    );
    assert_eq!(stats.left_out, whole_stats.left_out);

    // The tileset: 3D Tiles 1.1, placed at the generator's IfcSite location.
    assert_eq!(tileset["asset"]["version"], "1.1");
    let site = model
        .georef
        .as_ref()
        .and_then(|g| g.site_location)
        .expect("the generated district has an IfcSite location");
    assert_eq!(stats.georeference.source, "IfcSite");
    let o = stats.georeference.origin;
    assert!((o.lon - site.longitude).abs() < 1e-9 && (o.lat - site.latitude).abs() < 1e-9);
    let transform: Vec<f64> = tileset["root"]["transform"]
        .as_array()
        .expect("a root transform")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    let want = tiles::enu_to_ecef(o);
    assert_eq!(transform.len(), 16);
    for (g, w) in transform.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "root transform {transform:?}");
    }
    // The translation is on the ellipsoid: |p| between the polar and equatorial radii.
    let r = (want[12].powi(2) + want[13].powi(2) + want[14].powi(2)).sqrt();
    assert!((6_356_000.0..6_379_000.0).contains(&r), "{r}");
    assert_eq!(tileset["root"]["refine"], "ADD");

    // Every content tile: on disk, within the bound, valid, its elements' placements in its box.
    let mut contents = Vec::new();
    walk(&tileset["root"], None, &mut contents);
    assert_eq!(contents.len(), stats.tiles);
    let index: BTreeMap<&str, usize> = model
        .elements
        .iter()
        .enumerate()
        .map(|(i, e)| (e.global_id, i))
        .collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut total = 0;
    for (uri, b) in &contents {
        let path = dir.join(uri);
        let glb = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            glb.len() as u64 <= max,
            "{uri} is {} bytes, over {max}",
            glb.len()
        );
        total += glb.len() as u64;
        let (json, bin) = chunks(&glb);
        let ids = column(&json, bin, "global_id");
        assert!(!ids.is_empty(), "{uri} holds elements");
        for id in &ids {
            *seen.entry(id.clone()).or_default() += 1;
            let e = &model.elements.at(index[id.as_str()]);
            for p in e.placements {
                let mesh = &model.meshes[p.mesh.0 as usize];
                let t = &p.transform;
                for v in mesh.positions.chunks_exact(3) {
                    let (x, y, z) = (f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
                    let q = [
                        t[0] * x + t[4] * y + t[8] * z + t[12],
                        t[1] * x + t[5] * y + t[9] * z + t[13],
                        t[2] * x + t[6] * y + t[10] * z + t[14],
                    ];
                    assert!(
                        inside(q, *b, 1e-3),
                        "{id}'s vertex {q:?} outside {uri}'s box {b:?}"
                    );
                }
            }
        }
        assert_eq!(
            json["extensions"]["EXT_structural_metadata"]["propertyTables"][0]["count"].as_u64(),
            Some(ids.len() as u64)
        );
        validate(&glb, uri);
    }
    assert_eq!(total, stats.bytes);
    assert!(seen.values().all(|&n| n == 1), "every element in one tile");
    // Exactly the elements the whole GLB draws.
    let (wjson, wbin) = chunks(&whole);
    let drawn_whole: BTreeSet<String> = {
        let ids = column(&wjson, wbin, "global_id");
        let state_view =
            &wjson["bufferViews"][wjson["extensions"]["EXT_structural_metadata"]["propertyTables"]
                [0]["properties"]["state"]["values"]
                .as_u64()
                .expect("state") as usize];
        let at = state_view["byteOffset"].as_u64().expect("offset") as usize;
        ids.into_iter()
            .enumerate()
            .filter(|(i, _)| {
                let e = &model.elements.at(*i);
                let s = renewtwin_protocol::LifecycleState::ALL[wbin[at + i] as usize];
                gltf::drawn(s)
                    && e.placements
                        .iter()
                        .any(|p| !model.meshes[p.mesh.0 as usize].indices.is_empty())
            })
            .map(|(_, id)| id)
            .collect()
    };
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), drawn_whole);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_georeference_the_origin_must_be_given_and_then_places_the_root() {
    let mut loaded = default_scene();
    loaded.model.georef = None;
    let dir = tempdir("nogeo");
    let err = export(&loaded, 0, &TilesOptions::default(), &dir).expect_err("no georeference");
    assert!(matches!(err, TilesError::NoGeoreference));
    assert!(err.to_string().contains("--origin lon,lat"), "{err}");
    let origin = Origin {
        lon: 121.4737,
        lat: 31.2304,
        height: 4.0,
    };
    let (tileset, stats) = export(
        &loaded,
        0,
        &TilesOptions {
            origin: Some(origin),
            ..TilesOptions::default()
        },
        &dir,
    )
    .expect("with an origin");
    assert_eq!(stats.georeference.source, "--origin");
    assert_eq!(tileset["extras"]["origin"]["longitude"], 121.4737);
    let t = tileset["root"]["transform"].as_array().expect("transform");
    let p = tiles::geodetic_to_ecef(origin);
    for k in 0..3 {
        assert!((t[12 + k].as_f64().expect("number") - p[k]).abs() < 1e-6);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_element_alone_over_the_bound_is_named_and_a_tiny_bound_refused() {
    let mut loaded = default_scene();
    // Give the first element with geometry a mesh of 20 000 triangles and 30 000 vertices
    // (about 1 MB alone; the default scene's largest element is far below 512 KiB).
    let ei = loaded
        .model
        .elements
        .iter()
        .position(|e| !e.placements.is_empty())
        .expect("an element with geometry");
    let mut mesh = renewtwin_importers::Mesh::default();
    for i in 0..10_000u32 {
        let x = i as f32 * 0.01;
        mesh.positions
            .extend_from_slice(&[x, 0.0, 0.0, x, 1.0, 0.0, x, 0.0, 1.0]);
        mesh.normals
            .extend_from_slice(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        mesh.indices
            .extend_from_slice(&[3 * i, 3 * i + 1, 3 * i + 2, 3 * i, 3 * i + 2, 3 * i + 1]);
    }
    loaded.model.meshes.push(mesh);
    let id = renewtwin_importers::MeshId((loaded.model.meshes.len() - 1) as u32);
    loaded.model.elements.make_mut()[ei].placements[0].mesh = id;
    let dir = tempdir("large");
    let options = TilesOptions {
        max_tile_bytes: 512 << 10,
        ..TilesOptions::default()
    };
    match export(&loaded, 0, &options, &dir) {
        Err(TilesError::ElementTooLarge {
            global_id,
            bytes,
            max,
        }) => {
            assert_eq!(global_id, loaded.model.elements.at(ei).global_id);
            assert!(bytes > max);
        }
        other => panic!("expected ElementTooLarge, got {other:?}"),
    }
    let tiny = TilesOptions {
        max_tile_bytes: 100,
        ..TilesOptions::default()
    };
    assert!(matches!(
        export(&loaded, 0, &tiny, &dir),
        Err(TilesError::BoundTooSmall(100))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
