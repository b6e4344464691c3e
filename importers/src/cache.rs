//! A content-addressed cache of imported models on disk: the second import of an unchanged file
//! is a read and a decode instead of a parse and a mesh.
//!
//! - **Key.** A content hash of the file's bytes (XXH3-128 of each 8 MiB piece, hashed on
//!   every core, then of those hashes: [`content_hash`]), together with the importer's
//!   version, the cache format and the parts of [`ImportConfig`] that change the result. The
//!   same bytes under another name or path hit the same entry; the name recorded in the model
//!   is the caller's.
//! - **Value.** Three length-prefixed segments encoded with postcard: the core (everything
//!   but the elements and meshes), the meshes, and each distinct property set, one record
//!   apiece so that a hit decodes them on every core at once. Property values are untagged in
//!   the model's own serde form (for JSON), which a compact binary format cannot read back, so
//!   property sets travel in a tagged mirror ([`CachedValue`]); a set shared in the model (one
//!   `Arc`) is written once, elements and spatial nodes refer to it by index, and it is shared
//!   again when read ([`write_entry`], [`read_entry`]). Then, from an 8-aligned offset, the
//!   elements as a table of columns ([`crate::model::elements`]): a hit maps the entry into memory
//!   and reads the elements in place, after checking every span, run and index of the table
//!   once. Building a district's 380,000 elements as strings and lists of their own was most
//!   of a warm load.
//! - **Safety.** Entries are written to a temporary file and renamed into place, so a reader
//!   never sees half an entry, and a mapped entry is never written in place. Each entry starts with a header that repeats the key; an entry
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

use crate::model::elements::{Backing, Table};
use crate::model::{GeoRef, PlacedSource, WorkSchedule};
use crate::{
    Diagnostic, Elements, ImportConfig, ImportError, Mesh, Model, Property, PropertySet,
    PropertyValue, SourceInfo, SpatialKind, SpatialNode,
};

/// Bumped whenever the encoding of an entry changes, or the importer's output for the same
/// file does (2: boolean cuts by `ifc::cut`; 3: openings by `ifc::openings`; 4: `Model::connections`;
/// 5: coplanar pieces merged after the openings, `cut::merge_coplanar`; 6: products with one
/// shape key share one meshing, `ifc::shape_key`; 7: each shared property set written once;
/// 8: segments decoded in parallel, translations written alone; 9: rectangle-extrusion hosts
/// and openings cut as exact `f64` prisms, `openings::exact_prism`; 10: faceted brep hosts
/// and openings, and openings of several items, cut by `ifc::openings` too; 11: the elements
/// as a table read in place, `model/elements.rs`, and the key hashed in pieces; 12: the table's
/// text length at its end, its rows written as they are made).
const CACHE_FORMAT: u32 = 12;

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
    #[error("{path} is cut short, or its parts do not fit together")]
    Layout { path: String },
    #[error("{path} does not decode: {source}")]
    Decode {
        path: String,
        source: postcard::Error,
    },
    #[error("{path}: the elements cannot be read in place: {source}")]
    Table {
        path: String,
        source: crate::model::elements::TableError,
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
        let entry = match map_entry(&path, self.max_bytes) {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(None),
            Err(source) => {
                return Err(EntryError::Io {
                    path: shown(),
                    source,
                });
            }
        };
        let header = key.header();
        if !entry.bytes().starts_with(&header) {
            return Err(EntryError::Header { path: shown() });
        }
        read_entry(entry, header.len()).map(Some).map_err(|err| match err {
            BodyError::Layout => EntryError::Layout { path: shown() },
            BodyError::Decode(source) => EntryError::Decode {
                path: shown(),
                source,
            },
            BodyError::Table(source) => EntryError::Table {
                path: shown(),
                source,
            },
        })
    }

    /// Stores `model` under `key` atomically, then bounds the directory's size.
    fn store(&self, key: &Key, model: &Model) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
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
            let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut file);
            write_entry(model, &mut out, key.header().len())?;
            out.flush()?;
            drop(out);
            // An entry over the bound would be evicted by the next store, and `load` refuses
            // one (it never reads more than the bound): keep none.
            let len = file.metadata()?.len();
            if len > self.max_bytes {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "an entry of {len} bytes is over the cache's bound of {}",
                        self.max_bytes
                    ),
                ));
            }
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
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
        return Ok((
            crate::import_streaming(name, bytes, config, on_event)?,
            CacheStatus::NotStored,
        ));
    };
    through_cache(name, bytes, config, cache, Some(on_event))
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
    let model = match on_event {
        Some(on_event) => crate::import_streaming(name, bytes, config, on_event)?,
        None => crate::import_bytes(name, bytes, config)?,
    };
    if let Err(err) = cache.store(key, &model) {
        tracing::warn!(file = name, dir = %cache.dir.display(), error = %err, "cannot store the model in the cache");
        status = CacheStatus::NotStored;
    }
    Ok((model, status))
}

