//! Importing while handing out what is ready: the model's semantics as soon as the file is
//! parsed, then its meshed elements in batches, building by building, while the rest is
//! still meshing (so a server can send the first triangles long before the last are made).

use std::ops::Range;

use crate::{Model, SpatialKind};

/// What [`crate::import_streaming`] hands out, in this order: `Parsed` once, then `Meshed` batches
/// until every element is meshed; the call then returns the complete model.
#[derive(Debug, Clone)]
pub enum ImportEvent<'a> {
    /// The file is parsed: spatial tree, elements with their semantics, georeference and
    /// schedules are final; no element has placements yet and there are no meshes (the
    /// diagnostics come with the complete model).
    Parsed {
        /// The model so far.
        model: &'a Model,
    },
    /// Some elements are meshed: their placements are final.
    Meshed(MeshBatch<'a>),
}

/// Elements meshed together: one building (or one part of a large one), or the elements
/// outside any building.
#[derive(Debug, Clone)]
pub struct MeshBatch<'a> {
    /// The model so far: every element of earlier batches and of this one is meshed.
    pub model: &'a Model,
    /// The building (index into [`Model::spatial`]) these elements are in, `None` for
    /// elements outside any building (site works, pipes, unused type geometry).
    pub building: Option<usize>,
    /// The elements (indices into [`Model::elements`]) whose placements this batch made
    /// final, in importance order: the envelope (walls, slabs, roofs, columns, beams) first,
    /// then doors and windows, then the rest, each in file order.
    pub elements: &'a [usize],
    /// Meshes added to [`Model::meshes`] by this batch (earlier batches' meshes are reused
    /// by id: a receiver that kept them needs only these).
    pub new_meshes: Range<usize>,
}

