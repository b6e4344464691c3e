//! Serving while the scene loads: `renewtwin serve` listens at once, and what the importer
//! has made so far is here for the clients that connect before the load is done.
//!
//! The loader (the command line) calls [`Loading::parsed`] once the model is parsed,
//! [`Loading::meshed`] with each batch of wire frames as it is encoded
//! ([`renewtwin_twin::wire::WireStream`]), and [`Loading::ready`] with the server's full
//! state once the scene is loaded (or [`Loading::failed`]). A WebSocket client that connects
//! before then gets a provisional scene header (its `scene_hash` all zeros: nothing to cache
//! or resume by; bounding box, mesh and triangle counts of what is made so far; the batch
//! count an estimate) and the batches as they are made; once the scene is loaded it gets the
//! final header and the whole scene like any later client, then the live state. Requests for
//! anything else wait until the scene is loaded.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use renewtwin_protocol::{CivilDate, ElementInfo, SceneHash, SceneHeader, SimDay};

use crate::AppState;

/// A scene being loaded, shared by the loader and the server.
#[derive(Debug)]
pub struct Loading {
    inner: Mutex<Inner>,
    changed: tokio::sync::watch::Sender<u64>,
    ready: OnceLock<AppState>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    plan_start: CivilDate,
    elements: Option<Arc<Vec<ElementInfo>>>,
    buildings: u32,
    batches_made: u32,
    frames: Vec<axum::body::Bytes>,
    bbox: [f64; 6],
    meshes: u32,
    triangles: u64,
    failed: Option<String>,
    done: bool,
    version: u64,
}

/// How far the load is, for `/api/health` while it runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Progress {
    /// `parsing`, `meshing`, `ready` or `failed`.
    pub phase: &'static str,
    /// Elements of the parsed model (0 before the parse ends).
    pub elements: usize,
    /// Buildings in the model (the importer meshes one after another).
    pub buildings: u32,
    /// The importer's batches meshed so far (one per building, then one for the rest).
    pub batches_meshed: u32,
    /// Wire frames made so far.
    pub frames: usize,
    /// Placed triangles made so far.
    pub triangles: u64,
    /// Why the load failed, if it did.
    pub error: Option<String>,
}

/// What a provisional session does next (see [`Loading::next_step`]).
#[derive(Debug)]
pub(crate) enum Step {
    /// Send this header (first time only; its elements beside it, shared) and these frames.
    Send { header: Option<(Box<SceneHeader>, Arc<Vec<ElementInfo>>)>, frames: Vec<axum::body::Bytes> },
    /// Nothing new yet: wait for a change.
    Wait,
    /// The scene is loaded: the final scene follows.
    Ready,
    /// The load failed, for this reason.
    Failed(String),
}

