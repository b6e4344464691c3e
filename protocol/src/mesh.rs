//! Compact mesh geometry on the wire: positions quantized over the mesh's bounding box,
//! octahedral normals, 16- or 32-bit indices, and the content hash that names a scene.
//!
//! Error bounds (see `PROTOCOL.md`): a `U16` position lies within `extent / 131070` of the
//! original on each axis (half a quantization step), a `U32` position within `extent / 2^33`
//! (below `f32` precision); an `Oct8` normal within 1.5° of the original unit normal.

use serde::{Deserialize, Serialize};

/// Raw little-endian bytes, written by postcard as one length-prefixed byte string (not a
/// sequence of varints), so a mesh encodes and decodes with a single copy.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Blob(pub Vec<u8>);

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Blob, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(Blob(out))
            }
        }
        deserializer.deserialize_bytes(Visitor)
    }
}

/// How a mesh's positions are quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionBits {
    /// Three little-endian `u16` per vertex over the mesh's bounding box.
    U16,
    /// Three little-endian `u32` per vertex, for meshes whose extent would make `U16` coarser
    /// than [`MeshData::U16_MAX_STEP`].
    U32,
}

/// How a mesh's triangle indices are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexBits {
    /// Little-endian `u16`, for meshes with fewer than 65,536 vertices.
    U16,
    /// Little-endian `u32`.
    U32,
}

/// A triangle mesh, quantized. Shared by every placement that uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeshData {
    /// Id of the mesh in this scene.
    pub id: u32,
    /// Number of vertices.
    pub vertex_count: u32,
    /// Lower corner of the positions' bounding box, metres in the mesh's own frame.
    pub min: [f32; 3],
    /// Upper corner of the positions' bounding box.
    pub max: [f32; 3],
    /// Width of each quantized position coordinate.
    pub position_bits: PositionBits,
    /// `x, y, z` per vertex: `min + q / (2^bits - 1) * (max - min)`.
    pub positions: Blob,
    /// Octahedral unit normals, two `i8` per vertex (see [`oct_decode`]).
    pub normals: Blob,
    /// Width of each index.
    pub index_bits: IndexBits,
    /// Triangle list, three indices per triangle.
    pub indices: Blob,
}

/// A mesh back in `f32` form, checked: every index is in range, lengths agree.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecodedMesh {
    /// `x, y, z` per vertex.
    pub positions: Vec<f32>,
    /// Unit normal `x, y, z` per vertex.
    pub normals: Vec<f32>,
    /// Three indices per triangle.
    pub indices: Vec<u32>,
}

/// A quantized mesh that does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeshError {
    /// A byte array has the wrong length for the vertex or index count.
    #[error("mesh {mesh}: {what} has {got} bytes, expected {expected}")]
    Length {
        /// Mesh id.
        mesh: u32,
        /// Which array.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length the header implies.
        expected: usize,
    },
    /// An index points past the last vertex.
    #[error("mesh {mesh}: index {index} out of range for {vertices} vertices")]
    Index {
        /// Mesh id.
        mesh: u32,
        /// The bad index.
        index: u32,
        /// Vertex count.
        vertices: u32,
    },
}

impl MeshData {
    /// Largest quantization step (metres) `U16` positions may have; larger meshes use `U32`.
    /// A step of 2 mm bounds the error at 1 mm, and covers meshes up to 131 m across.
    pub const U16_MAX_STEP: f32 = 0.002;

