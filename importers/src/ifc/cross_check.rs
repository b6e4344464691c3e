//! Test support for the cutters of `boolean` and `openings`: the corpus files and a
//! comparison of a cut of ours against ifc-lite's exact one in volume, surface area and
//! bounds.

use ifc_lite_geometry::Mesh;

use super::cut;

/// Largest relative difference in volume and surface area from ifc-lite's exact cut.
pub(super) const RELATIVE_TOLERANCE: f64 = 1e-3;

/// The corpus's IFC files (sorted, at most 40 MB each), or none (with the reason printed) when
/// the corpus is absent and not required; the same contract as `tests/common`.
pub(super) fn corpus_files() -> Vec<std::path::PathBuf> {
    let dir = std::env::var_os("RENEWTWIN_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
        })
        .join("ifc");
    if !dir.is_dir() {
        assert!(
            std::env::var("RENEWTWIN_REQUIRE_CORPUS").map_or(true, |v| v != "1"),
            "RENEWTWIN_REQUIRE_CORPUS=1 but {} is missing",
            dir.display()
        );
        eprintln!(
            "skipped: no IFC corpus at {}; set RENEWTWIN_CORPUS to run it",
            dir.display()
        );
        return Vec::new();
    }
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("test input")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("ifc")))
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() <= 40_000_000))
        .collect();
    files.sort();
    files
}

/// Volume, surface area and world bounds (each part's origin added) of meshes together.
pub(super) fn stats(meshes: &[Mesh]) -> (f64, f64, [f64; 3], [f64; 3]) {
    let (mut volume, mut area) = (0.0, 0.0);
    let mut min = [f64::INFINITY; 3];
    let mut max = [f64::NEG_INFINITY; 3];
    for mesh in meshes {
        let solid = cut::Solid {
            positions: mesh
                .positions
                .chunks_exact(3)
                .map(|p| std::array::from_fn(|k| f64::from(p[k]) + mesh.origin[k]))
                .collect(),
            triangles: mesh
                .indices
                .chunks_exact(3)
                .map(|t| [t[0], t[1], t[2]])
                .collect(),
            normals: Vec::new(),
        };
        for p in &solid.positions {
            for k in 0..3 {
                min[k] = min[k].min(p[k]);
                max[k] = max[k].max(p[k]);
            }
        }
        area += solid
            .triangles
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|i| solid.positions[i as usize]);
                let n = crate::geo::mesh::cross(
                    crate::geo::mesh::sub(b, a),
                    crate::geo::mesh::sub(c, a),
                );
                crate::geo::mesh::norm(n) / 2.0
            })
            .sum::<f64>();
        volume += cut::volume(&solid);
    }
    (volume, area, min, max)
}

/// Asserts that `ours` has the volume and surface area of `theirs` within
/// [`RELATIVE_TOLERANCE`] and its bounds within 1e-4 of its size.
pub(super) fn assert_same(what: &str, ours: &[Mesh], theirs: &[Mesh]) {
    let (v1, a1, min1, max1) = stats(ours);
    let (v2, a2, min2, max2) = stats(theirs);
    let size = (0..3).map(|k| max2[k] - min2[k]).fold(0.0, f64::max);
    assert!(
        (v1 - v2).abs() <= RELATIVE_TOLERANCE * v2.abs(),
        "{what}: volume {v1} here, {v2} by ifc-lite"
    );
    assert!(
        (a1 - a2).abs() <= RELATIVE_TOLERANCE * a2,
        "{what}: surface area {a1} here, {a2} by ifc-lite"
    );
    for k in 0..3 {
        assert!(
            (min1[k] - min2[k]).abs() <= 1e-4 * size && (max1[k] - max2[k]).abs() <= 1e-4 * size,
            "{what}: bounds {min1:?}..{max1:?} here, {min2:?}..{max2:?} by ifc-lite"
        );
    }
}
