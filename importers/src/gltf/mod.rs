//! City context from glTF 2.0 (GLB or `.gltf`) and from OGC 3D Tiles tilesets (1.0 and 1.1:
//! GLB, glTF and `b3dm` content, external tilesets) into the neutral [`Model`].
//!
//! - **Geometry.** Every triangle primitive (`mode` 4, the default) of every node of the
//!   default scene (else every root node) becomes a mesh in its own frame, shared by every node
//!   that uses it (placements keep glTF's sharing). Each node's transform (`matrix`, or
//!   translation · rotation · scale) is composed with its parents'. `EXT_mesh_gpu_instancing`
//!   instances become one placement each. Positions, normals and indices may be any accessor
//!   component type (normalized integers as `KHR_mesh_quantization` allows); missing normals
//!   are computed (area-weighted per vertex). Points, lines and other modes are skipped (a
//!   diagnostic counts them); files that require an extension this reader does not decode
//!   (Draco, meshopt, …) are refused with its name.
//! - **Frame.** glTF is Y up; the model is Z up: a glTF file alone is turned `(x, y, z) →
//!   (x, −z, y)` and is not georeferenced (it is placed as it is, with an informational
//!   diagnostic). A tileset is placed on the globe: each tile's content goes through the tile
//!   transforms down to it, 3D Tiles' glTF Y-up to Z-up turn and (for `b3dm`) `RTC_CENTER` into
//!   Earth-centred Earth-fixed coordinates, and from there into the east-north-up frame at the
//!   centre of the root's bounding volume on the WGS84 ellipsoid, which becomes the model's
//!   georeference (a site location), so `place` puts it into the one map beside IFC, CityJSON
//!   and GeoJSON inputs. Transforms are composed in f64 and kept per placement.
//! - **Which tiles.** A tile's content is read when its refinement (inherited from its parent
//!   when absent) is `ADD`, or when it has no children: with `REPLACE`, only the finest level
//!   is taken, not every level of detail on top of one another.
//! - **Elements.** Where the content carries `EXT_structural_metadata` with a feature id per
//!   primitive (`EXT_mesh_features`) or per instance (`EXT_instance_features`), placements are
//!   grouped by feature, and a feature's `global_id`, `ifc_class` and `name` properties (what
//!   renewtwin's own export writes) become the element's GlobalId, class and name. Otherwise
//!   each node with a mesh is one element of class `IfcGeographicElement` (a reality mesh).
//!   Every element has a property set `RenewTwin_Context` (`Source`, `Format`, `Node`).
//! - **Bounded.** The input (a tileset and every file it reads, together) is held to
//!   [`ImportConfig::max_file_bytes`]; tiles to [`MAX_TILES`], tile trees to [`MAX_DEPTH`]
//!   levels and external tilesets to [`MAX_EXTERNAL`] levels; every accessor is checked
//!   against its buffer before anything is allocated for it; a node reached twice (a cycle) is
//!   skipped. Work is linear in the input. Content URIs must be relative files inside the
//!   tileset's folder: remote (`http:`) content is not fetched and a path out of the folder is
//!   refused, each with a diagnostic.
//!
//! Specifications: glTF 2.0 (Khronos), 3D Tiles 1.1 (OGC 22-025r4) and 1.0 (OGC 18-053r2,
//! `b3dm` layout), `EXT_mesh_gpu_instancing`, `EXT_mesh_features`, `EXT_instance_features`,
//! `EXT_structural_metadata`.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::geo::city_spatial_root;
use crate::geo::mesh::{IDENTITY, mat_mul};
use crate::geo::wgs84::{ecef_to_geodetic, enu_to_ecef, geodetic_to_ecef};
use crate::{
    Diagnostic, DiagnosticKind, Element, GeoRef, ImportConfig, ImportError, Importer, Mesh, MeshId,
    Model, Placement, Property, PropertySet, PropertyValue, Severity, SiteLocation, SourceInfo,
};

/// A mesh made of a primitive and the metadata feature it carries.
type FeatureMesh = (MeshId, Option<u32>);
/// One `EXT_mesh_gpu_instancing` instance: its column-major matrix and metadata feature.
type Instance = ([f64; 16], Option<u32>);

/// Most tiles read from one tileset (external tilesets included).
pub const MAX_TILES: usize = 200_000;
/// Deepest tile tree.
pub const MAX_DEPTH: usize = 64;
/// Deepest chain of external tilesets.
pub const MAX_EXTERNAL: usize = 8;
/// Diagnostics listed one by one; the rest are counted.
const MAX_DETAILED: usize = 200;

/// Extensions a file may require that this reader handles.
const SUPPORTED_REQUIRED: &[&str] = &[
    "EXT_mesh_gpu_instancing",
    "KHR_mesh_quantization",
    "KHR_materials_unlit",
    "KHR_texture_transform",
    "EXT_mesh_features",
    "EXT_instance_features",
    "EXT_structural_metadata",
];

/// Y up (glTF) → Z up: `(x, y, z) → (x, −z, y)`, column-major.
const Y_UP_TO_Z_UP: [f64; 16] = [
    1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0,
];

/// glTF 2.0 files (GLB, or `.gltf` JSON with embedded `data:` buffers) as context.
#[derive(Debug, Default, Clone, Copy)]
pub struct GltfImporter;

impl GltfImporter {
    /// Whether `head` starts a GLB, or a JSON glTF (an `"asset"` and no tileset `"root"`).
    pub fn sniffs(head: &[u8]) -> bool {
        head.starts_with(b"glTF")
            || (crate::sniff_json(head, &["\"asset\""])
                && !String::from_utf8_lossy(head).contains("\"root\"")
                && String::from_utf8_lossy(head).contains("\"version\""))
    }
}

