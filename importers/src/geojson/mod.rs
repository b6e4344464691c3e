//! GeoJSON (RFC 7946) into the neutral [`Model`]: features become elements with simple 3D
//! geometry in local metres.
//!
//! - **Frame.** Positions are WGS84 lon/lat (and optional height). They are converted into the
//!   tangent-plane map of [`crate::geo`] around the centre of the file's bounding box, which
//!   becomes the model's georeference (a site location; origin zero). A legacy `crs` member
//!   naming another CRS (GeoJSON 2008) is honoured as a projected CRS in metres instead.
//! - **Features → elements**, one per feature (multi-geometries and collections give several
//!   placements), `global_id` from the feature `id` (else `feature-N`), name from `name`, the
//!   properties as property set `GeoJSON`, and what the importer derived (kind, width, diameter,
//!   height and where each came from) as property set `GeoJSON geometry`.
//!
//! | Geometry | When | Class | Mesh |
//! |---|---|---|---|
//! | Point, MultiPoint | always | `IfcBuildingElementProxy` | a 1 m octahedron marker standing on the point (one shared mesh) |
//! | LineString, MultiLineString | pipe hints (`diameter`, `diameter_mm`, `DN`, `man_made=pipeline`, `pipe` in `type`/`kind`/`class`) or [`LineKind::Pipes`] | `IfcPipeSegment` | a 12-sided tube of the diameter along the line, capped, centre at the line's height minus `depth` |
//! | LineString, MultiLineString | otherwise, or [`LineKind::Roads`] | `IfcCivilElement` | a flat ribbon of `width`, else `lanes` × 3.5 m, else a width by `highway` class |
//! | Polygon, MultiPolygon | `height`, `building:height`, `building:levels` or `levels` given | `IfcBuildingElementProxy` | the footprint (with holes) extruded from `min_height` to the height (levels × 3 m) |
//! | Polygon, MultiPolygon | no height | `IfcGeographicElement` | the flat parcel |
//!
//! Pipe diameters: `diameter_mm` and `DN` are millimetres; `diameter` is metres when ≤ 5, else
//! millimetres (the OpenStreetMap convention); text values may carry `mm`, `cm` or `m`.
//! Default diameter 0.3 m, default road width 5 m.
//!
//! **Bounds.** At most [`GeoJsonOptions::max_positions`] positions are read (the rest of the
//! features are skipped with a diagnostic); NaN, out-of-range lon/lat, wrongly nested
//! coordinates and unknown geometry types are diagnostics naming the feature (the first 200 in
//! full, then a count), never panics. JSON nesting deeper than serde_json's limit (128) is an
//! [`ImportError`].

#[cfg(test)]
mod tests;

mod shapes;

use std::collections::HashSet;

use serde_json::Value;

use crate::geo::mesh::{MeshBuilder, push_centred};
use crate::geo::wgs84::LocalFrame;
use crate::geo::{
    city_diagnostic, city_spatial_root, identity_conversion, json_property, normalize_crs,
};
use crate::{
    Diagnostic, DiagnosticKind, Element, GeoRef, ImportConfig, ImportError, Importer, MeshId,
    Model, Placement, Property, PropertySet, PropertyValue, Severity, SiteLocation, SourceInfo,
};

/// How line features are built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LineKind {
    /// Pipes when the properties hint at one, else roads (default).
    #[default]
    Auto,
    /// Every line is a pipe.
    Pipes,
    /// Every line is a road.
    Roads,
}

/// GeoJSON import settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoJsonOptions {
    /// How line features are built.
    pub lines: LineKind,
    /// Most positions read from one file.
    pub max_positions: usize,
}

impl Default for GeoJsonOptions {
    fn default() -> Self {
        Self {
            lines: LineKind::Auto,
            max_positions: 20_000_000,
        }
    }
}

/// Imports GeoJSON files.
#[derive(Debug, Clone, Default)]
pub struct GeoJsonImporter {
    /// Settings.
    pub options: GeoJsonOptions,
}

/// Whether a top-level `"type"` is GeoJSON's.
pub(crate) fn is_geojson_type(t: &str) -> bool {
    matches!(
        t,
        "FeatureCollection"
            | "Feature"
            | "Point"
            | "MultiPoint"
            | "LineString"
            | "MultiLineString"
            | "Polygon"
            | "MultiPolygon"
            | "GeometryCollection"
    )
}