    /// Quantizes an `f32` mesh (`positions` and `normals` three per vertex, `indices` three per
    /// triangle). Non-finite coordinates are written as the box's lower corner.
    pub fn quantize(id: u32, positions: &[f32], normals: &[f32], indices: &[u32]) -> Self {
        let vertex_count = positions.len() / 3;
        let mut min = [f32::INFINITY; 3];
        let mut max = [f32::NEG_INFINITY; 3];
        for p in positions.chunks_exact(3) {
            for a in 0..3 {
                if p[a].is_finite() {
                    min[a] = min[a].min(p[a]);
                    max[a] = max[a].max(p[a]);
                }
            }
        }
        for a in 0..3 {
            if min[a] > max[a] {
                (min[a], max[a]) = (0.0, 0.0);
            }
        }
        let extent = (0..3).map(|a| max[a] - min[a]).fold(0.0f32, f32::max);
        let position_bits =
            if extent / 65_535.0 <= Self::U16_MAX_STEP { PositionBits::U16 } else { PositionBits::U32 };
        let levels = match position_bits {
            PositionBits::U16 => f64::from(u16::MAX),
            PositionBits::U32 => f64::from(u32::MAX),
        };
        let width = if position_bits == PositionBits::U16 { 2 } else { 4 };
        let mut pos = Vec::with_capacity(vertex_count * 3 * width);
        for p in positions.chunks_exact(3) {
            for a in 0..3 {
                let span = f64::from(max[a]) - f64::from(min[a]);
                let t = if span > 0.0 && p[a].is_finite() { (f64::from(p[a]) - f64::from(min[a])) / span } else { 0.0 };
                let q = (t.clamp(0.0, 1.0) * levels).round();
                match position_bits {
                    PositionBits::U16 => pos.extend_from_slice(&(q as u16).to_le_bytes()),
                    PositionBits::U32 => pos.extend_from_slice(&(q as u32).to_le_bytes()),
                }
            }
        }
        let mut nor = Vec::with_capacity(vertex_count * 2);
        for v in 0..vertex_count {
            let n = normals.get(v * 3..v * 3 + 3).map_or([0.0, 0.0, 1.0], |n| [n[0], n[1], n[2]]);
            let [x, y] = oct_encode(n);
            nor.extend_from_slice(&[x as u8, y as u8]);
        }
        let index_bits = if vertex_count < 65_536 { IndexBits::U16 } else { IndexBits::U32 };
        let whole = indices.len() / 3 * 3;
        let mut idx = Vec::with_capacity(whole * if index_bits == IndexBits::U16 { 2 } else { 4 });
        for &i in &indices[..whole] {
            match index_bits {
                IndexBits::U16 => idx.extend_from_slice(&(i.min(u32::from(u16::MAX)) as u16).to_le_bytes()),
                IndexBits::U32 => idx.extend_from_slice(&i.to_le_bytes()),
            }
        }
        Self {
            id,
            vertex_count: vertex_count as u32,
            min,
            max,
            position_bits,
            positions: Blob(pos),
            normals: Blob(nor),
            index_bits,
            indices: Blob(idx),
        }
    }

    /// Number of triangles.
    pub fn triangle_count(&self) -> usize {
        self.indices.0.len() / if self.index_bits == IndexBits::U16 { 2 } else { 4 } / 3
    }

    /// Encoded size of the geometry arrays, bytes.
    pub fn byte_len(&self) -> usize {
        self.positions.0.len() + self.normals.0.len() + self.indices.0.len() + 48
    }

