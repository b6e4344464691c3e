//! The viewer's renderer run natively and off-screen (feature `native`): for exhibition posters
//! (`renewtwin render`) and for golden-image tests that need no browser.
//!
//! It takes exactly what the browser gets — the protocol's `Scene` header, `Meshes` batches,
//! `SceneComplete` and `State` deltas, plus element states for a day (the timeline's
//! `/api/states`), a colour layer and a viewpoint — and draws them with the same
//! [`Renderer`], camera, scene store and colouring as the wasm build, into a texture that is
//! read back to RGBA and encoded as PNG.
//!
//! The adapter is found without any window: Vulkan first (lavapipe where there is no GPU), then
//! OpenGL through EGL (llvmpipe). `WGPU_BACKEND=vulkan` or `=gl` narrows the choice;
//! `WGPU_ADAPTER_NAME` picks an adapter by name. The target is `Rgba8Unorm` holding
//! sRGB-encoded values, as the browser's canvas is, so pixels match the WebGPU page.

use std::sync::{Arc, Mutex};

use renewtwin_protocol::{LifecycleState, PROTOCOL_VERSION, ServerMsg};

use crate::camera::OrbitCamera;
use crate::render::{
    FrameSpec, MSAA_SAMPLES, Renderer, UploadStats, antialias_samples, is_software, supports_msaa,
};
use crate::scene::Scene;
use crate::style::Layer;
use crate::view::{ViewState, rebase_from};

/// The colour target's format (see the module docs).
const TARGET_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
/// Largest image side, pixels (a poster at 8K fits; GPUs may allow less).
pub const MAX_SIDE: u32 = 8192;
/// Largest image area, pixels (8K UHD: 7680 × 4320), so a typo cannot ask for gigabytes.
pub const MAX_PIXELS: u64 = 7680 * 4320;
/// Packages that provide the software adapters on Debian and Ubuntu.
pub const SOFTWARE_ADAPTER_PACKAGES: &str = "mesa-vulkan-drivers libvulkan1 (Vulkan: lavapipe) or libegl1 libegl-mesa0 libgl1-mesa-dri (OpenGL: llvmpipe)";

/// Why an off-screen frame could not be made.
#[derive(Debug, thiserror::Error)]
pub enum OffscreenError {
    /// No Vulkan or OpenGL adapter exists on this machine.
    #[error(
        "no Vulkan or OpenGL adapter found (backends tried: {tried}); on Debian/Ubuntu install {SOFTWARE_ADAPTER_PACKAGES}"
    )]
    NoAdapter {
        /// The backends that were asked.
        tried: String,
    },
    /// The adapter refused a device.
    #[error("the {adapter} adapter refused a device: {source}")]
    Device {
        /// The adapter's name and backend.
        adapter: String,
        /// wgpu's reason.
        source: wgpu::RequestDeviceError,
    },
    /// The image size is zero or too large.
    #[error(
        "image size {width}x{height} is out of range: each side 1..={max_side}, at most {MAX_PIXELS} pixels"
    )]
    Size {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
        /// Largest side this adapter and renderer allow.
        max_side: u32,
    },
    /// The messages do not form a scene the renderer can draw.
    #[error("scene stream: {0}")]
    Protocol(String),
    /// Element states for a different number of elements than the scene has.
    #[error("{given} element states given for a scene of {expected} elements")]
    StateCount {
        /// States given.
        given: usize,
        /// Elements in the scene.
        expected: usize,
    },
    /// The GPU reported an error while drawing or reading back.
    #[error("GPU error: {0}")]
    Gpu(String),
    /// PNG encoding failed.
    #[error("cannot encode the PNG: {0}")]
    Png(#[from] png::EncodingError),
}

/// The adapter in use, for logs and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// `vulkan` or `gl`.
    pub backend: String,
    /// Whether it is a software rasteriser (lavapipe, llvmpipe, SwiftShader).
    pub software: bool,
    /// Samples per pixel the pictures are drawn with (4: MSAA, 1: none).
    pub samples: u32,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {}{}",
            self.name,
            self.backend,
            if self.software { ", software" } else { "" }
        )
    }
}

/// A colour layer: a category per element (255: none) and the colour of each category, as
/// `/api/viewer/layer` gives them to the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColourLayer {
    /// Category per element.
    pub values: Vec<u8>,
    /// Colour of each category, sRGB bytes.
    pub palette: Vec<[u8; 3]>,
}

