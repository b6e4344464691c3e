//! The neutral model every importer produces: spatial tree, elements with their semantics,
//! shared meshes with placements, and diagnostics. Units are metres, frame is Z up.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub(crate) mod elements;

use elements::Elements;

/// What was read, from where.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceInfo {
    /// File name or path as given.
    pub name: String,
    /// Schema identifier as declared, e.g. `IFC4`, `IFC2X3`, `IFC4X3_ADD2`.
    pub schema: String,
    /// Size of the input in bytes.
    pub bytes: u64,
    /// Number of entity instances (IFC) or objects (city formats) in the file.
    pub entities: u64,
    /// Factor that converted the file's length unit to metres (1.0 for metres, 0.001 for mm).
    pub length_unit_to_metres: f64,
    /// Wall-clock seconds spent reading the file into entities and semantics.
    pub parse_seconds: f64,
    /// Wall-clock seconds spent building meshes.
    pub geometry_seconds: f64,
}

/// Kind of a node in the spatial tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpatialKind {
    /// IfcProject.
    Project,
    /// IfcSite.
    Site,
    /// IfcBuilding.
    Building,
    /// IfcBuildingStorey.
    Storey,
    /// IfcSpace.
    Space,
    /// Any other spatial structure element (IfcFacility, IfcRoad, IfcBridge, IfcFacilityPart …).
    Other,
}

/// A node of the spatial tree (project → site → building → storey → space).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpatialNode {
    /// STEP instance id (`#id`) in the source file, 0 where the source has none.
    pub step_id: u32,
    /// GlobalId.
    pub global_id: String,
    /// IFC class, e.g. `IfcBuildingStorey`.
    pub class: String,
    /// Kind.
    pub kind: SpatialKind,
    /// Name, if any.
    pub name: Option<String>,
    /// Index of the parent node in [`Model::spatial`].
    pub parent: Option<usize>,
    /// Storey elevation in metres, for storeys that declare it.
    pub elevation: Option<f64>,
    /// Property and quantity sets of the spatial element (e.g. `Pset_BuildingCommon`), shared
    /// like an element's (see [`Element::property_sets`]).
    pub property_sets: Vec<Arc<PropertySet>>,
}

impl SpatialNode {
    /// The property `pset.name`, if present.
    pub fn property(&self, pset: &str, name: &str) -> Option<&PropertyValue> {
        self.property_sets.iter().find(|p| p.name == pset).and_then(|p| p.get(name))
    }
}

/// A typed property value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PropertyValue {
    /// Text, labels, identifiers, enumerations.
    Text(String),
    /// Real numbers (measures are converted to SI where the unit is a length).
    Real(f64),
    /// Integers and counts.
    Integer(i64),
    /// Booleans and known logicals.
    Bool(bool),
    /// A value the importer could not interpret; kept as its source text.
    Other(String),
}

/// One named property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Property {
    /// Name, e.g. `IsExternal`.
    pub name: String,
    /// Value.
    pub value: PropertyValue,
}

/// A property or quantity set attached to an element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertySet {
    /// Name, e.g. `Pset_WallCommon`.
    pub name: String,
    /// Its properties in file order.
    pub properties: Vec<Property>,
}

impl PropertySet {
    /// The value of the property named `name`, if present.
    pub fn get(&self, name: &str) -> Option<&PropertyValue> {
        self.properties.iter().find(|p| p.name == name).map(|p| &p.value)
    }
}

/// Index of a mesh in [`Model::meshes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[derive(bytemuck::AnyBitPattern)]
#[repr(transparent)]
pub struct MeshId(pub u32);

/// A triangle mesh in its own frame, metres. Shared by every placement that uses it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Mesh {
    /// `x, y, z` per vertex.
    pub positions: Vec<f32>,
    /// Unit normal per vertex, same length as `positions`.
    pub normals: Vec<f32>,
    /// Three indices per triangle.
    pub indices: Vec<u32>,
}

impl Mesh {
    /// Number of triangles.
    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }
}

/// One use of a mesh by an element.
///
/// Laid out as in C (`#[repr(C)]`: the mesh, four bytes of padding, the transform), so that
/// a cache entry's placements are read in place ([`crate::Elements`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[derive(bytemuck::AnyBitPattern)]
#[repr(C)]
pub struct Placement {
    /// The mesh.
    pub mesh: MeshId,
    /// Mesh frame → model frame, column-major 4×4, metres.
    pub transform: [f64; 16],
}

