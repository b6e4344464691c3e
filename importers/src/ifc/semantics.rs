//! Semantics: the spatial tree (IfcRelAggregates), elements with their container
//! (IfcRelContainedInSpatialStructure, else inherited through their aggregate parent), type
//! (IfcRelDefinesByType) and property/quantity sets (IfcRelDefinesByProperties, type sets
//! inherited and overridden by the occurrence's own).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use ifc_lite_core::{AttributeValue, DecodedEntity, EntityDecoder, IfcType};
use rayon::prelude::*;

use super::diagnostic;
use super::materials::MaterialsByObject;
use super::properties::{PropertyReader, lower, text};
use super::schema::{Category, Schema, class_name};
use super::record::{Records, ShapeRepresentation, ShapeRepresentations, Tokens};
use super::source::Scanned;
use super::units::Units;
use crate::{Diagnostic, DiagnosticKind, Element, PropertySet, Severity, SpatialKind, SpatialNode};

/// How far an aggregate chain is followed to find a container.
const MAX_AGGREGATE_DEPTH: usize = 64;

/// An element whose body representation should be meshed.
#[derive(Debug, Clone)]
pub(crate) struct GeometryJob {
    /// Index into the element list.
    pub(crate) element: usize,
    /// Its `#id`.
    pub(crate) step_id: u32,
    /// Its class, for diagnostics.
    pub(crate) class: String,
    /// What to mesh.
    pub(crate) source: JobSource,
    /// Whether it has a body representation (so a missing mesh is worth a diagnostic).
    pub(crate) body: bool,
    /// The mapped items, when the body consists of mapped items only (instancing candidate).
    pub(crate) mapped: Vec<MappedBody>,
}

/// Where an element's geometry comes from.
#[derive(Debug, Clone)]
pub(crate) enum JobSource {
    /// The product's own representation, openings cut.
    Product,
    /// The representation maps (`#id`s) of a type object that no occurrence uses.
    TypeMaps(Vec<u32>),
}

/// What [`read`] produces.
#[derive(Debug, Default)]
pub(crate) struct Semantic {
    pub(crate) spatial: Vec<SpatialNode>,
    pub(crate) elements: Vec<Element>,
    pub(crate) geometry_jobs: Vec<GeometryJob>,
}

/// Relationships, folded into maps keyed by the related object.
#[derive(Debug)]
struct Relations {
    /// child → aggregate parent.
    parent: IdMap<u32>,
    /// element → spatial container.
    container: IdMap<u32>,
    /// object → type object.
    type_of: IdMap<u32>,
    /// object → property set definitions, in relationship order.
    psets: IdMap<Vec<u32>>,
}

/// A read-only map keyed by `#id`, entries in id order. The element reader looks every
/// element up in several of these, in id order on every core: where a map holds many of the
/// file's ids (ids are nearly always numbered densely from 1), a slot per id up to the
/// largest (4 bytes each) finds the entry with one indexed load, and neighbouring elements
/// find neighbouring entries; a map of few entries (or sparse ids) keeps a hash map of
/// positions.
#[derive(Debug)]
struct IdMap<V> {
    slots: Slots,
    keys: Vec<u32>,
    values: Vec<V>,
}

/// Where [`IdMap`] finds an id's entry.
#[derive(Debug)]
enum Slots {
    /// Indexed by id: entry position + 1, 0 for none.
    Dense(Vec<u32>),
    /// Entry position by id.
    Hashed(HashMap<u32, u32>),
}

/// An [`IdMap`] gets a slot per id when it has at least one entry per this many ids.
const ID_MAP_DENSITY: usize = 16;

impl<V> IdMap<V> {
    /// The entries `keys` (ascending, unique, at most `max_id`) → `values`.
    fn from_sorted(keys: Vec<u32>, values: Vec<V>, max_id: u32) -> Self {
        let slots = match keys.last() {
            Some(&last)
                if last <= max_id
                    && (max_id as usize) < keys.len().saturating_mul(ID_MAP_DENSITY) =>
            {
                let mut slots = vec![0u32; max_id as usize + 1];
                for (at, &id) in keys.iter().enumerate() {
                    // At most one entry per id up to `max_id`, itself under 2^32.
                    slots[id as usize] = at as u32 + 1;
                }
                Slots::Dense(slots)
            }
            _ => Slots::Hashed(
                keys.iter()
                    .enumerate()
                    .map(|(at, &id)| (id, at as u32))
                    .collect(),
            ),
        };
        Self {
            slots,
            keys,
            values,
        }
    }

    /// The entry of `#id`.
    fn get(&self, id: &u32) -> Option<&V> {
        let at = match &self.slots {
            Slots::Dense(slots) => slots.get(*id as usize)?.checked_sub(1)?,
            Slots::Hashed(positions) => *positions.get(id)?,
        };
        self.values.get(at as usize)
    }

    /// The values, in id order.
    fn values(&self) -> std::slice::Iter<'_, V> {
        self.values.iter()
    }
}

impl IdMap<u32> {
    /// `(id, value)` pairs in order, the first value of each id kept.
    fn first_of(mut pairs: Vec<(u32, u32)>, max_id: u32) -> Self {
        // Stable: the first pair of an id stays first.
        pairs.sort_by_key(|&(id, _)| id);
        pairs.dedup_by_key(|&mut (id, _)| id);
        let (keys, values) = pairs.into_iter().unzip();
        Self::from_sorted(keys, values, max_id)
    }
}

