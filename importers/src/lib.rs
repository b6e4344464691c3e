//! Importers: real-world files in, renewtwin's neutral [`Model`] out.
//!
//! Every importer implements [`Importer`]: it reads bytes, never panics on bad input, and
//! returns the model together with [`Diagnostic`]s for whatever it could not take in. A file it
//! cannot read at all is an [`ImportError`] naming the file and the reason.
//!
//! This crate knows nothing of Bevy, tokio or wgpu (see ARCHITECTURE.md).

mod cache;
mod cityjson;
mod geo;
mod geojson;
mod gltf;
pub mod ifc;
mod model;
mod stream;

pub use cityjson::{CityJsonImporter, CityJsonOptions, LodChoice};
pub use geo::wgs84::{ecef_to_geodetic, enu_to_ecef, geodetic_to_ecef};
pub use geo::{GeoPoint, MapPoint, ProjectFrame, place};
pub use geojson::{GeoJsonImporter, GeoJsonOptions, LineKind};
pub use gltf::{GltfImporter, import_tileset_file};
pub use model::elements::{ElementRef, Elements, Iter as ElementIter, Sets, SetsIter, Strs, StrsIter};
pub use model::PlacedSource;
pub use model::{
    Aabb, Diagnostic, DiagnosticKind, Element, Mesh, MeshId, Model, Placement, Property,
    PropertySet, PropertyValue, Severity, SourceInfo, SpatialKind, SpatialNode,
};
pub use stream::{ImportEvent, MeshBatch, hand_out_whole};

use std::path::Path;

/// Why a file could not be imported at all (as opposed to a [`Diagnostic`] on part of it).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read from disk.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The file is larger than the importer accepts.
    #[error("{path} is {bytes} bytes, over the {limit}-byte import limit")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes are not a file of the expected format.
    #[error("{path}: not a readable {format} file: {reason}")]
    NotReadable {
        /// The file (or a name for in-memory input).
        path: String,
        /// The format that was expected, e.g. "IFC".
        format: &'static str,
        /// What is wrong, with the line or `#id` where known.
        reason: String,
    },
}

/// Largest input file accepted by default (bytes). Real IFC models of whole districts are a
/// few hundred MB; anything bigger is refused up front rather than exhausting memory.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Settings shared by all importers.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    /// Refuse inputs larger than this many bytes.
    pub max_file_bytes: u64,
    /// Build triangle meshes (false: semantics only, much faster).
    pub geometry: bool,
}

impl ImportConfig {
    /// Refuses an input of `len` bytes, named `name` in the error, when it is over
    /// [`ImportConfig::max_file_bytes`].
    pub fn check_size(&self, name: &str, len: u64) -> Result<(), ImportError> {
        if len > self.max_file_bytes {
            return Err(ImportError::TooLarge {
                path: name.to_owned(),
                bytes: len,
                limit: self.max_file_bytes,
            });
        }
        Ok(())
    }
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            geometry: true,
        }
    }
}

/// The start every importer shares: the size check, then one constructor for its
/// [`ImportError::NotReadable`] errors, naming the file and the format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input<'a> {
    /// The file (or a name for in-memory input).
    pub(crate) name: &'a str,
    /// The format expected, e.g. "IFC".
    pub(crate) format: &'static str,
}

impl<'a> Input<'a> {
    /// Refuses `bytes` when it is over [`ImportConfig::max_file_bytes`].
    pub(crate) fn open(
        name: &'a str,
        format: &'static str,
        bytes: &[u8],
        config: &ImportConfig,
    ) -> Result<Self, ImportError> {
        config.check_size(name, bytes.len() as u64)?;
        Ok(Self { name, format })
    }

    /// The file cannot be read as this format, for `reason`.
    pub(crate) fn not_readable(&self, reason: impl Into<String>) -> ImportError {
        ImportError::NotReadable {
            path: self.name.to_owned(),
            format: self.format,
            reason: reason.into(),
        }
    }

    /// `bytes` parsed as one JSON document (after an optional BOM), or where it is broken.
    pub(crate) fn json(&self, bytes: &[u8]) -> Result<serde_json::Value, ImportError> {
        geo::parse_json(self.name, self.format, bytes)
    }
}

/// Logs a finished import (the same fields for every format) and hands the model back.
pub(crate) fn imported(model: Model) -> Result<Model, ImportError> {
    tracing::info!(
        file = %model.source.name,
        schema = %model.source.schema,
        entities = model.source.entities,
        elements = model.elements.len(),
        with_geometry = model.elements_with_geometry(),
        meshes = model.meshes.len(),
        diagnostics = model.diagnostics.len(),
        seconds = model.source.parse_seconds + model.source.geometry_seconds,
        "import done"
    );
    Ok(model)
}

/// Whether `head` (a file's first bytes) is a JSON object, after an optional BOM and blanks,
/// naming at least one of `keys` (each written with its quotes, e.g. `"\"CityObjects\""`).
pub(crate) fn sniff_json(head: &[u8], keys: &[&str]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
        && keys.iter().any(|k| text.contains(k))
}

/// A file format that can be read into the neutral model.
pub trait Importer {
    /// Short format name for messages, e.g. "IFC".
    fn format(&self) -> &'static str;

    /// Whether this importer recognises the content (by its first bytes).
    fn sniff(&self, head: &[u8]) -> bool;

