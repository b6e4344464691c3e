//! The wgpu scene renderer: pipelines, the scene's geometry on the GPU, and drawing one frame
//! into any colour target. It knows nothing of canvases or windows: the web viewer's
//! `surface.rs` gives it the browser canvas, `offscreen.rs` a texture it reads back into a PNG.
//!
//! Geometry is packed into a few large vertex/index buffer pairs ("chunks"). A large mesh
//! (over 1,024 vertices) used by two or more placements is stored once in its own frame and
//! drawn instanced, one draw per mesh, with a slice of the shared instance buffer (transform +
//! element id). Every other placement, single-use or a small repeated mesh, is baked into world
//! space with the element id on every vertex and drawn together, one draw per run of such
//! meshes, with a single identity instance: a draw call costs more than the copied vertices
//! (see `ChunkLimits::instanced`). Indices are absolute within a chunk, so no draw needs a
//! base vertex or a first instance (WebGL2 has neither). Each chunk also holds the feature
//! edges of its meshes as a line list drawn the same way.
//!
//! The translucent pass (planned ghosts) draws only the translucent elements: when a side's
//! colours are uploaded, the index ranges of its translucent baked placements and the
//! instances of its translucent shared placements are collected (`translucent_draws`); only
//! X-ray, where every standing element is translucent, draws a full second pass. Where the
//! adapter affords it ([`antialias_samples`]) frames are drawn with 4× MSAA.
//!
//! Element colours live in small RGBA8 textures read by the vertex shader, one per compared
//! side, so a live state change, a timeline seek, a colour layer, hiding an element or X-ray
//! mode is at most one texture upload or a few uniform bytes, whatever the geometry.

use glam::{Mat4, Vec3};
use wgpu::util::DeviceExt;

use crate::camera::OrbitCamera;
use crate::edges::feature_edges;
use crate::scene::Scene;
use crate::view::Layout;

/// The canvas background, sRGB bytes (a dark slate that no lifecycle colour is close to).
pub const BACKGROUND_RGB: [u8; 3] = [34, 40, 52];
/// Opacity of planned elements.
const GHOST_OPACITY: f32 = 0.35;
/// Width of the element colour texture, texels (the WebGL2 minimum 2D size).
pub const COLOUR_TEXTURE_WIDTH: u32 = 2048;
/// Marks a vertex or instance that does not name the element itself.
const NO_ELEMENT: u32 = u32::MAX;
/// Depth buffer format (available on WebGPU and WebGL2).
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth24Plus;
/// Width of the divider drawn between compared sides, device pixels.
const DIVIDER_PX: u32 = 2;
/// Samples per pixel when the renderer antialiases (MSAA).
pub const MSAA_SAMPLES: u32 = 4;

/// Whether `info` names a software rasteriser (SwiftShader, llvmpipe, lavapipe, softpipe).
pub fn is_software(info: &wgpu::AdapterInfo) -> bool {
    let name = info.name.to_lowercase();
    info.device_type == wgpu::DeviceType::Cpu
        || ["llvmpipe", "lavapipe", "swiftshader", "softpipe"]
            .iter()
            .any(|s| name.contains(s))
}

/// The samples per pixel to draw `format` targets with on `adapter`: [`MSAA_SAMPLES`] where the
/// adapter is known to rasterise in hardware and supports that many samples of `format` and of
/// the depth format, else 1 (no antialiasing). A software rasteriser pays for every sample on
/// the CPU (in `../shared/viewer-peers` MSAA costs xeokit 2.4 times its frame time on
/// SwiftShader), and an adapter that does not say what it is (WebGPU may hide the name) is
/// treated as one.
pub fn antialias_samples(adapter: &wgpu::Adapter, format: wgpu::TextureFormat) -> u32 {
    let info = adapter.get_info();
    if info.name.trim().is_empty() || is_software(&info) || !supports_msaa(adapter, format) {
        1
    } else {
        MSAA_SAMPLES
    }
}

/// Whether `adapter` can draw `format` targets (and the depth buffer) with [`MSAA_SAMPLES`].
pub fn supports_msaa(adapter: &wgpu::Adapter, format: wgpu::TextureFormat) -> bool {
    let supported = |f: wgpu::TextureFormat| {
        adapter
            .get_texture_format_features(f)
            .flags
            .sample_count_supported(MSAA_SAMPLES)
    };
    supported(format) && supported(DEPTH_FORMAT)
}

/// Which browser API wgpu drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `navigator.gpu`.
    WebGpu,
    /// WebGL2 (through ANGLE in Chromium).
    WebGl2,
}

impl Backend {
    /// The hook value: `"webgpu"`, `"webgl2"` or `"native"`.
    pub fn key(self) -> &'static str {
        match self {
            Self::WebGpu => "webgpu",
            Self::WebGl2 => "webgl2",
        }
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::WebGpu => "WebGPU",
            Self::WebGl2 => "WebGL2",
        }
    }
}

/// What to draw besides the geometry.
#[derive(Debug, Clone, Copy)]
pub struct FrameSpec<'a> {
    /// The camera.
    pub camera: &'a OrbitCamera,
    /// Split between the two colour sets.
    pub layout: Layout,
    /// Section plane `[nx, ny, nz, d]`: fragments with `n·p > d` are cut away.
    pub section: Option<[f32; 4]>,
    /// Draw standing elements translucent, the selection solid.
    pub xray: bool,
    /// Draw feature edges.
    pub edges: bool,
    /// The highlighted element.
    pub selected: Option<u32>,
    /// Unit vector towards the sun in the scene frame (x east, y north, z up), for sunlight
    /// shadows. `None`: the fixed studio light and no shadows (the default view); a sun below
    /// the horizon (`z <= 0`): night, ambient light only.
    pub sun: Option<[f32; 3]>,
}

/// How the frame is lit, from [`FrameSpec::sun`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lighting {
    /// The fixed studio light, no shadows.
    Studio,
    /// Sunlight from this unit direction, with a shadow map.
    Sun(Vec3),
    /// The sun below the horizon: ambient light only.
    Night,
}

impl Lighting {
    /// The lighting of a frame with sun direction `sun` (see [`FrameSpec::sun`]).
    pub fn of(sun: Option<[f32; 3]>) -> Self {
        match sun.map(Vec3::from_array) {
            None => Self::Studio,
            Some(d) if !d.is_finite() || d.length_squared() < 1e-12 => Self::Studio,
            Some(d) if d.z <= 0.0 => Self::Night,
            Some(d) => Self::Sun(d.normalize()),
        }
    }
}

/// Side of the square shadow map, texels (two of them: one per compared side). 2048² keeps a
/// 500 m site at about 0.25 m a texel and fits WebGL2's smallest guaranteed texture size (2048).
pub const SHADOW_MAP_SIZE: u32 = 2048;
/// The shadow map's depth format (sampled with a comparison sampler: WebGPU and WebGL2 allow it).
const SHADOW_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;

/// The sun's view-projection for shadows: an orthographic box looking along `-sun`, fitted
/// around the world-space bounds `min`..`max` (depth 0..1, wgpu's clip convention).
pub fn sun_view_projection(sun: Vec3, min: Vec3, max: Vec3) -> Mat4 {
    let centre = (min + max) * 0.5;
    let radius = ((max - min).length() * 0.5).max(1.0);
    let up = if sun.z.abs() > 0.999 {
        Vec3::Y
    } else {
        Vec3::Z
    };
    let view = Mat4::look_at_rh(centre + sun * radius * 2.0, centre, up);
    let (lo, hi) = crate::scene::transformed_bounds(view, min, max);
    // A small margin so the outermost faces are not clipped by rounding.
    let pad = radius * 0.01;
    Mat4::orthographic_rh(
        lo.x - pad,
        hi.x + pad,
        lo.y - pad,
        hi.y + pad,
        (-hi.z - pad).max(0.0),
        -lo.z + pad,
    ) * view
}

/// One vertex as the shader reads it.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Vertex {
    position: [f32; 3],
    normal: [f32; 3],
    element: u32,
}

/// One instance as the shader reads it.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Instance {
    model: [f32; 16],
    element: u32,
}

/// The uniform block of `render.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Uniforms {
    view_proj: [f32; 16],
    light_dir: [f32; 4],
    eye: [f32; 4],
    params: [f32; 4],
    section: [f32; 4],
    selection: [u32; 4],
    light_view_proj: [f32; 16],
    shadow: [f32; 4],
}

/// One draw: triangle and edge index ranges of a chunk with a slice of the instance buffer.
#[derive(Debug, Clone)]
struct Draw {
    indices: std::ops::Range<u32>,
    edges: std::ops::Range<u32>,
    first_instance: u32,
    instance_count: u32,
    /// For the baked placements of one cell of the site: its bounds (frustum culling) and the
    /// coarse ranges drawn when it is far (see [`Cell`]).
    cell: Option<Cell>,
}

/// The baked placements of one square of the site ([`CELL_M`]), packed as `[small][complex]
/// [simple][boxes of the small][simple again][boxes of the complex]`, where small elements
/// are those [`coarse_as_box`] takes, complex ones the others of more than 12 triangles, and
/// simple ones the rest. Three levels of detail, each one contiguous range and one draw:
/// near, everything as it is (`Draw::indices`, the first three parts); far, the small ones as
/// boxes (`far_indices`, parts 2–4); farther, a shell of boxes: every element that is not
/// small as its box, or as itself where it is no more than a box, and the small ones left out
/// (windows, doors and stairs are inside the shell; pipes and beams are then under a pixel
/// wide) (`shell_indices`, parts 5–6).
#[derive(Debug, Clone, PartialEq)]
struct Cell {
    min: Vec3,
    max: Vec3,
    far_indices: std::ops::Range<u32>,
    far_edges: std::ops::Range<u32>,
    shell_indices: std::ops::Range<u32>,
    shell_edges: std::ops::Range<u32>,
}

