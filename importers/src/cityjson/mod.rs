//! CityJSON 1.0, 1.1 and 2.0 into the neutral [`Model`].
//!
//! - **Coordinates.** `transform` (scale, translate) is applied to the integer vertices. The
//!   model origin ([`Model::origin`]) is the translation rounded to whole metres in x and y (z
//!   stays 0, so heights keep their datum, e.g. NAP); geometry is stored relative to it and
//!   every mesh relative to its own centre. `metadata.referenceSystem` becomes a
//!   [`GeoRef`](crate::GeoRef) map conversion that only names the CRS (model + origin = CRS
//!   coordinates); without one (or [`CityJsonOptions::assume_crs`]) the model is not
//!   georeferenced and says so in an informational diagnostic.
//! - **City objects → elements.** Every CityObject becomes one element whose `global_id` is the
//!   object id, with its class from [`ifc_class`] (table below), its name from the `name`
//!   attribute (else the id), a property set `CityJSON` (`id`, `type`, `lod`, `geometry_type`,
//!   `parent`, `surfaces`) and a property set `CityJSON attributes` with the attributes.
//!   `CityObjectGroup` is skipped (informational diagnostic).
//! - **Hierarchy.** An object with `children` is also a spatial node (`IfcBuilding` for a
//!   Building, `IfcBridge`, `IfcRoad`, `IfcRailway`, else `IfcSpatialZone`); its children are
//!   contained in it. Everything else is contained in the file's `IfcSite` (under an
//!   `IfcProject`).
//! - **Geometry.** One LoD per object ([`LodChoice`], highest by default); all its geometries at
//!   that LoD are meshed. MultiSurface, CompositeSurface, Solid (outer and inner shells),
//!   MultiSolid and CompositeSolid: each surface (outer ring + holes) is triangulated on its own
//!   plane; the face normal follows the outer ring. GeometryInstance: the template is meshed
//!   once and placed by `translate(reference vertex) · transformationMatrix`. Point and line
//!   geometries are not meshed.
//! - **Semantic surfaces.** Each object's triangles are split into one mesh per semantic
//!   surface type (`GroundSurface`, `RoofSurface`, `WallSurface` …, sorted by name, unlabelled
//!   surfaces as `unclassified`); the `CityJSON.surfaces` property lists the type of each
//!   placement in order (`GroundSurface,RoofSurface,WallSurface`).
//! - **Bad input.** Broken rings, out-of-range vertex indices, wrong nesting and unknown types
//!   become diagnostics naming the object id (one per object, with counts); a file that is not
//!   JSON or not CityJSON is an [`ImportError`].
//!
//! | CityJSON type | IFC class |
//! |---|---|
//! | Building, BuildingPart, BuildingInstallation, BuildingConstructiveElement, BuildingStorey, BuildingRoom, BuildingUnit | `IfcBuildingElementProxy` |
//! | BuildingFurniture, CityFurniture | `IfcFurniture` |
//! | Bridge, BridgePart, BridgeInstallation, BridgeConstructiveElement, BridgeRoom, BridgeFurniture | `IfcCivilElement` |
//! | Road, Railway, TransportSquare, Waterway | `IfcCivilElement` |
//! | Tunnel, TunnelPart, TunnelInstallation, TunnelConstructiveElement, TunnelHollowSpace, TunnelFurniture | `IfcCivilElement` |
//! | LandUse, PlantCover, SolitaryVegetationObject, WaterBody, TINRelief | `IfcGeographicElement` |
//! | GenericCityObject, extension types (`+Name`), anything unknown | `IfcBuildingElementProxy` |

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::geo::mesh::{MeshBuilder, PolygonError, mat_mul, push_centred, translation};
use crate::geo::{city_diagnostic, city_spatial_root, identity_conversion, json_property};
use crate::{
    DiagnosticKind, Element, GeoRef, ImportConfig, ImportError, Importer, MeshId, Model, Placement,
    Property, PropertySet, PropertyValue, Severity, SourceInfo, SpatialKind, SpatialNode,
};

