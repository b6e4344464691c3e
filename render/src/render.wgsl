// Element shading for the renewtwin viewer.
//
// Every element's colour lives in one RGBA8 texel of `colours` (alpha: 1 solid, ~0.5 ghost,
// 0 hidden). Instanced meshes take the element id from the instance; merged world-space meshes
// carry it per vertex (the instance then says NO_ELEMENT and holds the identity transform).
// Lighting scales the sRGB colour by a factor in 0.45..=1.0, so hue is kept.
//
// Three passes share the vertex layout: solid triangles (depth-written), translucent triangles
// (planned ghosts, and every standing element in X-ray mode), and feature edges (line list).
// The selected element is tinted and stays solid in X-ray mode. A section plane discards the
// fragments on its positive side (the `_sectioned` fragment stages, used only while one is set).
//
// With a sun direction a depth-only shadow pass (`vs_shadow`) first renders the solid elements
// from the sun into a shadow map, which `fs_main` samples with 3×3 PCF; with the sun below the
// horizon the scene is lit by ambient light only.

struct Uniforms {
    view_proj: mat4x4<f32>,
    // xyz: unit vector towards the light.
    light_dir: vec4<f32>,
    // xyz: eye position.
    eye: vec4<f32>,
    // x: width of the colour texture, y: 1 when the target re-encodes to sRGB,
    // z: ghost opacity, w: 1 in X-ray mode.
    params: vec4<f32>,
    // xyz: section plane normal (zero: no section), w: plane offset. Fragments with
    // dot(normal, world) > offset are cut away.
    section: vec4<f32>,
    // x: selected element id (NO_ELEMENT: none); y: 1 to draw edges.
    selection: vec4<u32>,
    // World → the sun's shadow-map clip space (orthographic, fitted to the scene bounds).
    light_view_proj: mat4x4<f32>,
    // x: 1 when the shadow map is sampled, y: 1 at night (sun below the horizon: ambient
    // light only), z: one shadow-map texel in uv units, w: normal offset in world units.
    shadow: vec4<f32>,
};

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var colours: texture_2d<f32>;
// The sun's shadow map (group 1: only the main passes bind it, never the depth pass that
// writes it). A depth texture with a comparison sampler works on WebGPU and on WebGL2.
@group(1) @binding(0) var shadow_map: texture_depth_2d;
@group(1) @binding(1) var shadow_sampler: sampler_comparison;

const NO_ELEMENT: u32 = 0xffffffffu;
const XRAY_OPACITY: f32 = 0.14;
const HIGHLIGHT: vec3<f32> = vec3<f32>(0.15, 0.85, 1.0);

struct VertexIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) vertex_element: u32,
    @location(3) model_0: vec4<f32>,
    @location(4) model_1: vec4<f32>,
    @location(5) model_2: vec4<f32>,
    @location(6) model_3: vec4<f32>,
    @location(7) instance_element: u32,
};

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) colour: vec4<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) world: vec3<f32>,
};

// Pass kinds.
const SOLID: u32 = 0u;
const TRANSLUCENT: u32 = 1u;
const EDGE: u32 = 2u;

fn dropped() -> VertexOut {
    // Outside the clip volume: the primitive is dropped.
    var out: VertexOut;
    out.clip = vec4<f32>(2.0, 2.0, 2.0, 1.0);
    out.colour = vec4<f32>(0.0);
    out.normal = vec3<f32>(0.0, 0.0, 1.0);
    out.world = vec3<f32>(0.0);
    return out;
}

fn shade_vertex(v: VertexIn, pass_kind: u32) -> VertexOut {
    var element = v.instance_element;
    if (v.vertex_element != NO_ELEMENT) {
        element = v.vertex_element;
    }
    let width = u32(u.params.x);
    let texel = textureLoad(colours, vec2<i32>(i32(element % width), i32(element / width)), 0);
    let solid = texel.a > 0.75;
    let ghost = texel.a > 0.25 && texel.a <= 0.75;
    let xray = u.params.w > 0.5;
    let selected = element == u.selection.x;
    var draw = false;
    var alpha = 1.0;
    if (pass_kind == SOLID) {
        draw = solid && (!xray || selected);
    } else if (pass_kind == TRANSLUCENT) {
        if (ghost && !selected) {
            draw = true;
            alpha = u.params.z;
        } else if (xray && solid && !selected) {
            draw = true;
            alpha = XRAY_OPACITY;
        }
    } else {
        draw = u.selection.y == 1u && (solid || (xray && ghost));
        alpha = 0.6;
    }
    if (!draw) {
        return dropped();
    }
    let model = mat4x4<f32>(v.model_0, v.model_1, v.model_2, v.model_3);
    let world = model * vec4<f32>(v.position, 1.0);
    var out: VertexOut;
    out.clip = u.view_proj * world;
    out.world = world.xyz;
    out.normal = (model * vec4<f32>(v.normal, 0.0)).xyz;
    var rgb = texel.rgb;
    if (selected) {
        rgb = mix(rgb, HIGHLIGHT, 0.6);
    }
    if (pass_kind == EDGE) {
        // Pulled slightly towards the eye so edges win over the faces they bound.
        out.clip.z = out.clip.z - 0.0004 * out.clip.w;
        if (xray) {
            rgb = texel.rgb * 0.8;
        } else {
            rgb = texel.rgb * 0.28;
        }
        if (selected) {
            rgb = HIGHLIGHT;
            alpha = 1.0;
        }
    }
    out.colour = vec4<f32>(rgb, alpha);
    return out;
}

