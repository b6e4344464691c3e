//! A content-addressed cache of imported models on disk: the second import of an unchanged file
//! is a read and a decode instead of a parse and a mesh.
//!
//! - **Key.** XXH3-128 of the file's bytes, together with the importer's version, the cache
//!   format and the parts of [`ImportConfig`] that change the result. The same bytes under
//!   another name or path hit the same entry; the name recorded in the model is the caller's.
//! - **Value.** The [`Model`] encoded with postcard. Property values are untagged in the
//!   model's own serde form (for JSON), which a compact binary format cannot read back, so
//!   property sets travel beside the model in a tagged mirror ([`CachedValue`]).
//! - **Safety.** Entries are written to a temporary file and renamed into place, so a reader
//!   never sees half an entry. Each entry starts with a header that repeats the key; an entry
//!   that does not decode, or whose header disagrees, is logged, removed and rebuilt.
//! - **Size.** After each store, the oldest entries (by modification time) are removed until
//!   the directory is under [`Cache::max_bytes`]. A hit touches nothing, so "oldest" means
//!   "least recently written".
//!
//! A cache failure never fails an import: the model is imported afresh and the reason logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{ImportConfig, ImportError, Model, Property, PropertySet, PropertyValue};

/// Bumped whenever the encoding of an entry changes, or the importer's output for the same
/// file does (2: boolean cuts by `ifc::cut`; 3: openings by `ifc::openings`; 4: `Model::connections`;
/// 5: coplanar pieces merged after the openings, `cut::merge_coplanar`; 6: products with one
/// shape key share one meshing, `ifc::shape_key`).
const CACHE_FORMAT: u32 = 6;

/// Magic bytes at the start of every entry.
const MAGIC: &[u8; 8] = b"RTWCACHE";

/// Default size bound of a cache directory: 2 GiB.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// File extension of cache entries (only these are counted and evicted).
const ENTRY_EXTENSION: &str = "rtwmodel";

/// A cache directory with a size bound.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    max_bytes: u64,
}

/// Where a model returned by [`import_file_cached`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Decoded from an entry of the cache.
    Hit,
    /// Imported; the result was stored.
    Miss,
    /// An entry was there but unreadable (corrupt, truncated, other version); it was imported
    /// again and the entry replaced.
    Rebuilt,
    /// Imported; storing the result failed (logged), so the next load imports again.
    NotStored,
}

/// Why a cache entry could not be used (logged, never returned to the importer's caller).
#[derive(Debug, thiserror::Error)]
pub(crate) enum EntryError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a cache entry of this version (bad header)")]
    Header { path: String },
    #[error("{path} does not decode: {source}")]
    Decode {
        path: String,
        source: postcard::Error,
    },
}

impl Cache {
    /// A cache in `dir` (created when first written) bounded to [`DEFAULT_CACHE_MAX_BYTES`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_bytes: DEFAULT_CACHE_MAX_BYTES,
        }
    }

    /// The default location: `$RENEWTWIN_CACHE_DIR`, else `$XDG_CACHE_HOME/renewtwin`, else
    /// `$HOME/.cache/renewtwin`; `None` when none of these is set.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let dir = var("RENEWTWIN_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("renewtwin")))
            .or_else(|| var("HOME").map(|h| h.join(".cache").join("renewtwin")))?;
        Some(Self::new(dir))
    }

    /// The same cache with another size bound (bytes).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The size bound in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn entry_path(&self, key: &Key) -> PathBuf {
        self.dir.join(format!("{}.{ENTRY_EXTENSION}", key.hex()))
    }

    /// The model stored under `key`, `Ok(None)` when there is no entry.
    fn load(&self, key: &Key) -> Result<Option<Model>, EntryError> {
        let path = self.entry_path(key);
        let shown = || path.display().to_string();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(EntryError::Io {
                    path: shown(),
                    source,
                });
            }
        };
        let header = key.header();
        let Some(body) = bytes.strip_prefix(header.as_slice()) else {
            return Err(EntryError::Header { path: shown() });
        };
        let entry: Entry = postcard::from_bytes(body).map_err(|source| EntryError::Decode {
            path: shown(),
            source,
        })?;
        entry
            .into_model()
            .map(Some)
            .ok_or(EntryError::Header { path: shown() })
    }

    /// Stores `model` under `key` atomically, then bounds the directory's size.
    fn store(&self, key: &Key, model: &mut Model) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let entry = Entry::take_from(model);
        let path = self.entry_path(key);
        let tmp = self.dir.join(format!(
            ".{}.{}.{:?}.tmp",
            key.hex(),
            std::process::id(),
            std::thread::current().id()
        ));
        // Encoded straight into the file: a district's entry is as large as its IFC (a
        // 300-building district's, 67 MB, was the peak of a cold `serve` as one buffer).
        let written = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&key.header())?;
            let sink = postcard::to_extend(&entry, Sink::new(&mut file)).map_err(std::io::Error::other)?;
            sink.finish()?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        entry.give_back(model);
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        self.evict(&path);
        Ok(())
    }

    /// Removes the oldest entries (never `keep`) until the directory is under the bound.
    fn evict(&self, keep: &Path) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(std::time::SystemTime, u64, PathBuf)> = dir
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == ENTRY_EXTENSION))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        if total <= self.max_bytes {
            return;
        }
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if path == keep {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    total = total.saturating_sub(len);
                    tracing::debug!(entry = %path.display(), bytes = len, "cache entry evicted");
                }
                Err(err) => {
                    tracing::warn!(entry = %path.display(), error = %err, "cannot evict cache entry")
                }
            }
        }
    }
}

