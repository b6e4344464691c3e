//! IFC (STEP physical file) import on top of ifc-lite: IFC2X3, IFC4 and IFC4X3 (final, RC and
//! addenda) into the neutral [`Model`].
//!
//! The pipeline, one module per concept:
//! - `source` checks the header (schema, end marker), scans every record once and builds the
//!   entity index; a file it cannot read is an [`ImportError::NotReadable`] naming the line or
//!   `#id`.
//! - `schema` answers "is this keyword a kind of that class" for the declared schema and gives
//!   the class name as the schema spells it (`IfcWallStandardCase`).
//! - `units` resolves the project length unit (and area/volume units for quantities).
//! - `semantics` builds the spatial tree (IfcRelAggregates, parents before children) and the
//!   elements with their container, type and property/quantity sets (`properties`).
//! - `materials` folds IfcRelAssociatesMaterial into material names; `georef` reads the
//!   map conversion and the site's latitude/longitude; `schedule` reads 4D work schedules;
//!   `ports` which elements are connected through their ports (IfcRelConnectsPorts).
//! - `geometry` meshes every element with a body representation through ifc-lite's
//!   `GeometryRouter`, openings cut (IfcRelVoidsElement, propagated through aggregates), on every
//!   core, one product at a time inside `catch_unwind`; `instancing` shares mapped geometry.
//!   Openings in a host of one extruded solid or faceted brep, by openings of one extruded
//!   solid, block or faceted brep each, are cut by our own `cut` (`openings`); chains of
//!   `IfcBooleanResult` differences of extrusions by convex extrusions and half-spaces too
//!   (`boolean`); anything else, and any
//!   cut that fails the closed-and-bounded check, by ifc-lite, whole product or item at once.
//!   Face-based surface models of plain `IfcFace`s are read straight from their face records
//!   (`surfaces`: the same triangles as ifc-lite's, without decoding every face). Each core
//!   takes the next product as it finishes one, so a few heavy products do not queue on one.
//!
//! Choices worth knowing:
//! - **Which products are elements.** Every IfcProduct except spatial elements
//!   (IfcSpatialElement / IfcSpatialStructureElement, which form [`Model::spatial`]) and opening
//!   features (IfcFeatureElementSubtraction: IfcOpeningElement, IfcVoidingFeature). Annotations,
//!   grids, ports, positioning and linear elements (alignments and their segments, referents),
//!   structural analysis items, proxies and virtual elements are kept only when they carry a
//!   body representation (identifier `Body`, or an unnamed solid/surface/mapped one); otherwise
//!   they are skipped silently. Type objects with body geometry that no occurrence uses become
//!   elements of the type's class (`IfcBoilerType`), so product-library files show something.
//! - **Diagnostics for geometry.** A product with a body representation that yields no mesh is a
//!   `GeometryMissing` diagnostic; one with only other meshable representations (axes,
//!   footprints) that yields nothing is skipped without one.
//! - **Geometry frame.** Meshes are in metres, Z up. [`Model::origin`] is the RTC offset
//!   ifc-lite detects for the file (the median placement of its first geometric products) when
//!   that offset is large (over 1 km from zero, as in georeferenced files), otherwise zero. Each
//!   mesh is stored relative to the centre of its bounding box (rounded to the millimetre) and
//!   placed by a translation, so vertex coordinates stay small and f32-precise, and the same
//!   shape at two places is the same mesh.
//! - **Instancing.** An element whose body is exactly one IfcMappedItem (and that has no
//!   openings) is an instance: the representation map's source is meshed once (`instancing`)
//!   and placed by `product placement · MappingTarget` (rotation, translation, uniform scale).
//!   Each instance is checked against the mesh ifc-lite baked for that occurrence (same
//!   triangle count, same bounding box within 1 mm + 0.01 %); mirrored, unevenly scaled or
//!   disagreeing occurrences keep the baked mesh. Every other element gets its own mesh(es)
//!   with a translation-only placement; equal meshes (same triangles, vertices within 10 µm)
//!   are still stored once, so a shape representation shared by several products, or repeated
//!   type geometry, is one mesh with several placements. A body of several mapped items is
//!   baked as one mesh per product (rebar sets in `IfcReinforcingBar.ifc`); see the issue
//!   notes in `tests/data/IFCOPENSHELL-COMPARISON.md`.
//! - **Semantics beyond the tree.** Materials (IfcRelAssociatesMaterial, any material
//!   definition; an occurrence without its own takes its type's), the georeference (map
//!   conversion in metres and the site's WGS84 location, both kept), and 4D schedules
//!   (`schedule`) are read into [`Model`].
//! - **Units.** Length measures in properties and quantities are converted to metres, areas to
//!   m², volumes to m³; other measures keep the file's value.
//! - **Robustness.** Input size is bounded by [`ImportConfig::max_file_bytes`]; a panic inside
//!   ifc-lite while meshing one product becomes a `GeometryMissing` diagnostic for that product.
//!   Long-running geometry is bounded only by ifc-lite's own budgets (boolean operand sizes,
//!   tessellation and mapping budgets); a product that takes over 2 s is logged. ifc-lite 28.2
//!   has a per-product deadline (`resource::ProductBudget`), but telling its expiry from other
//!   stops goes through a hidden, unsupported function, so it is not used. A hard wall-clock
//!   bound per file belongs to the caller (a worker thread it can abandon).