/// Detailed diagnostics kept per file before they are only counted.
const MAX_DETAILED_DIAGNOSTICS: usize = 200;
/// Geometry collections nest at most this deep.
const MAX_COLLECTION_DEPTH: usize = 8;

impl Importer for GeoJsonImporter {
    fn format(&self) -> &'static str {
        "GeoJSON"
    }

    fn sniff(&self, head: &[u8]) -> bool {
        crate::sniff_json(
            head,
            &["\"FeatureCollection\"", "\"Feature\"", "\"coordinates\""],
        )
    }

    fn import_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        config: &ImportConfig,
    ) -> Result<Model, ImportError> {
        let input = crate::Input::open(name, "GeoJSON", bytes, config)?;
        let doc = input.json(bytes)?;
        let not_readable = |reason: String| input.not_readable(reason);
        let kind = doc.get("type").and_then(Value::as_str).ok_or_else(|| {
            not_readable("the top level is not an object with a \"type\"".to_owned())
        })?;
        let features: Vec<&Value> = match kind {
            "FeatureCollection" => doc
                .get("features")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    not_readable("a FeatureCollection without a \"features\" array".to_owned())
                })?
                .iter()
                .collect(),
            "Feature" => vec![&doc],
            t if is_geojson_type(t) => vec![&doc],
            other => return Err(not_readable(format!("\"{other}\" is not a GeoJSON type"))),
        };
        let mut reader = Reader::new(name, &doc, &features, &self.options, config.geometry);
        for (i, f) in features.iter().enumerate() {
            reader.read_feature(i, f);
        }
        reader.finish_diagnostics();
        let model = Model {
            source: SourceInfo {
                name: name.to_owned(),
                schema: "GeoJSON".to_owned(),
                bytes: bytes.len() as u64,
                entities: features.len() as u64,
                length_unit_to_metres: 1.0,
                ..SourceInfo::default()
            },
            spatial: city_spatial_root(name, name),
            elements: reader.elements.into(),
            meshes: reader.meshes,
            diagnostics: reader.diagnostics,
            origin: reader.frame.origin(),
            georef: Some(reader.frame.georef()),
            ..Model::default()
        };
        crate::imported(model)
    }
}

/// Where positions go.
#[derive(Debug)]
enum Frame {
    /// WGS84 lon/lat → local metres.
    Wgs84(LocalFrame),
    /// A projected CRS in metres; model = position − origin.
    Projected { crs: String, origin: [f64; 3] },
}

impl Frame {
    fn origin(&self) -> [f64; 3] {
        match self {
            Self::Wgs84(_) => [0.0; 3],
            Self::Projected { origin, .. } => *origin,
        }
    }

    fn georef(&self) -> GeoRef {
        match self {
            Self::Wgs84(f) => {
                let (lon, lat, h) = f.origin();
                GeoRef {
                    map_conversion: None,
                    site_location: Some(SiteLocation {
                        latitude: lat,
                        longitude: lon,
                        elevation: Some(h),
                    }),
                }
            }
            Self::Projected { crs, .. } => GeoRef {
                map_conversion: Some(identity_conversion(crs, "GeoJSON crs")),
                site_location: None,
            },
        }
    }

    /// A position (`[x, y]` or `[x, y, z]`) in model metres, or why not.
    fn to_model(&self, position: &Value) -> Result<[f64; 3], &'static str> {
        let p = read_position(position)?;
        match self {
            Self::Wgs84(f) => {
                if !(-180.0..=180.0).contains(&p[0]) || !(-90.0..=90.0).contains(&p[1]) {
                    return Err("a position is outside longitude -180..180 / latitude -90..90");
                }
                Ok(f.to_local(p[0], p[1], p[2]))
            }
            Self::Projected { origin, .. } => {
                Ok([p[0] - origin[0], p[1] - origin[1], p[2] - origin[2]])
            }
        }
    }
}

/// `[x, y]` or `[x, y, z]` of finite numbers (extra members ignored, z defaults to 0).
fn read_position(v: &Value) -> Result<[f64; 3], &'static str> {
    let a = v
        .as_array()
        .ok_or("a position is not an array of numbers")?;
    if a.len() < 2 {
        return Err("a position has fewer than two numbers");
    }
    let num = |i: usize| {
        a.get(i)
            .map(|x| x.as_f64().ok_or("a coordinate is not a number"))
            .transpose()
    };
    let x = num(0)?.unwrap_or(f64::NAN);
    let y = num(1)?.unwrap_or(f64::NAN);
    let z = num(2)?.unwrap_or(0.0);
    if ![x, y, z].iter().all(|c| c.is_finite()) {
        return Err("a coordinate is not a finite number");
    }
    Ok([x, y, z])
}