/// Which level of detail to mesh when an object has several.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LodChoice {
    /// The highest LoD of each object (default).
    #[default]
    Highest,
    /// The lowest LoD of each object.
    Lowest,
    /// This LoD as written (`"2.2"`, `"1"`); objects without it get their highest.
    Exact(String),
}

/// CityJSON import settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CityJsonOptions {
    /// Which LoD to mesh.
    pub lod: LodChoice,
    /// CRS to assume when the file declares none (e.g. `EPSG:7415`).
    pub assume_crs: Option<String>,
}

/// Imports CityJSON 1.0, 1.1 and 2.0 files.
#[derive(Debug, Clone, Default)]
pub struct CityJsonImporter {
    /// Settings.
    pub options: CityJsonOptions,
}

/// The nearest IFC class for a CityJSON type (see the module's table), and whether the type
/// is one of the standard ones.
pub(crate) fn ifc_class(city_type: &str) -> (&'static str, bool) {
    match city_type {
        "Building"
        | "BuildingPart"
        | "BuildingInstallation"
        | "BuildingConstructiveElement"
        | "BuildingStorey"
        | "BuildingRoom"
        | "BuildingUnit"
        | "GenericCityObject" => ("IfcBuildingElementProxy", true),
        "BuildingFurniture" | "CityFurniture" => ("IfcFurniture", true),
        "Bridge"
        | "BridgePart"
        | "BridgeInstallation"
        | "BridgeConstructiveElement"
        | "BridgeRoom"
        | "BridgeFurniture"
        | "Road"
        | "Railway"
        | "TransportSquare"
        | "Waterway"
        | "Tunnel"
        | "TunnelPart"
        | "TunnelInstallation"
        | "TunnelConstructiveElement"
        | "TunnelHollowSpace"
        | "TunnelFurniture" => ("IfcCivilElement", true),
        "LandUse" | "PlantCover" | "SolitaryVegetationObject" | "WaterBody" | "TINRelief" => {
            ("IfcGeographicElement", true)
        }
        _ => ("IfcBuildingElementProxy", false),
    }
}

/// The spatial class and kind for an object that has children.
fn spatial_class(city_type: &str) -> (&'static str, SpatialKind) {
    match city_type {
        "Building" => ("IfcBuilding", SpatialKind::Building),
        "Bridge" => ("IfcBridge", SpatialKind::Other),
        "Road" => ("IfcRoad", SpatialKind::Other),
        "Railway" => ("IfcRailway", SpatialKind::Other),
        _ => ("IfcSpatialZone", SpatialKind::Other),
    }
}

/// How deep surfaces sit in a geometry's `boundaries`.
fn surface_depth(geometry_type: &str) -> Option<usize> {
    match geometry_type {
        "MultiSurface" | "CompositeSurface" => Some(1),
        "Solid" => Some(2),
        "MultiSolid" | "CompositeSolid" => Some(3),
        _ => None,
    }
}

/// Parent objects are followed at most this deep.
const MAX_HIERARCHY_DEPTH: usize = 32;