impl Importer for GltfImporter {
    fn format(&self) -> &'static str {
        "glTF"
    }

    fn sniff(&self, head: &[u8]) -> bool {
        Self::sniffs(head)
    }

    fn import_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        config: &ImportConfig,
    ) -> Result<Model, ImportError> {
        import_gltf(name, bytes, None, config)
    }
}

/// Whether `bytes` are a 3D Tiles tileset: a JSON object with `"asset"` and `"root"`.
pub fn is_tileset(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    crate::sniff_json(head, &["\"asset\""]) && {
        #[derive(serde::Deserialize)]
        struct Head {
            asset: Option<serde::de::IgnoredAny>,
            root: Option<serde::de::IgnoredAny>,
        }
        serde_json::from_slice::<Head>(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
            .is_ok_and(|h| h.asset.is_some() && h.root.is_some())
    }
}

/// Reads a glTF file (`base`: its folder, for external buffers; `None` for in-memory input).
pub(crate) fn import_gltf(
    name: &str,
    bytes: &[u8],
    base: Option<&Path>,
    config: &ImportConfig,
) -> Result<Model, ImportError> {
    config.check_size(name, bytes.len() as u64)?;
    let started = std::time::Instant::now();
    let mut reader = Reader::new(name, "glTF", config);
    reader.budget = config.max_file_bytes.saturating_sub(bytes.len() as u64);
    reader
        .content(name, bytes, base, &Y_UP_TO_Z_UP, name)
        .map_err(|reason| not_readable(name, "glTF", reason))?;
    reader.diagnostic(
        Severity::Info,
        DiagnosticKind::Other,
        "a glTF file carries no georeference: placed as it is, its origin at the project origin"
            .to_owned(),
    );
    Ok(reader.finish(bytes.len() as u64, None, started))
}

/// Reads a 3D Tiles tileset from its `tileset.json` on disk (tiles are files beside it).
pub fn import_tileset_file(path: &Path, config: &ImportConfig) -> Result<Model, ImportError> {
    let name = path.display().to_string();
    let bytes = read_file(path, &name, config.max_file_bytes)?;
    let started = std::time::Instant::now();
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut reader = Reader::new(&name, "3D Tiles", config);
    reader.budget = config.max_file_bytes.saturating_sub(bytes.len() as u64);
    reader.root_dir = base.canonicalize().ok();
    let json = reader_json(&name, &bytes)?;
    // The local frame: east-north-up at the centre of the root's bounding volume.
    let root = &json["root"];
    let centre =
        bounding_centre_ecef(&root["boundingVolume"], &tile_transform(root)).ok_or_else(|| {
            not_readable(
                &name,
                "3D Tiles",
                "the root tile has no readable boundingVolume (box, region or sphere)".to_owned(),
            )
        })?;
    let (lon, lat, h) = ecef_to_geodetic(centre);
    let enu = enu_to_ecef(lon, lat, h);
    reader.to_local = invert_rigid(&enu);
    reader
        .tileset(&json, &base, 0)
        .map_err(|reason| not_readable(&name, "3D Tiles", reason))?;
    let georef = GeoRef {
        map_conversion: None,
        site_location: Some(SiteLocation {
            latitude: lat,
            longitude: lon,
            elevation: Some(h),
        }),
    };
    let total = reader.read_bytes + bytes.len() as u64;
    Ok(reader.finish(total, Some(georef), started))
}

fn reader_json(name: &str, bytes: &[u8]) -> Result<Value, ImportError> {
    serde_json::from_slice(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)).map_err(|e| {
        not_readable(
            name,
            "3D Tiles",
            format!("not JSON at line {}, column {}: {e}", e.line(), e.column()),
        )
    })
}

fn not_readable(name: &str, format: &'static str, reason: String) -> ImportError {
    ImportError::NotReadable {
        path: name.to_owned(),
        format,
        reason,
    }
}

fn read_file(path: &Path, name: &str, limit: u64) -> Result<Vec<u8>, ImportError> {
    let meta = std::fs::metadata(path).map_err(|source| ImportError::Io {
        path: name.to_owned(),
        source,
    })?;
    if meta.len() > limit {
        return Err(ImportError::TooLarge {
            path: name.to_owned(),
            bytes: meta.len(),
            limit,
        });
    }
    std::fs::read(path).map_err(|source| ImportError::Io {
        path: name.to_owned(),
        source,
    })
}

/// The inverse of a rotation-and-translation (column-major): `Rᵀ`, `−Rᵀ t`.
fn invert_rigid(m: &[f64; 16]) -> [f64; 16] {
    let mut r = IDENTITY;
    for row in 0..3 {
        for col in 0..3 {
            r[4 * col + row] = m[4 * row + col];
        }
    }
    for row in 0..3 {
        r[12 + row] = -(0..3).map(|k| r[4 * k + row] * m[12 + k]).sum::<f64>();
    }
    r
}

fn apply(t: &[f64; 16], p: [f64; 3]) -> [f64; 3] {
    [
        t[0] * p[0] + t[4] * p[1] + t[8] * p[2] + t[12],
        t[1] * p[0] + t[5] * p[1] + t[9] * p[2] + t[13],
        t[2] * p[0] + t[6] * p[1] + t[10] * p[2] + t[14],
    ]
}

/// A tile's own `transform` (identity when absent or malformed).
fn tile_transform(tile: &Value) -> [f64; 16] {
    matrix_of(&tile["transform"]).unwrap_or(IDENTITY)
}

fn matrix_of(v: &Value) -> Option<[f64; 16]> {
    let a = v.as_array()?;
    if a.len() != 16 {
        return None;
    }
    let mut m = [0.0; 16];
    for (k, x) in a.iter().enumerate() {
        m[k] = x.as_f64().filter(|f| f.is_finite())?;
    }
    Some(m)
}

