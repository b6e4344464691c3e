//! Meshing: every element with a body representation through ifc-lite's `GeometryRouter`, with
//! its openings cut, on every core; results cleaned (no NaN, no degenerate triangles, unit
//! normals), shared when bit-identical, and placed relative to [`Model::origin`].

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ifc_lite_core::EntityDecoder;
use ifc_lite_geometry::{
    GeometryRouter, ItemDedupCache, SharedMappedItemCache, resolve_void_index,
};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::clean::{Part, clean};
use super::diagnostic;
use super::instancing;
use super::properties::lower;
use super::semantics::{GeometryJob, JobSource};
use super::shape_key::{RecordHashes, ShapeKey, shape_key};
use super::source::Scanned;
use super::units::Units;
use crate::geo::mesh::translation;
use crate::stream::{ImportEvent, MeshBatch, building_of, importance_rank};
use crate::{Diagnostic, DiagnosticKind, Mesh, MeshId, Model, Placement, Severity};

/// Meshing time of one product above which it is logged as slow (ifc-lite's own budgets bound
/// the work; there is no preemptive deadline, see the module docs of `ifc`).
const SLOW_PRODUCT_SECONDS: f64 = 2.0;

/// Triangles above which a product whose maps are used by no other shape is not placed as
/// an instance (see `lone_maps`): meshing the source again costs about as much as
/// the product (a Revit window's map of 87,000 faces: 0.09 s on top of 0.15 s), while below
/// it the instance is cheap and may share its mesh with an equal map's.
const LONE_MAP_TRIANGLES: usize = 10_000;

/// Products meshed in parallel before their meshes are merged into the model. A chunk's
/// cleaned meshes are all held until the merge shares the equal ones: heaptrack on a
/// 100-building district put 38 MB of the 107 MB peak heap in `clean`'s buffers at 1,024;
/// 256 still gives every core dozens of products per chunk.
const MESH_CHUNK_JOBS: usize = 256;

/// One element's meshing result.
#[derive(Debug, Default)]
struct Outcome {
    /// Cleaned meshes.
    parts: Vec<Part>,
    /// Triangles dropped while cleaning.
    dropped: usize,
    /// Why nothing came out, when nothing did.
    failure: Option<(Severity, String)>,
    /// Openings that could not be cut.
    opening_failures: Vec<String>,
    /// The body placed as instances of shared sources, one per mapped item (then `parts` is
    /// empty).
    instances: Vec<instancing::Instance>,
    /// The parts of a product meshed before with the same shape key (then `parts` is empty),
    /// and this product's world translation.
    shared: Option<(Arc<Memo>, [f64; 3])>,
}

/// One shape's meshing result, shared by every product with its [`ShapeKey`].
#[derive(Debug)]
struct Memo {
    /// As [`Outcome::parts`], of the first product with the key.
    parts: Vec<Part>,
    /// As [`Outcome::instances`], of the first product with the key.
    instances: Vec<instancing::Instance>,
    dropped: usize,
    failure: Option<(Severity, String)>,
    opening_failures: Vec<String>,
    /// The world translation of that first product.
    at: [f64; 3],
}

impl Memo {
    /// The outcome for a product with this shape at `at`: its diagnostics replayed, its
    /// parts shared.
    fn outcome(self: &Arc<Self>, at: [f64; 3]) -> Outcome {
        Outcome {
            dropped: self.dropped,
            failure: self.failure.clone(),
            opening_failures: self.opening_failures.clone(),
            shared: Some((Arc::clone(self), at)),
            ..Outcome::default()
        }
    }
}

/// Per-worker state: a decoder and a router (neither is `Sync`, so each worker has its own).
struct Worker<'a> {
    decoder: EntityDecoder<'a>,
    router: GeometryRouter,
    hashes: RecordHashes<'a>,
}

/// What every meshing worker shares: the file, its units and RTC offset, the opening index
/// and ifc-lite's shared caches.
struct Meshing<'a> {
    bytes: &'a [u8],
    scanned: &'a Scanned<'a>,
    units: &'a Units,
    rtc: (f64, f64, f64),
    void_index: VoidIndex,
    mapped_cache: SharedMappedItemCache,
    dedup_cache: ItemDedupCache,
    instancing: instancing::Context<'a>,
    /// Meshing results by shape key, for the rest of the file.
    memos: Mutex<FxHashMap<u128, Arc<Memo>>>,
    counts: SharingCounts,
    /// Hashes of large representation subtrees, kept for the whole file (see `shape_key`).
    heavy_hashes: super::shape_key::HeavyHashes,
    /// Representation map `#id` → how many mapped items of product bodies in the whole file
    /// use it (see [`lone_maps`]).
    map_users: FxHashMap<u32, usize>,
}

