//! One map: the project frame every input is placed in, coordinate conversions, and what the
//! city importers (CityJSON, GeoJSON) share (JSON dispatch, properties, meshes).
//!
//! - [`ProjectFrame`] is a project origin, given in WGS84 (lon/lat/height) and/or in a projected
//!   CRS (easting/northing/height). The local frame is metres, x east, y north, z up:
//!   - with a projected origin, x/y are that CRS's grid axes relative to the origin (inputs in the
//!     same CRS are then placed by an exact translation);
//!   - with only a WGS84 origin, x/y are the tangent-plane map of [`wgs84`] (east/north at the
//!     origin; < 1 mm from true horizontal distance within 5 km) and z is height above the
//!     origin.
//! - [`place`] puts several models into one frame and one [`Model`]. Each input's model frame
//!   is mapped to the project frame through its georeference ([`Model::georef`]): a map
//!   conversion (model → projected CRS; CityJSON's `referenceSystem`, IFC's IfcMapConversion)
//!   or a site location (model coordinates are local east/north/up metres around a WGS84 point;
//!   GeoJSON, IFC's IfcSite RefLatitude/RefLongitude). The mapping is linearised into one affine
//!   transform per input at the centre of its bounding box and applied to its placements: exact
//!   for inputs in the frame's own CRS or WGS84 frame; through a conversion (a 5 km RD tile into
//!   a WGS84 frame 10 km away) the corners land 1.4 cm from their exact conversion (tested).
//!
//! Conversions known: WGS84 ↔ the local frame (exact ellipsoidal math), and Dutch RD New
//! (EPSG:28992, 7415) ↔ WGS84 ([`rd`], ≈ 1 m approximation polynomials), and UTM zones
//! (WGS84, ETRS89, GDA94/2020 MGA, IGM95 families; [`utm`], datums taken as WGS84, < 2 m), and
//! China's CGCS2000 (EPSG:4490) with its 3-degree Gauss-Krüger zones, with and without the zone
//! prefix (EPSG:4513–4554; [`gk`], CGCS2000 taken as WGS84, < 1 m). An
//! IFC model whose map CRS is none of these but which gives its IfcSite location is placed by
//! that location (approximately, with a note). Any other projected
//! CRS can only be placed relative to inputs in the same CRS (or, when the frame gives both a
//! projected and a WGS84 origin, beside WGS84 inputs with the grid taken as east/north: grid
//! convergence and scale ignored, a diagnostic says so). Heights are taken in each source's
//! own vertical datum (no geoid model). Inputs without a georeference are placed as they are,
//! their model origin at the project origin, with an informational diagnostic.

pub(crate) mod gk;
pub(crate) mod mesh;
pub(crate) mod rd;
pub(crate) mod utm;
pub(crate) mod wgs84;

use serde_json::Value;

use crate::{
    Diagnostic, DiagnosticKind, GeoRef, ImportError, MapConversion, Model,
    PlacedSource, Property, PropertyValue, Severity, SiteLocation, SourceInfo, SpatialKind,
    SpatialNode,
};
use mesh::{IDENTITY, mat_mul};
use wgs84::LocalFrame;

/// A WGS84 position: longitude and latitude in degrees, height in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    /// Longitude, degrees east.
    pub lon: f64,
    /// Latitude, degrees north.
    pub lat: f64,
    /// Height in metres (ellipsoidal for WGS84 sources; sources' own datum otherwise).
    pub height: f64,
}

/// A position in a projected CRS, metres.
#[derive(Debug, Clone, PartialEq)]
pub struct MapPoint {
    /// The CRS, normalised to `EPSG:code` where recognised (e.g. `EPSG:7415`).
    pub crs: String,
    /// Easting.
    pub easting: f64,
    /// Northing.
    pub northing: f64,
    /// Height.
    pub height: f64,
}

