//! The renewtwin browser viewer: Rust + wgpu compiled to WebAssembly.
//!
//! The page (`static/index.html`) loads the wasm-bindgen glue, whose start function connects to
//! `ws(s)://<same host>/ws`, receives the scene (`Hello`, `Scene`, `Meshes` batches,
//! `SceneComplete`) and then live `State` deltas, and draws the district with wgpu: WebGPU when the
//! browser offers an adapter, WebGL2 otherwise (one build serves both). The browser parts are
//! compiled only for `wasm32`. On the host the crate is the plain-Rust camera, scene store,
//! colouring and picking (unit-tested there) plus, with the `native` feature only, the same
//! renderer drawing off-screen into PNG images ([`offscreen`], used by `renewtwin render`);
//! without that feature the host build has no wgpu at all.
//!
//! # Drawing rules
//! Each element is coloured by its [`renewtwin_protocol::LifecycleState::rgb`] (or by a colour
//! layer such as phase or risk, chosen in the page). Standing
//! elements are opaque; `Planned` elements are drawn as translucent ghosts (35 % opacity, no
//! depth write, not pickable); `Demolished` and `Removed` elements are hidden. Lighting is one
//! directional light plus ambient, applied as a brightness factor in 0.45..=1.0 to the sRGB
//! colour, so a lit pixel keeps its element's chromaticity (the browser test relies on it).
//! The surface is configured as `Rgba8Unorm` on both backends and the shader writes
//! sRGB-encoded values, so WebGPU and WebGL2 give the same pixels.
//!
//! # Test hooks: `window.renewtwin`
//! | name | meaning |
//! |---|---|
//! | `ready` | `true` once the scene is complete **and** a frame showing it has been presented |
//! | `backend` | `"webgpu"` or `"webgl2"` |
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

// Camera, scene store and picking are plain Rust: built and unit-tested on the host as well.
// Off wasm only the off-screen renderer calls them, and it uses a part of each.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

#[cfg(target_arch = "wasm32")]
mod app;
mod camera;
#[cfg(target_arch = "wasm32")]
mod controls;
mod edges;
#[cfg(target_arch = "wasm32")]
mod error;
#[cfg(target_arch = "wasm32")]
mod hooks;
#[cfg(target_arch = "wasm32")]
mod input;
#[cfg(target_arch = "wasm32")]
mod net;
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub mod offscreen;
mod picking;
#[cfg(any(target_arch = "wasm32", feature = "native"))]
mod render;
mod scene;
mod style;
#[cfg(target_arch = "wasm32")]
mod surface;
#[cfg(target_arch = "wasm32")]
mod ui;
mod view;

/// Entry point called by the wasm-bindgen glue when the module is instantiated.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    wasm_bindgen_futures::spawn_local(app::run());
}