impl IdMap<Vec<u32>> {
    /// `(id, value)` pairs in order, the values of each id gathered in order (`None` adds
    /// the id without a value).
    fn gather(mut pairs: Vec<(u32, Option<u32>)>, max_id: u32) -> Self {
        // Stable: an id's values keep their order.
        pairs.sort_by_key(|&(id, _)| id);
        let (mut keys, mut values): (Vec<u32>, Vec<Vec<u32>>) = (Vec::new(), Vec::new());
        for run in pairs.chunk_by(|a, b| a.0 == b.0) {
            keys.push(run[0].0);
            values.push(run.iter().filter_map(|&(_, value)| value).collect());
        }
        Self::from_sorted(keys, values, max_id)
    }
}

impl<'a, V> IntoIterator for &'a IdMap<V> {
    type Item = (&'a u32, &'a V);
    type IntoIter = std::iter::Zip<std::slice::Iter<'a, u32>, std::slice::Iter<'a, V>>;

    /// `(id, value)` in id order.
    fn into_iter(self) -> Self::IntoIter {
        self.keys.iter().zip(self.values.iter())
    }
}

/// Reads the spatial tree and the elements.
pub(crate) fn read(
    bytes: &[u8],
    scanned: &Scanned,
    schema: &mut Schema,
    units: &Units,
    materials: &MaterialsByObject,
    decoder: &mut EntityDecoder,
    diagnostics: &mut Vec<Diagnostic>,
) -> Semantic {
    let started = std::time::Instant::now();
    let phase = |name: &str| {
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "ifc semantics: {name}");
    };
    let mut spatial_ids: Vec<(u32, SpatialKind)> = Vec::new();
    let mut type_ids: Vec<u32> = Vec::new();
    let mut element_ids: Vec<(u32, bool)> = Vec::new();
    let mut rel_ids: Vec<(u32, Rel)> = Vec::new();
    // What each record is, decided once per distinct keyword.
    #[derive(Clone, Copy)]
    enum Kind {
        Rel(Rel),
        Spatial(SpatialKind),
        Element(bool),
        Type,
        Other,
    }
    let kinds: Vec<Kind> = scanned
        .keywords
        .iter()
        .map(|&keyword| match Rel::of(keyword) {
            Some(rel) => Kind::Rel(rel),
            None => match schema.category(keyword) {
                Category::Project => Kind::Spatial(SpatialKind::Project),
                Category::Spatial(kind) => Kind::Spatial(kind),
                Category::Element => Kind::Element(false),
                Category::ElementIfBody => Kind::Element(true),
                Category::Ignored if schema.is_a(keyword, "IFCTYPEPRODUCT") => Kind::Type,
                Category::Ignored => Kind::Other,
            },
        })
        .collect();
    for r in &scanned.records {
        match kinds[r.keyword as usize] {
            Kind::Rel(rel) => rel_ids.push((r.id, rel)),
            Kind::Spatial(kind) => spatial_ids.push((r.id, kind)),
            Kind::Element(needs_body) => element_ids.push((r.id, needs_body)),
            Kind::Type => type_ids.push(r.id),
            Kind::Other => {}
        }
    }
    phase("classified");
    let records = Records::new(bytes, scanned);
    let relations = fold_relations(records, scanned, decoder, &rel_ids, diagnostics);
    phase("relations");
    let (mut spatial, spatial_index) =
        spatial_tree(decoder, &spatial_ids, &relations, units, diagnostics);
    phase("spatial tree");
    let shapes = shared_shapes(records, scanned, element_ids.len());
    let records = records.with_shapes(&shapes);
    phase("shared shapes");

    let mut reader = PropertyReader::new(*units, records);
    // Every set a relationship assigns, read ahead on every core (diagnostics on first use).
    let new_decoder = || scanned.decoder(bytes);
    let mut pset_ids: Vec<u32> = relations.psets.values().flatten().copied().collect();
    pset_ids.sort_unstable();
    pset_ids.dedup();
    reader.prefill(&pset_ids, new_decoder);
    phase("property sets");
    for node in &mut spatial {
        for &pset in relations
            .psets
            .get(&node.step_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let Some(set) = reader.read(decoder, pset, diagnostics) {
                merge_set(&mut node.property_sets, set);
            }
        }
    }
    element_ids.sort_unstable_by_key(|(id, _)| *id);
    let types = read_types(&element_ids, &relations, &reader, new_decoder);
    phase("types");
    // Every element that uses a set shares the reader's one copy of it.
    let read: Vec<ElementRead> = element_ids
        .par_iter()
        .map_init(new_decoder, |decoder, &(id, needs_body)| {
            let read = read_element(
                decoder,
                records,
                id,
                needs_body,
                scanned,
                &relations,
                &spatial_index,
                &types,
                &reader,
                materials,
            );
            super::bound_cache(decoder);
            read
        })
        .collect();
    phase("elements");
    // Merged in file order; a type's and a set's diagnostics come with their first use.
    let mut types_used = HashSet::default();
    let mut elements = Vec::with_capacity(read.len());
    // At most one job per element read (orphan types may add a few more).
    let mut geometry_jobs = Vec::with_capacity(read.len());
    for r in read {
        let Some(e) = r.element else {
            diagnostics.extend(r.diagnostics);
            continue;
        };
        let id = e.step_id;
        if let Some(type_id) = r.type_id
            && types_used.insert(type_id)
            && let Some(read) = types.get(&type_id)
        {
            diagnostics.extend(read.diagnostics.iter().cloned());
            for &pset in &read.read_ahead {
                reader.take_pending(pset, diagnostics);
            }
        }
        // The element's own sets, as `relations` lists them.
        for &(pset, _) in &r.own_sets {
            reader.take_pending(pset, diagnostics);
        }
        diagnostics.extend(r.diagnostics);
        let mut e = e;
        for set in r.own_sets.into_iter().filter_map(|(_, set)| set) {
            merge_set(&mut e.property_sets, set);
        }
        if let Some((body, mapped)) = r.job {
            geometry_jobs.push(GeometryJob {
                element: elements.len(),
                step_id: id,
                class: e.class.to_owned(),
                source: JobSource::Product,
                body,
                mapped,
            });
        }
        elements.push(e);
    }
    phase("merged");
    orphan_types(
        decoder,
        &mut type_ids,
        &relations,
        materials,
        &mut reader,
        &mut elements,
        &mut geometry_jobs,
        diagnostics,
    );
    // The elements live as long as the model: no spare capacity (orphan types pushed past
    // the reservation double it).
    elements.shrink_to_fit();
    phase("orphan types");
    // Freeing them (a vector per related object, an entity per shared representation) is
    // left to the pool, beside the phases that follow on this thread.
    rayon::spawn(move || drop((relations, shapes)));
    Semantic {
        spatial,
        elements,
        geometry_jobs,
    }
}