/// The project's origin and local frame (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectFrame {
    /// The origin in WGS84, when known.
    pub wgs84: Option<GeoPoint>,
    /// The origin in a projected CRS; when set, local x/y are that CRS's grid axes.
    pub map: Option<MapPoint>,
}

/// A CRS this crate can convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KnownCrs {
    /// WGS84 geographic (EPSG:4326, 4979, OGC CRS84).
    Wgs84,
    /// Dutch RD New, with or without NAP heights (EPSG:28992, 7415).
    Rd,
    /// A UTM zone ([`utm`]).
    Utm(utm::Zone),
    /// A CGCS2000 3-degree Gauss-Krüger zone ([`gk`]), with or without the zone prefix.
    Gk(gk::Zone3),
}

impl KnownCrs {
    /// Projected `(easting, northing)` → WGS84 `(lon, lat)`.
    fn to_wgs84(self, e: f64, n: f64) -> (f64, f64) {
        match self {
            Self::Wgs84 => (e, n),
            Self::Rd => rd::rd_to_wgs84(e, n),
            Self::Utm(zone) => utm::from_utm(zone, e, n),
            Self::Gk(zone) => gk::from_gk(zone, e, n),
        }
    }

    /// WGS84 `(lon, lat)` → projected `(easting, northing)`.
    fn project(self, lon: f64, lat: f64) -> (f64, f64) {
        match self {
            Self::Wgs84 => (lon, lat),
            Self::Rd => rd::wgs84_to_rd(lon, lat),
            Self::Utm(zone) => utm::to_utm(zone, lon, lat),
            Self::Gk(zone) => gk::to_gk(zone, lon, lat),
        }
    }
}

/// Normalises a CRS name as written in CityJSON, GeoJSON or IFC (`EPSG:7415`,
/// `https://www.opengis.net/def/crs/EPSG/0/7415`, `urn:ogc:def:crs:EPSG::28992`,
/// `urn:ogc:def:crs:OGC:1.3:CRS84`) to `EPSG:code` or `OGC:CRS84`; other text is kept trimmed.
pub(crate) fn normalize_crs(text: &str) -> String {
    let t = text.trim();
    if t.to_ascii_uppercase().contains("CRS84") {
        return "OGC:CRS84".to_owned();
    }
    if t.to_ascii_uppercase().contains("EPSG") {
        // The code is the last run of digits before any compound '+'.
        let head = t.split('+').next().unwrap_or(t);
        let digits: String = head
            .chars()
            .rev()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if !digits.is_empty() {
            return format!("EPSG:{digits}");
        }
    }
    t.to_owned()
}

fn known_crs(normalized: &str) -> Option<KnownCrs> {
    match normalized {
        // CGCS2000 geographic (EPSG:4490, 3D 4480) is taken as WGS84 (see [`gk`]).
        "EPSG:4326" | "EPSG:4979" | "OGC:CRS84" | "EPSG:4490" | "EPSG:4480" => Some(KnownCrs::Wgs84),
        "EPSG:28992" | "EPSG:7415" => Some(KnownCrs::Rd),
        other => {
            let code = other.strip_prefix("EPSG:")?.parse().ok()?;
            utm::zone_of_epsg(code).map(KnownCrs::Utm).or_else(|| gk::zone_of_epsg(code).map(KnownCrs::Gk))
        }
    }
}

/// Whether two (normalised) CRS names share horizontal coordinates.
fn same_grid(a: &str, b: &str) -> bool {
    a == b || (known_crs(a) == Some(KnownCrs::Rd) && known_crs(b) == Some(KnownCrs::Rd))
}

impl ProjectFrame {
    /// A frame at a WGS84 origin: local x east, y north, z up.
    pub fn at_wgs84(lon: f64, lat: f64, height: f64) -> Self {
        Self {
            wgs84: Some(GeoPoint { lon, lat, height }),
            map: None,
        }
    }

