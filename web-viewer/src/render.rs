//! The wgpu renderer: device and surface set-up, scene geometry on the GPU, and drawing.
//!
//! Geometry is packed into a few large vertex/index buffer pairs ("chunks"). A mesh used by
//! two or more placements is stored once in its own frame and drawn instanced, one draw per
//! mesh, with a slice of the shared instance buffer (transform + element id). Meshes used
//! once are baked into world space with the element id on every vertex and drawn together,
//! one draw per run of such meshes, with a single identity instance. Indices are absolute
//! within a chunk, so no draw needs a base vertex or a first instance (WebGL2 has neither).
//! Element colours live in a small RGBA8 texture read by the vertex shader, so a live state
//! change is one texture upload, whatever the geometry.

use glam::{Mat4, Vec3};
use wgpu::util::DeviceExt;

use crate::camera::OrbitCamera;
use crate::error::ViewerError;
use crate::scene::Scene;

/// The canvas background, sRGB bytes (a dark slate that no lifecycle colour is close to).
pub(crate) const BACKGROUND_RGB: [u8; 3] = [34, 40, 52];
/// Opacity of planned elements.
const GHOST_OPACITY: f32 = 0.35;
/// Width of the element colour texture, texels (the WebGL2 minimum 2D size).
const COLOUR_TEXTURE_WIDTH: u32 = 2048;
/// Marks a vertex or instance that does not name the element itself.
const NO_ELEMENT: u32 = u32::MAX;
/// Depth buffer format (available on WebGPU and WebGL2).
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth24Plus;

/// Which browser API wgpu drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// `navigator.gpu`.
    WebGpu,
    /// WebGL2 (through ANGLE in Chromium).
    WebGl2,
}

impl Backend {
    /// The hook value: `"webgpu"` or `"webgl2"`.
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
}

/// One draw: an index range of a chunk with a slice of the instance buffer.
#[derive(Debug, Clone)]
struct Draw {
    indices: std::ops::Range<u32>,
    first_instance: u32,
    instance_count: u32,
}

/// A chunk being filled on the CPU.
#[derive(Debug, Default)]
struct ChunkBuilder {
    vertices: Vec<Vertex>,
    indices: Vec<u32>,
    draws: Vec<Draw>,
}

/// A vertex/index buffer pair and the draws that use it.
#[derive(Debug)]
struct GpuChunk {
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    draws: Vec<Draw>,
}

/// The scene's geometry on the GPU.
#[derive(Debug)]
struct SceneGeometry {
    chunks: Vec<GpuChunk>,
    instances: wgpu::Buffer,
    colours: wgpu::Texture,
    bind_group: wgpu::BindGroup,
    colour_rows: u32,
    has_ghosts: bool,
}

/// Owns the GPU: surface, device, pipelines and the uploaded scene.
#[derive(Debug)]
pub(crate) struct Renderer {
    surface: wgpu::Surface<'static>,
    device: wgpu::Device,
    queue: wgpu::Queue,
    config: wgpu::SurfaceConfiguration,
    /// The backend in use.
    pub backend: Backend,
    depth: wgpu::TextureView,
    solid_pipeline: wgpu::RenderPipeline,
    ghost_pipeline: wgpu::RenderPipeline,
    bind_group_layout: wgpu::BindGroupLayout,
    uniforms: wgpu::Buffer,
    geometry: Option<SceneGeometry>,
    max_buffer_size: u64,
}

impl Renderer {
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
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await?;

