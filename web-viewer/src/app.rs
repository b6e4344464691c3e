//! The app: ties the renderer, camera, scene, view settings, link, overlay and hooks together
//! and runs the frame loop. It is the composition root: it builds the other modules' parts and
//! hands itself to the link, the input and the page's functions as a [`Viewer`], so none of
//! them names `App`. Frames are drawn on demand (camera moved, colours changed, canvas
//! resized, a camera flight under way, new geometry arrived), so an idle page costs nothing.
//!
//! The scene is drawn while it streams in: batches are importance-ordered (large and near
//! elements first), and the frame loop re-uploads what has arrived, so the first triangles show
//! after the first batch rather than after the last, with the progress bar over them. The upload
//! when the scene completes is the final one. A whole re-upload rather than an append keeps the
//! renderer's chunk packing and instancing exactly as for a complete scene. Partial uploads are
//! spaced by at least [`PARTIAL_UPLOAD_MS`] and by [`PARTIAL_COST_FACTOR`] times what the last
//! one cost (the upload and its frame, until the next animation frame), so a slow (software)
//! GPU, where a frame of a large scene takes seconds, draws few partial frames: each still
//! delays the complete scene by its own cost (BENCHMARKS.md has the figures). Their cost is
//! reported in the hooks
//! (`partialUploads`, `uploadMs` in all, `lastUploadMs` for the final one); `?progressive=0` in
//! the page URL turns partial drawing off, for comparison.

use std::cell::RefCell;
use std::rc::Rc;

use renewtwin_protocol::{LifecycleState, PROTOCOL_VERSION, ServerMsg};
use renewtwin_render::camera::OrbitCamera;
use renewtwin_render::picking::{PickFilter, Viewport, pick_point_with, pick_with, screen_point_of_with};
use renewtwin_render::render::{BACKGROUND_RGB, FrameSpec, UploadStats};
use renewtwin_render::scene::{Scene, Visibility};
use renewtwin_render::view::{Layout, ViewState, rebase_from};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::HtmlCanvasElement;

use crate::dom::{dispatch, now_ms, query_value};
use crate::error::ViewerError;
use crate::hooks::{Hooks, rgb_array};
use crate::surface::CanvasSurface;
use crate::ui::Ui;
use crate::viewer::{Gesture, LinkStatus, SharedViewer, Viewer};

/// How long a camera flight to a viewpoint takes, milliseconds.
const FLIGHT_MS: f64 = 900.0;
/// Least time between two uploads of a scene that is still streaming in, milliseconds.
const PARTIAL_UPLOAD_MS: f64 = 250.0;
/// After a partial upload, wait this many times what it cost before the next one.
const PARTIAL_COST_FACTOR: f64 = 3.0;

/// How far the scene being streamed has got on the GPU, and when it was first drawn.
#[derive(Debug, Clone, Default)]
struct Streaming {
    /// `performance.now()` when the scene header arrived.
    header_ms: f64,
    /// Placements already moved into the local frame.
    rebased: usize,
    /// Batches arrived since the last upload.
    pending: bool,
    /// Batches received.
    batches: u32,
    /// `performance.now()` when the last partial upload started, until the next animation frame
    /// measures what it cost.
    probe_ms: Option<f64>,
    /// No partial upload before this `performance.now()`.
    next_upload_ms: f64,
    /// Uploads of an incomplete scene.
    partial_uploads: u32,
    /// Milliseconds spent in every upload of this scene, partial and final.
    upload_ms: f64,
    /// `performance.now()` of the first presented frame with triangles.
    first_triangles_ms: Option<f64>,
}

/// A camera moving to a viewpoint.
#[derive(Debug, Clone)]
struct Flight {
    from: OrbitCamera,
    to: OrbitCamera,
    started_ms: f64,
}

