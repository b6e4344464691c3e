//! The browser canvas as a wgpu surface: WebGPU when the browser offers an adapter, WebGL2
//! otherwise (one build serves both), sized to the canvas, presenting what [`Renderer`] draws.
//!
//! The surface is configured as `Rgba8Unorm` where available (both backends have it) and the
//! shader writes sRGB-encoded values, so WebGPU and WebGL2 give the same pixels. Edges are
//! antialiased (4× MSAA) where the adapter renders in hardware and names itself
//! ([`antialias_samples`]); `?msaa=0` or `?msaa=4` overrides that.
use renewtwin_render::render::{Backend, FrameSpec, MSAA_SAMPLES, Renderer, antialias_samples, supports_msaa};

use crate::error::ViewerError;

/// The canvas's surface and the renderer that draws on it.
#[derive(Debug)]
pub(crate) struct CanvasSurface {
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    /// The renderer on the surface's device.
    pub renderer: Renderer,
    /// The backend in use.
    pub backend: Backend,
}

impl CanvasSurface {
    /// Sets up wgpu on `canvas`: WebGPU if the browser has an adapter, else WebGL2.
    pub async fn new(canvas: web_sys::HtmlCanvasElement) -> Result<Self, ViewerError> {
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
        descriptor.backends = wgpu::Backends::BROWSER_WEBGPU | wgpu::Backends::GL;
        let instance = wgpu::util::new_instance_with_webgpu_detection(descriptor).await;
        let (width, height) = (canvas.width().max(1), canvas.height().max(1));
        // On WebGL2 the surface must exist before the adapter.
        let surface = instance.create_surface(wgpu::SurfaceTarget::Canvas(canvas))?;
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: Some(&surface),
                apply_limit_buckets: false,
            })
            .await?;
        let backend = match adapter.get_info().backend {
            wgpu::Backend::BrowserWebGpu => Backend::WebGpu,
            _ => Backend::WebGl2,
        };
        let adapter_limits = adapter.limits();
        let mut limits = wgpu::Limits::downlevel_webgl2_defaults().using_resolution(adapter_limits.clone());
        limits.max_buffer_size = adapter_limits.max_buffer_size.min(1 << 30);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("renewtwin device"),
                required_features: wgpu::Features::empty(),
                required_limits: limits,
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await?;

        let caps = surface.get_capabilities(&adapter);
        let format = [wgpu::TextureFormat::Rgba8Unorm, wgpu::TextureFormat::Bgra8Unorm]
            .into_iter()
            .find(|f| caps.formats.contains(f))
            .or_else(|| {
                caps.formats.iter().copied().find(|f| {
                    matches!(f, wgpu::TextureFormat::Rgba8UnormSrgb | wgpu::TextureFormat::Bgra8UnormSrgb)
                })
            })
            .ok_or(ViewerError::NoSurfaceFormat)?;
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            color_space: wgpu::SurfaceColorSpace::default(),
            width,
            height,
            present_mode: wgpu::PresentMode::Fifo,
            desired_maximum_frame_latency: 2,
            alpha_mode: caps.alpha_modes.first().copied().unwrap_or(wgpu::CompositeAlphaMode::Opaque),
            view_formats: vec![],
        };
        surface.configure(&device, &config);
        // `?msaa=0` or `?msaa=4` in the page URL overrides the adapter's default (for comparison).
        let samples = match crate::dom::query_value("msaa").as_deref() {
            Some("0" | "1") => 1,
            Some(_) if supports_msaa(&adapter, format) => MSAA_SAMPLES,
            _ => antialias_samples(&adapter, format),
        };
        Ok(Self { surface, config, renderer: Renderer::new(device, queue, format, samples), backend })
    }

    /// Largest 2D texture side, which bounds the canvas size in device pixels.
    pub fn max_surface_side(&self) -> u32 {
        self.renderer.device().limits().max_texture_dimension_2d
    }

    /// Resizes the surface to `width` × `height` device pixels if needed.
    pub fn resize(&mut self, width: u32, height: u32) {
        let (width, height) = (width.max(1), height.max(1));
        if width == self.config.width && height == self.config.height {
            return;
        }
        self.config.width = width;
        self.config.height = height;
        self.surface.configure(self.renderer.device(), &self.config);
    }

    /// Draws and presents one frame; returns whether it was presented.
    pub fn render(&mut self, spec: &FrameSpec<'_>) -> bool {
        let frame = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(frame) | wgpu::CurrentSurfaceTexture::Suboptimal(frame) => frame,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                self.surface.configure(self.renderer.device(), &self.config);
                return false;
            }
            _ => return false,
        };
        let view = frame.texture.create_view(&wgpu::TextureViewDescriptor { label: Some("frame view"), ..Default::default() });
        self.renderer.draw(&view, self.config.width, self.config.height, spec);
        self.renderer.queue().present(frame);
        true
    }
}
