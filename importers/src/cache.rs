//! A content-addressed cache of imported models on disk: the second import of an unchanged file
//! is a read and a decode instead of a parse and a mesh.
//!
//! - **Key.** XXH3-128 of the file's bytes, together with the importer's version, the cache
//!   format and the parts of [`ImportConfig`] that change the result. The same bytes under
//!   another name or path hit the same entry; the name recorded in the model is the caller's.
//! - **Value.** The [`Model`] encoded with postcard. Property values are untagged in the
//!   model's own serde form (for JSON), which a compact binary format cannot read back, so
//!   property sets travel beside the model in a tagged mirror ([`CachedValue`]), each set
//!   shared in the model written once and shared again when read ([`EntryOut`]).
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
use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;

use serde::{Deserialize, Serialize};

use crate::{ImportConfig, ImportError, Model, Property, PropertySet, PropertyValue};

/// Bumped whenever the encoding of an entry changes, or the importer's output for the same
/// file does (2: boolean cuts by `ifc::cut`; 3: openings by `ifc::openings`; 4: `Model::connections`;
/// 5: coplanar pieces merged after the openings, `cut::merge_coplanar`; 6: products with one
/// shape key share one meshing, `ifc::shape_key`; 7: each shared property set written once).
const CACHE_FORMAT: u32 = 7;

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
        let entry: EntryIn = postcard::from_bytes(body).map_err(|source| EntryError::Decode {
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
        let taken = TakenSets::take_from(model);
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
            let sink = postcard::to_extend(&taken.entry(model), Sink::new(&mut file))
                .map_err(std::io::Error::other)?;
            sink.finish()?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        taken.give_back(model);
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
    let io = |source| ImportError::Io {
        path: name.clone(),
        source,
    };
    let started = std::time::Instant::now();
    // The key from the file read a chunk at a time: a hit never holds the file in memory. A
    // file that may be a tileset or a .gltf is decided below from all its bytes.
    let (content, length, head) = hash_file(path, config.max_file_bytes).map_err(io)?;
    if length > config.max_file_bytes {
        return Err(ImportError::TooLarge {
            path: name,
            bytes: length,
            limit: config.max_file_bytes,
        });
    }
    if !crate::sniff_json(&head, &["\"asset\""]) {
        let key = Key {
            content,
            length,
            geometry: config.geometry,
        };
        let status = match lookup(cache, &key, &name) {
            Ok(model) => return Ok((hit(model, &name, started, None), CacheStatus::Hit)),
            Err(status) => status,
        };
        let bytes = std::fs::read(path).map_err(io)?;
        if Key::new(&bytes, config) == key {
            return import_and_store(&name, &bytes, config, cache, &key, status, None);
        }
        // Changed since it was hashed: the bytes read are what is imported, under their key.
        return through_cache(&name, &bytes, config, cache, None);
    }
    let bytes = std::fs::read(path).map_err(io)?;
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
    let started = std::time::Instant::now();
    let key = Key::new(bytes, config);
    let status = match lookup(cache, &key, name) {
        Ok(model) => return Ok((hit(model, name, started, on_event), CacheStatus::Hit)),
        Err(status) => status,
    };
    import_and_store(name, bytes, config, cache, &key, status, on_event)
}

/// The model the cache holds under `key`, else why there is none: [`CacheStatus::Miss`] (no
/// entry) or [`CacheStatus::Rebuilt`] (an entry that could not be used, logged and removed).
fn lookup(cache: &Cache, key: &Key, name: &str) -> Result<Model, CacheStatus> {
    match cache.load(key) {
        Ok(Some(model)) => Ok(model),
        Ok(None) => Err(CacheStatus::Miss),
        Err(err) => {
            tracing::warn!(file = name, error = %err, "cache entry unusable; importing again");
            let _ = std::fs::remove_file(cache.entry_path(key));
            Err(CacheStatus::Rebuilt)
        }
    }
}

/// A model read from the cache, named `name`, its timings those of this load (reading the
/// entry since `started`, no meshing), handed out whole to `on_event`.
fn hit(
    mut model: Model,
    name: &str,
    started: std::time::Instant,
    on_event: Option<&mut dyn FnMut(crate::ImportEvent<'_>)>,
) -> Model {
    model.source.name = name.to_owned();
    model.source.parse_seconds = started.elapsed().as_secs_f64();
    model.source.geometry_seconds = 0.0;
    if let Some(on_event) = on_event {
        crate::stream::hand_out_whole(&model, on_event);
    }
    model
}

/// Imports `bytes` and stores the model under `key` (`status`: why it was not a hit).
fn import_and_store(
    name: &str,
    bytes: &[u8],
    config: &ImportConfig,
    cache: &Cache,
    key: &Key,
    mut status: CacheStatus,
    on_event: Option<&mut dyn FnMut(crate::ImportEvent<'_>)>,
) -> Result<(Model, CacheStatus), ImportError> {
    let mut model = match on_event {
        Some(on_event) => crate::import_streaming(name, bytes, config, on_event)?,
        None => crate::import_bytes(name, bytes, config)?,
    };
    if let Err(err) = cache.store(key, &mut model) {
        tracing::warn!(file = name, dir = %cache.dir.display(), error = %err, "cannot store the model in the cache");
        status = CacheStatus::NotStored;
    }
    Ok((model, status))
}

/// Bytes read at a time when a file is hashed for its key.
const HASH_CHUNK: usize = 1 << 20;

/// Bytes of a file's head kept by [`hash_file`] (what [`crate::gltf::is_tileset`] sniffs).
const HEAD_BYTES: usize = 4096;

/// XXH3-128 of the file at `path`, the same as [`twox_hash::XxHash3_128::oneshot`] of its
/// bytes, read [`HASH_CHUNK`] at a time; its length; and its first [`HEAD_BYTES`] bytes. Stops
/// reading past `limit` bytes (the length returned is then over the limit).
fn hash_file(path: &Path, limit: u64) -> std::io::Result<(u128, u64, Vec<u8>)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = twox_hash::XxHash3_128::new();
    let mut chunk = vec![0u8; HASH_CHUNK];
    let mut head = Vec::new();
    let mut length = 0u64;
    while length <= limit {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if head.len() < HEAD_BYTES {
            let more = (HEAD_BYTES - head.len()).min(n);
            head.extend_from_slice(&chunk[..more]);
        }
        hasher.write(&chunk[..n]);
        length += n as u64;
    }
    Ok((hasher.finish_128(), length, head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_hashed_in_chunks_has_the_key_of_its_bytes() {
        let dir = std::env::temp_dir().join(format!("rtw-hash-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        // Sizes around the chunk and head bounds, with bytes that differ along the file.
        for len in [0, 1, HEAD_BYTES - 1, HEAD_BYTES + 1, HASH_CHUNK, HASH_CHUNK * 2 + 517] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            let path = dir.join(format!("{len}.bin"));
            std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
            let (content, length, head) = hash_file(&path, u64::MAX).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(content, twox_hash::XxHash3_128::oneshot(&bytes), "{len} bytes");
            assert_eq!(length, len as u64);
            assert_eq!(head, bytes[..len.min(HEAD_BYTES)]);
            let whole = Key::new(&bytes, &ImportConfig::default());
            assert_eq!((whole.content, whole.length), (content, length));
            // Past a limit it stops, and says so by a length over the limit.
            let (_, length, _) = hash_file(&path, 10).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(length > 10, len > 10, "{len} bytes");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
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

/// An entry as written: the model without its property sets, each distinct set once (in
/// tagged form), and which sets each spatial node and element has. Sets shared in the model
/// (one `Arc`) are written once and shared again when read back, so a district's entry holds
/// its few thousand sets rather than a copy per element.
#[derive(Serialize)]
struct EntryOut<'a> {
    model: &'a Model,
    sets: Vec<SetOut<'a>>,
    /// How many sets each spatial node has, then each element, in model order.
    counts: Vec<u32>,
    /// Indices into `sets`, in the order of `counts`.
    uses: Vec<u32>,
}

/// [`EntryOut`] as read back (the same layout, owned).
#[derive(Deserialize)]
struct EntryIn {
    model: Model,
    sets: Vec<CachedSet>,
    counts: Vec<u32>,
    uses: Vec<u32>,
}

/// [`PropertySet`] with tagged values, borrowed for writing.
#[derive(Serialize)]
struct SetOut<'a> {
    name: &'a str,
    properties: Vec<(&'a str, ValueOut<'a>)>,
}

/// [`CachedValue`] borrowed for writing: the same variants in the same order.
#[derive(Serialize)]
enum ValueOut<'a> {
    Text(&'a str),
    Real(f64),
    Integer(i64),
    Bool(bool),
    Other(&'a str),
}

/// [`PropertySet`] with tagged values.
#[derive(Debug, Deserialize)]
struct CachedSet {
    name: String,
    properties: Vec<(String, CachedValue)>,
}

/// [`PropertyValue`], tagged (its own serde form is untagged, for JSON).
#[derive(Debug, Deserialize)]
enum CachedValue {
    Text(String),
    Real(f64),
    Integer(i64),
    Bool(bool),
    Other(String),
}

/// The property-set lists of `model`: each spatial node's, then each element's, in model order
/// (the order of an entry's `counts`).
fn set_owners(model: &mut Model) -> impl Iterator<Item = &mut Vec<Arc<PropertySet>>> {
    let nodes = model.spatial.iter_mut().map(|n| &mut n.property_sets);
    nodes.chain(model.elements.iter_mut().map(|e| &mut e.property_sets))
}

/// The property sets of a model's spatial nodes and elements, moved out while the rest of
/// the model is encoded (its untagged values do not round-trip through postcard).
struct TakenSets(Vec<Vec<Arc<PropertySet>>>);

impl TakenSets {
    /// Moves the sets out of `model` (put them back with [`TakenSets::give_back`]).
    fn take_from(model: &mut Model) -> Self {
        Self(set_owners(model).map(std::mem::take).collect())
    }

    /// The entry to write for `model` (whose sets these are).
    fn entry<'a>(&'a self, model: &'a Model) -> EntryOut<'a> {
        let mut index: HashMap<*const PropertySet, u32> = HashMap::default();
        let mut sets = Vec::new();
        let mut counts = Vec::with_capacity(self.0.len());
        let mut uses = Vec::new();
        for owned in &self.0 {
            counts.push(owned.len() as u32);
            for set in owned {
                let at = *index.entry(Arc::as_ptr(set)).or_insert_with(|| {
                    sets.push(SetOut {
                        name: &set.name,
                        properties: set
                            .properties
                            .iter()
                            .map(|p| {
                                let v = match &p.value {
                                    PropertyValue::Text(t) => ValueOut::Text(t),
                                    PropertyValue::Real(r) => ValueOut::Real(*r),
                                    PropertyValue::Integer(i) => ValueOut::Integer(*i),
                                    PropertyValue::Bool(b) => ValueOut::Bool(*b),
                                    PropertyValue::Other(o) => ValueOut::Other(o),
                                };
                                (p.name.as_str(), v)
                            })
                            .collect(),
                    });
                    (sets.len() - 1) as u32
                });
                uses.push(at);
            }
        }
        EntryOut {
            model,
            sets,
            counts,
            uses,
        }
    }

    /// Puts the sets back into `model`.
    fn give_back(self, model: &mut Model) {
        for (owner, sets) in set_owners(model).zip(self.0) {
            *owner = sets;
        }
    }
}

impl EntryIn {
    /// The model with its property sets, sets shared as they were when written; `None` when
    /// the tables do not fit the model.
    fn into_model(self) -> Option<Model> {
        let EntryIn {
            mut model,
            sets,
            counts,
            uses,
        } = self;
        if counts.len() != model.spatial.len() + model.elements.len()
            || counts.iter().map(|&c| c as usize).sum::<usize>() != uses.len()
        {
            return None;
        }
        let sets: Vec<Arc<PropertySet>> = sets
            .into_iter()
            .map(|s| {
                Arc::new(PropertySet {
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
            })
            .collect();
        let mut uses = uses.into_iter();
        for (owner, count) in set_owners(&mut model).zip(counts) {
            let mut own = Vec::with_capacity(count as usize);
            for at in uses.by_ref().take(count as usize) {
                own.push(sets.get(at as usize)?.clone());
            }
            *owner = own;
        }
        Some(model)
    }
}