/// Everything the viewer holds.
#[derive(Debug)]
struct App {
    canvas: HtmlCanvasElement,
    surface: CanvasSurface,
    camera: OrbitCamera,
    /// What the user chose to see.
    view: ViewState,
    flight: Option<Flight>,
    /// Frames still to draw even if nothing changed (frame-rate measurement).
    forced_frames: u32,
    /// What the last scene upload put on the GPU.
    stats: UploadStats,
    scene: Option<Scene>,
    ui: Ui,
    hooks: Hooks,
    link: LinkStatus,
    frames: u64,
    needs_redraw: bool,
    /// The uploaded scene has been presented at least once.
    ready: bool,
    /// Draw the scene while it streams in (`?progressive=0` turns it off).
    progressive: bool,
    streaming: Streaming,
    viewport: Viewport,
    failed: bool,
}

/// Starts the viewer; any start-up failure is shown on the page and in `window.renewtwin.error`.
pub(crate) async fn run() {
    let hooks = match Hooks::install() {
        Ok(hooks) => hooks,
        Err(e) => {
            web_sys::console::error_1(&e.to_string().into());
            return;
        }
    };
    if let Err(e) = start(hooks.clone()).await {
        hooks.set("error", e.to_string().into());
        web_sys::console::error_1(&e.to_string().into());
        if let Some(document) = web_sys::window().and_then(|w| w.document())
            && let Ok(ui) = Ui::new(document) {
                ui.show_error(&e.to_string());
            }
    }
}

async fn start(hooks: Hooks) -> Result<(), ViewerError> {
    let window = web_sys::window().ok_or(ViewerError::MissingElement("window"))?;
    let document = window.document().ok_or(ViewerError::MissingElement("document"))?;
    let ui = Ui::new(document.clone())?;
    let canvas: HtmlCanvasElement = document
        .get_element_by_id("viewer")
        .and_then(|e| e.dyn_into().ok())
        .ok_or(ViewerError::MissingElement("viewer"))?;
    let viewport = css_viewport(&canvas);
    let ratio = window.device_pixel_ratio();
    canvas.set_width((viewport.width as f64 * ratio).round().max(1.0) as u32);
    canvas.set_height((viewport.height as f64 * ratio).round().max(1.0) as u32);

    let surface = CanvasSurface::new(canvas.clone()).await?;
    ui.set_backend(surface.backend);
    hooks.set("backend", surface.backend.key().into());
    hooks.set("samples", f64::from(surface.renderer.samples()).into());
    hooks.set("background", rgb_array(BACKGROUND_RGB).into());
    let app = Rc::new(RefCell::new(App {
        canvas: canvas.clone(),
        surface,
        camera: OrbitCamera::default(),
        view: ViewState::default(),
        flight: None,
        forced_frames: 0,
        stats: UploadStats::default(),
        scene: None,
        ui,
        hooks: hooks.clone(),
        link: LinkStatus::Connecting,
        frames: 0,
        needs_redraw: true,
        ready: false,
        progressive: query_value("progressive").is_none_or(|v| v != "0"),
        streaming: Streaming::default(),
        viewport,
        failed: false,
    }));
    // The modules around the app see it only as a `dyn Viewer`.
    let viewer: SharedViewer = app.clone();
    hooks.add_functions(&viewer);
    crate::controls::add(&hooks, &viewer);
    crate::input::attach(&viewer, &canvas)?;
    crate::net::hold_from_url();
    crate::net::connect(&viewer)?;
    start_frame_loop(app);
    Ok(())
}

/// The canvas's size in CSS pixels.
fn css_viewport(canvas: &HtmlCanvasElement) -> Viewport {
    let rect = canvas.get_bounding_client_rect();
    Viewport { width: rect.width().max(1.0) as f32, height: rect.height().max(1.0) as f32 }
}

