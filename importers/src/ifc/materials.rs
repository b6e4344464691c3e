//! Materials: IfcRelAssociatesMaterial folded into the material names of each object (element
//! or type), whatever shape the association takes (a material, a layer set or its usage, a
//! profile set or its usage, a constituent set, a material list).

use std::collections::HashMap;

use ifc_lite_core::{DecodedEntity, EntityDecoder};

use super::diagnostic;
use super::properties::text;
use super::source::Scanned;
use crate::{Diagnostic, DiagnosticKind, Severity};

/// How deep material definitions are followed (usage → set → layer → material).
const MAX_DEPTH: usize = 4;

/// Material names by associated object `#id` (occurrences and types alike).
pub(crate) type MaterialsByObject = HashMap<u32, Vec<String>>;

/// Reads every IfcRelAssociatesMaterial of the file.
pub(crate) fn read(
    scanned: &Scanned,
    decoder: &mut EntityDecoder,
    diagnostics: &mut Vec<Diagnostic>,
) -> MaterialsByObject {
    let mut by_object = MaterialsByObject::new();
    let mut names_of: HashMap<u32, Vec<String>> = HashMap::new();
    for record in scanned.records_of("IFCRELASSOCIATESMATERIAL") {
        let Ok(rel) = decoder.decode_by_id(record.id) else {
            continue;
        };
        // IfcRelAssociatesMaterial: RelatedObjects 4, RelatingMaterial 5.
        let Some(material) = rel.get_ref(5) else {
            continue;
        };
        if !scanned.contains(material) {
            diagnostics.push(diagnostic(
                Severity::Warning,
                DiagnosticKind::DanglingReference,
                Some(record.id),
                Some("IfcRelAssociatesMaterial"),
                format!("#{} refers to the material #{material}, which does not exist; the association is ignored", record.id),
            ));
            continue;
        }
        let names = names_of
            .entry(material)
            .or_insert_with(|| {
                let mut out = Vec::new();
                collect(decoder, material, 0, &mut out);
                out
            })
            .clone();
        if names.is_empty() {
            continue;
        }
        for object in rel.get_refs(4).unwrap_or_default() {
            let list = by_object.entry(object).or_default();
            for name in &names {
                if !list.contains(name) {
                    list.push(name.clone());
                }
            }
        }
    }
    by_object
}

/// Adds the material names under `id` to `out`, in definition order, without repeats.
fn collect(decoder: &mut EntityDecoder, id: u32, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entity) = decoder.decode_by_id(id) else {
        return;
    };
    let push = |name: Option<String>, out: &mut Vec<String>| {
        if let Some(name) = name
            && !out.contains(&name)
        {
            out.push(name);
        }
    };
    let follow =
        |decoder: &mut EntityDecoder, entity: &DecodedEntity, at: usize, out: &mut Vec<String>| {
            for member in entity.get_refs(at).unwrap_or_default() {
                collect(decoder, member, depth + 1, out);
            }
        };
    match entity.ifc_type.as_str() {
        "IFCMATERIAL" => push(text(&entity, 0), out),
        // Usages: ForLayerSet / ForProfileSet at 0.
        "IFCMATERIALLAYERSETUSAGE"
        | "IFCMATERIALPROFILESETUSAGE"
        | "IFCMATERIALPROFILESETUSAGETAPERING" => follow(decoder, &entity, 0, out),
        // IfcMaterialLayerSet: MaterialLayers 0. IfcMaterialList: Materials 0.
        "IFCMATERIALLAYERSET" | "IFCMATERIALLIST" => follow(decoder, &entity, 0, out),
        // IfcMaterialLayer(WithOffsets): Material 0.
        "IFCMATERIALLAYER" | "IFCMATERIALLAYERWITHOFFSETS" => follow(decoder, &entity, 0, out),
        // IfcMaterialProfileSet: MaterialProfiles 2. IfcMaterialConstituentSet: constituents 2.
        "IFCMATERIALPROFILESET" | "IFCMATERIALCONSTITUENTSET" => follow(decoder, &entity, 2, out),
        // IfcMaterialProfile(WithOffsets): Material 2. IfcMaterialConstituent: Material 2.
        "IFCMATERIALPROFILE" | "IFCMATERIALPROFILEWITHOFFSETS" | "IFCMATERIALCONSTITUENT" => {
            follow(decoder, &entity, 2, out)
        }
        _ => {}
    }
}