/// The ECEF centre of a bounding volume under `transform` (region: radians and metres).
fn bounding_centre_ecef(bv: &Value, transform: &[f64; 16]) -> Option<[f64; 3]> {
    let nums = |k: &str| -> Option<Vec<f64>> {
        bv[k]
            .as_array()?
            .iter()
            .map(|x| x.as_f64().filter(|f| f.is_finite()))
            .collect()
    };
    if let Some(b) = nums("box").filter(|b| b.len() == 12) {
        return Some(apply(transform, [b[0], b[1], b[2]]));
    }
    if let Some(s) = nums("sphere").filter(|s| s.len() == 4) {
        return Some(apply(transform, [s[0], s[1], s[2]]));
    }
    if let Some(r) = nums("region").filter(|r| r.len() == 6) {
        let lon = ((r[0] + r[2]) / 2.0).to_degrees();
        let lat = ((r[1] + r[3]) / 2.0).to_degrees();
        return Some(geodetic_to_ecef(lon, lat, (r[4] + r[5]) / 2.0));
    }
    None
}

/// What one feature of a content file says about itself.
#[derive(Debug, Default, Clone)]
struct Feature {
    global_id: Option<String>,
    class: Option<String>,
    name: Option<String>,
}

struct Reader<'c> {
    name: String,
    format: &'static str,
    config: &'c ImportConfig,
    elements: Vec<Element>,
    meshes: Vec<Mesh>,
    diagnostics: Vec<Diagnostic>,
    counted: usize,
    /// Element index by GlobalId, to merge a feature met in several nodes or tiles.
    by_id: HashMap<String, usize>,
    /// Bytes still allowed to be read (tiles, external buffers).
    budget: u64,
    read_bytes: u64,
    tiles: usize,
    skipped_primitives: usize,
    /// ECEF → model frame (tilesets); identity for a glTF file alone.
    to_local: [f64; 16],
    root_dir: Option<PathBuf>,
}

impl<'c> Reader<'c> {
    fn new(name: &str, format: &'static str, config: &'c ImportConfig) -> Self {
        Self {
            name: name.to_owned(),
            format,
            config,
            elements: Vec::new(),
            meshes: Vec::new(),
            diagnostics: Vec::new(),
            counted: 0,
            by_id: HashMap::new(),
            budget: 0,
            read_bytes: 0,
            tiles: 0,
            skipped_primitives: 0,
            to_local: IDENTITY,
            root_dir: None,
        }
    }

    fn diagnostic(&mut self, severity: Severity, kind: DiagnosticKind, message: String) {
        if self.diagnostics.len() < MAX_DETAILED {
            self.diagnostics.push(Diagnostic {
                severity,
                kind,
                step_id: None,
                class: None,
                message,
            });
        } else {
            self.counted += 1;
        }
    }