/// Calls [`App::frame`] on every animation frame for the life of the page.
fn start_frame_loop(app: Rc<RefCell<App>>) {
    type FrameCallback = Rc<RefCell<Option<Closure<dyn FnMut()>>>>;
    let callback: FrameCallback = Rc::new(RefCell::new(None));
    let next = Rc::clone(&callback);
    *callback.borrow_mut() = Some(Closure::new(move || {
        if let Ok(mut app) = app.try_borrow_mut() {
            app.frame();
        }
        if let Some(closure) = next.borrow().as_ref() {
            request_frame(closure);
        }
    }));
    if let Some(closure) = callback.borrow().as_ref() {
        request_frame(closure);
    }
}

fn request_frame(closure: &Closure<dyn FnMut()>) {
    if let Some(window) = web_sys::window() {
        // Without a next frame the view just stops updating; there is no better fallback.
        let _id = window.request_animation_frame(closure.as_ref().unchecked_ref());
    }
}

impl Viewer for App {
    /// Acts on one message from the server.
    /// Every variant is named, so a message added to the protocol has to be handled or ignored here
    /// on purpose.
    fn handle(&mut self, message: ServerMsg) {
        match message {
            ServerMsg::Hello { protocol_version, server } if protocol_version != PROTOCOL_VERSION => {
                self.fail(&ViewerError::Protocol(format!(
                    "server {server} speaks protocol {protocol_version}, this viewer {PROTOCOL_VERSION}"
                )));
            }
            ServerMsg::Hello { .. } => {}
            ServerMsg::Scene(header) => {
                self.surface.renderer.clear_scene();
                self.stats = UploadStats::default();
                self.ready = false;
                self.hooks.set("ready", false.into());
                for name in ["firstTrianglesMs", "firstTrianglesPartial", "firstTrianglesBatches", "completeMs"] {
                    self.hooks.set(name, wasm_bindgen::JsValue::NULL);
                }
                self.view = ViewState::for_bbox(header.bbox);
                self.fit();
                let batches = header.batches;
                let scene = Scene::new(header);
                self.ui.set_scene_name(&scene.name);
                self.ui.set_date(scene.date, scene.day);
                self.ui.set_phases(&scene);
                self.ui.hide_element();
                self.hooks.set("elementCount", (scene.elements.len() as f64).into());
                self.hooks.set("batchesTotal", f64::from(batches).into());
                self.scene = Some(scene);
                self.streaming = Streaming { header_ms: now_ms(), ..Streaming::default() };
                self.hooks.set("sceneStartMs", self.streaming.header_ms.into());
                self.set_link(LinkStatus::LoadingScene);
                self.needs_redraw = true;
            }
            ServerMsg::Meshes { meshes, placements } => {
                if let Some(scene) = self.scene.as_mut() {
                    scene.add_batch(meshes, placements);
                    self.streaming.pending = true;
                    self.streaming.batches += 1;
                    self.needs_redraw = true;
                }
            }
            ServerMsg::SceneComplete => {
                if let Some(scene) = self.scene.as_mut() {
                    // Rebase before `finish`, which drops placements and so shifts indices.
                    self.streaming.rebased = rebase_from(scene, self.view.origin, self.streaming.rebased);
                    scene.finish();
                    self.upload();
                    self.set_link(LinkStatus::Live);
                }
            }
            ServerMsg::State(delta) => {
                if let Some(scene) = self.scene.as_mut()
                    && scene.apply(delta) {
                        self.view.dirty |= scene.colours_dirty;
                        self.needs_redraw |= scene.colours_dirty;
                        self.ui.set_date(scene.date, scene.day);
                        self.ui.set_phases(scene);
                    }
            }
            ServerMsg::Pong(_) => {}
            // Streaming control (issue 5): the link tracks progress and resume state itself.
            ServerMsg::Clock(_) => {}
            ServerMsg::Resumed { .. } => self.set_link(LinkStatus::Live),
            ServerMsg::Resync { .. } => {
                // The next delta coalesces what was skipped and applies whatever its seq.
                if let Some(scene) = self.scene.as_mut() {
                    scene.seq = 0;
                }
            }
            // Sensor messages are for the sensor panel.
            ServerMsg::SensorReadings(_) | ServerMsg::Alert(_) | ServerMsg::SensorAck { .. } => {}
            ServerMsg::Error { code, message } => {
                self.fail(&ViewerError::Protocol(format!("server refused a message ({code}): {message}")));
            }
            // Consultation records are for the consultation panel, which reads them over HTTP.
            ServerMsg::Consultation(_) => {}
        }
        self.refresh_hooks();
    }