/// A cache entry mapped into memory, read in place ([`read_entry`]).
#[derive(Debug)]
struct MappedEntry(memmap2::Mmap);

impl Backing for MappedEntry {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The entry at `path` mapped into memory, `Ok(None)` when there is none; an error when it is
/// over `limit` bytes (the cache's size bound, which [`Cache::store`] keeps every entry
/// under). Mapped rather than read: a district's entry is tens of MB, and copying it into
/// fresh memory (whose first touches cost more than the copy) was most of a warm load.
/// Entries are little-endian, as the elements' table is read as it lies; a big-endian
/// machine reads them into memory of its own and finds them unusable (logged, rebuilt).
fn map_entry(path: &Path, limit: u64) -> std::io::Result<Option<Box<dyn Backing>>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let len = file.metadata()?.len();
    if len > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{len} bytes, over the cache's bound of {limit}"),
        ));
    }
    if cfg!(target_endian = "big") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "cache entries are read in place on little-endian machines only",
        ));
    }
    // SAFETY: the mapping is only read, and lives as long as the model that reads it (the
    // table owns it). Entries are never written in place: `Cache::store` writes a temporary
    // file and renames it over the entry, and eviction removes entries; either leaves a
    // mapping of the old file intact. What the mapping cannot guard against is another
    // program truncating or rewriting the file in place while it is mapped (reads would then
    // fault or see other bytes); the cache directory is this program's own. Every byte read
    // is checked (`read_entry`, `Table::new`) before it is used as an index or a string.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(Some(Box::new(MappedEntry(map))))
}

/// Bytes read at a time when a file is hashed for its key.
const HASH_CHUNK: usize = 1 << 20;

/// Bytes of a file hashed as one piece of its content key: the pieces are hashed on every core
/// at once, then their hashes in order ([`content_hash`]). Hashing a district's 226 MB on
/// one core was a third of a warm load.
const HASH_PIECE: usize = 8 << 20;

/// Bytes of a file's head kept by [`hash_file`] (what [`crate::gltf::is_tileset`] sniffs).
const HEAD_BYTES: usize = 4096;

/// The content key of `bytes`: XXH3-128 of each [`HASH_PIECE`] bytes (the last piece
/// shorter), on every core, then XXH3-128 of those hashes (16 little-endian bytes each) in
/// order. A change anywhere changes its piece's hash and so the key.
fn content_hash(bytes: &[u8]) -> u128 {
    use rayon::prelude::*;
    let pieces: Vec<[u8; 16]> = bytes
        .par_chunks(HASH_PIECE)
        .map(|piece| twox_hash::XxHash3_128::oneshot(piece).to_le_bytes())
        .collect();
    twox_hash::XxHash3_128::oneshot(pieces.as_flattened())
}

/// [`content_hash`] of the file at `path`, read [`HASH_CHUNK`] at a time (pieces on every
/// core); its length; and its first [`HEAD_BYTES`] bytes. A file over `limit` bytes is not
/// read (the length returned is then over the limit). A file that changes while it is read
/// gets a key that matches no bytes of it: the caller reads it whole and keys those.
fn hash_file(path: &Path, limit: u64) -> std::io::Result<(u128, u64, Vec<u8>)> {
    use rayon::prelude::*;
    let file = std::fs::File::open(path)?;
    let length = file.metadata()?.len();
    if length > limit {
        return Ok((0, length, Vec::new()));
    }
    let piece = HASH_PIECE as u64;
    let pieces = length.div_ceil(piece);
    let hash_piece = |i: u64| -> std::io::Result<[u8; 16]> {
        let (start, end) = (i * piece, ((i + 1) * piece).min(length));
        let mut hasher = twox_hash::XxHash3_128::new();
        let mut chunk = vec![0u8; HASH_CHUNK.min((end - start) as usize)];
        let mut at = start;
        while at < end {
            let n = ((end - at) as usize).min(chunk.len());
            read_exact_at(&file, &mut chunk[..n], at)?;
            hasher.write(&chunk[..n]);
            at += n as u64;
        }
        Ok(hasher.finish_128().to_le_bytes())
    };
    let hashes: Vec<[u8; 16]> = (0..pieces)
        .into_par_iter()
        .map(hash_piece)
        .collect::<std::io::Result<_>>()?;
    let mut head = vec![0u8; (HEAD_BYTES as u64).min(length) as usize];
    read_exact_at(&file, &mut head, 0)?;
    Ok((twox_hash::XxHash3_128::oneshot(hashes.as_flattened()), length, head))
}

