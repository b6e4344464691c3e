//! Scenes: a manifest plus the models it names, loaded through the importers and resolved
//! into a renewal plan and the static data every client receives.

pub mod manifest;
mod wire;

use std::path::{Path, PathBuf};

use renewtwin_importers::{Cache, ImportConfig, Model};

pub use manifest::{Manifest, ManifestError};
pub use wire::SceneStatic;

use crate::renewal::Plan;

/// The built-in default scene's manifest (an old residential block, generated).
pub const DEFAULT_MANIFEST: &str = include_str!("../../../scenes/default/scene.toml");

/// What `renewtwin serve` was asked to serve.
#[derive(Debug, Clone, PartialEq)]
pub enum SceneSource {
    /// The built-in default scene.
    Default,
    /// A `scene.toml`, or a folder holding one.
    Manifest(PathBuf),
    /// A bare model file (IFC); it gets the default scene's renewal plan, whose selectors are
    /// generic IFC criteria (external walls, windows, roofs, NEW elements, pipes).
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
    /// The district generator failed.
    #[error("generating the district failed: {0}")]
    Generate(String),
    /// The scene has no model or more than the loader supports.
    #[error("{0}")]
    Unsupported(String),
    /// The renewal plan cannot be played (heritage, dependency cycles, unknown scenario).
    #[error(transparent)]
    Plan(#[from] crate::renewal::plan::PlanError),
}

/// A loaded scene, ready to be simulated and served.
#[derive(Debug)]
pub struct LoadedScene {
    /// The manifest.
    pub manifest: Manifest,
    /// The model (several inputs are placed into one).
    pub model: Model,
    /// The resolved renewal plan.
    pub plan: Plan,
}

/// Loads `source`: reads the manifest, imports (or generates then imports) its model, resolves
/// the base plan, or `scenario`'s plan when one is named.
///
/// Model files are read through `cache` when one is given (a content-addressed cache: an
/// unchanged file loads from it without being parsed or meshed again).
pub fn load(source: &SceneSource, scenario: Option<&str>, config: &ImportConfig, cache: Option<&Cache>) -> Result<LoadedScene, SceneError> {
    let (manifest, base) = match source {
        SceneSource::Default => (Manifest::parse("scenes/default/scene.toml (built in)", DEFAULT_MANIFEST)?, None),
        SceneSource::Manifest(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| SceneError::Io { path: path.display().to_string(), source })?;
            let base = path.parent().map(Path::to_path_buf);
            (Manifest::parse(&path.display().to_string(), &text)?, base)
        }
        SceneSource::Model(path) => {
            let mut m = Manifest::parse("scenes/default/scene.toml (built in)", DEFAULT_MANIFEST)?;
            m.name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
            m.models = vec![manifest::ModelSource::File(path.clone())];
            (m, None)
        }
    };
    let model = load_models(&manifest, base.as_deref(), config, cache)?;
    let plan = Plan::resolve(&manifest, scenario, &model)?;
    Ok(LoadedScene { manifest, model, plan })
}

/// Loads the model a parsed `manifest` names (paths relative to `base`) and resolves its plan.
pub fn load_manifest(manifest: Manifest, base: Option<&Path>, scenario: Option<&str>, config: &ImportConfig) -> Result<LoadedScene, SceneError> {
    let model = load_models(&manifest, base, config, None)?;
    let plan = Plan::resolve(&manifest, scenario, &model)?;
    for task in &plan.tasks {
        tracing::info!(task = %task.id, elements = task.elements, start = ?task.start, end = ?task.end, "plan task resolved");
    }
    Ok(LoadedScene { manifest, model, plan })
}

/// Imports (or generates then imports) the models `manifest` names, in parallel, and places
/// several into one local frame in metres around the first georeferenced one ("one map").
pub fn load_models(manifest: &Manifest, base: Option<&Path>, config: &ImportConfig, cache: Option<&Cache>) -> Result<Model, SceneError> {
    match manifest.models.as_slice() {
        [] => Err(SceneError::Unsupported("the scene names no model; add a [[models]] table".into())),
        [one] => load_model(one, base, config, cache),
        many => {
            let models: Vec<Model> = std::thread::scope(|s| {
                let handles: Vec<_> = many.iter().map(|m| s.spawn(move || load_model(m, base, config, cache))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(SceneError::Unsupported("a model loader panicked".into()))))
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
            renewtwin_generator::write_district(&cfg, &mut bytes).map_err(|e| SceneError::Generate(e.to_string()))?;
            let name = format!("district-{buildings}b-seed{seed}.ifc (generated)");
            match cache {
                Some(cache) => Ok(renewtwin_importers::import_bytes_cached(&name, &bytes, config, cache)?.0),
                None => Ok(renewtwin_importers::import_bytes(&name, &bytes, config)?),
            }
        }
    }
}