/// How many jobs shared a meshing, for the log.
#[derive(Default)]
struct SharingCounts {
    /// Jobs looked at.
    jobs: AtomicUsize,
    /// Jobs with a shape key.
    keyed: AtomicUsize,
}

/// Host `#id` → the `#id`s of the openings that void it.
type VoidIndex = rustc_hash::FxHashMap<u32, Vec<u32>>;

/// Meshes are merged into the model once each, equal ones shared.
#[derive(Default)]
struct Interner {
    /// [`content_key`](super::clean::content_key) → the meshes stored with it.
    shared: FxHashMap<u64, Vec<MeshId>>,
    /// Representation map `#id` → the mesh of its instances.
    instanced: FxHashMap<u32, MeshId>,
    /// A memo (by address; every memo lives until meshing ends) → the meshes of its parts.
    memoized: FxHashMap<usize, Vec<MeshId>>,
}

impl Interner {
    /// The mesh of `instance`'s representation map, stored on its first use.
    fn instance_mesh(&mut self, meshes: &mut Vec<Mesh>, instance: &instancing::Instance) -> MeshId {
        *self
            .instanced
            .entry(instance.map)
            .or_insert_with(|| {
                let source = &instance.source;
                intern(meshes, &mut self.shared, source.key, Cow::Borrowed(&source.mesh))
            })
    }
}