    fn finish(mut self, bytes: u64, georef: Option<GeoRef>, started: std::time::Instant) -> Model {
        if self.skipped_primitives > 0 {
            let n = self.skipped_primitives;
            self.diagnostic(
                Severity::Info,
                DiagnosticKind::Other,
                format!("{n} primitives that are not triangles (points, lines) were skipped"),
            );
        }
        if self.counted > 0 {
            let n = self.counted;
            self.diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                kind: DiagnosticKind::Other,
                step_id: None,
                class: None,
                message: format!("{n} more diagnostics not listed"),
            });
        }
        let entities = self.elements.len() as u64;
        let model = Model {
            source: SourceInfo {
                name: self.name.clone(),
                schema: self.format.to_owned(),
                bytes,
                entities,
                length_unit_to_metres: 1.0,
                parse_seconds: started.elapsed().as_secs_f64(),
                geometry_seconds: 0.0,
            },
            spatial: city_spatial_root(&self.name, &self.name),
            elements: self.elements.into(),
            meshes: self.meshes,
            diagnostics: self.diagnostics,
            origin: [0.0; 3],
            georef,
            ..Model::default()
        };
        tracing::info!(
            file = %model.source.name,
            tiles = self.tiles,
            elements = model.elements.len(),
            meshes = model.meshes.len(),
            "context import done"
        );
        model
    }

    /// Reads `path` (inside the tileset's folder), counting it against the budget.
    fn read_inside(&mut self, path: &Path) -> Result<Vec<u8>, String> {
        let canonical = path
            .canonicalize()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(root) = &self.root_dir
            && !canonical.starts_with(root)
        {
            return Err(format!(
                "{} is outside the tileset's folder; not read",
                path.display()
            ));
        }
        let len = std::fs::metadata(&canonical)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        if len > self.budget {
            return Err(format!(
                "reading {} ({len} bytes) would pass the import limit of {} bytes for the whole tileset",
                path.display(),
                self.config.max_file_bytes
            ));
        }
        self.budget -= len;
        self.read_bytes += len;
        std::fs::read(&canonical).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// One tileset document (the root file or an external one) under `dir`.
    fn tileset(&mut self, json: &Value, dir: &Path, external: usize) -> Result<(), String> {
        if external > MAX_EXTERNAL {
            return Err(format!(
                "external tilesets nest deeper than {MAX_EXTERNAL} (a cycle?)"
            ));
        }
        let version = json["asset"]["version"].as_str().unwrap_or("");
        if !version.starts_with('1') {
            return Err(format!(
                "asset.version {version:?} is not a 3D Tiles 1.x version"
            ));
        }
        // Each entry: the tile, its parent's world transform, its inherited refinement, depth.
        let mut stack: Vec<(&Value, [f64; 16], bool, usize)> =
            vec![(&json["root"], IDENTITY, false, 0)];
        while let Some((tile, parent, parent_add, depth)) = stack.pop() {
            if !tile.is_object() {
                return Err("a tile is not a JSON object".to_owned());
            }
            if depth > MAX_DEPTH {
                return Err(format!("tiles nest deeper than {MAX_DEPTH}"));
            }
            self.tiles += 1;
            if self.tiles > MAX_TILES {
                return Err(format!("more than {MAX_TILES} tiles"));
            }
            let world = mat_mul(&parent, &tile_transform(tile));
            let add = match tile["refine"].as_str() {
                Some(r) => r.eq_ignore_ascii_case("ADD"),
                None => parent_add,
            };
            let children = tile["children"].as_array().map_or(&[][..], Vec::as_slice);
            let contents: Vec<&Value> = tile["content"]
                .as_object()
                .map(|_| &tile["content"])
                .into_iter()
                .chain(tile["contents"].as_array().into_iter().flatten())
                .collect();
            if add || children.is_empty() {
                for content in contents {
                    let Some(uri) = content["uri"].as_str().or(content["url"].as_str()) else {
                        continue;
                    };
                    if let Err(why) = self.tile_content(uri, dir, &world, external) {
                        self.diagnostic(
                            Severity::Warning,
                            DiagnosticKind::MalformedRecord,
                            format!("tile content {uri}: {why}"),
                        );
                    }
                }
            }
            for child in children.iter().rev() {
                stack.push((child, world, add, depth + 1));
            }
        }
        Ok(())
    }

    fn tile_content(
        &mut self,
        uri: &str,
        dir: &Path,
        world: &[f64; 16],
        external: usize,
    ) -> Result<(), String> {
        if uri.contains("://") || uri.starts_with("data:") {
            return Err("remote or inline content is not fetched".to_owned());
        }
        let file = percent_decode(uri.split(['?', '#']).next().unwrap_or(uri));
        let path = dir.join(&file);
        let bytes = self.read_inside(&path)?;
        let label = format!("{}#{file}", self.name);
        let lower = file.to_ascii_lowercase();
        if lower.ends_with(".json") {
            let json: Value =
                serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
            let sub = path.parent().unwrap_or(dir).to_path_buf();
            // An external tileset's root is placed by the referring tile's transform.
            let mut wrapped = json;
            let t = mat_mul(world, &tile_transform(&wrapped["root"]));
            wrapped["root"]["transform"] = serde_json::json!(t);
            return self.tileset(&wrapped, &sub, external + 1);
        }
        // glTF content is Y up in 3D Tiles (1.0 and 1.1): turned Z up before the tile transform.
        let to_model = |rtc: [f64; 3]| {
            let mut m = mat_mul(&self.to_local, world);
            m = mat_mul(&m, &translation(rtc));
            mat_mul(&m, &Y_UP_TO_Z_UP)
        };
        if bytes.starts_with(b"b3dm") {
            let (glb, rtc) = b3dm(&bytes)?;
            let m = to_model(rtc);
            return self.content(&label, glb, path.parent(), &m, &file);
        }
        if bytes.starts_with(b"i3dm") || bytes.starts_with(b"pnts") || bytes.starts_with(b"cmpt") {
            return Err(
                "i3dm, pnts and cmpt content is not read (only glTF, GLB and b3dm)".to_owned(),
            );
        }
        let m = to_model([0.0; 3]);
        self.content(&label, &bytes, path.parent(), &m, &file)
    }

    /// One glTF (GLB or JSON) whose scene goes through `to_model` into the model frame.
    fn content(
        &mut self,
        label: &str,
        bytes: &[u8],
        base: Option<&Path>,
        to_model: &[f64; 16],
        source: &str,
    ) -> Result<(), String> {
        let (json, bin) = parse(bytes)?;
        for ext in json["extensionsRequired"].as_array().into_iter().flatten() {
            let ext = ext.as_str().unwrap_or("?");
            if !SUPPORTED_REQUIRED.contains(&ext) {
                return Err(format!(
                    "requires the extension {ext}, which renewtwin does not decode"
                ));
            }
        }
        if !json["asset"]["version"]
            .as_str()
            .is_some_and(|v| v.starts_with('2'))
        {
            return Err("asset.version is not 2.x (glTF 2.0)".to_owned());
        }
        let buffers = self.buffers(&json, bin, base)?;
        let doc = Doc {
            json: &json,
            buffers,
        };
        let features = doc.features();
        let nodes = json["nodes"].as_array().map_or(0, Vec::len);
        let roots: Vec<usize> = {
            let scene = json["scene"].as_u64().unwrap_or(0) as usize;
            match json["scenes"][scene]["nodes"].as_array() {
                Some(list) => list
                    .iter()
                    .filter_map(|n| n.as_u64().map(|n| n as usize))
                    .collect(),
                None => {
                    let mut child = vec![false; nodes];
                    for n in json["nodes"].as_array().into_iter().flatten() {
                        for c in n["children"].as_array().into_iter().flatten() {
                            if let Some(c) = c.as_u64().and_then(|c| child.get_mut(c as usize)) {
                                *c = true;
                            }
                        }
                    }
                    (0..nodes).filter(|&n| !child[n]).collect()
                }
            }
        };
        // (mesh, primitive) → the mesh made of it and its feature id, or None when it was skipped.
        let mut meshes: HashMap<(usize, usize), Option<FeatureMesh>> = HashMap::new();
        let mut seen = vec![false; nodes];
        let mut stack: Vec<(usize, [f64; 16])> =
            roots.into_iter().rev().map(|n| (n, *to_model)).collect();
        while let Some((n, parent)) = stack.pop() {
            let Some(node) = json["nodes"].get(n) else {
                return Err(format!("node {n} does not exist"));
            };
            if std::mem::replace(&mut seen[n], true) {
                self.diagnostic(
                    Severity::Warning,
                    DiagnosticKind::MalformedRecord,
                    format!(
                        "{label}: node {n} is reached twice (a cycle or a shared node); skipped"
                    ),
                );
                continue;
            }
            let world = mat_mul(&parent, &node_matrix(node)?);
            if let Some(mesh) = node["mesh"].as_u64().map(|m| m as usize) {
                let primitives = json["meshes"][mesh]["primitives"]
                    .as_array()
                    .ok_or_else(|| format!("node {n}: mesh {mesh} has no primitives"))?;
                let instances = doc.instances(node)?;
                for (p, primitive) in primitives.iter().enumerate() {
                    let made = match meshes.get(&(mesh, p)) {
                        Some(m) => *m,
                        None => {
                            let made = match doc.primitive(primitive)? {
                                Some((m, feature)) => {
                                    let id = MeshId(self.meshes.len() as u32);
                                    self.meshes.push(m);
                                    Some((id, feature))
                                }
                                None => {
                                    self.skipped_primitives += 1;
                                    None
                                }
                            };
                            meshes.insert((mesh, p), made);
                            made
                        }
                    };
                    let Some((id, feature)) = made else { continue };
                    match &instances {
                        None => {
                            let e = self.element_for(label, n, node, feature, &features, source);
                            self.elements[e].placements.push(Placement {
                                mesh: id,
                                transform: world,
                            });
                        }
                        Some(list) => {
                            for (matrix, feature) in list {
                                let e =
                                    self.element_for(label, n, node, *feature, &features, source);
                                self.elements[e].placements.push(Placement {
                                    mesh: id,
                                    transform: mat_mul(&world, matrix),
                                });
                            }
                        }
                    }
                }
            }
            for c in node["children"].as_array().into_iter().flatten().rev() {
                if let Some(c) = c.as_u64() {
                    stack.push((c as usize, world));
                }
            }
        }
        Ok(())
    }

    /// The element of node `n` (or of its feature), created on first use.
    fn element_for(
        &mut self,
        label: &str,
        n: usize,
        node: &Value,
        feature: Option<u32>,
        features: &[Feature],
        source: &str,
    ) -> usize {
        let described = feature.and_then(|f| features.get(f as usize));
        let id = match (described.and_then(|f| f.global_id.clone()), feature) {
            (Some(id), _) if !id.is_empty() => id,
            (_, Some(f)) => format!("{label}#feature{f}"),
            (_, None) => format!("{label}#node{n}"),
        };
        if let Some(&e) = self.by_id.get(&id) {
            return e;
        }
        let name = described
            .and_then(|f| f.name.clone())
            .filter(|s| !s.is_empty())
            .or_else(|| node["name"].as_str().map(str::to_owned));
        let class = described
            .and_then(|f| f.class.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "IfcGeographicElement".to_owned());
        let text = |s: &str| PropertyValue::Text(s.to_owned());
        self.elements.push(Element {
            step_id: 0,
            global_id: id.clone(),
            class,
            name,
            container: Some(1),
            type_name: None,
            property_sets: vec![std::sync::Arc::new(PropertySet {
                name: "RenewTwin_Context".to_owned(),
                properties: vec![
                    Property {
                        name: "Source".to_owned(),
                        value: text(source),
                    },
                    Property {
                        name: "Format".to_owned(),
                        value: text(self.format),
                    },
                    Property {
                        name: "Node".to_owned(),
                        value: PropertyValue::Integer(n as i64),
                    },
                ],
            })],
            placements: Vec::new(),
            materials: Vec::new(),
        });
        let e = self.elements.len() - 1;
        self.by_id.insert(id, e);
        e
    }

    /// The document's buffers: the GLB's binary chunk, `data:` URIs, or files beside it.
    fn buffers<'b>(
        &mut self,
        json: &Value,
        bin: Option<&'b [u8]>,
        base: Option<&Path>,
    ) -> Result<Vec<std::borrow::Cow<'b, [u8]>>, String> {
        let mut out = Vec::new();
        for (i, b) in json["buffers"].as_array().into_iter().flatten().enumerate() {
            let data: std::borrow::Cow<'b, [u8]> = match b["uri"].as_str() {
                None if i == 0 => std::borrow::Cow::Borrowed(
                    bin.ok_or("buffer 0 has no uri and there is no binary chunk")?,
                ),
                None => return Err(format!("buffer {i} has no uri")),
                Some(uri) if uri.starts_with("data:") => {
                    let comma = uri
                        .find(',')
                        .ok_or(format!("buffer {i}: a data URI without a comma"))?;
                    if !uri[..comma].ends_with(";base64") {
                        return Err(format!("buffer {i}: a data URI that is not base64"));
                    }
                    std::borrow::Cow::Owned(
                        base64(&uri[comma + 1..]).ok_or(format!("buffer {i}: bad base64"))?,
                    )
                }
                Some(uri) if uri.contains("://") => {
                    return Err(format!("buffer {i} is remote ({uri}); not fetched"));
                }
                Some(uri) => {
                    let dir = base.ok_or(format!(
                        "buffer {i} is the file {uri}: import the glTF from its file so it can be found"
                    ))?;
                    std::borrow::Cow::Owned(self.read_inside(&dir.join(percent_decode(uri)))?)
                }
            };
            let len = b["byteLength"].as_u64().unwrap_or(0) as usize;
            if data.len() < len {
                return Err(format!(
                    "buffer {i} holds {} bytes, fewer than its byteLength {len}",
                    data.len()
                ));
            }
            out.push(data);
        }
        Ok(out)
    }
}

