//! Connections between elements through their ports: which element is connected to which in a
//! pipe, duct or cable network, as the model says it (the twin's utility networks use them
//! before any snapping by position).
//!
//! A port (IFC4 `IfcDistributionPort`, IFC2X3 `IfcDistributionPort` or `IfcFlowPort`) belongs to
//! an element through `IfcRelNests` (IFC4: RelatingObject 4 = the element, RelatedObjects 5 =
//! its ports) or `IfcRelConnectsPortToElement` (IFC2X3, deprecated in IFC4: RelatingPort 4,
//! RelatedElement 5). Two ports are connected by `IfcRelConnectsPorts` (RelatingPort 4,
//! RelatedPort 5, RealizingElement 6): their elements are then connected, each through the
//! realizing element when one is named (a coupling that is not itself ported).

use std::collections::{BTreeSet, HashMap, HashSet};

use ifc_lite_core::EntityDecoder;

use super::diagnostic;
use super::source::Scanned;
use crate::{Diagnostic, DiagnosticKind, Severity};

/// Pairs of element indices (lower first, each pair once) connected through their ports.
pub(crate) fn read(
    scanned: &Scanned,
    decoder: &mut EntityDecoder,
    elements: &super::ElementIndex<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<[u32; 2]> {
    // Only the records of these classes: looked up in the scan's keyword table.
    let ids =
        |class: &str| -> Vec<u32> { scanned.records_of(class).iter().map(|r| r.id).collect() };
    let connects = ids("IFCRELCONNECTSPORTS");
    if connects.is_empty() {
        return Vec::new();
    }
    let ports: HashSet<u32> = scanned
        .records_where(|k| {
            k.eq_ignore_ascii_case("IFCDISTRIBUTIONPORT")
                || k.eq_ignore_ascii_case("IFCFLOWPORT")
                || k.eq_ignore_ascii_case("IFCPORT")
        })
        .iter()
        .map(|r| r.id)
        .collect();
    let nests = ids("IFCRELNESTS");
    let to_element = ids("IFCRELCONNECTSPORTTOELEMENT");
    // Port → the element it belongs to (its step id).
    let mut owner: HashMap<u32, u32> = HashMap::new();
    for id in nests {
        let Ok(rel) = decoder.decode_by_id(id) else { continue };
        let Some(parent) = rel.get_ref(4) else { continue };
        for child in rel.get_refs(5).unwrap_or_default() {
            if ports.contains(&child) {
                owner.entry(child).or_insert(parent);
            }
        }
    }
    for id in to_element {
        let Ok(rel) = decoder.decode_by_id(id) else { continue };
        if let (Some(port), Some(element)) = (rel.get_ref(4), rel.get_ref(5)) {
            owner.entry(port).or_insert(element);
        }
    }
    let mut pairs: BTreeSet<[u32; 2]> = BTreeSet::new();
    let mut link = |a: usize, b: usize| {
        if a != b {
            let (a, b) = (a.min(b) as u32, a.max(b) as u32);
            pairs.insert([a, b]);
        }
    };
    for id in connects {
        let Ok(rel) = decoder.decode_by_id(id) else { continue };
        let element_of_port = |port: Option<u32>| port.and_then(|p| owner.get(&p)).and_then(|e| elements.get(e)).copied();
        let (a, b) = (element_of_port(rel.get_ref(4)), element_of_port(rel.get_ref(5)));
        let (Some(a), Some(b)) = (a, b) else {
            diagnostics.push(diagnostic(
                Severity::Info,
                DiagnosticKind::Other,
                Some(id),
                Some("IfcRelConnectsPorts"),
                "a connected port belongs to no element of the model; the connection is left out",
            ));
            continue;
        };
        match rel.get_ref(6).and_then(|r| elements.get(&r)).copied() {
            Some(between) => {
                link(a, between);
                link(between, b);
            }
            None => link(a, b),
        }
    }
    pairs.into_iter().collect()
}
