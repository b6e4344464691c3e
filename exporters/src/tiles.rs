//! The scene as it stands on a day as an OGC 3D Tiles 1.1 tileset: a `tileset.json` and one
//! GLB per tile (`tiles/N.glb`), placed on the globe, for Cesium and the CIM platforms built on it.
//!
//! - **Placement.** The root tile's `transform` takes the scene's frame (metres, x east, y north,
//!   z up) to Earth-centred Earth-fixed coordinates: the east-north-up frame at the scene's
//!   origin on the WGS84 ellipsoid ([`enu_to_ecef`]). The origin comes from the model's
//!   georeference ([`georeference`]): the IfcSite location (`RefLatitude`/`RefLongitude`/
//!   `RefElevation`; model coordinates are east/north/up metres around it), else an
//!   IfcMapConversion to a projected CRS `renewtwin_importers` converts (RD New, UTM), with
//!   its rotation and scale (the grid is taken as east/north: grid convergence is ignored, under
//!   a degree inside a UTM zone's central band). A caller may give the origin instead
//!   ([`TilesOptions::origin`]); without either the export stops with
//!   [`TilesError::NoGeoreference`].
//! - **Tiles.** Elements are grouped by building (elements in no building form one more
//!   group); a group whose GLB would exceed [`TilesOptions::max_tile_bytes`] is halved along the
//!   longest side of its box (by element centres) until every tile fits. An element that alone
//!   exceeds the bound stops the export ([`TilesError::ElementTooLarge`]). With more than
//!   [`FANOUT`] groups, groups are gathered into a binary spatial hierarchy. Every tile's GLB is
//!   laid out before it is written, so its size is known exactly, not estimated.
//! - **Content.** Each tile is a GLB written by [`crate::gltf`]: lifecycle materials, instancing
//!   kept within the tile, and the same per-element metadata (`EXT_structural_metadata`, one
//!   row per element of the tile). glTF is Y up; 3D Tiles turns glTF content Z up (3D Tiles 1.1,
//!   "glTF transforms"), which undoes the GLB's root rotation, so tile content and bounding
//!   boxes are both in the scene's frame.
//! - **Bounding volumes.** Oriented boxes (`box`) in the root's frame: each tile's box holds
//!   the eight transformed corners of the bounds of every mesh placement it draws (a box that
//!   contains its geometry, possibly loosely for rotated placements); an inner tile's box holds
//!   its children's. Geometric error: 0 for tiles with content (they are the full detail);
//!   for tiles without content, the diagonal of their box (drawing nothing in their place
//!   misses everything they hold).
//!
//! **Streaming.** Tiles are written as they are laid out, one at a time; what is held beside
//! the scene is each drawn element's box and one tile's JSON and metadata.
//!
//! Specifications: 3D Tiles 1.1 (OGC 22-025r4, <https://docs.ogc.org/cs/22-025r4/22-025r4.html>),
//! WGS84 ellipsoid (NIMA TR8350.2: a = 6 378 137 m, 1/f = 298.257 223 563).

use std::io::Write;

use renewtwin_importers::{Model, SpatialKind};
use serde_json::{Value, json};

use crate::gltf::{self, Geometry, GltfError, Scene};

/// WGS84 semi-major axis in metres (NIMA TR8350.2).
#[cfg(test)]
const A: f64 = 6_378_137.0;

/// Groups gathered under one tile before the hierarchy is split further.
pub const FANOUT: usize = 8;

/// The default bound on a tile's GLB, in bytes.
pub const DEFAULT_MAX_TILE_BYTES: u64 = 4 << 20;

/// The smallest bound accepted: a GLB's header and metadata schema alone take about 3 KB.
pub const MIN_MAX_TILE_BYTES: u64 = 16 << 10;

/// A WGS84 position: longitude and latitude in degrees, ellipsoidal height in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Origin {
    /// Longitude, degrees east, −180..180.
    pub lon: f64,
    /// Latitude, degrees north, −90..90.
    pub lat: f64,
    /// Height above the ellipsoid, metres.
    pub height: f64,
}