/// Fills `buf` from `file` at `offset`, without moving a shared cursor (so pieces are read
/// on several cores at once).
#[cfg(unix)]
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from `file` at `offset` (one reader at a time where positioned reads move the
/// cursor).
#[cfg(not(unix))]
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek};
    static CURSOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = CURSOR.lock().unwrap_or_else(|p| p.into_inner());
    let mut file = file;
    file.seek(std::io::SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::mesh::IDENTITY;
    use crate::{Element, MeshId, Placement};

    #[test]
    fn a_file_hashed_in_chunks_has_the_key_of_its_bytes() {
        let dir = std::env::temp_dir().join(format!("rtw-hash-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        // The key by its definition: each piece's hash, then the hash of those in order.
        let by_hand = |bytes: &[u8]| {
            let mut hashes = Vec::new();
            for piece in bytes.chunks(HASH_PIECE) {
                hashes.extend_from_slice(&twox_hash::XxHash3_128::oneshot(piece).to_le_bytes());
            }
            twox_hash::XxHash3_128::oneshot(&hashes)
        };
        // Sizes around the chunk, piece and head bounds, with bytes that differ along the file.
        for len in [
            0,
            1,
            HEAD_BYTES - 1,
            HEAD_BYTES + 1,
            HASH_CHUNK,
            HASH_CHUNK * 2 + 517,
            HASH_PIECE,
            HASH_PIECE * 2 + 517,
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            let path = dir.join(format!("{len}.bin"));
            std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
            let (content, length, head) =
                hash_file(&path, u64::MAX).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(content, by_hand(&bytes), "{len} bytes");
            assert_eq!(length, len as u64);
            assert_eq!(head, bytes[..len.min(HEAD_BYTES)]);
            let whole = Key::new(&bytes, &ImportConfig::default());
            assert_eq!((whole.content, whole.length), (content, length));
            // Past a limit it stops, and says so by a length over the limit.
            let (_, length, _) = hash_file(&path, 10).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(length > 10, len > 10, "{len} bytes");
            // One byte changed anywhere (here in the last piece) changes the key.
            if len > 0 {
                let mut changed = bytes.clone();
                changed[len - 1] ^= 1;
                assert_ne!(content_hash(&changed), content, "{len} bytes");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn set(name: &str, value: PropertyValue) -> Arc<PropertySet> {
        Arc::new(PropertySet {
            name: name.to_owned(),
            properties: vec![Property {
                name: "P".to_owned(),
                value,
            }],
        })
    }

    /// A model of `n` elements: shared and own property sets, translations, a rotation, a
    /// scale, a NaN, no placement, no name.
    fn synthetic(n: usize) -> Model {
        let shared = set("Pset_Shared", PropertyValue::Text("共享".to_owned()));
        let mut model = Model::default();
        model.spatial.push(SpatialNode {
            step_id: 1,
            global_id: "0site".to_owned(),
            class: "IfcSite".to_owned(),
            kind: SpatialKind::Site,
            name: Some("Site".to_owned()),
            parent: None,
            elevation: Some(2.5),
            property_sets: vec![
                shared.clone(),
                set("Pset_SiteCommon", PropertyValue::Bool(true)),
            ],
        });
        model.meshes.push(Mesh {
            positions: vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            normals: vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0],
            indices: vec![0, 1, 2],
        });
        for i in 0..n {
            let mut transform = IDENTITY;
            transform[12..15].copy_from_slice(&[i as f64 * 0.1, -(i as f64), 1e7 + i as f64]);
            match i % 10 {
                1 => transform[..2].copy_from_slice(&[0.0, 1.0]), // a rotation's first column
                2 => transform[10] = 2.0,                         // a scale
                3 => transform[15] = f64::NAN,
                _ => {}
            }
            let own = set("Pset_Own", PropertyValue::Integer(i as i64));
            model.elements.push(Element {
                step_id: i as u32 + 2,
                global_id: format!("{i:022}"),
                class: "IfcWall".to_owned(),
                name: (i % 3 != 0).then(|| format!("Wall {i}")),
                container: Some(0),
                type_name: (i % 2 == 0).then(|| "Type A".to_owned()),
                property_sets: match i % 4 {
                    0 => vec![],
                    1 => vec![shared.clone()],
                    _ => vec![shared.clone(), own],
                },
                placements: if i % 7 == 6 {
                    vec![]
                } else {
                    vec![Placement {
                        mesh: MeshId(0),
                        transform,
                    }]
                },
                materials: vec!["Concrete".to_owned(); i % 3],
            });
        }
        model
    }

    /// An entry's body for `model` after a header of `start` bytes (the table's alignment
    /// depends on it).
    fn encoded(model: &Model, start: usize) -> Vec<u8> {
        let mut body = vec![0xA5; start];
        write_entry(model, &mut body, start).unwrap_or_else(|e| panic!("{e}"));
        body
    }

    fn read_back(body: &[u8], start: usize) -> Result<Model, BodyError> {
        read_entry(Box::new(crate::model::elements::OwnedBytes::new(body)), start)
    }

    /// The model as JSON with NaN spelled out (JSON has no NaN), for comparison.
    fn shown(model: &Model) -> String {
        format!("{:?}", serde_json::to_value(model).ok()).replace("NaN", "nan")
            + &format!(
                "{:?}",
                model
                    .elements
                    .iter()
                    .map(|e| e
                        .placements
                        .iter()
                        .map(|p| p.transform.map(f64::to_bits))
                        .collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            )
    }

    #[test]
    fn an_entry_reads_back_the_same_model() {
        let model = synthetic(10_007);
        // Headers of every length modulo 8: the table is aligned whatever precedes it.
        for start in [0, 1, 5, 8, 61] {
            let body = encoded(&model, start);
            let back = read_back(&body, start)
                .unwrap_or_else(|e| panic!("the entry does not read back: {e:?}"));
            assert!(back.elements.is_read_in_place());
            assert_eq!(shown(&back), shown(&model), "after {start} bytes");
        }
        let body = encoded(&model, 3);
        let back = read_back(&body, 3).unwrap_or_else(|e| panic!("{e:?}"));
        // Each distinct set once, and shared again: one allocation for the set every element
        // refers to, the same as the site's.
        let mut at = 3;
        let _core = next_segment(&body, &mut at);
        let _meshes = next_segment(&body, &mut at);
        let sets = next_segment(&body, &mut at).unwrap_or_default();
        assert_eq!(
            split_prefixed::<4>(sets).map(|s| s.len()),
            Some(2 + 10_007 / 4 * 2 + 1),
            "each distinct set once"
        );
        let first = &back.spatial[0].property_sets[0];
        let named = |name: &'static str| {
            back.elements
                .iter()
                .flat_map(|e| e.property_sets)
                .filter(move |s| s.name == name)
        };
        assert!(named("Pset_Shared").all(|s| Arc::ptr_eq(s, first)));
        let uses = model
            .elements
            .iter()
            .flat_map(|e| e.property_sets)
            .filter(|s| s.name == "Pset_Shared")
            .count();
        assert_eq!(named("Pset_Shared").count(), uses);
        // Repeated names are written once: "Type A", "Concrete" and "IfcWall" are in the
        // table's text once each, each global id once.
        let text = String::from_utf8_lossy(&body);
        assert_eq!(text.matches("Type A").count(), 1);
        assert_eq!(text.matches("Concrete").count(), 1);
        assert_eq!(text.matches("IfcWall").count(), 1);
        // Sets equal in content but not in allocation are written once and shared when read:
        // a copy of the shared set given to the first element, and each element's own set
        // given again as a fresh copy to the next.
        let mut copies = model.clone();
        let list = copies.elements.make_mut();
        list[1].property_sets = vec![Arc::new((*list[1].property_sets[0]).clone())];
        for i in (3..100).step_by(4) {
            let own = Arc::new((*list[i - 1].property_sets[1]).clone());
            list[i].property_sets.push(own);
        }
        let again = encoded(&copies, 0);
        let mut at = 0;
        let _core = next_segment(&again, &mut at);
        let _meshes = next_segment(&again, &mut at);
        let sets_again = next_segment(&again, &mut at).unwrap_or_default();
        assert_eq!(split_prefixed::<4>(sets_again).map(|s| s.len()), split_prefixed::<4>(sets).map(|s| s.len()));
        let back = read_back(&again, 0).unwrap_or_else(|e| panic!("{e:?}"));
        let sets_of = |i: usize| back.elements.at(i).property_sets;
        assert!(Arc::ptr_eq(&sets_of(1).iter().next().cloned().unwrap_or_else(|| set("none", PropertyValue::Bool(false))), &back.spatial[0].property_sets[0]));
        assert!(sets_of(3).get(2).zip(sets_of(2).get(1)).is_some_and(|(a, b)| Arc::ptr_eq(a, b)));
        // Edits copy the table into a list of its own, the same elements.
        let mut edited = back.clone();
        edited.elements.make_mut()[0].name = Some("edited".to_owned());
        assert!(!edited.elements.is_read_in_place() && back.elements.is_read_in_place());
        assert_eq!(edited.elements.at(0).name, Some("edited"));
        assert_eq!(edited.elements.at(1).name, back.elements.at(1).name);
        assert_eq!(format!("{:?}", edited.elements.at(9_999)), format!("{:?}", back.elements.at(9_999)));
    }

    #[test]
    fn a_cut_or_inconsistent_body_is_an_error_not_a_panic() {
        let model = synthetic(1_000);
        let body = encoded(&model, 0);
        assert!(read_back(&body, 0).is_ok());
        for cut in [0, 1, 7, 8, 9, body.len() / 3, body.len() / 2, body.len() - 1] {
            assert!(read_back(&body[..cut], 0).is_err(), "cut at {cut} of {}", body.len());
        }
        // Bytes after the table (the text's length is the entry's last eight bytes).
        let mut long = body.clone();
        long.extend_from_slice(&[0; 8]);
        assert!(matches!(read_back(&long, 0), Err(BodyError::Table(_))));
        // A segment's length past the end.
        let mut past = body.clone();
        past[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(read_back(&past, 0), Err(BodyError::Layout)));
        // Where the table starts, and its columns.
        let mut at = 0;
        for _ in 0..3 {
            next_segment(&body, &mut at).unwrap_or_else(|e| panic!("{e:?}"));
        }
        let table = at.next_multiple_of(8);
        let layout = crate::model::elements::read_layout(&body, table).unwrap_or_else(|e| panic!("{e}"));
        let u32_at = |bytes: &mut Vec<u8>, at: usize, v: u32| bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let row = |k: usize, field: usize| layout.rows.start + k * 64 + field * 4;
        let table_error = |bytes: &Vec<u8>| matches!(read_back(bytes, 0), Err(BodyError::Table(_)));
        // A row count larger than the bytes.
        let mut more = body.clone();
        more[table..table + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(table_error(&more));
        // A global id running past the text; a name that splits a character (共 is three
        // bytes); a container past the spatial nodes; a run of sets past the column; a set
        // index past the sets; a placement run past the column; a material span past the text.
        let mut cases = Vec::new();
        let mut b = body.clone();
        u32_at(&mut b, row(500, 3), u32::MAX - 1);
        cases.push(b);
        let mut b = body.clone();
        let text_len = (layout.text.end - layout.text.start) as u32;
        u32_at(&mut b, row(1, 6), text_len - 1);
        u32_at(&mut b, row(1, 7), 2);
        cases.push(b);
        let mut b = body.clone();
        u32_at(&mut b, row(7, 1), 1);
        cases.push(b);
        let mut b = body.clone();
        u32_at(&mut b, row(999, 10), u32::MAX);
        cases.push(b);
        let mut b = body.clone();
        u32_at(&mut b, layout.set_at.start, 1 << 30);
        cases.push(b);
        let mut b = body.clone();
        u32_at(&mut b, row(2, 13), 1 << 20);
        cases.push(b);
        let mut b = body.clone();
        if !layout.materials.is_empty() {
            u32_at(&mut b, layout.materials.start, text_len);
        }
        cases.push(b);
        for (k, case) in cases.iter().enumerate() {
            assert!(table_error(case), "case {k}");
        }
        // Garbage where the table is: an error, whatever the bytes.
        for seed in 0..64u32 {
            let mut garbage = body.clone();
            for (i, byte) in garbage[table + 8..].iter_mut().enumerate() {
                if (i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 61 == 0 {
                    *byte = (i as u32).wrapping_mul(seed | 1) as u8;
                }
            }
            if let Ok(m) = read_back(&garbage, 0) {
                // Bytes that happen to read as a table are read without a panic.
                let _ = serde_json::to_string(&m.elements);
            }
        }
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
            content: content_hash(bytes),
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

/// The first segment of an entry: the model without its elements and meshes, and its spatial
/// nodes with their property sets as indices into the entry's sets. The sets and the
/// elements follow in segments of their own, one length-prefixed record each, so that a hit
/// decodes them on every core at once straight into the model's lists.
#[derive(Serialize)]
struct CoreOut<'a> {
    source: &'a SourceInfo,
    spatial: Vec<SpatialOut<'a>>,
    diagnostics: &'a [Diagnostic],
    origin: [f64; 3],
    georef: &'a Option<GeoRef>,
    schedules: &'a [WorkSchedule],
    sources: &'a [PlacedSource],
    connections: &'a [[u32; 2]],
}

/// [`CoreOut`] as read back.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct CoreIn {
    source: SourceInfo,
    spatial: Vec<SpatialIn>,
    diagnostics: Vec<Diagnostic>,
    origin: [f64; 3],
    georef: Option<GeoRef>,
    schedules: Vec<WorkSchedule>,
    sources: Vec<PlacedSource>,
    connections: Vec<[u32; 2]>,
}

/// [`SpatialNode`] as written: its sets as indices into the entry's sets.
#[derive(Serialize)]
struct SpatialOut<'a> {
    step_id: u32,
    global_id: &'a str,
    class: &'a str,
    kind: SpatialKind,
    name: Option<&'a str>,
    parent: Option<usize>,
    elevation: Option<f64>,
    property_sets: SetRefs<'a>,
}

/// [`SpatialOut`] as read back.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct SpatialIn {
    step_id: u32,
    global_id: String,
    class: String,
    kind: SpatialKind,
    name: Option<String>,
    parent: Option<usize>,
    elevation: Option<f64>,
    property_sets: Vec<u32>,
}

/// Where each distinct set (by address) is in the entry's sets.
type SetIndex = HashMap<*const PropertySet, u32>;

/// A list of sets written as their indices in the entry.
struct SetRefs<'a> {
    sets: &'a [Arc<PropertySet>],
    index: &'a SetIndex,
}

impl Serialize for SetRefs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.sets.iter().map(|set| self.index[&Arc::as_ptr(set)]))
    }
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
#[cfg_attr(test, derive(Serialize))]
struct CachedSet {
    name: String,
    properties: Vec<(String, CachedValue)>,
}

/// [`PropertyValue`], tagged (its own serde form is untagged, for JSON).
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
enum CachedValue {
    Text(String),
    Real(f64),
    Integer(i64),
    Bool(bool),
    Other(String),
}

impl SetOut<'_> {
    fn of(set: &PropertySet) -> SetOut<'_> {
        SetOut {
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
        }
    }
}