#[cfg(test)]
thread_local! {
    /// Tests turn shape sharing off on their thread to compare with every product meshed.
    pub(crate) static SHARE_SHAPES: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Whether products with equal shape keys share one meshing (always, outside tests).
fn share_shapes() -> bool {
    #[cfg(test)]
    return SHARE_SHAPES.with(std::cell::Cell::get);
    #[cfg(not(test))]
    true
}

/// Meshes every job into `model` (meshes, placements, origin) and adds diagnostics.
#[allow(clippy::too_many_arguments)] // the file, what its scan found, and where results go
pub(crate) fn mesh_elements(
    bytes: &[u8],
    scanned: &Scanned,
    units: &Units,
    jobs: &[GeometryJob],
    rtc_samples: Option<&super::rtc::Samples>,
    model: &mut Model,
    diagnostics: &mut Vec<Diagnostic>,
    on_event: Option<&mut dyn FnMut(ImportEvent<'_>)>,
) {
    if jobs.is_empty() {
        return;
    }
    let prepass_started = std::time::Instant::now();
    let Some((rtc, void_index)) = prepass(bytes, scanned, units, rtc_samples, diagnostics) else {
        return;
    };
    model.origin = [rtc.0, rtc.1, rtc.2];
    tracing::debug!(
        seconds = prepass_started.elapsed().as_secs_f64(),
        "ifc phase: geometry prepass"
    );
    tracing::debug!(origin = ?model.origin, hosts_with_openings = void_index.len(), "geometry prepass done");
    let sources = instancing::SourceCache::default();
    let meshing = Meshing {
        bytes,
        scanned,
        units,
        rtc,
        void_index,
        mapped_cache: GeometryRouter::new_mapped_item_cache(),
        dedup_cache: GeometryRouter::new_dedup_cache(),
        instancing: instancing::Context {
            cache: &sources,
            length_to_metres: units.length_to_metres,
            rtc: model.origin,
        },
        memos: Mutex::default(),
        counts: SharingCounts::default(),
        heavy_hashes: super::shape_key::HeavyHashes::default(),
        map_users: map_users(jobs),
    };
    // Meshed a chunk at a time and merged in job order (so mesh ids do not depend on the
    // chunking): only one chunk's unmerged product meshes are held at once, instead of every
    // product's mesh before deduplication, which dominated peak memory on large districts.
    let mut interner = Interner::default();
    let Some(on_event) = on_event else {
        let all: Vec<&GeometryJob> = jobs.iter().collect();
        for chunk in all.chunks(MESH_CHUNK_JOBS) {
            meshing.mesh_chunk(chunk, model, &mut interner, diagnostics);
        }
        meshing.log_sharing();
        return;
    };
    // Streaming: building by building, each in importance order, handed out as merged.
    let mut handed_out = vec![false; model.elements.len()];
    for (building, group) in stream_groups(jobs, model) {
        for chunk in group.chunks(MESH_CHUNK_JOBS) {
            let first_mesh = model.meshes.len();
            meshing.mesh_chunk(chunk, model, &mut interner, diagnostics);
            let mut elements = Vec::with_capacity(chunk.len());
            for job in chunk {
                let meshed = model
                    .elements
                    .get(job.element)
                    .is_some_and(|e| !e.placements.is_empty());
                if meshed && !std::mem::replace(&mut handed_out[job.element], true) {
                    elements.push(job.element);
                }
            }
            on_event(ImportEvent::Meshed(MeshBatch {
                model,
                building,
                elements: &elements,
                new_meshes: first_mesh..model.meshes.len(),
            }));
        }
    }
    meshing.log_sharing();
}

/// The jobs by building (in spatial-tree order, then those outside any building), each
/// group in importance order (stable: file order within a rank).
fn stream_groups<'j>(
    jobs: &'j [GeometryJob],
    model: &Model,
) -> Vec<(Option<usize>, Vec<&'j GeometryJob>)> {
    let mut groups: std::collections::BTreeMap<(bool, usize), Vec<&GeometryJob>> =
        Default::default();
    for job in jobs {
        let building = model
            .elements
            .get(job.element)
            .and_then(|e| building_of(model, e.container));
        groups
            .entry((building.is_none(), building.unwrap_or(0)))
            .or_default()
            .push(job);
    }
    groups
        .into_iter()
        .map(|((outside, b), mut group)| {
            group.sort_by_key(|job| importance_rank(&job.class));
            ((!outside).then_some(b), group)
        })
        .collect()
}

/// The file-wide pass before meshing: the RTC offset (zero unless finite) and the opening
/// index; `None` (with a diagnostic) when ifc-lite panics on it.
fn prepass(
    bytes: &[u8],
    scanned: &Scanned,
    units: &Units,
    rtc_samples: Option<&super::rtc::Samples>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<((f64, f64, f64), VoidIndex)> {
    // The prepass decoder's cache is not needed by the workers, which decode on their own.
    let mut decoder = new_decoder(bytes, scanned, units);
    let prepass = catch_unwind(AssertUnwindSafe(|| {
        let probe = GeometryRouter::with_scale(units.length_to_metres);
        let rtc = super::rtc::verdict(&probe, bytes, rtc_samples, &mut decoder).map(|v| v.offset());
        // The relation spans come from the one scan of the file (`source::scan`); this is
        // `void_index_from_content` without its second scan.
        let voids = resolve_void_index(&scanned.void_spans, &scanned.aggregate_spans, &mut decoder);
        (rtc, voids)
    }));
    match prepass {
        Ok((rtc, voids)) => {
            let rtc = rtc.unwrap_or((0.0, 0.0, 0.0));
            let finite = [rtc.0, rtc.1, rtc.2].iter().all(|v| v.is_finite());
            Some((if finite { rtc } else { (0.0, 0.0, 0.0) }, voids))
        }
        Err(panic) => {
            diagnostics.push(diagnostic(
                Severity::Error,
                DiagnosticKind::GeometryMissing,
                None,
                None,
                format!(
                    "ifc-lite panicked while indexing openings, no geometry was built: {}",
                    panic_message(&panic)
                ),
            ));
            None
        }
    }
}

/// A decoder over the file with ifc-lite's strict reals and the file's unit scales.
fn new_decoder<'a>(bytes: &'a [u8], scanned: &Scanned<'a>, units: &Units) -> EntityDecoder<'a> {
    let mut decoder = scanned.decoder(bytes).with_strict_reals();
    decoder.seed_unit_scales(units.length_to_metres, units.plane_angle_to_radians);
    decoder
}

impl<'a> Meshing<'a> {
    /// Meshes `chunk` on every core and merges it into `model` in order. Products with the
    /// shape key of an earlier product share its meshing (see `shape_key`); which product is
    /// meshed is the first with its key in job order, so the model does not depend on timing.
    fn mesh_chunk(
        &self,
        chunk: &[&GeometryJob],
        model: &mut Model,
        interner: &mut Interner,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        let keys: Vec<Option<ShapeKey>> = if share_shapes() {
            self.each_job(chunk.len(), |worker, i| self.key_of(worker, chunk[i]))
        } else {
            vec![None; chunk.len()]
        };
        let meshed = self.to_mesh(&keys);
        let lone = lone_maps(&self.map_users, chunk, &keys);
        // The larger products first (by the records of their and their openings'
        // representations), so that a long one is less likely to start last while the other
        // cores run out of work. A guess only: every large map counts the same, and a wall's
        // cost grows with its openings faster than their records (see `ShapeKey::work`).
        // Results come back in job order whatever the order of work.
        let mut order: Vec<usize> = (0..chunk.len()).collect();
        order.sort_by_key(|&i| {
            std::cmp::Reverse(keys[i].map_or(usize::MAX, |k| k.work) * usize::from(meshed[i]))
        });
        let mut outcomes: Vec<Option<Outcome>> = self.each_job_in(&order, |worker, i| {
            let lone = chunk[i].mapped.iter().all(|m| lone.contains(&m.map));
            meshed[i].then(|| self.mesh_job(worker, chunk[i], lone))
        });
        // In job order: the first of each key becomes the memo of the rest, which are the
        // products after it in this chunk and in the chunks to come.
        let mut memos = self.memos.lock().unwrap_or_else(|e| e.into_inner());
        for ((job, key), outcome) in chunk.iter().zip(&keys).zip(&mut outcomes) {
            let outcome = match key {
                None => outcome.take().unwrap_or_default(),
                Some(key) => {
                    let memo = memos.entry(key.hash).or_insert_with(|| {
                        let done = outcome.take().unwrap_or_default();
                        Arc::new(Memo {
                            parts: done.parts,
                            instances: done.instances,
                            dropped: done.dropped,
                            failure: done.failure,
                            opening_failures: done.opening_failures,
                            at: key.at,
                        })
                    });
                    memo.outcome(key.at)
                }
            };
            merge(job, outcome, model, interner, diagnostics);
        }
    }

    /// `job(worker, i)` for every `i` below `n`, on every core, in order. Each core takes
    /// one worker and the next job as it finishes one: a few products of a file can take
    /// most of its meshing (a Revit window of 87,000 faces, a wall cut by 85 openings), and
    /// rayon's halving of a chunk would leave them queued behind each other on one core.
    fn each_job<T: Send>(
        &self,
        n: usize,
        job: impl Fn(&mut Worker<'a>, usize) -> T + Sync,
    ) -> Vec<T> {
        let order: Vec<usize> = (0..n).collect();
        self.each_job_in(&order, job)
    }

    /// [`Self::each_job`] for every `i` of `order` (each index below its length once), taken
    /// up in that order; the results in index order.
    fn each_job_in<T: Send>(
        &self,
        order: &[usize],
        job: impl Fn(&mut Worker<'a>, usize) -> T + Sync,
    ) -> Vec<T> {
        let n = order.len();
        let next = AtomicUsize::new(0);
        let mut done: Vec<(usize, T)> = (0..rayon::current_num_threads().min(n))
            .into_par_iter()
            .with_max_len(1)
            .map(|_| {
                let mut worker = self.worker();
                let mut done = Vec::new();
                loop {
                    let at = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = order.get(at) else {
                        return done;
                    };
                    done.push((i, job(&mut worker, i)));
                }
            })
            .flatten()
            .collect();
        // Each index was taken by exactly one core: back in job order.
        done.sort_unstable_by_key(|&(i, _)| i);
        done.into_iter().map(|(_, value)| value).collect()
    }

    /// Logs how many products shared a meshing.
    fn log_sharing(&self) {
        let shapes = self.memos.lock().unwrap_or_else(|e| e.into_inner()).len();
        let keyed = self.counts.keyed.load(Ordering::Relaxed);
        tracing::debug!(
            jobs = self.counts.jobs.load(Ordering::Relaxed),
            keyed,
            shapes,
            shared = keyed.saturating_sub(shapes),
            "shape sharing"
        );
    }

    /// Which jobs of a chunk to mesh: those without a key, and the first of each key that no
    /// earlier chunk met.
    fn to_mesh(&self, keys: &[Option<ShapeKey>]) -> Vec<bool> {
        let memos = self.memos.lock().unwrap_or_else(|e| e.into_inner());
        let mut first: rustc_hash::FxHashSet<u128> = Default::default();
        keys.iter()
            .map(|key| {
                key.is_none_or(|key| !memos.contains_key(&key.hash) && first.insert(key.hash))
            })
            .collect()
    }

    /// The shape key of a product job (`None` for type objects' maps, and when ifc-lite
    /// panics on it).
    fn key_of(&self, worker: &mut Worker<'a>, job: &GeometryJob) -> Option<ShapeKey> {
        self.counts.jobs.fetch_add(1, Ordering::Relaxed);
        if !matches!(job.source, JobSource::Product) {
            return None;
        }
        let openings = self
            .void_index
            .get(&job.step_id)
            .map_or(&[][..], Vec::as_slice);
        let key = catch_unwind(AssertUnwindSafe(|| {
            let Worker {
                decoder,
                router,
                hashes,
            } = &mut *worker;
            let entity = decoder.decode_by_id(job.step_id).ok()?;
            shape_key(hashes, router, decoder, &entity, openings)
        }));
        super::bound_cache(&mut worker.decoder);
        worker.hashes.bound();
        let key = key.unwrap_or_else(|_| {
            *worker = self.worker();
            None
        });
        if key.is_some() {
            self.counts.keyed.fetch_add(1, Ordering::Relaxed);
        }
        key
    }

    /// A fresh worker: its own decoder, and a router sharing the caches.
    fn worker(&self) -> Worker<'a> {
        self.worker_from(
            new_decoder(self.bytes, self.scanned, self.units),
            RecordHashes::new(self.bytes, self.scanned).sharing(self.heavy_hashes.clone()),
        )
    }

    /// A worker with a fresh router around `decoder` and `hashes`.
    fn worker_from(&self, decoder: EntityDecoder<'a>, hashes: RecordHashes<'a>) -> Worker<'a> {
        let mut router = GeometryRouter::with_scale_and_rtc(self.units.length_to_metres, self.rtc);
        router.enable_shared_mapped_item_cache(self.mapped_cache.clone());
        router.enable_content_dedup_shared(self.dedup_cache.clone());
        // Steel cut chains in our own code, the rest through ifc-lite (see `boolean`).
        router.register(Box::new(super::boolean::FastBooleans::new()));
        // Plain polygon surface models read straight from their faces (see `surfaces`).
        router.register(Box::new(super::surfaces::FastSurfaces::new()));
        Worker {
            decoder,
            router,
            hashes,
        }
    }

    /// One job, guarded: an error or a panic inside ifc-lite becomes the outcome's failure
    /// (after a panic the worker starts afresh); slow products are logged.
    fn mesh_job(&self, worker: &mut Worker<'a>, job: &GeometryJob, lone: bool) -> Outcome {
        let started = std::time::Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| self.mesh_unguarded(worker, job, lone)));
        let seconds = started.elapsed().as_secs_f64();
        // A worker's decoder caches every entity it decodes: bound it, so that on large
        // files each worker does not end up holding a decoded copy of the whole file. The
        // cache is a memo only (ifc-lite: output stays the same).
        super::bound_cache(&mut worker.decoder);
        if seconds > SLOW_PRODUCT_SECONDS {
            // Logged, not a diagnostic: diagnostics must not depend on the machine's speed.
            tracing::warn!(step_id = job.step_id, class = %job.class, seconds, "meshing one product was slow");
        }
        match result {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(reason)) => Outcome {
                failure: Some((Severity::Warning, reason)),
                ..Outcome::default()
            },
            Err(panic) => {
                // The router's caches may be inconsistent after a panic: start afresh.
                *worker = self.worker();
                Outcome {
                    failure: Some((
                        Severity::Error,
                        format!(
                            "ifc-lite panicked while meshing it: {}",
                            panic_message(&panic)
                        ),
                    )),
                    ..Outcome::default()
                }
            }
        }
    }

    /// One job: its parts through the router, cleaned, then placed as instances when it can,
    /// unless its maps are `lone` (see [`lone_maps`]) and it is large.
    fn mesh_unguarded(
        &self,
        worker: &mut Worker<'a>,
        job: &GeometryJob,
        lone: bool,
    ) -> Result<Outcome, String> {
        let mut entity = None;
        let parts = match &job.source {
            JobSource::Product => {
                let decoded = worker
                    .decoder
                    .decode_by_id(job.step_id)
                    .map_err(|e| lower(&e.to_string()))?;
                let entity = entity.insert(decoded);
                self.product_parts(worker, entity)?
            }
            JobSource::TypeMaps(maps) => type_maps(worker, maps)?,
        };
        let failures = csg_failures(&worker.router);
        let consumed = worker.router.host_consumed_by_void(job.step_id);
        let mut outcome = finish(&parts, failures, consumed);
        let large = || {
            outcome.parts.iter().map(|part| part.mesh.triangle_count()).sum::<usize>()
                > LONE_MAP_TRIANGLES
        };
        if let Some(entity) = &entity
            && !(lone && large())
            && !job.mapped.is_empty()
            && !outcome.parts.is_empty()
            && !self.void_index.contains_key(&job.step_id)
            && let Some(instances) = instancing::instances(
                &self.instancing,
                &worker.router,
                &mut worker.decoder,
                entity,
                &job.mapped,
                &outcome.parts,
            )
        {
            outcome.parts.clear();
            outcome.instances = instances;
        }
        Ok(outcome)
    }
}

