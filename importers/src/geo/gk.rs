//! China Geodetic Coordinate System 2000 (CGCS2000, EPSG:4490) and its 3-degree Gauss-Krüger
//! projections (EPSG:4513–4554), the grids of China's surveying and mapping: a transverse
//! Mercator with scale 1 on the central meridian, computed by Krüger's series to third order in
//! `n` (the form Karney 2011 gives, as in [`super::utm`], here for any ellipsoid and latitude of
//! origin).
//!
//! Parameters (the EPSG dataset's definitions of these CRSs):
//! - CGCS2000 ellipsoid: `a = 6 378 137 m`, `1/f = 298.257 222 101` (the GRS 1980 figure);
//! - EPSG:4513–4533, "CGCS2000 / 3-degree Gauss-Kruger zone 25" … "zone 45": zone `z`, central
//!   meridian `3·z` °E (75°E … 135°E), false easting `z · 1 000 000 + 500 000 m` (the zone number
//!   written in front of the easting);
//! - EPSG:4534–4554, "CGCS2000 / 3-degree Gauss-Kruger CM 75E" … "CM 135E": the same zones
//!   without the prefix, false easting `500 000 m`;
//! - latitude of origin 0, false northing 0, scale factor 1.
//!
//! CGCS2000 is realised on ITRF97 at epoch 2000.0; it is taken as WGS84 here, like the other
//! datums of [`super::utm`]: the two differ by well under a metre today (plate motion since
//! 2000), which bounds where a CGCS2000 input lands beside WGS84 inputs. Inputs in the same grid
//! as the project frame never go through here.

/// The CGCS2000 ellipsoid's semi-major axis, metres.
pub(crate) const A: f64 = 6_378_137.0;
/// The CGCS2000 ellipsoid's flattening.
pub(crate) const F: f64 = 1.0 / 298.257_222_101;

/// A transverse Mercator projection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TransverseMercator {
    /// Semi-major axis, metres.
    pub(crate) a: f64,
    /// Flattening.
    pub(crate) f: f64,
    /// Latitude of natural origin, degrees.
    pub(crate) lat0: f64,
    /// Longitude of natural origin (central meridian), degrees.
    pub(crate) lon0: f64,
    /// Scale factor on the central meridian.
    pub(crate) k0: f64,
    /// False easting, metres.
    pub(crate) false_easting: f64,
    /// False northing, metres.
    pub(crate) false_northing: f64,
}

/// A 3-degree Gauss-Krüger zone of CGCS2000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Zone3 {
    /// Zone number, 25–45 (central meridian 3 × number °E).
    pub(crate) number: u32,
    /// Whether the easting carries the zone number in front (EPSG:4513–4533).
    pub(crate) prefixed: bool,
}

/// The CGCS2000 3-degree Gauss-Krüger zone of an EPSG code (4513–4554).
pub(crate) fn zone_of_epsg(code: u32) -> Option<Zone3> {
    match code {
        4513..=4533 => Some(Zone3 { number: code - 4513 + 25, prefixed: true }),
        4534..=4554 => Some(Zone3 { number: code - 4534 + 25, prefixed: false }),
        _ => None,
    }
}

impl Zone3 {
    /// The zone's projection.
    pub(crate) fn projection(self) -> TransverseMercator {
        let prefix = if self.prefixed { f64::from(self.number) * 1_000_000.0 } else { 0.0 };
        TransverseMercator {
            a: A,
            f: F,
            lat0: 0.0,
            lon0: 3.0 * f64::from(self.number),
            k0: 1.0,
            false_easting: prefix + 500_000.0,
            false_northing: 0.0,
        }
    }
}

struct Series {
    radius: f64,
    alpha: [f64; 3],
    beta: [f64; 3],
    delta: [f64; 3],
    e: f64,
}

impl TransverseMercator {
    fn series(&self) -> Series {
        let n = self.f / (2.0 - self.f);
        let (n2, n3) = (n * n, n * n * n);
        Series {
            radius: self.a / (1.0 + n) * (1.0 + n2 / 4.0 + n2 * n2 / 64.0),
            alpha: [n / 2.0 - 2.0 * n2 / 3.0 + 5.0 * n3 / 16.0, 13.0 * n2 / 48.0 - 3.0 * n3 / 5.0, 61.0 * n3 / 240.0],
            beta: [n / 2.0 - 2.0 * n2 / 3.0 + 37.0 * n3 / 96.0, n2 / 48.0 + n3 / 15.0, 17.0 * n3 / 480.0],
            delta: [2.0 * n - 2.0 * n2 / 3.0 - 2.0 * n3, 7.0 * n2 / 3.0 - 8.0 * n3 / 5.0, 56.0 * n3 / 15.0],
            e: (self.f * (2.0 - self.f)).sqrt(),
        }
    }