/// Side of the square cells the baked placements are grouped by, metres: about a building,
/// so a draw is culled or simplified with its neighbourhood.
const CELL_M: f32 = 40.0;
/// Side of the squares an instanced mesh's placements are grouped by (one draw per group):
/// larger than a cell, as every group of every repeated mesh is a draw of its own.
const INSTANCE_GROUP_M: f32 = 4.0 * CELL_M;
/// An element is "small" (a window, a door, a storey's flight of stairs: drawn as its box when
/// far) when its mesh has more triangles than a box and its bounds' diagonal is at most this,
/// metres...
const SMALL_ELEMENT_M: f32 = 6.0;
/// ...and a far cell is one where this much geometric error (a small element's frame and
/// recess against its box, at most) covers less than [`LOD_PIXELS`] on screen.
const LOD_ERROR_M: f32 = 0.25;
/// See [`LOD_ERROR_M`].
const LOD_PIXELS: f32 = 1.0;
/// A cell is drawn as its shell of boxes where this much error (a window opening closed, a
/// parapet's well filled, a balcony squared) covers less than [`SHELL_PIXELS`] on screen...
const SHELL_ERROR_M: f32 = 1.5;
/// ...two pixels: a window is then a speck of two pixels or less. (Cesium's 3D Tiles refine a
/// tile only when its geometric error exceeds 16 pixels by default, `maximumScreenSpaceError`.)
const SHELL_PIXELS: f32 = 2.0;
/// A bar (a pipe, a beam, a column, a railing: drawn as its box when far) is an element
/// whose bounds are at most this in their two smaller dimensions, metres.
const BAR_M: f32 = 1.0;

/// Whether an element of `triangles` with world bounds of `size` is drawn as its box in a far
/// cell: more triangles than a box, and small ([`SMALL_ELEMENT_M`]) or a bar ([`BAR_M`]).
fn coarse_as_box(triangles: usize, size: Vec3) -> bool {
    let mut sides = size.abs().to_array();
    sides.sort_by(f32::total_cmp);
    triangles > 12 && (size.length() <= SMALL_ELEMENT_M || sides[1] <= BAR_M)
}

/// The triangle index range of one baked placement within its chunk.
#[derive(Debug, Clone)]
struct BakedRange {
    element: u32,
    indices: std::ops::Range<u32>,
}

/// A chunk being filled on the CPU.
#[derive(Debug, Default)]
struct ChunkBuilder {
    vertices: Vec<Vertex>,
    indices: Vec<u32>,
    edges: Vec<u32>,
    draws: Vec<Draw>,
    /// Every baked placement, in index order.
    baked: Vec<BakedRange>,
}

/// Vertex, triangle and edge buffers and the draws that use them.
#[derive(Debug)]
struct GpuChunk {
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    edges: Option<wgpu::Buffer>,
    draws: Vec<Draw>,
    baked: Vec<BakedRange>,
}

/// One draw of the translucent pass.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TranslucentDraw {
    /// Index of the chunk.
    chunk: usize,
    /// Triangle index range within the chunk.
    indices: std::ops::Range<u32>,
    /// `None`: baked geometry, drawn with the identity instance of the scene's instance
    /// buffer; `Some(range)`: a shared mesh, drawn with this slice of the side's translucent
    /// instances.
    instances: Option<std::ops::Range<u32>>,
}

/// The translucent pass of one compared side: only the elements whose colour is translucent
/// (planned ghosts), not a second pass over every triangle.
#[derive(Debug, Default)]
struct TranslucentPass {
    draws: Vec<TranslucentDraw>,
    /// The translucent instances of shared meshes, grouped by mesh.
    instances: Option<wgpu::Buffer>,
}

/// The scene's geometry on the GPU.
#[derive(Debug)]
struct SceneGeometry {
    chunks: Vec<GpuChunk>,
    instances: wgpu::Buffer,
    /// One colour texture and bind group per compared side.
    colours: [wgpu::Texture; 2],
    bind_groups: [wgpu::BindGroup; 2],
    colour_rows: u32,
    /// Every instance, as uploaded (the translucent pass picks from them).
    instance_data: Vec<Instance>,
    /// The translucent pass of each side, rebuilt with its colours.
    translucent: [TranslucentPass; 2],
    /// World-space bounds of every placement (the shadow map is fitted to them).
    bounds: (Vec3, Vec3),
}

/// The shadow map of one compared side and the bind group the main passes read it through.
#[derive(Debug)]
struct ShadowSide {
    view: wgpu::TextureView,
    bind_group: wgpu::BindGroup,
}

/// Owns the pipelines and the uploaded scene on one device.
#[derive(Debug)]
pub struct Renderer {
    device: wgpu::Device,
    queue: wgpu::Queue,
    format: wgpu::TextureFormat,
    /// Samples per pixel (1: no antialiasing).
    samples: u32,
    /// The depth buffer and, when multisampling, the colour buffer resolved into the target,
    /// for a `width` × `height` target.
    attachments: Option<Attachments>,
    /// The passes' pipelines without a section plane, and with one (`[plain, sectioned]`).
    pipelines: [Pipelines; 2],
    bind_group_layout: wgpu::BindGroupLayout,
    shadow_pipeline: wgpu::RenderPipeline,
    shadow_layout: wgpu::BindGroupLayout,
    shadow_sampler: wgpu::Sampler,
    /// Created on the first sunlit frame (none: shadows never asked for).
    shadows: Option<[ShadowSide; 2]>,
    /// Bound instead of a shadow map while shadows are off (a 1×1 depth texture).
    no_shadow: wgpu::BindGroup,
    uniforms: wgpu::Buffer,
    geometry: Option<SceneGeometry>,
    max_buffer_size: u64,
}

/// Triangles and elements uploaded, for the hooks and the fps figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadStats {
    /// Triangles drawn per frame (instances counted).
    pub triangles: u64,
    /// Feature-edge segments drawn per frame.
    pub edges: u64,
    /// Draw calls per pass.
    pub draws: u32,
}

/// The per-size buffers a frame draws into besides its target.
#[derive(Debug)]
struct Attachments {
    width: u32,
    height: u32,
    depth: wgpu::TextureView,
    /// The multisampled colour buffer (`None` with one sample).
    msaa: Option<wgpu::TextureView>,
}