impl Meshing<'_> {
    /// A product's parts with its openings cut: by our cutter where it takes them (see
    /// `openings`), else by ifc-lite.
    fn product_parts(
        &self,
        worker: &mut Worker,
        entity: &ifc_lite_core::DecodedEntity,
    ) -> Result<Vec<ifc_lite_geometry::Mesh>, String> {
        if let Some(openings) = self.void_index.get(&entity.id) {
            match super::openings::cut_openings(
                &worker.router,
                &mut worker.decoder,
                entity,
                openings,
            ) {
                Ok(mesh) => return Ok(vec![mesh]),
                Err(why) => {
                    tracing::trace!(id = entity.id, ?why, "openings handed to ifc-lite");
                }
            }
        }
        worker
            .router
            .process_element_with_voids_parts(entity, &mut worker.decoder, &self.void_index)
            .map_err(|e| mesh_error(&e))
    }
}

/// The representation maps that instancing cannot share any further than shape keys do:
/// every use of the map in the file (`map_users`) is by a product job in `chunk`, once
/// each, and all of them have one shape key, so they share one meshing anyway. Placing a large one
/// (see [`LONE_MAP_TRIANGLES`]) as an instance would only mesh its source a second time.
fn lone_maps(
    map_users: &FxHashMap<u32, usize>,
    chunk: &[&GeometryJob],
    keys: &[Option<ShapeKey>],
) -> FxHashSet<u32> {
    // Map → (its uses in this chunk, the one key of the jobs that use it while they
    // agree and use it once each).
    let mut seen: FxHashMap<u32, (usize, Option<u128>)> = FxHashMap::default();
    for (job, key) in chunk.iter().zip(keys) {
        let key = key.map(|k| k.hash);
        for (at, item) in job.mapped.iter().enumerate() {
            let twice = job.mapped[..at].iter().any(|m| m.map == item.map);
            let entry = seen.entry(item.map).or_insert((0, key));
            entry.0 += 1;
            if twice || entry.1 != key {
                entry.1 = None;
            }
        }
    }
    seen.into_iter()
        .filter(|(map, (uses, key))| key.is_some() && map_users.get(map) == Some(uses))
        .map(|(map, _)| map)
        .collect()
}