/// Import state for one file.
struct Reader<'a> {
    options: &'a GeoJsonOptions,
    geometry: bool,
    frame: Frame,
    elements: Vec<Element>,
    meshes: Vec<crate::Mesh>,
    diagnostics: Vec<Diagnostic>,
    extra_problems: usize,
    ids: HashSet<String>,
    marker: Option<MeshId>,
    positions_left: usize,
    over_budget: usize,
}

/// What one feature's geometry became.
#[derive(Default)]
struct Built {
    placements: Vec<Placement>,
    class: Option<&'static str>,
    derived: Vec<Property>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    fn new(
        name: &str,
        doc: &Value,
        features: &[&Value],
        options: &'a GeoJsonOptions,
        geometry: bool,
    ) -> Self {
        let mut diagnostics = Vec::new();
        let crs = doc
            .get("crs")
            .and_then(|c| c.get("properties"))
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .map(normalize_crs);
        let projected =
            crs.filter(|c| !matches!(c.as_str(), "OGC:CRS84" | "EPSG:4326" | "EPSG:4979"));
        // The bounding box centre of every readable position, within the position budget.
        let mut min = [f64::INFINITY; 2];
        let mut max = [f64::NEG_INFINITY; 2];
        let mut budget = options.max_positions;
        for f in features {
            let g = if f.get("type").and_then(Value::as_str) == Some("Feature") {
                f.get("geometry")
            } else {
                Some(*f)
            };
            if let Some(g) = g {
                visit_positions(g, 0, &mut budget, &mut |p| {
                    let wgs = projected.is_none();
                    if wgs && (!(-180.0..=180.0).contains(&p[0]) || !(-90.0..=90.0).contains(&p[1]))
                    {
                        return;
                    }
                    for i in 0..2 {
                        min[i] = min[i].min(p[i]);
                        max[i] = max[i].max(p[i]);
                    }
                });
            }
        }
        let centre = if min[0] <= max[0] {
            [(min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0]
        } else {
            [0.0; 2]
        };
        let frame = match projected {
            Some(crs) => {
                diagnostics.push(city_diagnostic(
                    Severity::Info,
                    DiagnosticKind::Other,
                    None,
                    format!(
                        "{name} declares crs {crs}; its coordinates are taken as metres in that crs"
                    ),
                ));
                Frame::Projected {
                    crs,
                    origin: [centre[0].round(), centre[1].round(), 0.0],
                }
            }
            None => Frame::Wgs84(LocalFrame::new(centre[0], centre[1], 0.0)),
        };
        Self {
            options,
            geometry,
            frame,
            elements: Vec::new(),
            meshes: Vec::new(),
            diagnostics,
            extra_problems: 0,
            ids: HashSet::new(),
            marker: None,
            positions_left: options.max_positions,
            over_budget: 0,
        }
    }

    fn problem(
        &mut self,
        severity: Severity,
        kind: DiagnosticKind,
        class: Option<&str>,
        message: String,
    ) {
        if self.diagnostics.len() < MAX_DETAILED_DIAGNOSTICS {
            self.diagnostics
                .push(city_diagnostic(severity, kind, class, message));
        } else {
            self.extra_problems += 1;
        }
    }

    fn finish_diagnostics(&mut self) {
        if self.extra_problems > 0 {
            self.diagnostics.push(city_diagnostic(
                Severity::Warning,
                DiagnosticKind::Other,
                None,
                format!(
                    "{} more problems like the ones above were not listed",
                    self.extra_problems
                ),
            ));
        }
        if self.over_budget > 0 {
            self.diagnostics.push(city_diagnostic(
                Severity::Error,
                DiagnosticKind::Other,
                None,
                format!(
                    "the file has more than {} positions; {} features past the limit were skipped",
                    self.options.max_positions, self.over_budget
                ),
            ));
        }
    }

    fn read_feature(&mut self, index: usize, f: &Value) {
        let is_feature = f.get("type").and_then(Value::as_str) == Some("Feature");
        let (geometry, properties) = if is_feature {
            (
                f.get("geometry").filter(|g| !g.is_null()),
                f.get("properties").and_then(Value::as_object),
            )
        } else {
            (Some(f), None)
        };
        let id = match f.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => format!("feature-{index}"),
        };
        let mut global_id = id.clone();
        let mut n = 1;
        while !self.ids.insert(global_id.clone()) {
            n += 1;
            global_id = format!("{id}#{n}");
        }
        if !f.is_object() {
            self.problem(
                Severity::Warning,
                DiagnosticKind::MalformedRecord,
                None,
                format!("feature {index} is not a JSON object; skipped"),
            );
            return;
        }
        let positions = geometry.map_or(0, |g| {
            let mut count = usize::MAX;
            let mut n = 0usize;
            visit_positions(g, 0, &mut count, &mut |_| n += 1);
            n
        });
        if positions > self.positions_left {
            self.over_budget += 1;
            return;
        }
        self.positions_left -= positions;
        let props = Props(properties);
        let mut built = Built::default();
        if let Some(g) = geometry {
            self.build(&id, g, &props, 0, &mut built);
        }
        for p in std::mem::take(&mut built.problems) {
            self.problem(
                Severity::Warning,
                DiagnosticKind::GeometryRepaired,
                built.class,
                format!("feature {id}: {p}"),
            );
        }
        let class = built.class.unwrap_or("IfcBuildingElementProxy");
        let mut property_sets = vec![PropertySet {
            name: "GeoJSON".to_owned(),
            properties: properties
                .map(|p| p.iter().filter_map(|(k, v)| json_property(k, v)).collect())
                .unwrap_or_default(),
        }];
        let mut derived = vec![Property {
            name: "geometry_type".to_owned(),
            value: PropertyValue::Text(
                geometry
                    .and_then(|g| g.get("type"))
                    .and_then(Value::as_str)
                    .unwrap_or("none")
                    .to_owned(),
            ),
        }];
        derived.append(&mut built.derived);
        property_sets.push(PropertySet {
            name: "GeoJSON geometry".to_owned(),
            properties: derived,
        });
        self.elements.push(Element {
            step_id: 0,
            global_id,
            class: class.to_owned(),
            name: Some(props.text(&["name", "NAME", "Name", "title"]).unwrap_or(id)),
            container: Some(1),
            type_name: None,
            property_sets: property_sets.into_iter().map(Into::into).collect(),
            placements: built.placements,
            materials: Vec::new(),
        });
    }