/// Where the camera is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CameraSpec {
    /// The whole scene framed, as the viewer starts.
    Fit,
    /// From `eye` towards `target`, metres in the scene frame (a `[[viewpoints]]` entry).
    Look {
        /// Eye position.
        eye: [f64; 3],
        /// Point looked at.
        target: [f64; 3],
    },
}

/// An RGBA8 image, rows top to bottom, sRGB-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

impl Image {
    /// The pixel at `(x, y)`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y as usize) * (self.width as usize) + x as usize) * 4;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }

    /// The image as a PNG file (8-bit RGBA).
    pub fn to_png(&self) -> Result<Vec<u8>, OffscreenError> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
            encoder.set_color(png::ColorType::Rgba);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_source_srgb(png::SrgbRenderingIntent::Perceptual);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&self.rgba)?;
            writer.finish()?;
        }
        Ok(out)
    }
}

/// Whether pictures are antialiased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Antialias {
    /// 4× MSAA on a hardware adapter that supports it, none on a software rasteriser
    /// ([`crate::render::antialias_samples`]).
    #[default]
    Auto,
    /// None.
    Off,
    /// 4× MSAA wherever the adapter supports it, software rasterisers included.
    Msaa,
}

/// The renderer on a headless device, with the scene it was sent.
#[derive(Debug)]
pub struct OffscreenViewer {
    renderer: Renderer,
    adapter: AdapterSummary,
    scene: Option<Scene>,
    view: ViewState,
    camera: CameraSpec,
    stats: UploadStats,
    target: Option<(wgpu::Texture, u32, u32)>,
    /// GPU errors reported since the last check.
    errors: Arc<Mutex<Vec<String>>>,
}

impl OffscreenViewer {
    /// Finds an adapter (Vulkan, then GL) and sets up the renderer on it, antialiased where
    /// the adapter affords it ([`Antialias::Auto`]).
    pub fn new() -> Result<Self, OffscreenError> {
        Self::with_antialias(Antialias::Auto)
    }