fn translation(t: [f64; 3]) -> [f64; 16] {
    let mut m = IDENTITY;
    m[12] = t[0];
    m[13] = t[1];
    m[14] = t[2];
    m
}

/// A node's local matrix: `matrix`, else translation · rotation · scale.
fn node_matrix(node: &Value) -> Result<[f64; 16], String> {
    if !node["matrix"].is_null() {
        return matrix_of(&node["matrix"])
            .ok_or_else(|| "a node matrix is not 16 numbers".to_owned());
    }
    let nums = |k: &str, n: usize, default: &[f64]| -> Result<Vec<f64>, String> {
        match node[k].as_array() {
            None => Ok(default.to_vec()),
            Some(a) if a.len() == n => a
                .iter()
                .map(|x| {
                    x.as_f64()
                        .filter(|f| f.is_finite())
                        .ok_or(format!("node {k} is not numbers"))
                })
                .collect(),
            Some(_) => Err(format!("node {k} has the wrong length")),
        }
    };
    let t = nums("translation", 3, &[0.0; 3])?;
    let r = nums("rotation", 4, &[0.0, 0.0, 0.0, 1.0])?;
    let s = nums("scale", 3, &[1.0; 3])?;
    Ok(trs(
        [t[0], t[1], t[2]],
        [r[0], r[1], r[2], r[3]],
        [s[0], s[1], s[2]],
    ))
}