/// A physical element (wall, window, pipe segment …) with its semantics and geometry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Element {
    /// STEP instance id (`#id`) in the source file, 0 where the source has none.
    pub step_id: u32,
    /// GlobalId (IFC) or a stable id derived from the source.
    pub global_id: String,
    /// IFC class, e.g. `IfcWallStandardCase` (city objects map to the nearest IFC class).
    pub class: String,
    /// Name, if any.
    pub name: Option<String>,
    /// Index into [`Model::spatial`] of the container (usually a storey).
    pub container: Option<usize>,
    /// Name of its type object (IfcWallType …), if any.
    pub type_name: Option<String>,
    /// Property and quantity sets, including those inherited from its type. A set is shared
    /// (one allocation) by every element that uses the same set in the source: one
    /// `IfcPropertySet` related to many objects, or a type's sets inherited by its occurrences.
    /// An element that overrides part of an inherited set holds its own copy. Serialized as
    /// plain sets.
    pub property_sets: Vec<Arc<PropertySet>>,
    /// Geometry: zero or more mesh placements.
    pub placements: Vec<Placement>,
    /// Material names (IfcRelAssociatesMaterial: a material, the layers of a layer set, the
    /// profiles of a profile set, the constituents of a constituent set, or a material list),
    /// in file order without repeats; the type's materials when the occurrence has none.
    pub materials: Vec<String>,
}

impl Element {
    /// The property `pset.name`, if present.
    pub fn property(&self, pset: &str, name: &str) -> Option<&PropertyValue> {
        self.property_sets.iter().find(|p| p.name == pset).and_then(|p| p.get(name))
    }
}

/// Axis-aligned bounding box in metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Aabb {
    /// Minimum corner.
    pub min: [f64; 3],
    /// Maximum corner.
    pub max: [f64; 3],
}

impl Aabb {
    /// The empty box (grows from nothing).
    pub const EMPTY: Aabb = Aabb { min: [f64::INFINITY; 3], max: [f64::NEG_INFINITY; 3] };

    /// Whether nothing has been added.
    pub fn is_empty(&self) -> bool {
        self.min[0] > self.max[0]
    }

    /// Grows the box to include `p`.
    pub fn include(&mut self, p: [f64; 3]) {
        for (i, v) in p.into_iter().enumerate() {
            self.min[i] = self.min[i].min(v);
            self.max[i] = self.max[i].max(v);
        }
    }

    /// `[minx, miny, minz, maxx, maxy, maxz]`, all zero when empty.
    pub fn to_array(&self) -> [f64; 6] {
        if self.is_empty() {
            return [0.0; 6];
        }
        [self.min[0], self.min[1], self.min[2], self.max[0], self.max[1], self.max[2]]
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    /// Something was approximated or assumed.
    Info,
    /// Part of the input was skipped.
    Warning,
    /// Part of the input is broken.
    Error,
}

/// What kind of problem a diagnostic reports (stable keys, counted by `inspect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DiagnosticKind {
    /// A product with a body representation produced no mesh.
    GeometryMissing,
    /// A mesh was produced but some of it was dropped (NaN, degenerate triangles).
    GeometryRepaired,
    /// An opening could not be cut.
    OpeningNotCut,
    /// A record could not be parsed.
    MalformedRecord,
    /// A reference points to an instance that does not exist.
    DanglingReference,
    /// The unit could not be resolved; metres were assumed.
    UnitAssumed,
    /// An attribute has an unexpected type or value.
    BadAttribute,
    /// Anything else.
    Other,
}

impl DiagnosticKind {
    /// Stable lowercase key.
    pub fn key(self) -> &'static str {
        match self {
            Self::GeometryMissing => "geometry_missing",
            Self::GeometryRepaired => "geometry_repaired",
            Self::OpeningNotCut => "opening_not_cut",
            Self::MalformedRecord => "malformed_record",
            Self::DanglingReference => "dangling_reference",
            Self::UnitAssumed => "unit_assumed",
            Self::BadAttribute => "bad_attribute",
            Self::Other => "other",
        }
    }
}