impl Renderer {
    /// Pipelines for drawing into `format` targets on `device` with `samples` samples per pixel
    /// (1, or [`MSAA_SAMPLES`] where [`antialias_samples`] allows it).
    pub fn new(
        device: wgpu::Device,
        queue: wgpu::Queue,
        format: wgpu::TextureFormat,
        samples: u32,
    ) -> Self {
        let samples = samples.max(1);
        let shader = device.create_shader_module(wgpu::include_wgsl!("render.wgsl"));
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("scene bind group layout"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(
                            std::mem::size_of::<Uniforms>() as u64
                        ),
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::VERTEX,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: false },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
            ],
        });
        let shadow_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("shadow map bind group layout"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Depth,
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Comparison),
                    count: None,
                },
            ],
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("scene pipeline layout"),
            bind_group_layouts: &[Some(&bind_group_layout), Some(&shadow_layout)],
            immediate_size: 0,
        });
        let shadow_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("shadow pipeline layout"),
                bind_group_layouts: &[Some(&bind_group_layout)],
                immediate_size: 0,
            });
        let shadow_pipeline = create_shadow_pipeline(&device, &shadow_pipeline_layout, &shader);
        let shadow_sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("shadow sampler"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            compare: Some(wgpu::CompareFunction::LessEqual),
            ..Default::default()
        });
        let (_, no_shadow_view) = create_shadow_map(&device, 1, "no shadow map");
        let no_shadow =
            shadow_bind_group(&device, &shadow_layout, &no_shadow_view, &shadow_sampler);
        let pipelines = [false, true].map(|sectioned| {
            let pipeline =
                |kind| create_pipeline(&device, &layout, &shader, format, samples, kind, sectioned);
            Pipelines {
                solid: pipeline(PassKind::Solid),
                translucent: pipeline(PassKind::Translucent),
                edge: pipeline(PassKind::Edge),
            }
        });
        let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("scene uniforms"),
            size: std::mem::size_of::<Uniforms>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let max_buffer_size = device.limits().max_buffer_size.min(1 << 30);
        Self {
            device,
            queue,
            format,
            samples,
            attachments: None,
            pipelines,
            bind_group_layout,
            shadow_pipeline,
            shadow_layout,
            shadow_sampler,
            shadows: None,
            no_shadow,
            uniforms,
            geometry: None,
            max_buffer_size,
        }
    }

    /// Samples per pixel (1: no antialiasing).
    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// The device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Drops the uploaded scene (a new one is coming).
    pub fn clear_scene(&mut self) {
        self.geometry = None;
    }

    /// Whether a scene is uploaded.
    pub fn has_scene(&self) -> bool {
        self.geometry.is_some()
    }

    /// Uploads the geometry of a complete scene; colours start transparent until
    /// [`Renderer::upload_colours`].
    pub fn upload_scene(&mut self, scene: &Scene) -> UploadStats {
        let packed = pack_scene(scene, ChunkLimits::for_buffer_size(self.max_buffer_size));
        let mut stats = packed.stats;
        let chunks = self.create_chunk_buffers(packed.chunks);
        stats.draws = chunks.iter().map(|c| c.draws.len() as u32).sum();
        let instances = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("scene instances"),
                contents: bytemuck::cast_slice(&packed.instances),
                usage: wgpu::BufferUsages::VERTEX,
            });
        let rows = (scene.elements.len() as u32)
            .div_ceil(COLOUR_TEXTURE_WIDTH)
            .max(1);
        let (first_texture, first_group) = self.create_colour_side(0, rows);
        let (second_texture, second_group) = self.create_colour_side(1, rows);
        self.geometry = Some(SceneGeometry {
            chunks,
            instances,
            colours: [first_texture, second_texture],
            bind_groups: [first_group, second_group],
            colour_rows: rows,
            instance_data: packed.instances,
            translucent: Default::default(),
            bounds: scene_bounds(scene),
        });
        stats
    }

    /// Vertex, triangle and edge buffers of each non-empty packed chunk.
    fn create_chunk_buffers(&self, chunks: Vec<ChunkBuilder>) -> Vec<GpuChunk> {
        chunks
            .into_iter()
            .filter(|c| !c.indices.is_empty())
            .enumerate()
            .map(|(n, c)| GpuChunk {
                vertices: self
                    .device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some(&format!("scene vertices, chunk {n}")),
                        contents: bytemuck::cast_slice(&c.vertices),
                        usage: wgpu::BufferUsages::VERTEX,
                    }),
                indices: self
                    .device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some(&format!("scene indices, chunk {n}")),
                        contents: bytemuck::cast_slice(&c.indices),
                        usage: wgpu::BufferUsages::INDEX,
                    }),
                edges: (!c.edges.is_empty()).then(|| {
                    self.device
                        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                            label: Some(&format!("scene edges, chunk {n}")),
                            contents: bytemuck::cast_slice(&c.edges),
                            usage: wgpu::BufferUsages::INDEX,
                        })
                }),
                draws: c.draws,
                baked: c.baked,
            })
            .collect()
    }

    /// The element colour texture of compared side `side` (`rows` rows, contents undefined
    /// until [`Renderer::upload_colours`]) and the bind group that reads it.
    fn create_colour_side(&self, side: usize, rows: u32) -> (wgpu::Texture, wgpu::BindGroup) {
        let texture = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(if side == 0 {
                "element colours, first side"
            } else {
                "element colours, second side"
            }),
            size: wgpu::Extent3d {
                width: COLOUR_TEXTURE_WIDTH,
                height: rows,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor {
            label: Some("element colours view"),
            ..Default::default()
        });
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(if side == 0 {
                "scene bind group, first side"
            } else {
                "scene bind group, second side"
            }),
            layout: &self.bind_group_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: self.uniforms.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&view),
                },
            ],
        });
        (texture, bind_group)
    }

    /// Bytes of a full colour texture for the uploaded scene (0 without one).
    pub fn colour_texture_len(&self) -> usize {
        self.geometry
            .as_ref()
            .map_or(0, |g| (COLOUR_TEXTURE_WIDTH * g.colour_rows * 4) as usize)
    }

    /// Uploads the element texels of compared side `side` (0 or 1); `texels` holds
    /// [`Renderer::colour_texture_len`] bytes.
    pub fn upload_colours(&mut self, side: usize, texels: &[u8]) {
        let Some(geometry) = self.geometry.as_mut() else {
            return;
        };
        let side = side.min(1);
        let rows = geometry.colour_rows;
        let len = (COLOUR_TEXTURE_WIDTH * rows * 4) as usize;
        if texels.len() < len {
            return;
        }
        let chunks = geometry
            .chunks
            .iter()
            .map(|c| (c.draws.as_slice(), c.baked.as_slice()));
        let (draws, instances) = translucent_draws(chunks, &geometry.instance_data, &texels[..len]);
        geometry.translucent[side] = TranslucentPass {
            draws,
            instances: (!instances.is_empty()).then(|| {
                self.device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("translucent instances"),
                        contents: bytemuck::cast_slice(&instances),
                        usage: wgpu::BufferUsages::VERTEX,
                    })
            }),
        };
        self.queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &geometry.colours[side],
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            &texels[..len],
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(COLOUR_TEXTURE_WIDTH * 4),
                rows_per_image: Some(rows),
            },
            wgpu::Extent3d {
                width: COLOUR_TEXTURE_WIDTH,
                height: rows,
                depth_or_array_layers: 1,
            },
        );
    }

    /// Draws one frame into `target`, `width` × `height` device pixels.
    pub fn draw(
        &mut self,
        target: &wgpu::TextureView,
        width: u32,
        height: u32,
        spec: &FrameSpec<'_>,
    ) {
        let (width, height) = (width.max(1), height.max(1));
        if self
            .attachments
            .as_ref()
            .is_none_or(|a| (a.width, a.height) != (width, height))
        {
            self.attachments = Some(Attachments {
                width,
                height,
                depth: create_attachment(
                    &self.device,
                    width,
                    height,
                    DEPTH_FORMAT,
                    self.samples,
                    "depth buffer",
                ),
                msaa: (self.samples > 1).then(|| {
                    create_attachment(
                        &self.device,
                        width,
                        height,
                        self.format,
                        self.samples,
                        "multisampled colour",
                    )
                }),
            });
        }
        let Some(attachments) = &self.attachments else {
            return;
        };
        // Multisampled: draw into the sample buffer and resolve into the target.
        let (colour_view, resolve_target, colour_store) = match &attachments.msaa {
            Some(msaa) => (msaa, Some(target), wgpu::StoreOp::Discard),
            None => (target, None, wgpu::StoreOp::Store),
        };
        let srgb_target = self.format.is_srgb();
        let pane_width = match spec.layout {
            Layout::SideBySide => (width / 2).max(1),
            _ => width,
        };
        let aspect = pane_width as f32 / height as f32;
        let lighting = Lighting::of(spec.sun);
        let studio = Vec3::new(0.45, -0.35, 0.82).normalize();
        let (light, light_view_proj, shadow) = match (lighting, &self.geometry) {
            (Lighting::Sun(sun), Some(geometry)) => {
                let (min, max) = geometry.bounds;
                let diagonal = (max - min).length().max(1.0);
                (
                    sun,
                    sun_view_projection(sun, min, max),
                    // Normal offset: about one and a half shadow-map texels of the site.
                    [
                        1.0,
                        0.0,
                        1.0 / SHADOW_MAP_SIZE as f32,
                        1.5 * diagonal / SHADOW_MAP_SIZE as f32,
                    ],
                )
            }
            (Lighting::Sun(sun), None) => (sun, Mat4::IDENTITY, [0.0; 4]),
            (Lighting::Night, _) => (studio, Mat4::IDENTITY, [0.0, 1.0, 0.0, 0.0]),
            (Lighting::Studio, _) => (studio, Mat4::IDENTITY, [0.0; 4]),
        };
        let shadowed = shadow[0] > 0.5;
        if shadowed && self.shadows.is_none() {
            let side = |label| {
                let (_, view) = create_shadow_map(&self.device, SHADOW_MAP_SIZE, label);
                let bind_group = shadow_bind_group(
                    &self.device,
                    &self.shadow_layout,
                    &view,
                    &self.shadow_sampler,
                );
                ShadowSide { view, bind_group }
            };
            self.shadows = Some([
                side("shadow map, first side"),
                side("shadow map, second side"),
            ]);
        }
        let view_proj = spec.camera.view_projection(aspect);
        let view = ViewCull::new(
            view_proj,
            spec.camera.eye(),
            spec.camera.fov_y,
            height as f32,
        );
        let uniforms = Uniforms {
            view_proj: view_proj.to_cols_array(),
            light_dir: light.extend(0.0).to_array(),
            eye: spec.camera.eye().extend(1.0).to_array(),
            params: [
                COLOUR_TEXTURE_WIDTH as f32,
                if srgb_target { 1.0 } else { 0.0 },
                GHOST_OPACITY,
                if spec.xray { 1.0 } else { 0.0 },
            ],
            section: spec.section.unwrap_or([0.0; 4]),
            selection: [
                spec.selected.unwrap_or(NO_ELEMENT),
                u32::from(spec.edges),
                0,
                0,
            ],
            light_view_proj: light_view_proj.to_cols_array(),
            shadow,
        };
        self.queue
            .write_buffer(&self.uniforms, 0, bytemuck::bytes_of(&uniforms));
        let clear = BACKGROUND_RGB.map(|c| {
            let c = f64::from(c) / 255.0;
            if srgb_target { srgb_to_linear(c) } else { c }
        });

        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame encoder"),
            });
        let compared = !matches!(spec.layout, Layout::Single);
        let pipelines = &self.pipelines[usize::from(spec.section.is_some())];
        if let (true, Some(geometry), Some(shadows)) = (shadowed, &self.geometry, &self.shadows) {
            // The depth-only pass from the sun, per compared side (their standing sets differ).
            for (side, shadow) in shadows
                .iter()
                .enumerate()
                .take(if compared { 2 } else { 1 })
            {
                let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("shadow pass"),
                    color_attachments: &[],
                    depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                        view: &shadow.view,
                        depth_ops: Some(wgpu::Operations {
                            load: wgpu::LoadOp::Clear(1.0),
                            store: wgpu::StoreOp::Store,
                        }),
                        stencil_ops: None,
                    }),
                    timestamp_writes: None,
                    occlusion_query_set: None,
                    multiview_mask: None,
                });
                pass.set_pipeline(&self.shadow_pipeline);
                pass.set_bind_group(0, &geometry.bind_groups[side], &[]);
                draw_chunks(&mut pass, geometry, false, None);
            }
        }
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("scene pass"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: colour_view,
                    depth_slice: None,
                    resolve_target,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color {
                            r: clear[0],
                            g: clear[1],
                            b: clear[2],
                            a: 1.0,
                        }),
                        store: colour_store,
                    },
                })],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &attachments.depth,
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(1.0),
                        store: wgpu::StoreOp::Discard,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            if let Some(geometry) = &self.geometry {
                // (side, viewport x, viewport width, scissor x, scissor width)
                let panes: Vec<(usize, u32, u32, u32, u32)> = match spec.layout {
                    Layout::Single => vec![(0, 0, width, 0, width)],
                    Layout::Swipe(at) => {
                        let split = ((at.clamp(0.0, 1.0) * width as f32).round() as u32).min(width);
                        let gap = DIVIDER_PX.min(width - split);
                        vec![
                            (0, 0, width, 0, split),
                            (1, 0, width, split + gap, width - split - gap),
                        ]
                    }
                    Layout::SideBySide => {
                        let gap = DIVIDER_PX.min(width - pane_width);
                        vec![
                            (0, 0, pane_width, 0, pane_width),
                            (
                                1,
                                pane_width,
                                pane_width,
                                pane_width + gap,
                                width - pane_width - gap,
                            ),
                        ]
                    }
                };
                for (side, vx, vw, sx, sw) in panes {
                    if sw == 0 {
                        continue;
                    }
                    pass.set_viewport(vx as f32, 0.0, vw as f32, height as f32, 0.0, 1.0);
                    pass.set_scissor_rect(sx, 0, sw, height);
                    pass.set_bind_group(0, &geometry.bind_groups[side], &[]);
                    let shadow_group = match (&self.shadows, shadowed) {
                        (Some(shadows), true) => &shadows[side].bind_group,
                        _ => &self.no_shadow,
                    };
                    pass.set_bind_group(1, shadow_group, &[]);
                    let mut passes: Vec<(&wgpu::RenderPipeline, bool)> =
                        vec![(&pipelines.solid, false)];
                    if spec.edges {
                        passes.push((&pipelines.edge, true));
                    }
                    // X-ray makes every standing element translucent: then it is a full pass.
                    if spec.xray {
                        passes.push((&pipelines.translucent, false));
                    }
                    for (pipeline, edges) in passes {
                        pass.set_pipeline(pipeline);
                        draw_chunks(&mut pass, geometry, edges, Some(&view));
                    }
                    if !spec.xray {
                        draw_translucent(
                            &mut pass,
                            &pipelines.translucent,
                            geometry,
                            &geometry.translucent[side],
                        );
                    }
                }
            }
        }
        self.queue.submit([encoder.finish()]);
    }
}