    /// Builds one geometry (recursing into collections) into `built`.
    fn build(&mut self, id: &str, g: &Value, props: &Props, depth: usize, built: &mut Built) {
        let gtype = g.get("type").and_then(Value::as_str).unwrap_or("");
        let coords = g.get("coordinates");
        if gtype == "GeometryCollection" {
            if depth >= MAX_COLLECTION_DEPTH {
                built.problems.push(format!(
                    "geometry collections nest deeper than {MAX_COLLECTION_DEPTH}"
                ));
                return;
            }
            for child in g
                .get("geometries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.build(id, child, props, depth + 1, built);
            }
            return;
        }
        let Some(coords) = coords else {
            built
                .problems
                .push(format!("a {gtype} geometry has no coordinates"));
            return;
        };
        // Nesting depth of positions: Point 0, MultiPoint/LineString 1, … MultiPolygon 3.
        let depth_of_positions = match gtype {
            "Point" => 0,
            "MultiPoint" | "LineString" => 1,
            "MultiLineString" | "Polygon" => 2,
            "MultiPolygon" => 3,
            other => {
                self.problem(
                    Severity::Warning,
                    DiagnosticKind::Other,
                    None,
                    format!("feature {id}: unknown geometry type \"{other}\"; no geometry"),
                );
                return;
            }
        };
        match gtype {
            "Point" => self.points(std::slice::from_ref(coords), built),
            "MultiPoint" => match coords.as_array() {
                Some(points) => self.points(points, built),
                None => built.problems.push(nesting(gtype, depth_of_positions)),
            },
            "LineString" => self.lines(std::slice::from_ref(coords), props, built),
            "MultiLineString" => match coords.as_array() {
                Some(lines) => self.lines(lines, props, built),
                None => built.problems.push(nesting(gtype, depth_of_positions)),
            },
            "Polygon" => self.polygons(std::slice::from_ref(coords), props, built),
            _ => match coords.as_array() {
                Some(polygons) => self.polygons(polygons, props, built),
                None => built.problems.push(nesting(gtype, depth_of_positions)),
            },
        }
    }

