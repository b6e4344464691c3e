//! Dutch RD New (Rijksdriehoeksstelsel, EPSG:28992; with NAP heights EPSG:7415) ↔ WGS84, by the
//! published approximation polynomials of Schreutelkamp and Strang van Hees ("Benaderings-
//! formules voor de transformatie tussen RD- en WGS84-kaartcoördinaten", 2001).
//!
//! Stated accuracy of the polynomials is about a metre over the Netherlands (they fold the
//! Bessel → WGS84 datum shift in); that, not the local frame, bounds where an RD input lands
//! beside a WGS84 input. RD inputs placed beside other RD inputs never go through here: they are
//! translated exactly. The inverse (WGS84 → RD) solves the forward polynomials by Newton's
//! method rather than using the separate inverse series. NAP heights are kept as heights: there
//! is no geoid model here, so NAP (≈ sea level) and WGS84 ellipsoidal heights differ by ≈ 43 m
//! in the Netherlands; inputs without heights (GeoJSON) sit at z = 0 either way.

/// RD coordinates of the reference point (Amersfoort, Onze Lieve Vrouwetoren).
const X0: f64 = 155_000.0;
const Y0: f64 = 463_000.0;
/// WGS84 latitude and longitude of the reference point, degrees.
const LAT0: f64 = 52.155_174_40;
const LON0: f64 = 5.387_206_21;

/// `(p, q, K_pq)`: latitude series in arc-seconds over `dX^p dY^q` (dX, dY in 100 km).
const K: [(i32, i32, f64); 11] = [
    (0, 1, 3235.65389),
    (2, 0, -32.58297),
    (0, 2, -0.24750),
    (2, 1, -0.84978),
    (0, 3, -0.06550),
    (2, 2, -0.01709),
    (1, 0, -0.00738),
    (4, 0, 0.00530),
    (2, 3, -0.00039),
    (4, 1, 0.00033),
    (1, 1, -0.00012),
];

/// `(p, q, L_pq)`: longitude series in arc-seconds.
const L: [(i32, i32, f64); 12] = [
    (1, 0, 5260.52916),
    (1, 1, 105.94684),
    (1, 2, 2.45656),
    (3, 0, -0.81885),
    (1, 3, 0.05594),
    (3, 1, -0.05607),
    (0, 1, 0.01199),
    (3, 2, -0.00256),
    (1, 4, 0.00128),
    (0, 2, 0.00022),
    (2, 0, -0.00022),
    (5, 0, 0.00026),
];

/// RD easting/northing (metres) → WGS84 `(lon, lat)` in degrees.
pub(crate) fn rd_to_wgs84(x: f64, y: f64) -> (f64, f64) {
    let dx = (x - X0) * 1e-5;
    let dy = (y - Y0) * 1e-5;
    let series = |terms: &[(i32, i32, f64)]| -> f64 {
        terms
            .iter()
            .map(|&(p, q, c)| c * dx.powi(p) * dy.powi(q))
            .sum::<f64>()
            / 3600.0
    };
    (LON0 + series(&L), LAT0 + series(&K))
}

/// WGS84 `(lon, lat)` in degrees → RD easting/northing in metres (Newton on [`rd_to_wgs84`]).
pub(crate) fn wgs84_to_rd(lon: f64, lat: f64) -> (f64, f64) {
    // First guess from the linear terms.
    let mut x = X0 + (lon - LON0) * 3600.0 / 5260.52916 * 1e5;
    let mut y = Y0 + (lat - LAT0) * 3600.0 / 3235.65389 * 1e5;
    let h = 1.0;
    for _ in 0..10 {
        let (lo, la) = rd_to_wgs84(x, y);
        let (lo_x, la_x) = rd_to_wgs84(x + h, y);
        let (lo_y, la_y) = rd_to_wgs84(x, y + h);
        let (a, b) = ((lo_x - lo) / h, (lo_y - lo) / h);
        let (c, d) = ((la_x - la) / h, (la_y - la) / h);
        let det = a * d - b * c;
        if det == 0.0 || !det.is_finite() {
            break;
        }
        let (ex, ey) = (lon - lo, lat - la);
        let step_x = (d * ex - b * ey) / det;
        let step_y = (a * ey - c * ex) / det;
        x += step_x;
        y += step_y;
        if step_x.abs() < 1e-6 && step_y.abs() < 1e-6 {
            break;
        }
    }
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::wgs84::LocalFrame;

    #[test]
    fn the_reference_point_maps_to_amersfoort() {
        let (lon, lat) = rd_to_wgs84(155_000.0, 463_000.0);
        assert_eq!((lon, lat), (LON0, LAT0));
    }

    /// RD is a stereographic projection with scale factor 0.9999079 at Amersfoort, so 10 km of
    /// grid there is 10 000 / 0.9999079 = 10 000.92 m on the ground.
    #[test]
    fn ten_grid_kilometres_at_amersfoort_are_ten_kilometres_on_the_ground() {
        let frame = LocalFrame::new(LON0, LAT0, 0.0);
        let (lon, lat) = rd_to_wgs84(165_000.0, 463_000.0);
        let east = frame.to_local(lon, lat, 0.0);
        assert!((east[0] - 10_000.92).abs() < 0.2, "{east:?}");
        assert!(east[1].abs() < 0.5, "{east:?}");
        let (lon, lat) = rd_to_wgs84(155_000.0, 473_000.0);
        let north = frame.to_local(lon, lat, 0.0);
        assert!((north[1] - 10_000.92).abs() < 0.2, "{north:?}");
    }

    #[test]
    fn delft_lies_where_delft_is() {
        // The Delft corpus tile's centre; Delft's market square is at about 52.011 N, 4.359 E.
        let (lon, lat) = rd_to_wgs84(84_878.0, 447_586.0);
        assert!(
            (lat - 52.012).abs() < 0.01 && (lon - 4.366).abs() < 0.01,
            "{lon} {lat}"
        );
    }

    #[test]
    fn wgs84_to_rd_inverts_the_forward_series() {
        for &(x, y) in &[
            (84_878.0, 447_586.0),
            (121_000.0, 487_000.0),
            (250_000.0, 600_000.0),
        ] {
            let (lon, lat) = rd_to_wgs84(x, y);
            let (bx, by) = wgs84_to_rd(lon, lat);
            assert!(
                (bx - x).abs() < 1e-3 && (by - y).abs() < 1e-3,
                "{x},{y} → {bx},{by}"
            );
        }
    }
}