/// Representation map `#id` → how many mapped items of the jobs' bodies use it.
fn map_users(jobs: &[GeometryJob]) -> FxHashMap<u32, usize> {
    let mut users: FxHashMap<u32, usize> = FxHashMap::default();
    for job in jobs {
        for item in &job.mapped {
            *users.entry(item.map).or_default() += 1;
        }
    }
    users
}

/// The representation maps of a type object, one part each.
fn type_maps(worker: &mut Worker, maps: &[u32]) -> Result<Vec<ifc_lite_geometry::Mesh>, String> {
    let mut parts = Vec::new();
    for &map in maps {
        let map = worker
            .decoder
            .decode_by_id(map)
            .map_err(|e| lower(&e.to_string()))?;
        let part = worker
            .router
            .process_representation_map(&map, &mut worker.decoder)
            .map_err(|e| mesh_error(&e))?;
        parts.push(part);
    }
    Ok(parts)
}

/// Why ifc-lite could not mesh a representation.
fn mesh_error(e: &dyn std::fmt::Display) -> String {
    format!("ifc-lite could not mesh it: {}", lower(&e.to_string()))
}

/// The opening cuts the router reports as failed since the last call, each once.
fn csg_failures(router: &GeometryRouter) -> Vec<String> {
    let mut failures: Vec<String> = router
        .take_csg_failures()
        .into_values()
        .flatten()
        .map(|f| format!("{:?} failed: {:?}", f.op, f.reason).to_lowercase())
        // ifc-lite reports audits of cuts it still accepted as failures too.
        .filter(|f| !f.contains("non-gating"))
        .collect();
    failures.sort();
    failures.dedup();
    failures
}