impl Origin {
    /// Parses `lon,lat` or `lon,lat,h` (degrees, metres), checking the ranges.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(format!(
                "{text:?} is not lon,lat[,height] (e.g. 116.397,39.909,44)"
            ));
        }
        let number = |s: &str, what: &str| -> Result<f64, String> {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("{what} {s:?} in {text:?} is not a number"))
        };
        let lon = number(parts[0], "longitude")?;
        let lat = number(parts[1], "latitude")?;
        let height = parts.get(2).map_or(Ok(0.0), |h| number(h, "height"))?;
        if !(-180.0..=180.0).contains(&lon) {
            return Err(format!("longitude {lon} is outside −180..180 degrees"));
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(format!("latitude {lat} is outside −90..90 degrees"));
        }
        if !(-12_000.0..=10_000.0).contains(&height) {
            return Err(format!("height {height} m is not near the Earth's surface"));
        }
        Ok(Self { lon, lat, height })
    }
}

/// Where the scene's frame sits on the globe: the origin of its east-north-up frame, and the
/// rotation (counter-clockwise from east, radians) and horizontal scale of the scene's x axis
/// in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Georeference {
    /// The scene frame's origin.
    pub origin: Origin,
    /// The scene's x axis, counter-clockwise from east, radians.
    pub rotation: f64,
    /// Map metres per scene metre, horizontally.
    pub scale: f64,
    /// Where it came from, for messages: `IfcSite`, `IfcMapConversion`, `--origin`.
    pub source: &'static str,
}

impl Georeference {
    /// The scene frame → ECEF, column-major 4×4: [`enu_to_ecef`] at the origin, after the
    /// rotation and scale.
    pub fn transform(&self) -> [f64; 16] {
        let enu = enu_to_ecef(self.origin);
        let (s, c) = self.rotation.sin_cos();
        let k = self.scale;
        // Columns of the scene's x, y, z in east-north-up.
        let local = [[k * c, k * s, 0.0], [-k * s, k * c, 0.0], [0.0, 0.0, 1.0]];
        let mut m = enu;
        for (col, v) in local.iter().enumerate() {
            for row in 0..3 {
                m[4 * col + row] = enu[row] * v[0] + enu[4 + row] * v[1] + enu[8 + row] * v[2];
            }
        }
        m
    }
}

/// Geodetic (degrees, metres above the ellipsoid) → Earth-centred Earth-fixed metres, on WGS84
/// (NIMA TR8350.2; the importers' one-map geodesy).
pub fn geodetic_to_ecef(o: Origin) -> [f64; 3] {
    renewtwin_importers::geodetic_to_ecef(o.lon, o.lat, o.height)
}

/// The east-north-up frame at `o` → ECEF, column-major 4×4 (east, north, up columns and the
/// origin's ECEF position).
pub fn enu_to_ecef(o: Origin) -> [f64; 16] {
    renewtwin_importers::enu_to_ecef(o.lon, o.lat, o.height)
}

/// The model's own georeference, if it has one this exporter can place: the IfcSite location
/// (with the model origin's offset from it), else a map conversion to a CRS
/// `renewtwin_importers` converts to WGS84.
pub fn georeference(model: &Model) -> Option<Georeference> {
    let georef = model.georef.as_ref()?;
    if let Some(site) = georef.site_location {
        // Model coordinates are east/north/up metres around the site, less `model.origin`.
        let at = Origin {
            lon: site.longitude,
            lat: site.latitude,
            height: site.elevation.unwrap_or(0.0),
        };
        let enu = enu_to_ecef(at);
        let o = model.origin;
        let p = [
            enu[12] + enu[0] * o[0] + enu[4] * o[1] + enu[8] * o[2],
            enu[13] + enu[1] * o[0] + enu[5] * o[1] + enu[9] * o[2],
            enu[14] + enu[2] * o[0] + enu[6] * o[1] + enu[10] * o[2],
        ];
        let origin = if o == [0.0; 3] {
            at
        } else {
            ecef_to_geodetic(p)
        };
        return Some(Georeference {
            origin,
            rotation: 0.0,
            scale: 1.0,
            source: "IfcSite",
        });
    }
    let mc = georef.map_conversion.as_ref()?;
    let frame = renewtwin_importers::ProjectFrame::of_model(model)?;
    let w = frame.wgs84?;
    let scale = if mc.scale.is_finite() && mc.scale > 0.0 {
        mc.scale
    } else {
        1.0
    };
    Some(Georeference {
        origin: Origin {
            lon: w.lon,
            lat: w.lat,
            height: w.height,
        },
        rotation: mc.rotation_degrees().to_radians(),
        scale,
        source: "IfcMapConversion",
    })
}

