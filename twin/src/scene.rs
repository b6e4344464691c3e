//! Scenes: a manifest plus the models it names, loaded through the importers and placed into
//! one frame. Resolving the renewal plan is the caller's ([`crate::renewal::LoadedScene`]).
//! A bare model file gets a scene derived from the model alone ([`derive`]).

pub mod derive;

use std::path::{Path, PathBuf};

use renewtwin_importers::{Cache, ImportConfig, Model};

use crate::manifest;
pub use crate::manifest::{Manifest, ManifestError};

/// The built-in default scene's manifest (an old residential block, generated).
pub const DEFAULT_MANIFEST: &str = include_str!("../../scenes/default/scene.toml");

/// What `renewtwin serve` was asked to serve.
#[derive(Debug, Clone, PartialEq)]
pub enum SceneSource {
    /// The built-in default scene.
    Default,
    /// A `scene.toml`, or a folder holding one.
    Manifest(PathBuf),
    /// A bare model file (IFC, CityJSON, GeoJSON): its scene is derived from the model
    /// ([`derive::manifest_for_model`]): its name, a viewpoint fitted to it, and the plan of
    /// its own IFC work schedule, or none. Never the default district's plan.
    Model(PathBuf),
}

impl SceneSource {
    /// Interprets a command-line argument.
    pub fn from_arg(arg: Option<&Path>) -> Self {
        match arg {
            None => Self::Default,
            Some(p) if p.is_dir() => Self::Manifest(p.join("scene.toml")),
            Some(p) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml")) => Self::Manifest(p.to_path_buf()),
            Some(p) => Self::Model(p.to_path_buf()),
        }
    }
}

/// Why a scene could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    /// The manifest file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The manifest.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A model could not be imported.
    #[error(transparent)]
    Import(#[from] renewtwin_importers::ImportError),
    /// The district generator failed to write its IFC.
    #[error("generating the district ({buildings} buildings, seed {seed}) failed")]
    Generate {
        /// Buildings asked for.
        buildings: u32,
        /// Seed.
        seed: u64,
        /// Why.
        #[source]
        source: renewtwin_generator::GenerateError,
    },
    /// The scene names no model.
    #[error("the scene names no model; add a [[models]] table")]
    NoModel,
    /// A model loader thread panicked (a bug: the importers return errors, they do not panic).
    #[error("a model loader panicked")]
    LoaderPanicked,
}

/// A scene's manifest and its model, before a plan is resolved.
#[derive(Debug)]
pub struct SceneModel {
    /// The manifest.
    pub manifest: Manifest,
    /// The model (several inputs are placed into one).
    pub model: Model,
}

/// What a scene source resolves to: a manifest (with the folder its relative paths start from),
/// or a lone model file whose manifest is derived from the model once it is loaded.
enum Resolved<'a> {
    Manifest(Box<Manifest>, Option<PathBuf>),
    LoneModel(&'a Path),
}

/// Reads and parses the manifest of `source` (the built-in default, a manifest file), or says
/// that the source is a lone model file.
fn manifest_of(source: &SceneSource) -> Result<Resolved<'_>, SceneError> {
    Ok(match source {
        SceneSource::Default => {
            Resolved::Manifest(Box::new(Manifest::parse("scenes/default/scene.toml (built in)", DEFAULT_MANIFEST)?), None)
        }
        SceneSource::Manifest(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| SceneError::Io { path: path.display().to_string(), source })?;
            Resolved::Manifest(Box::new(Manifest::parse(&path.display().to_string(), &text)?), path.parent().map(Path::to_path_buf))
        }
        SceneSource::Model(path) => Resolved::LoneModel(path),
    })
}

