//! The app: ties the renderer, camera, scene, link, overlay and hooks together and runs the
//! frame loop. Frames are drawn on demand (camera moved, colours changed, canvas resized), so an
//! idle page costs nothing.

use std::cell::RefCell;
use std::rc::Rc;

use renewtwin_protocol::{LifecycleState, PROTOCOL_VERSION, ServerMsg};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::HtmlCanvasElement;

use crate::camera::OrbitCamera;
use crate::error::ViewerError;
use crate::hooks::{Hooks, rgb_array};
use crate::input::{Gesture, InputState};
use crate::net::{Connection, LinkStatus};
use crate::picking::{PickFilter, Viewport, pick, screen_point_of};
use crate::render::{BACKGROUND_RGB, Renderer};
use crate::scene::Scene;
use crate::ui::Ui;

/// Everything the viewer holds.
#[derive(Debug)]
pub(crate) struct App {
    canvas: HtmlCanvasElement,
    renderer: Renderer,
    camera: OrbitCamera,
    scene: Option<Scene>,
    ui: Ui,
    hooks: Hooks,
    /// Pointer state.
    pub input: InputState,
    /// The open socket, if any.
    pub connection: Option<Connection>,
    link: LinkStatus,
    frames: u64,
    needs_redraw: bool,
    /// The uploaded scene has been presented at least once.
    ready: bool,
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

    let renderer = Renderer::new(canvas.clone()).await?;
    ui.set_backend(renderer.backend);
    hooks.set("backend", renderer.backend.key().into());
    hooks.set("background", rgb_array(BACKGROUND_RGB).into());
    let app = Rc::new(RefCell::new(App {
        canvas: canvas.clone(),
        renderer,
        camera: OrbitCamera::default(),
        scene: None,
        ui,
        hooks: hooks.clone(),
        input: InputState::default(),
        connection: None,
        link: LinkStatus::Connecting,
        frames: 0,
        needs_redraw: true,
        ready: false,
        viewport,
        failed: false,
    }));
    hooks.add_functions(&app);
    crate::input::attach(&app, &canvas)?;
    crate::net::connect(&app)?;
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

impl App {
    /// Acts on one message from the server.
    pub fn handle(&mut self, message: ServerMsg) {
        match message {
            ServerMsg::Hello { protocol_version, server } => {
                if protocol_version != PROTOCOL_VERSION {
                    self.fail(&ViewerError::Protocol(format!(
                        "server {server} speaks protocol {protocol_version}, this viewer {PROTOCOL_VERSION}"
                    )));
                }
            }
            ServerMsg::Scene(header) => {
                self.renderer.clear_scene();
                self.ready = false;
                self.hooks.set("ready", false.into());
                let aspect = self.viewport.width / self.viewport.height;
                self.camera.fit(header.bbox, aspect);
                let scene = Scene::new(header);
                self.ui.set_scene_name(&scene.name);
                self.ui.set_date(scene.date, scene.day);
                self.ui.set_phases(&scene);
                self.ui.hide_element();
                self.hooks.set("elementCount", (scene.elements.len() as f64).into());
                self.scene = Some(scene);
                self.set_link(LinkStatus::LoadingScene);
                self.needs_redraw = true;
            }
            ServerMsg::Meshes { meshes, placements } => {
                if let Some(scene) = self.scene.as_mut() {
                    scene.add_batch(meshes, placements);
                }
            }
            ServerMsg::SceneComplete => {
                if let Some(scene) = self.scene.as_mut() {
                    scene.finish();
                    self.renderer.upload_scene(scene);
                    self.set_link(LinkStatus::Live);
                    self.needs_redraw = true;
                }
            }
            ServerMsg::State(delta) => {
                if let Some(scene) = self.scene.as_mut()
                    && scene.apply(delta) {
                        self.needs_redraw |= scene.colours_dirty;
                        self.ui.set_date(scene.date, scene.day);
                        self.ui.set_phases(scene);
                    }
            }
            ServerMsg::Pong(_) => {}
            // Streaming control (issue 5): the link tracks progress and resume state itself.
            ServerMsg::Clock(_) => {}
            // Sensor messages are for the sensor panel.
            ServerMsg::SensorReadings(_) | ServerMsg::Alert(_) | ServerMsg::SensorAck { .. } => {}
            ServerMsg::Resumed { .. } => self.set_link(LinkStatus::Live),
            ServerMsg::Resync { .. } => {
                // The next delta coalesces what was skipped and applies whatever its seq.
                if let Some(scene) = self.scene.as_mut() {
                    scene.seq = 0;
                }
            }
            ServerMsg::Error { code, message } => {
                self.fail(&ViewerError::Protocol(format!("server refused a message ({code}): {message}")));
            }
        }
        self.refresh_hooks();
    }