/// ECEF → geodetic (the importers' iteration on the latitude; well under a millimetre near
/// the surface).
pub fn ecef_to_geodetic(p: [f64; 3]) -> Origin {
    let (lon, lat, height) = renewtwin_importers::ecef_to_geodetic(p);
    Origin { lon, lat, height }
}

/// Why a tileset could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TilesError {
    /// Neither the scene nor the caller says where the scene is on the globe.
    #[error(
        "the scene has no georeference renewtwin can place (no IfcSite RefLatitude/RefLongitude, \
         no IfcMapConversion to RD New or a UTM zone); give the origin of its frame as \
         --origin lon,lat[,height]"
    )]
    NoGeoreference,
    /// One element's GLB alone is over the bound.
    #[error(
        "element {global_id} alone needs a {bytes}-byte tile, over the bound of {max} bytes; \
         raise --max-tile-bytes"
    )]
    ElementTooLarge {
        /// The element.
        global_id: String,
        /// Its tile's size.
        bytes: u64,
        /// The bound.
        max: u64,
    },
    /// The bound is too small for any tile.
    #[error("a tile bound of {0} bytes is too small; give at least {MIN_MAX_TILE_BYTES}")]
    BoundTooSmall(u64),
    /// A tile's GLB could not be laid out or written.
    #[error("tile {tile}")]
    Tile {
        /// The tile's number.
        tile: usize,
        /// Why.
        #[source]
        source: GltfError,
    },
    /// A tile's file could not be opened or closed.
    #[error("cannot write tile {tile}")]
    Open {
        /// The tile's number.
        tile: usize,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The meshes could not be read for the tiles' bounds.
    #[error("cannot read the scene's meshes")]
    Geometry(#[source] GltfError),
}

/// How to cut and place the tileset.
#[derive(Debug, Clone, PartialEq)]
pub struct TilesOptions {
    /// The scene frame's origin on the globe; the model's own georeference when `None`.
    pub origin: Option<Origin>,
    /// No tile's GLB is larger than this many bytes.
    pub max_tile_bytes: u64,
    /// Appended to every content URI (e.g. `?date=2026-10-01`), empty for files.
    pub uri_suffix: String,
}

impl Default for TilesOptions {
    fn default() -> Self {
        Self {
            origin: None,
            max_tile_bytes: DEFAULT_MAX_TILE_BYTES,
            uri_suffix: String::new(),
        }
    }
}

/// Where tiles go: a folder, a response, or nowhere (only the tileset is wanted).
pub trait TileSink {
    /// The writer of tile `index` (its content is `tiles/{index}.glb`), or `None` to lay the
    /// tile out without writing it.
    fn open(&mut self, index: usize) -> std::io::Result<Option<Box<dyn Write + '_>>>;
}

/// Writes no tile: for the tileset alone.
#[derive(Debug, Default)]
pub struct NoTiles;

impl TileSink for NoTiles {
    fn open(&mut self, _: usize) -> std::io::Result<Option<Box<dyn Write + '_>>> {
        Ok(None)
    }
}

/// Writes tile `N` to `DIR/tiles/N.glb`.
#[derive(Debug)]
pub struct FolderSink(pub std::path::PathBuf);

impl TileSink for FolderSink {
    fn open(&mut self, index: usize) -> std::io::Result<Option<Box<dyn Write + '_>>> {
        let dir = self.0.join("tiles");
        std::fs::create_dir_all(&dir)?;
        let file = std::fs::File::create(dir.join(format!("{index}.glb")))?;
        Ok(Some(Box::new(std::io::BufWriter::new(file))))
    }
}

