// Element shading for the renewtwin viewer.
//
// Every element's colour lives in one RGBA8 texel of `colours` (alpha: 1 solid, ~0.5 ghost,
// 0 hidden). Instanced meshes take the element id from the instance; merged world-space meshes
// carry it per vertex (the instance then says NO_ELEMENT and holds the identity transform).
// Lighting scales the sRGB colour by a factor in 0.45..=1.0, so hue is kept.

struct Uniforms {
    view_proj: mat4x4<f32>,
    // xyz: unit vector towards the light.
    light_dir: vec4<f32>,
    // xyz: eye position.
    eye: vec4<f32>,
    // x: width of the colour texture, y: 1 when the target re-encodes to sRGB,
    // z: ghost opacity.
    params: vec4<f32>,
};

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var colours: texture_2d<f32>;

const NO_ELEMENT: u32 = 0xffffffffu;

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

fn shade_vertex(v: VertexIn, ghost_pass: bool) -> VertexOut {
    var element = v.instance_element;
    if (v.vertex_element != NO_ELEMENT) {
        element = v.vertex_element;
    }
    let width = u32(u.params.x);
    let texel = textureLoad(colours, vec2<i32>(i32(element % width), i32(element / width)), 0);
    let solid = texel.a > 0.75;
    let ghost = texel.a > 0.25 && texel.a <= 0.75;
    var out: VertexOut;
    if ((ghost_pass && !ghost) || (!ghost_pass && !solid)) {
        // Outside the clip volume: the triangle is dropped.
        out.clip = vec4<f32>(2.0, 2.0, 2.0, 1.0);
        out.colour = vec4<f32>(0.0);
        out.normal = vec3<f32>(0.0, 0.0, 1.0);
        out.world = vec3<f32>(0.0);
        return out;
    }
    let model = mat4x4<f32>(v.model_0, v.model_1, v.model_2, v.model_3);
    let world = model * vec4<f32>(v.position, 1.0);
    out.clip = u.view_proj * world;
    out.world = world.xyz;
    out.normal = (model * vec4<f32>(v.normal, 0.0)).xyz;
    var alpha = 1.0;
    if (ghost_pass) {
        alpha = u.params.z;
    }
    out.colour = vec4<f32>(texel.rgb, alpha);
    return out;
}

@vertex
fn vs_solid(v: VertexIn) -> VertexOut {
    return shade_vertex(v, false);
}

@vertex
fn vs_ghost(v: VertexIn) -> VertexOut {
    return shade_vertex(v, true);
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    var n = in.normal;
    if (dot(n, n) < 1e-12) {
        n = vec3<f32>(0.0, 0.0, 1.0);
    }
    n = normalize(n);
    // Meshes are drawn two-sided: light the side that faces the eye.
    if (dot(n, u.eye.xyz - in.world) < 0.0) {
        n = -n;
    }
    let diffuse = max(dot(n, u.light_dir.xyz), 0.0);
    var rgb = in.colour.rgb * (0.45 + 0.55 * diffuse);
    if (u.params.y > 0.5) {
        rgb = srgb_to_linear(rgb);
    }
    return vec4<f32>(rgb, in.colour.a);
}