    /// Shows `error` on the page and in the hooks.
    pub fn fail(&mut self, error: &ViewerError) {
        self.failed = true;
        let message = error.to_string();
        web_sys::console::error_1(&message.clone().into());
        self.ui.show_error(&message);
        self.hooks.set("error", message.into());
    }

    /// Records and shows the link status.
    pub fn set_link(&mut self, status: LinkStatus) {
        self.link = status;
        self.ui.set_link(status);
    }

    /// Applies a camera gesture or a click.
    pub fn gesture(&mut self, gesture: Gesture) {
        match gesture {
            Gesture::Orbit(dx, dy) => self.camera.orbit(dx, dy),
            Gesture::Pan(dx, dy) => self.camera.pan(dx, dy, self.viewport.height),
            Gesture::Zoom(factor) => self.camera.zoom(factor),
            Gesture::Click(x, y) => {
                match self.pick_element(x, y).and_then(|id| self.scene.as_ref().map(|s| (s, id))) {
                    Some((scene, id)) => self.ui.show_element(&scene.elements[id as usize], scene.states[id as usize]),
                    None => self.ui.hide_element(),
                }
                return;
            }
        }
        self.needs_redraw = true;
    }

    /// The opaque element under CSS pixel (x, y) of the canvas.
    pub fn pick_element(&self, x: f32, y: f32) -> Option<u32> {
        let scene = self.scene.as_ref()?;
        pick(scene, &self.camera, self.viewport, x, y, PickFilter::Solid)
    }

    /// The lifecycle state of element `id`.
    pub fn element_state(&self, id: u32) -> Option<LifecycleState> {
        self.scene.as_ref()?.states.get(id as usize).copied()
    }

    /// `{ id, globalId, class, name, storey, state }` of element `id`, for the hooks.
    pub fn element_info(&self, id: u32) -> Option<wasm_bindgen::JsValue> {
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
    pub fn element_id_of(&self, global_id: &str) -> Option<u32> {
        self.scene.as_ref()?.by_global_id.get(global_id).copied()
    }

    /// A CSS pixel where the element with `global_id` is the visible, pickable surface.
    pub fn screen_point_of(&self, global_id: &str) -> Option<(f32, f32)> {
        let scene = self.scene.as_ref()?;
        let id = *scene.by_global_id.get(global_id)?;
        screen_point_of(scene, &self.camera, self.viewport, id)
    }

    /// One animation frame: follow the canvas size, upload colour changes, draw if needed.
    fn frame(&mut self) {
        let viewport = css_viewport(&self.canvas);
        let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
        let max_side = self.renderer.max_surface_side() as f64;
        let width = (viewport.width as f64 * ratio).round().clamp(1.0, max_side) as u32;
        let height = (viewport.height as f64 * ratio).round().clamp(1.0, max_side) as u32;
        if width != self.canvas.width() || height != self.canvas.height() {
            self.canvas.set_width(width);
            self.canvas.set_height(height);
            self.needs_redraw = true;
        }
        self.viewport = viewport;
        self.renderer.resize(width, height);
        if let Some(scene) = self.scene.as_mut()
            && scene.colours_dirty && scene.complete {
                self.renderer.upload_colours(scene);
                self.needs_redraw = true;
            }
        if !self.needs_redraw {
            return;
        }
        let aspect = self.viewport.width / self.viewport.height;
        if self.renderer.render(&self.camera, aspect) {
            self.needs_redraw = false;
            self.frames += 1;
            if !self.ready && self.scene.as_ref().is_some_and(|s| s.complete) && !self.failed {
                self.ready = true;
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
        if let Some(scene) = &self.scene {
            hooks.set("day", f64::from(scene.day.0).into());
            hooks.set("date", scene.date.to_string().into());
            hooks.set("stateChanges", (scene.state_changes as f64).into());
        }
    }
}