    /// Dequantizes to `f32`, checking every length and index.
    pub fn dequantize(&self) -> Result<DecodedMesh, MeshError> {
        let n = self.vertex_count as usize;
        let width = if self.position_bits == PositionBits::U16 { 2 } else { 4 };
        let check = |what, got: usize, expected: usize| {
            if got == expected { Ok(()) } else { Err(MeshError::Length { mesh: self.id, what, got, expected }) }
        };
        check("positions", self.positions.0.len(), n.saturating_mul(3 * width))?;
        check("normals", self.normals.0.len(), n.saturating_mul(2))?;
        let iw = if self.index_bits == IndexBits::U16 { 2 } else { 4 };
        let ilen = self.indices.0.len();
        check("indices", ilen, ilen / (3 * iw) * 3 * iw)?;
        let levels = if width == 2 { f32::from(u16::MAX) } else { u32::MAX as f32 };
        let positions = self
            .positions
            .0
            .chunks_exact(width)
            .enumerate()
            .map(|(i, b)| {
                let q = if width == 2 { f32::from(u16::from_le_bytes([b[0], b[1]])) } else { u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 };
                let a = i % 3;
                self.min[a] + q / levels * (self.max[a] - self.min[a])
            })
            .collect();
        let normals = self.normals.0.chunks_exact(2).flat_map(|b| oct_decode([b[0] as i8, b[1] as i8])).collect();
        let indices: Vec<u32> = self
            .indices
            .0
            .chunks_exact(iw)
            .map(|b| if iw == 2 { u32::from(u16::from_le_bytes([b[0], b[1]])) } else { u32::from_le_bytes([b[0], b[1], b[2], b[3]]) })
            .collect();
        if let Some(&index) = indices.iter().find(|&&i| i >= self.vertex_count) {
            return Err(MeshError::Index { mesh: self.id, index, vertices: self.vertex_count });
        }
        Ok(DecodedMesh { positions, normals, indices })
    }
}

/// Octahedral encoding of a unit vector into two signed bytes (Cigolle et al. 2014).
pub fn oct_encode(n: [f32; 3]) -> [i8; 2] {
    let l1 = n[0].abs() + n[1].abs() + n[2].abs();
    if !l1.is_finite() || l1 == 0.0 {
        return [0, 127];
    }
    let (mut x, mut y) = (n[0] / l1, n[1] / l1);
    if n[2] < 0.0 {
        let (ox, oy) = (x, y);
        x = (1.0 - oy.abs()) * ox.signum();
        y = (1.0 - ox.abs()) * oy.signum();
    }
    [(x.clamp(-1.0, 1.0) * 127.0).round() as i8, (y.clamp(-1.0, 1.0) * 127.0).round() as i8]
}

/// Inverse of [`oct_encode`]: a unit vector.
pub fn oct_decode(e: [i8; 2]) -> [f32; 3] {
    let x = f32::from(e[0].max(-127)) / 127.0;
    let y = f32::from(e[1].max(-127)) / 127.0;
    let z = 1.0 - x.abs() - y.abs();
    let (x, y) = if z < 0.0 { ((1.0 - y.abs()) * x.signum(), (1.0 - x.abs()) * y.signum()) } else { (x, y) };
    let len = (x * x + y * y + z * z).sqrt();
    if len == 0.0 { [0.0, 0.0, 1.0] } else { [x / len, y / len, z / len] }
}

/// A scene's content hash (xxh3-128 of its encoded static part). JSON writes it as 32 hex
/// digits; binary frames as 16 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SceneHash(pub [u8; 16]);

impl std::fmt::Display for SceneHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for SceneHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SceneHash({self})")
    }
}

impl SceneHash {
    /// Parses 32 hex digits.
    pub fn parse_hex(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() != 32 || !text.is_ascii() {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }
}

impl Serialize for SceneHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() { serializer.collect_str(self) } else { self.0.serialize(serializer) }
    }
}