impl Importer for CityJsonImporter {
    fn format(&self) -> &'static str {
        "CityJSON"
    }

    fn sniff(&self, head: &[u8]) -> bool {
        crate::sniff_json(head, &["\"CityJSON\"", "\"CityObjects\""])
    }

    fn import_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        config: &ImportConfig,
    ) -> Result<Model, ImportError> {
        let input = crate::Input::open(name, "CityJSON", bytes, config)?;
        let doc = input.json(bytes)?;
        let not_readable = |reason: &str| input.not_readable(reason);
        let root = doc
            .as_object()
            .ok_or_else(|| not_readable("the top level is not a JSON object"))?;
        if root.get("type").and_then(Value::as_str) != Some("CityJSON") {
            return Err(not_readable("the top-level \"type\" is not \"CityJSON\""));
        }
        let objects = root
            .get("CityObjects")
            .and_then(Value::as_object)
            .ok_or_else(|| not_readable("there is no \"CityObjects\" object"))?;
        let mut reader = Reader::new(name, root, &self.options, config.geometry);
        reader.read_objects(objects);
        let version = root.get("version").and_then(Value::as_str).unwrap_or("1.0");
        let mut model = Model {
            source: SourceInfo {
                name: name.to_owned(),
                schema: format!("CityJSON {version}"),
                bytes: bytes.len() as u64,
                entities: objects.len() as u64,
                length_unit_to_metres: 1.0,
                ..SourceInfo::default()
            },
            origin: reader.origin,
            ..Model::default()
        };
        if !matches!(version, "1.0" | "1.1" | "2.0") {
            reader.diagnostics.push(city_diagnostic(
                Severity::Warning,
                DiagnosticKind::Other,
                None,
                format!("cityjson version \"{version}\" is not one of 1.0, 1.1, 2.0; read as 2.0"),
            ));
        }
        let crs = root
            .get("metadata")
            .and_then(|m| m.get("referenceSystem"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| self.options.assume_crs.clone());
        match crs {
            Some(crs) => {
                model.georef = Some(GeoRef {
                    map_conversion: Some(identity_conversion(&crs, "CityJSON referenceSystem")),
                    site_location: None,
                });
            }
            None => reader.diagnostics.push(city_diagnostic(
                Severity::Info,
                DiagnosticKind::Other,
                None,
                "no metadata.referenceSystem: the model is not georeferenced and can only be \
                 placed beside inputs in the same coordinates"
                    .to_owned(),
            )),
        }
        model.spatial = reader.spatial;
        model.elements = reader.elements.into();
        model.meshes = reader.meshes;
        model.diagnostics = reader.diagnostics;
        crate::imported(model)
    }
}

/// Import state for one file.
struct Reader<'a> {
    options: &'a CityJsonOptions,
    geometry: bool,
    /// Vertices in model metres (relative to `origin`); NaN for unreadable ones.
    vertices: Vec<[f64; 3]>,
    template_vertices: Vec<[f64; 3]>,
    templates: Vec<&'a Value>,
    /// Template index → its meshes by semantic type.
    template_meshes: HashMap<usize, Vec<(String, MeshId)>>,
    origin: [f64; 3],
    spatial: Vec<SpatialNode>,
    elements: Vec<Element>,
    meshes: Vec<crate::Mesh>,
    diagnostics: Vec<crate::Diagnostic>,
    /// Object id → its spatial node, for objects with children.
    nodes: HashMap<&'a str, usize>,
    lod_fallbacks: usize,
}

/// Triangles of one object split by semantic surface type.
type Semantic = BTreeMap<String, MeshBuilder>;

/// What went wrong with the surfaces of one object.
#[derive(Default)]
struct Problems {
    skipped: usize,
    total: usize,
    first: Option<String>,
}

impl Problems {
    fn skip(&mut self, reason: impl Into<String>) {
        self.skipped += 1;
        if self.first.is_none() {
            self.first = Some(reason.into());
        }
    }
}