mod boolean;
mod clean;
#[cfg(test)]
mod cross_check;
mod cut;
mod geometry;
mod georef;
mod instancing;
mod materials;
mod openings;
mod ports;
mod properties;
mod record;
mod rtc;
mod schedule;
mod schema;
mod semantics;
mod shape_key;
mod source;
mod surfaces;
mod units;

#[cfg(test)]
mod tests;

use crate::{
    Diagnostic, DiagnosticKind, ImportConfig, ImportError, Importer, Model, Severity, SourceInfo,
};

/// Imports IFC2X3, IFC4 and IFC4X3 files.
#[derive(Debug, Clone, Copy, Default)]
pub struct IfcImporter;

impl Importer for IfcImporter {
    fn format(&self) -> &'static str {
        "IFC"
    }

    fn sniff(&self, head: &[u8]) -> bool {
        source::starts_like_step(head)
    }

    fn import_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        config: &ImportConfig,
    ) -> Result<Model, ImportError> {
        guarded(name, || import_unguarded(name, bytes, config, None))
    }
}

impl IfcImporter {
    /// Whether `bytes` start like a STEP file.
    pub(crate) fn sniffs(bytes: &[u8]) -> bool {
        source::starts_like_step(&bytes[..bytes.len().min(1024)])
    }
}

/// [`crate::import_streaming`] for IFC: the parsed model, then the meshed elements building by
/// building.
pub(crate) fn import_streaming(
    name: &str,
    bytes: &[u8],
    config: &ImportConfig,
    on_event: &mut dyn FnMut(crate::ImportEvent<'_>),
) -> Result<Model, ImportError> {
    guarded(name, || {
        import_unguarded(name, bytes, config, Some(on_event))
    })
}

/// The last line of defence: the phases that call into ifc-lite catch its panics themselves
/// and carry on; anything that still escapes fails this file, not the caller.
fn guarded(
    name: &str,
    import: impl FnOnce() -> Result<Model, ImportError>,
) -> Result<Model, ImportError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(import)) {
        Ok(result) => result,
        Err(panic) => Err(crate::Input { name, format: "IFC" }.not_readable(format!(
            "the IFC reader failed on this input (internal error: {}); please report it with the file",
            properties::lower(&geometry::panic_message(&panic))
        ))),
    }
}