/// One element as a worker read it: the element (without materials), its geometry job
/// (body, mapped items) if meshable, and its own diagnostics; `element` is `None` when it is
/// skipped or cannot be decoded.
struct ElementRead {
    element: Option<Element>,
    /// The element's own sets (`#id`, the set if it is one the importer reads), in order, to
    /// merge over its type's.
    own_sets: Vec<(u32, Option<Arc<PropertySet>>)>,
    /// Its type object, if any.
    type_id: Option<u32>,
    job: Option<(bool, Vec<MappedBody>)>,
    diagnostics: Vec<Diagnostic>,
}

/// The types the elements use, read once each on every core: name and own property sets,
/// with the diagnostics of reading them (given out with the type's first use).
type TypesRead = HashMap<u32, TypeRead>;

/// One type as a worker read it (see [`read_type`]).
struct TypeRead {
    read: (Option<String>, Vec<Arc<PropertySet>>),
    read_ahead: Vec<u32>,
    diagnostics: Vec<Diagnostic>,
}

fn read_types<'a>(
    element_ids: &[(u32, bool)],
    relations: &Relations,
    reader: &PropertyReader,
    new_decoder: impl Fn() -> EntityDecoder<'a> + Sync,
) -> TypesRead {
    let mut type_ids: Vec<u32> = element_ids
        .iter()
        .filter_map(|(id, _)| relations.type_of.get(id).copied())
        .collect();
    type_ids.sort_unstable();
    type_ids.dedup();
    type_ids
        .par_iter()
        .map_init(&new_decoder, |decoder, &type_id| {
            let (mut diagnostics, mut read_ahead) = (Vec::new(), Vec::new());
            let read = read_type(decoder, type_id, reader, &mut read_ahead, &mut diagnostics);
            (
                type_id,
                TypeRead {
                    read,
                    read_ahead,
                    diagnostics,
                },
            )
        })
        .collect()
}

