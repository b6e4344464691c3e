//! A content-addressed cache of imported models on disk: the second import of an unchanged file
//! is a read and a decode instead of a parse and a mesh.
//!
//! - **Key.** XXH3-128 of the file's bytes, together with the importer's version, the cache
//!   format and the parts of [`ImportConfig`] that change the result. The same bytes under
//!   another name or path hit the same entry; the name recorded in the model is the caller's.
//! - **Value.** The [`Model`] encoded with postcard in four length-prefixed segments: the
//!   core (everything but the elements and meshes), the meshes, each distinct property set,
//!   and the elements, the last two one record apiece, so that a hit decodes them on every
//!   core at once straight into the model's lists. Property values are untagged in the
//!   model's own serde form (for JSON), which a compact binary format cannot read back, so
//!   property sets travel in a tagged mirror ([`CachedValue`]); a set shared in the model (one
//!   `Arc`) is written once, elements and spatial nodes refer to it by index, and it is shared
//!   again when read ([`write_entry`], [`read_entry`]). A placement whose transform is a
//!   translation is written as its three numbers.
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

use crate::geo::mesh::IDENTITY;
use crate::model::{GeoRef, PlacedSource, WorkSchedule};
use crate::{
    Diagnostic, Element, ImportConfig, ImportError, Mesh, MeshId, Model, Placement, Property,
    PropertySet, PropertyValue, SourceInfo, SpatialKind, SpatialNode,
};