/// A problem with part of the input; the rest was still imported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Diagnostic {
    /// How serious.
    pub severity: Severity,
    /// What kind.
    pub kind: DiagnosticKind,
    /// The STEP `#id` concerned, if any.
    pub step_id: Option<u32>,
    /// The IFC class concerned, if known.
    pub class: Option<String>,
    /// Human-readable explanation, lowercase, no trailing period.
    pub message: String,
}

/// The neutral model: what every importer produces and the engine consumes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Model {
    /// What was read.
    pub source: SourceInfo,
    /// The spatial tree, parents before children.
    pub spatial: Vec<SpatialNode>,
    /// Physical elements: a list while the model is built, columns read in place once it is
    /// loaded from the cache.
    pub elements: Elements,
    /// Meshes shared by placements.
    pub meshes: Vec<Mesh>,
    /// Problems met on the way.
    pub diagnostics: Vec<Diagnostic>,
    /// The model frame's origin in the source's own coordinates (metres). Geometry is stored
    /// relative to it so that georeferenced files with large coordinates keep f32 precision.
    pub origin: [f64; 3],
    /// Where the model sits on the earth, if the file says.
    pub georef: Option<GeoRef>,
    /// 4D construction schedules (IfcWorkSchedule with its tasks), if any.
    pub schedules: Vec<WorkSchedule>,
    /// The inputs of a model placed together from several files (`place`), in order; empty
    /// for a model read from one file.
    pub sources: Vec<PlacedSource>,
    /// Pairs of elements (indices into `elements`, lower first) connected through their ports
    /// (IFC `IfcRelConnectsPorts`); empty where the source says nothing of connections.
    pub connections: Vec<[u32; 2]>,
}

impl Model {
    /// Elements with at least one mesh placement.
    pub fn elements_with_geometry(&self) -> usize {
        self.elements.iter().filter(|e| !e.placements.is_empty()).count()
    }

    /// Triangles drawn by all placements together (instanced meshes count once per use).
    pub fn placed_triangles(&self) -> u64 {
        self.elements
            .iter()
            .flat_map(|e| e.placements)
            .map(|p| self.meshes.get(p.mesh.0 as usize).map_or(0, |m| m.triangle_count() as u64))
            .sum()
    }

    /// Bounding box of all placed geometry in metres.
    ///
    /// Each vertex `v` of a placement with transform `t` lands at `L v + t` (`L` the linear
    /// part), so its box is the box of `L v` over the mesh, moved by `t`. That box is worked
    /// out once for each mesh and linear part (a district's hundred thousand placements use a
    /// few hundred): the same numbers as transforming every vertex of every placement, since
    /// `L v` is computed the same way and rounding `a + t` keeps the order of the `a`s.
    pub fn bbox(&self) -> Aabb {
        type Linear = [u64; 9];
        let mut boxes: std::collections::HashMap<(u32, Linear), Aabb> = std::collections::HashMap::new();
        let mut bb = Aabb::EMPTY;
        for p in self.elements.iter().flat_map(|e| e.placements) {
            let Some(mesh) = self.meshes.get(p.mesh.0 as usize) else { continue };
            if mesh.positions.len() < 3 {
                continue;
            }
            let t = &p.transform;
            let linear = [0, 1, 2, 4, 5, 6, 8, 9, 10].map(|k| t[k].to_bits());
            let local = boxes.entry((p.mesh.0, linear)).or_insert_with(|| {
                let mut b = Aabb::EMPTY;
                for v in mesh.positions.chunks_exact(3) {
                    let (x, y, z) = (f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
                    b.include([
                        t[0] * x + t[4] * y + t[8] * z,
                        t[1] * x + t[5] * y + t[9] * z,
                        t[2] * x + t[6] * y + t[10] * z,
                    ]);
                }
                b
            });
            for k in 0..3 {
                bb.min[k] = bb.min[k].min(local.min[k] + t[12 + k]);
                bb.max[k] = bb.max[k].max(local.max[k] + t[12 + k]);
            }
        }
        bb
    }

    /// Number of storeys in the spatial tree.
    pub fn storey_count(&self) -> usize {
        self.spatial.iter().filter(|n| n.kind == SpatialKind::Storey).count()
    }

    /// Number of property/quantity sets over all elements (a set shared by several elements
    /// counts once for each).
    pub fn property_set_count(&self) -> usize {
        self.elements.iter().map(|e| e.property_sets.len()).sum()
    }
}

/// Georeference of a model: its map conversion and/or the site's geographic location.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GeoRef {
    /// IfcMapConversion (or IFC2X3 `ePSet_MapConversion`): model frame → projected map CRS.
    pub map_conversion: Option<MapConversion>,
    /// IfcSite RefLatitude / RefLongitude / RefElevation.
    pub site_location: Option<SiteLocation>,
}