        // Rgba8Unorm exists on both backends; the shader writes sRGB-encoded values into it.
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
        let depth = create_depth(&device, width, height);

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
                        min_binding_size: wgpu::BufferSize::new(std::mem::size_of::<Uniforms>() as u64),
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
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("scene pipeline layout"),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });
        let solid_pipeline = create_pipeline(&device, &layout, &shader, format, PassKind::Solid);
        let ghost_pipeline = create_pipeline(&device, &layout, &shader, format, PassKind::Ghost);
        let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("scene uniforms"),
            size: std::mem::size_of::<Uniforms>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Self {
            surface,
            device,
            queue,
            config,
            backend,
            depth,
            solid_pipeline,
            ghost_pipeline,
            bind_group_layout,
            uniforms,
            geometry: None,
            max_buffer_size: limits.max_buffer_size,
        })
    }

    /// Largest 2D texture side, which bounds the canvas size in device pixels.
    pub fn max_surface_side(&self) -> u32 {
        self.device.limits().max_texture_dimension_2d
    }

    /// Resizes the surface and depth buffer to `width` × `height` device pixels if needed.
    pub fn resize(&mut self, width: u32, height: u32) {
        let (width, height) = (width.max(1), height.max(1));
        if width == self.config.width && height == self.config.height {
            return;
        }
        self.config.width = width;
        self.config.height = height;
        self.surface.configure(&self.device, &self.config);
        self.depth = create_depth(&self.device, width, height);
    }

    /// Drops the uploaded scene (a new one is coming).
    pub fn clear_scene(&mut self) {
        self.geometry = None;
    }

    /// Uploads the geometry of a complete scene.
    pub fn upload_scene(&mut self, scene: &mut Scene) {
        let mut uses = std::collections::HashMap::<u32, u32>::new();
        for placement in &scene.placements {
            *uses.entry(placement.mesh).or_default() += 1;
        }
        let max_vertices = (self.max_buffer_size / std::mem::size_of::<Vertex>() as u64).min(1 << 22) as usize;
        let max_indices = (self.max_buffer_size / 4).min(3 << 22) as usize;
        let mut chunks: Vec<ChunkBuilder> = vec![ChunkBuilder::default()];
        let mut instances: Vec<Instance> = Vec::with_capacity(scene.placements.len() + 1);
        let identity = 0u32;
        instances.push(Instance { model: Mat4::IDENTITY.to_cols_array(), element: NO_ELEMENT });

        // Shared meshes: once in their own frame, drawn instanced.
        let mut shared: Vec<(u32, Vec<usize>)> = Vec::new();
        let mut slot_of = std::collections::HashMap::<u32, usize>::new();
        for (index, placement) in scene.placements.iter().enumerate() {
            if uses.get(&placement.mesh).copied().unwrap_or(0) >= 2 {
                let slot = *slot_of.entry(placement.mesh).or_insert_with(|| {
                    shared.push((placement.mesh, Vec::new()));
                    shared.len() - 1
                });
                shared[slot].1.push(index);
            }
        }
        for (mesh_id, placement_indices) in &shared {
            let Some(mesh) = scene.meshes.get(mesh_id) else { continue };
            let chunk = current_chunk(&mut chunks, mesh.positions.len(), mesh.indices.len(), max_vertices, max_indices);
            let base = chunk.vertices.len() as u32;
            chunk.vertices.extend(mesh.positions.iter().zip(&mesh.normals).map(|(p, n)| Vertex {
                position: p.to_array(),
                normal: n.to_array(),
                element: NO_ELEMENT,
            }));
            let start = chunk.indices.len() as u32;
            chunk.indices.extend(mesh.indices.iter().map(|i| i + base));
            let first_instance = instances.len() as u32;
            instances.extend(placement_indices.iter().map(|&i| {
                let p = &scene.placements[i];
                Instance { model: p.transform.to_cols_array(), element: p.element }
            }));
            chunk.draws.push(Draw {
                indices: start..chunk.indices.len() as u32,
                first_instance,
                instance_count: placement_indices.len() as u32,
            });
        }

        // Single-use meshes: baked into world space, the element id on each vertex.
        for placement in &scene.placements {
            if uses.get(&placement.mesh).copied().unwrap_or(0) >= 2 {
                continue;
            }
            let Some(mesh) = scene.meshes.get(&placement.mesh) else { continue };
            let chunk = current_chunk(&mut chunks, mesh.positions.len(), mesh.indices.len(), max_vertices, max_indices);
            let base = chunk.vertices.len() as u32;
            let normal_matrix = glam::Mat3::from_mat4(placement.transform).inverse().transpose();
            chunk.vertices.extend(mesh.positions.iter().zip(&mesh.normals).map(|(p, n)| Vertex {
                position: placement.transform.transform_point3(*p).to_array(),
                normal: (normal_matrix * *n).normalize_or(Vec3::Z).to_array(),
                element: placement.element,
            }));
            let start = chunk.indices.len() as u32;
            chunk.indices.extend(mesh.indices.iter().map(|i| i + base));
            let end = chunk.indices.len() as u32;
            match chunk.draws.last_mut() {
                Some(last) if last.first_instance == identity && last.indices.end == start => last.indices.end = end,
                _ => chunk.draws.push(Draw { indices: start..end, first_instance: identity, instance_count: 1 }),
            }
        }

        let gpu_chunks = chunks
            .into_iter()
            .filter(|c| !c.indices.is_empty())
            .enumerate()
            .map(|(n, c)| GpuChunk {
                vertices: self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(&format!("scene vertices, chunk {n}")),
                    contents: bytemuck::cast_slice(&c.vertices),
                    usage: wgpu::BufferUsages::VERTEX,
                }),
                indices: self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(&format!("scene indices, chunk {n}")),
                    contents: bytemuck::cast_slice(&c.indices),
                    usage: wgpu::BufferUsages::INDEX,
                }),
                draws: c.draws,
            })
            .collect();
        let instances = self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("scene instances"),
            contents: bytemuck::cast_slice(&instances),
            usage: wgpu::BufferUsages::VERTEX,
        });

        let rows = (scene.elements.len() as u32).div_ceil(COLOUR_TEXTURE_WIDTH).max(1);
        let colours = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("element colours"),
            size: wgpu::Extent3d { width: COLOUR_TEXTURE_WIDTH, height: rows, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let colour_view = colours.create_view(&wgpu::TextureViewDescriptor {
            label: Some("element colours view"),
            ..Default::default()
        });
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("scene bind group"),
            layout: &self.bind_group_layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: self.uniforms.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(&colour_view) },
            ],
        });
        self.geometry = Some(SceneGeometry {
            chunks: gpu_chunks,
            instances,
            colours,
            bind_group,
            colour_rows: rows,
            has_ghosts: false,
        });
        scene.colours_dirty = true;
        self.upload_colours(scene);
    }

    /// Uploads element colours if they changed since the last upload.
    pub fn upload_colours(&mut self, scene: &mut Scene) {
        let Some(geometry) = self.geometry.as_mut() else { return };
        if !scene.colours_dirty {
            return;
        }
        scene.colours_dirty = false;
        let rows = geometry.colour_rows;
        let mut texels = vec![0u8; (COLOUR_TEXTURE_WIDTH * rows * 4) as usize];
        for id in 0..scene.elements.len() {
            texels[id * 4..id * 4 + 4].copy_from_slice(&scene.texel(id));
        }
        geometry.has_ghosts = scene.states.contains(&renewtwin_protocol::LifecycleState::Planned);
        self.queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &geometry.colours,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            &texels,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(COLOUR_TEXTURE_WIDTH * 4),
                rows_per_image: Some(rows),
            },
            wgpu::Extent3d { width: COLOUR_TEXTURE_WIDTH, height: rows, depth_or_array_layers: 1 },
        );
    }

    /// Draws one frame for a viewport of `aspect` (CSS width / height); returns whether it was
    /// presented.
    pub fn render(&mut self, camera: &OrbitCamera, aspect: f32) -> bool {
        let frame = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(frame) | wgpu::CurrentSurfaceTexture::Suboptimal(frame) => frame,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                self.surface.configure(&self.device, &self.config);
                return false;
            }
            _ => return false,
        };
        let view = frame.texture.create_view(&wgpu::TextureViewDescriptor {
            label: Some("frame view"),
            ..Default::default()
        });
        let srgb_target = self.config.format.is_srgb();
        let light = Vec3::new(0.45, -0.35, 0.82).normalize();
        let uniforms = Uniforms {
            view_proj: camera.view_projection(aspect).to_cols_array(),
            light_dir: light.extend(0.0).to_array(),
            eye: camera.eye().extend(1.0).to_array(),
            params: [COLOUR_TEXTURE_WIDTH as f32, if srgb_target { 1.0 } else { 0.0 }, GHOST_OPACITY, 0.0],
        };
        self.queue.write_buffer(&self.uniforms, 0, bytemuck::bytes_of(&uniforms));
        let clear = BACKGROUND_RGB.map(|c| {
            let c = f64::from(c) / 255.0;
            if srgb_target { srgb_to_linear(c) } else { c }
        });

        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("frame encoder"),
        });
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("scene pass"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color { r: clear[0], g: clear[1], b: clear[2], a: 1.0 }),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &self.depth,
                    depth_ops: Some(wgpu::Operations { load: wgpu::LoadOp::Clear(1.0), store: wgpu::StoreOp::Store }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            if let Some(geometry) = &self.geometry {
                pass.set_bind_group(0, &geometry.bind_group, &[]);
                let passes: &[&wgpu::RenderPipeline] = if geometry.has_ghosts {
                    &[&self.solid_pipeline, &self.ghost_pipeline]
                } else {
                    &[&self.solid_pipeline]
                };
                let instance_size = std::mem::size_of::<Instance>() as u64;
                for pipeline in passes {
                    pass.set_pipeline(pipeline);
                    for chunk in &geometry.chunks {
                        pass.set_vertex_buffer(0, chunk.vertices.slice(..));
                        pass.set_index_buffer(chunk.indices.slice(..), wgpu::IndexFormat::Uint32);
                        for draw in &chunk.draws {
                            let offset = u64::from(draw.first_instance) * instance_size;
                            let end = offset + u64::from(draw.instance_count) * instance_size;
                            pass.set_vertex_buffer(1, geometry.instances.slice(offset..end));
                            pass.draw_indexed(draw.indices.clone(), 0, 0..draw.instance_count);
                        }
                    }
                }
            }
        }
        self.queue.submit([encoder.finish()]);
        self.queue.present(frame);
        true
    }
}