/// A model that was imported whole (or read from the cache), handed out as if streamed:
/// parsed, then one batch.
pub fn hand_out_whole(model: &Model, on_event: &mut dyn FnMut(ImportEvent<'_>)) {
    // Field by field: cloning the model whole would copy its meshes only to drop them.
    let bare = Model {
        source: model.source.clone(),
        spatial: model.spatial.clone(),
        elements: model.elements.without_placements(),
        meshes: Vec::new(),
        diagnostics: model.diagnostics.clone(),
        origin: model.origin,
        georef: model.georef.clone(),
        schedules: model.schedules.clone(),
        sources: model.sources.clone(),
        connections: model.connections.clone(),
    };
    on_event(ImportEvent::Parsed { model: &bare });
    drop(bare);
    let elements: Vec<usize> = (0..model.elements.len())
        .filter(|&i| !model.elements.at(i).placements.is_empty())
        .collect();
    on_event(ImportEvent::Meshed(MeshBatch {
        model,
        building: None,
        elements: &elements,
        new_meshes: 0..model.meshes.len(),
    }));
}

/// The building that spatial node `node` is in (itself, or its nearest `Building`
/// ancestor), if any.
pub(crate) fn building_of(model: &Model, node: Option<usize>) -> Option<usize> {
    let mut at = node;
    // A malformed tree could loop: a real one is a few levels deep.
    for _ in 0..64 {
        let i = at?;
        let n = model.spatial.get(i)?;
        if n.kind == SpatialKind::Building {
            return Some(i);
        }
        at = n.parent;
    }
    None
}

/// Rank of an element class in a building's batch: 0 the envelope and structure (what gives
/// a building its shape from afar), 1 doors and windows, 2 the rest.
pub(crate) fn importance_rank(class: &str) -> u8 {
    const ENVELOPE: [&str; 10] = [
        "IfcWall",
        "IfcWallStandardCase",
        "IfcCurtainWall",
        "IfcRoof",
        "IfcSlab",
        "IfcColumn",
        "IfcBeam",
        "IfcPlate",
        "IfcCovering",
        "IfcFooting",
    ];
    if ENVELOPE.iter().any(|c| class.eq_ignore_ascii_case(c)) {
        0
    } else if ["IfcDoor", "IfcWindow"]
        .iter()
        .any(|c| class.eq_ignore_ascii_case(c))
    {
        1
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImportConfig, import_streaming};

    #[test]
    fn envelope_comes_before_openings_before_the_rest() {
        assert_eq!(importance_rank("IfcWallStandardCase"), 0);
        assert_eq!(importance_rank("IfcRoof"), 0);
        assert_eq!(importance_rank("IfcWindow"), 1);
        assert_eq!(importance_rank("IfcFurniture"), 2);
    }

    /// A generated district streamed: one `Parsed` first, then batches per building whose
    /// elements are meshed when handed out, envelope first; together they cover exactly the
    /// elements with geometry of the returned model, which equals a plain import's in
    /// everything but mesh ids.
    #[test]
    fn a_district_streams_per_building_and_ends_as_a_plain_import() {
        let config = renewtwin_generator::DistrictConfig {
            buildings: 3,
            seed: 7,
            ..Default::default()
        };
        let text = renewtwin_generator::district_ifc(&config);
        let mut events = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut meshes_so_far = 0;
        let model = import_streaming(
            "district.ifc",
            text.as_bytes(),
            &ImportConfig::default(),
            &mut |event| match event {
                ImportEvent::Parsed { model } => {
                    assert!(events.is_empty(), "Parsed comes first, once");
                    assert!(model.meshes.is_empty() && !model.elements.is_empty());
                    assert!(model.elements.iter().all(|e| e.placements.is_empty()));
                    events.push(None);
                }
                ImportEvent::Meshed(batch) => {
                    assert!(!events.is_empty(), "a batch before Parsed");
                    assert_eq!(
                        batch.new_meshes.start, meshes_so_far,
                        "meshes are handed out once, in order"
                    );
                    meshes_so_far = batch.new_meshes.end;
                    assert_eq!(batch.model.meshes.len(), meshes_so_far);
                    let ranks: Vec<u8> = batch
                        .elements
                        .iter()
                        .map(|&i| importance_rank(batch.model.elements.at(i).class))
                        .collect();
                    assert!(
                        ranks.windows(2).all(|w| w[0] <= w[1]),
                        "importance order: {ranks:?}"
                    );
                    for &i in batch.elements {
                        let element = batch.model.elements.at(i);
                        assert!(
                            !element.placements.is_empty(),
                            "#{} handed out unmeshed",
                            element.step_id
                        );
                        assert!(seen.insert(i), "#{} handed out twice", element.step_id);
                        assert_eq!(building_of(batch.model, element.container), batch.building);
                    }
                    events.push(Some(batch.building));
                }
            },
        )
        .expect("a generated district imports");
        let buildings: std::collections::BTreeSet<_> = events.iter().flatten().flatten().collect();
        assert_eq!(
            buildings.len(),
            3,
            "one or more batches per building: {events:?}"
        );
        let meshed: std::collections::BTreeSet<usize> = (0..model.elements.len())
            .filter(|&i| !model.elements.at(i).placements.is_empty())
            .collect();
        assert_eq!(seen, meshed);
        let plain = crate::import_bytes("district.ifc", text.as_bytes(), &ImportConfig::default())
            .expect("a generated district imports");
        assert_eq!(plain.meshes.len(), model.meshes.len());
        assert_eq!(plain.placed_triangles(), model.placed_triangles());
        assert_eq!(plain.diagnostics.len(), model.diagnostics.len());
        for (a, b) in plain.elements.iter().zip(&model.elements) {
            assert_eq!(a.placements.len(), b.placements.len(), "#{}", a.step_id);
            for (p, q) in a.placements.iter().zip(b.placements) {
                assert_eq!(p.transform, q.transform);
                let (m, n) = (
                    &plain.meshes[p.mesh.0 as usize],
                    &model.meshes[q.mesh.0 as usize],
                );
                assert_eq!(
                    (&m.positions, &m.normals, &m.indices),
                    (&n.positions, &n.normals, &n.indices)
                );
            }
        }
    }
}