/// A mesh placed more than once is baked like a single-use one (no draw of its own) when it
/// has at most this many vertices...
const BAKE_REPEATED_VERTICES: usize = 1024;
/// ...and its copies add up to at most this many vertices (7 MiB of vertex data).
const BAKE_REPEATED_TOTAL: usize = 1 << 18;

/// How the scene is packed: the largest chunk (vertices, and triangle plus edge indices) and
/// which repeated meshes are baked rather than instanced.
#[derive(Debug, Clone, Copy)]
struct ChunkLimits {
    vertices: usize,
    indices: usize,
    /// See [`BAKE_REPEATED_VERTICES`] (0: instance every repeated mesh).
    bake_vertices: usize,
    /// See [`BAKE_REPEATED_TOTAL`].
    bake_total: usize,
}

impl ChunkLimits {
    /// What fits buffers of at most `max_buffer_size` bytes (and at most 4M vertices, 12M
    /// indices).
    fn for_buffer_size(max_buffer_size: u64) -> Self {
        Self {
            vertices: (max_buffer_size / std::mem::size_of::<Vertex>() as u64).min(1 << 22)
                as usize,
            indices: (max_buffer_size / 4).min(3 << 22) as usize,
            bake_vertices: BAKE_REPEATED_VERTICES,
            bake_total: BAKE_REPEATED_TOTAL,
        }
    }

    /// Whether a mesh of `vertices` placed `uses` times is drawn instanced. Each instanced
    /// mesh costs a draw call (and an edge draw) per frame; baking costs its vertices once per
    /// copy. On a software rasteriser the draw dominates (BENCHMARKS.md, viewer section), so
    /// small repeated meshes are baked and only large ones instanced.
    fn instanced(self, vertices: usize, uses: usize) -> bool {
        uses >= 2
            && (vertices > self.bake_vertices || vertices.saturating_mul(uses) > self.bake_total)
    }
}

/// The scene's geometry packed on the CPU: chunks, instances and what they hold.
#[derive(Debug)]
struct PackedScene {
    chunks: Vec<ChunkBuilder>,
    /// Instance 0 is the identity with [`NO_ELEMENT`], shared by every baked draw.
    instances: Vec<Instance>,
    stats: UploadStats,
    /// Feature edges of each mesh packed so far: a repeated mesh that is baked is packed once
    /// per placement, its edges found once.
    edges_of: std::collections::HashMap<u32, Vec<u32>>,
}

/// The identity instance's index.
const IDENTITY_INSTANCE: u32 = 0;

/// Packs `scene` into chunks within `limits`: large meshes placed twice or more first, stored
/// once and drawn instanced, then every other placement baked into world space.
fn pack_scene(scene: &Scene, limits: ChunkLimits) -> PackedScene {
    let (shared, single) = group_by_mesh_use(scene, limits);
    let mut packed = PackedScene {
        chunks: vec![ChunkBuilder::default()],
        instances: Vec::with_capacity(scene.placements.len() + 1),
        stats: UploadStats::default(),
        edges_of: std::collections::HashMap::new(),
    };
    packed.instances.push(Instance {
        model: Mat4::IDENTITY.to_cols_array(),
        element: NO_ELEMENT,
    });
    let bounds = placement_bounds(scene);
    for (mesh_id, placement_indices) in &shared {
        packed.add_instanced(scene, &bounds, *mesh_id, placement_indices, limits);
    }
    for cell in group_by_square(&bounds, &single, CELL_M) {
        packed.add_cell(scene, &bounds, &cell, limits);
    }
    packed
}

/// The world-space bounds of every placement (`None`: its mesh is missing), from its mesh's
/// bounds (a partial scene's `Placement::world_min` is not set yet).
fn placement_bounds(scene: &Scene) -> Vec<Option<(Vec3, Vec3)>> {
    scene
        .placements
        .iter()
        .map(|p| {
            let mesh = scene.meshes.get(&p.mesh)?;
            Some(crate::scene::transformed_bounds(
                p.transform,
                mesh.min,
                mesh.max,
            ))
        })
        .collect()
}

/// One square's placements and their bounds.
struct Group {
    min: Vec3,
    max: Vec3,
    members: Vec<usize>,
}

/// The placements `indices` grouped by the square of `side` metres their bounds' centre falls
/// in: groups in order of their first placement, placements in their order; placements
/// without bounds (no mesh) are left out.
fn group_by_square(bounds: &[Option<(Vec3, Vec3)>], indices: &[usize], side: f32) -> Vec<Group> {
    let mut slot_of = std::collections::HashMap::<(i32, i32), usize>::new();
    let mut groups: Vec<Group> = Vec::new();
    for &index in indices {
        let Some((lo, hi)) = bounds.get(index).copied().flatten() else {
            continue;
        };
        let centre = (lo + hi) * 0.5;
        let key = (
            (centre.x / side).floor() as i32,
            (centre.y / side).floor() as i32,
        );
        let slot = *slot_of.entry(key).or_insert_with(|| {
            groups.push(Group {
                min: Vec3::splat(f32::INFINITY),
                max: Vec3::splat(f32::NEG_INFINITY),
                members: Vec::new(),
            });
            groups.len() - 1
        });
        let group = &mut groups[slot];
        group.min = group.min.min(lo);
        group.max = group.max.max(hi);
        group.members.push(index);
    }
    groups
}

/// A box's 24 corners (four per face, for flat shading), outward normals and, as triangle and
/// edge indices, its 12 triangles and 12 edges.
fn box_geometry(min: Vec3, max: Vec3) -> ([Vec3; 24], [Vec3; 24], [u32; 36], [u32; 24]) {
    let corner = |i: usize| {
        Vec3::new(
            if i & 1 == 0 { min.x } else { max.x },
            if i & 2 == 0 { min.y } else { max.y },
            if i & 4 == 0 { min.z } else { max.z },
        )
    };
    // Faces as corner indices, counter-clockwise seen from outside, with their normals.
    let faces: [([usize; 4], Vec3); 6] = [
        ([0, 2, 3, 1], Vec3::NEG_Z),
        ([4, 5, 7, 6], Vec3::Z),
        ([0, 1, 5, 4], Vec3::NEG_Y),
        ([2, 6, 7, 3], Vec3::Y),
        ([0, 4, 6, 2], Vec3::NEG_X),
        ([1, 3, 7, 5], Vec3::X),
    ];
    let mut positions = [Vec3::ZERO; 24];
    let mut normals = [Vec3::ZERO; 24];
    let mut triangles = [0u32; 36];
    for (f, (quad, normal)) in faces.iter().enumerate() {
        for (k, &c) in quad.iter().enumerate() {
            positions[4 * f + k] = corner(c);
            normals[4 * f + k] = *normal;
        }
        let b = 4 * f as u32;
        triangles[6 * f..6 * f + 6].copy_from_slice(&[b, b + 1, b + 2, b, b + 2, b + 3]);
    }
    // The 12 edges: the bottom and top faces' outlines and the four uprights.
    let edges = [
        0, 1, 1, 2, 2, 3, 3, 0, // bottom (face 0: corners 0, 2, 3, 1)
        4, 5, 5, 6, 6, 7, 7, 4, // top (face 1: corners 4, 5, 7, 6)
        0, 4, 3, 5, 2, 7, 1, 6, // uprights
    ];
    (positions, normals, triangles, edges)
}

/// Appends `mesh` placed by `transform` to `chunk` with `element` on every vertex.
fn bake_into(
    chunk: &mut ChunkBuilder,
    positions: &[Vec3],
    normals: &[Vec3],
    indices: &[u32],
    edges: &[u32],
    transform: Mat4,
    element: u32,
) {
    let base = chunk.vertices.len() as u32;
    let normal_matrix = glam::Mat3::from_mat4(transform).inverse().transpose();
    chunk
        .vertices
        .extend(positions.iter().zip(normals).map(|(p, n)| Vertex {
            position: transform.transform_point3(*p).to_array(),
            normal: (normal_matrix * *n).normalize_or(Vec3::Z).to_array(),
            element,
        }));
    chunk.indices.extend(indices.iter().map(|i| i + base));
    chunk.edges.extend(edges.iter().map(|i| i + base));
}

/// What the frame's camera sees, for culling cells and choosing their detail.
#[derive(Debug, Clone, Copy)]
struct ViewCull {
    /// The view frustum's planes (`xyz · p + w ≥ 0` inside).
    planes: [glam::Vec4; 6],
    eye: Vec3,
    /// Pixels per radian at the centre of the view (the focal length in pixels).
    focal_px: f32,
}

impl ViewCull {
    fn new(view_proj: Mat4, eye: Vec3, fov_y: f32, height_px: f32) -> Self {
        let [r0, r1, r2, r3] = [0, 1, 2, 3].map(|i| view_proj.row(i));
        // wgpu's depth runs 0..1: the near plane is row 2 alone.
        let planes = [r3 + r0, r3 - r0, r3 + r1, r3 - r1, r2, r3 - r2];
        let focal_px = height_px * 0.5 / (fov_y * 0.5).tan().max(1e-6);
        Self {
            planes,
            eye,
            focal_px,
        }
    }

    /// Whether the box is wholly outside one of the planes.
    fn culls(&self, min: Vec3, max: Vec3) -> bool {
        self.planes.iter().any(|p| {
            let n = p.truncate();
            let far_corner = Vec3::select(n.cmpge(Vec3::ZERO), max, min);
            n.dot(far_corner) + p.w < 0.0
        })
    }

    /// The level of detail for a cell with these bounds: 0 near, 1 far, 2 shell.
    fn level(&self, min: Vec3, max: Vec3) -> u8 {
        let distance = (self.eye.clamp(min, max) - self.eye).length();
        if SHELL_ERROR_M * self.focal_px < SHELL_PIXELS * distance {
            2
        } else if LOD_ERROR_M * self.focal_px < LOD_PIXELS * distance {
            1
        } else {
            0
        }
    }
}