/// Reads element `#id` (see [`ElementRead`]).
#[allow(clippy::too_many_arguments)] // the reader's shared state, read-only
fn read_element(
    decoder: &mut EntityDecoder,
    records: Records,
    id: u32,
    needs_body: bool,
    scanned: &Scanned,
    relations: &Relations,
    spatial_index: &HashMap<u32, usize>,
    types: &TypesRead,
    reader: &PropertyReader,
    materials: &MaterialsByObject,
) -> ElementRead {
    let mut diagnostics = Vec::new();
    let entity = match ElementRecord::read(decoder, records, id) {
        Ok(e) => e,
        Err(err) => {
            diagnostics.push(diagnostic(
                Severity::Warning,
                DiagnosticKind::MalformedRecord,
                Some(id),
                None,
                format!(
                    "element #{id} cannot be decoded: {}",
                    lower(&err.to_string())
                ),
            ));
            return ElementRead {
                element: None,
                own_sets: Vec::new(),
                type_id: None,
                job: None,
                diagnostics,
            };
        }
    };
    let class = class_name(entity.select.ifc_type.as_str());
    let shape = shape_of(decoder, records, &entity, scanned, &class, &mut diagnostics);
    if needs_body && !shape.body {
        return ElementRead {
            element: None,
            own_sets: Vec::new(),
            type_id: None,
            job: None,
            diagnostics,
        };
    }
    let container = container_of(id, relations, spatial_index);
    let (type_name, property_sets) = match relations.type_of.get(&id) {
        Some(type_id) => types
            .get(type_id)
            .map(|t| t.read.clone())
            .unwrap_or_default(),
        None => (None, Vec::new()),
    };
    let own = relations
        .psets
        .get(&id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let own_sets = own
        .iter()
        .map(|&pset| match reader.peek(pset) {
            Some(set) => (pset, set.clone()),
            // Read ahead with every set of `relations`: only a set that failed to be read
            // ahead lands here, and then reads (and reports) the same way again.
            None => (
                pset,
                reader
                    .read_uncached(decoder, pset, &mut diagnostics)
                    .map(Arc::new),
            ),
        })
        .collect();
    let global_id = entity.global_id.unwrap_or_else(|| {
        diagnostics.push(diagnostic(
            Severity::Warning,
            DiagnosticKind::BadAttribute,
            Some(id),
            Some(&class),
            "the element has no GlobalId",
        ));
        String::new()
    });
    ElementRead {
        own_sets,
        type_id: relations.type_of.get(&id).copied(),
        job: shape.meshable.then_some((shape.body, shape.mapped)),
        element: Some(Element {
            step_id: id,
            global_id,
            name: entity.name,
            class,
            container,
            type_name,
            property_sets,
            placements: Vec::new(),
            materials: materials
                .get(&id)
                .or_else(|| relations.type_of.get(&id).and_then(|t| materials.get(t)))
                .cloned()
                .unwrap_or_default(),
        }),
        diagnostics,
    }
}

/// Type objects whose body geometry no occurrence uses become elements of the type's class
/// (`IfcBoilerType`), so type-only files (product libraries) still show their geometry.
#[allow(clippy::too_many_arguments)] // the reader's shared state, passed down as in `read`
fn orphan_types(
    decoder: &mut EntityDecoder,
    type_ids: &mut [u32],
    relations: &Relations,
    materials: &MaterialsByObject,
    reader: &mut PropertyReader,
    elements: &mut Vec<Element>,
    jobs: &mut Vec<GeometryJob>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let used: HashSet<u32> = relations.type_of.values().copied().collect();
    type_ids.sort_unstable();
    for &id in type_ids.iter().filter(|id| !used.contains(id)) {
        let Ok(entity) = decoder.decode_by_id(id) else {
            continue;
        };
        // IfcTypeProduct.RepresentationMaps is attribute 6; each map's MappedRepresentation is 1.
        let maps: Vec<u32> = entity
            .get_refs(6)
            .unwrap_or_default()
            .into_iter()
            .filter(|&map| {
                decoder
                    .decode_by_id(map)
                    .ok()
                    .and_then(|m| m.get_ref(1))
                    .and_then(|rep| decoder.decode_by_id(rep).ok())
                    .is_some_and(|rep| {
                        is_body_identifier(text(&rep, 1).as_deref(), text(&rep, 2).as_deref())
                    })
            })
            .collect();
        if maps.is_empty() {
            continue;
        }
        let class = class_name(entity.ifc_type.as_str());
        let mut read_ahead = Vec::new();
        let (type_name, property_sets) =
            read_type(decoder, id, reader, &mut read_ahead, diagnostics);
        for pset in read_ahead {
            reader.take_pending(pset, diagnostics);
        }
        jobs.push(GeometryJob {
            element: elements.len(),
            step_id: id,
            class: class.clone(),
            source: JobSource::TypeMaps(maps),
            body: true,
            mapped: Vec::new(),
        });
        elements.push(Element {
            step_id: id,
            global_id: text(&entity, 0).unwrap_or_default(),
            class,
            name: type_name.clone(),
            container: None,
            type_name,
            property_sets,
            placements: Vec::new(),
            materials: materials.get(&id).cloned().unwrap_or_default(),
        });
    }
}

/// Whether a shape representation's identifier/type names body geometry.
fn is_body_identifier(identifier: Option<&str>, rep_type: Option<&str>) -> bool {
    match identifier {
        Some(i) => i.eq_ignore_ascii_case("Body") || i.eq_ignore_ascii_case("Facetation"),
        None => matches!(
            rep_type,
            Some(
                "SweptSolid"
                    | "Brep"
                    | "AdvancedBrep"
                    | "CSG"
                    | "Clipping"
                    | "Tessellation"
                    | "SurfaceModel"
                    | "SolidModel"
                    | "MappedRepresentation"
            )
        ),
    }
}

/// The relationship kinds the importer folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Aggregates,
    Contained,
    DefinesByType,
    DefinesByProperties,
}

impl Rel {
    fn of(keyword: &str) -> Option<Self> {
        let eq = |k: &str| keyword.eq_ignore_ascii_case(k);
        if eq("IFCRELAGGREGATES") {
            Some(Self::Aggregates)
        } else if eq("IFCRELCONTAINEDINSPATIALSTRUCTURE") {
            Some(Self::Contained)
        } else if eq("IFCRELDEFINESBYTYPE") {
            Some(Self::DefinesByType)
        } else if eq("IFCRELDEFINESBYPROPERTIES") {
            Some(Self::DefinesByProperties)
        } else {
            None
        }
    }

    fn class(self) -> &'static str {
        match self {
            Self::Aggregates => "IfcRelAggregates",
            Self::Contained => "IfcRelContainedInSpatialStructure",
            Self::DefinesByType => "IfcRelDefinesByType",
            Self::DefinesByProperties => "IfcRelDefinesByProperties",
        }
    }
}

/// What one relationship record says: the relating object, the related objects, and (for
/// `IfcRelDefinesByProperties`) the sets it assigns when attribute 5 is a set of sets.
struct RelRead {
    one: Option<u32>,
    related: Vec<u32>,
    sets: Option<Vec<u32>>,
}