/// Adds one job's outcome to the model: its diagnostics, then its meshes and placements.
fn merge(
    job: &GeometryJob,
    outcome: Outcome,
    model: &mut Model,
    interner: &mut Interner,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if !outcome_diagnostics(job, &outcome, diagnostics) {
        return;
    }
    let Some(element) = model.elements.make_mut().get_mut(job.element) else {
        return;
    };
    // Exactly as many as come: a push into an empty Vec reserves 4 placements (544 bytes),
    // and most elements have one (heaptrack on a 100-building district: 20 MB of placement
    // buffers at the peak, three quarters of it unused capacity).
    element
        .placements
        .reserve_exact(outcome.instances.len() + outcome.parts.len());
    for instance in outcome.instances {
        element.placements.push(Placement {
            mesh: interner.instance_mesh(&mut model.meshes, &instance),
            transform: instance.transform,
        });
    }
    for part in outcome.parts {
        let id = intern(&mut model.meshes, &mut interner.shared, part.key, Cow::Owned(part.mesh));
        element.placements.push(Placement {
            mesh: id,
            transform: translation(part.origin),
        });
    }
    if let Some((memo, at)) = outcome.shared {
        // The same shape moved by the difference of the two products' translations.
        let shift: [f64; 3] = std::array::from_fn(|k| at[k] - memo.at[k]);
        element.placements.reserve_exact(memo.instances.len());
        for instance in &memo.instances {
            let mut transform = instance.transform;
            for k in 0..3 {
                transform[12 + k] += shift[k];
            }
            element.placements.push(Placement {
                mesh: interner.instance_mesh(&mut model.meshes, instance),
                transform,
            });
        }
        let ids = interner
            .memoized
            .entry(Arc::as_ptr(&memo) as usize)
            .or_insert_with(|| {
                memo.parts
                    .iter()
                    .map(|part| {
                        let mesh = Cow::Borrowed(&part.mesh);
                        intern(&mut model.meshes, &mut interner.shared, part.key, mesh)
                    })
                    .collect()
            });
        element.placements.reserve_exact(ids.len());
        for (&id, part) in ids.iter().zip(&memo.parts) {
            let moved = std::array::from_fn(|k| part.origin[k] + shift[k]);
            element.placements.push(Placement {
                mesh: id,
                transform: translation(moved),
            });
        }
    }
}