    /// Reads `bytes` (named `name` in messages and diagnostics) into a model.
    fn import_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        config: &ImportConfig,
    ) -> Result<Model, ImportError>;
}

/// Reads a file from disk with the importer that recognises it.
pub fn import_file(path: &Path, config: &ImportConfig) -> Result<Model, ImportError> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| ImportError::Io {
        path: name.clone(),
        source,
    })?;
    if meta.len() > config.max_file_bytes {
        return Err(ImportError::TooLarge {
            path: name,
            bytes: meta.len(),
            limit: config.max_file_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: name.clone(),
        source,
    })?;
    // A 3D Tiles tileset and a .gltf with its buffers in files read files beside them.
    if gltf::is_tileset(&bytes) {
        return gltf::import_tileset_file(path, config);
    }
    if !bytes.starts_with(b"glTF") && GltfImporter::sniffs(&bytes[..bytes.len().min(1024)]) {
        return gltf::import_gltf(&name, &bytes, path.parent(), config);
    }
    import_bytes(&name, &bytes, config)
}

/// Reads in-memory content with the importer that recognises it.
pub fn import_bytes(name: &str, bytes: &[u8], config: &ImportConfig) -> Result<Model, ImportError> {
    config.check_size(name, bytes.len() as u64)?;
    let importer = ifc::IfcImporter;
    let head = &bytes[..bytes.len().min(1024)];
    if importer.sniff(head) {
        return importer.import_bytes(name, bytes, config);
    }
    // glTF (GLB or JSON) as city context; a 3D Tiles tileset needs its folder.
    if GltfImporter::sniffs(head) {
        return GltfImporter.import_bytes(name, bytes, config);
    }
    if gltf::is_tileset(bytes) {
        return Err(ImportError::NotReadable {
            path: name.to_owned(),
            format: "3D Tiles",
            reason: "a 3D Tiles tileset is imported from its file (its tiles are files beside it)"
                .to_owned(),
        });
    }
    // CityJSON and GeoJSON: a JSON object whose top-level "type" says which.
    if let Some(result) = import_json(name, bytes, config) {
        return result;
    }
    Err(ImportError::NotReadable {
        path: name.to_owned(),
        format: "IFC",
        reason: "the file does not start with ISO-10303-21 (a STEP/IFC header)".to_owned(),
    })
}

pub use model::{GeoRef, MapConversion, SiteLocation, Task, TaskLink, TimeValue, WorkSchedule};

pub use cache::{
    Cache, CacheStatus, DEFAULT_CACHE_MAX_BYTES, import_bytes_cached, import_bytes_cached_streaming,
    import_file_cached,
};

/// Imports several files at once, in parallel (each file's geometry also uses every core,
/// from the same rayon pool); results are in the order of `paths`.
pub fn import_files(paths: &[&Path], config: &ImportConfig) -> Vec<Result<Model, ImportError>> {
    use rayon::prelude::*;
    paths
        .par_iter()
        .map(|path| import_file(path, config))
        .collect()
}

/// Reads CityJSON or GeoJSON when `bytes` are a JSON object whose top-level `"type"` names one;
/// `None` when they are not JSON at all (so the caller can report its own error).
fn import_json(
    name: &str,
    bytes: &[u8],
    config: &ImportConfig,
) -> Option<Result<Model, ImportError>> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let kind = top_level_type(text);
    Some(match kind.as_deref() {
        Some("CityJSON") => crate::CityJsonImporter::default().import_bytes(name, bytes, config),
        Some(t) if crate::geojson::is_geojson_type(t) => {
            crate::GeoJsonImporter::default().import_bytes(name, bytes, config)
        }
        Some(other) => Err(ImportError::NotReadable {
            path: name.to_owned(),
            format: "CityJSON or GeoJSON",
            reason: format!("a JSON object of type \"{other}\", neither CityJSON nor GeoJSON"),
        }),
        None => Err(ImportError::NotReadable {
            path: name.to_owned(),
            format: "CityJSON or GeoJSON",
            reason: "a JSON object without a top-level \"type\" (or not valid JSON)".to_owned(),
        }),
    })
}

/// The top-level `"type"` string of a JSON object, found without building the document.
fn top_level_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    serde_json::from_slice::<Head>(bytes).ok()?.kind
}

/// Imports `bytes` like [`crate::import_bytes`], calling `on_event` with the parsed model and
/// then with each batch of meshed elements as soon as it is made (IFC: per building, in
/// [`MeshBatch::elements`] order; CityJSON and GeoJSON are meshed while they are read, so
/// they come as one batch). Returns the complete model, the same as `import_bytes` gives
/// except for the order of [`Model::meshes`] (mesh ids follow the batches).
pub fn import_streaming(
    name: &str,
    bytes: &[u8],
    config: &ImportConfig,
    on_event: &mut dyn FnMut(ImportEvent<'_>),
) -> Result<Model, ImportError> {
    config.check_size(name, bytes.len() as u64)?;
    if crate::ifc::IfcImporter::sniffs(bytes) {
        return crate::ifc::import_streaming(name, bytes, config, on_event);
    }
    let model = crate::import_bytes(name, bytes, config)?;
    stream::hand_out_whole(&model, on_event);
    Ok(model)
}