/// Translation · rotation (unit quaternion `x, y, z, w`) · scale, column-major.
fn trs(t: [f64; 3], q: [f64; 4], s: [f64; 3]) -> [f64; 16] {
    let n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).sqrt();
    let [x, y, z, w] = if n > 1e-12 {
        q.map(|v| v / n)
    } else {
        [0.0, 0.0, 0.0, 1.0]
    };
    let r = [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y + z * w),
            2.0 * (x * z - y * w),
        ],
        [
            2.0 * (x * y - z * w),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z + x * w),
        ],
        [
            2.0 * (x * z + y * w),
            2.0 * (y * z - x * w),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ];
    let mut m = IDENTITY;
    for col in 0..3 {
        for row in 0..3 {
            m[4 * col + row] = r[col][row] * s[col];
        }
    }
    m[12] = t[0];
    m[13] = t[1];
    m[14] = t[2];
    m
}

/// The JSON and binary chunk of a GLB, or the JSON of a `.gltf`.
fn parse(bytes: &[u8]) -> Result<(Value, Option<&[u8]>), String> {
    if !bytes.starts_with(b"glTF") {
        let json = serde_json::from_slice(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
            .map_err(|e| {
                format!(
                    "neither a GLB nor glTF JSON (line {}, column {}: {e})",
                    e.line(),
                    e.column()
                )
            })?;
        return Ok((json, None));
    }
    let u32_at = |at: usize| -> Result<usize, String> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| format!("the GLB ends at byte {} inside its header", bytes.len()))
    };
    if u32_at(4)? != 2 {
        return Err(format!("GLB version {} (only 2 is read)", u32_at(4)?));
    }
    let total = u32_at(8)?.min(bytes.len());
    let json_len = u32_at(12)?;
    if bytes.get(16..20) != Some(b"JSON") || 20 + json_len > total {
        return Err("the GLB's first chunk is not a JSON chunk within the file".to_owned());
    }
    let json = serde_json::from_slice(&bytes[20..20 + json_len])
        .map_err(|e| format!("the GLB's JSON chunk does not parse: {e}"))?;
    let at = (20 + json_len).div_ceil(4) * 4;
    let bin = if at + 8 <= total && bytes.get(at + 4..at + 8) == Some(b"BIN\0") {
        let len = u32_at(at)?;
        bytes.get(at + 8..at + 8 + len)
    } else {
        None
    };
    Ok((json, bin))
}

/// The GLB inside a `b3dm` (3D Tiles 1.0 batched model) and its `RTC_CENTER`.
fn b3dm(bytes: &[u8]) -> Result<(&[u8], [f64; 3]), String> {
    let u32_at = |at: usize| -> Result<usize, String> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| "the b3dm header is cut short".to_owned())
    };
    // magic, version, byteLength, featureTable JSON/binary, batchTable JSON/binary lengths.
    let ft_json = u32_at(12)?;
    let lengths = [ft_json, u32_at(16)?, u32_at(20)?, u32_at(24)?];
    let start = 28usize
        .checked_add(lengths.iter().sum::<usize>())
        .filter(|s| *s <= bytes.len())
        .ok_or("the b3dm tables run past its end")?;
    let mut rtc = [0.0; 3];
    if ft_json > 0
        && let Ok(table) = serde_json::from_slice::<Value>(&bytes[28..28 + ft_json])
        && let Some(c) = table["RTC_CENTER"].as_array()
        && c.len() == 3
    {
        for k in 0..3 {
            rtc[k] = c[k].as_f64().unwrap_or(0.0);
        }
    }
    let end = u32_at(8)?.min(bytes.len());
    Ok((bytes.get(start..end.max(start)).unwrap_or(&[]), rtc))
}

/// Standard base64 (RFC 4648, padding optional), `None` on a bad character.
fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A parsed glTF and its buffers.
struct Doc<'j, 'b> {
    json: &'j Value,
    buffers: Vec<std::borrow::Cow<'b, [u8]>>,
}