/// Bumped whenever the encoding of an entry changes, or the importer's output for the same
/// file does (2: boolean cuts by `ifc::cut`; 3: openings by `ifc::openings`; 4: `Model::connections`;
/// 5: coplanar pieces merged after the openings, `cut::merge_coplanar`; 6: products with one
/// shape key share one meshing, `ifc::shape_key`; 7: each shared property set written once;
/// 8: segments decoded in parallel, translations written alone; 9: rectangle-extrusion hosts
/// and openings cut as exact `f64` prisms, `openings::exact_prism`; 10: faceted brep hosts
/// and openings, and openings of several items, cut by `ifc::openings` too).
const CACHE_FORMAT: u32 = 10;

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
        let bytes = match read_whole(&path, self.max_bytes) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
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
        read_entry(body).map(Some).map_err(|err| match err {
            BodyError::Layout => EntryError::Layout { path: shown() },
            BodyError::Decode(source) => EntryError::Decode {
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
            write_entry(model, &mut out)?;
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

/// Bytes of an entry read at a time by each core (see [`read_whole`]).
const READ_PIECE: usize = 4 << 20;

/// The bytes of the file at `path`, `Ok(None)` when there is none; an error when it is over
/// `limit` bytes (the cache's size bound, which [`Cache::store`] keeps every entry under). Read in [`READ_PIECE`] pieces on
/// every core: a district's entry is tens of MB, and touching its fresh pages is most of the
/// cost of reading it.
fn read_whole(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
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
    let len = usize::try_from(len).map_err(std::io::Error::other)?;
    #[cfg(unix)]
    {
        use rayon::prelude::*;
        use std::os::unix::fs::FileExt;
        let mut bytes = vec![0u8; len];
        bytes
            .par_chunks_mut(READ_PIECE)
            .enumerate()
            .try_for_each(|(i, piece)| file.read_exact_at(piece, (i * READ_PIECE) as u64))?;
        Ok(Some(bytes))
    }
    #[cfg(not(unix))]
    {
        use std::io::Read;
        let mut bytes = Vec::with_capacity(len);
        (&file).take(len as u64).read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }
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
        for len in [
            0,
            1,
            HEAD_BYTES - 1,
            HEAD_BYTES + 1,
            HASH_CHUNK,
            HASH_CHUNK * 2 + 517,
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            let path = dir.join(format!("{len}.bin"));
            std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
            let (content, length, head) =
                hash_file(&path, u64::MAX).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                content,
                twox_hash::XxHash3_128::oneshot(&bytes),
                "{len} bytes"
            );
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

    fn encoded(model: &Model) -> Vec<u8> {
        let mut body = Vec::new();
        write_entry(model, &mut body).unwrap_or_else(|e| panic!("{e}"));
        body
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
        let body = encoded(&model);
        let segments = split_prefixed::<8>(&body).unwrap_or_default();
        assert_eq!(segments.len(), 4, "core, meshes, sets, elements");
        assert_eq!(
            split_prefixed::<4>(segments[2]).map(|s| s.len()),
            Some(2 + 10_007 / 4 * 2 + 1),
            "each distinct set once"
        );
        assert_eq!(
            split_prefixed::<4>(segments[3]).map(|s| s.len()),
            Some(10_007)
        );
        let back =
            read_entry(&body).unwrap_or_else(|e| panic!("the entry does not read back: {e:?}"));
        assert_eq!(shown(&back), shown(&model));
        // Shared sets are shared again: one allocation for the set every element refers to.
        let first = &back.spatial[0].property_sets[0];
        let named = |name: &'static str| {
            back.elements
                .iter()
                .flat_map(|e| &e.property_sets)
                .filter(move |s| s.name == name)
        };
        assert!(named("Pset_Shared").all(|s| Arc::ptr_eq(s, first)));
        let uses = model
            .elements
            .iter()
            .flat_map(|e| &e.property_sets)
            .filter(|s| s.name == "Pset_Shared")
            .count();
        assert_eq!(named("Pset_Shared").count(), uses);
        // A translation is written as three numbers, not sixteen: element 0 (placed by a
        // translation) takes fewer bytes than sixteen numbers would alone, element 1 (a
        // rotation) more.
        assert_eq!(
            model.elements[0].placements[0].transform[..12],
            IDENTITY[..12]
        );
        let records = split_prefixed::<4>(segments[3]).unwrap_or_default();
        assert!(records[0].len() < 16 * 8, "{} bytes", records[0].len());
        assert!(records[1].len() > 16 * 8, "{} bytes", records[1].len());
    }

    /// `parts` joined behind `W`-byte lengths.
    fn prefixed<const W: usize>(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(&(part.len() as u64).to_le_bytes()[..W]);
            out.extend_from_slice(part);
        }
        out
    }

    #[test]
    fn a_cut_or_inconsistent_body_is_an_error_not_a_panic() {
        let model = synthetic(1_000);
        let body = encoded(&model);
        for cut in [
            0,
            1,
            7,
            8,
            9,
            body.len() / 3,
            body.len() / 2,
            body.len() - 1,
        ] {
            assert!(
                read_entry(&body[..cut]).is_err(),
                "cut at {cut} of {}",
                body.len()
            );
        }
        // A length past the end.
        let mut long = body.clone();
        long[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(read_entry(&long), Err(BodyError::Layout)));
        let segments = split_prefixed::<8>(&body).unwrap_or_default();
        // A segment missing.
        assert!(matches!(
            read_entry(&prefixed::<8>(&segments[..3])),
            Err(BodyError::Layout)
        ));
        // An element record cut short.
        let elements = split_prefixed::<4>(segments[3]).unwrap_or_default();
        let mut records = elements.clone();
        records[500] = &elements[500][..elements[500].len() - 1];
        let cut = prefixed::<4>(&records);
        let body_cut = prefixed::<8>(&[segments[0], segments[1], segments[2], &cut]);
        assert!(matches!(read_entry(&body_cut), Err(BodyError::Decode(_))));
        // A set index past the table: only the first set kept.
        let sets = split_prefixed::<4>(segments[2]).unwrap_or_default();
        let one = prefixed::<4>(&sets[..1]);
        let few = prefixed::<8>(&[segments[0], segments[1], &one, segments[3]]);
        assert!(read_entry(&few).is_err());
        // Garbage where the elements are: an error, whatever the bytes.
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let bad = prefixed::<8>(&[
            segments[0],
            segments[1],
            segments[2],
            &prefixed::<4>(&[&garbage]),
        ]);
        assert!(read_entry(&bad).is_err());
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

/// [`Element`] as written: its sets as indices into the entry's sets, its placements compact.
/// Read back by [`ElementSeed`], field by field in this order.
#[derive(Serialize)]
struct ElementOut<'a> {
    step_id: u32,
    global_id: &'a str,
    class: &'a str,
    name: Option<&'a str>,
    container: Option<usize>,
    type_name: Option<&'a str>,
    property_sets: SetRefs<'a>,
    placements: PlacementsOut<'a>,
    materials: &'a [String],
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

/// Placements written with a translation alone where the transform is one (exactly): most of
/// a district's placements, and most of an entry's bytes when written as sixteen numbers.
struct PlacementsOut<'a>(&'a [Placement]);

impl Serialize for PlacementsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|p| {
            let t = &p.transform;
            let transform = if t[..12] == IDENTITY[..12] && t[15] == 1.0 {
                TransformOut::Translation([t[12], t[13], t[14]])
            } else {
                TransformOut::Matrix(t)
            };
            (p.mesh.0, transform)
        }))
    }
}