    /// `(ξ, η)` of a point, radians of the rectifying sphere, about the central meridian.
    fn xi_eta(&self, s: &Series, lon: f64, lat: f64) -> (f64, f64) {
        let phi = lat.to_radians();
        let dl = (lon - self.lon0).to_radians();
        let t = (phi.sin().atanh() - s.e * (s.e * phi.sin()).atanh()).sinh();
        let xi_p = t.atan2(dl.cos());
        let eta_p = (dl.sin() / (1.0 + t * t).sqrt()).atanh();
        let (mut xi, mut eta) = (xi_p, eta_p);
        for (j, a) in s.alpha.iter().enumerate() {
            let k = 2.0 * (j as f64 + 1.0);
            xi += a * (k * xi_p).sin() * (k * eta_p).cosh();
            eta += a * (k * xi_p).cos() * (k * eta_p).sinh();
        }
        (xi, eta)
    }

    /// `(lon, lat)` degrees → `(easting, northing)` metres.
    pub(crate) fn forward(&self, lon: f64, lat: f64) -> (f64, f64) {
        let s = self.series();
        let (xi, eta) = self.xi_eta(&s, lon, lat);
        let (xi0, _) = self.xi_eta(&s, self.lon0, self.lat0);
        (self.false_easting + self.k0 * s.radius * eta, self.false_northing + self.k0 * s.radius * (xi - xi0))
    }

    /// `(easting, northing)` metres → `(lon, lat)` degrees.
    pub(crate) fn inverse(&self, easting: f64, northing: f64) -> (f64, f64) {
        let s = self.series();
        let (xi0, _) = self.xi_eta(&s, self.lon0, self.lat0);
        let xi = (northing - self.false_northing) / (self.k0 * s.radius) + xi0;
        let eta = (easting - self.false_easting) / (self.k0 * s.radius);
        let (mut xi_p, mut eta_p) = (xi, eta);
        for (j, b) in s.beta.iter().enumerate() {
            let k = 2.0 * (j as f64 + 1.0);
            xi_p -= b * (k * xi).sin() * (k * eta).cosh();
            eta_p -= b * (k * xi).cos() * (k * eta).sinh();
        }
        let chi = (xi_p.sin() / eta_p.cosh()).asin();
        let mut phi = chi;
        for (j, d) in s.delta.iter().enumerate() {
            phi += d * (2.0 * (j as f64 + 1.0) * chi).sin();
        }
        let lambda = self.lon0.to_radians() + eta_p.sinh().atan2(xi_p.cos());
        (lambda.to_degrees(), phi.to_degrees())
    }
}

/// CGCS2000 `(lon, lat)` → `(easting, northing)` in `zone`.
pub(crate) fn to_gk(zone: Zone3, lon: f64, lat: f64) -> (f64, f64) {
    zone.projection().forward(lon, lat)
}