/// The diagnostics of one job's outcome; false when it has no geometry to merge.
fn outcome_diagnostics(
    job: &GeometryJob,
    outcome: &Outcome,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let class = Some(job.class.as_str());
    for reason in &outcome.opening_failures {
        diagnostics.push(diagnostic(
            Severity::Warning,
            DiagnosticKind::OpeningNotCut,
            Some(job.step_id),
            class,
            format!("an opening could not be cut ({reason})"),
        ));
    }
    if outcome.dropped > 0 {
        diagnostics.push(diagnostic(
            Severity::Info,
            DiagnosticKind::GeometryRepaired,
            Some(job.step_id),
            class,
            format!(
                "{} degenerate or invalid triangles were dropped",
                outcome.dropped
            ),
        ));
    }
    let Some((severity, reason)) = &outcome.failure else {
        return true;
    };
    if !job.body {
        tracing::debug!(step_id = job.step_id, class = %job.class, reason = %reason, "non-body representation gave no mesh");
        return false;
    }
    diagnostics.push(diagnostic(
        *severity,
        DiagnosticKind::GeometryMissing,
        Some(job.step_id),
        class,
        format!(
            "#{} ({}) has a body representation but no mesh: {reason}",
            job.step_id, job.class
        ),
    ));
    false
}

/// Cleans the router's parts into an outcome.
fn finish(
    parts: &[ifc_lite_geometry::Mesh],
    opening_failures: Vec<String>,
    consumed: bool,
) -> Outcome {
    let mut outcome = Outcome {
        opening_failures,
        ..Outcome::default()
    };
    let mut raw_triangles = 0;
    for part in parts {
        raw_triangles += part.indices.len() / 3;
        let (mesh, dropped) = clean(part);
        outcome.dropped += dropped;
        if let Some(mut mesh) = mesh {
            let origin = if part.origin.iter().all(|v| v.is_finite()) {
                part.origin
            } else {
                [0.0; 3]
            };
            let centre = recentre(&mut mesh);
            outcome.parts.push(Part::new(
                mesh,
                [
                    origin[0] + centre[0],
                    origin[1] + centre[1],
                    origin[2] + centre[2],
                ],
            ));
        }
    }
    if outcome.parts.is_empty() {
        outcome.failure = Some(if consumed {
            (
                Severity::Info,
                "its openings remove the whole body".to_owned(),
            )
        } else if raw_triangles > 0 {
            (
                Severity::Warning,
                "every triangle was degenerate or invalid".to_owned(),
            )
        } else {
            (
                Severity::Warning,
                "the representation produced no triangles (unsupported or empty items)".to_owned(),
            )
        });
    }
    outcome
}