    /// As [`OffscreenViewer::new`], antialiased as `antialias` says.
    pub fn with_antialias(antialias: Antialias) -> Result<Self, OffscreenError> {
        let wanted =
            wgpu::Backends::from_env().unwrap_or(wgpu::Backends::VULKAN | wgpu::Backends::GL);
        let by_name = std::env::var("WGPU_ADAPTER_NAME")
            .ok()
            .map(|n| n.to_lowercase());
        let mut adapter = None;
        for backend in [wgpu::Backends::VULKAN, wgpu::Backends::GL] {
            if !wanted.contains(backend) {
                continue;
            }
            // One instance per backend: EGL is only initialised (and only complains about
            // missing DRI drivers) when Vulkan has nothing.
            let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
            descriptor.backends = backend;
            descriptor.flags = wgpu::InstanceFlags::default().with_env();
            let instance = wgpu::Instance::new(descriptor);
            let mut found = block_on(instance.enumerate_adapters(backend));
            found.retain(|a| {
                by_name
                    .as_ref()
                    .is_none_or(|n| a.get_info().name.to_lowercase().contains(n))
            });
            // A real GPU before a software one.
            found.sort_by_key(|a| a.get_info().device_type == wgpu::DeviceType::Cpu);
            if let Some(first) = found.into_iter().next() {
                adapter = Some(first);
                break;
            }
        }
        let Some(adapter) = adapter else {
            let tried: Vec<&str> = [
                (wgpu::Backends::VULKAN, "Vulkan"),
                (wgpu::Backends::GL, "OpenGL"),
            ]
            .into_iter()
            .filter(|(b, _)| wanted.contains(*b))
            .map(|(_, name)| name)
            .collect();
            let tried = if tried.is_empty() {
                format!("none of {wanted:?} is built in")
            } else {
                tried.join(", ")
            };
            return Err(OffscreenError::NoAdapter { tried });
        };
        let info = adapter.get_info();
        let samples = match antialias {
            Antialias::Auto => antialias_samples(&adapter, TARGET_FORMAT),
            Antialias::Off => 1,
            Antialias::Msaa if supports_msaa(&adapter, TARGET_FORMAT) => MSAA_SAMPLES,
            Antialias::Msaa => 1,
        };
        let summary = AdapterSummary {
            name: info.name.clone(),
            backend: info.backend.to_str().to_owned(),
            software: is_software(&info),
            samples,
        };
        let adapter_limits = adapter.limits();
        let mut limits =
            wgpu::Limits::downlevel_webgl2_defaults().using_resolution(adapter_limits.clone());
        limits.max_buffer_size = adapter_limits.max_buffer_size.min(1 << 30);
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("renewtwin off-screen device"),
            required_features: wgpu::Features::empty(),
            required_limits: limits,
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|source| OffscreenError::Device {
            adapter: summary.to_string(),
            source,
        })?;
        // Native wgpu panics on an uncaptured error by default; collect them instead.
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&errors);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut list) = sink.lock() {
                list.push(e.to_string());
            }
        }));
        Ok(Self {
            renderer: Renderer::new(device, queue, TARGET_FORMAT, samples),
            adapter: summary,
            scene: None,
            view: ViewState::default(),
            camera: CameraSpec::Fit,
            stats: UploadStats::default(),
            target: None,
            errors,
        })
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    /// Acts on one server message as the browser does: `Hello` checks the protocol version,
    /// `Scene` starts a scene, `Meshes` adds geometry, `SceneComplete` uploads it, `State`
    /// applies a live delta, `Resync` lets the next delta apply whatever its sequence number,
    /// and `Error` is an error. The other messages are for panels and are ignored, each by name.
    pub fn receive(&mut self, message: ServerMsg) -> Result<(), OffscreenError> {
        match message {
            ServerMsg::Hello {
                protocol_version,
                server,
            } if protocol_version != PROTOCOL_VERSION => {
                return Err(OffscreenError::Protocol(format!(
                    "server {server} speaks protocol {protocol_version}, this renderer {PROTOCOL_VERSION}"
                )));
            }
            ServerMsg::Scene(header) => {
                self.renderer.clear_scene();
                self.view = ViewState::for_bbox(header.bbox);
                self.scene = Some(Scene::new(header));
            }
            ServerMsg::Meshes { meshes, placements } => {
                let scene = self.scene.as_mut().ok_or_else(|| {
                    OffscreenError::Protocol("mesh batch before the scene header".into())
                })?;
                if scene.complete {
                    return Err(OffscreenError::Protocol(
                        "mesh batch after SceneComplete".into(),
                    ));
                }
                scene.add_batch(meshes, placements);
            }
            ServerMsg::SceneComplete => {
                let scene = self.scene.as_mut().ok_or_else(|| {
                    OffscreenError::Protocol("SceneComplete before the scene header".into())
                })?;
                scene.finish();
                rebase_from(scene, self.view.origin, 0);
                self.stats = self.renderer.upload_scene(scene);
                self.view.dirty = true;
            }
            ServerMsg::State(delta) => {
                if let Some(scene) = self.scene.as_mut() {
                    scene.apply(delta);
                    self.view.dirty |= scene.colours_dirty;
                }
            }
            ServerMsg::Error { code, message } => {
                return Err(OffscreenError::Protocol(format!(
                    "server refused a message ({code}): {message}"
                )));
            }
            // The version matched; a renderer has nothing else to do with the greeting.
            ServerMsg::Hello { .. } => {}
            // Link control: a picture has no connection to keep alive or resume.
            ServerMsg::Pong(_) | ServerMsg::Resumed { .. } => {}
            // The next delta coalesces what was skipped and applies whatever its seq.
            ServerMsg::Resync { .. } => {
                if let Some(scene) = self.scene.as_mut() {
                    scene.seq = 0;
                }
            }
            // For panels (clock, sensors, consultation): nothing of them is drawn.
            ServerMsg::Clock(_)
            | ServerMsg::SensorReadings(_)
            | ServerMsg::Alert(_)
            | ServerMsg::SensorAck { .. }
            | ServerMsg::Consultation(_) => {}
        }
        Ok(())
    }

    /// Number of elements in the scene (0 before its header).
    pub fn element_count(&self) -> usize {
        self.scene.as_ref().map_or(0, |s| s.elements.len())
    }

    /// Triangles drawn per frame (instances counted).
    pub fn triangles(&self) -> u64 {
        self.stats.triangles
    }

    /// Shows these element states instead of the live ones, as the timeline does when it seeks
    /// to a day (`None`: the live states).
    pub fn set_states(
        &mut self,
        states: Option<Vec<LifecycleState>>,
    ) -> Result<(), OffscreenError> {
        let expected = self.element_count();
        self.view.seek = match states {
            Some(states) if states.len() != expected => {
                return Err(OffscreenError::StateCount {
                    given: states.len(),
                    expected,
                });
            }
            Some(states) => Some((0, states)),
            None => None,
        };
        self.view.dirty = true;
        Ok(())
    }

    /// Colours elements by `layer` instead of their lifecycle state (`None`: by state).
    pub fn set_layer(&mut self, layer: Option<ColourLayer>) {
        self.view.style.layer = layer.map(|l| Layer {
            values: l.values,
            palette: l.palette,
        });
        self.view.dirty = true;
    }

    /// Draws feature edges (on by default, as in the browser).
    pub fn set_edges(&mut self, edges: bool) {
        self.view.edges = edges;
    }

    /// Lights the scene by the sun from unit direction `sun` (scene frame, z up) with shadows,
    /// or at night when it is below the horizon; `None`: the studio light, no shadows.
    pub fn set_sun(&mut self, sun: Option<[f32; 3]>) {
        self.view.sun = sun;
    }

    /// Places the camera.
    pub fn set_camera(&mut self, camera: CameraSpec) {
        self.camera = camera;
    }

    /// Draws the scene at `width` × `height` pixels and reads it back.
    pub fn render(&mut self, width: u32, height: u32) -> Result<Image, OffscreenError> {
        let max_side = self
            .renderer
            .device()
            .limits()
            .max_texture_dimension_2d
            .min(MAX_SIDE);
        if width == 0
            || height == 0
            || width > max_side
            || height > max_side
            || u64::from(width) * u64::from(height) > MAX_PIXELS
        {
            return Err(OffscreenError::Size {
                width,
                height,
                max_side,
            });
        }
        let scene = self
            .scene
            .as_mut()
            .ok_or_else(|| OffscreenError::Protocol("no scene was received".into()))?;
        if !scene.complete {
            return Err(OffscreenError::Protocol(
                "the scene never completed (no SceneComplete)".into(),
            ));
        }
        if scene.colours_dirty || self.view.dirty {
            scene.colours_dirty = false;
            self.view.dirty = false;
            let len = self.renderer.colour_texture_len();
            for side in 0..2 {
                let texels = self
                    .view
                    .style
                    .texels(self.view.states(side, &scene.states), len);
                self.renderer.upload_colours(side, &texels);
            }
        }
        let mut camera = OrbitCamera::default();
        camera.fit(self.view.local_bbox(), width as f32 / height as f32);
        if let CameraSpec::Look { eye, target } = self.camera {
            camera.look(self.view.to_local(eye), self.view.to_local(target));
        }
        if self
            .target
            .as_ref()
            .is_none_or(|(_, w, h)| (*w, *h) != (width, height))
        {
            let texture = self
                .renderer
                .device()
                .create_texture(&wgpu::TextureDescriptor {
                    label: Some("off-screen target"),
                    size: wgpu::Extent3d {
                        width,
                        height,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: TARGET_FORMAT,
                    usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
                    view_formats: &[],
                });
            self.target = Some((texture, width, height));
        }
        let Some((texture, _, _)) = &self.target else {
            return Err(OffscreenError::Gpu("no target texture".into()));
        };
        let view = texture.create_view(&wgpu::TextureViewDescriptor {
            label: Some("off-screen view"),
            ..Default::default()
        });
        let spec = FrameSpec {
            camera: &camera,
            layout: self.view.layout,
            section: self.view.section_plane(),
            xray: self.view.xray,
            edges: self.view.edges,
            selected: self.view.selected,
            sun: self.view.sun,
        };
        self.renderer.draw(&view, width, height, &spec);
        let rgba = read_back(
            self.renderer.device(),
            self.renderer.queue(),
            texture,
            width,
            height,
        )?;
        self.check_errors()?;
        Ok(Image {
            width,
            height,
            rgba,
        })
    }

    /// Turns GPU errors reported since the last call into an error.
    fn check_errors(&self) -> Result<(), OffscreenError> {
        let mut list = self
            .errors
            .lock()
            .map_err(|_| OffscreenError::Gpu("the error log was poisoned".into()))?;
        if list.is_empty() {
            return Ok(());
        }
        let message = list.join("; ");
        list.clear();
        Err(OffscreenError::Gpu(message))
    }
}