impl CachedSet {
    fn into_set(self) -> PropertySet {
        PropertySet {
            name: self.name,
            properties: self
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
        }
    }
}

/// Writes the body of an entry for `model` to `out`, which has `start` bytes of the entry
/// before it (the header): three length-prefixed segments, the core ([`CoreOut`]), the meshes
/// and the distinct property sets (one length-prefixed record per set); then, from the next
/// 8-aligned offset of the entry, the elements as a table read in place
/// ([`crate::model::elements::write_table`]). A segment is encoded into one reused buffer before its
/// length is known, so writing holds at most one segment or the table's rows and text (a
/// district's are a few tens of MB) besides the model.
fn write_entry(model: &Model, out: &mut impl Write, start: usize) -> std::io::Result<()> {
    let Model {
        source,
        spatial,
        elements,
        meshes,
        diagnostics,
        origin,
        georef,
        schedules,
        sources,
        connections,
    } = model;
    // Each distinct set once: by allocation, then by content (a district's elements carry
    // 40,000 sets of which 5,000 differ; a hit decodes each once and shares it).
    let mut index = SetIndex::default();
    let mut set_records = Vec::new();
    let mut by_content: HashMap<u128, Vec<(u32, std::ops::Range<usize>)>> = HashMap::default();
    let mut distinct = 0u32;
    let mut record = Vec::new();
    let mut add = |set: &Arc<PropertySet>| -> std::io::Result<()> {
        if index.contains_key(&Arc::as_ptr(set)) {
            return Ok(());
        }
        record.clear();
        encode_into(&mut record, &SetOut::of(set))?;
        let same = by_content.entry(twox_hash::XxHash3_128::oneshot(&record)).or_default();
        let at = match same.iter().find(|(_, r)| set_records[r.clone()] == record[..]) {
            Some((at, _)) => *at,
            None => {
                let len = u32::try_from(record.len()).map_err(std::io::Error::other)?;
                set_records.extend_from_slice(&len.to_le_bytes());
                set_records.extend_from_slice(&record);
                same.push((distinct, set_records.len() - record.len()..set_records.len()));
                distinct += 1;
                distinct - 1
            }
        };
        index.insert(Arc::as_ptr(set), at);
        Ok(())
    };
    for set in spatial.iter().flat_map(|n| &n.property_sets) {
        add(set)?;
    }
    for set in elements.iter().flat_map(|e| e.property_sets) {
        add(set)?;
    }
    drop(by_content);
    let refs = |sets| SetRefs {
        sets,
        index: &index,
    };
    let core = CoreOut {
        source,
        spatial: spatial
            .iter()
            .map(|n| SpatialOut {
                step_id: n.step_id,
                global_id: &n.global_id,
                class: &n.class,
                kind: n.kind,
                name: n.name.as_deref(),
                parent: n.parent,
                elevation: n.elevation,
                property_sets: refs(&n.property_sets),
            })
            .collect(),
        diagnostics,
        origin: *origin,
        georef,
        schedules,
        sources,
        connections,
    };
    let mut written = start;
    let mut segment = Vec::new();
    encode_into(&mut segment, &core)?;
    written += write_segment(&mut segment, out)?;
    encode_into(&mut segment, &meshes.as_slice())?;
    written += write_segment(&mut segment, out)?;
    written += write_segment(&mut set_records, out)?;
    drop(segment);
    out.write_all(&[0; 8][..written.next_multiple_of(8) - written])?;
    let set_index = |set: &Arc<PropertySet>| index[&Arc::as_ptr(set)];
    crate::model::elements::write_table(elements, &set_index, out)?;
    Ok(())
}