    /// A frame at an origin in a projected CRS: local x/y along its grid. Its WGS84 origin is
    /// filled in where the CRS is one this crate converts (RD New, UTM).
    pub fn at_map(crs: &str, easting: f64, northing: f64, height: f64) -> Self {
        let crs = normalize_crs(crs);
        let wgs84 = match known_crs(&crs) {
            Some(KnownCrs::Wgs84) => return Self::at_wgs84(easting, northing, height),
            Some(known) => {
                let (lon, lat) = known.to_wgs84(easting, northing);
                Some(GeoPoint { lon, lat, height })
            }
            None => None,
        };
        Self {
            wgs84,
            map: Some(MapPoint {
                crs,
                easting,
                northing,
                height,
            }),
        }
    }

    /// The frame a model's own georeference implies, with its model-frame origin as the project
    /// origin; `None` for a model without one.
    pub fn of_model(model: &Model) -> Option<Self> {
        let georef = model.georef.as_ref()?;
        if let Some(mc) = &georef.map_conversion {
            let crs = mc.target_crs.as_deref()?;
            let m = map_of(mc, model.origin);
            return Some(Self::at_map(crs, m[0], m[1], m[2]));
        }
        let site = georef.site_location?;
        let h0 = site.elevation.unwrap_or(0.0);
        if model.origin == [0.0; 3] {
            return Some(Self::at_wgs84(site.longitude, site.latitude, h0));
        }
        let enu = LocalFrame::new(site.longitude, site.latitude, h0);
        let (lon, lat, h) = enu.to_geodetic(model.origin);
        Some(Self::at_wgs84(lon, lat, h))
    }

    /// The frame of the first georeferenced model, else the bare frame (no georeference:
    /// every input is placed as it is).
    pub fn choose(models: &[Model]) -> Self {
        models.iter().find_map(Self::of_model).unwrap_or_default()
    }

    /// WGS84 → local metres, with a note when approximate (grid taken as east/north).
    fn wgs84_to_local(&self, lon: f64, lat: f64, h: f64) -> Option<Local> {
        if let Some(map) = &self.map {
            if let Some(known) = known_crs(&map.crs) {
                let (x, y) = known.project(lon, lat);
                return Some(([x - map.easting, y - map.northing, h - map.height], None));
            }
            let o = self.wgs84?;
            let local = LocalFrame::new(o.lon, o.lat, o.height).to_local(lon, lat, h);
            return Some((
                local,
                Some(
                    "placed through WGS84 with the project grid taken as east/north (grid \
                     convergence and scale ignored)"
                        .to_owned(),
                ),
            ));
        }
        let o = self.wgs84?;
        Some((
            LocalFrame::new(o.lon, o.lat, o.height).to_local(lon, lat, h),
            None,
        ))
    }

    /// Projected CRS coordinates → local metres, with a note when approximate.
    fn map_to_local(&self, crs: Option<&str>, p: [f64; 3]) -> Option<Local> {
        if let Some(map) = &self.map {
            // A map conversion without a CRS name is taken to share the frame's CRS.
            if crs.is_none_or(|c| same_grid(&normalize_crs(c), &map.crs)) {
                return Some((
                    [p[0] - map.easting, p[1] - map.northing, p[2] - map.height],
                    None,
                ));
            }
        }
        let known = known_crs(&normalize_crs(crs?))?;
        let (lon, lat) = known.to_wgs84(p[0], p[1]);
        self.wgs84_to_local(lon, lat, p[2])
    }

    /// The georeference of a model in this frame (see [`Model::georef`]), and its origin.
    fn georef(&self) -> (Option<GeoRef>, [f64; 3]) {
        let site_location = self.wgs84.map(|o| SiteLocation {
            latitude: o.lat,
            longitude: o.lon,
            elevation: Some(o.height),
        });
        match &self.map {
            Some(map) => (
                Some(GeoRef {
                    map_conversion: Some(identity_conversion(&map.crs, "project frame")),
                    site_location,
                }),
                [map.easting, map.northing, map.height],
            ),
            None if site_location.is_some() => (
                Some(GeoRef {
                    map_conversion: None,
                    site_location,
                }),
                [0.0; 3],
            ),
            None => (None, [0.0; 3]),
        }
    }
}

