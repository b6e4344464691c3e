//! The renewtwin browser viewer: Rust + wgpu compiled to WebAssembly.
//!
//! The page (`static/index.html`) loads the wasm-bindgen glue, whose start function connects to
//! `ws(s)://<same host>/ws`, receives the scene (`Hello`, `Scene`, `Meshes` batches,
//! `SceneComplete`) and then live `State` deltas, and draws the district with wgpu: WebGPU when the
//! browser offers an adapter, WebGL2 otherwise (one build serves both). The browser parts are
//! compiled only for `wasm32`.
//!
//! What is drawn and how (the drawing rules, the renderer, scene store, camera, view state,
//! styling and picking) lives in the `renewtwin-render` crate, which the native off-screen
//! render shares; this crate is the thin browser shell around it: the canvas surface, the
//! WebSocket link, input gestures, the HTML overlay and the `window.renewtwin` hooks. Every
//! module here is browser-only, so on the host the crate is empty.
//!
//! The modules are layered, none importing one that imports it back
//! (`scripts/check-module-cycles.py`): `dom` (query, clock, page events), `error` and `viewer`
//! (the `Viewer` trait the app implements, with `Gesture` and `LinkStatus`) at the
//! bottom; `ui`, `surface`, `input`, `net`, then `hooks` and `controls` above them; `app`, the
//! composition root, on top: it builds the others and hands itself to them as a `dyn Viewer`.
//!
//! # Test hooks: `window.renewtwin`
//! | name | meaning |
//! |---|---|
//! | `ready` | `true` once the scene is complete **and** a frame showing it has been presented |
//! | `backend` | `"webgpu"` or `"webgl2"` |
//! | `samples` | samples per pixel: 4 with MSAA, 1 without (`?msaa=0` / `?msaa=4` override) |
//! | `frames` | frames presented so far |
//! | `elementCount` | elements in the scene |
//! | `day`, `date` | current simulated day (number) and date (`"YYYY-MM-DD"`) |
//! | `stateChanges` | live `State` deltas applied since the scene arrived |
//! | `error` | a message if anything failed, else absent |
//! | `pick(x, y)` | element id under CSS pixel `(x, y)` of the canvas, or `-1` |
//! | `elementState(id)` | the element's lifecycle key, e.g. `"existing"`, or `null` |
//! | `elementRgb(id)` | `[r, g, b]` the element is drawn with before lighting, or `null` |
//! | `screenPointOf(globalId)` | `[x, y]` CSS pixel where `pick` returns that element, or `null` |
//! | `elementIdOf(globalId)` | the element id of a GlobalId, or `-1` |
//! | `pickPoint(x, y, snapPx)` | `{ element, point: [x, y, z], snap }` for measuring: the scene-frame point under the pixel, snapped to a corner (`"vertex"`) or a feature edge (`"edge"`) within `snapPx` (default 10), else the surface (`"face"`); `null` over the sky |
//! | `project(x, y, z)` | `[x, y]` CSS pixel where a scene-frame point appears (first pane), or `null` |
//! | `elementInfo(id)` | `{ id, globalId, class, name, storey, state }`, or `null` |
//! | `background` | `[r, g, b]` of the canvas clear colour |
//! | `link` | `"connecting"`, `"loadingscene"`, `"live"` or `"disconnected"` |
//! | `triangles`, `edgeSegments`, `draws` | what the scene upload put on the GPU |
//! | `selected` | the highlighted element id, or -1 |
//! | `seekDay`, `comparing` | the day the timeline shows (`null`: live), whether a second side is shown |
//!
//! `elementState` and `elementRgb(id, side)` report what is drawn: the timeline's states when
//! it seeks, the colour layer when one is on. The control functions (`select`, `flyTo`,
//! `setStates`, `setLayer`, …) are listed in `controls.rs`; the page's panels use them too.
//!
//! Coordinates passed to and returned by the hooks are CSS pixels relative to the canvas,
//! which fills the page (so they are also viewport coordinates).

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod controls;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
mod error;
#[cfg(target_arch = "wasm32")]
mod hooks;
#[cfg(target_arch = "wasm32")]
mod input;
#[cfg(target_arch = "wasm32")]
mod net;
#[cfg(target_arch = "wasm32")]
mod surface;
#[cfg(target_arch = "wasm32")]
mod ui;
#[cfg(target_arch = "wasm32")]
mod viewer;

/// Entry point called by the wasm-bindgen glue when the module is instantiated.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    wasm_bindgen_futures::spawn_local(app::run());
}