impl RelRead {
    /// Attribute positions: Aggregates: RelatingObject 4, RelatedObjects 5. Contained:
    /// RelatedElements 4, RelatingStructure 5. Defines: RelatedObjects 4,
    /// RelatingType/Definition 5.
    fn at(rel: Rel) -> (usize, usize) {
        match rel {
            Rel::Aggregates => (4, 5),
            _ => (5, 4),
        }
    }

    fn of_tokens(tokens: &Tokens, rel: Rel) -> Self {
        let (one_at, many_at) = Self::at(rel);
        Self {
            one: tokens.get_ref(one_at),
            related: tokens.get_refs(many_at).unwrap_or_default(),
            sets: (rel == Rel::DefinesByProperties)
                .then(|| tokens.ref_members(5))
                .flatten(),
        }
    }

    fn of_entity(entity: &DecodedEntity, rel: Rel) -> Self {
        let (one_at, many_at) = Self::at(rel);
        Self {
            one: entity.get_ref(one_at),
            related: entity.get_refs(many_at).unwrap_or_default(),
            sets: (rel == Rel::DefinesByProperties)
                .then(|| {
                    entity.get(5).and_then(|v| v.as_ref_members()).map(|members| {
                        members.iter().filter_map(|m| m.as_entity_ref()).collect()
                    })
                })
                .flatten(),
        }
    }
}

fn fold_relations(
    records: Records,
    scanned: &Scanned,
    decoder: &mut EntityDecoder,
    rels: &[(u32, Rel)],
    diagnostics: &mut Vec<Diagnostic>,
) -> Relations {
    // Read on every core straight from the records.
    let read: Vec<Option<RelRead>> = rels
        .par_iter()
        .with_min_len(256)
        .map(|&(id, rel)| records.read(id).map(|t| RelRead::of_tokens(&t, rel)))
        .collect();
    // What each relationship says, by its position in `rels`, and the diagnostics of each
    // (by that position too, to be given out in file order).
    let mut said: Vec<(usize, RelRead)> = Vec::with_capacity(read.len());
    let mut found: Vec<(usize, Diagnostic)> = Vec::new();
    for (at, (&(id, rel), read)) in rels.iter().zip(read).enumerate() {
        match read {
            Some(read) => said.push((at, read)),
            // Not readable from its bytes: the decoder fails the same way and says why.
            None => match decoder.decode_by_id(id) {
                Ok(entity) => said.push((at, RelRead::of_entity(&entity, rel))),
                Err(err) => found.push((
                    at,
                    diagnostic(
                        Severity::Warning,
                        DiagnosticKind::MalformedRecord,
                        Some(id),
                        Some(rel.class()),
                        format!(
                            "relationship #{id} cannot be decoded: {}",
                            lower(&err.to_string())
                        ),
                    ),
                )),
            },
        }
    }
    // Each kind folded on its own worker, in file order (the first link of an object wins;
    // property sets gather), and laid out by id.
    let max_id = scanned.max_id;
    let first = |kind| {
        let (pairs, found) = fold_kind(scanned, rels, &said, kind, |pairs, object, one, _| {
            pairs.push((object, one));
        });
        (IdMap::first_of(pairs, max_id), found)
    };
    let (((parent, mut a), (container, mut b)), ((type_of, mut c), (psets, mut d))) =
        rayon::join(
            || rayon::join(|| first(Rel::Aggregates), || first(Rel::Contained)),
            || {
                rayon::join(
                    || first(Rel::DefinesByType),
                    || {
                        let (pairs, found) = fold_kind(
                            scanned,
                            rels,
                            &said,
                            Rel::DefinesByProperties,
                            |pairs, object, one, read| match &read.sets {
                                // IFC4 IfcRelDefinesByProperties may relate a set of
                                // property sets (typed list).
                                Some(members) if members.is_empty() => pairs.push((object, None)),
                                Some(members) => {
                                    pairs.extend(members.iter().map(|&m| (object, Some(m))));
                                }
                                None => pairs.push((object, Some(one))),
                            },
                        );
                        (IdMap::gather(pairs, max_id), found)
                    },
                )
            },
        );
    for part in [&mut a, &mut b, &mut c, &mut d] {
        found.append(part);
    }
    // Stable: a relationship's own diagnostics keep their order.
    found.sort_by_key(|(at, _)| *at);
    diagnostics.extend(found.into_iter().map(|(_, d)| d));
    Relations {
        parent,
        container,
        type_of,
        psets,
    }
}

/// The relationships of `kind` among `said` (positions in `rels`, in file order) as pairs
/// that `link(pairs, related object, relating object, what the relationship says)` adds, in
/// file order, with the diagnostics of links to records that do not exist.
fn fold_kind<P>(
    scanned: &Scanned,
    rels: &[(u32, Rel)],
    said: &[(usize, RelRead)],
    kind: Rel,
    link: impl Fn(&mut Vec<P>, u32, u32, &RelRead),
) -> (Vec<P>, Vec<(usize, Diagnostic)>) {
    let mut pairs = Vec::new();
    let mut found = Vec::new();
    let dangling = |at: usize, id: u32, missing: u32| {
        (
            at,
            diagnostic(
                Severity::Warning,
                DiagnosticKind::DanglingReference,
                Some(id),
                Some(kind.class()),
                format!("#{id} refers to #{missing}, which does not exist; that link is ignored"),
            ),
        )
    };
    for (at, read) in said {
        let (id, rel) = rels[*at];
        if rel != kind {
            continue;
        }
        let Some(one) = read.one else {
            found.push((
                *at,
                diagnostic(
                    Severity::Warning,
                    DiagnosticKind::BadAttribute,
                    Some(id),
                    Some(rel.class()),
                    format!("#{id} has no relating object"),
                ),
            ));
            continue;
        };
        if !scanned.contains(one) {
            found.push(dangling(*at, id, one));
            continue;
        }
        for &object in &read.related {
            if !scanned.contains(object) {
                found.push(dangling(*at, id, object));
                continue;
            }
            link(&mut pairs, object, one, read);
        }
    }
    (pairs, found)
}