/// Copies `texture` into a mappable buffer (rows padded to
/// [`wgpu::COPY_BYTES_PER_ROW_ALIGNMENT`]) and returns its tightly packed RGBA bytes.
fn read_back(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    texture: &wgpu::Texture,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, OffscreenError> {
    let row = width * 4;
    let padded_row =
        row.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("off-screen read-back"),
        size: u64::from(padded_row) * u64::from(height),
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("read-back encoder"),
    });
    encoder.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded_row),
                rows_per_image: Some(height),
            },
        },
        wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
    );
    queue.submit([encoder.finish()]);
    let (sender, receiver) = std::sync::mpsc::channel();
    buffer
        .slice(..)
        .map_async(wgpu::MapMode::Read, move |result| {
            // The receiver waits below; if it is gone there is nobody to tell.
            let _sent = sender.send(result);
        });
    device
        .poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: Some(std::time::Duration::from_secs(120)),
        })
        .map_err(|e| OffscreenError::Gpu(format!("waiting for the frame: {e}")))?;
    receiver
        .recv_timeout(std::time::Duration::from_secs(10))
        .map_err(|_| OffscreenError::Gpu("the read-back buffer was never mapped".into()))?
        .map_err(|e| OffscreenError::Gpu(format!("mapping the read-back buffer: {e}")))?;
    let mut rgba = Vec::with_capacity((row * height) as usize);
    {
        let mapped = buffer
            .slice(..)
            .get_mapped_range()
            .map_err(|e| OffscreenError::Gpu(format!("reading the read-back buffer: {e}")))?;
        for y in 0..height as usize {
            let start = y * padded_row as usize;
            rgba.extend_from_slice(&mapped[start..start + row as usize]);
        }
    }
    buffer.unmap();
    Ok(rgba)
}