/// How far the export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilesProgress {
    /// Drawn elements placed in a tile so far.
    pub elements: usize,
    /// Drawn elements in all.
    pub total: usize,
    /// Tiles laid out so far.
    pub tiles: usize,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TilesStats {
    /// Tiles with content.
    pub tiles: usize,
    /// Elements drawn (each in exactly one tile).
    pub elements: usize,
    /// Elements left out on the day (demolished or removed).
    pub left_out: usize,
    /// Bytes of all tiles together.
    pub bytes: u64,
    /// The largest tile's bytes.
    pub largest: u64,
    /// Where the tileset is placed.
    pub georeference: Georeference,
}

/// An axis-aligned box in the scene's frame.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bounds {
    min: [f64; 3],
    max: [f64; 3],
}

impl Bounds {
    const EMPTY: Bounds = Bounds {
        min: [f64::INFINITY; 3],
        max: [f64::NEG_INFINITY; 3],
    };

    fn include(&mut self, p: [f64; 3]) {
        for (k, v) in p.into_iter().enumerate() {
            self.min[k] = self.min[k].min(v);
            self.max[k] = self.max[k].max(v);
        }
    }

    fn union(mut self, o: &Bounds) -> Bounds {
        self.include(o.min);
        self.include(o.max);
        self
    }

    fn is_empty(&self) -> bool {
        self.min[0] > self.max[0]
    }

    fn centre(&self) -> [f64; 3] {
        [0, 1, 2].map(|k| (self.min[k] + self.max[k]) / 2.0)
    }

    fn longest_axis(&self) -> usize {
        let size = [0, 1, 2].map(|k| self.max[k] - self.min[k]);
        (0..3)
            .max_by(|&a, &b| size[a].total_cmp(&size[b]))
            .unwrap_or(0)
    }

    fn diagonal(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        let d = [0, 1, 2].map(|k| self.max[k] - self.min[k]);
        (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
    }

    /// The 3D Tiles `box`: centre, then the three half-axes (at least 1 cm, so none collapses).
    fn tiles_box(&self) -> Value {
        if self.is_empty() {
            return json!([
                0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.01
            ]);
        }
        let c = self.centre();
        let h = [0, 1, 2].map(|k| ((self.max[k] - self.min[k]) / 2.0).max(0.01));
        json!([
            c[0], c[1], c[2], h[0], 0.0, 0.0, 0.0, h[1], 0.0, 0.0, 0.0, h[2]
        ])
    }
}

/// A tile of the hierarchy being built.
#[derive(Debug)]
struct Node {
    bounds: Bounds,
    content: Option<usize>,
    children: Vec<Node>,
}

impl Node {
    fn to_json(&self, suffix: &str) -> Value {
        let mut t = json!({
            "boundingVolume": {"box": self.bounds.tiles_box()},
            "geometricError": if self.content.is_some() { 0.0 } else { self.bounds.diagonal() },
        });
        if let Some(n) = self.content {
            t["content"] = json!({"uri": format!("tiles/{n}.glb{suffix}")});
        }
        if !self.children.is_empty() {
            t["children"] = Value::Array(self.children.iter().map(|c| c.to_json(suffix)).collect());
        }
        t
    }
}

/// The building (spatial node of kind Building) element `container` is in, if any.
fn building_of(model: &Model, container: Option<usize>) -> Option<usize> {
    let mut at = container;
    let mut steps = 0;
    while let Some(i) = at {
        let node = model.spatial.get(i)?;
        if node.kind == SpatialKind::Building {
            return Some(i);
        }
        at = node.parent;
        steps += 1;
        if steps > model.spatial.len() {
            return None;
        }
    }
    None
}

/// Transforms point `p` by the column-major affine `t`.
fn apply(t: &[f64; 16], p: [f64; 3]) -> [f64; 3] {
    [
        t[0] * p[0] + t[4] * p[1] + t[8] * p[2] + t[12],
        t[1] * p[0] + t[5] * p[1] + t[9] * p[2] + t[13],
        t[2] * p[0] + t[6] * p[1] + t[10] * p[2] + t[14],
    ]
}

struct Writer<'a, 's> {
    scene: &'a Scene<'s>,
    geometry: &'a mut dyn Geometry,
    day: i32,
    max: u64,
    sink: &'a mut dyn TileSink,
    boxes: &'a [Bounds],
    progress: &'a mut dyn FnMut(TilesProgress),
    done: TilesProgress,
    bytes: u64,
    largest: u64,
}

impl Writer<'_, '_> {
    fn bounds_of(&self, elements: &[usize]) -> Bounds {
        elements
            .iter()
            .fold(Bounds::EMPTY, |b, &e| b.union(&self.boxes[e]))
    }