/// The triangle (or, with `edges`, edge) range of `draw` to draw in this view: `None` when
/// it is culled; the near or far range of a cell by its distance; without a view (the shadow
/// pass) always the full range.
fn visible_range(
    draw: &Draw,
    edges: bool,
    view: Option<&ViewCull>,
) -> Option<std::ops::Range<u32>> {
    let near = if edges { &draw.edges } else { &draw.indices };
    let (Some(cell), Some(view)) = (&draw.cell, view) else {
        return Some(near.clone());
    };
    if view.culls(cell.min, cell.max) {
        return None;
    }
    Some(match (view.level(cell.min, cell.max), edges) {
        (0, _) => near.clone(),
        (1, false) => cell.far_indices.clone(),
        (1, true) => cell.far_edges.clone(),
        (_, false) => cell.shell_indices.clone(),
        (_, true) => cell.shell_edges.clone(),
    })
}

/// Splits the placements by how their mesh is drawn: meshes drawn instanced
/// ([`ChunkLimits::instanced`]), each with its placement indices, in order of first use; and
/// the placements to bake, in order.
fn group_by_mesh_use(scene: &Scene, limits: ChunkLimits) -> (Vec<(u32, Vec<usize>)>, Vec<usize>) {
    let mut uses = std::collections::HashMap::<u32, usize>::new();
    for placement in &scene.placements {
        *uses.entry(placement.mesh).or_default() += 1;
    }
    let instanced = |mesh: u32| {
        let vertices = scene.meshes.get(&mesh).map_or(0, |m| m.positions.len());
        limits.instanced(vertices, uses.get(&mesh).copied().unwrap_or(0))
    };
    let mut shared: Vec<(u32, Vec<usize>)> = Vec::new();
    let mut single = Vec::new();
    let mut slot_of = std::collections::HashMap::<u32, usize>::new();
    for (index, placement) in scene.placements.iter().enumerate() {
        if instanced(placement.mesh) {
            let slot = *slot_of.entry(placement.mesh).or_insert_with(|| {
                shared.push((placement.mesh, Vec::new()));
                shared.len() - 1
            });
            shared[slot].1.push(index);
        } else {
            single.push(index);
        }
    }
    (shared, single)
}

impl PackedScene {
    /// Stores mesh `mesh_id` once in its own frame and adds one instanced draw of it for the
    /// placements `placement_indices`.
    fn add_instanced(
        &mut self,
        scene: &Scene,
        bounds: &[Option<(Vec3, Vec3)>],
        mesh_id: u32,
        placement_indices: &[usize],
        limits: ChunkLimits,
    ) {
        let Some(mesh) = scene.meshes.get(&mesh_id) else {
            return;
        };
        let mesh_edges = feature_edges(&mesh.positions, &mesh.indices);
        // Its box, in the mesh's own frame (the instances place it), for the coarser levels of
        // a mesh of more triangles than a box.
        let triangles = mesh.indices.len() / 3;
        let boxed = triangles > 12;
        let size = placement_indices
            .first()
            .and_then(|&i| bounds.get(i).copied().flatten())
            .map_or(Vec3::ZERO, |(lo, hi)| hi - lo);
        let chunk = current_chunk(
            &mut self.chunks,
            mesh.positions.len() + if boxed { 24 } else { 0 },
            mesh.indices.len() + mesh_edges.len() + if boxed { 36 + 24 } else { 0 },
            limits,
        );
        let mark = |chunk: &ChunkBuilder| (chunk.indices.len() as u32, chunk.edges.len() as u32);
        let start = mark(chunk);
        bake_into(
            chunk,
            &mesh.positions,
            &mesh.normals,
            &mesh.indices,
            &mesh_edges,
            Mat4::IDENTITY,
            NO_ELEMENT,
        );
        let full = mark(chunk);
        if boxed {
            let (positions, normals, triangles, edges) = box_geometry(mesh.min, mesh.max);
            bake_into(
                chunk,
                &positions,
                &normals,
                &triangles,
                &edges,
                Mat4::IDENTITY,
                NO_ELEMENT,
            );
        }
        let end = mark(chunk);
        let (box_indices, box_edges) = if boxed {
            (full.0..end.0, full.1..end.1)
        } else {
            (start.0..full.0, start.1..full.1)
        };
        // Small: its box when far, left out of the shell; otherwise itself when far, its box
        // in the shell.
        let ((far_indices, far_edges), (shell_indices, shell_edges)) =
            if coarse_as_box(triangles, size) {
                (
                    (box_indices, box_edges),
                    (start.0..start.0, start.1..start.1),
                )
            } else {
                ((start.0..full.0, start.1..full.1), (box_indices, box_edges))
            };
        // One draw per group of nearby instances, so each group is culled and simplified on
        // its own.
        for Group { min, max, members } in
            group_by_square(bounds, placement_indices, INSTANCE_GROUP_M)
        {
            let first_instance = self.instances.len() as u32;
            self.instances.extend(members.iter().map(|&i| {
                let p = &scene.placements[i];
                Instance {
                    model: p.transform.to_cols_array(),
                    element: p.element,
                }
            }));
            let count = members.len() as u32;
            chunk.draws.push(Draw {
                indices: start.0..full.0,
                edges: start.1..full.1,
                first_instance,
                instance_count: count,
                cell: Some(Cell {
                    min,
                    max,
                    far_indices: far_indices.clone(),
                    far_edges: far_edges.clone(),
                    shell_indices: shell_indices.clone(),
                    shell_edges: shell_edges.clone(),
                }),
            });
        }
        let count = placement_indices.len() as u64;
        self.stats.triangles += triangles as u64 * count;
        self.stats.edges += (mesh_edges.len() / 2) as u64 * count;
    }

    /// Bakes the placements of one cell into one chunk as one draw with its bounds and its
    /// coarser ranges ([`Cell`]); a cell too large for one chunk is baked placement by
    /// placement.
    fn add_cell(
        &mut self,
        scene: &Scene,
        bounds: &[Option<(Vec3, Vec3)>],
        cell: &Group,
        limits: ChunkLimits,
    ) {
        // Small detailed elements and bars, other elements of more triangles than a box, the
        // rest.
        let (mut small, mut complex, mut simple) = (Vec::new(), Vec::new(), Vec::new());
        let (mut vertices, mut indices) = (0, 0);
        for &index in &cell.members {
            let placement = &scene.placements[index];
            let (Some(mesh), Some((lo, hi))) = (
                scene.meshes.get(&placement.mesh),
                bounds.get(index).copied().flatten(),
            ) else {
                continue;
            };
            let edges = self
                .edges_of
                .entry(placement.mesh)
                .or_insert_with(|| feature_edges(&mesh.positions, &mesh.indices));
            vertices += mesh.positions.len();
            indices += mesh.indices.len() + edges.len();
            let triangles = mesh.indices.len() / 3;
            if coarse_as_box(triangles, hi - lo) {
                small.push(index);
            } else if triangles > 12 {
                complex.push(index);
            } else {
                // Packed twice: in the near and far ranges, and again in the shell.
                simple.push(index);
                vertices += mesh.positions.len();
                indices += mesh.indices.len() + edges.len();
                continue;
            }
            vertices += 24;
            indices += 36 + 24;
        }
        if small.len() + complex.len() + simple.len() == 0 {
            return;
        }
        if vertices > limits.vertices || indices > limits.indices {
            for &index in &cell.members {
                self.add_baked(scene, index, limits);
            }
            return;
        }
        let chunk = current_chunk(&mut self.chunks, vertices, indices, limits);
        let mark = |chunk: &ChunkBuilder| (chunk.indices.len() as u32, chunk.edges.len() as u32);
        // [small][complex][simple][small boxes][simple again][complex boxes]
        let start = mark(chunk);
        let mut ends = [start; 6];
        for (part, group) in [&small, &complex, &simple, &small, &simple, &complex]
            .into_iter()
            .enumerate()
        {
            for &index in group {
                let placement = &scene.placements[index];
                let Some(mesh) = scene.meshes.get(&placement.mesh) else {
                    continue;
                };
                if part == 3 || part == 5 {
                    let (positions, normals, triangles, edges) = box_geometry(mesh.min, mesh.max);
                    bake_into(
                        chunk,
                        &positions,
                        &normals,
                        &triangles,
                        &edges,
                        placement.transform,
                        placement.element,
                    );
                    continue;
                }
                let edges = self
                    .edges_of
                    .get(&placement.mesh)
                    .map_or(&[][..], Vec::as_slice);
                let from = chunk.indices.len() as u32;
                bake_into(
                    chunk,
                    &mesh.positions,
                    &mesh.normals,
                    &mesh.indices,
                    edges,
                    placement.transform,
                    placement.element,
                );
                if part < 3 {
                    self.stats.triangles += (mesh.indices.len() / 3) as u64;
                    self.stats.edges += (edges.len() / 2) as u64;
                    chunk.baked.push(BakedRange {
                        element: placement.element,
                        indices: from..chunk.indices.len() as u32,
                    });
                }
            }
            ends[part] = mark(chunk);
        }
        let [
            small_end,
            _,
            simple_end,
            small_boxes_end,
            _,
            complex_boxes_end,
        ] = ends;
        chunk.draws.push(Draw {
            indices: start.0..simple_end.0,
            edges: start.1..simple_end.1,
            first_instance: IDENTITY_INSTANCE,
            instance_count: 1,
            cell: Some(Cell {
                min: cell.min,
                max: cell.max,
                far_indices: small_end.0..small_boxes_end.0,
                far_edges: small_end.1..small_boxes_end.1,
                shell_indices: small_boxes_end.0..complex_boxes_end.0,
                shell_edges: small_boxes_end.1..complex_boxes_end.1,
            }),
        });
    }