impl Loading {
    /// A load of the scene called `name` (until the manifest names it) whose plan is taken to
    /// start on `plan_start` until it is resolved.
    pub fn new(name: String, plan_start: CivilDate) -> Arc<Self> {
        let (changed, _) = tokio::sync::watch::channel(0);
        let inner = Inner {
            name,
            plan_start,
            elements: None,
            buildings: 0,
            batches_made: 0,
            frames: Vec::new(),
            bbox: [0.0; 6],
            meshes: 0,
            triangles: 0,
            failed: None,
            done: false,
            version: 0,
        };
        Arc::new(Self { inner: Mutex::new(inner), changed, ready: OnceLock::new() })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bump(&self, mut inner: MutexGuard<'_, Inner>) {
        inner.version += 1;
        let v = inner.version;
        drop(inner);
        self.changed.send_replace(v);
    }

    /// The model is parsed: its elements (as the wire lists them) and how many buildings it has.
    pub fn parsed(&self, elements: Vec<ElementInfo>, buildings: u32) {
        let mut inner = self.lock();
        inner.elements = Some(Arc::new(elements));
        inner.buildings = buildings;
        self.bump(inner);
    }

    /// The final element list, the same as the one given to [`Self::parsed`]: it replaces that
    /// one, so the two are not held at once while the scene is prepared.
    pub fn share_elements(&self, elements: Arc<Vec<ElementInfo>>) {
        self.lock().elements = Some(elements);
    }

    /// One batch of the importer is encoded: `frames` are its new wire frames; `bbox`,
    /// `meshes` and `triangles` describe everything encoded so far.
    pub fn meshed(&self, frames: &[axum::body::Bytes], bbox: [f64; 6], meshes: u32, triangles: u64) {
        let mut inner = self.lock();
        inner.frames.extend_from_slice(frames);
        inner.batches_made += 1;
        inner.bbox = bbox;
        inner.meshes = meshes;
        inner.triangles = triangles;
        self.bump(inner);
    }

    /// The scene is loaded and the server's state is `state`: every request is served from it
    /// from now on. The provisional frames are dropped (sessions that were sending them go on
    /// with the final scene).
    pub fn ready(&self, state: AppState) {
        let _first = self.ready.set(state);
        let mut inner = self.lock();
        inner.done = true;
        inner.frames = Vec::new();
        self.bump(inner);
    }

    /// The scene could not be loaded.
    pub fn failed(&self, message: String) {
        let mut inner = self.lock();
        inner.failed = Some(message);
        inner.frames = Vec::new();
        self.bump(inner);
    }

    /// The server's state, once the scene is loaded.
    pub fn state(&self) -> Option<&AppState> {
        self.ready.get()
    }

    /// Waits until the scene is loaded; `Err` with the reason when the load failed.
    pub async fn wait_ready(&self) -> Result<AppState, String> {
        let mut rx = self.changed.subscribe();
        loop {
            if let Some(state) = self.ready.get() {
                return Ok(state.clone());
            }
            if let Some(why) = self.lock().failed.clone() {
                return Err(why);
            }
            if rx.changed().await.is_err() {
                return Err("the server is shutting down".into());
            }
        }
    }

    /// Notified on every change.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// What a provisional session that sent `sent` frames (and the header, if `header_sent`)
    /// does next. The header goes with the first frame, so that its bounding box covers
    /// something.
    pub(crate) fn next_step(&self, sent: usize, header_sent: bool) -> Step {
        let inner = self.lock();
        if inner.done {
            return Step::Ready;
        }
        if let Some(why) = &inner.failed {
            return Step::Failed(why.clone());
        }
        let Some(elements) = inner.elements.as_ref() else { return Step::Wait };
        if inner.frames.len() <= sent {
            return Step::Wait;
        }
        let header = (!header_sent).then(|| {
            let header = Box::new(SceneHeader {
                name: inner.name.clone(),
                bbox: inner.bbox,
                plan_start: inner.plan_start,
                day: SimDay(0),
                date: inner.plan_start,
                plan_end: SimDay(0),
                // Sent from the shared list beside it (`SceneMsg`).
                elements: Vec::new(),
                phases: Vec::new(),
                mesh_count: inner.meshes,
                triangle_count: inner.triangles,
                seq: 0,
                scene_hash: SceneHash([0; 16]),
                // An estimate: the batches so far, then about one per building still to mesh
                // (and one for the elements outside any building).
                batches: (inner.frames.len() as u32).saturating_add((inner.buildings + 1).saturating_sub(inner.batches_made)),
                scene_bytes: 0,
            });
            (header, Arc::clone(elements))
        });
        Step::Send { header, frames: inner.frames[sent..].to_vec() }
    }

    /// How far the load is.
    pub fn progress(&self) -> Progress {
        let inner = self.lock();
        let phase = if inner.done {
            "ready"
        } else if inner.failed.is_some() {
            "failed"
        } else if inner.elements.is_none() {
            "parsing"
        } else {
            "meshing"
        };
        Progress {
            phase,
            elements: inner.elements.as_ref().map_or(0, |e| e.len()),
            buildings: inner.buildings,
            batches_meshed: inner.batches_made,
            frames: inner.frames.len(),
            triangles: inner.triangles,
            error: inner.failed.clone(),
        }
    }

    /// The scene's name as known so far.
    pub fn name(&self) -> String {
        self.lock().name.clone()
    }
}