    /// Halves `elements` along the longest side of their box, by element centres.
    fn halve(&self, mut elements: Vec<usize>) -> (Vec<usize>, Vec<usize>) {
        let axis = self.bounds_of(&elements).longest_axis();
        elements.sort_by(|&a, &b| {
            self.boxes[a].centre()[axis]
                .total_cmp(&self.boxes[b].centre()[axis])
                .then(a.cmp(&b))
        });
        let back = elements.split_off(elements.len() / 2);
        (elements, back)
    }

    /// The tile (or tiles) of one group of elements, each within the bound.
    fn group(&mut self, elements: Vec<usize>) -> Result<Node, TilesError> {
        let tile = self.done.tiles;
        let prepared = gltf::prepare(self.scene, self.geometry, self.day, elements.clone())
            .map_err(|source| TilesError::Tile { tile, source })?;
        if prepared.bytes() > self.max {
            if elements.len() == 1 {
                return Err(TilesError::ElementTooLarge {
                    global_id: self.scene.model.elements.at(elements[0]).global_id.to_owned(),
                    bytes: prepared.bytes(),
                    max: self.max,
                });
            }
            drop(prepared);
            let (a, b) = self.halve(elements);
            let children = vec![self.group(a)?, self.group(b)?];
            let bounds = children[0].bounds.union(&children[1].bounds);
            return Ok(Node {
                bounds,
                content: None,
                children,
            });
        }
        let bytes = prepared.bytes();
        let bounds = self.bounds_of(&elements);
        {
            let out = self
                .sink
                .open(tile)
                .map_err(|source| TilesError::Open { tile, source })?;
            if let Some(out) = out {
                prepared
                    .write(self.geometry, out, |_| {})
                    .map_err(|source| TilesError::Tile { tile, source })?;
            }
        }
        self.bytes += bytes;
        self.largest = self.largest.max(bytes);
        self.done.tiles += 1;
        self.done.elements += elements.len();
        (self.progress)(self.done);
        Ok(Node {
            bounds,
            content: Some(tile),
            children: Vec::new(),
        })
    }

    /// A hierarchy over groups: up to [`FANOUT`] groups under one tile, else two halves by the
    /// groups' centres along the longest side.
    fn groups(&mut self, mut groups: Vec<Vec<usize>>) -> Result<Node, TilesError> {
        if groups.len() <= FANOUT {
            let mut children = Vec::with_capacity(groups.len());
            for g in groups {
                children.push(self.group(g)?);
            }
            let bounds = children
                .iter()
                .fold(Bounds::EMPTY, |b, c| b.union(&c.bounds));
            return Ok(Node {
                bounds,
                content: None,
                children,
            });
        }
        let all = groups
            .iter()
            .fold(Bounds::EMPTY, |b, g| b.union(&self.bounds_of(g)));
        let axis = all.longest_axis();
        let centre = |g: &Vec<usize>| self.bounds_of(g).centre()[axis];
        let mut keyed: Vec<(f64, Vec<usize>)> = groups.drain(..).map(|g| (centre(&g), g)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1[0].cmp(&b.1[0])));
        let back: Vec<Vec<usize>> = keyed
            .split_off(keyed.len() / 2)
            .into_iter()
            .map(|(_, g)| g)
            .collect();
        let front: Vec<Vec<usize>> = keyed.into_iter().map(|(_, g)| g).collect();
        let children = vec![self.groups(front)?, self.groups(back)?];
        let bounds = children[0].bounds.union(&children[1].bounds);
        Ok(Node {
            bounds,
            content: None,
            children,
        })
    }
}