/// A placement's transform as written.
#[derive(Serialize)]
enum TransformOut<'a> {
    Translation([f64; 3]),
    Matrix(&'a [f64; 16]),
}

/// [`TransformOut`] as read back (the same variants in the same order).
#[derive(Deserialize)]
enum TransformIn {
    Translation([f64; 3]),
    Matrix([f64; 16]),
}

impl TransformIn {
    fn matrix(self) -> [f64; 16] {
        match self {
            TransformIn::Translation([x, y, z]) => {
                let mut m = IDENTITY;
                m[12..15].copy_from_slice(&[x, y, z]);
                m
            }
            TransformIn::Matrix(m) => m,
        }
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

/// Writes the body of an entry for `model` (after the header) to `out`: four length-prefixed
/// segments, the core ([`CoreOut`]), the meshes, the distinct property sets and the elements,
/// the last two as one length-prefixed record per set or element. A segment is encoded into
/// one reused buffer before its length is known, so writing holds at most one segment (a
/// district's is a few tens of MB) besides the model.
fn write_entry(model: &Model, out: &mut impl Write) -> std::io::Result<()> {
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
    let mut index = SetIndex::default();
    let mut sets = Vec::new();
    let owners = spatial.iter().map(|n| &n.property_sets);
    for set in owners
        .chain(elements.iter().map(|e| &e.property_sets))
        .flatten()
    {
        index.entry(Arc::as_ptr(set)).or_insert_with(|| {
            sets.push(set.as_ref());
            (sets.len() - 1) as u32
        });
    }
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
    let mut segment = Vec::new();
    encode_into(&mut segment, &core)?;
    write_segment(&mut segment, out)?;
    encode_into(&mut segment, &meshes.as_slice())?;
    write_segment(&mut segment, out)?;
    for set in sets {
        push_record(&mut segment, &SetOut::of(set))?;
    }
    write_segment(&mut segment, out)?;
    for e in elements {
        let element = ElementOut {
            step_id: e.step_id,
            global_id: &e.global_id,
            class: &e.class,
            name: e.name.as_deref(),
            container: e.container,
            type_name: e.type_name.as_deref(),
            property_sets: refs(&e.property_sets),
            placements: PlacementsOut(&e.placements),
            materials: &e.materials,
        };
        push_record(&mut segment, &element)?;
    }
    write_segment(&mut segment, out)
}

/// Appends `value`, postcard-encoded, to `buffer`.
fn encode_into<T: Serialize>(buffer: &mut Vec<u8>, value: &T) -> std::io::Result<()> {
    *buffer = postcard::to_extend(value, std::mem::take(buffer)).map_err(std::io::Error::other)?;
    Ok(())
}

/// Appends `value`, postcard-encoded, to `segment` behind its length (u32, little-endian).
fn push_record<T: Serialize>(segment: &mut Vec<u8>, value: &T) -> std::io::Result<()> {
    let at = segment.len();
    segment.extend_from_slice(&[0; 4]);
    encode_into(segment, value)?;
    let len = u32::try_from(segment.len() - at - 4).map_err(std::io::Error::other)?;
    segment[at..at + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Writes `segment` to `out` behind its length (u64, little-endian), and empties it.
fn write_segment(segment: &mut Vec<u8>, out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(&(segment.len() as u64).to_le_bytes())?;
    out.write_all(segment)?;
    segment.clear();
    Ok(())
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
    /// A segment or record does not decode (an index past the sets is such an error).
    Decode(postcard::Error),
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

/// The model an entry's body holds. The core, the meshes and the property sets decode at
/// once, then the elements, each phase on every core.
fn read_entry(body: &[u8]) -> Result<Model, BodyError> {
    let segments = split_prefixed::<8>(body).ok_or(BodyError::Layout)?;
    let [core, meshes, sets, elements] = segments.as_slice() else {
        return Err(BodyError::Layout);
    };
    let sets = split_prefixed::<4>(sets).ok_or(BodyError::Layout)?;
    let elements = split_prefixed::<4>(elements).ok_or(BodyError::Layout)?;
    let ((core, meshes), sets) = rayon::join(
        || {
            rayon::join(
                || postcard::from_bytes::<CoreIn>(core).map_err(BodyError::Decode),
                || postcard::from_bytes::<Vec<Mesh>>(meshes).map_err(BodyError::Decode),
            )
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
    let elements = decode_all(
        &elements,
        |bytes| {
            let mut de = postcard::Deserializer::from_bytes(bytes);
            serde::de::DeserializeSeed::deserialize(ElementSeed { sets: &sets }, &mut de)
        },
        Element::default,
    )?;
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
    Ok(Model {
        source: core.source,
        spatial,
        elements,
        meshes,
        diagnostics: core.diagnostics,
        origin: core.origin,
        georef: core.georef,
        schedules: core.schedules,
        sources: core.sources,
        connections: core.connections,
    })
}

/// Reads an [`ElementOut`] straight into an [`Element`]: set indices become the shared sets
/// of `sets` (an index past them is an error) and placements their matrices, with no list in
/// between.
#[derive(Clone, Copy)]
struct ElementSeed<'s> {
    sets: &'s [Arc<PropertySet>],
}

/// Most items a list read from an entry reserves room for before it has read them: a corrupt
/// length must not allocate what the bytes cannot hold.
const RESERVE_AT_MOST: usize = 64;

impl<'de> serde::de::DeserializeSeed<'de> for ElementSeed<'_> {
    type Value = Element;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Element, D::Error> {
        // Postcard writes a struct as the tuple of its fields.
        de.deserialize_tuple(9, self)
    }
}

impl<'de> serde::de::Visitor<'de> for ElementSeed<'_> {
    type Value = Element;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an element of a cache entry")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Element, A::Error> {
        use serde::de::Error;
        let short = || A::Error::custom("element cut short");
        macro_rules! next {
            () => {
                seq.next_element()?.ok_or_else(short)?
            };
            ($seed:expr) => {
                seq.next_element_seed($seed)?.ok_or_else(short)?
            };
        }
        // Fields in the order of `ElementOut` (a struct expression evaluates in the order
        // written).
        Ok(Element {
            step_id: next!(),
            global_id: next!(),
            class: next!(),
            name: next!(),
            container: next!(),
            type_name: next!(),
            property_sets: next!(SetsSeed(self.sets)),
            placements: next!(PlacementsSeed),
            materials: next!(),
        })
    }
}

/// A list of set indices read as the shared sets they name.
struct SetsSeed<'s>(&'s [Arc<PropertySet>]);

impl<'de> serde::de::DeserializeSeed<'de> for SetsSeed<'_> {
    type Value = Vec<Arc<PropertySet>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for SetsSeed<'_> {
    type Value = Vec<Arc<PropertySet>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("property set indices")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(RESERVE_AT_MOST));
        while let Some(at) = seq.next_element::<u32>()? {
            let set = self.0.get(at as usize).ok_or_else(|| {
                serde::de::Error::custom(format_args!(
                    "property set {at} past the {} of the entry",
                    self.0.len()
                ))
            })?;
            out.push(Arc::clone(set));
        }
        Ok(out)
    }
}

/// A list of `(mesh, transform)` read as placements.
struct PlacementsSeed;

impl<'de> serde::de::DeserializeSeed<'de> for PlacementsSeed {
    type Value = Vec<Placement>;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for PlacementsSeed {
    type Value = Vec<Placement>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("placements")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(RESERVE_AT_MOST));
        while let Some((mesh, transform)) = seq.next_element::<(u32, TransformIn)>()? {
            out.push(Placement {
                mesh: MeshId(mesh),
                transform: transform.matrix(),
            });
        }
        Ok(out)
    }
}