    /// Bakes placement `index` into world space with its element id on each vertex, extending
    /// the chunk's last baked draw when it ends where this one starts.
    fn add_baked(&mut self, scene: &Scene, index: usize, limits: ChunkLimits) {
        let placement = &scene.placements[index];
        let Some(mesh) = scene.meshes.get(&placement.mesh) else {
            return;
        };
        let mesh_edges = self
            .edges_of
            .entry(placement.mesh)
            .or_insert_with(|| feature_edges(&mesh.positions, &mesh.indices));
        let chunk = current_chunk(
            &mut self.chunks,
            mesh.positions.len(),
            mesh.indices.len() + mesh_edges.len(),
            limits,
        );
        let (start, edge_start) = (chunk.indices.len() as u32, chunk.edges.len() as u32);
        bake_into(
            chunk,
            &mesh.positions,
            &mesh.normals,
            &mesh.indices,
            mesh_edges,
            placement.transform,
            placement.element,
        );
        let (end, edge_end) = (chunk.indices.len() as u32, chunk.edges.len() as u32);
        self.stats.triangles += (mesh.indices.len() / 3) as u64;
        self.stats.edges += (mesh_edges.len() / 2) as u64;
        chunk.baked.push(BakedRange {
            element: placement.element,
            indices: start..end,
        });
        match chunk.draws.last_mut() {
            Some(last)
                if last.first_instance == IDENTITY_INSTANCE
                    && last.cell.is_none()
                    && last.indices.end == start
                    && last.edges.end == edge_start =>
            {
                last.indices.end = end;
                last.edges.end = edge_end;
            }
            _ => chunk.draws.push(Draw {
                indices: start..end,
                edges: edge_start..edge_end,
                first_instance: IDENTITY_INSTANCE,
                instance_count: 1,
                cell: None,
            }),
        }
    }
}

/// Whether a colour texel is translucent (neither solid nor hidden).
fn is_translucent(texel_alpha: u8) -> bool {
    texel_alpha > 0 && texel_alpha < 255
}

/// The translucent pass for the element colours `texels`: one draw per run of adjacent baked
/// translucent placements, and per shared mesh one instanced draw of its translucent
/// placements, whose instances are returned to be uploaded.
fn translucent_draws<'a>(
    chunks: impl Iterator<Item = (&'a [Draw], &'a [BakedRange])>,
    instances: &[Instance],
    texels: &[u8],
) -> (Vec<TranslucentDraw>, Vec<Instance>) {
    let translucent = |element: u32| {
        element != NO_ELEMENT
            && texels
                .get(element as usize * 4 + 3)
                .copied()
                .is_some_and(is_translucent)
    };
    let mut draws: Vec<TranslucentDraw> = Vec::new();
    let mut picked: Vec<Instance> = Vec::new();
    for (n, (chunk_draws, chunk_baked)) in chunks.enumerate() {
        for draw in chunk_draws
            .iter()
            .filter(|d| d.first_instance != IDENTITY_INSTANCE)
        {
            let first = picked.len() as u32;
            let range =
                draw.first_instance as usize..(draw.first_instance + draw.instance_count) as usize;
            picked.extend(
                instances
                    .get(range)
                    .unwrap_or_default()
                    .iter()
                    .filter(|i| translucent(i.element))
                    .copied(),
            );
            let end = picked.len() as u32;
            if end > first {
                draws.push(TranslucentDraw {
                    chunk: n,
                    indices: draw.indices.clone(),
                    instances: Some(first..end),
                });
            }
        }
        for baked in chunk_baked.iter().filter(|b| translucent(b.element)) {
            match draws.last_mut() {
                Some(last)
                    if last.chunk == n
                        && last.instances.is_none()
                        && last.indices.end == baked.indices.start =>
                {
                    last.indices.end = baked.indices.end;
                }
                _ => draws.push(TranslucentDraw {
                    chunk: n,
                    indices: baked.indices.clone(),
                    instances: None,
                }),
            }
        }
    }
    (draws, picked)
}

/// Draws the translucent pass of one side (planned ghosts only; the shader still decides per
/// element, as for the other passes).
fn draw_translucent(
    pass: &mut wgpu::RenderPass<'_>,
    pipeline: &wgpu::RenderPipeline,
    geometry: &SceneGeometry,
    translucent: &TranslucentPass,
) {
    if translucent.draws.is_empty() {
        return;
    }
    let instance_size = std::mem::size_of::<Instance>() as u64;
    pass.set_pipeline(pipeline);
    let mut bound_chunk = None;
    for draw in &translucent.draws {
        let Some(chunk) = geometry.chunks.get(draw.chunk) else {
            continue;
        };
        if bound_chunk != Some(draw.chunk) {
            pass.set_vertex_buffer(0, chunk.vertices.slice(..));
            pass.set_index_buffer(chunk.indices.slice(..), wgpu::IndexFormat::Uint32);
            bound_chunk = Some(draw.chunk);
        }
        let (buffer, instances) = match (&draw.instances, &translucent.instances) {
            (None, _) => (
                &geometry.instances,
                IDENTITY_INSTANCE..IDENTITY_INSTANCE + 1,
            ),
            (Some(range), Some(buffer)) => (buffer, range.clone()),
            (Some(_), None) => continue,
        };
        let offset = u64::from(instances.start) * instance_size;
        let end = u64::from(instances.end) * instance_size;
        pass.set_vertex_buffer(1, buffer.slice(offset..end));
        pass.draw_indexed(draw.indices.clone(), 0, 0..instances.end - instances.start);
    }
}

/// Returns the chunk to append a mesh of `vertices`/`indices` to, starting a new one when the
/// current one would pass the buffer limits.
fn current_chunk(
    chunks: &mut Vec<ChunkBuilder>,
    vertices: usize,
    indices: usize,
    limits: ChunkLimits,
) -> &mut ChunkBuilder {
    let full = chunks.last().is_none_or(|c| {
        !c.vertices.is_empty()
            && (c.vertices.len() + vertices > limits.vertices
                || c.indices.len() + c.edges.len() + indices > limits.indices)
    });
    if full {
        chunks.push(ChunkBuilder::default());
    }
    let last = chunks.len() - 1;
    &mut chunks[last]
}

/// Every chunk's triangles (or, with `edges`, feature edges) with the pass's pipeline and bind
/// groups already set.
fn draw_chunks(
    pass: &mut wgpu::RenderPass<'_>,
    geometry: &SceneGeometry,
    edges: bool,
    view: Option<&ViewCull>,
) {
    let instance_size = std::mem::size_of::<Instance>() as u64;
    for chunk in &geometry.chunks {
        pass.set_vertex_buffer(0, chunk.vertices.slice(..));
        let index_buffer = if edges {
            match &chunk.edges {
                Some(buffer) => buffer,
                None => continue,
            }
        } else {
            &chunk.indices
        };
        pass.set_index_buffer(index_buffer.slice(..), wgpu::IndexFormat::Uint32);
        for draw in &chunk.draws {
            let Some(range) = visible_range(draw, edges, view) else {
                continue;
            };
            if range.is_empty() {
                continue;
            }
            let offset = u64::from(draw.first_instance) * instance_size;
            let end = offset + u64::from(draw.instance_count) * instance_size;
            pass.set_vertex_buffer(1, geometry.instances.slice(offset..end));
            pass.draw_indexed(range, 0, 0..draw.instance_count);
        }
    }
}

/// World-space bounds of every placement (a unit box at the origin for an empty scene).
fn scene_bounds(scene: &Scene) -> (Vec3, Vec3) {
    let mut lo = Vec3::splat(f32::INFINITY);
    let mut hi = Vec3::splat(f32::NEG_INFINITY);
    for p in &scene.placements {
        lo = lo.min(p.world_min);
        hi = hi.max(p.world_max);
    }
    if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (Vec3::ZERO, Vec3::ONE)
    }
}

/// A square shadow map `size` texels wide, rendered into and sampled.
fn create_shadow_map(
    device: &wgpu::Device,
    size: u32,
    label: &str,
) -> (wgpu::Texture, wgpu::TextureView) {
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width: size,
            height: size,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: SHADOW_FORMAT,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
        view_formats: &[],
    });
    let view = texture.create_view(&wgpu::TextureViewDescriptor {
        label: Some(label),
        ..Default::default()
    });
    (texture, view)
}

fn shadow_bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    view: &wgpu::TextureView,
    sampler: &wgpu::Sampler,
) -> wgpu::BindGroup {
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("shadow map bind group"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(view),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Sampler(sampler),
            },
        ],
    })
}

/// The depth-only pipeline that renders the solid elements from the sun into a shadow map.
fn create_shadow_pipeline(
    device: &wgpu::Device,
    layout: &wgpu::PipelineLayout,
    shader: &wgpu::ShaderModule,
) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("shadow pipeline"),
        layout: Some(layout),
        vertex: mesh_vertex_state(shader, "vs_shadow"),
        primitive: wgpu::PrimitiveState {
            topology: wgpu::PrimitiveTopology::TriangleList,
            cull_mode: None,
            ..Default::default()
        },
        depth_stencil: Some(wgpu::DepthStencilState {
            format: SHADOW_FORMAT,
            depth_write_enabled: Some(true),
            depth_compare: Some(wgpu::CompareFunction::LessEqual),
            stencil: wgpu::StencilState::default(),
            // Slope-scaled bias against acne on faces grazed by the sun.
            bias: wgpu::DepthBiasState {
                constant: 2,
                slope_scale: 2.0,
                clamp: 0.0,
            },
        }),
        multisample: wgpu::MultisampleState::default(),
        fragment: None,
        multiview_mask: None,
        cache: None,
    })
}

/// The pipelines of one frame's passes.
#[derive(Debug)]
struct Pipelines {
    solid: wgpu::RenderPipeline,
    translucent: wgpu::RenderPipeline,
    edge: wgpu::RenderPipeline,
}

/// Which pass a pipeline draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassKind {
    /// Opaque elements, depth-written.
    Solid,
    /// Planned ghosts and X-ray, blended over the solid pass without writing depth.
    Translucent,
    /// Feature edges, a line list.
    Edge,
}

/// A mesh vertex's attributes: position, normal, element index.
const VERTEX_ATTRIBUTES: [wgpu::VertexAttribute; 3] =
    wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Uint32];
/// An instance's attributes: the four columns of its placement, its element index.
const INSTANCE_ATTRIBUTES: [wgpu::VertexAttribute; 5] = wgpu::vertex_attr_array![
    3 => Float32x4, 4 => Float32x4, 5 => Float32x4, 6 => Float32x4, 7 => Uint32
];
/// The two vertex buffers every mesh pipeline reads: vertices, then instances.
const MESH_BUFFERS: [Option<wgpu::VertexBufferLayout<'static>>; 2] = [
    Some(wgpu::VertexBufferLayout {
        array_stride: std::mem::size_of::<Vertex>() as u64,
        step_mode: wgpu::VertexStepMode::Vertex,
        attributes: &VERTEX_ATTRIBUTES,
    }),
    Some(wgpu::VertexBufferLayout {
        array_stride: std::mem::size_of::<Instance>() as u64,
        step_mode: wgpu::VertexStepMode::Instance,
        attributes: &INSTANCE_ATTRIBUTES,
    }),
];

