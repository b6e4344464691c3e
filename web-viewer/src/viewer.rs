//! What the modules around the app may ask of it: the [`Viewer`] trait, and the two small
//! types it speaks in ([`Gesture`], [`LinkStatus`]).
//!
//! `app.rs` is the composition root: it implements [`Viewer`] and hands itself, as an
//! `Rc<RefCell<dyn Viewer>>`, to the link (`net.rs`), the pointer input (`input.rs`) and the
//! `window.renewtwin` functions (`hooks.rs`, `controls.rs`). Those modules name this trait,
//! never `App`, so no module imports one that imports it back. This module names only
//! `error.rs` below it.

use renewtwin_protocol::{LifecycleState, ServerMsg};
use renewtwin_render::scene::Scene;
use renewtwin_render::view::ViewState;
use wasm_bindgen::JsValue;

use crate::error::ViewerError;

/// A camera change or a click the app should act on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Gesture {
    /// Orbit by a drag of (dx, dy) CSS pixels.
    Orbit(f32, f32),
    /// Pan by a drag of (dx, dy) CSS pixels.
    Pan(f32, f32),
    /// Multiply the eye distance by this factor.
    Zoom(f32),
    /// Pick at (x, y) CSS pixels.
    Click(f32, f32),
}

/// Where the link stands, as the UI shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkStatus {
    /// Opening the socket.
    Connecting,
    /// Receiving the scene.
    LoadingScene,
    /// Scene shown, live updates flowing.
    Live,
    /// The socket closed; a reconnect is scheduled.
    Disconnected,
}

impl LinkStatus {
    /// Chinese, then English.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::Connecting => ("正在连接", "Connecting"),
            Self::LoadingScene => ("正在加载场景", "Loading scene"),
            Self::Live => ("实时", "Live"),
            Self::Disconnected => ("连接已断开，重试中", "Disconnected, retrying"),
        }
    }
}

/// The viewer as the link, the input and the page's functions see it (implemented by `App`).
pub(crate) trait Viewer {
    /// Acts on one message from the server.
    fn handle(&mut self, message: ServerMsg);
    /// Shows `error` on the page and in the hooks.
    fn fail(&mut self, error: &ViewerError);
    /// Records and shows the link status.
    fn set_link(&mut self, status: LinkStatus);
    /// Applies a camera gesture or a click.
    fn gesture(&mut self, gesture: Gesture);

    /// The scene, once its header arrived.
    fn scene(&self) -> Option<&Scene>;
    /// What the user chose to see; call [`Viewer::view_changed`] after changing it.
    fn view_mut(&mut self) -> &mut ViewState;
    /// Marks the view settings changed: colours are uploaded and the frame redrawn.
    fn view_changed(&mut self);
    /// Draws `n` frames even if nothing changes (frame-rate measurement).
    fn force_frames(&mut self, n: u32);

    /// Selects element `id` (or nothing).
    fn select(&mut self, id: Option<u32>);
    /// Frames element `id`, flying there.
    fn focus(&mut self, id: u32);
    /// Frames the whole scene.
    fn fit(&mut self);
    /// Flies to the viewpoint `eye` → `target` (scene-frame metres).
    fn fly_to(&mut self, eye: [f64; 3], target: [f64; 3], animate: bool);
    /// `{ eye, target, distance, flying }` in scene-frame metres.
    fn camera_info(&self) -> JsValue;

    /// The opaque element under CSS pixel (x, y) of the canvas.
    fn pick_element(&self, x: f32, y: f32) -> Option<u32>;
    /// The lifecycle state element `id` is shown in on side `side` (1: the comparison's second).
    fn element_state(&self, id: u32, side: usize) -> Option<LifecycleState>;
    /// The `[r, g, b]` element `id` is drawn with on side `side`, before lighting.
    fn element_rgb(&self, id: u32, side: usize) -> Option<[u8; 3]>;
    /// `{ id, globalId, class, name, storey, state }` of element `id`.
    fn element_info(&self, id: u32) -> Option<JsValue>;
    /// The element id of a GlobalId.
    fn element_id_of(&self, global_id: &str) -> Option<u32>;
    /// A CSS pixel where the element with `global_id` is the visible, pickable surface.
    fn screen_point_of(&self, global_id: &str) -> Option<(f32, f32)>;
    /// The point under CSS pixel (x, y) for measuring, snapped to a corner or a feature edge
    /// within `snap_px`: `(element, scene-frame metres, "vertex" | "edge" | "face")`.
    fn pick_point(&self, x: f32, y: f32, snap_px: f32) -> Option<(u32, [f64; 3], &'static str)>;
    /// The CSS pixel where scene-frame point `p` appears in the first pane, if in view.
    fn project(&self, p: [f64; 3]) -> Option<(f32, f32)>;
}

/// The viewer as the modules around the app hold it.
pub(crate) type SharedViewer = std::rc::Rc<std::cell::RefCell<dyn Viewer>>;