/// Appends `value`, postcard-encoded, to `buffer`.
fn encode_into<T: Serialize>(buffer: &mut Vec<u8>, value: &T) -> std::io::Result<()> {
    *buffer = postcard::to_extend(value, std::mem::take(buffer)).map_err(std::io::Error::other)?;
    Ok(())
}

/// Writes `segment` to `out` behind its length (u64, little-endian), and empties it; the
/// bytes written.
fn write_segment(segment: &mut Vec<u8>, out: &mut impl Write) -> std::io::Result<usize> {
    out.write_all(&(segment.len() as u64).to_le_bytes())?;
    out.write_all(segment)?;
    let written = 8 + segment.len();
    segment.clear();
    Ok(written)
}

/// Splits `body` into its length-prefixed parts (`W` bytes of little-endian length each);
/// `None` when a length runs past the end.
fn split_prefixed<const W: usize>(mut body: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let (len, rest) = body.split_first_chunk::<W>()?;
        let mut wide = [0u8; 8];
        wide[..W].copy_from_slice(len);
        let len = usize::try_from(u64::from_le_bytes(wide)).ok()?;
        if len > rest.len() {
            return None;
        }
        let (part, rest) = rest.split_at(len);
        out.push(part);
        body = rest;
    }
    Some(out)
}