impl Doc<'_, '_> {
    /// The values of accessor `index` as f32, with its number of components per element.
    fn floats(&self, index: &Value) -> Result<(Vec<f32>, usize), String> {
        let i = index.as_u64().ok_or("an accessor index is not a number")? as usize;
        let a = self.json["accessors"]
            .get(i)
            .ok_or(format!("accessor {i} does not exist"))?;
        let n = match a["type"].as_str() {
            Some("SCALAR") => 1,
            Some("VEC2") => 2,
            Some("VEC3") => 3,
            Some("VEC4") => 4,
            Some("MAT4") => 16,
            other => return Err(format!("accessor {i} has type {other:?}")),
        };
        let component = a["componentType"].as_u64().unwrap_or(0);
        let size = match component {
            5120 | 5121 => 1,
            5122 | 5123 => 2,
            5125 | 5126 => 4,
            other => return Err(format!("accessor {i} has componentType {other}")),
        };
        let count = a["count"]
            .as_u64()
            .ok_or(format!("accessor {i} has no count"))? as usize;
        if !a["sparse"].is_null() {
            return Err(format!("accessor {i} is sparse (not read)"));
        }
        let normalized = a["normalized"].as_bool().unwrap_or(false);
        let Some(view_index) = a["bufferView"].as_u64() else {
            // No buffer view: all zeros (glTF 2.0, 3.6.2.4); bounded like any other.
            if count > 50_000_000 {
                return Err(format!("accessor {i} of {count} zeros"));
            }
            return Ok((vec![0.0; count * n], n));
        };
        let v = self.json["bufferViews"]
            .get(view_index as usize)
            .ok_or(format!(
                "accessor {i}: buffer view {view_index} does not exist"
            ))?;
        let buffer = self
            .buffers
            .get(v["buffer"].as_u64().unwrap_or(u64::MAX) as usize)
            .ok_or(format!("buffer view {view_index}: no such buffer"))?;
        let view_at = v["byteOffset"].as_u64().unwrap_or(0) as usize;
        let view_len = v["byteLength"].as_u64().unwrap_or(0) as usize;
        let view = view_at
            .checked_add(view_len)
            .and_then(|end| buffer.get(view_at..end))
            .ok_or(format!("buffer view {view_index} runs past its buffer"))?;
        let elem = n * size;
        let stride = v["byteStride"]
            .as_u64()
            .map_or(elem, |s| s as usize)
            .max(elem);
        let at = a["byteOffset"].as_u64().unwrap_or(0) as usize;
        if count > 0 {
            let last = (count - 1)
                .checked_mul(stride)
                .and_then(|x| x.checked_add(at + elem))
                .ok_or(format!("accessor {i} overflows"))?;
            if last > view.len() {
                return Err(format!(
                    "accessor {i} ({count} × {elem} bytes) runs past buffer view {view_index}"
                ));
            }
        }
        let mut out = Vec::with_capacity(count * n);
        for e in 0..count {
            let base = at + e * stride;
            for k in 0..n {
                let p = base + k * size;
                let b = &view[p..p + size];
                let x = match component {
                    5126 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                    5125 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
                    5123 => {
                        let u = u16::from_le_bytes([b[0], b[1]]);
                        if normalized {
                            f32::from(u) / 65535.0
                        } else {
                            f32::from(u)
                        }
                    }
                    5122 => {
                        let s = i16::from_le_bytes([b[0], b[1]]);
                        if normalized {
                            (f32::from(s) / 32767.0).max(-1.0)
                        } else {
                            f32::from(s)
                        }
                    }
                    5121 => {
                        if normalized {
                            f32::from(b[0]) / 255.0
                        } else {
                            f32::from(b[0])
                        }
                    }
                    _ => {
                        let s = b[0] as i8;
                        if normalized {
                            (f32::from(s) / 127.0).max(-1.0)
                        } else {
                            f32::from(s)
                        }
                    }
                };
                out.push(x);
            }
        }
        Ok((out, n))
    }

    /// The indices of accessor `index` (integers, exact).
    fn indices(&self, index: &Value) -> Result<Vec<u32>, String> {
        let i = index.as_u64().unwrap_or(u64::MAX) as usize;
        let a = self.json["accessors"]
            .get(i)
            .ok_or(format!("accessor {i} does not exist"))?;
        if a["componentType"].as_u64() == Some(5125) {
            // u32 indices can exceed f32's exact integers: read them as bytes.
            let (raw, _) = self.floats_raw_u32(a, i)?;
            return Ok(raw);
        }
        let (values, n) = self.floats(index)?;
        if n != 1 {
            return Err(format!("index accessor {i} is not SCALAR"));
        }
        Ok(values.into_iter().map(|v| v as u32).collect())
    }

    fn floats_raw_u32(&self, a: &Value, i: usize) -> Result<(Vec<u32>, usize), String> {
        let count = a["count"]
            .as_u64()
            .ok_or(format!("accessor {i} has no count"))? as usize;
        let view_index = a["bufferView"]
            .as_u64()
            .ok_or(format!("index accessor {i} has no buffer view"))?;
        let v = self.json["bufferViews"]
            .get(view_index as usize)
            .ok_or(format!("buffer view {view_index} does not exist"))?;
        let buffer = self
            .buffers
            .get(v["buffer"].as_u64().unwrap_or(u64::MAX) as usize)
            .ok_or(format!("buffer view {view_index}: no such buffer"))?;
        let view_at = v["byteOffset"].as_u64().unwrap_or(0) as usize;
        let view_len = v["byteLength"].as_u64().unwrap_or(0) as usize;
        let view = view_at
            .checked_add(view_len)
            .and_then(|end| buffer.get(view_at..end))
            .ok_or(format!("buffer view {view_index} runs past its buffer"))?;
        let at = a["byteOffset"].as_u64().unwrap_or(0) as usize;
        let bytes = count
            .checked_mul(4)
            .and_then(|l| view.get(at..at.checked_add(l)?))
            .ok_or(format!("index accessor {i} runs past its buffer view"))?;
        Ok((
            bytes
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            1,
        ))
    }

    /// A triangle primitive as a mesh, with its feature id when constant over it; `None` for
    /// other modes.
    fn primitive(&self, p: &Value) -> Result<Option<(Mesh, Option<u32>)>, String> {
        if p["mode"].as_u64().is_some_and(|m| m != 4) {
            return Ok(None);
        }
        let attributes = &p["attributes"];
        let (positions, n) = self.floats(&attributes["POSITION"])?;
        if n != 3 {
            return Err("POSITION is not VEC3".to_owned());
        }
        let vertices = positions.len() / 3;
        let indices = if p["indices"].is_null() {
            (0..vertices as u32 - (vertices as u32 % 3)).collect()
        } else {
            self.indices(&p["indices"])?
        };
        if let Some(bad) = indices.iter().find(|&&i| i as usize >= vertices) {
            return Err(format!("index {bad} over {vertices} vertices"));
        }
        let mut indices = indices;
        indices.truncate(indices.len() / 3 * 3);
        let normals = match attributes["NORMAL"].as_u64() {
            Some(_) => {
                let (normals, m) = self.floats(&attributes["NORMAL"])?;
                if m != 3 || normals.len() != positions.len() {
                    return Err("NORMAL does not match POSITION".to_owned());
                }
                normals
            }
            None => computed_normals(&positions, &indices),
        };
        let feature = p["extensions"]["EXT_mesh_features"]["featureIds"][0]
            .as_object()
            .and_then(|f| {
                let attribute = f.get("attribute")?.as_u64()?;
                let (ids, _) = self
                    .floats(&attributes[format!("_FEATURE_ID_{attribute}")])
                    .ok()?;
                let first = *ids.first()?;
                ids.iter().all(|&v| v == first).then_some(first as u32)
            });
        Ok(Some((
            Mesh {
                positions,
                normals,
                indices,
            },
            feature,
        )))
    }