/// A map conversion that only names the CRS: model coordinates (plus origin) are its
/// coordinates.
pub(crate) fn identity_conversion(crs: &str, source: &str) -> MapConversion {
    MapConversion {
        eastings: 0.0,
        northings: 0.0,
        orthogonal_height: 0.0,
        x_axis_abscissa: 1.0,
        x_axis_ordinate: 0.0,
        scale: 1.0,
        target_crs: Some(normalize_crs(crs)),
        source: source.to_owned(),
    }
}

/// Engineering coordinates (model origin + model point) → map coordinates.
fn map_of(mc: &MapConversion, q: [f64; 3]) -> [f64; 3] {
    let len = mc.x_axis_abscissa.hypot(mc.x_axis_ordinate);
    let (c, s) = if len > 0.0 && len.is_finite() {
        (mc.x_axis_abscissa / len, mc.x_axis_ordinate / len)
    } else {
        (1.0, 0.0)
    };
    let k = if mc.scale.is_finite() && mc.scale > 0.0 {
        mc.scale
    } else {
        1.0
    };
    [
        mc.eastings + k * (c * q[0] - s * q[1]),
        mc.northings + k * (s * q[0] + c * q[1]),
        mc.orthogonal_height + q[2],
    ]
}

/// A point in the project frame, with a note when it was placed approximately.
type Local = ([f64; 3], Option<String>);

/// How one model's frame maps into the project frame.
enum Mapping {
    /// Through its georeference: an affine transform, with a note when approximate.
    Georeferenced([f64; 16], Option<String>),
    /// Not georeferenced: placed as it is.
    AsIs,
    /// Georeferenced in a way this frame cannot convert: placed as it is, with the reason.
    Unconvertible(String),
}

/// Model point → project frame, through the model's georeference.
fn model_to_frame(
    model: &Model,
    frame: &ProjectFrame,
    p: [f64; 3],
) -> Result<Option<Local>, String> {
    let Some(georef) = &model.georef else {
        return Ok(None);
    };
    let q = [
        model.origin[0] + p[0],
        model.origin[1] + p[1],
        model.origin[2] + p[2],
    ];
    if let Some(mc) = &georef.map_conversion {
        let m = map_of(mc, q);
        if let Some(local) = frame.map_to_local(mc.target_crs.as_deref(), m) {
            return Ok(Some(local));
        }
        // IFC may also give the site's WGS84 location: use it, approximately.
        if let Some(site) = georef.site_location {
            let enu = LocalFrame::new(site.longitude, site.latitude, site.elevation.unwrap_or(0.0));
            let (lon, lat, h) = enu.to_geodetic(q);
            if let Some((p, _)) = frame.wgs84_to_local(lon, lat, h) {
                let note = format!(
                    "placed by its site location (RefLatitude/RefLongitude) because its map CRS \
                     {} is not one this crate converts; the model origin is taken to be the site",
                    mc.target_crs.as_deref().unwrap_or("(unnamed)")
                );
                return Ok(Some((p, Some(note))));
            }
        }
        return Err(format!(
            "its map CRS {} cannot be converted into the project frame ({}); it is placed as it is",
            mc.target_crs.as_deref().unwrap_or("(unnamed)"),
            frame.describe()
        ));
    }
    if let Some(site) = georef.site_location {
        let enu = LocalFrame::new(site.longitude, site.latitude, site.elevation.unwrap_or(0.0));
        let (lon, lat, h) = enu.to_geodetic(q);
        return frame.wgs84_to_local(lon, lat, h).map(Some).ok_or_else(|| {
            format!(
                "its WGS84 location cannot be converted into the project frame ({}); it is \
                 placed as it is",
                frame.describe()
            )
        });
    }
    Ok(None)
}