/// The vertex stage of a mesh pipeline: `entry` of `shader` over [`MESH_BUFFERS`].
fn mesh_vertex_state<'a>(shader: &'a wgpu::ShaderModule, entry: &'a str) -> wgpu::VertexState<'a> {
    wgpu::VertexState {
        module: shader,
        entry_point: Some(entry),
        compilation_options: wgpu::PipelineCompilationOptions::default(),
        buffers: &MESH_BUFFERS,
    }
}

fn create_pipeline(
    device: &wgpu::Device,
    layout: &wgpu::PipelineLayout,
    shader: &wgpu::ShaderModule,
    format: wgpu::TextureFormat,
    samples: u32,
    kind: PassKind,
    sectioned: bool,
) -> wgpu::RenderPipeline {
    // A sectioned stage may discard; the plain one never does (see render.wgsl).
    let (label, entry, fragment, blend, depth_write, topology) = match kind {
        PassKind::Solid => (
            "solid pipeline",
            "vs_solid",
            if sectioned {
                "fs_main_sectioned"
            } else {
                "fs_main"
            },
            None,
            true,
            wgpu::PrimitiveTopology::TriangleList,
        ),
        PassKind::Translucent => (
            "translucent pipeline",
            "vs_translucent",
            if sectioned {
                "fs_main_sectioned"
            } else {
                "fs_main"
            },
            Some(wgpu::BlendState::ALPHA_BLENDING),
            false,
            wgpu::PrimitiveTopology::TriangleList,
        ),
        PassKind::Edge => (
            "edge pipeline",
            "vs_edge",
            if sectioned {
                "fs_edge_sectioned"
            } else {
                "fs_edge"
            },
            Some(wgpu::BlendState::ALPHA_BLENDING),
            false,
            wgpu::PrimitiveTopology::LineList,
        ),
    };
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        vertex: mesh_vertex_state(shader, entry),
        primitive: wgpu::PrimitiveState {
            topology,
            cull_mode: None,
            ..Default::default()
        },
        depth_stencil: Some(wgpu::DepthStencilState {
            format: DEPTH_FORMAT,
            depth_write_enabled: Some(depth_write),
            depth_compare: Some(wgpu::CompareFunction::LessEqual),
            stencil: wgpu::StencilState::default(),
            bias: wgpu::DepthBiasState::default(),
        }),
        multisample: wgpu::MultisampleState {
            count: samples,
            ..Default::default()
        },
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some(fragment),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend,
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}

/// A render attachment of `format` with `samples` samples per pixel, used within a frame only.
fn create_attachment(
    device: &wgpu::Device,
    width: u32,
    height: u32,
    format: wgpu::TextureFormat,
    samples: u32,
    label: &str,
) -> wgpu::TextureView {
    device
        .create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: samples,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            view_formats: &[],
        })
        .create_view(&wgpu::TextureViewDescriptor {
            label: Some(label),
            ..Default::default()
        })
}