    /// The instances of a node with `EXT_mesh_gpu_instancing`: each one's matrix and feature.
    fn instances(&self, node: &Value) -> Result<Option<Vec<Instance>>, String> {
        let ext = &node["extensions"]["EXT_mesh_gpu_instancing"]["attributes"];
        if !ext.is_object() {
            return Ok(None);
        }
        let read = |k: &str, want: usize| -> Result<Option<Vec<f32>>, String> {
            if ext[k].is_null() {
                return Ok(None);
            }
            let (v, n) = self.floats(&ext[k])?;
            if n != want {
                return Err(format!("instance {k} has {n} components, not {want}"));
            }
            Ok(Some(v))
        };
        let t = read("TRANSLATION", 3)?;
        let r = read("ROTATION", 4)?;
        let s = read("SCALE", 3)?;
        let f = read("_FEATURE_ID_0", 1)?;
        let count = [
            t.as_ref().map(|v| v.len() / 3),
            r.as_ref().map(|v| v.len() / 4),
            s.as_ref().map(|v| v.len() / 3),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
        let with_features = node["extensions"]["EXT_instance_features"].is_object();
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let get = |v: &Option<Vec<f32>>, n: usize, d: &[f64]| -> Vec<f64> {
                v.as_ref()
                    .and_then(|v| v.get(i * n..i * n + n))
                    .map_or_else(|| d.to_vec(), |s| s.iter().map(|&x| f64::from(x)).collect())
            };
            let tt = get(&t, 3, &[0.0; 3]);
            let rr = get(&r, 4, &[0.0, 0.0, 0.0, 1.0]);
            let ss = get(&s, 3, &[1.0; 3]);
            let feature = if with_features {
                f.as_ref().and_then(|f| f.get(i)).map(|&x| x as u32)
            } else {
                None
            };
            out.push((
                trs(
                    [tt[0], tt[1], tt[2]],
                    [rr[0], rr[1], rr[2], rr[3]],
                    [ss[0], ss[1], ss[2]],
                ),
                feature,
            ));
        }
        Ok(Some(out))
    }

    /// Feature descriptions from the first property table's `global_id`, `ifc_class` and
    /// `name` string columns, where present.
    fn features(&self) -> Vec<Feature> {
        let table = &self.json["extensions"]["EXT_structural_metadata"]["propertyTables"][0];
        let count = table["count"].as_u64().unwrap_or(0) as usize;
        if count == 0 {
            return Vec::new();
        }
        let column = |name: &str| -> Option<Vec<String>> {
            let p = &table["properties"][name];
            let bytes = |k: &str| -> Option<&[u8]> {
                let v = &self.json["bufferViews"][p[k].as_u64()? as usize];
                let buffer = self.buffers.get(v["buffer"].as_u64()? as usize)?;
                let at = v["byteOffset"].as_u64().unwrap_or(0) as usize;
                buffer.get(at..at.checked_add(v["byteLength"].as_u64()? as usize)?)
            };
            let (values, offsets) = (bytes("values")?, bytes("stringOffsets")?);
            let wide = p["stringOffsetType"].as_str().unwrap_or("UINT32");
            let offsets: Vec<usize> = match wide {
                "UINT32" => offsets
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                    .collect(),
                "UINT16" => offsets
                    .chunks_exact(2)
                    .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
                "UINT8" => offsets.iter().map(|&b| usize::from(b)).collect(),
                _ => return None,
            };
            if offsets.len() < count + 1 {
                return None;
            }
            Some(
                offsets
                    .windows(2)
                    .take(count)
                    .map(|w| {
                        values
                            .get(w[0]..w[1])
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .unwrap_or_default()
                    })
                    .collect(),
            )
        };
        let (ids, classes, names) = (column("global_id"), column("ifc_class"), column("name"));
        (0..count)
            .map(|i| Feature {
                global_id: ids.as_ref().and_then(|c| c.get(i).cloned()),
                class: classes.as_ref().and_then(|c| c.get(i).cloned()),
                name: names.as_ref().and_then(|c| c.get(i).cloned()),
            })
            .collect()
    }
}

/// Area-weighted vertex normals of a triangle list (unit; +Z where a vertex has none).
fn computed_normals(positions: &[f32], indices: &[u32]) -> Vec<f32> {
    let mut n = vec![0.0f32; positions.len()];
    let p = |i: u32| {
        let i = i as usize * 3;
        [positions[i], positions[i + 1], positions[i + 2]]
    };
    for t in indices.chunks_exact(3) {
        let (a, b, c) = (p(t[0]), p(t[1]), p(t[2]));
        let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
        let f = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ];
        for &i in t {
            for k in 0..3 {
                n[i as usize * 3 + k] += f[k];
            }
        }
    }
    for v in n.chunks_exact_mut(3) {
        let len = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if len > 1e-12 {
            v.iter_mut().for_each(|x| *x /= len);
        } else {
            v.copy_from_slice(&[0.0, 0.0, 1.0]);
        }
    }
    n
}