/// Returns the chunk to append a mesh of `vertices`/`indices` to, starting a new one when the
/// current one would pass the buffer limits.
fn current_chunk(
    chunks: &mut Vec<ChunkBuilder>,
    vertices: usize,
    indices: usize,
    max_vertices: usize,
    max_indices: usize,
) -> &mut ChunkBuilder {
    let full = chunks.last().is_none_or(|c| {
        !c.vertices.is_empty()
            && (c.vertices.len() + vertices > max_vertices || c.indices.len() + indices > max_indices)
    });
    if full {
        chunks.push(ChunkBuilder::default());
    }
    let last = chunks.len() - 1;
    &mut chunks[last]
}

/// Which of the two passes a pipeline draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassKind {
    /// Opaque elements, depth-written.
    Solid,
    /// Planned ghosts, blended over the solid pass without writing depth.
    Ghost,
}

fn create_pipeline(
    device: &wgpu::Device,
    layout: &wgpu::PipelineLayout,
    shader: &wgpu::ShaderModule,
    format: wgpu::TextureFormat,
    kind: PassKind,
) -> wgpu::RenderPipeline {
    let vertex_attributes = wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Uint32];
    let instance_attributes = wgpu::vertex_attr_array![
        3 => Float32x4, 4 => Float32x4, 5 => Float32x4, 6 => Float32x4, 7 => Uint32
    ];
    let (label, entry, blend, depth_write) = match kind {
        PassKind::Solid => ("solid pipeline", "vs_solid", None, true),
        PassKind::Ghost => ("ghost pipeline", "vs_ghost", Some(wgpu::BlendState::ALPHA_BLENDING), false),
    };
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module: shader,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            buffers: &[
                Some(wgpu::VertexBufferLayout {
                    array_stride: std::mem::size_of::<Vertex>() as u64,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &vertex_attributes,
                }),
                Some(wgpu::VertexBufferLayout {
                    array_stride: std::mem::size_of::<Instance>() as u64,
                    step_mode: wgpu::VertexStepMode::Instance,
                    attributes: &instance_attributes,
                }),
            ],
        },
        primitive: wgpu::PrimitiveState {
            topology: wgpu::PrimitiveTopology::TriangleList,
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
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some("fs_main"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            targets: &[Some(wgpu::ColorTargetState { format, blend, write_mask: wgpu::ColorWrites::ALL })],
        }),
        multiview_mask: None,
        cache: None,
    })
}

fn create_depth(device: &wgpu::Device, width: u32, height: u32) -> wgpu::TextureView {
    device
        .create_texture(&wgpu::TextureDescriptor {
            label: Some("depth buffer"),
            size: wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: DEPTH_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            view_formats: &[],
        })
        .create_view(&wgpu::TextureViewDescriptor { label: Some("depth view"), ..Default::default() })
}

fn srgb_to_linear(c: f64) -> f64 {
    if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
}
