//! Georeference: the map conversion (IfcMapConversion with its IfcProjectedCRS, or the IFC2X3
//! `ePSet_MapConversion`, read through ifc-lite's extractor) and the site's RefLatitude /
//! RefLongitude / RefElevation, both kept where both are present.

use std::panic::{AssertUnwindSafe, catch_unwind};

use ifc_lite_core::{AttributeValue, EntityDecoder, GeoRefExtractor, GeoRefSource, IfcType, Token};
use rayon::prelude::*;

use super::diagnostic;
use super::record::Records;
use super::source::Scanned;
use super::units::Units;
use crate::{Diagnostic, DiagnosticKind, GeoRef, MapConversion, Severity, SiteLocation};

/// Reads the georeference, `None` when the file has neither a map conversion nor a site location.
pub(crate) fn read(
    bytes: &[u8],
    scanned: &Scanned,
    decoder: &mut EntityDecoder,
    units: &Units,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<GeoRef> {
    let georef = GeoRef {
        map_conversion: map_conversion(bytes, scanned, decoder, units, diagnostics),
        site_location: site_location(scanned, decoder, units),
    };
    (georef.map_conversion.is_some() || georef.site_location.is_some()).then_some(georef)
}

/// IfcMapConversion (first one) or the IFC2X3 property-set form, in metres.
fn map_conversion(
    bytes: &[u8],
    scanned: &Scanned,
    decoder: &mut EntityDecoder,
    units: &Units,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<MapConversion> {
    let candidates = scanned.records_where(|keyword| {
        let k = keyword.as_bytes();
        k.get(..16)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"IFCMAPCONVERSION"))
            || k.len()
                .checked_sub(3)
                .is_some_and(|at| k[at..].eq_ignore_ascii_case(b"CRS"))
            || [
                "IFCRIGIDOPERATION",
                "IFCPROJECT",
                "IFCWELLKNOWNTEXT",
                "IFCPROPERTYSET",
            ]
            .iter()
            .any(|name| keyword.eq_ignore_ascii_case(name))
    });
    // The class of each keyword, once; property sets that cannot be the IFC2X3 map
    // conversion's are left out (on every core), the others kept in file order.
    let classes: Vec<Option<IfcType>> = {
        let mut wanted = vec![false; scanned.keywords.len()];
        for r in &candidates {
            wanted[r.keyword as usize] = true;
        }
        scanned
            .keywords
            .iter()
            .zip(wanted)
            .map(|(&keyword, wanted)| wanted.then(|| IfcType::from_str(keyword)))
            .collect()
    };
    let records = Records::new(bytes, scanned);
    let types: Vec<(u32, IfcType)> = candidates
        .par_iter()
        .with_min_len(1024)
        .filter_map(|r| {
            let class = classes[r.keyword as usize].clone()?;
            (class != IfcType::IfcPropertySet || may_name_a_georef_set(records, r.id))
                .then_some((r.id, class))
        })
        .collect();
    if types.is_empty() {
        return None;
    }
    let extracted = catch_unwind(AssertUnwindSafe(|| {
        GeoRefExtractor::extract(decoder, &types)
    }));
    let georef = match extracted {
        Ok(Ok(Some(g))) => g,
        Ok(Ok(None)) => return None,
        Ok(Err(err)) => {
            diagnostics.push(diagnostic(
                Severity::Warning,
                DiagnosticKind::BadAttribute,
                None,
                Some("IfcMapConversion"),
                format!(
                    "the map conversion cannot be read: {}",
                    super::properties::lower(&err.to_string())
                ),
            ));
            return None;
        }
        Err(_) => {
            diagnostics.push(diagnostic(
                Severity::Error,
                DiagnosticKind::BadAttribute,
                None,
                Some("IfcMapConversion"),
                "ifc-lite panicked while reading the map conversion; it is ignored",
            ));
            return None;
        }
    };
    let source = match georef.source {
        Some(GeoRefSource::MapConversion) => "IfcMapConversion",
        Some(GeoRefSource::EPSetMapConversion) => "ePSet_MapConversion",
        // The site location is read separately, in degrees.
        Some(GeoRefSource::SiteLocation) | None => return None,
    };
    // Offsets are in the CRS's map unit; without one, in the project length unit.
    let to_metres = georef
        .map_unit_scale
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(units.length_to_metres);
    let finite = |v: f64, default: f64| if v.is_finite() { v } else { default };
    Some(MapConversion {
        eastings: finite(georef.eastings, 0.0) * to_metres,
        northings: finite(georef.northings, 0.0) * to_metres,
        orthogonal_height: finite(georef.orthogonal_height, 0.0) * to_metres,
        x_axis_abscissa: finite(georef.x_axis_abscissa, 1.0),
        x_axis_ordinate: finite(georef.x_axis_ordinate, 0.0),
        scale: finite(georef.scale, 1.0),
        target_crs: georef.crs_name.clone(),
        source: source.to_owned(),
    })
}