/// Builds the tree, parents before children (depth first, siblings by `#id`).
fn spatial_tree(
    decoder: &mut EntityDecoder,
    ids: &[(u32, SpatialKind)],
    relations: &Relations,
    units: &Units,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Vec<SpatialNode>, HashMap<u32, usize>) {
    let kinds: HashMap<u32, SpatialKind> = ids.iter().copied().collect();
    let parent_of = |id: u32| {
        relations
            .parent
            .get(&id)
            .or_else(|| relations.container.get(&id))
            .copied()
            .filter(|p| kinds.contains_key(p) && *p != id)
    };
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut roots = Vec::new();
    for &(id, _) in ids {
        match parent_of(id) {
            Some(p) => children.entry(p).or_default().push(id),
            None => roots.push(id),
        }
    }
    roots.sort_unstable();
    for c in children.values_mut() {
        c.sort_unstable();
    }
    let mut order: Vec<(u32, Option<u32>)> = Vec::with_capacity(ids.len());
    let mut seen = HashSet::default();
    let mut stack: Vec<(u32, Option<u32>)> = roots.iter().rev().map(|&r| (r, None)).collect();
    let mut all: Vec<u32> = ids.iter().map(|(id, _)| *id).collect();
    all.sort_unstable();
    let mut leftovers = all.into_iter();
    loop {
        while let Some((id, parent)) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            order.push((id, parent));
            if let Some(c) = children.get(&id) {
                stack.extend(c.iter().rev().map(|&child| (child, Some(id))));
            }
        }
        // Nodes caught in an aggregation cycle are never reached from a root: make one a root.
        match leftovers.find(|id| !seen.contains(id)) {
            Some(id) => {
                diagnostics.push(diagnostic(
                    Severity::Warning,
                    DiagnosticKind::BadAttribute,
                    Some(id),
                    None,
                    format!("#{id} is part of an aggregation cycle; it is treated as a root"),
                ));
                stack.push((id, None));
            }
            None => break,
        }
    }

    let mut index = HashMap::with_capacity_and_hasher(order.len(), Default::default());
    let mut nodes = Vec::with_capacity(order.len());
    for (id, parent) in order {
        let kind = kinds.get(&id).copied().unwrap_or(SpatialKind::Other);
        let (global_id, class, name, elevation) = match decoder.decode_by_id(id) {
            Ok(e) => {
                let class = class_name(e.ifc_type.as_str());
                let elevation = (kind == SpatialKind::Storey)
                    .then(|| e.get_float(9))
                    .flatten()
                    .filter(|v| v.is_finite())
                    .map(|v| v * units.length_to_metres);
                (
                    text(&e, 0).unwrap_or_default(),
                    class,
                    text(&e, 2),
                    elevation,
                )
            }
            Err(err) => {
                diagnostics.push(diagnostic(
                    Severity::Warning,
                    DiagnosticKind::MalformedRecord,
                    Some(id),
                    None,
                    format!(
                        "spatial element #{id} cannot be decoded: {}",
                        lower(&err.to_string())
                    ),
                ));
                (String::new(), String::new(), None, None)
            }
        };
        index.insert(id, nodes.len());
        nodes.push(SpatialNode {
            step_id: id,
            global_id,
            class,
            kind,
            name,
            parent: parent.and_then(|p| index.get(&p).copied()),
            elevation,
            property_sets: Vec::new(),
        });
    }
    (nodes, index)
}

/// The spatial node containing `id`: its own container, or its aggregate parent's.
fn container_of(id: u32, relations: &Relations, spatial: &HashMap<u32, usize>) -> Option<usize> {
    let mut current = id;
    for _ in 0..MAX_AGGREGATE_DEPTH {
        if let Some(c) = relations
            .container
            .get(&current)
            .and_then(|c| spatial.get(c))
        {
            return Some(*c);
        }
        let parent = *relations.parent.get(&current)?;
        if let Some(&node) = spatial.get(&parent) {
            return Some(node);
        }
        current = parent;
    }
    None
}

/// A type object's name and its own property sets (`HasPropertySets`, attribute 5).
/// Sets found read ahead in `reader` are listed in `read_ahead` (their diagnostics are pending
/// there, for the caller to take with the type's first use).
fn read_type(
    decoder: &mut EntityDecoder,
    type_id: u32,
    reader: &PropertyReader,
    read_ahead: &mut Vec<u32>,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Option<String>, Vec<Arc<PropertySet>>) {
    let Ok(entity) = decoder.decode_by_id(type_id) else {
        return (None, Vec::new());
    };
    let mut sets = Vec::new();
    for pset in entity.get_refs(5).unwrap_or_default() {
        let set = match reader.peek(pset) {
            Some(set) => {
                // Read ahead: its diagnostics, if any, are pending there.
                read_ahead.push(pset);
                set.clone()
            }
            None => reader
                .read_uncached(decoder, pset, diagnostics)
                .map(Arc::new),
        };
        if let Some(set) = set {
            merge_set(&mut sets, set);
        }
    }
    (text(&entity, 2), sets)
}