/// Moves `mesh` so that the centre of its bounding box (rounded to the millimetre) is its
/// origin, and returns that centre. Equal shapes at different places then have equal vertices
/// (and share one mesh, see [`intern`]), and coordinates stay small and f32-precise.
fn recentre(mesh: &mut Mesh) -> [f64; 3] {
    let mut min = [f64::INFINITY; 3];
    let mut max = [f64::NEG_INFINITY; 3];
    for v in mesh.positions.chunks_exact(3) {
        for k in 0..3 {
            min[k] = min[k].min(f64::from(v[k]));
            max[k] = max[k].max(f64::from(v[k]));
        }
    }
    let centre: [f64; 3] = std::array::from_fn(|k| ((min[k] + max[k]) * 500.0).round() / 1000.0);
    if !centre.iter().all(|c| c.is_finite()) {
        return [0.0; 3];
    }
    for v in mesh.positions.chunks_exact_mut(3) {
        for k in 0..3 {
            v[k] = (f64::from(v[k]) - centre[k]) as f32;
        }
    }
    centre
}

/// Largest difference (metres, and unit-normal components) between two meshes that are
/// stored once. ifc-lite bakes each product relative to its own centre, so the same shape
/// placed twice differs in the last f32 bits.
const SAME_MESH_TOLERANCE: f32 = 1e-5;

/// Stores `mesh` (of [`content_key`](super::clean::content_key) `key`) once: an equal mesh (same triangles, vertices
/// within [`SAME_MESH_TOLERANCE`]) already stored is reused; a borrowed mesh is copied only
/// when it is new.
fn intern(
    meshes: &mut Vec<Mesh>,
    shared: &mut FxHashMap<u64, Vec<MeshId>>,
    key: u64,
    mesh: Cow<'_, Mesh>,
) -> MeshId {
    let candidates = shared.entry(key).or_default();
    for &id in candidates.iter() {
        if let Some(m) = meshes.get(id.0 as usize)
            && m.indices == mesh.indices
            && close(&m.positions, &mesh.positions)
            && close(&m.normals, &mesh.normals)
        {
            return id;
        }
    }
    let id = MeshId(meshes.len() as u32);
    meshes.push(mesh.into_owned());
    candidates.push(id);
    id
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= SAME_MESH_TOLERANCE)
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod lone_map_tests {
    use super::*;
    use crate::ifc::semantics::MappedBody;

    fn job(step_id: u32, maps: &[u32]) -> GeometryJob {
        GeometryJob {
            element: 0,
            step_id,
            class: "IfcWindow".into(),
            source: JobSource::Product,
            body: true,
            mapped: maps.iter().map(|&map| MappedBody { map, target: None }).collect(),
        }
    }

    fn key(hash: u128) -> Option<ShapeKey> {
        Some(ShapeKey {
            hash,
            at: [0.0; 3],
            work: 1,
        })
    }

    /// A map is lone when all its uses in the file are in the chunk, once per body, by
    /// products of one shape key; a second key, a second use in one body, a use outside the
    /// chunk or a product without a key make it shared.
    #[test]
    fn lone_maps_are_those_no_other_shape_uses() {
        let jobs = [
            job(1, &[10]),     // 10: one product
            job(2, &[20]),     // 20: two products, one key
            job(3, &[20]),
            job(4, &[30]),     // 30: two products, two keys
            job(5, &[30]),
            job(6, &[40, 40]), // 40: twice in one body
            job(7, &[50]),     // 50: also used by a job of another chunk
            job(8, &[60]),     // 60: a product without a key
            job(9, &[70, 71]), // 70 and 71: one product, two maps
        ];
        let mut all: Vec<GeometryJob> = jobs.into_iter().collect();
        all.push(job(99, &[50]));
        let users = map_users(&all);
        let chunk: Vec<&GeometryJob> = all[..9].iter().collect();
        let keys = [key(1), key(2), key(2), key(3), key(4), key(5), key(6), None, key(7)];
        let mut lone: Vec<u32> = lone_maps(&users, &chunk, &keys).into_iter().collect();
        lone.sort_unstable();
        assert_eq!(lone, [10, 20, 70, 71]);
    }
}
