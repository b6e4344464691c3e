//! Project units: the length unit that scales geometry and length measures to metres, and the
//! area/volume units that scale quantities to m² and m³.

use ifc_lite_core::{EntityDecoder, ProjectUnits};

use super::diagnostic;
use super::source::Scanned;
use crate::{Diagnostic, DiagnosticKind, Severity};

/// Unit factors of the file, to SI.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Units {
    /// Metres per file length unit.
    pub(crate) length_to_metres: f64,
    /// Square metres per file area unit.
    pub(crate) area_to_m2: f64,
    /// Cubic metres per file volume unit.
    pub(crate) volume_to_m3: f64,
    /// Radians per file plane-angle unit.
    pub(crate) plane_angle_to_radians: f64,
}

impl Units {
    /// Factor to SI for a unit type token (`LENGTHUNIT`, `AREAUNIT`, `VOLUMEUNIT`), if it is one
    /// the importer converts.
    pub(crate) fn factor_for_unit_type(&self, unit_type: &str) -> Option<f64> {
        match unit_type {
            "LENGTHUNIT" => Some(self.length_to_metres),
            "AREAUNIT" => Some(self.area_to_m2),
            "VOLUMEUNIT" => Some(self.volume_to_m3),
            _ => None,
        }
    }
}

impl Default for Units {
    fn default() -> Self {
        Self {
            length_to_metres: 1.0,
            area_to_m2: 1.0,
            volume_to_m3: 1.0,
            plane_angle_to_radians: 1.0,
        }
    }
}

/// Resolves the units of the (first) IfcProject; metres are assumed, with a diagnostic, where
/// they cannot be resolved.
pub(crate) fn resolve(
    decoder: &mut EntityDecoder,
    scanned: &Scanned,
    diagnostics: &mut Vec<Diagnostic>,
) -> Units {
    let projects = scanned.records_of("IFCPROJECT");
    let mut projects = projects.iter();
    let Some(project) = projects.next() else {
        diagnostics.push(diagnostic(
            Severity::Warning,
            DiagnosticKind::UnitAssumed,
            None,
            None,
            "the file has no IfcProject, so no unit assignment; metres were assumed",
        ));
        return Units::default();
    };
    if let Some(other) = projects.next() {
        diagnostics.push(diagnostic(
            Severity::Warning,
            DiagnosticKind::Other,
            Some(other.id),
            Some("IfcProject"),
            format!(
                "more than one IfcProject; units are taken from the first, #{}",
                project.id
            ),
        ));
    }
    // ifc-lite checks in debug builds that each attribute is read from a record of the
    // expected class, and panics on type-confused input (a unit reference to the wrong kind of
    // record): fall back to metres rather than fail the file.
    let resolved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ProjectUnits::resolve(decoder, project.id)
    }));
    let Ok(project_units) = resolved else {
        diagnostics.push(diagnostic(
            Severity::Warning,
            DiagnosticKind::UnitAssumed,
            Some(project.id),
            Some("IfcProject"),
            "the unit assignment refers to records of the wrong kind; metres were assumed",
        ));
        return Units::default();
    };
    let scales = project_units.scales();
    let mut units = Units::default();
    let declared = project_units.resolved_for_unit_type("LENGTHUNIT").is_some();
    let length = scales.length_unit_scale;
    if let Some(factor) = scales.length_unit_refused {
        diagnostics.push(diagnostic(
            Severity::Warning,
            DiagnosticKind::UnitAssumed,
            Some(factor),
            None,
            format!("the length unit's conversion factor #{factor} is not a positive finite number; metres were assumed"),
        ));
    } else if !declared || !length.is_finite() || length <= 0.0 {
        diagnostics.push(diagnostic(
            Severity::Info,
            DiagnosticKind::UnitAssumed,
            Some(project.id),
            Some("IfcProject"),
            "no usable length unit is assigned to the project; metres were assumed",
        ));
    } else {
        units.length_to_metres = length;
    }
    let angle = scales.plane_angle_to_radians;
    if angle.is_finite() && angle > 0.0 {
        units.plane_angle_to_radians = angle;
    }
    let si = |unit_type: &str| {
        project_units
            .resolved_for_unit_type(unit_type)
            .map(|u| u.si_scale)
            .filter(|s| s.is_finite() && *s > 0.0)
    };
    units.area_to_m2 = si("AREAUNIT").unwrap_or(1.0);
    units.volume_to_m3 = si("VOLUMEUNIT").unwrap_or(1.0);
    units
}