/// Adds `set`; a set of the same name (inherited from the type) has its properties overridden,
/// in a copy of its own (the inherited one stays shared by the type's other occurrences).
fn merge_set(sets: &mut Vec<Arc<PropertySet>>, set: Arc<PropertySet>) {
    let Some(existing) = sets.iter_mut().find(|s| s.name == set.name) else {
        sets.push(set);
        return;
    };
    let existing = Arc::make_mut(existing);
    for prop in &set.properties {
        match existing.properties.iter_mut().find(|p| p.name == prop.name) {
            Some(p) => p.value = prop.value.clone(),
            None => existing.properties.push(prop.clone()),
        }
    }
}

/// What a product's representation offers.
#[derive(Debug, Clone, Default)]
struct Shape {
    /// ifc-lite would mesh one of its representations.
    meshable: bool,
    /// One of those is a body (`Body` identifier, or an unnamed solid/surface/mapped one).
    body: bool,
    /// The body representation consists of IfcMappedItems only: their maps and targets.
    mapped: Vec<MappedBody>,
}

/// One IfcMappedItem of a body made of mapped items only: a candidate for instancing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MappedBody {
    /// The IfcRepresentationMap (MappingSource).
    pub(crate) map: u32,
    /// The IfcCartesianTransformationOperator3D (MappingTarget), if any.
    pub(crate) target: Option<u32>,
}

/// What the element reader needs of an element record: its GlobalId, Name and
/// Representation, and the entity that representation selection looks at.
struct ElementRecord {
    global_id: Option<String>,
    name: Option<String>,
    representation: Option<u32>,
    /// What `ifc_lite_geometry::meshed_representations` reads of the element: its id and
    /// class and, for an `IfcAnnotation` (whose `ObjectType` marks a drawing camera), every
    /// attribute. Other classes carry no attributes: selection (ifc-lite 28.2) reads none.
    select: DecodedEntity,
}

impl ElementRecord {
    /// Reads `#id` from its tokens; a record that does not tokenize goes through the
    /// decoder, which fails the same way and gives the error its message.
    fn read(
        decoder: &mut EntityDecoder,
        records: Records,
        id: u32,
    ) -> ifc_lite_core::Result<Self> {
        // Most elements read without allocating; an annotation needs its attributes decoded.
        if let Some(flat) = records.flat(id)
            && flat.ty != IfcType::IfcAnnotation
        {
            return Ok(Self {
                global_id: flat.text(0),
                name: flat.text(2),
                representation: flat.get_ref(6),
                select: DecodedEntity::new(id, flat.ty, Vec::new()),
            });
        }
        let Some(tokens) = records.read(id) else {
            let entity = records.decode(decoder, id)?;
            return Ok(Self {
                global_id: text(&entity, 0),
                name: text(&entity, 2),
                representation: entity.get_ref(6),
                select: entity,
            });
        };
        let attributes = if tokens.ty == IfcType::IfcAnnotation {
            tokens.attrs.iter().map(AttributeValue::from_token).collect()
        } else {
            Vec::new()
        };
        Ok(Self {
            global_id: tokens.text(0),
            name: tokens.text(2),
            representation: tokens.get_ref(6),
            select: DecodedEntity::new(id, tokens.ty, attributes),
        })
    }
}

/// Shape representations read ahead on every core when products share them: when the file
/// has at most one `IfcShapeRepresentation` per [`SHARED_SHAPE_RATIO`] elements (a generated
/// district: a few thousand for a hundred thousand walls and windows), each is read once
/// here instead of once per product. Otherwise (most authored files: one or more per
/// product) none is, and nothing is held.
fn shared_shapes(
    records: Records,
    scanned: &Scanned,
    elements: usize,
) -> ShapeRepresentations {
    let ids = scanned.records_of("IFCSHAPEREPRESENTATION");
    if ids.is_empty() || ids.len().saturating_mul(SHARED_SHAPE_RATIO) > elements {
        return ShapeRepresentations::default();
    }
    ids.par_iter()
        .with_min_len(256)
        .filter_map(|r| Some((r.id, representation_from_bytes(records, r.id)?)))
        .collect()
}

/// See [`shared_shapes`].
const SHARED_SHAPE_RATIO: usize = 4;

/// A shape representation read from its bytes, `None` when they do not parse.
fn representation_from_bytes(records: Records, id: u32) -> Option<ShapeRepresentation> {
    let (entity, items) = if let Some(flat) = records.flat(id)
        && let Some(head) = (0..flat.count().min(3))
            .map(|i| flat.token(i).map(|t| AttributeValue::from_token(&t)))
            .collect::<Option<Vec<_>>>()
    {
        let items = flat.get_refs(3);
        (DecodedEntity::new(id, flat.ty, head), items)
    } else {
        let tokens = records.read(id)?;
        let items = tokens.get_refs(3);
        let head = tokens.attrs.iter().take(3).map(AttributeValue::from_token);
        (DecodedEntity::new(id, tokens.ty, head.collect()), items)
    };
    Some(shape_representation(entity, items))
}

