//! Class questions answered for the file's declared schema: what category a keyword falls in
//! (spatial, element, opening …) and how the schema spells the class (`IfcWallStandardCase`).

use std::collections::HashMap;

use ifc_lite_core::{IfcType, SchemaVersion};

use crate::SpatialKind;

/// What the importer does with instances of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Category {
    /// IfcProject: root of the spatial tree.
    Project,
    /// A spatial element: a node of the spatial tree.
    Spatial(SpatialKind),
    /// A physical element.
    Element,
    /// A product that is an element only if it carries body geometry (annotation, grid, port …).
    ElementIfBody,
    /// Anything else (openings, relationships, geometry, resources).
    Ignored,
}

/// Classifier for one schema, memoised per keyword.
#[derive(Debug)]
pub(crate) struct Schema {
    version: SchemaVersion,
    memo: HashMap<String, Category>,
}

/// Products that are not physical elements; kept only when they carry body geometry.
const NON_PHYSICAL: &[&str] = &[
    "IFCANNOTATION",
    "IFCGRID",
    "IFCPORT",
    "IFCPOSITIONINGELEMENT",
    "IFCLINEARPOSITIONINGELEMENT",
    "IFCLINEARELEMENT",
    "IFCREFERENT",
    "IFCSTRUCTURALITEM",
    "IFCSTRUCTURALACTIVITY",
    "IFCVIRTUALELEMENT",
    "IFCPROXY",
];

impl Schema {
    pub(crate) fn new(version: SchemaVersion) -> Self {
        Self {
            version,
            memo: HashMap::new(),
        }
    }

    /// Whether `keyword` is `parent` or one of its subtypes, in the declared schema (falling back
    /// to ifc-lite's merged type universe for keywords the declared schema does not know).
    pub(crate) fn is_a(&self, keyword: &str, parent: &str) -> bool {
        if self.version.entity_info(keyword).is_some() {
            return self.version.is_subtype_of(keyword, parent);
        }
        let ty = IfcType::from_str(keyword);
        if matches!(ty, IfcType::Unknown(_)) {
            return false;
        }
        let parent = IfcType::from_str(parent);
        !matches!(parent, IfcType::Unknown(_)) && ty.is_subtype_of(parent)
    }

    /// The category of `keyword`.
    pub(crate) fn category(&mut self, keyword: &str) -> Category {
        if let Some(c) = self.memo.get(keyword) {
            return *c;
        }
        let c = self.compute_category(keyword);
        self.memo.insert(keyword.to_owned(), c);
        c
    }

    fn compute_category(&self, keyword: &str) -> Category {
        let upper = keyword.to_ascii_uppercase();
        if upper == "IFCPROJECT" {
            return Category::Project;
        }
        // Exporters' pre-final IFC4X3 strata (IfcSolidStratum …) are geometry-bearing elements.
        if ifc_lite_core::is_exporter_stratum_alias(&upper) {
            return Category::Element;
        }
        if !self.is_a(&upper, "IFCPRODUCT") {
            return Category::Ignored;
        }
        if self.is_a(&upper, "IFCSPATIALELEMENT") || self.is_a(&upper, "IFCSPATIALSTRUCTUREELEMENT")
        {
            let kind = match upper.as_str() {
                "IFCSITE" => SpatialKind::Site,
                "IFCBUILDING" => SpatialKind::Building,
                "IFCBUILDINGSTOREY" => SpatialKind::Storey,
                "IFCSPACE" => SpatialKind::Space,
                _ => SpatialKind::Other,
            };
            return Category::Spatial(kind);
        }
        // An earthworks cut is a subtraction feature in IFC4X3, but it is also the excavated
        // volume itself, which a site model shows (IfcOpenShell meshes it too).
        if upper == "IFCEARTHWORKSCUT" {
            return Category::ElementIfBody;
        }
        if self.is_a(&upper, "IFCFEATUREELEMENTSUBTRACTION") {
            return Category::Ignored;
        }
        if NON_PHYSICAL.iter().any(|p| self.is_a(&upper, p)) {
            return Category::ElementIfBody;
        }
        Category::Element
    }
}

/// The class name as the schema spells it (`IFCWALLSTANDARDCASE` → `IfcWallStandardCase`);
/// a keyword no schema knows is returned as written.
pub(crate) fn class_name(keyword: &str) -> String {
    match IfcType::from_str(keyword) {
        IfcType::Unknown(_) => match keyword.to_ascii_uppercase().as_str() {
            "IFCSOLIDSTRATUM" => "IfcSolidStratum".to_owned(),
            "IFCVOIDSTRATUM" => "IfcVoidStratum".to_owned(),
            "IFCWATERSTRATUM" => "IfcWaterStratum".to_owned(),
            _ => keyword.to_owned(),
        },
        ty => ty.name().to_owned(),
    }
}