/// Runs a future to completion on this thread. wgpu's native adapter and device requests are
/// ready at once; the loop only guards against a backend that needs a second poll.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use renewtwin_protocol::{
        CivilDate, ElementInfo, MeshData, PlacedMesh, SceneHash, SceneHeader, SimDay,
    };

    use super::*;

    /// One unit cube, element 0, `Existing`, as the server would stream it.
    fn cube_stream() -> Vec<ServerMsg> {
        let header = SceneHeader {
            name: "cube".into(),
            bbox: [-0.5, -0.5, 0.0, 0.5, 0.5, 1.0],
            plan_start: CivilDate::new(2026, 3, 1),
            day: SimDay(0),
            date: CivilDate::new(2026, 3, 1),
            plan_end: SimDay(10),
            elements: vec![ElementInfo {
                id: 0,
                global_id: "cube".into(),
                class: "IfcWall".into(),
                name: None,
                storey: None,
                state: LifecycleState::Existing,
            }],
            phases: vec![],
            mesh_count: 1,
            triangle_count: 12,
            seq: 1,
            scene_hash: SceneHash::default(),
            batches: 1,
            scene_bytes: 0,
        };
        let corners: Vec<[f32; 3]> = (0..8)
            .map(|i| {
                [
                    (i & 1) as f32 - 0.5,
                    ((i >> 1) & 1) as f32 - 0.5,
                    ((i >> 2) & 1) as f32,
                ]
            })
            .collect();
        let quads = [
            [0, 1, 3, 2],
            [4, 6, 7, 5],
            [0, 4, 5, 1],
            [2, 3, 7, 6],
            [0, 2, 6, 4],
            [1, 5, 7, 3],
        ];
        let indices: Vec<u32> = quads
            .iter()
            .flat_map(|q| [q[0], q[1], q[2], q[0], q[2], q[3]])
            .collect();
        let positions: Vec<f32> = corners.iter().flatten().copied().collect();
        let normals: Vec<f32> = corners.iter().flat_map(|_| [0.0, 0.0, 1.0]).collect();
        let identity = [
            1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
        ];
        vec![
            ServerMsg::Hello {
                protocol_version: PROTOCOL_VERSION,
                server: "test".into(),
            },
            ServerMsg::Scene(header),
            ServerMsg::Meshes {
                meshes: vec![MeshData::quantize(3, &positions, &normals, &indices)],
                placements: vec![PlacedMesh {
                    element: 0,
                    mesh: 3,
                    transform: identity,
                }],
            },
            ServerMsg::SceneComplete,
        ]
    }

    /// An off-screen viewer, or `None` (the test skips, saying why) without an adapter, unless
    /// `RENEWTWIN_REQUIRE_GPU_SOFT` makes that a failure.
    fn viewer_or_skip(antialias: Antialias) -> Option<OffscreenViewer> {
        match OffscreenViewer::with_antialias(antialias) {
            Ok(viewer) => Some(viewer),
            Err(e @ OffscreenError::NoAdapter { .. }) => {
                let required = std::env::var("RENEWTWIN_REQUIRE_GPU_SOFT")
                    .is_ok_and(|v| !v.is_empty() && v != "0");
                assert!(!required, "RENEWTWIN_REQUIRE_GPU_SOFT is set but {e}");
                eprintln!("SKIPPED: {e}");
                None
            }
            Err(e) => panic!("cannot set up the off-screen renderer: {e}"),
        }
    }

    /// The cube drawn at 96 × 72 with `antialias`, or `None` (the test skips) without an
    /// adapter, unless `RENEWTWIN_REQUIRE_GPU_SOFT` makes that a failure.
    fn cube_picture(antialias: Antialias) -> Option<(Image, u32)> {
        let mut viewer = viewer_or_skip(antialias)?;
        for message in cube_stream() {
            viewer.receive(message).expect("a well-formed stream");
        }
        let image = viewer.render(96, 72).expect("renders");
        Some((image, viewer.adapter().samples))
    }

    fn distinct_colours(image: &Image) -> usize {
        let mut colours: Vec<[u8; 4]> = image
            .rgba
            .chunks_exact(4)
            .map(|p| [p[0], p[1], p[2], p[3]])
            .collect();
        colours.sort_unstable();
        colours.dedup();
        colours.len()
    }

    #[test]
    fn msaa_blends_the_silhouette_and_leaves_the_faces_alone() {
        let Some((plain, plain_samples)) = cube_picture(Antialias::Off) else {
            return;
        };
        let Some((smooth, smooth_samples)) = cube_picture(Antialias::Msaa) else {
            return;
        };
        assert_eq!(plain_samples, 1);
        // Auto antialiases only on hardware: a software rasteriser pays for every sample.
        if let Some((_, auto_samples)) = cube_picture(Antialias::Auto) {
            let software = OffscreenViewer::new().is_ok_and(|v| v.adapter().software);
            if software {
                assert_eq!(
                    auto_samples, 1,
                    "no MSAA by default on a software rasteriser"
                );
            }
        }
        if smooth_samples == 1 {
            eprintln!("SKIPPED: this adapter has no {MSAA_SAMPLES}x MSAA for Rgba8Unorm and depth");
            return;
        }
        assert_eq!(smooth_samples, MSAA_SAMPLES);
        // The cube and the background are where they were.
        let (cx, cy) = (48, 36);
        let centre = (plain.pixel(cx, cy), smooth.pixel(cx, cy));
        assert!(
            (0..3).all(|c| centre.0[c].abs_diff(centre.1[c]) <= 2),
            "{centre:?}"
        );
        assert_eq!(plain.pixel(0, 0), smooth.pixel(0, 0));
        // Without MSAA every pixel is one of the few face, edge or background colours; with
        // it the silhouette and the edges add blends of them.
        let (few, many) = (distinct_colours(&plain), distinct_colours(&smooth));
        assert!(many > few + 10, "{few} colours without MSAA, {many} with");
        let differing = plain
            .rgba
            .chunks_exact(4)
            .zip(smooth.rgba.chunks_exact(4))
            .filter(|(a, b)| a != b)
            .count();
        assert!(
            differing < plain.rgba.len() / 4 / 4,
            "only edge pixels change: {differing}"
        );
    }

    /// The unit cube of [`cube_stream`] placed twice: a 20 m × 20 m ground slab (element 0,
    /// top at z = 0) and a 2 m × 2 m × 6 m tower standing on it (element 1).
    fn tower_stream() -> Vec<ServerMsg> {
        let mut stream = cube_stream();
        let scale = |sx: f32, sy: f32, sz: f32, tz: f32| {
            [
                sx, 0.0, 0.0, 0.0, 0.0, sy, 0.0, 0.0, 0.0, 0.0, sz, 0.0, 0.0, 0.0, tz, 1.0,
            ]
        };
        if let ServerMsg::Scene(header) = &mut stream[1] {
            header.bbox = [-10.0, -10.0, -0.1, 10.0, 10.0, 6.0];
            let mut tower = header.elements[0].clone();
            tower.id = 1;
            tower.global_id = "tower".into();
            header.elements.push(tower);
            header.mesh_count = 1;
            header.triangle_count = 24;
        }
        if let ServerMsg::Meshes { placements, .. } = &mut stream[2] {
            placements[0].transform = scale(20.0, 20.0, 0.1, -0.1);
            placements.push(PlacedMesh {
                element: 1,
                mesh: 3,
                transform: scale(2.0, 2.0, 6.0, 0.0),
            });
        }
        stream
    }

    fn luminance(p: [u8; 4]) -> i32 {
        i32::from(p[0]) + i32::from(p[1]) + i32::from(p[2])
    }

    /// Pixels where `a` is darker than `b` by more than `margin` (sum of R, G, B), with the
    /// mean column of those pixels.
    fn darker(a: &Image, b: &Image, margin: i32) -> (usize, f64) {
        let (mut count, mut columns) = (0usize, 0f64);
        for y in 0..a.height {
            for x in 0..a.width {
                if luminance(b.pixel(x, y)) - luminance(a.pixel(x, y)) > margin {
                    count += 1;
                    columns += f64::from(x);
                }
            }
        }
        (count, if count == 0 { 0.0 } else { columns / count as f64 })
    }

    #[test]
    fn the_sun_casts_shadows_that_move_with_it_and_night_is_ambient() {
        let Some(mut viewer) = viewer_or_skip(Antialias::Off) else { return };
        for message in tower_stream() {
            viewer.receive(message).expect("a well-formed stream");
        }
        viewer.set_edges(false);
        // From the south, high above: east is to the right of the picture.
        viewer.set_camera(CameraSpec::Look {
            eye: [0.0, -12.0, 40.0],
            target: [0.0, 0.0, 0.0],
        });
        let (w, h) = (160, 120);
        let mut render = |sun: Option<[f32; 3]>| {
            viewer.set_sun(sun);
            viewer.render(w, h).expect("renders")
        };
        let studio = render(None);
        let s = std::f32::consts::FRAC_1_SQRT_2;
        // Morning: the sun 45° up in the east; afternoon: 45° up in the west. The ground's
        // diffuse term is the same for both (its normal is +z), so only shadows differ.
        let morning = render(Some([s, 0.0, s]));
        let afternoon = render(Some([-s, 0.0, s]));
        let night = render(Some([0.0, 0.5, -0.5]));
        if let Ok(dir) = std::env::var("RENEWTWIN_SHADOW_PNG_DIR") {
            for (name, image) in [("studio", &studio), ("morning", &morning), ("afternoon", &afternoon), ("night", &night)] {
                let _ = std::fs::write(format!("{dir}/shadow-{name}.png"), image.to_png().expect("png"));
            }
        // Lit ground is shaded 0.45 + 0.55·cos 45° ≈ 0.84 of its colour, ground in shadow
        // 0.45: on a mid-grey colour that is ~40 levels a channel, ~120 summed. 45 summed
        // levels is far above antialiasing or rounding noise (no MSAA here) and far below
        // that shadow step.
        let margin = 45;
        let (west_shadow, west_column) = darker(&morning, &afternoon, margin);
        let (east_shadow, east_column) = darker(&afternoon, &morning, margin);
        // The tower's 6 m shadow at 45° covers ~12 m² of ground, ~1.5% of this picture.
        let least = (w * h / 200) as usize;
        assert!(west_shadow > least, "morning shadow west of the tower: {west_shadow} pixels");
        assert!(east_shadow > least, "afternoon shadow east of the tower: {east_shadow} pixels");
        let centre = f64::from(w) / 2.0;
        assert!(west_column < centre, "the morning shadow lies west (left): column {west_column}");
        assert!(east_column > centre, "the afternoon shadow lies east (right): column {east_column}");
        // The studio light casts no shadow: the morning picture darkens ground it leaves lit.
        let (shadowed, _) = darker(&morning, &studio, margin);
        assert!(shadowed > least, "shadows on vs off: {shadowed} pixels");
        // Night: ambient only, every lit pixel of the scene darker than under the studio light.
        let (dark, _) = darker(&night, &studio, margin);
        assert!(dark > (w * h / 10) as usize, "night darkens the ground: {dark} pixels");
        }
    }
}