/// Writes `scene` as it stands on simulated `day` as a 3D Tiles 1.1 tileset: each tile's GLB
/// into `sink` as it is laid out, and returns the `tileset.json` document (tiles are
/// `tiles/N.glb` beside it) with what was written. `progress` is called after each tile.
pub fn write_tiles(
    scene: &Scene<'_>,
    geometry: &mut dyn Geometry,
    day: i32,
    options: &TilesOptions,
    sink: &mut dyn TileSink,
    mut progress: impl FnMut(TilesProgress),
) -> Result<(Value, TilesStats), TilesError> {
    if options.max_tile_bytes < MIN_MAX_TILE_BYTES {
        return Err(TilesError::BoundTooSmall(options.max_tile_bytes));
    }
    let model = scene.model;
    let georeference = match options.origin {
        Some(origin) => Georeference {
            origin,
            rotation: 0.0,
            scale: 1.0,
            source: "--origin",
        },
        None => georeference(model).ok_or(TilesError::NoGeoreference)?,
    };

    // Each drawn element's box, from its meshes' bounds, meshes read in the source's order.
    let mut left_out = 0;
    let mut uses: Vec<(u32, usize)> = Vec::new();
    for (ei, e) in model.elements.iter().enumerate() {
        let state = scene
            .plan
            .schedules
            .get(ei)
            .map_or(renewtwin_protocol::LifecycleState::Existing, |s| {
                s.state_on(day)
            });
        if !gltf::drawn(state) {
            if !e.placements.is_empty() {
                left_out += 1;
            }
            continue;
        }
        uses.extend(e.placements.iter().map(|p| (p.mesh.0, ei)));
    }
    uses.sort_by_key(|&(m, ei)| (geometry.order(m), m, ei));
    let mut boxes = vec![Bounds::EMPTY; model.elements.len()];
    let mut last: Option<(u32, gltf::MeshInfo)> = None;
    for &(m, ei) in &uses {
        let info = match last {
            Some((l, info)) if l == m => info,
            _ => {
                let info = geometry.info(m).map_err(|why| {
                    TilesError::Geometry(GltfError::Mesh {
                        mesh: m,
                        global_id: model.elements.at(ei).global_id.to_owned(),
                        why,
                    })
                })?;
                last = Some((m, info));
                info
            }
        };
        if info.indices == 0 {
            continue;
        }
        for p in model.elements.at(ei)
            .placements
            .iter()
            .filter(|p| p.mesh.0 == m)
        {
            for corner in 0..8 {
                let pick = |k: usize| {
                    f64::from(if corner >> k & 1 == 0 {
                        info.min[k]
                    } else {
                        info.max[k]
                    })
                };
                boxes[ei].include(apply(&p.transform, [pick(0), pick(1), pick(2)]));
            }
        }
    }
    drop(uses);

    // Groups: by building, then the elements in none.
    let mut by_building: std::collections::BTreeMap<Option<usize>, Vec<usize>> =
        std::collections::BTreeMap::new();
    let mut total = 0;
    for (ei, e) in model.elements.iter().enumerate() {
        if boxes[ei].is_empty() {
            continue;
        }
        total += 1;
        by_building
            .entry(building_of(model, e.container))
            .or_default()
            .push(ei);
    }
    let groups: Vec<Vec<usize>> = by_building.into_values().collect();

    let mut writer = Writer {
        scene,
        geometry,
        day,
        max: options.max_tile_bytes,
        sink,
        boxes: &boxes,
        progress: &mut progress,
        done: TilesProgress {
            elements: 0,
            total,
            tiles: 0,
        },
        bytes: 0,
        largest: 0,
    };
    let root = writer.groups(groups)?;
    let stats = TilesStats {
        tiles: writer.done.tiles,
        elements: writer.done.elements,
        left_out,
        bytes: writer.bytes,
        largest: writer.largest,
        georeference,
    };
    let mut root_json = root.to_json(&options.uri_suffix);
    root_json["transform"] = json!(georeference.transform());
    root_json["refine"] = "ADD".into();
    let date = renewtwin_protocol::CivilDate::from_sim_day(
        scene.manifest.start,
        renewtwin_protocol::SimDay(day),
    );
    let o = georeference.origin;
    let tileset = json!({
        "asset": {
            "version": "1.1",
            "generator": concat!("renewtwin ", env!("CARGO_PKG_VERSION")),
            "tilesetVersion": format!("{date}{}", scene.plan.scenario.as_deref().map(|s| format!(" {s}")).unwrap_or_default()),
        },
        "geometricError": root.bounds.diagonal(),
        "extras": {
            "scene": scene.manifest.name,
            "day": day,
            "date": date.to_string(),
            "scenario": scene.plan.scenario,
            "origin": {"longitude": o.lon, "latitude": o.lat, "height": o.height, "from": georeference.source},
            "frame": "the scene's frame in metres, x east, y north, z up at the origin (the root transform takes it to ECEF)",
        },
        "root": root_json,
    });
    Ok((tileset, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecef_of_hand_computed_points() {
        // On the equator at the prime meridian: (a, 0, 0), east = +Y, north = +Z, up = +X.
        let m = enu_to_ecef(Origin {
            lon: 0.0,
            lat: 0.0,
            height: 0.0,
        });
        let want = [
            0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, A, 0.0, 0.0, 1.0,
        ];
        for (g, w) in m.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{m:?}");
        }
        // At the north pole the point is at the semi-minor axis b = a (1 − f) = 6 356 752.314 245 m.
        let p = geodetic_to_ecef(Origin {
            lon: 0.0,
            lat: 90.0,
            height: 0.0,
        });
        assert!(
            p[0].abs() < 1e-6 && (p[2] - 6_356_752.314_245).abs() < 1e-5,
            "{p:?}"
        );
        // lon 90°, lat 0°, 100 m up: (0, a + 100, 0).
        let p = geodetic_to_ecef(Origin {
            lon: 90.0,
            lat: 0.0,
            height: 100.0,
        });
        assert!(p[0].abs() < 1e-6 && (p[1] - (A + 100.0)).abs() < 1e-6 && p[2].abs() < 1e-6);
        // And back.
        let o = ecef_to_geodetic(geodetic_to_ecef(Origin {
            lon: 116.397,
            lat: 39.909,
            height: 44.0,
        }));
        assert!((o.lon - 116.397).abs() < 1e-9 && (o.lat - 39.909).abs() < 1e-9);
        assert!((o.height - 44.0).abs() < 1e-4, "{o:?}");
    }

    #[test]
    fn a_rotated_scaled_frame_turns_its_x_axis() {
        let g = Georeference {
            origin: Origin {
                lon: 0.0,
                lat: 0.0,
                height: 0.0,
            },
            rotation: std::f64::consts::FRAC_PI_2,
            scale: 2.0,
            source: "test",
        };
        let m = g.transform();
        // Scene x is map north (×2): at lon 0, lat 0 north is +Z in ECEF.
        assert!((m[0]).abs() < 1e-9 && m[1].abs() < 1e-9 && (m[2] - 2.0).abs() < 1e-9);
        // Scene y is map west (×2): −east = −Y.
        assert!((m[5] + 2.0).abs() < 1e-9);
    }

    #[test]
    fn origins_parse_and_out_of_range_ones_say_why() {
        assert_eq!(
            Origin::parse("116.397, 39.909, 44").expect("parses"),
            Origin {
                lon: 116.397,
                lat: 39.909,
                height: 44.0
            }
        );
        assert_eq!(Origin::parse("1,2").expect("parses").height, 0.0);
        assert!(Origin::parse("200,0").expect_err("refused").contains("longitude"));
        assert!(Origin::parse("0,91").expect_err("refused").contains("latitude"));
        assert!(Origin::parse("0").expect_err("refused").contains("lon,lat"));
        assert!(Origin::parse("a,1").expect_err("refused").contains("not a number"));
    }
}