    fn points(&mut self, points: &[Value], built: &mut Built) {
        built.class.get_or_insert("IfcBuildingElementProxy");
        if !built.derived.iter().any(|p| p.name == "kind") {
            built.derived.push(text_property("kind", "marker"));
        }
        for p in points {
            match self.frame.to_model(p) {
                Ok(at) => {
                    if !self.geometry {
                        continue;
                    }
                    let mesh = *self.marker.get_or_insert_with(|| {
                        let id = MeshId(self.meshes.len() as u32);
                        self.meshes.push(shapes::marker());
                        id
                    });
                    built.placements.push(Placement {
                        mesh,
                        transform: crate::geo::mesh::translation(at),
                    });
                }
                Err(e) => built.problems.push(e.to_owned()),
            }
        }
    }

    fn lines(&mut self, lines: &[Value], props: &Props, built: &mut Built) {
        let pipe = match self.options.lines {
            LineKind::Pipes => true,
            LineKind::Roads => false,
            LineKind::Auto => props.looks_like_pipe(),
        };
        let (class, kind) = if pipe {
            ("IfcPipeSegment", "pipe")
        } else {
            ("IfcCivilElement", "road")
        };
        built.class.get_or_insert(class);
        let size = if pipe {
            pipe_diameter(props)
        } else {
            road_width(props)
        };
        if !built.derived.iter().any(|p| p.name == "kind") {
            built.derived.push(text_property("kind", kind));
            let label = if pipe { "diameter" } else { "width" };
            built.derived.push(Property {
                name: label.to_owned(),
                value: PropertyValue::Real(size.value),
            });
            built
                .derived
                .push(text_property(&format!("{label}_from"), &size.from));
            if let Some(warning) = &size.warning {
                built.problems.push(warning.clone());
            }
        }
        let depth = if pipe {
            props
                .number(&["depth"])
                .filter(|d| d.is_finite())
                .unwrap_or(0.0)
        } else {
            0.0
        };
        for line in lines {
            let Some(positions) = line.as_array() else {
                built
                    .problems
                    .push("a line is not an array of positions".to_owned());
                continue;
            };
            let mut points = Vec::with_capacity(positions.len());
            for p in positions {
                match self.frame.to_model(p) {
                    Ok(mut q) => {
                        q[2] -= depth;
                        points.push(q);
                    }
                    Err(e) => {
                        built.problems.push(e.to_owned());
                        points.clear();
                        break;
                    }
                }
            }
            if points.is_empty() || !self.geometry {
                continue;
            }
            let mut b = MeshBuilder::default();
            let ok = if pipe {
                shapes::tube(&mut b, &points, size.value / 2.0)
            } else {
                shapes::ribbon(&mut b, &points, size.value)
            };
            if !ok {
                built
                    .problems
                    .push("a line has fewer than two distinct positions".to_owned());
            }
            if let Some(p) = push_centred(&mut self.meshes, b) {
                built.placements.push(p);
            }
        }
    }

    fn polygons(&mut self, polygons: &[Value], props: &Props, built: &mut Built) {
        let height = building_height(props);
        let (class, kind) = if height.is_some() {
            ("IfcBuildingElementProxy", "footprint")
        } else {
            ("IfcGeographicElement", "parcel")
        };
        built.class.get_or_insert(class);
        let base = props
            .number(&["min_height", "building:min_height"])
            .filter(|h| h.is_finite())
            .unwrap_or(0.0);
        if !built.derived.iter().any(|p| p.name == "kind") {
            built.derived.push(text_property("kind", kind));
            if let Some(h) = &height {
                built.derived.push(Property {
                    name: "height".to_owned(),
                    value: PropertyValue::Real(h.value),
                });
                built.derived.push(text_property("height_from", &h.from));
            }
        }
        for polygon in polygons {
            let Some(rings) = polygon.as_array() else {
                built
                    .problems
                    .push("a polygon is not an array of rings".to_owned());
                continue;
            };
            let mut local: Vec<Vec<[f64; 3]>> = Vec::with_capacity(rings.len());
            let mut broken = false;
            for ring in rings {
                let Some(positions) = ring.as_array() else {
                    built
                        .problems
                        .push("a ring is not an array of positions".to_owned());
                    broken = true;
                    break;
                };
                let mut points = Vec::with_capacity(positions.len());
                for p in positions {
                    match self.frame.to_model(p) {
                        Ok(q) => points.push(q),
                        Err(e) => {
                            built.problems.push(e.to_owned());
                            broken = true;
                            break;
                        }
                    }
                }
                local.push(points);
            }
            if broken || local.is_empty() || !self.geometry {
                continue;
            }
            let mut b = MeshBuilder::default();
            let result = match &height {
                Some(h) if h.value > base => shapes::prism(&mut b, &local, base, h.value),
                _ => shapes::flat(&mut b, &local, base),
            };
            if let Err(e) = result {
                built.problems.push(e.reason().to_owned());
            }
            if let Some(p) = push_centred(&mut self.meshes, b) {
                built.placements.push(p);
            }
        }
    }
}