/// A Helmert-like conversion from the model's engineering frame to a projected map CRS:
/// scale, rotate about Z by the x-axis direction, then translate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapConversion {
    /// False easting in metres.
    pub eastings: f64,
    /// False northing in metres.
    pub northings: f64,
    /// Orthogonal height in metres.
    pub orthogonal_height: f64,
    /// Cosine of the rotation from model X to map east (the x-axis abscissa, normalised).
    pub x_axis_abscissa: f64,
    /// Sine of that rotation (the x-axis ordinate, normalised).
    pub x_axis_ordinate: f64,
    /// Scale from model lengths to map lengths (1.0 when absent).
    pub scale: f64,
    /// Name of the target CRS, e.g. `EPSG:28992`, when declared.
    pub target_crs: Option<String>,
    /// Where it came from: `IfcMapConversion` or `ePSet_MapConversion`.
    pub source: String,
}

impl MapConversion {
    /// Rotation from model X to map east, counter-clockwise, in degrees.
    pub fn rotation_degrees(&self) -> f64 {
        self.x_axis_ordinate.atan2(self.x_axis_abscissa).to_degrees()
    }
}

/// A geographic location in WGS84 degrees (IfcSite compound angles converted).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SiteLocation {
    /// Latitude in degrees, north positive.
    pub latitude: f64,
    /// Longitude in degrees, east positive.
    pub longitude: f64,
    /// Elevation above the datum in metres, when declared.
    pub elevation: Option<f64>,
}

/// A point or span in time from an IFC date/time or duration attribute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeValue {
    /// The text as written (`2024-03-01T08:00:00`, `P10D`).
    pub iso: String,
    /// Dates: days since 1970-01-01 (fractional with a time of day). Durations: length in days.
    /// `None` when the text could not be parsed.
    pub days: Option<f64>,
}

/// A construction schedule: IfcWorkSchedule and the tasks assigned to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkSchedule {
    /// STEP `#id`; 0 for the schedule that collects tasks assigned to none.
    pub step_id: u32,
    /// GlobalId.
    pub global_id: String,
    /// Name, if any.
    pub name: Option<String>,
    /// Identification, if any.
    pub identification: Option<String>,
    /// StartTime.
    pub start: Option<TimeValue>,
    /// FinishTime.
    pub finish: Option<TimeValue>,
    /// Tasks, parents before their nested tasks.
    pub tasks: Vec<Task>,
}

/// One IfcTask with its time, predecessors and the products it works on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// STEP `#id`.
    pub step_id: u32,
    /// GlobalId.
    pub global_id: String,
    /// Name, if any.
    pub name: Option<String>,
    /// Identification (IFC4) or TaskId (IFC2X3), if any.
    pub identification: Option<String>,
    /// PredefinedType (`CONSTRUCTION`, `DEMOLITION` …), if any.
    pub predefined_type: Option<String>,
    /// Whether it is a milestone.
    pub is_milestone: bool,
    /// Index in [`WorkSchedule::tasks`] of the task it is nested in (IfcRelNests).
    pub parent: Option<usize>,
    /// ScheduleStart (else ActualStart) of its IfcTaskTime.
    pub start: Option<TimeValue>,
    /// ScheduleFinish (else ActualFinish).
    pub finish: Option<TimeValue>,
    /// ScheduleDuration (else ActualDuration).
    pub duration: Option<TimeValue>,
    /// Tasks that must come before it (IfcRelSequence).
    pub predecessors: Vec<TaskLink>,
    /// Indices in [`Model::elements`] of the products it works on (IfcRelAssignsToProcess and
    /// IfcRelAssignsToProduct), ascending.
    pub products: Vec<usize>,
}

/// A predecessor link of a task (IfcRelSequence).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskLink {
    /// Index in [`WorkSchedule::tasks`] of the predecessor.
    pub task: usize,
    /// `FINISH_START`, `START_START`, `FINISH_FINISH`, `START_FINISH` or `USERDEFINED`/`NOTDEFINED`.
    pub sequence_type: String,
    /// The time lag (a duration, or seconds in IFC2X3 converted to days), if any.
    pub lag: Option<TimeValue>,
}

