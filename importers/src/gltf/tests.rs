use super::*;
use serde_json::json;

/// A GLB of `json` with `bin` as its binary chunk (`buffers[0].byteLength` set here).
fn glb(mut json: Value, bin: &[u8]) -> Vec<u8> {
    json["buffers"] = json!([{"byteLength": bin.len()}]);
    let mut j = serde_json::to_vec(&json).expect("json");
    while !j.len().is_multiple_of(4) {
        j.push(b' ');
    }
    let mut b = bin.to_vec();
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
    let mut out = Vec::new();
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&((12 + 8 + j.len() + 8 + b.len()) as u32).to_le_bytes());
    out.extend_from_slice(&(j.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&j);
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&b);
    out
}

/// One triangle (0,0,0), (1,0,0), (0,1,0) (glTF, Y up) with u16 indices, and two instance
/// translations; `nodes` as given.
fn triangle(nodes: Value, extra: Value) -> Vec<u8> {
    let mut bin = Vec::new();
    for v in [0.0f32, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0] {
        bin.extend_from_slice(&v.to_le_bytes());
    }
    for i in [0u16, 1, 2, 0] {
        bin.extend_from_slice(&i.to_le_bytes());
    }
    for v in [100.0f32, 0.0, 0.0, 200.0, 0.0, 0.0] {
        bin.extend_from_slice(&v.to_le_bytes());
    }
    let mut json = json!({
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0, 1]}],
        "nodes": nodes,
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3"},
            {"bufferView": 1, "componentType": 5123, "count": 3, "type": "SCALAR"},
            {"bufferView": 2, "componentType": 5126, "count": 2, "type": "VEC3"},
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": 36},
            {"buffer": 0, "byteOffset": 36, "byteLength": 6},
            {"buffer": 0, "byteOffset": 44, "byteLength": 24},
        ],
    });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            json[k] = v;
        }
    }
    glb(json, &bin)
}

fn two_nodes() -> Value {
    json!([
        {"name": "moved", "mesh": 0, "matrix": [1,0,0,0, 0,1,0,0, 0,0,1,0, 10,0,0,1]},
        {"name": "instanced", "mesh": 0, "extensions": {"EXT_mesh_gpu_instancing": {"attributes": {"TRANSLATION": 2}}}},
    ])
}

fn world_vertices(model: &Model) -> Vec<[f64; 3]> {
    let mut out = Vec::new();
    for e in &model.elements {
        for p in e.placements {
            for v in model.meshes[p.mesh.0 as usize].positions.chunks_exact(3) {
                out.push(apply(
                    &p.transform,
                    [f64::from(v[0]), f64::from(v[1]), f64::from(v[2])],
                ));
            }
        }
    }
    out
}

fn near(a: [f64; 3], b: [f64; 3], tol: f64) -> bool {
    (0..3).all(|k| (a[k] - b[k]).abs() <= tol)
}

#[test]
fn a_glb_becomes_context_elements_turned_z_up_with_instances_and_shared_meshes() {
    let bytes = triangle(two_nodes(), json!({}));
    let model = crate::import_bytes("two.glb", &bytes, &ImportConfig::default()).expect("imports");
    assert_eq!(model.source.schema, "glTF");
    assert_eq!(model.elements.len(), 2, "one element per node with a mesh");
    assert_eq!(model.meshes.len(), 1, "the mesh is shared");
    assert_eq!(model.elements.at(0).placements.len(), 1);
    assert_eq!(
        model.elements.at(1).placements.len(),
        2,
        "one placement per instance"
    );
    assert_eq!(model.elements.at(0).name, Some("moved"));
    assert_eq!(model.elements.at(0).class, "IfcGeographicElement");
    assert!(model.georef.is_none());
    let v = world_vertices(&model);
    // glTF (0, 1, 0) is up: model (0, 0, 1); the node matrix moves x by 10; instances by 100, 200.
    assert!(near(v[2], [10.0, 0.0, 1.0], 1e-9), "{v:?}");
    assert!(near(v[4], [101.0, 0.0, 0.0], 1e-9), "{v:?}");
    assert!(near(v[8], [200.0, 0.0, 1.0], 1e-9), "{v:?}");
    // Normals computed (the file has none): the triangle faces glTF +Z, model −Y.
    let n = &model.meshes[0].normals;
    assert_eq!(n.len(), 9);
    assert!((n[2] - 1.0).abs() < 1e-6, "{n:?}");
}