/// Imports `path` through `cache`: decoded from the cache when an entry for the same bytes and
/// settings exists, otherwise imported and stored.
pub fn import_file_cached(
    path: &Path,
    config: &ImportConfig,
    cache: &Cache,
) -> Result<(Model, CacheStatus), ImportError> {
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
    // A tileset's tiles and a .gltf's buffers are other files, which the key (this file's hash)
    // would not cover: no cache.
    if crate::gltf::is_tileset(&bytes)
        || (!bytes.starts_with(b"glTF")
            && crate::GltfImporter::sniffs(&bytes[..bytes.len().min(1024)]))
    {
        return Ok((crate::import_file(path, config)?, CacheStatus::NotStored));
    }
    import_bytes_cached(&name, &bytes, config, cache)
}

/// [`import_file_cached`] for bytes already in memory, named `name`.
pub fn import_bytes_cached(
    name: &str,
    bytes: &[u8],
    config: &ImportConfig,
    cache: &Cache,
) -> Result<(Model, CacheStatus), ImportError> {
    through_cache(name, bytes, config, cache, None)
}

/// [`import_bytes_cached`] that hands out what is ready as it is made, like
/// [`crate::import_streaming`]: a cache hit comes as the parsed model and one batch; a miss is
/// imported streaming, then stored. Without a cache it is `import_streaming`.
pub fn import_bytes_cached_streaming(
    name: &str,
    bytes: &[u8],
    config: &ImportConfig,
    cache: Option<&Cache>,
    on_event: &mut dyn FnMut(crate::ImportEvent<'_>),
) -> Result<(Model, CacheStatus), ImportError> {
    let Some(cache) = cache else {
        return Ok((crate::import_streaming(name, bytes, config, on_event)?, CacheStatus::NotStored));
    };
    through_cache(name, bytes, config, cache, Some(on_event))
}

/// Bytes handed to a file through a buffer, for `postcard::to_extend`; the first write error
/// is kept and returned by [`Sink::finish`].
struct Sink<'f> {
    file: &'f mut std::fs::File,
    buffer: Vec<u8>,
    error: Option<std::io::Error>,
}

impl<'f> Sink<'f> {
    const BUFFER: usize = 1 << 16;

    fn new(file: &'f mut std::fs::File) -> Self {
        Self { file, buffer: Vec::with_capacity(Self::BUFFER), error: None }
    }

    fn flush(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.file.write_all(&self.buffer)
        {
            self.error = Some(e);
        }
        self.buffer.clear();
    }

    /// Writes what is buffered; the first error met, if any.
    fn finish(mut self) -> std::io::Result<()> {
        self.flush();
        self.error.take().map_or(Ok(()), Err)
    }
}

impl Extend<u8> for Sink<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        for b in bytes {
            self.buffer.push(b);
            if self.buffer.len() >= Self::BUFFER {
                self.flush();
            }
        }
    }
}

impl<'a> Extend<&'a u8> for Sink<'_> {
    fn extend<I: IntoIterator<Item = &'a u8>>(&mut self, bytes: I) {
        self.extend(bytes.into_iter().copied());
    }
}

/// The one cache lookup and store behind both entry points: a hit is decoded, renamed to
/// `name` and timed as this load (reading the entry, no meshing); an unusable entry is logged
/// and removed; otherwise the file is imported and its model stored. With `on_event`, a hit is
/// handed out whole and a miss imported streaming.
fn through_cache(
    name: &str,
    bytes: &[u8],
    config: &ImportConfig,
    cache: &Cache,
    on_event: Option<&mut dyn FnMut(crate::ImportEvent<'_>)>,
) -> Result<(Model, CacheStatus), ImportError> {
    let key = Key::new(bytes, config);
    let mut status = CacheStatus::Miss;
    let started = std::time::Instant::now();
    match cache.load(&key) {
        Ok(Some(mut model)) => {
            model.source.name = name.to_owned();
            // The timings describe this load: reading the entry, and no meshing.
            model.source.parse_seconds = started.elapsed().as_secs_f64();
            model.source.geometry_seconds = 0.0;
            if let Some(on_event) = on_event {
                crate::stream::hand_out_whole(&model, on_event);
            }
            return Ok((model, CacheStatus::Hit));
        }
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(file = name, error = %err, "cache entry unusable; importing again");
            let _ = std::fs::remove_file(cache.entry_path(&key));
            status = CacheStatus::Rebuilt;
        }
    }
    let mut model = match on_event {
        Some(on_event) => crate::import_streaming(name, bytes, config, on_event)?,
        None => crate::import_bytes(name, bytes, config)?,
    };
    if let Err(err) = cache.store(&key, &mut model) {
        tracing::warn!(file = name, dir = %cache.dir.display(), error = %err, "cannot store the model in the cache");
        status = CacheStatus::NotStored;
    }
    Ok((model, status))
}