impl ProjectFrame {
    fn describe(&self) -> String {
        match (&self.map, &self.wgs84) {
            (Some(m), _) => format!("{} at {:.3}, {:.3}", m.crs, m.easting, m.northing),
            (None, Some(o)) => format!("WGS84 at {:.7}, {:.7}", o.lon, o.lat),
            (None, None) => "no georeference".to_owned(),
        }
    }
}

/// The affine transform (column-major) that takes `model`'s frame into `frame`, linearised at
/// the centre of its bounding box from exact conversions 100 m apart along each axis.
fn mapping(model: &Model, frame: &ProjectFrame) -> Mapping {
    let bb = model.bbox();
    let c = if bb.is_empty() {
        [0.0; 3]
    } else {
        [
            (bb.min[0] + bb.max[0]) / 2.0,
            (bb.min[1] + bb.max[1]) / 2.0,
            (bb.min[2] + bb.max[2]) / 2.0,
        ]
    };
    const STEP: f64 = 100.0;
    let at = |p: [f64; 3]| model_to_frame(model, frame, p);
    let (fc, note) = match at(c) {
        Ok(Some(v)) => v,
        Ok(None) => return Mapping::AsIs,
        Err(reason) => return Mapping::Unconvertible(reason),
    };
    let mut m = IDENTITY;
    for axis in 0..3 {
        let mut p = c;
        p[axis] += STEP;
        let Ok(Some((fp, _))) = at(p) else {
            return Mapping::Unconvertible(
                "its georeference does not convert near its centre".to_owned(),
            );
        };
        for row in 0..3 {
            m[axis * 4 + row] = (fp[row] - fc[row]) / STEP;
        }
    }
    for row in 0..3 {
        m[12 + row] = fc[row] - (m[row] * c[0] + m[4 + row] * c[1] + m[8 + row] * c[2]);
    }
    if m.iter().all(|v| v.is_finite()) {
        Mapping::Georeferenced(m, note)
    } else {
        Mapping::Unconvertible("its georeference gives non-finite coordinates".to_owned())
    }
}

/// Puts `models` into `frame` and one [`Model`]: spatial trees, elements, meshes, diagnostics
/// and schedules appended in order (indices offset), each input's placements moved into the
/// project frame, and each input recorded in [`Model::sources`]. The result's georeference is
/// the frame's, so it can itself be placed again. Use [`ProjectFrame::choose`] for the frame of
/// the first georeferenced input.
pub fn place(models: Vec<Model>, frame: &ProjectFrame) -> Model {
    let (georef, origin) = frame.georef();
    let mut out = Model {
        source: SourceInfo {
            name: models
                .iter()
                .map(|m| m.source.name.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            schema: "placed".to_owned(),
            bytes: models.iter().map(|m| m.source.bytes).sum(),
            entities: models.iter().map(|m| m.source.entities).sum(),
            length_unit_to_metres: 1.0,
            ..SourceInfo::default()
        },
        origin,
        georef,
        ..Model::default()
    };
    for model in models {
        let name = model.source.name.clone();
        let transform = match mapping(&model, frame) {
            Mapping::Georeferenced(m, note) => {
                if let Some(note) = note {
                    out.diagnostics
                        .push(info(DiagnosticKind::Other, format!("{name}: {note}")));
                }
                m
            }
            Mapping::AsIs => {
                out.diagnostics.push(info(
                    DiagnosticKind::Other,
                    format!(
                        "{name}: not georeferenced; its model origin is put at the project origin"
                    ),
                ));
                IDENTITY
            }
            Mapping::Unconvertible(reason) => {
                out.diagnostics.push(Diagnostic {
                    severity: Severity::Warning,
                    kind: DiagnosticKind::Other,
                    step_id: None,
                    class: None,
                    message: format!("{name}: {reason}"),
                });
                IDENTITY
            }
        };
        let spatial_base = out.spatial.len();
        let element_base = out.elements.len();
        let mesh_base = out.meshes.len();
        out.sources.push(PlacedSource {
            source: model.source,
            georef: model.georef,
            transform,
            first_spatial: spatial_base,
            spatial_count: model.spatial.len(),
            first_element: element_base,
            element_count: model.elements.len(),
            first_mesh: mesh_base,
            mesh_count: model.meshes.len(),
        });
        out.spatial.extend(model.spatial.into_iter().map(|mut n| {
            n.parent = n.parent.map(|p| p + spatial_base);
            n
        }));
        out.elements.make_mut().extend(model.elements.into_vec().into_iter().map(|mut e| {
            e.container = e.container.map(|c| c + spatial_base);
            for p in &mut e.placements {
                p.mesh.0 += mesh_base as u32;
                p.transform = mat_mul(&transform, &p.transform);
            }
            e
        }));
        out.meshes.extend(model.meshes);
        out.diagnostics
            .extend(model.diagnostics.into_iter().map(|mut d| {
                d.message = format!("{name}: {}", d.message);
                d
            }));
        out.connections.extend(
            model.connections.iter().map(|c| c.map(|e| e + element_base as u32)),
        );
        out.schedules
            .extend(model.schedules.into_iter().map(|mut s| {
                for t in &mut s.tasks {
                    for p in &mut t.products {
                        *p += element_base;
                    }
                }
                s
            }));
    }
    out
}

fn info(kind: DiagnosticKind, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Info,
        kind,
        step_id: None,
        class: None,
        message,
    }
}