/// Whether property set `#id` may be one ifc-lite's extractor reads as the IFC2X3 map
/// conversion (`ePSet_MapConversion`, `ePSet_ProjectedCRS`, its Name matched ignoring case):
/// false only for a set whose record reads as a [`super::record::Flat`] (so it decodes)
/// with a Name that is not a string, or a plain one (no escapes, which every reader decodes
/// to its bytes) that is neither name. The extractor reads every set it is given, and a
/// district has one per element or more.
fn may_name_a_georef_set(records: Records, id: u32) -> bool {
    let Some(flat) = records.flat(id) else {
        return true;
    };
    if flat.count() <= 2 {
        return false;
    }
    match flat.token(2) {
        Some(Token::String(raw)) => {
            raw.contains(&b'\\')
                || raw.eq_ignore_ascii_case(b"ePSet_MapConversion")
                || raw.eq_ignore_ascii_case(b"ePSet_ProjectedCRS")
        }
        Some(Token::Null | Token::Derived | Token::EntityRef(_) | Token::Enum(_)) => false,
        _ => true,
    }
}

/// RefLatitude (9), RefLongitude (10) and RefElevation (11) of the first IfcSite that has both
/// angles.
fn site_location(
    scanned: &Scanned,
    decoder: &mut EntityDecoder,
    units: &Units,
) -> Option<SiteLocation> {
    for record in scanned.records_of("IFCSITE") {
        let Ok(site) = decoder.decode_by_id(record.id) else {
            continue;
        };
        let (Some(latitude), Some(longitude)) = (
            site.get(9).and_then(compound_angle_degrees),
            site.get(10).and_then(compound_angle_degrees),
        ) else {
            continue;
        };
        if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=360.0).contains(&longitude) {
            continue;
        }
        let elevation = site
            .get_float(11)
            .filter(|v| v.is_finite())
            .map(|v| v * units.length_to_metres);
        return Some(SiteLocation {
            latitude,
            longitude,
            elevation,
        });
    }
    None
}

/// IfcCompoundPlaneAngleMeasure `(degrees, minutes, seconds[, millionths of a second])` in
/// decimal degrees; every component carries the sign.
pub(crate) fn compound_angle_degrees(value: &AttributeValue) -> Option<f64> {
    let list = match value {
        AttributeValue::Typed { value, .. } => value.as_list()?,
        other => other.as_list()?,
    };
    let part = |i: usize| list.get(i).and_then(AttributeValue::as_float);
    let degrees = part(0)?;
    let minutes = part(1).unwrap_or(0.0);
    let seconds = part(2).unwrap_or(0.0);
    let millionths = part(3).unwrap_or(0.0);
    let result = degrees + minutes / 60.0 + seconds / 3600.0 + millionths / 3.6e9;
    result.is_finite().then_some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only sets whose Name cannot be either IFC2X3 georeference set are left out: a plain
    /// other name, or no name; escaped names and records outside the flat grammar are kept.
    #[test]
    fn property_sets_that_may_name_a_georeference_are_kept() {
        let text = "ISO-10303-21;\nHEADER;\nFILE_SCHEMA(('IFC2X3'));\nENDSEC;\nDATA;\n\
            #1=IFCPROPERTYSET('a',$,'Pset_WallCommon',$,(#9));\n\
            #2=IFCPROPERTYSET('b',$,'ePset_MapConversion',$,(#9));\n\
            #3=IFCPROPERTYSET('c',$,'e\\X\\50Set_MapConversion',$,(#9));\n\
            #4=IFCPROPERTYSET('d',$,$,$,(#9));\n\
            #5=IFCPROPERTYSET( 'e',$,'Other',$,(#9));\n\
            #6=IFCPROPERTYSET('f',$,'EPSET_PROJECTEDCRS',$,(#9));\n\
            #9=IFCPROPERTYSINGLEVALUE('x',$,$,$);\nENDSEC;\nEND-ISO-10303-21;\n";
        let scanned = super::super::source::scan(text.as_bytes()).expect("the file scans");
        let records = Records::new(text.as_bytes(), &scanned);
        let kept: Vec<u32> = (1..=6)
            .filter(|&id| may_name_a_georef_set(records, id))
            .collect();
        assert_eq!(kept, [2, 3, 5, 6]);
    }

    #[test]
    fn compound_angles_become_decimal_degrees_with_their_sign() {
        let angle = |parts: &[i64]| {
            AttributeValue::List(parts.iter().map(|&p| AttributeValue::Integer(p)).collect())
        };
        let north = compound_angle_degrees(&angle(&[49, 1, 48, 0])).unwrap_or(f64::NAN);
        assert!((north - 49.03).abs() < 1e-9, "{north}");
        let west = compound_angle_degrees(&angle(&[-8, -30, 0, -500_000])).unwrap_or(f64::NAN);
        assert!((west + 8.500_138_888).abs() < 1e-6, "{west}");
        assert_eq!(compound_angle_degrees(&AttributeValue::Null), None);
    }
}