fn srgb_to_linear(c: f64) -> f64 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{Mesh, test_scene};

    /// Four unit cubes: elements 0 and 1 share mesh 7, elements 2 and 3 each have a mesh of
    /// their own (100 and 101), the same cube.
    fn mixed_scene() -> Scene {
        let mut scene = test_scene(4);
        for (placement, mesh_id) in [(2, 100), (3, 101)] {
            let cube = &scene.meshes[&7];
            let copy = Mesh {
                positions: cube.positions.clone(),
                normals: cube.normals.clone(),
                indices: cube.indices.clone(),
                min: cube.min,
                max: cube.max,
            };
            scene.meshes.insert(mesh_id, copy);
            scene.placements[placement].mesh = mesh_id;
        }
        scene
    }

    /// Room for everything; every repeated mesh instanced.
    const ROOMY: ChunkLimits = ChunkLimits {
        vertices: 1 << 20,
        indices: 1 << 20,
        bake_vertices: 0,
        bake_total: 0,
    };

    #[test]
    fn shared_meshes_are_instanced_and_single_use_meshes_baked_into_one_draw() {
        let scene = mixed_scene();
        let packed = pack_scene(&scene, ROOMY);
        assert_eq!(packed.chunks.len(), 1);
        let chunk = &packed.chunks[0];
        // The shared cube once (8 vertices) and two baked cubes, which are packed again for
        // the cell's shell (no more than a box each).
        assert_eq!(chunk.vertices.len(), 40);
        assert_eq!(chunk.draws.len(), 2, "{:?}", chunk.draws);
        let instanced = &chunk.draws[0];
        assert_eq!((instanced.first_instance, instanced.instance_count), (1, 2));
        assert_eq!(instanced.indices, 0..36);
        assert_eq!(instanced.edges, 0..24, "a cube has 12 feature edges");
        let baked = &chunk.draws[1];
        assert_eq!(
            (baked.first_instance, baked.instance_count),
            (IDENTITY_INSTANCE, 1)
        );
        assert_eq!(baked.indices, 36..108);
        assert_eq!(baked.edges, 24..72);
        // Instances: the identity, then elements 0 and 1 with their transforms.
        assert_eq!(packed.instances.len(), 3);
        assert_eq!(packed.instances[0].element, NO_ELEMENT);
        assert_eq!(
            [packed.instances[1].element, packed.instances[2].element],
            [0, 1]
        );
        assert_eq!(
            packed.instances[2].model[12], 3.0,
            "element 1 sits at x = 3"
        );
        // Baked vertices carry their element and sit in world space (element 3 at x = 9).
        assert!(chunk.vertices[..8].iter().all(|v| v.element == NO_ELEMENT));
        assert!(
            chunk.vertices[8..16]
                .iter()
                .all(|v| v.element == 2 && (5.5..=6.5).contains(&v.position[0]))
        );
        assert!(
            chunk.vertices[16..24]
                .iter()
                .all(|v| v.element == 3 && (8.5..=9.5).contains(&v.position[0]))
        );
        assert_eq!((packed.stats.triangles, packed.stats.edges), (48, 48));
    }

    #[test]
    fn a_chunk_that_would_pass_its_limits_starts_a_new_one() {
        let scene = mixed_scene();
        let packed = pack_scene(
            &scene,
            ChunkLimits {
                vertices: 8,
                ..ROOMY
            },
        );
        assert_eq!(packed.chunks.len(), 3, "one cube of 8 vertices per chunk");
        for chunk in &packed.chunks {
            assert_eq!(chunk.vertices.len(), 8);
            assert!(
                chunk.indices.iter().chain(&chunk.edges).all(|&i| i < 8),
                "indices are absolute within their chunk"
            );
        }
        assert_eq!(packed.stats.triangles, 48);
    }

    #[test]
    fn small_repeated_meshes_are_baked_and_large_or_many_ones_instanced() {
        let limits = ChunkLimits::for_buffer_size(1 << 30);
        assert!(!limits.instanced(8, 1), "a single use is never instanced");
        assert!(!limits.instanced(8, 2), "two small cubes are baked");
        assert!(
            limits.instanced(BAKE_REPEATED_VERTICES + 1, 2),
            "a large repeated mesh is instanced"
        );
        assert!(
            limits.instanced(1000, 300),
            "300 copies of 1,000 vertices pass the total"
        );
        // The default limits bake the test scene's shared cube: one draw for all four cubes.
        let packed = pack_scene(&mixed_scene(), limits);
        let chunk = &packed.chunks[0];
        assert_eq!(packed.instances.len(), 1, "only the identity instance");
        assert_eq!(
            chunk.vertices.len(),
            64,
            "four cubes, and again for the shell"
        );
        assert_eq!(chunk.draws.len(), 1, "{:?}", chunk.draws);
        assert_eq!(
            (chunk.draws[0].indices.clone(), chunk.draws[0].edges.clone()),
            (0..144, 0..96)
        );
        assert_eq!(
            chunk.baked.iter().map(|b| b.element).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!((packed.stats.triangles, packed.stats.edges), (48, 48));
    }

    /// A mesh of 24 triangles in the unit cube (the cube's triangles twice): more than a box.
    fn detailed_cube(scene: &Scene) -> Mesh {
        let cube = &scene.meshes[&7];
        Mesh {
            positions: cube.positions.clone(),
            normals: cube.normals.clone(),
            indices: cube.indices.iter().chain(&cube.indices).copied().collect(),
            min: cube.min,
            max: cube.max,
        }
    }

    /// Element 0: a detailed small mesh at x = 0; element 1: a 10 m box at x = 3 (large);
    /// element 2: the plain cube at x = 200, another cell.
    fn cells_scene() -> Scene {
        let mut scene = test_scene(3);
        let detailed = detailed_cube(&scene);
        let cube = &scene.meshes[&7];
        let large = Mesh {
            positions: cube.positions.iter().map(|p| *p * 10.0).collect(),
            normals: cube.normals.clone(),
            indices: cube.indices.clone(),
            min: cube.min * 10.0,
            max: cube.max * 10.0,
        };
        scene.meshes.insert(200, detailed);
        scene.meshes.insert(201, large);
        scene.placements[0].mesh = 200;
        scene.placements[1].mesh = 201;
        scene.placements[2].transform = Mat4::from_translation(Vec3::new(200.0, 0.0, 0.0));
        scene
    }

    #[test]
    fn baked_placements_are_drawn_per_cell_with_boxes_for_small_detailed_elements_when_far() {
        let packed = pack_scene(&cells_scene(), ROOMY);
        let chunk = &packed.chunks[0];
        assert_eq!(chunk.draws.len(), 2, "one draw per cell: {:?}", chunk.draws);
        let first = &chunk.draws[0];
        let cell = first.cell.as_ref().expect("a cell");
        // Near: the detailed mesh (24 triangles) then the large box (12); far: the large
        // box, then the detailed mesh's box (12 triangles).
        assert_eq!(first.indices, 0..108);
        assert_eq!(cell.far_indices, 72..144);
        // Edges likewise: the large box's 12 edges are in both, the small box's 12 only far.
        assert_eq!(first.edges.end - cell.far_edges.start, 24);
        assert_eq!(cell.far_edges.end - first.edges.end, 24);
        // The cell's bounds hold both placements: the large box reaches x = 3 ± 5, z 0..10.
        assert_eq!(
            (cell.min, cell.max),
            (Vec3::new(-2.0, -5.0, 0.0), Vec3::new(8.0, 5.0, 10.0))
        );
        // The box's vertices (after the two meshes' 8 each) carry the detailed element, at its
        // place.
        assert!(
            chunk.vertices[16..40]
                .iter()
                .all(|v| v.element == 0 && (-0.5..=0.5).contains(&v.position[0]))
        );
        // Only the full geometry counts as the scene's triangles; the translucent pass finds
        // every placement's full range.
        assert_eq!(packed.stats.triangles, 24 + 12 + 12);
        assert_eq!(
            chunk
                .baked
                .iter()
                .map(|b| (b.element, b.indices.clone()))
                .collect::<Vec<_>>(),
            [(0, 0..72), (1, 72..108), (2, 180..216)]
        );
        let second = chunk.draws[1].cell.as_ref().expect("a cell");
        assert_eq!(second.far_indices, 180..216, "nothing small: far is near");
        // The shell: the large box is no more than a box, so itself (packed again after the
        // small box); the small detailed mesh is left out.
        assert_eq!(cell.shell_indices, 144..180);
        assert_eq!(
            chunk.vertices[40..48]
                .iter()
                .map(|v| v.element)
                .collect::<Vec<_>>(),
            [1; 8]
        );
        assert_eq!(chunk.draws[1].indices, 180..216);
        assert_eq!(second.shell_indices, 216..252);
    }

    #[test]
    fn an_instanced_small_mesh_has_its_box_for_far_groups_and_one_draw_per_group() {
        // Elements 0 and 1 share the detailed cube (24 triangles) at x = 0 and 3; element 2
        // shares it at x = 400, in another group.
        let mut scene = test_scene(3);
        let detailed = detailed_cube(&scene);
        scene.meshes.insert(7, detailed);
        scene.placements[2].transform = Mat4::from_translation(Vec3::new(400.0, 0.0, 0.0));
        let packed = pack_scene(&scene, ROOMY);
        let chunk = &packed.chunks[0];
        assert_eq!(chunk.draws.len(), 2, "{:?}", chunk.draws);
        assert_eq!(chunk.vertices.len(), 8 + 24, "the mesh once, its box once");
        for (draw, count) in chunk.draws.iter().zip([2, 1]) {
            assert_eq!(draw.instance_count, count);
            assert_eq!(draw.indices, 0..72);
            let cell = draw.cell.as_ref().expect("bounds");
            // Far: its box; in the shell it is left out.
            assert_eq!(
                (cell.far_indices.clone(), cell.shell_indices.clone()),
                (72..108, 0..0)
            );
        }
        assert_eq!(packed.stats.triangles, 3 * 24);
    }

    #[test]
    fn small_elements_and_bars_are_boxed_when_far_and_walls_and_plain_boxes_never() {
        // A window 1.5 × 0.2 × 1.5 m of 60 triangles; a pipe 30 m along x, 0.3 m across; the
        // same pipe running diagonally (its bounds 21 × 21 m: not a bar); a wall 12 × 0.3 ×
        // 3 m; a box of 12 triangles.
        assert!(coarse_as_box(60, Vec3::new(1.5, 0.2, 1.5)));
        assert!(coarse_as_box(256, Vec3::new(30.0, 0.3, 0.3)));
        assert!(!coarse_as_box(256, Vec3::new(21.2, 21.2, 0.3)));
        assert!(!coarse_as_box(40, Vec3::new(12.0, 0.3, 3.0)));
        assert!(!coarse_as_box(12, Vec3::new(1.0, 1.0, 1.0)));
    }

    #[test]
    fn cells_behind_the_camera_are_culled_and_far_ones_drawn_coarse() {
        // The eye 10 m south of the origin, looking north, 45° vertical field, 800 px high:
        // a focal length of 400 / tan 22.5° = 965.7 px, so 0.25 m of error covers a pixel at
        // 241 m.
        let eye = Vec3::new(0.0, -10.0, 1.0);
        let view_proj = Mat4::perspective_rh(45f32.to_radians(), 1.6, 0.5, 5000.0)
            * Mat4::look_at_rh(eye, Vec3::new(0.0, 0.0, 1.0), Vec3::Z);
        let view = ViewCull::new(view_proj, eye, 45f32.to_radians(), 800.0);
        assert!((view.focal_px - 965.69).abs() < 0.01, "{}", view.focal_px);
        let draw = |min: Vec3, max: Vec3| Draw {
            indices: 0..90,
            edges: 0..40,
            first_instance: IDENTITY_INSTANCE,
            instance_count: 1,
            cell: Some(Cell {
                min,
                max,
                far_indices: 60..120,
                far_edges: 20..50,
                shell_indices: 100..130,
                shell_edges: 40..60,
            }),
        };
        let ahead = |y: f32| draw(Vec3::new(-5.0, y, 0.0), Vec3::new(5.0, y + 10.0, 10.0));
        // 5 m ahead: near; 240 m: still near; 242 m: far; behind the eye: culled.
        assert_eq!(visible_range(&ahead(-5.0), false, Some(&view)), Some(0..90));
        assert_eq!(
            visible_range(&ahead(230.0), false, Some(&view)),
            Some(0..90)
        );
        assert_eq!(
            visible_range(&ahead(232.0), false, Some(&view)),
            Some(60..120)
        );
        assert_eq!(
            visible_range(&ahead(232.0), true, Some(&view)),
            Some(20..50)
        );
        // 1.5 m of error covers two pixels at 724.3 m: beyond it, the shell of boxes.
        assert_eq!(
            visible_range(&ahead(710.0), false, Some(&view)),
            Some(60..120)
        );
        assert_eq!(
            visible_range(&ahead(720.0), false, Some(&view)),
            Some(100..130)
        );
        assert_eq!(
            visible_range(&ahead(720.0), true, Some(&view)),
            Some(40..60)
        );
        assert_eq!(visible_range(&ahead(-40.0), false, Some(&view)), None);
        // Far off to the side: outside the left or right plane.
        assert_eq!(
            visible_range(
                &draw(Vec3::new(500.0, 0.0, 0.0), Vec3::new(510.0, 10.0, 10.0)),
                false,
                Some(&view)
            ),
            None
        );
        // The shadow pass (no view) draws everything in full.
        assert_eq!(visible_range(&ahead(-40.0), false, None), Some(0..90));
        // Instanced draws have no cell and are always drawn.
        let instanced = Draw {
            cell: None,
            ..ahead(-40.0)
        };
        assert_eq!(visible_range(&instanced, false, Some(&view)), Some(0..90));
    }

    /// Texels with element `i` at alpha `alphas[i]`.
    fn texels(alphas: &[u8]) -> Vec<u8> {
        alphas.iter().flat_map(|&a| [10, 20, 30, a]).collect()
    }

    #[test]
    fn the_translucent_pass_draws_only_translucent_elements() {
        let scene = mixed_scene();
        let packed = pack_scene(&scene, ROOMY);
        let chunks = || {
            packed
                .chunks
                .iter()
                .map(|c| (c.draws.as_slice(), c.baked.as_slice()))
        };
        // Nothing translucent (solid and hidden): no draws at all.
        let (draws, instances) =
            translucent_draws(chunks(), &packed.instances, &texels(&[255, 0, 255, 0]));
        assert!(draws.is_empty() && instances.is_empty());
        // Element 1 (shared mesh) and element 3 (baked) are ghosts.
        let (draws, instances) =
            translucent_draws(chunks(), &packed.instances, &texels(&[255, 128, 255, 128]));
        assert_eq!(
            draws,
            vec![
                TranslucentDraw {
                    chunk: 0,
                    indices: 0..36,
                    instances: Some(0..1)
                },
                TranslucentDraw {
                    chunk: 0,
                    indices: 72..108,
                    instances: None
                },
            ]
        );
        assert_eq!(instances.len(), 1);
        assert_eq!(instances[0].element, 1);
        // Adjacent baked ghosts share one draw; both shared placements one instanced draw.
        let (draws, instances) =
            translucent_draws(chunks(), &packed.instances, &texels(&[128, 128, 128, 128]));
        assert_eq!(
            draws,
            vec![
                TranslucentDraw {
                    chunk: 0,
                    indices: 0..36,
                    instances: Some(0..2)
                },
                TranslucentDraw {
                    chunk: 0,
                    indices: 36..108,
                    instances: None
                },
            ]
        );
        assert_eq!(
            instances.iter().map(|i| i.element).collect::<Vec<_>>(),
            [0, 1]
        );
    }

    #[test]
    fn the_sun_box_holds_the_whole_scene_and_the_sun_decides_the_lighting() {
        let (min, max) = (Vec3::new(-50.0, -20.0, 0.0), Vec3::new(70.0, 40.0, 35.0));
        for sun in [
            Vec3::new(0.6, -0.3, 0.74),
            Vec3::new(-0.9, 0.1, 0.2),
            Vec3::Z,
        ] {
            let m = sun_view_projection(sun.normalize(), min, max);
            for i in 0..8 {
                let corner = Vec3::new(
                    if i & 1 == 0 { min.x } else { max.x },
                    if i & 2 == 0 { min.y } else { max.y },
                    if i & 4 == 0 { min.z } else { max.z },
                );
                let p = m.project_point3(corner);
                assert!(
                    p.x.abs() <= 1.0 && p.y.abs() <= 1.0,
                    "{sun} {corner} -> {p}"
                );
                assert!((0.0..=1.0).contains(&p.z), "{sun} {corner} -> {p}");
            }
            // Nearer the sun is nearer in depth: the top of a tower hides its foot.
            let foot = m.project_point3(Vec3::new(10.0, 10.0, 0.0));
            let top = m.project_point3(Vec3::new(10.0, 10.0, 30.0));
            assert!(top.z < foot.z, "{sun}: top {top} foot {foot}");
        }
        assert_eq!(Lighting::of(None), Lighting::Studio);
        assert_eq!(Lighting::of(Some([0.0, 0.0, 0.0])), Lighting::Studio);
        assert_eq!(Lighting::of(Some([0.0, 0.9, -0.1])), Lighting::Night);
        assert_eq!(Lighting::of(Some([0.0, 0.0, 2.0])), Lighting::Sun(Vec3::Z));
    }
}