fn nesting(gtype: &str, depth: usize) -> String {
    format!("the coordinates of a {gtype} are not nested {depth} arrays deep")
}

fn text_property(name: &str, value: &str) -> Property {
    Property {
        name: name.to_owned(),
        value: PropertyValue::Text(value.to_owned()),
    }
}

/// Calls `f` on every readable position of a geometry, spending `budget`.
fn visit_positions(g: &Value, depth: usize, budget: &mut usize, f: &mut dyn FnMut([f64; 3])) {
    if g.get("type").and_then(Value::as_str) == Some("GeometryCollection") {
        if depth < MAX_COLLECTION_DEPTH {
            for child in g
                .get("geometries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                visit_positions(child, depth + 1, budget, f);
            }
        }
        return;
    }
    if let Some(c) = g.get("coordinates") {
        visit_coordinates(c, 0, budget, f);
    }
}

fn visit_coordinates(c: &Value, depth: usize, budget: &mut usize, f: &mut dyn FnMut([f64; 3])) {
    if *budget == 0 || depth > 4 {
        return;
    }
    let Some(items) = c.as_array() else { return };
    if items.first().is_some_and(Value::is_number) {
        *budget -= 1;
        if let Ok(p) = read_position(c) {
            f(p);
        }
        return;
    }
    for item in items {
        visit_coordinates(item, depth + 1, budget, f);
    }
}

/// A feature's properties.
struct Props<'a>(Option<&'a serde_json::Map<String, Value>>);

impl Props<'_> {
    fn get(&self, keys: &[&str]) -> Option<&Value> {
        let map = self.0?;
        keys.iter()
            .find_map(|k| map.get(*k).filter(|v| !v.is_null()))
    }

    fn text(&self, keys: &[&str]) -> Option<String> {
        self.get(keys).and_then(Value::as_str).map(str::to_owned)
    }

    /// A number, or text starting with one (`"12.5 m"`, `"3;4"`), without unit handling.
    fn number(&self, keys: &[&str]) -> Option<f64> {
        self.get(keys)
            .and_then(|v| parse_measure(v).map(|(n, _)| n))
    }

    fn looks_like_pipe(&self) -> bool {
        if self
            .get(&["diameter", "diameter_mm", "DN", "dn", "nominal_diameter"])
            .is_some()
        {
            return true;
        }
        if self.text(&["man_made"]).is_some_and(|v| v == "pipeline") {
            return true;
        }
        ["type", "kind", "class", "utility"].iter().any(|k| {
            self.text(&[k])
                .is_some_and(|v| v.to_ascii_lowercase().contains("pipe"))
        })
    }
}

/// A number with an optional unit suffix: `12`, `"12.5"`, `"300 mm"`, `"3;4"` (first value).
fn parse_measure(v: &Value) -> Option<(f64, Option<String>)> {
    if let Some(n) = v.as_f64() {
        return n.is_finite().then_some((n, None));
    }
    let s = v.as_str()?.trim();
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && c == '-')))
        .map_or(s.len(), |(i, _)| i);
    let n: f64 = s[..end].replace(',', ".").parse().ok()?;
    let unit = s[end..]
        .trim()
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or("");
    n.is_finite()
        .then(|| (n, (!unit.is_empty()).then(|| unit.to_ascii_lowercase())))
}

/// A derived size and where it came from.
struct Size {
    value: f64,
    from: String,
    warning: Option<String>,
}