/// One input of a model placed together from several (`place`): what it was, where it was on
/// the earth, how it was moved into the project frame, and which parts of the model are its.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlacedSource {
    /// What was read.
    pub source: SourceInfo,
    /// Its own georeference, if it had one.
    pub georef: Option<GeoRef>,
    /// Its model frame → the project frame, column-major 4×4, metres.
    pub transform: [f64; 16],
    /// Its spatial nodes: `spatial[first_spatial..first_spatial + spatial_count]`.
    pub first_spatial: usize,
    /// How many spatial nodes are its.
    pub spatial_count: usize,
    /// Its elements: `elements[first_element..first_element + element_count]`.
    pub first_element: usize,
    /// How many elements are its.
    pub element_count: usize,
    /// Its meshes: `meshes[first_mesh..first_mesh + mesh_count]`.
    pub first_mesh: usize,
    /// How many meshes are its.
    pub mesh_count: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vertex of every placement transformed: what [`Model::bbox`] must equal.
    fn brute_force(model: &Model) -> Aabb {
        let mut bb = Aabb::EMPTY;
        for p in model.elements.iter().flat_map(|e| e.placements) {
            let Some(mesh) = model.meshes.get(p.mesh.0 as usize) else { continue };
            let t = &p.transform;
            for v in mesh.positions.chunks_exact(3) {
                let (x, y, z) = (f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
                bb.include([
                    t[0] * x + t[4] * y + t[8] * z + t[12],
                    t[1] * x + t[5] * y + t[9] * z + t[13],
                    t[2] * x + t[6] * y + t[10] * z + t[14],
                ]);
            }
        }
        bb
    }

    fn element(placements: Vec<Placement>) -> Element {
        Element {
            step_id: 0,
            global_id: String::new(),
            class: "IfcWall".into(),
            name: None,
            container: None,
            type_name: None,
            property_sets: Vec::new(),
            placements,
            materials: Vec::new(),
        }
    }

    #[test]
    fn the_bounding_box_is_that_of_every_placed_vertex() {
        let (c, s) = (0.3f64.cos(), 0.3f64.sin());
        let rotated = |x: f64, y: f64, z: f64| [c * 2.0, s * 2.0, 0.0, 0.0, -s, c, 0.0, 0.0, 0.0, 0.0, 1.5, 0.0, x, y, z, 1.0];
        let moved = |x: f64, y: f64, z: f64| [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, x, y, z, 1.0];
        let model = Model {
            meshes: vec![
                Mesh {
                    positions: vec![0.0, 0.0, 0.0, 1.25, 0.5, -0.75, -3.5, 2.0, 9.0, 0.1, -7.3, 0.2],
                    normals: vec![0.0; 12],
                    indices: vec![0, 1, 2, 0, 2, 3],
                },
                Mesh::default(),
                Mesh { positions: vec![f32::NAN, 1.0, 2.0, 3.0, f32::NAN, 5.0], normals: vec![0.0; 6], indices: vec![] },
            ],
            elements: Elements::from(vec![
                // One mesh at three translations and one rotation-scale, far from the origin
                // (Gauss-Krüger-like eastings) and near it; an empty mesh; a partly NaN mesh;
                // a mesh that does not exist.
                element(vec![
                    Placement { mesh: MeshId(0), transform: rotated(500_123.25, 4_000_321.5, 12.0) },
                    Placement { mesh: MeshId(0), transform: rotated(-3.0, 7.0, 0.5) },
                    Placement { mesh: MeshId(0), transform: moved(1.0, 2.0, 3.0) },
                ]),
                element(vec![
                    Placement { mesh: MeshId(0), transform: rotated(17.0, -2.5, -40.0) },
                    Placement { mesh: MeshId(1), transform: moved(1e9, 1e9, 1e9) },
                    Placement { mesh: MeshId(2), transform: moved(0.5, 0.5, 0.5) },
                    Placement { mesh: MeshId(9), transform: moved(-1e9, 0.0, 0.0) },
                ]),
            ]),
            ..Model::default()
        };
        let fast = model.bbox();
        let slow = brute_force(&model);
        assert_eq!(fast, slow);
        assert!(fast.max[0] > 500_000.0 && fast.min[2] < -40.0, "{fast:?}");
        assert_eq!(Model::default().bbox(), Aabb::EMPTY);
    }
}