// The shadow pass: the solid elements (in X-ray mode too) seen from the sun, depth only.
@vertex
fn vs_shadow(v: VertexIn) -> @builtin(position) vec4<f32> {
    var element = v.instance_element;
    if (v.vertex_element != NO_ELEMENT) {
        element = v.vertex_element;
    }
    let width = u32(u.params.x);
    let texel = textureLoad(colours, vec2<i32>(i32(element % width), i32(element / width)), 0);
    if (texel.a <= 0.75) {
        return vec4<f32>(2.0, 2.0, 2.0, 1.0);
    }
    let model = mat4x4<f32>(v.model_0, v.model_1, v.model_2, v.model_3);
    return u.light_view_proj * (model * vec4<f32>(v.position, 1.0));
}

@vertex
fn vs_solid(v: VertexIn) -> VertexOut {
    return shade_vertex(v, SOLID);
}

@vertex
fn vs_translucent(v: VertexIn) -> VertexOut {
    return shade_vertex(v, TRANSLUCENT);
}

@vertex
fn vs_edge(v: VertexIn) -> VertexOut {
    return shade_vertex(v, EDGE);
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

fn cut_away(world: vec3<f32>) -> bool {
    return dot(u.section.xyz, u.section.xyz) > 0.5 && dot(u.section.xyz, world) > u.section.w;
}

fn encode(rgb: vec3<f32>) -> vec3<f32> {
    if (u.params.y > 0.5) {
        return srgb_to_linear(rgb);
    }
    return rgb;
}

const NIGHT_AMBIENT: f32 = 0.3;

// The fraction of the sun that reaches `world` (normal `n`): 3×3 percentage-closer filtering of
// the shadow map, 1 when shadows are off or the point is outside the map.
fn sunlit(world: vec3<f32>, n: vec3<f32>) -> f32 {
    if (u.shadow.x < 0.5) {
        return 1.0;
    }
    // Offset along the normal against self-shadowing acne.
    let clip = u.light_view_proj * vec4<f32>(world + n * u.shadow.w, 1.0);
    let ndc = clip.xyz / clip.w;
    let uv = vec2<f32>(ndc.x * 0.5 + 0.5, 0.5 - ndc.y * 0.5);
    if (uv.x < 0.0 || uv.x > 1.0 || uv.y < 0.0 || uv.y > 1.0 || ndc.z > 1.0) {
        return 1.0;
    }
    var lit = 0.0;
    for (var dy = -1; dy <= 1; dy = dy + 1) {
        for (var dx = -1; dx <= 1; dx = dx + 1) {
            let offset = vec2<f32>(f32(dx), f32(dy)) * u.shadow.z;
            // The Level variant: no implicit derivatives, so no uniform control flow needed.
            lit = lit + textureSampleCompareLevel(shadow_map, shadow_sampler, uv + offset, ndc.z);
        }
    }
    return lit / 9.0;
}

// The fragment stages come in two kinds: plain ones, and "sectioned" ones that first cut away
// the fragments beyond the section plane. The pipeline is chosen per frame by whether a section
// plane is set: a stage that may `discard` keeps a software rasteriser (SwiftShader, the
// WebGL2 fallback without a GPU) from testing depth before shading, so every covered fragment
// would pay for the shading even where a nearer surface hides it.
fn shade(in: VertexOut) -> vec4<f32> {
    var n = in.normal;
    if (dot(n, n) < 1e-12) {
        n = vec3<f32>(0.0, 0.0, 1.0);
    }
    n = normalize(n);
    // Meshes are drawn two-sided: light the side that faces the eye.
    if (dot(n, u.eye.xyz - in.world) < 0.0) {
        n = -n;
    }
    if (u.shadow.y > 0.5) {
        // Night: the sun is below the horizon, ambient light only.
        return vec4<f32>(encode(in.colour.rgb * NIGHT_AMBIENT), in.colour.a);
    }
    let diffuse = max(dot(n, u.light_dir.xyz), 0.0) * sunlit(in.world, n);
    let rgb = in.colour.rgb * (0.45 + 0.55 * diffuse);
    return vec4<f32>(encode(rgb), in.colour.a);
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    return shade(in);
}

@fragment
fn fs_main_sectioned(in: VertexOut) -> @location(0) vec4<f32> {
    if (cut_away(in.world)) {
        discard;
    }
    return shade(in);
}

@fragment
fn fs_edge(in: VertexOut) -> @location(0) vec4<f32> {
    return vec4<f32>(encode(in.colour.rgb), in.colour.a);
}

@fragment
fn fs_edge_sectioned(in: VertexOut) -> @location(0) vec4<f32> {
    if (cut_away(in.world)) {
        discard;
    }
    return vec4<f32>(encode(in.colour.rgb), in.colour.a);
}