/// Loads `source`: reads the manifest and imports (or generates then imports) its model.
///
/// Model files are read through `cache` when one is given (a content-addressed cache: an
/// unchanged file loads from it without being parsed or meshed again).
pub fn load(source: &SceneSource, config: &ImportConfig, cache: Option<&Cache>) -> Result<SceneModel, SceneError> {
    let (manifest, base) = match manifest_of(source)? {
        Resolved::Manifest(manifest, base) => (*manifest, base),
        Resolved::LoneModel(path) => {
            let model = load_model(&manifest::ModelSource::File(path.to_path_buf()), None, config, cache)?;
            let manifest = derive::manifest_for_model(path, &model, today());
            return Ok(SceneModel { manifest, model });
        }
    };
    let model = load_models(&manifest, base.as_deref(), config, cache)?;
    Ok(SceneModel { manifest, model })
}

/// [`load`] that hands out what is ready while it loads (see
/// [`renewtwin_importers::import_streaming`]): the parsed model, then meshed batches, building
/// by building, as they are made. One IFC model (a file or a generated district) streams from
/// the importer; a cache hit, other formats and several models placed together come as the
/// parsed model and one batch once loaded. The model returned is the last batch's model.
pub fn load_streaming(
    source: &SceneSource,
    config: &ImportConfig,
    cache: Option<&Cache>,
    on_event: &mut dyn FnMut(renewtwin_importers::ImportEvent<'_>),
) -> Result<SceneModel, SceneError> {
    let (manifest, base) = match manifest_of(source)? {
        Resolved::Manifest(manifest, base) => (*manifest, base),
        Resolved::LoneModel(path) => {
            let model = stream_model(&manifest::ModelSource::File(path.to_path_buf()), None, config, cache, on_event)?;
            let manifest = derive::manifest_for_model(path, &model, today());
            return Ok(SceneModel { manifest, model });
        }
    };
    // Only a scene of one model streams; with design variants (or several models) the models
    // are placed together first, then handed out whole.
    let model = match manifest.all_models().as_slice() {
        [one] => stream_model(one, base.as_deref(), config, cache, on_event)?,
        _ => {
            let model = load_models(&manifest, base.as_deref(), config, cache)?;
            renewtwin_importers::hand_out_whole(&model, on_event);
            model
        }
    };
    Ok(SceneModel { manifest, model })
}

/// One model, streamed from the importer when it is IFC (see [`load_streaming`]).
fn stream_model(
    source: &manifest::ModelSource,
    base: Option<&Path>,
    config: &ImportConfig,
    cache: Option<&Cache>,
    on_event: &mut dyn FnMut(renewtwin_importers::ImportEvent<'_>),
) -> Result<Model, SceneError> {
    let (name, bytes) = match source {
        manifest::ModelSource::File(path) => {
            let path = match base {
                Some(b) if path.is_relative() => b.join(path),
                _ => path.clone(),
            };
            let is_ifc = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("ifc"));
            if !is_ifc {
                let model = load_model(source, base, config, cache)?;
                renewtwin_importers::hand_out_whole(&model, on_event);
                return Ok(model);
            }
            let name = path.display().to_string();
            let io = |source| renewtwin_importers::ImportError::Io { path: name.clone(), source };
            let len = std::fs::metadata(&path).map_err(io)?.len();
            if len > config.max_file_bytes {
                return Err(renewtwin_importers::ImportError::TooLarge { path: name, bytes: len, limit: config.max_file_bytes }.into());
            }
            let bytes = std::fs::read(&path).map_err(io)?;
            (name, bytes)
        }
        manifest::ModelSource::District { buildings, seed } => {
            let cfg = renewtwin_generator::DistrictConfig { buildings: *buildings, seed: *seed, ..Default::default() };
            let mut bytes = Vec::new();
            renewtwin_generator::write_district(&cfg, &mut bytes)
                .map_err(|source| SceneError::Generate { buildings: *buildings, seed: *seed, source })?;
            (format!("district-{buildings}b-seed{seed}.ifc (generated)"), bytes)
        }
        // A generated lift variant is small: loaded whole, then handed out.
        manifest::ModelSource::Lifts { .. } => {
            let model = load_model(source, base, config, cache)?;
            renewtwin_importers::hand_out_whole(&model, on_event);
            return Ok(model);
        }
    };
    let (model, status) = renewtwin_importers::import_bytes_cached_streaming(&name, &bytes, config, cache, on_event)?;
    tracing::info!(file = %name, cache = ?status, "model loaded");
    Ok(model)
}

/// Today's date (UTC): day 0 of a bare model's scene when the model carries no schedule.
fn today() -> renewtwin_protocol::CivilDate {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    renewtwin_protocol::CivilDate::from_days_since_epoch(i64::try_from(secs / 86_400).unwrap_or(0))
}

/// Loads the model a parsed `manifest` names (paths relative to `base`).
pub fn load_manifest(manifest: Manifest, base: Option<&Path>, config: &ImportConfig) -> Result<SceneModel, SceneError> {
    let model = load_models(&manifest, base, config, None)?;
    Ok(SceneModel { manifest, model })
}

/// Imports (or generates then imports) the models `manifest` names, in parallel, and places
/// several into one local frame in metres around the first georeferenced one ("one map").
/// The scenarios' design variants come after the base models ([`Manifest::all_models`]), so
/// the base models' elements keep their indices and `Model::sources` tells whose each is.
pub fn load_models(manifest: &Manifest, base: Option<&Path>, config: &ImportConfig, cache: Option<&Cache>) -> Result<Model, SceneError> {
    if manifest.models.is_empty() {
        return Err(SceneError::NoModel);
    }
    match manifest.all_models().as_slice() {
        [] => Err(SceneError::NoModel),
        [one] => load_model(one, base, config, cache),
        many => {
            let models: Vec<Model> = std::thread::scope(|s| {
                let handles: Vec<_> = many.iter().map(|&m| s.spawn(move || load_model(m, base, config, cache))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or(Err(SceneError::LoaderPanicked)))
                    .collect::<Result<_, _>>()
            })?;
            let frame = renewtwin_importers::ProjectFrame::choose(&models);
            Ok(renewtwin_importers::place(models, &frame))
        }
    }
}

fn load_model(source: &manifest::ModelSource, base: Option<&Path>, config: &ImportConfig, cache: Option<&Cache>) -> Result<Model, SceneError> {
    match source {
        manifest::ModelSource::File(path) => {
            let path = match base {
                Some(b) if path.is_relative() => b.join(path),
                _ => path.clone(),
            };
            match cache {
                Some(cache) => {
                    let (model, status) = renewtwin_importers::import_file_cached(&path, config, cache)?;
                    tracing::info!(file = %path.display(), cache = ?status, "model loaded");
                    Ok(model)
                }
                None => Ok(renewtwin_importers::import_file(&path, config)?),
            }
        }
        manifest::ModelSource::District { buildings, seed } => {
            let cfg = renewtwin_generator::DistrictConfig { buildings: *buildings, seed: *seed, ..Default::default() };
            let mut bytes = Vec::new();
            renewtwin_generator::write_district(&cfg, &mut bytes)
                .map_err(|source| SceneError::Generate { buildings: *buildings, seed: *seed, source })?;
            let name = format!("district-{buildings}b-seed{seed}.ifc (generated)");
            match cache {
                Some(cache) => Ok(renewtwin_importers::import_bytes_cached(&name, &bytes, config, cache)?.0),
                None => Ok(renewtwin_importers::import_bytes(&name, &bytes, config)?),
            }
        }
        manifest::ModelSource::Lifts { buildings, seed, side } => {
            let cfg = renewtwin_generator::DistrictConfig { buildings: *buildings, seed: *seed, ..Default::default() };
            let mut bytes = Vec::new();
            renewtwin_generator::write_lift_variant(&cfg, *side, &mut bytes)
                .map_err(|source| SceneError::Generate { buildings: *buildings, seed: *seed, source })?;
            let name = format!("lifts-{}-{buildings}b-seed{seed}.ifc (generated variant)", side.key());
            match cache {
                Some(cache) => Ok(renewtwin_importers::import_bytes_cached(&name, &bytes, config, cache)?.0),
                None => Ok(renewtwin_importers::import_bytes(&name, &bytes, config)?),
            }
        }
    }
}