/// [`IfcImporter::import_bytes`] without the panic guard.
fn import_unguarded(
    name: &str,
    bytes: &[u8],
    config: &ImportConfig,
    mut on_event: Option<&mut dyn FnMut(crate::ImportEvent<'_>)>,
) -> Result<Model, ImportError> {
    {
        let input = crate::Input::open(name, "IFC", bytes, config)?;
        let started = std::time::Instant::now();
        let not_readable = |reason: String| input.not_readable(reason);
        let header = source::read_header(bytes).map_err(not_readable)?;
        let mut scanned = source::scan(bytes).map_err(not_readable)?;
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            records = scanned.records.len(),
            "ifc phase: scan"
        );

        let mut diagnostics: Vec<Diagnostic> = scanned.diagnostics.clone();
        let mut schema = schema::Schema::new(header.version);
        let mut decoder = scanned.decoder(bytes);
        let units = units::resolve(&mut decoder, &scanned, &mut diagnostics);
        let materials = materials::read(&scanned, &mut decoder, &mut diagnostics);
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            "ifc phase: units, materials"
        );

        let semantic = semantics::read(
            bytes,
            &scanned,
            &mut schema,
            &units,
            &materials,
            &mut decoder,
            &mut diagnostics,
        );
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            "ifc phase: semantics"
        );
        let georef = georef::read(bytes, &scanned, &mut decoder, &units, &mut diagnostics);
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "ifc phase: georef");
        let element_index = ElementIndex::new(&semantic.elements);
        let schedules = schedule::read(
            &scanned,
            &mut decoder,
            &element_index,
            header.version == ifc_lite_core::SchemaVersion::Ifc2x3,
            &mut diagnostics,
        );
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "ifc phase: schedules");
        let connections = ports::read(&scanned, &mut decoder, &element_index, &mut diagnostics);
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "ifc phase: ports");
        // Its entity cache holds every record the semantic layer decoded (most of the file);
        // meshing has decoders of its own, so free it before the peak.
        drop(decoder);

        let mut model = Model {
            source: SourceInfo {
                name: name.to_owned(),
                schema: header.schema_label.clone(),
                bytes: bytes.len() as u64,
                entities: scanned.records.len() as u64,
                length_unit_to_metres: units.length_to_metres,
                parse_seconds: started.elapsed().as_secs_f64(),
                geometry_seconds: 0.0,
            },
            spatial: semantic.spatial,
            elements: semantic.elements.into(),
            georef,
            schedules,
            connections,
            ..Model::default()
        };
        // Where the RTC sampler looks, from the record list (see `rtc`).
        let rtc_samples = config.geometry.then(|| rtc::samples(bytes, &scanned)).flatten();
        // The record list (a few dozen bytes per record) is not needed by meshing, which
        // decodes through the index: free it before the peak.
        scanned.records = Vec::new();
        scanned.by_keyword = Vec::new();
        if let Some(on_event) = on_event.as_mut() {
            on_event(crate::ImportEvent::Parsed { model: &model });
        }
        if config.geometry {
            let geometry_started = std::time::Instant::now();
            geometry::mesh_elements(
                bytes,
                &scanned,
                &units,
                &semantic.geometry_jobs,
                rtc_samples.as_ref(),
                &mut model,
                &mut diagnostics,
                on_event,
            );
            model.source.geometry_seconds = geometry_started.elapsed().as_secs_f64();
        }
        diagnostics.sort_by_key(|d| (d.step_id.unwrap_or(0), d.kind));
        model.diagnostics = diagnostics;
        crate::imported(model)
    }
}

/// Element `#id` → its index in the model's elements, built on first use (only files with
/// schedules or port connections ask).
pub(crate) struct ElementIndex<'a> {
    elements: &'a [crate::Element],
    map: std::cell::OnceCell<rustc_hash::FxHashMap<u32, usize>>,
}

impl<'a> ElementIndex<'a> {
    fn new(elements: &'a [crate::Element]) -> Self {
        Self {
            elements,
            map: std::cell::OnceCell::new(),
        }
    }

    /// The index of element `#id`.
    pub(crate) fn get(&self, id: &u32) -> Option<&usize> {
        self.map
            .get_or_init(|| {
                self.elements
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.step_id, i))
                    .collect()
            })
            .get(id)
    }
}

/// Decoded entities a worker's decoder keeps cached before it clears its cache: the cache
/// is a memo only, and unbounded it would hold a decoded copy of most of the file per worker.
const WORKER_DECODER_CACHE_ENTRIES: usize = 16_384;

/// Clears `decoder`'s entity cache once it holds more than [`WORKER_DECODER_CACHE_ENTRIES`].
pub(crate) fn bound_cache(decoder: &mut ifc_lite_core::EntityDecoder) {
    if decoder.cache_size() > WORKER_DECODER_CACHE_ENTRIES {
        decoder.clear_entity_cache();
    }
}

/// A diagnostic about one record.
pub(crate) fn diagnostic(
    severity: Severity,
    kind: DiagnosticKind,
    step_id: Option<u32>,
    class: Option<&str>,
    message: impl Into<String>,
) -> Diagnostic {
    Diagnostic {
        severity,
        kind,
        step_id,
        class: class.map(str::to_owned),
        message: message.into(),
    }
}