    /// Shows `error` on the page and in the hooks.
    fn fail(&mut self, error: &ViewerError) {
        self.failed = true;
        let message = error.to_string();
        web_sys::console::error_1(&message.clone().into());
        self.ui.show_error(&message);
        self.hooks.set("error", message.into());
    }

    /// Records and shows the link status.
    fn set_link(&mut self, status: LinkStatus) {
        self.link = status;
        self.ui.set_link(status);
    }

    /// The scene, once its header arrived.
    fn scene(&self) -> Option<&Scene> {
        self.scene.as_ref()
    }

    /// Applies a camera gesture or a click.
    fn gesture(&mut self, gesture: Gesture) {
        self.flight = None;
        match gesture {
            Gesture::Orbit(dx, dy) => self.camera.orbit(dx, dy),
            Gesture::Pan(dx, dy) => self.camera.pan(dx, dy, self.viewport.height),
            Gesture::Zoom(factor) => self.camera.zoom(factor),
            Gesture::Click(x, y) => {
                let picked = self.pick_element(x, y);
                self.select(picked);
                return;
            }
        }
        self.needs_redraw = true;
    }

    /// Selects element `id` (or nothing): highlights it, fills the basic panel and tells the
    /// page with a `renewtwin:select` event (`detail.id`, -1 for none).
    fn select(&mut self, id: Option<u32>) {
        let id = id.filter(|id| self.scene.as_ref().is_some_and(|s| (*id as usize) < s.elements.len()));
        self.view.selected = id;
        match id.and_then(|id| self.scene.as_ref().map(|s| (s, id))) {
            Some((scene, id)) => {
                let state = self.view.states(0, &scene.states)[id as usize];
                self.ui.show_element(&scene.elements[id as usize], state);
            }
            None => self.ui.hide_element(),
        }
        self.hooks.set("selected", id.map_or(-1.0, f64::from).into());
        self.needs_redraw = true;
        dispatch("renewtwin:select", &js_sys::Object::from_entries(&js_sys::Array::of1(&js_sys::Array::of2(
            &"id".into(),
            &id.map_or(-1.0, f64::from).into(),
        ))).unwrap_or_default());
    }

    /// The opaque element under CSS pixel (x, y) of the canvas.
    fn pick_element(&self, x: f32, y: f32) -> Option<u32> {
        let scene = self.scene.as_ref()?;
        let (px, viewport) = self.pane(x);
        pick_with(scene, &self.camera, viewport, px, y, PickFilter::Solid, &|id| self.visibility(id))
    }

    /// The lifecycle state element `id` is shown in (the timeline's day, else live).
    fn element_state(&self, id: u32, side: usize) -> Option<LifecycleState> {
        let scene = self.scene.as_ref()?;
        self.view.states(side, &scene.states).get(id as usize).copied()
    }

    /// The `[r, g, b]` element `id` is drawn with on side `side`, before lighting.
    fn element_rgb(&self, id: u32, side: usize) -> Option<[u8; 3]> {
        let scene = self.scene.as_ref()?;
        let state = self.view.states(side, &scene.states).get(id as usize).copied()?;
        let [r, g, b, _] = self.view.style.texel(id as usize, state);
        Some([r, g, b])
    }

    /// Frames the whole scene.
    fn fit(&mut self) {
        let aspect = self.pane_aspect();
        self.camera.fit(self.view.local_bbox(), aspect);
        self.flight = None;
        self.needs_redraw = true;
    }