/// Why an entry's body could not be read back into a model.
#[derive(Debug)]
enum BodyError {
    /// Its segments or records do not fit together.
    Layout,
    /// A segment or record does not decode.
    Decode(postcard::Error),
    /// The elements' table is cut short or inconsistent (an index past the sets is such an
    /// error).
    Table(crate::model::elements::TableError),
}

/// `parts` decoded on every core straight into one list, in order; the first error if any
/// fails (the list is then dropped).
fn decode_all<T: Send>(
    parts: &[&[u8]],
    decode: impl Fn(&[u8]) -> Result<T, postcard::Error> + Sync,
    placeholder: impl Fn() -> T + Sync,
) -> Result<Vec<T>, BodyError> {
    use rayon::prelude::*;
    let failed = std::sync::Mutex::new(None);
    let mut out = Vec::new();
    parts
        .par_iter()
        .map(|part| {
            decode(part).unwrap_or_else(|err| {
                failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(err);
                placeholder()
            })
        })
        .collect_into_vec(&mut out);
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(err) => Err(BodyError::Decode(err)),
        None => Ok(out),
    }
}


/// The next length-prefixed (u64) segment of `bytes` from `*at`, moving `*at` past it.
fn next_segment<'b>(bytes: &'b [u8], at: &mut usize) -> Result<&'b [u8], BodyError> {
    let len = bytes
        .get(*at..at.saturating_add(8))
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .and_then(|len| usize::try_from(len).ok())
        .ok_or(BodyError::Layout)?;
    let start = *at + 8;
    let segment = start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .ok_or(BodyError::Layout)?;
    *at = start + len;
    Ok(segment)
}