/// Default pipe diameter, metres.
const DEFAULT_DIAMETER: f64 = 0.3;
/// Default road width, metres.
const DEFAULT_ROAD_WIDTH: f64 = 5.0;
/// Width of one lane, metres.
const LANE_WIDTH: f64 = 3.5;
/// Height of one storey, metres.
const LEVEL_HEIGHT: f64 = 3.0;

fn unit_factor(unit: Option<&str>, default: f64) -> f64 {
    match unit {
        Some("mm") => 0.001,
        Some("cm") => 0.01,
        Some("m") => 1.0,
        _ => default,
    }
}

fn pipe_diameter(props: &Props) -> Size {
    type ToMetres = fn(f64) -> f64;
    let candidates: [(&str, ToMetres); 5] = [
        ("diameter_mm", |n| n * 0.001),
        ("DN", |n| n * 0.001),
        ("dn", |n| n * 0.001),
        ("diameter", |n| if n <= 5.0 { n } else { n * 0.001 }),
        ("nominal_diameter", |n| n * 0.001),
    ];
    for (key, convert) in candidates {
        let Some(v) = props.get(&[key]) else { continue };
        let Some((n, unit)) = parse_measure(v) else {
            return Size {
                value: DEFAULT_DIAMETER,
                from: "default".to_owned(),
                warning: Some(format!(
                    "{key} {v} is not a number; {DEFAULT_DIAMETER} m assumed"
                )),
            };
        };
        let d = match unit.as_deref() {
            Some(u @ ("mm" | "cm" | "m")) => n * unit_factor(Some(u), 1.0),
            _ => convert(n),
        };
        if d > 0.0 && d.is_finite() && d < 20.0 {
            return Size {
                value: d,
                from: key.to_owned(),
                warning: None,
            };
        }
        return Size {
            value: DEFAULT_DIAMETER,
            from: "default".to_owned(),
            warning: Some(format!(
                "{key} {v} is not a plausible diameter; {DEFAULT_DIAMETER} m assumed"
            )),
        };
    }
    Size {
        value: DEFAULT_DIAMETER,
        from: "default".to_owned(),
        warning: None,
    }
}

/// Carriageway width by OpenStreetMap `highway` class, metres.
fn highway_width(class: &str) -> Option<f64> {
    Some(match class {
        "motorway" | "trunk" => 9.0,
        "motorway_link" | "trunk_link" | "primary_link" | "secondary_link" | "tertiary_link" => 5.0,
        "primary" => 8.0,
        "secondary" => 7.0,
        "tertiary" => 6.0,
        "residential" | "unclassified" | "living_street" | "road" => 5.5,
        "pedestrian" => 5.0,
        "service" => 3.5,
        "track" | "busway" => 3.0,
        "footway" | "path" | "cycleway" | "bridleway" | "steps" | "corridor" => 2.0,
        _ => return None,
    })
}

fn road_width(props: &Props) -> Size {
    if let Some((n, unit)) = props.get(&["width"]).and_then(parse_measure) {
        let w = n * unit_factor(unit.as_deref(), 1.0);
        if w > 0.0 && w < 200.0 {
            return Size {
                value: w,
                from: "width".to_owned(),
                warning: None,
            };
        }
    }
    if let Some(lanes) = props.number(&["lanes"]).filter(|l| *l >= 1.0 && *l < 50.0) {
        return Size {
            value: lanes.round() * LANE_WIDTH,
            from: "lanes".to_owned(),
            warning: None,
        };
    }
    if let Some(w) = props.text(&["highway"]).as_deref().and_then(highway_width) {
        return Size {
            value: w,
            from: "highway".to_owned(),
            warning: None,
        };
    }
    Size {
        value: DEFAULT_ROAD_WIDTH,
        from: "default".to_owned(),
        warning: None,
    }
}

fn building_height(props: &Props) -> Option<Size> {
    for key in ["height", "building:height"] {
        if let Some((n, unit)) = props.get(&[key]).and_then(parse_measure) {
            let h = n * unit_factor(unit.as_deref(), 1.0);
            if h > 0.0 && h < 2000.0 {
                return Some(Size {
                    value: h,
                    from: key.to_owned(),
                    warning: None,
                });
            }
        }
    }
    for key in ["building:levels", "levels"] {
        if let Some(n) = props.number(&[key]).filter(|n| *n > 0.0 && *n < 300.0) {
            return Some(Size {
                value: n * LEVEL_HEIGHT,
                from: key.to_owned(),
                warning: None,
            });
        }
    }
    None
}