    /// Frames element `id` (its placements' bounds), flying there.
    fn focus(&mut self, id: u32) {
        let Some(scene) = self.scene.as_ref() else { return };
        let Some(placements) = scene.placements_of.get(id as usize) else { return };
        let (mut lo, mut hi) = (glam::Vec3::splat(f32::INFINITY), glam::Vec3::splat(f32::NEG_INFINITY));
        for &p in placements {
            let p = &scene.placements[p as usize];
            lo = lo.min(p.world_min);
            hi = hi.max(p.world_max);
        }
        if !lo.cmple(hi).all() {
            return;
        }
        let mut to = self.camera.clone();
        let radius = self.camera.scene_radius;
        to.fit([lo.x, lo.y, lo.z, hi.x, hi.y, hi.z].map(f64::from), self.pane_aspect());
        to.distance = to.distance.max(8.0);
        to.scene_radius = radius;
        self.fly_to_camera(to);
    }

    /// Flies to the viewpoint `eye` → `target` (scene-frame metres).
    fn fly_to(&mut self, eye: [f64; 3], target: [f64; 3], animate: bool) {
        let mut to = self.camera.clone();
        to.look(self.view.to_local(eye), self.view.to_local(target));
        if animate {
            self.fly_to_camera(to);
        } else {
            self.camera = to;
            self.flight = None;
            self.needs_redraw = true;
        }
    }

    /// `{ eye, target, distance, flying }` in scene-frame metres.
    fn camera_info(&self) -> wasm_bindgen::JsValue {
        let eye = self.view.to_scene(self.camera.eye());
        let target = self.view.to_scene(self.camera.target);
        let object = js_sys::Object::new();
        let array = |p: [f64; 3]| js_sys::Array::of3(&p[0].into(), &p[1].into(), &p[2].into());
        let fields: [(&str, wasm_bindgen::JsValue); 4] = [
            ("eye", array(eye).into()),
            ("target", array(target).into()),
            ("distance", f64::from(self.camera.distance).into()),
            ("flying", self.flight.is_some().into()),
        ];
        for (name, value) in fields {
            // Setting a property of a fresh plain object cannot fail.
            let _set = js_sys::Reflect::set(&object, &name.into(), &value);
        }
        object.into()
    }

    /// Marks the view settings changed: colours are uploaded and the frame redrawn.
    fn view_changed(&mut self) {
        self.view.dirty = true;
        self.needs_redraw = true;
        if let Some(id) = self.view.selected
            && let Some(scene) = self.scene.as_ref()
            && let Some(state) = self.view.states(0, &scene.states).get(id as usize)
        {
            self.ui.show_element(&scene.elements[id as usize], *state);
        }
        self.refresh_hooks();
    }

    /// `{ id, globalId, class, name, storey, state }` of element `id`, for the hooks.
    fn element_info(&self, id: u32) -> Option<wasm_bindgen::JsValue> {
        let scene = self.scene.as_ref()?;
        let info = scene.elements.get(id as usize)?;
        let object = js_sys::Object::new();
        let fields: [(&str, wasm_bindgen::JsValue); 6] = [
            ("id", f64::from(info.id).into()),
            ("globalId", info.global_id.as_str().into()),
            ("class", info.class.as_str().into()),
            ("name", info.name.as_deref().map_or(wasm_bindgen::JsValue::NULL, Into::into)),
            ("storey", info.storey.as_deref().map_or(wasm_bindgen::JsValue::NULL, Into::into)),
            ("state", scene.states[id as usize].key().into()),
        ];
        for (name, value) in fields {
            // Setting a property of a fresh plain object cannot fail.
            let _set = js_sys::Reflect::set(&object, &name.into(), &value);
        }
        Some(object.into())
    }

    /// The element id of a GlobalId.
    fn element_id_of(&self, global_id: &str) -> Option<u32> {
        self.scene.as_ref()?.by_global_id.get(global_id).copied()
    }