impl<'a> Reader<'a> {
    fn new(
        name: &str,
        root: &'a Map<String, Value>,
        options: &'a CityJsonOptions,
        geometry: bool,
    ) -> Self {
        let mut diagnostics = Vec::new();
        let (scale, translate) = read_transform(root.get("transform"), &mut diagnostics);
        let raw = root.get("vertices").and_then(Value::as_array);
        let origin = match root.get("transform") {
            Some(_) => [translate[0].round(), translate[1].round(), 0.0],
            None => raw
                .and_then(|v| v.iter().find_map(read_point))
                .map_or([0.0; 3], |p| [p[0].round(), p[1].round(), 0.0]),
        };
        let mut bad = 0usize;
        let vertices: Vec<[f64; 3]> = raw
            .map(|vs| {
                vs.iter()
                    .map(|v| match read_point(v) {
                        Some(p) => [
                            p[0] * scale[0] + translate[0] - origin[0],
                            p[1] * scale[1] + translate[1] - origin[1],
                            p[2] * scale[2] + translate[2] - origin[2],
                        ],
                        None => {
                            bad += 1;
                            [f64::NAN; 3]
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        if bad > 0 {
            diagnostics.push(city_diagnostic(
                Severity::Warning,
                DiagnosticKind::BadAttribute,
                None,
                format!(
                    "{bad} vertices are not three finite numbers; surfaces using them are skipped"
                ),
            ));
        }
        let templates_root = root.get("geometry-templates");
        let templates: Vec<&Value> = templates_root
            .and_then(|t| t.get("templates"))
            .and_then(Value::as_array)
            .map(|t| t.iter().collect())
            .unwrap_or_default();
        let template_vertices = templates_root
            .and_then(|t| t.get("vertices-templates"))
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .map(|v| read_point(v).unwrap_or([f64::NAN; 3]))
                    .collect()
            })
            .unwrap_or_default();
        let project_name = root
            .get("metadata")
            .and_then(|m| m.get("title"))
            .and_then(Value::as_str)
            .unwrap_or(name);
        Self {
            options,
            geometry,
            vertices,
            template_vertices,
            templates,
            template_meshes: HashMap::new(),
            origin,
            spatial: city_spatial_root(project_name, name),
            elements: Vec::new(),
            meshes: Vec::new(),
            diagnostics,
            nodes: HashMap::new(),
            lod_fallbacks: 0,
        }
    }

    fn read_objects(&mut self, objects: &'a Map<String, Value>) {
        // Objects with children become spatial nodes, parents before children.
        for (id, obj) in objects {
            if obj
                .get("children")
                .and_then(Value::as_array)
                .is_some_and(|c| !c.is_empty())
            {
                self.spatial_node(objects, id, 0);
            }
        }
        for (id, obj) in objects {
            self.read_object(objects, id, obj);
        }
        if self.lod_fallbacks > 0 {
            self.diagnostics.push(city_diagnostic(
                Severity::Info,
                DiagnosticKind::Other,
                None,
                format!(
                    "{} objects have no geometry at the requested lod; their highest lod was used",
                    self.lod_fallbacks
                ),
            ));
        }
    }

    /// The spatial node of object `id` (which has children), creating its ancestors first.
    fn spatial_node(
        &mut self,
        objects: &'a Map<String, Value>,
        id: &'a str,
        depth: usize,
    ) -> Option<usize> {
        if let Some(&i) = self.nodes.get(id) {
            return Some(i);
        }
        let obj = objects.get(id)?;
        if depth > MAX_HIERARCHY_DEPTH {
            self.diagnostics.push(city_diagnostic(
                Severity::Warning,
                DiagnosticKind::DanglingReference,
                None,
                format!(
                    "city object {id}: parents nest deeper than {MAX_HIERARCHY_DEPTH} (a cycle?)"
                ),
            ));
            return None;
        }
        let parent = self.parent_node(objects, id, obj, depth);
        let city_type = obj.get("type").and_then(Value::as_str).unwrap_or("");
        let (class, kind) = spatial_class(city_type);
        let index = self.spatial.len();
        self.spatial.push(SpatialNode {
            step_id: 0,
            global_id: id.to_owned(),
            class: class.to_owned(),
            kind,
            name: Some(object_name(id, obj)),
            parent: Some(parent),
            elevation: None,
            property_sets: vec![
                city_pset(id, city_type, None, None, parent_id(obj), &[]).into(),
                attribute_pset(obj).into(),
            ],
        });
        self.nodes.insert(id, index);
        Some(index)
    }

    /// The container of an object: its first parent's node, else the site.
    fn parent_node(
        &mut self,
        objects: &'a Map<String, Value>,
        id: &str,
        obj: &Value,
        depth: usize,
    ) -> usize {
        const SITE: usize = 1;
        let Some(parent) = parent_id(obj) else {
            return SITE;
        };
        let Some((parent_key, _)) = objects.get_key_value(parent) else {
            self.diagnostics.push(city_diagnostic(
                Severity::Warning,
                DiagnosticKind::DanglingReference,
                None,
                format!("city object {id}: parent {parent} does not exist"),
            ));
            return SITE;
        };
        self.spatial_node(objects, parent_key.as_str(), depth + 1)
            .unwrap_or(SITE)
    }

    fn read_object(&mut self, objects: &'a Map<String, Value>, id: &'a str, obj: &'a Value) {
        let Some(city_type) = obj.get("type").and_then(Value::as_str) else {
            self.diagnostics.push(city_diagnostic(
                Severity::Warning,
                DiagnosticKind::MalformedRecord,
                None,
                format!("city object {id} has no \"type\"; skipped"),
            ));
            return;
        };
        if city_type == "CityObjectGroup" {
            self.diagnostics.push(city_diagnostic(
                Severity::Info,
                DiagnosticKind::Other,
                None,
                format!("city object {id} is a CityObjectGroup; groups are not imported"),
            ));
            return;
        }
        let (class, known) = ifc_class(city_type);
        if !known {
            let (severity, what) = if city_type.starts_with('+') {
                (Severity::Info, "an extension type")
            } else {
                (Severity::Warning, "an unknown type")
            };
            self.diagnostics.push(city_diagnostic(
                severity,
                DiagnosticKind::Other,
                Some(class),
                format!("city object {id} has {what} \"{city_type}\"; imported as {class}"),
            ));
        }
        let has_node = self.nodes.get(id).copied();
        let has_geometry = obj
            .get("geometry")
            .and_then(Value::as_array)
            .is_some_and(|g| !g.is_empty());
        if has_node.is_some() && !has_geometry {
            return; // a pure container: its spatial node carries it
        }
        let container = match has_node {
            Some(node) => node,
            None => self.parent_node(objects, id, obj, 0),
        };
        let (placements, lod, geometry_type, surfaces) = if self.geometry {
            self.mesh_object(id, obj)
        } else {
            (Vec::new(), None, None, Vec::new())
        };
        self.elements.push(Element {
            step_id: 0,
            global_id: id.to_owned(),
            class: class.to_owned(),
            name: Some(object_name(id, obj)),
            container: Some(container),
            type_name: None,
            property_sets: vec![
                city_pset(
                    id,
                    city_type,
                    lod.as_deref(),
                    geometry_type.as_deref(),
                    parent_id(obj),
                    &surfaces,
                )
                .into(),
                attribute_pset(obj).into(),
            ],
            placements,
            materials: Vec::new(),
        });
    }

    /// Meshes the chosen LoD of an object: its placements, the LoD, geometry type(s) and the
    /// semantic type of each placement.
    fn mesh_object(
        &mut self,
        id: &str,
        obj: &'a Value,
    ) -> (Vec<Placement>, Option<String>, Option<String>, Vec<String>) {
        let geometries: Vec<&'a Value> = obj
            .get("geometry")
            .and_then(Value::as_array)
            .map(|g| g.iter().collect())
            .unwrap_or_default();
        let with_lod: Vec<(&'a Value, Option<String>)> =
            geometries.iter().map(|&g| (g, self.lod_of(g))).collect();
        let Some(lod) = self.choose_lod(&with_lod) else {
            return (Vec::new(), None, None, Vec::new());
        };
        let mut semantic = Semantic::new();
        let mut placements = Vec::new();
        let mut surfaces = Vec::new();
        let mut types: Vec<&str> = Vec::new();
        let mut problems = Problems::default();
        for (g, glod) in &with_lod {
            if glod.as_deref() != Some(lod.as_str()) {
                continue;
            }
            let gtype = g.get("type").and_then(Value::as_str).unwrap_or("");
            if !types.contains(&gtype) {
                types.push(gtype);
            }
            if gtype == "GeometryInstance" {
                self.place_instance(g, &mut placements, &mut surfaces, &mut problems);
            } else {
                mesh_geometry(g, &self.vertices, &mut semantic, &mut problems);
            }
        }
        for (kind, builder) in semantic {
            if let Some(p) = push_centred(&mut self.meshes, builder) {
                placements.push(p);
                surfaces.push(kind);
            }
        }
        if problems.skipped > 0 {
            self.diagnostics.push(city_diagnostic(
                Severity::Warning,
                DiagnosticKind::GeometryRepaired,
                None,
                format!(
                    "city object {id}: {} of {} surfaces skipped, first because {}",
                    problems.skipped,
                    problems.total,
                    problems.first.as_deref().unwrap_or("of an unknown problem")
                ),
            ));
        }
        if placements.is_empty() && !geometries.is_empty() {
            let meshable = types
                .iter()
                .any(|t| surface_depth(t).is_some() || *t == "GeometryInstance");
            if meshable {
                self.diagnostics.push(city_diagnostic(
                    Severity::Warning,
                    DiagnosticKind::GeometryMissing,
                    None,
                    format!("city object {id}: its lod {lod} geometry produced no triangles"),
                ));
            }
        }
        (placements, Some(lod), Some(types.join(",")), surfaces)
    }

    /// The LoD of a geometry as text (`"2.2"`; numbers from CityJSON 1.0 formatted), taking a
    /// GeometryInstance's from its template.
    fn lod_of(&self, g: &Value) -> Option<String> {
        let own = g.get("lod");
        let lod = match own {
            Some(v) => v,
            None => {
                let t = g.get("template").and_then(Value::as_u64)?;
                self.templates.get(usize::try_from(t).ok()?)?.get("lod")?
            }
        };
        match lod {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn choose_lod(&mut self, geometries: &[(&Value, Option<String>)]) -> Option<String> {
        let mut lods: Vec<&str> = geometries
            .iter()
            .filter_map(|(_, l)| l.as_deref())
            .collect();
        lods.sort_by(|a, b| lod_rank(a).total_cmp(&lod_rank(b)));
        match &self.options.lod {
            LodChoice::Highest => lods.last().map(|s| (*s).to_owned()),
            LodChoice::Lowest => lods.first().map(|s| (*s).to_owned()),
            LodChoice::Exact(want) => {
                if lods.contains(&want.as_str()) {
                    Some(want.clone())
                } else {
                    if !lods.is_empty() {
                        self.lod_fallbacks += 1;
                    }
                    lods.last().map(|s| (*s).to_owned())
                }
            }
        }
    }

    /// Places a GeometryInstance: its template's meshes (built once) at the reference vertex.
    fn place_instance(
        &mut self,
        g: &Value,
        placements: &mut Vec<Placement>,
        surfaces: &mut Vec<String>,
        problems: &mut Problems,
    ) {
        problems.total += 1;
        let Some(t) = g
            .get("template")
            .and_then(Value::as_u64)
            .and_then(|t| usize::try_from(t).ok())
        else {
            problems.skip("a geometry instance has no template index");
            return;
        };
        let Some(&template) = self.templates.get(t) else {
            problems.skip(format!("template {t} does not exist"));
            return;
        };
        let reference = g
            .get("boundaries")
            .and_then(|b| b.get(0))
            .and_then(Value::as_u64)
            .and_then(|i| self.vertices.get(usize::try_from(i).ok()?))
            .copied()
            .filter(|p| p.iter().all(|c| c.is_finite()));
        let Some(reference) = reference else {
            problems.skip("a geometry instance's reference vertex is missing");
            return;
        };
        let matrix = match g.get("transformationMatrix").and_then(Value::as_array) {
            None => crate::geo::mesh::IDENTITY,
            Some(m) => {
                let values: Vec<f64> = m.iter().filter_map(Value::as_f64).collect();
                if values.len() != 16 || !values.iter().all(|v| v.is_finite()) {
                    problems.skip("a transformationMatrix is not 16 finite numbers");
                    return;
                }
                // Row-major in the file, column-major here.
                let mut c = [0.0; 16];
                for row in 0..4 {
                    for col in 0..4 {
                        c[col * 4 + row] = values[row * 4 + col];
                    }
                }
                c
            }
        };
        if !self.template_meshes.contains_key(&t) {
            let mut semantic = Semantic::new();
            let mut template_problems = Problems::default();
            mesh_geometry(
                template,
                &self.template_vertices,
                &mut semantic,
                &mut template_problems,
            );
            let mut list = Vec::new();
            for (kind, builder) in semantic {
                if let Some(mesh) = builder.finish_in_place() {
                    list.push((kind, MeshId(self.meshes.len() as u32)));
                    self.meshes.push(mesh);
                }
            }
            if template_problems.skipped > 0 {
                problems.skip(format!(
                    "template {t} has {} broken surfaces ({})",
                    template_problems.skipped,
                    template_problems.first.unwrap_or_default()
                ));
            }
            self.template_meshes.insert(t, list);
        }
        let transform = mat_mul(&translation(reference), &matrix);
        for (kind, mesh) in self.template_meshes.get(&t).into_iter().flatten() {
            placements.push(Placement {
                mesh: *mesh,
                transform,
            });
            surfaces.push(kind.clone());
        }
    }
}

/// Meshes one (non-instance) geometry into `semantic`, counting problems.
fn mesh_geometry(
    g: &Value,
    vertices: &[[f64; 3]],
    semantic: &mut Semantic,
    problems: &mut Problems,
) {
    let gtype = g.get("type").and_then(Value::as_str).unwrap_or("");
    let Some(depth) = surface_depth(gtype) else {
        return;
    };
    let Some(boundaries) = g.get("boundaries") else {
        problems.total += 1;
        problems.skip(format!("a {gtype} has no boundaries"));
        return;
    };
    let sem = g.get("semantics");
    let values = sem.and_then(|s| s.get("values"));
    let kinds: Vec<String> = sem
        .and_then(|s| s.get("surfaces"))
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .map(|x| {
                    x.get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("unclassified")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut faces = Vec::new();
    collect_surfaces(boundaries, values, depth, &mut faces, problems);
    for (surface, semantic_index) in faces {
        problems.total += 1;
        let kind = semantic_index
            .and_then(|i| kinds.get(i))
            .cloned()
            .unwrap_or_else(|| "unclassified".to_owned());
        match surface_rings(surface, vertices) {
            Ok(rings) => {
                if let Err(e) = semantic.entry(kind).or_default().polygon(&rings) {
                    problems.skip(e.reason());
                }
            }
            Err(reason) => problems.skip(reason),
        }
    }
}

/// Walks `boundaries` down to surfaces (`depth` levels of arrays above them), pairing each
/// with its semantic index from the parallel `values` array.
fn collect_surfaces<'v>(
    boundaries: &'v Value,
    values: Option<&Value>,
    depth: usize,
    out: &mut Vec<(&'v Value, Option<usize>)>,
    problems: &mut Problems,
) {
    if depth == 0 {
        let index = values
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok());
        out.push((boundaries, index));
        return;
    }
    let Some(items) = boundaries.as_array() else {
        problems.total += 1;
        problems.skip("boundaries are nested wrongly for the geometry type");
        return;
    };
    for (i, item) in items.iter().enumerate() {
        collect_surfaces(
            item,
            values.and_then(|v| v.get(i)),
            depth - 1,
            out,
            problems,
        );
    }
}

/// A surface's rings (outer first) as points, or why not.
fn surface_rings(surface: &Value, vertices: &[[f64; 3]]) -> Result<Vec<Vec<[f64; 3]>>, String> {
    let rings = surface
        .as_array()
        .ok_or("a surface is not an array of rings")?;
    if rings.is_empty() {
        return Err(PolygonError::TooFewPoints.reason().to_owned());
    }
    rings
        .iter()
        .map(|ring| {
            let ids = ring
                .as_array()
                .ok_or("a ring is not an array of vertex indices")?;
            ids.iter()
                .map(|i| {
                    let ix = i.as_u64().and_then(|i| usize::try_from(i).ok());
                    match ix.and_then(|ix| vertices.get(ix)) {
                        Some(p) => Ok(*p),
                        None => Err(format!("vertex index {i} is out of range")),
                    }
                })
                .collect()
        })
        .collect()
}

/// Sort key for LoDs (`"2.2"` → 2.2; unreadable ones lowest).
fn lod_rank(lod: &str) -> f64 {
    lod.parse::<f64>().unwrap_or(-1.0)
}

/// `transform.scale` and `transform.translate`, defaults 1 and 0, bad values diagnosed.
fn read_transform(
    t: Option<&Value>,
    diagnostics: &mut Vec<crate::Diagnostic>,
) -> ([f64; 3], [f64; 3]) {
    let Some(t) = t else {
        return ([1.0; 3], [0.0; 3]);
    };
    let scale = t.get("scale").and_then(read_point);
    let translate = t.get("translate").and_then(read_point);
    let scale = match scale {
        Some(s) if s.iter().all(|&c| c != 0.0) => s,
        _ => {
            diagnostics.push(city_diagnostic(
                Severity::Error,
                DiagnosticKind::BadAttribute,
                None,
                "transform.scale is not three finite non-zero numbers; 1 assumed".to_owned(),
            ));
            [1.0; 3]
        }
    };
    let translate = translate.unwrap_or_else(|| {
        diagnostics.push(city_diagnostic(
            Severity::Error,
            DiagnosticKind::BadAttribute,
            None,
            "transform.translate is not three finite numbers; 0 assumed".to_owned(),
        ));
        [0.0; 3]
    });
    (scale, translate)
}

/// `[x, y, z]` of three finite numbers.
fn read_point(v: &Value) -> Option<[f64; 3]> {
    let a = v.as_array()?;
    if a.len() != 3 {
        return None;
    }
    let p = [a[0].as_f64()?, a[1].as_f64()?, a[2].as_f64()?];
    p.iter().all(|c| c.is_finite()).then_some(p)
}

fn parent_id(obj: &Value) -> Option<&str> {
    obj.get("parents")
        .and_then(|p| p.get(0))
        .and_then(Value::as_str)
}

fn object_name(id: &str, obj: &Value) -> String {
    obj.get("attributes")
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
        .unwrap_or(id)
        .to_owned()
}

fn text(name: &str, value: &str) -> Property {
    Property {
        name: name.to_owned(),
        value: PropertyValue::Text(value.to_owned()),
    }
}

/// The `CityJSON` property set.
fn city_pset(
    id: &str,
    city_type: &str,
    lod: Option<&str>,
    geometry_type: Option<&str>,
    parent: Option<&str>,
    surfaces: &[String],
) -> PropertySet {
    let mut properties = vec![text("id", id), text("type", city_type)];
    if let Some(lod) = lod {
        properties.push(text("lod", lod));
    }
    if let Some(g) = geometry_type {
        properties.push(text("geometry_type", g));
    }
    if let Some(p) = parent {
        properties.push(text("parent", p));
    }
    if !surfaces.is_empty() {
        properties.push(text("surfaces", &surfaces.join(",")));
    }
    PropertySet {
        name: "CityJSON".to_owned(),
        properties,
    }
}

/// The `CityJSON attributes` property set.
fn attribute_pset(obj: &Value) -> PropertySet {
    let properties = obj
        .get("attributes")
        .and_then(Value::as_object)
        .map(|a| a.iter().filter_map(|(k, v)| json_property(k, v)).collect())
        .unwrap_or_default();
    PropertySet {
        name: "CityJSON attributes".to_owned(),
        properties,
    }
}
