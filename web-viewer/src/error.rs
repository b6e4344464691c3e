//! The viewer's error type: everything that can stop it from showing the twin.

use wasm_bindgen::JsValue;

/// Why the viewer could not start or keep going.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ViewerError {
    /// A DOM node the page must contain is missing.
    #[error("page element #{0} is missing from index.html")]
    MissingElement(&'static str),
    /// A browser API call failed.
    #[error("browser call {call} failed: {message}")]
    Js {
        /// What was being called.
        call: &'static str,
        /// The JavaScript exception, as text.
        message: String,
    },
    /// wgpu could not create a surface on the canvas.
    #[error("cannot create a wgpu surface on the canvas: {0}")]
    Surface(#[from] wgpu::CreateSurfaceError),
    /// Neither WebGPU nor WebGL2 gave an adapter.
    #[error("no WebGPU or WebGL2 adapter (is hardware acceleration off?): {0}")]
    Adapter(#[from] wgpu::RequestAdapterError),
    /// The adapter refused the device.
    #[error("the GPU adapter refused a device: {0}")]
    Device(#[from] wgpu::RequestDeviceError),
    /// The surface supports no format the viewer can draw to.
    #[error("the canvas supports no 8-bit RGBA/BGRA format")]
    NoSurfaceFormat,
    /// The server sent something the viewer cannot follow.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl ViewerError {
    /// Wraps a JavaScript exception raised by `call`.
    pub(crate) fn js(call: &'static str, value: JsValue) -> Self {
        let message = value
            .as_string()
            .or_else(|| js_sys::JSON::stringify(&value).ok().and_then(|s| s.as_string()))
            .unwrap_or_else(|| format!("{value:?}"));
        Self::Js { call, message }
    }
}