/// `(easting, northing)` in `zone` → CGCS2000 `(lon, lat)`.
pub(crate) fn from_gk(zone: Zone3, easting: f64, northing: f64) -> (f64, f64) {
    zone.projection().inverse(easting, northing)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the transverse Mercator method in IOGP Publication 373-7-2
    /// (Geomatics Guidance Note 7, part 2, "Coordinate Conversions and Transformations including
    /// Formulas"), on OSGB 1936 / British National Grid: Airy 1830 (a = 6 377 563.396 m,
    /// 1/f = 299.32496), origin 49°N 2°W, k₀ = 0.9996012717, FE 400 000 m, FN −100 000 m;
    /// 50°30′N 0°30′E → E 577 274.99 m, N 69 740.50 m. The engine is the one the CGCS2000 zones
    /// use, with their parameters.
    #[test]
    fn the_iogp_worked_example_is_reproduced_to_the_centimetre() {
        let bng = TransverseMercator {
            a: 6_377_563.396,
            f: 1.0 / 299.324_96,
            lat0: 49.0,
            lon0: -2.0,
            k0: 0.999_601_271_7,
            false_easting: 400_000.0,
            false_northing: -100_000.0,
        };
        let (e, n) = bng.forward(0.5, 50.5);
        assert!((e - 577_274.99).abs() < 0.01 && (n - 69_740.50).abs() < 0.01, "{e} {n}");
        let (lon, lat) = bng.inverse(577_274.99, 69_740.50);
        assert!((lon - 0.5).abs() < 1e-7 && (lat - 50.5).abs() < 1e-7, "{lon} {lat}");
    }

    #[test]
    fn epsg_codes_name_the_zones_with_and_without_the_prefix() {
        assert_eq!(zone_of_epsg(4513), Some(Zone3 { number: 25, prefixed: true }));
        assert_eq!(zone_of_epsg(4527), Some(Zone3 { number: 39, prefixed: true }));
        assert_eq!(zone_of_epsg(4533), Some(Zone3 { number: 45, prefixed: true }));
        assert_eq!(zone_of_epsg(4534), Some(Zone3 { number: 25, prefixed: false }));
        assert_eq!(zone_of_epsg(4548), Some(Zone3 { number: 39, prefixed: false }));
        assert_eq!(zone_of_epsg(4554), Some(Zone3 { number: 45, prefixed: false }));
        assert_eq!(zone_of_epsg(4512), None);
        assert_eq!(zone_of_epsg(4555), None);
        // EPSG:4527 zone 39: central meridian 117°E, false easting 39 500 000 m.
        let p = Zone3 { number: 39, prefixed: true }.projection();
        assert_eq!((p.lon0, p.false_easting), (117.0, 39_500_000.0));
        let q = Zone3 { number: 39, prefixed: false }.projection();
        assert_eq!((q.lon0, q.false_easting), (117.0, 500_000.0));
    }

    /// On the central meridian, with scale 1, the northing is the meridian arc of the GRS 1980
    /// ellipsoid: from the equator to 40°N it is 4 429 529.03 m (computed here by Simpson's
    /// rule on M(φ) = a(1 − e²)/(1 − e² sin²φ)^{3/2}, 100 000 steps); the prefix only shifts
    /// the easting.
    #[test]
    fn the_central_meridian_is_the_meridian_arc_and_the_prefix_only_shifts_eastings() {
        let e2 = F * (2.0 - F);
        let m = |phi: f64| A * (1.0 - e2) / (1.0 - e2 * phi.sin().powi(2)).powf(1.5);
        let (steps, end) = (100_000, 40f64.to_radians());
        let h = end / f64::from(steps);
        let arc: f64 = (0..=steps)
            .map(|i| {
                let w = if i == 0 || i == steps { 1.0 } else if i % 2 == 1 { 4.0 } else { 2.0 };
                w * m(h * f64::from(i))
            })
            .sum::<f64>()
            * h
            / 3.0;
        let (e, n) = to_gk(Zone3 { number: 39, prefixed: false }, 117.0, 40.0);
        assert!((e - 500_000.0).abs() < 1e-6 && (n - arc).abs() < 0.001, "{e} {n} {arc}");
        let (ep, np) = to_gk(Zone3 { number: 39, prefixed: true }, 116.391, 39.907);
        let (eu, nu) = to_gk(Zone3 { number: 39, prefixed: false }, 116.391, 39.907);
        assert!((ep - eu - 39_000_000.0).abs() < 1e-6 && (np - nu).abs() < 1e-9);
        assert!(eu < 500_000.0, "west of 117°E the easting is below 500 km");
        let (lon, lat) = from_gk(Zone3 { number: 39, prefixed: true }, ep, np);
        assert!((lon - 116.391).abs() < 1e-9 && (lat - 39.907).abs() < 1e-9);
    }

    /// Control points in six zones, from Xinjiang to Heilongjiang and Hainan, including a point
    /// 1.5° from its central meridian (the zone's edge). The reference grid coordinates were
    /// computed by PROJ 9.5.1 (through pyproj 3.7.2: `Transformer.from_crs("EPSG:4490",
    /// "EPSG:<code>", always_xy=True).transform(lon, lat)`), an independent implementation of
    /// the EPSG definitions (Poder/Engsager's extended transverse Mercator), for these
    /// geographic positions.
    #[test]
    fn control_points_across_china_match_proj_to_the_millimetre() {
        let points: [(&str, f64, f64, u32, f64, f64); 8] = [
            ("Beijing Tiananmen", 116.3913, 39.9075, 4527, 39_447_950.515, 4_419_435.790),
            ("Shanghai Bund", 121.4903, 31.2397, 4528, 40_641_980.195, 3_458_507.993),
            ("Guangzhou", 113.2644, 23.1291, 4526, 38_424_654.893, 2_559_024.739),
            ("Chengdu", 104.0665, 30.5723, 4523, 35_410_449.425, 3_383_928.088),
            ("Urumqi", 87.6168, 43.8256, 4517, 29_549_615.901, 4_854_629.627),
            ("Harbin", 126.6425, 45.7567, 4530, 42_549_987.834, 5_069_244.178),
            ("zone 39's eastern edge", 118.5, 40.0, 4548, 628_093.359, 4_430_606.952),
            ("Sanya", 109.5119, 18.2528, 4524, 36_659_903.055, 2_019_623.202),
        ];
        for (name, lon, lat, code, easting, northing) in points {
            let zone = zone_of_epsg(code).expect("a CGCS2000 3-degree zone");
            let (e, n) = to_gk(zone, lon, lat);
            assert!((e - easting).abs() < 0.001 && (n - northing).abs() < 0.001, "{name} EPSG:{code}: {e:.3} {n:.3}");
            let (back_lon, back_lat) = from_gk(zone, easting, northing);
            assert!((back_lon - lon).abs() < 1e-8 && (back_lat - lat).abs() < 1e-8, "{name}: {back_lon} {back_lat}");
        }
    }
}