#[test]
fn broken_and_hostile_files_are_refused_or_noted_without_panicking() {
    let cfg = ImportConfig::default();
    // An accessor that claims more than its buffer view holds.
    let mut bytes = triangle(two_nodes(), json!({}));
    let (mut json, bin) = parse(&bytes).expect("parses");
    let bin = bin.expect("bin").to_vec();
    json["accessors"][0]["count"] = json!(1_000_000_000u64);
    bytes = glb(json, &bin);
    let err = crate::import_bytes("big.glb", &bytes, &cfg).expect_err("refused");
    assert!(err.to_string().contains("accessor 0"), "{err}");
    // A node that is its own child: noted once, no hang.
    let nodes = json!([{"mesh": 0, "children": [1]}, {"mesh": 0, "children": [0]}]);
    let model =
        crate::import_bytes("cycle.glb", &triangle(nodes, json!({})), &cfg).expect("imports");
    assert!(
        model
            .diagnostics
            .iter()
            .any(|d| d.message.contains("reached twice"))
    );
    // A required extension this reader does not decode.
    let draco = triangle(
        two_nodes(),
        json!({"extensionsRequired": ["KHR_draco_mesh_compression"]}),
    );
    let err = crate::import_bytes("draco.glb", &draco, &cfg).expect_err("refused");
    assert!(
        err.to_string().contains("KHR_draco_mesh_compression"),
        "{err}"
    );
    // Cut short, and over the size limit.
    assert!(crate::import_bytes("cut.glb", &bytes[..30], &cfg).is_err());
    let small = ImportConfig {
        max_file_bytes: 64,
        ..ImportConfig::default()
    };
    assert!(matches!(
        crate::import_bytes("two.glb", &triangle(two_nodes(), json!({})), &small),
        Err(ImportError::TooLarge { .. })
    ));
    // An index past the vertices.
    let mut bad = triangle(two_nodes(), json!({}));
    let (json, bin) = parse(&bad).expect("parses");
    let mut bin = bin.expect("bin").to_vec();
    bin[36..38].copy_from_slice(&7u16.to_le_bytes());
    bad = glb(json, &bin);
    let err = crate::import_bytes("index.glb", &bad, &cfg).expect_err("refused");
    assert!(err.to_string().contains("index 7"), "{err}");
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("renewtwin-gltf-in-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn a_tileset_is_placed_on_the_globe_by_its_transforms_leaves_only_under_replace() {
    let dir = tempdir("tileset");
    std::fs::write(dir.join("a.glb"), triangle(two_nodes(), json!({}))).expect("write");
    // A coarser level (REPLACE parent content) that must not be read: a bigger, far triangle.
    let coarse = json!([{"mesh": 0, "matrix": [1,0,0,0, 0,1,0,0, 0,0,1,0, 5000,0,0,1]}]);
    std::fs::write(
        dir.join("coarse.glb"),
        triangle(coarse, json!({"scenes": [{"nodes": [0]}]})),
    )
    .expect("write");
    let (lon, lat) = (121.4737, 31.2304);
    let root = enu_to_ecef(lon, lat, 10.0);
    let tileset = json!({
        "asset": {"version": "1.1"},
        "geometricError": 100,
        "root": {
            "transform": root,
            "boundingVolume": {"box": [0,0,0, 300,0,0, 0,300,0, 0,0,50]},
            "geometricError": 100, "refine": "REPLACE",
            "content": {"uri": "coarse.glb"},
            "children": [
                {"boundingVolume": {"box": [0,0,0, 300,0,0, 0,300,0, 0,0,50]}, "geometricError": 0,
                 "transform": [1,0,0,0, 0,1,0,0, 0,0,1,0, 0,50,0,1],
                 "content": {"uri": "a.glb"}},
                {"boundingVolume": {"box": [0,0,0, 1,0,0, 0,1,0, 0,0,1]}, "geometricError": 0, "content": {"uri": "http://example.com/x.glb"}},
                {"boundingVolume": {"box": [0,0,0, 1,0,0, 0,1,0, 0,0,1]}, "geometricError": 0, "content": {"uri": "../outside.glb"}},
            ],
        },
    });
    std::fs::write(dir.join("../outside.glb"), b"glTF").ok();
    let path = dir.join("tileset.json");
    std::fs::write(&path, serde_json::to_vec(&tileset).expect("json")).expect("write");
    let model = crate::import_file(&path, &ImportConfig::default()).expect("imports");
    assert_eq!(model.source.schema, "3D Tiles");
    let site = model
        .georef
        .as_ref()
        .and_then(|g| g.site_location)
        .expect("georeferenced");
    assert!(
        (site.longitude - lon).abs() < 1e-9 && (site.latitude - lat).abs() < 1e-9,
        "{site:?}"
    );
    assert!((site.elevation.unwrap_or(0.0) - 10.0).abs() < 1e-4);
    assert_eq!(
        model.elements.len(),
        2,
        "only the leaf's nodes: {:?}",
        model
            .elements
            .iter()
            .map(|e| e.global_id)
            .collect::<Vec<_>>()
    );
    let v = world_vertices(&model);
    // The child moves 50 m north; glTF (0, 1, 0) is up; the node matrix moves 10 m east.
    assert!(near(v[2], [10.0, 50.0, 1.0], 1e-6), "{v:?}");
    assert!(near(v[4], [101.0, 50.0, 0.0], 1e-6), "{v:?}");
    let notes: Vec<&str> = model
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert!(notes.iter().any(|m| m.contains("not fetched")), "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|m| m.contains("outside the tileset's folder")),
        "{notes:?}"
    );

    // The same tileset with the whole input limited below its tiles' size: each tile refused.
    let small = ImportConfig {
        max_file_bytes: std::fs::metadata(&path).expect("meta").len() + 10,
        ..ImportConfig::default()
    };
    let model = crate::import_file(&path, &small).expect("the tileset itself fits");
    assert!(model.elements.is_empty());
    assert!(
        model
            .diagnostics
            .iter()
            .any(|d| d.message.contains("import limit"))
    );
    let _ = std::fs::remove_file(dir.join("../outside.glb"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tileset_from_memory_says_it_needs_its_folder() {
    let err = crate::import_bytes(
        "t.json",
        br#"{"asset": {"version": "1.1"}, "geometricError": 1, "root": {"geometricError": 0, "boundingVolume": {"sphere": [0,0,0,1]}}}"#,
        &ImportConfig::default(),
    )
    .expect_err("refused");
    assert!(err.to_string().contains("imported from its file"), "{err}");
}

#[test]
fn base64_and_trs_by_hand() {
    assert_eq!(base64("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
    assert_eq!(base64("aGVsbG8").as_deref(), Some(&b"hello"[..]));
    assert!(base64("a*b").is_none());
    // 90° about Y (glTF): x → −z.
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let m = trs([1.0, 2.0, 3.0], [0.0, h, 0.0, h], [2.0, 2.0, 2.0]);
    assert!(
        near(apply(&m, [1.0, 0.0, 0.0]), [1.0, 2.0, 1.0], 1e-9),
        "{m:?}"
    );
    let enu = enu_to_ecef(0.0, 0.0, 0.0);
    let back = mat_mul(&invert_rigid(&enu), &enu);
    for (k, v) in back.iter().enumerate() {
        assert!((v - IDENTITY[k]).abs() < 1e-9);
    }
}
