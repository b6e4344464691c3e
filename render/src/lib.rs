//! The renewtwin renderer, shared by the browser viewer (`web-viewer`, wasm) and the native
//! off-screen render (`renewtwin render`, the golden-image tests).
//!
//! It holds everything about a picture that does not depend on where it is shown: the scene
//! store fed by protocol messages ([`scene`]), the orbit camera ([`camera`]), what the user
//! chose to see and the local origin ([`view`]), element colours and visibility as texels
//! ([`style`]), feature edges ([`edges`]), CPU picking ([`picking`]) and the wgpu renderer with
//! its WGSL shader ([`render`]). The browser shell gives the renderer a canvas; [`offscreen`]
//! (feature `native`) gives it a headless adapter and a texture read back into a PNG.
//!
//! The renderer module is compiled for `wasm32` (wgpu on WebGPU, else WebGL2) and, on the host,
//! only with the `native` feature (wgpu on Vulkan, else GL): without it the host build is the
//! plain-Rust modules and links no wgpu.
//!
//! # Drawing rules
//! Each element is coloured by its [`renewtwin_protocol::LifecycleState::rgb`] (or by a colour
//! layer such as phase or risk, chosen in the page). Standing
//! elements are opaque; `Planned` elements are drawn as translucent ghosts (35 % opacity, no
//! depth write, not pickable); `Demolished`, `Removed` and `Absent` elements are hidden. Lighting is one
//! directional light plus ambient, applied as a brightness factor in 0.45..=1.0 to the sRGB
//! colour, so a lit pixel keeps its element's chromaticity (the browser test relies on it).
//! The surface is configured as `Rgba8Unorm` on both backends and the shader writes
//! sRGB-encoded values, so WebGPU and WebGL2 give the same pixels.

pub mod camera;
pub mod edges;
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub mod offscreen;
pub mod picking;
#[cfg(any(target_arch = "wasm32", feature = "native"))]
pub mod render;
pub mod scene;
pub mod style;
pub mod view;