/// What identifies an entry: the content hash and everything else that changes the result.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    content: u128,
    length: u64,
    geometry: bool,
}

impl Key {
    fn new(bytes: &[u8], config: &ImportConfig) -> Self {
        Self {
            content: twox_hash::XxHash3_128::oneshot(bytes),
            length: bytes.len() as u64,
            geometry: config.geometry,
        }
    }

    /// The file name: the content hash mixed with the version and settings.
    fn hex(&self) -> String {
        let salt = twox_hash::XxHash3_128::oneshot(&self.header());
        format!("{salt:032x}")
    }

    /// Magic, format, importer version, content hash, length and settings.
    fn header(&self) -> Vec<u8> {
        let version = env!("CARGO_PKG_VERSION").as_bytes();
        let mut h = Vec::with_capacity(64);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&CACHE_FORMAT.to_le_bytes());
        h.extend_from_slice(&(version.len() as u32).to_le_bytes());
        h.extend_from_slice(version);
        h.extend_from_slice(&self.content.to_le_bytes());
        h.extend_from_slice(&self.length.to_le_bytes());
        h.push(u8::from(self.geometry));
        h
    }
}

/// An entry: the model without its property sets, and the property sets in tagged form.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    model: Model,
    spatial_sets: Vec<Vec<CachedSet>>,
    element_sets: Vec<Vec<CachedSet>>,
}

/// [`PropertySet`] with tagged values.
#[derive(Debug, Serialize, Deserialize)]
struct CachedSet {
    name: String,
    properties: Vec<(String, CachedValue)>,
}

/// [`PropertyValue`], tagged (its own serde form is untagged, for JSON).
#[derive(Debug, Serialize, Deserialize)]
enum CachedValue {
    Text(String),
    Real(f64),
    Integer(i64),
    Bool(bool),
    Other(String),
}

impl Entry {
    /// Moves the property sets out of `model` (put them back with [`Entry::give_back`]).
    fn take_from(model: &mut Model) -> Self {
        let to_cached = |sets: Vec<PropertySet>| -> Vec<CachedSet> {
            sets.into_iter()
                .map(|s| CachedSet {
                    name: s.name,
                    properties: s
                        .properties
                        .into_iter()
                        .map(|p| {
                            let v = match p.value {
                                PropertyValue::Text(t) => CachedValue::Text(t),
                                PropertyValue::Real(r) => CachedValue::Real(r),
                                PropertyValue::Integer(i) => CachedValue::Integer(i),
                                PropertyValue::Bool(b) => CachedValue::Bool(b),
                                PropertyValue::Other(o) => CachedValue::Other(o),
                            };
                            (p.name, v)
                        })
                        .collect(),
                })
                .collect()
        };
        let spatial_sets = model
            .spatial
            .iter_mut()
            .map(|n| to_cached(std::mem::take(&mut n.property_sets)))
            .collect();
        let element_sets = model
            .elements
            .iter_mut()
            .map(|e| to_cached(std::mem::take(&mut e.property_sets)))
            .collect();
        Self {
            model: std::mem::take(model),
            spatial_sets,
            element_sets,
        }
    }

    /// Puts the property sets back into the model (after encoding, or after decoding).
    fn give_back(self, model: &mut Model) {
        if let Some(restored) = self.into_model() {
            *model = restored;
        }
    }

    /// The model with its property sets; `None` when the tables do not fit the model.
    fn into_model(self) -> Option<Model> {
        let Entry {
            mut model,
            spatial_sets,
            element_sets,
        } = self;
        if spatial_sets.len() != model.spatial.len() || element_sets.len() != model.elements.len() {
            return None;
        }
        let from_cached = |sets: Vec<CachedSet>| -> Vec<PropertySet> {
            sets.into_iter()
                .map(|s| PropertySet {
                    name: s.name,
                    properties: s
                        .properties
                        .into_iter()
                        .map(|(name, v)| Property {
                            name,
                            value: match v {
                                CachedValue::Text(t) => PropertyValue::Text(t),
                                CachedValue::Real(r) => PropertyValue::Real(r),
                                CachedValue::Integer(i) => PropertyValue::Integer(i),
                                CachedValue::Bool(b) => PropertyValue::Bool(b),
                                CachedValue::Other(o) => PropertyValue::Other(o),
                            },
                        })
                        .collect(),
                })
                .collect()
        };
        for (node, sets) in model.spatial.iter_mut().zip(spatial_sets) {
            node.property_sets = from_cached(sets);
        }
        for (element, sets) in model.elements.iter_mut().zip(element_sets) {
            element.property_sets = from_cached(sets);
        }
        Some(model)
    }
}