impl<'de> Deserialize<'de> for SceneHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Self::parse_hex(&text).ok_or_else(|| serde::de::Error::custom(format!("invalid scene hash {text:?}, expected 32 hex digits")))
        } else {
            Ok(Self(<[u8; 16]>::deserialize(deserializer)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cube(scale: f32) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
        let positions: Vec<f32> = (0..8).flat_map(|i| [(i & 1) as f32 * scale, ((i >> 1) & 1) as f32 * scale, ((i >> 2) & 1) as f32 * scale + 0.3]).collect();
        let normals: Vec<f32> = (0..8).flat_map(|i| {
            let v = [(i & 1) as f32 - 0.5, ((i >> 1) & 1) as f32 - 0.5, ((i >> 2) & 1) as f32 - 0.5];
            let l = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            [v[0] / l, v[1] / l, v[2] / l]
        }).collect();
        (positions, normals, vec![0, 1, 3, 0, 3, 2, 4, 6, 7, 4, 7, 5])
    }

    #[test]
    fn u16_positions_are_within_half_a_step_of_the_original() {
        let (p, n, i) = cube(37.5);
        let mesh = MeshData::quantize(1, &p, &n, &i);
        assert_eq!(mesh.position_bits, PositionBits::U16);
        assert_eq!(mesh.index_bits, IndexBits::U16);
        assert_eq!(mesh.positions.0.len(), 8 * 6);
        let back = mesh.dequantize().expect("valid");
        let bound = 37.5 / 131_070.0 + 1e-5;
        for (a, b) in p.iter().zip(&back.positions) {
            assert!((a - b).abs() <= bound, "{a} vs {b}");
        }
        assert_eq!(back.indices, i);
    }

    #[test]
    fn huge_meshes_switch_to_u32_positions() {
        let (p, n, i) = cube(5_000.0);
        let mesh = MeshData::quantize(1, &p, &n, &i);
        assert_eq!(mesh.position_bits, PositionBits::U32);
        let back = mesh.dequantize().expect("valid");
        for (a, b) in p.iter().zip(&back.positions) {
            assert!((a - b).abs() <= 0.001, "{a} vs {b}");
        }
    }

    #[test]
    fn octahedral_normals_are_within_one_and_a_half_degrees() {
        let mut worst = 0.0f32;
        for i in 0..2000 {
            let t = i as f32 * 0.618_034;
            let z = 1.0 - 2.0 * ((i as f32 + 0.5) / 2000.0);
            let r = (1.0 - z * z).max(0.0).sqrt();
            let n = [r * (t * std::f32::consts::TAU).cos(), r * (t * std::f32::consts::TAU).sin(), z];
            let d = oct_decode(oct_encode(n));
            let dot = (n[0] * d[0] + n[1] * d[1] + n[2] * d[2]).clamp(-1.0, 1.0);
            worst = worst.max(dot.acos().to_degrees());
        }
        assert!(worst < 1.5, "worst angular error {worst}°");
        assert_eq!(oct_decode(oct_encode([0.0, 0.0, -1.0])), [0.0, 0.0, -1.0]);
    }

    #[test]
    fn big_meshes_use_u32_indices_and_small_ones_u16() {
        let positions = vec![0.0; 70_000 * 3];
        let mesh = MeshData::quantize(2, &positions, &[], &[0, 1, 69_999]);
        assert_eq!(mesh.index_bits, IndexBits::U32);
        assert_eq!(mesh.dequantize().expect("valid").indices, vec![0, 1, 69_999]);
    }

    #[test]
    fn bad_lengths_and_indices_are_errors_not_panics() {
        let (p, n, i) = cube(1.0);
        let mut mesh = MeshData::quantize(3, &p, &n, &i);
        mesh.indices.0[0] = 9;
        assert!(matches!(mesh.dequantize(), Err(MeshError::Index { index: 9, .. })));
        mesh.positions.0.pop();
        assert!(matches!(mesh.dequantize(), Err(MeshError::Length { what: "positions", .. })));
        mesh.vertex_count = u32::MAX;
        assert!(mesh.dequantize().is_err());
    }

    #[test]
    fn scene_hashes_are_hex_in_json_and_raw_in_binary() {
        let h = SceneHash([0xab; 16]);
        let json = serde_json::to_string(&h).expect("json");
        assert_eq!(json, format!("\"{}\"", "ab".repeat(16)));
        assert_eq!(serde_json::from_str::<SceneHash>(&json).expect("parse"), h);
        let bin = postcard::to_allocvec(&h).expect("bin");
        assert_eq!(bin.len(), 16);
        assert_eq!(postcard::from_bytes::<SceneHash>(&bin).expect("back"), h);
    }
}