/// A representation's entity and `Items`, with whether it is a body (see
/// [`is_body_identifier`]).
fn shape_representation(entity: DecodedEntity, items: Option<Vec<u32>>) -> ShapeRepresentation {
    ShapeRepresentation {
        body: is_body_identifier(text(&entity, 1).as_deref(), text(&entity, 2).as_deref()),
        entity,
        items,
    }
}

/// A shape representation as selection reads it (see [`ShapeRepresentation`]): read ahead,
/// else from its bytes, else through the decoder.
fn representation<'r>(
    decoder: &mut EntityDecoder,
    records: Records<'r>,
    id: u32,
) -> ifc_lite_core::Result<Cow<'r, ShapeRepresentation>> {
    if let Some(shape) = records.shape(id) {
        return Ok(Cow::Borrowed(shape));
    }
    if let Some(shape) = representation_from_bytes(records, id) {
        return Ok(Cow::Owned(shape));
    }
    let entity = records.decode(decoder, id)?;
    let items = entity.get_refs(3);
    Ok(Cow::Owned(shape_representation(entity, items)))
}

/// Reads the product's shape representations (Representation is attribute 6).
fn shape_of(
    decoder: &mut EntityDecoder,
    records: Records,
    element: &ElementRecord,
    scanned: &Scanned,
    class: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Shape {
    let entity = &element.select;
    let Some(shape_id) = element.representation else {
        return Shape::default();
    };
    if !scanned.contains(shape_id) {
        diagnostics.push(diagnostic(
            Severity::Warning,
            DiagnosticKind::DanglingReference,
            Some(entity.id),
            Some(class),
            format!("the representation #{shape_id} does not exist"),
        ));
        return Shape::default();
    }
    // Read once each, so straight from the bytes and never cached.
    let rep_ids = match records.flat(shape_id) {
        Some(flat) => flat.get_refs(2),
        None => match records.read(shape_id) {
            Some(shape) => shape.get_refs(2),
            None => return Shape::default(),
        },
    };
    let mut reps = Vec::new();
    let mut read = Vec::new();
    for rep_id in rep_ids.unwrap_or_default() {
        match representation(decoder, records, rep_id) {
            Ok(rep) => {
                // A shared entity: the clone shares its attributes.
                reps.push(rep.entity.clone());
                read.push(rep);
            }
            Err(_) => diagnostics.push(diagnostic(
                Severity::Warning,
                DiagnosticKind::DanglingReference,
                Some(entity.id),
                Some(class),
                format!("the shape representation #{rep_id} does not exist or cannot be read"),
            )),
        }
    }
    let mut result = Shape::default();
    let mut bodies = Vec::new();
    for rep in ifc_lite_geometry::meshed_representations(entity, &reps) {
        result.meshable = true;
        if let Some(at) = reps.iter().position(|r| std::ptr::eq(r, rep))
            && read[at].body
        {
            bodies.push(rep);
        }
    }
    result.body = !bodies.is_empty();
    // Other meshed representations (a 2D 'Plan' mapped item …) usually add nothing; if they do,
    // the instance fails its check against the baked mesh and the baked mesh is kept.
    if let [rep] = bodies.as_slice()
        && let Some(at) = reps.iter().position(|r| std::ptr::eq(r, *rep))
        && let Some(items) = &read[at].items
    {
        let mut mapped = Vec::with_capacity(items.len());
        for &item in items {
            // Most bodies are not mapped: their first item's keyword says so without
            // tokenizing it.
            if records.keyword_is_not(item, "IFCMAPPEDITEM") {
                return result;
            }
            match records.read(item) {
                Some(item) if item.class() == "IFCMAPPEDITEM" => match item.get_ref(0) {
                    Some(map) => mapped.push(MappedBody {
                        map,
                        target: item.get_ref(1),
                    }),
                    None => return result,
                },
                _ => return result,
            }
        }
        result.mapped = mapped;
    }
    result
}

#[cfg(test)]
mod id_map_tests {
    use super::*;

    /// The first link of an id wins, property sets gather in order (an empty set still adds
    /// its object), lookups agree in both layouts, and iteration is in id order.
    #[test]
    fn id_maps_keep_first_links_and_gather_sets_in_both_layouts() {
        for (max_id, dense) in [(10, true), (1000, false)] {
            let first = IdMap::first_of(vec![(7, 1), (3, 2), (7, 3), (5, 4)], max_id);
            assert_eq!(matches!(first.slots, Slots::Dense(_)), dense, "max id {max_id}");
            assert_eq!(first.get(&7), Some(&1));
            assert_eq!(first.get(&3), Some(&2));
            assert_eq!(first.get(&4), None);
            assert_eq!(first.get(&5000), None);
            let order: Vec<(u32, u32)> = (&first).into_iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(order, [(3, 2), (5, 4), (7, 1)]);
            let sets =
                IdMap::gather(vec![(7, Some(1)), (3, None), (7, Some(2)), (7, Some(1))], max_id);
            assert_eq!(sets.get(&7), Some(&vec![1, 2, 1]));
            assert_eq!(sets.get(&3), Some(&Vec::new()));
            assert_eq!(sets.get(&4), None);
            assert_eq!(sets.values().count(), 2);
        }
    }
}