    /// A CSS pixel where the element with `global_id` is the visible, pickable surface (in
    /// the first pane).
    fn screen_point_of(&self, global_id: &str) -> Option<(f32, f32)> {
        let scene = self.scene.as_ref()?;
        let id = *scene.by_global_id.get(global_id)?;
        let (_, viewport) = self.pane(0.0);
        screen_point_of_with(scene, &self.camera, viewport, id, &|e| self.visibility(e))
    }

    fn pick_point(&self, x: f32, y: f32, snap_px: f32) -> Option<(u32, [f64; 3], &'static str)> {
        let scene = self.scene.as_ref()?;
        let (px, viewport) = self.pane(x);
        let pick = pick_point_with(scene, &self.camera, viewport, px, y, snap_px, PickFilter::Solid, &|id| self.visibility(id))?;
        Some((pick.element, self.view.to_scene(pick.point), pick.snap.key()))
    }

    fn project(&self, p: [f64; 3]) -> Option<(f32, f32)> {
        let (_, viewport) = self.pane(0.0);
        self.camera.project(self.view.to_local(p), viewport.width, viewport.height)
    }

    fn view_mut(&mut self) -> &mut ViewState {
        &mut self.view
    }

    fn force_frames(&mut self, n: u32) {
        self.forced_frames = n;
    }
}

impl App {
    /// Uploads the scene's geometry as it stands (complete or not) and schedules its colours.
    fn upload(&mut self) {
        let Some(scene) = self.scene.as_mut() else { return };
        self.streaming.rebased = rebase_from(scene, self.view.origin, self.streaming.rebased);
        let started = now_ms();
        self.stats = self.surface.renderer.upload_scene(scene);
        let finished = now_ms();
        let streaming = &mut self.streaming;
        streaming.upload_ms += finished - started;
        streaming.pending = false;
        if !scene.complete {
            streaming.partial_uploads += 1;
        }
        // Fresh colour textures start transparent: fill them before the next draw.
        self.view.dirty = true;
        self.needs_redraw = true;
        self.hooks.set("triangles", (self.stats.triangles as f64).into());
        self.hooks.set("edgeSegments", (self.stats.edges as f64).into());
        self.hooks.set("draws", f64::from(self.stats.draws).into());
        self.hooks.set("partialUploads", f64::from(streaming.partial_uploads).into());
        self.hooks.set("uploadMs", streaming.upload_ms.into());
        self.hooks.set("lastUploadMs", (finished - started).into());
    }

    /// How element `id` is drawn on the first side now.
    fn visibility(&self, id: u32) -> Visibility {
        let Some(scene) = self.scene.as_ref() else { return Visibility::Hidden };
        let Some(state) = self.view.states(0, &scene.states).get(id as usize).copied() else { return Visibility::Hidden };
        match self.view.style.texel(id as usize, state)[3] {
            255 => Visibility::Solid,
            0 => Visibility::Hidden,
            _ => Visibility::Ghost,
        }
    }

    /// The camera and CSS viewport of the pane that holds CSS `x` (side-by-side compare has two).
    fn pane(&self, x: f32) -> (f32, Viewport) {
        let (px, width) = self.view.layout.pane_at(x, self.viewport.width);
        (px, Viewport { width, height: self.viewport.height })
    }

    fn fly_to_camera(&mut self, to: OrbitCamera) {
        self.flight = Some(Flight { from: self.camera.clone(), to, started_ms: now_ms() });
        self.needs_redraw = true;
    }

    /// Aspect ratio of one pane.
    fn pane_aspect(&self) -> f32 {
        let width = match self.view.layout {
            Layout::SideBySide => self.viewport.width * 0.5,
            _ => self.viewport.width,
        };
        width / self.viewport.height.max(1.0)
    }