/// The model an entry holds, its body from `start` of `entry`. The core, the meshes and the
/// property sets decode at once (on every core); the elements are read in place, a table
/// over `entry`'s own bytes, checked once here.
fn read_entry(entry: Box<dyn Backing>, start: usize) -> Result<Model, BodyError> {
    let bytes = entry.bytes();
    let mut at = start;
    let core = next_segment(bytes, &mut at)?;
    let meshes = next_segment(bytes, &mut at)?;
    let sets = next_segment(bytes, &mut at)?;
    let sets = split_prefixed::<4>(sets).ok_or(BodyError::Layout)?;
    let table_at = at.next_multiple_of(8);
    let layout = crate::model::elements::read_layout(bytes, table_at).map_err(BodyError::Table)?;
    // The table is checked once the core says how many spatial nodes there are, while the
    // sets decode.
    let set_count = sets.len();
    let ((core, meshes), sets) = rayon::join(
        || {
            let (core, meshes) = rayon::join(
                || postcard::from_bytes::<CoreIn>(core).map_err(BodyError::Decode),
                || postcard::from_bytes::<Vec<Mesh>>(meshes).map_err(BodyError::Decode),
            );
            let checked = match &core {
                Ok(core) => Table::check(bytes, &layout, set_count, core.spatial.len()).map_err(BodyError::Table),
                Err(_) => Ok(()),
            };
            (checked.and(core), meshes)
        },
        || {
            decode_all(
                &sets,
                |bytes| postcard::from_bytes::<CachedSet>(bytes).map(|s| Arc::new(s.into_set())),
                || {
                    Arc::new(PropertySet {
                        name: String::new(),
                        properties: Vec::new(),
                    })
                },
            )
        },
    );
    let (core, meshes, sets) = (core?, meshes?, sets?);
    let shared = |indices: Vec<u32>| -> Result<Vec<Arc<PropertySet>>, BodyError> {
        indices
            .into_iter()
            .map(|i| sets.get(i as usize).cloned().ok_or(BodyError::Layout))
            .collect()
    };
    let spatial = core
        .spatial
        .into_iter()
        .map(|n| {
            Ok(SpatialNode {
                step_id: n.step_id,
                global_id: n.global_id,
                class: n.class,
                kind: n.kind,
                name: n.name,
                parent: n.parent,
                elevation: n.elevation,
                property_sets: shared(n.property_sets)?,
            })
        })
        .collect::<Result<Vec<_>, BodyError>>()?;
    let table = Table::checked(entry, layout, sets);
    Ok(Model {
        source: core.source,
        spatial,
        elements: Elements::from_table(table),
        meshes,
        diagnostics: core.diagnostics,
        origin: core.origin,
        georef: core.georef,
        schedules: core.schedules,
        sources: core.sources,
        connections: core.connections,
    })
}
