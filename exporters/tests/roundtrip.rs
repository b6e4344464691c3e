//! glTF and 3D Tiles back in (issue 17, item 3): the default scene exported as a GLB and as a
//! tileset by this crate, then imported as context by `renewtwin_importers`: the same elements
//! (GlobalId and class from the metadata), the same placements, and the same bounds (the
//! tileset's in the east-north-up frame at its root's centre, which the import records as the
//! model's georeference).

use std::collections::BTreeMap;

use renewtwin_exporters::gltf::{self, Scene};
use renewtwin_exporters::tiles::{self, TilesOptions};
use renewtwin_importers::{Aabb, ImportConfig, Model};
use renewtwin_twin::renewal::LoadedScene;

fn default_scene() -> LoadedScene {
    let manifest =
        renewtwin_twin::scene::Manifest::parse("default", renewtwin_twin::scene::DEFAULT_MANIFEST)
            .expect("the default manifest parses");
    LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default())
        .expect("the default scene loads")
}

/// GlobalId → (class, placements with triangles) of the elements drawn on `day`.
fn drawn(loaded: &LoadedScene, day: i32) -> BTreeMap<String, (String, usize)> {
    let model = &loaded.model;
    model
        .elements
        .iter()
        .enumerate()
        .filter(|(i, _)| gltf::drawn(loaded.plan.schedules[*i].state_on(day)))
        .filter_map(|(_, e)| {
            let n = e
                .placements
                .iter()
                .filter(|p| !model.meshes[p.mesh.0 as usize].indices.is_empty())
                .count();
            (n > 0).then(|| (e.global_id.to_owned(), (e.class.to_owned(), n)))
        })
        .collect()
}

fn elements(model: &Model) -> BTreeMap<String, (String, usize)> {
    model
        .elements
        .iter()
        .map(|e| (e.global_id.to_owned(), (e.class.to_owned(), e.placements.len())))
        .collect()
}

/// The bounds of the placements of the elements named in `ids`.
fn bounds(model: &Model, ids: &BTreeMap<String, (String, usize)>) -> Aabb {
    let mut b = Aabb::EMPTY;
    for e in model
        .elements
        .iter()
        .filter(|e| ids.contains_key(e.global_id))
    {
        for p in e.placements {
            let t = &p.transform;
            for v in model.meshes[p.mesh.0 as usize].positions.chunks_exact(3) {
                let (x, y, z) = (f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
                b.include([
                    t[0] * x + t[4] * y + t[8] * z + t[12],
                    t[1] * x + t[5] * y + t[9] * z + t[13],
                    t[2] * x + t[6] * y + t[10] * z + t[14],
                ]);
            }
        }
    }
    b
}

fn close(a: &Aabb, b: &Aabb, offset: [f64; 3], tol: f64) -> bool {
    (0..3).all(|k| {
        (a.min[k] + offset[k] - b.min[k]).abs() <= tol
            && (a.max[k] + offset[k] - b.max[k]).abs() <= tol
    })
}

#[test]
fn the_scene_as_glb_imports_back_with_the_same_elements_and_bounds() {
    let loaded = default_scene();
    let day = 213;
    let scene = Scene {
        manifest: &loaded.manifest,
        model: &loaded.model,
        plan: &loaded.plan,
    };
    let mut glb = Vec::new();
    gltf::write_glb(
        &scene,
        &mut gltf::ModelGeometry(&loaded.model),
        day,
        &mut glb,
        |_| {},
    )
    .expect("the GLB writes");
    let back = renewtwin_importers::import_bytes("scene.glb", &glb, &ImportConfig::default())
        .expect("the GLB imports");
    let want = drawn(&loaded, day);
    let got = elements(&back);
    assert_eq!(got.len(), want.len(), "one element per drawn element");
    assert!(
        got == want,
        "the same GlobalIds, classes and placement counts"
    );
    let (a, b) = (bounds(&loaded.model, &want), bounds(&back, &got));
    assert!(
        close(&a, &b, [0.0; 3], 1e-3),
        "the same bounds: {a:?} vs {b:?}"
    );
    assert!(back.georef.is_none(), "a GLB alone carries no georeference");
}

#[test]
fn the_scene_as_tiles_imports_back_in_its_place() {
    let loaded = default_scene();
    let day = 0;
    let dir =
        std::env::temp_dir().join(format!("renewtwin-roundtrip-tiles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scene = Scene {
        manifest: &loaded.manifest,
        model: &loaded.model,
        plan: &loaded.plan,
    };
    let options = TilesOptions {
        max_tile_bytes: 256 << 10,
        ..TilesOptions::default()
    };
    let (tileset, stats) = tiles::write_tiles(
        &scene,
        &mut gltf::ModelGeometry(&loaded.model),
        day,
        &options,
        &mut tiles::FolderSink(dir.clone()),
        |_| {},
    )
    .expect("the tiles write");
    assert!(stats.tiles > 7, "split: {stats:?}");
    let path = dir.join("tileset.json");
    std::fs::write(&path, serde_json::to_vec(&tileset).expect("json")).expect("write");
    let back = renewtwin_importers::import_file(&path, &ImportConfig::default())
        .expect("the tileset imports");
    assert_eq!(back.source.schema, "3D Tiles");
    let want = drawn(&loaded, day);
    let got = elements(&back);
    assert!(got == want, "the same elements from {} tiles", stats.tiles);
    // The import's frame is east-north-up at the root box's centre: the original frame moved by it.
    let c: Vec<f64> = tileset["root"]["boundingVolume"]["box"]
        .as_array()
        .expect("box")[..3]
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    let site = back
        .georef
        .as_ref()
        .and_then(|g| g.site_location)
        .expect("georeferenced");
    let origin = stats.georeference.origin;
    // A few hundred metres from the scene's origin: within 0.01° of it.
    assert!(
        (site.longitude - origin.lon).abs() < 0.01 && (site.latitude - origin.lat).abs() < 0.01
    );
    let (a, b) = (bounds(&loaded.model, &want), bounds(&back, &got));
    // Earth's curvature over the ~150 m between the two frames' origins tilts them by about
    // 150 / 6.4e6 rad: under 1 cm across the district.
    assert!(
        close(&a, &b, [-c[0], -c[1], -c[2]], 0.01),
        "the same bounds: {a:?} vs {b:?} (centre {c:?})"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