    /// One animation frame: follow the canvas size, upload colour changes, draw if needed.
    fn frame(&mut self) {
        let viewport = css_viewport(&self.canvas);
        let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
        let max_side = self.surface.max_surface_side() as f64;
        let width = (viewport.width as f64 * ratio).round().clamp(1.0, max_side) as u32;
        let height = (viewport.height as f64 * ratio).round().clamp(1.0, max_side) as u32;
        if width != self.canvas.width() || height != self.canvas.height() {
            self.canvas.set_width(width);
            self.canvas.set_height(height);
            self.needs_redraw = true;
        }
        self.viewport = viewport;
        self.surface.resize(width, height);
        let now = now_ms();
        if let Some(started) = self.streaming.probe_ms.take() {
            let cost = now - started;
            self.streaming.next_upload_ms = now + PARTIAL_UPLOAD_MS.max(PARTIAL_COST_FACTOR * cost);
        }
        if self.progressive
            && self.streaming.pending
            && self.scene.as_ref().is_some_and(|s| !s.complete)
            && now >= self.streaming.next_upload_ms
        {
            self.streaming.probe_ms = Some(now);
            self.upload();
        }
        if let Some(scene) = self.scene.as_mut()
            && (scene.colours_dirty || self.view.dirty)
            && self.surface.renderer.has_scene()
        {
            scene.colours_dirty = false;
            self.view.dirty = false;
            let len = self.surface.renderer.colour_texture_len();
            for side in 0..2 {
                let texels = self.view.style.texels(self.view.states(side, &scene.states), len);
                self.surface.renderer.upload_colours(side, &texels);
            }
            self.needs_redraw = true;
        }
        if let Some(flight) = &self.flight {
            let t = ((now_ms() - flight.started_ms) / FLIGHT_MS) as f32;
            self.camera = flight.from.lerp(&flight.to, t);
            if t >= 1.0 {
                self.flight = None;
            }
            self.needs_redraw = true;
        }
        if self.forced_frames > 0 {
            self.forced_frames -= 1;
            self.needs_redraw = true;
        }
        if !self.needs_redraw {
            return;
        }
        let spec = FrameSpec {
            camera: &self.camera,
            layout: self.view.layout,
            section: self.view.section_plane(),
            xray: self.view.xray,
            edges: self.view.edges,
            selected: self.view.selected,
            sun: self.view.sun,
        };
        if self.surface.render(&spec) {
            self.needs_redraw = false;
            self.frames += 1;
            let complete = self.scene.as_ref().is_some_and(|s| s.complete);
            if self.streaming.first_triangles_ms.is_none() && self.stats.triangles > 0 && self.surface.renderer.has_scene() {
                let at = now_ms();
                self.streaming.first_triangles_ms = Some(at);
                self.hooks.set("firstTrianglesMs", at.into());
                self.hooks.set("firstTrianglesPartial", (!complete).into());
                self.hooks.set("firstTrianglesBatches", f64::from(self.streaming.batches).into());
            }
            if !self.ready && complete && !self.failed {
                self.ready = true;
                self.hooks.set("completeMs", now_ms().into());
                dispatch("renewtwin:ready", &wasm_bindgen::JsValue::NULL);
            }
        }
        self.refresh_hooks();
    }

    /// Copies the app's state into `window.renewtwin`.
    fn refresh_hooks(&self) {
        let hooks = &self.hooks;
        hooks.set("frames", (self.frames as f64).into());
        hooks.set("ready", self.ready.into());
        hooks.set("link", format!("{:?}", self.link).to_lowercase().into());
        hooks.set("seekDay", self.view.seek.as_ref().map_or(wasm_bindgen::JsValue::NULL, |(d, _)| f64::from(*d).into()));
        hooks.set("comparing", self.view.compare.is_some().into());
        hooks.set("batches", f64::from(self.streaming.batches).into());
        if let Some(scene) = &self.scene {
            hooks.set("day", f64::from(scene.day.0).into());
            hooks.set("date", scene.date.to_string().into());
            hooks.set("stateChanges", (scene.state_changes as f64).into());
        }
    }
}