/// Parses `bytes` as one JSON document, or says where it is broken.
pub(crate) fn parse_json(
    name: &str,
    format: &'static str,
    bytes: &[u8],
) -> Result<Value, ImportError> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(text).map_err(|e| ImportError::NotReadable {
        path: name.to_owned(),
        format,
        reason: format!(
            "invalid JSON at line {}, column {}: {}",
            e.line(),
            e.column(),
            lower_first(&e.to_string())
        ),
    })
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A JSON attribute as a property: strings, numbers and booleans typed, `null` dropped, arrays
/// and objects kept as compact JSON text.
pub(crate) fn json_property(name: &str, value: &Value) -> Option<Property> {
    let value = match value {
        Value::Null => return None,
        Value::Bool(b) => PropertyValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => PropertyValue::Integer(i),
            None => PropertyValue::Real(n.as_f64()?),
        },
        Value::String(s) => PropertyValue::Text(s.clone()),
        other => PropertyValue::Other(other.to_string()),
    };
    Some(Property {
        name: name.to_owned(),
        value,
    })
}

/// The spatial root of a city model: an `IfcProject` and one `IfcSite` under it (index 1).
pub(crate) fn city_spatial_root(project_name: &str, id_prefix: &str) -> Vec<SpatialNode> {
    vec![
        SpatialNode {
            step_id: 0,
            global_id: format!("{id_prefix}:project"),
            class: "IfcProject".to_owned(),
            kind: SpatialKind::Project,
            name: Some(project_name.to_owned()),
            parent: None,
            elevation: None,
            property_sets: Vec::new(),
        },
        SpatialNode {
            step_id: 0,
            global_id: format!("{id_prefix}:site"),
            class: "IfcSite".to_owned(),
            kind: SpatialKind::Site,
            name: Some(project_name.to_owned()),
            parent: Some(0),
            elevation: None,
            property_sets: Vec::new(),
        },
    ]
}

/// A diagnostic about a city object or feature (no STEP id; the message names it).
pub(crate) fn city_diagnostic(
    severity: Severity,
    kind: DiagnosticKind,
    class: Option<&str>,
    message: String,
) -> Diagnostic {
    Diagnostic {
        severity,
        kind,
        step_id: None,
        class: class.map(str::to_owned),
        message,
    }
}

#[cfg(test)]
mod tests;
