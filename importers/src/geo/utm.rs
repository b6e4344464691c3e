//! Universal Transverse Mercator ↔ WGS84 by Krüger's series to third order in `n` (the form
//! Karney 2011 gives; about a millimetre within a zone), for the projected CRSs IFC and city files
//! most often name: WGS84 / UTM (EPSG:326zz north, 327zz south), ETRS89 / UTM (EPSG:258zz),
//! GDA94 / MGA (EPSG:283zz) and GDA2020 / MGA (EPSG:78zz), and IGM95 / UTM 32N and 33N
//! (EPSG:3064, 3065).
//!
//! The datums of those CRSs (ETRS89, GDA94, GDA2020, IGM95) are taken as WGS84: they differ from
//! it by well under two metres today, which bounds where such an input lands beside WGS84
//! inputs. Inputs in the same CRS as the project frame never go through here.

use super::wgs84::{A, F};

/// A UTM zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Zone {
    /// 1–60.
    pub(crate) number: u32,
    /// Southern hemisphere (false northing 10 000 km).
    pub(crate) south: bool,
}

/// The UTM zone of an EPSG code, when it is one of the families above.
pub(crate) fn zone_of_epsg(code: u32) -> Option<Zone> {
    let (number, south) = match code {
        32601..=32660 => (code - 32600, false),
        32701..=32760 => (code - 32700, true),
        25828..=25838 => (code - 25800, false),
        28348..=28358 => (code - 28300, true),
        7846..=7859 => (code - 7800, true),
        3064 => (32, false),
        3065 => (33, false),
        _ => return None,
    };
    Some(Zone { number, south })
}

const K0: f64 = 0.9996;
const FALSE_EASTING: f64 = 500_000.0;
const FALSE_NORTHING_SOUTH: f64 = 10_000_000.0;

struct Series {
    /// Rectifying radius `A` (metres).
    radius: f64,
    alpha: [f64; 3],
    beta: [f64; 3],
    delta: [f64; 3],
}

fn series() -> Series {
    let n = F / (2.0 - F);
    let (n2, n3) = (n * n, n * n * n);
    Series {
        radius: A / (1.0 + n) * (1.0 + n2 / 4.0 + n2 * n2 / 64.0),
        alpha: [
            n / 2.0 - 2.0 * n2 / 3.0 + 5.0 * n3 / 16.0,
            13.0 * n2 / 48.0 - 3.0 * n3 / 5.0,
            61.0 * n3 / 240.0,
        ],
        beta: [
            n / 2.0 - 2.0 * n2 / 3.0 + 37.0 * n3 / 96.0,
            n2 / 48.0 + n3 / 15.0,
            17.0 * n3 / 480.0,
        ],
        delta: [
            2.0 * n - 2.0 * n2 / 3.0 - 2.0 * n3,
            7.0 * n2 / 3.0 - 8.0 * n3 / 5.0,
            56.0 * n3 / 15.0,
        ],
    }
}

fn central_meridian(zone: Zone) -> f64 {
    (f64::from(zone.number) * 6.0 - 183.0).to_radians()
}

/// WGS84 `(lon, lat)` degrees → `(easting, northing)` metres in `zone`.
pub(crate) fn to_utm(zone: Zone, lon: f64, lat: f64) -> (f64, f64) {
    let s = series();
    let n = F / (2.0 - F);
    let e = 2.0 * n.sqrt() / (1.0 + n);
    let phi = lat.to_radians();
    let dl = lon.to_radians() - central_meridian(zone);
    let t = (phi.sin().atanh() - e * (e * phi.sin()).atanh()).sinh();
    let xi_p = t.atan2(dl.cos());
    let eta_p = (dl.sin() / (1.0 + t * t).sqrt()).atanh();
    let mut xi = xi_p;
    let mut eta = eta_p;
    for (j, a) in s.alpha.iter().enumerate() {
        let k = 2.0 * (j as f64 + 1.0);
        xi += a * (k * xi_p).sin() * (k * eta_p).cosh();
        eta += a * (k * xi_p).cos() * (k * eta_p).sinh();
    }
    let northing = K0 * s.radius * xi
        + if zone.south {
            FALSE_NORTHING_SOUTH
        } else {
            0.0
        };
    (FALSE_EASTING + K0 * s.radius * eta, northing)
}

/// `(easting, northing)` metres in `zone` → WGS84 `(lon, lat)` degrees.
pub(crate) fn from_utm(zone: Zone, easting: f64, northing: f64) -> (f64, f64) {
    let s = series();
    let north = northing
        - if zone.south {
            FALSE_NORTHING_SOUTH
        } else {
            0.0
        };
    let xi = north / (K0 * s.radius);
    let eta = (easting - FALSE_EASTING) / (K0 * s.radius);
    let mut xi_p = xi;
    let mut eta_p = eta;
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
    let lambda = central_meridian(zone) + eta_p.sinh().atan2(xi_p.cos());
    (lambda.to_degrees(), phi.to_degrees())
}

#[cfg(test)]
mod tests {
    use super::*;

    const Z33: Zone = Zone {
        number: 33,
        south: false,
    };

    /// On the central meridian the northing is `k₀` times the meridian arc; the arc from the
    /// equator to 48° N, integrated numerically from `M(φ)` (Simpson, 200 000 steps), is
    /// 5 318 427.595 m, so N = 5 316 300.224 m.
    #[test]
    fn the_central_meridian_is_scaled_meridian_arc() {
        let (e, n) = to_utm(Z33, 15.0, 48.0);
        assert!((e - 500_000.0).abs() < 1e-6, "{e}");
        assert!((n - 5_316_300.224).abs() < 0.001, "{n}");
        let (e, n) = to_utm(
            Zone {
                number: 56,
                south: true,
            },
            153.0,
            -33.8,
        );
        assert!((e - 500_000.0).abs() < 1e-6);
        assert!((n - (10_000_000.0 - 3_739_980.735)).abs() < 0.001, "{n}");
    }

    #[test]
    fn utm_round_trips_across_a_zone() {
        for &(lon, lat) in &[(16.37, 48.21), (12.1, 47.0), (17.9, 60.0), (15.0, 0.5)] {
            let (e, n) = to_utm(Z33, lon, lat);
            let (lo, la) = from_utm(Z33, e, n);
            // 1e-8° is about a millimetre: the series stop at n³.
            assert!(
                (lo - lon).abs() < 1e-8 && (la - lat).abs() < 1e-8,
                "{lon},{lat} → {lo},{la}"
            );
        }
        let mga56 = zone_of_epsg(7856).expect("zone");
        assert_eq!(
            mga56,
            Zone {
                number: 56,
                south: true
            }
        );
        let (e, n) = to_utm(mga56, 151.2, -33.87);
        let (lo, la) = from_utm(mga56, e, n);
        assert!((lo - 151.2).abs() < 1e-8 && (la + 33.87).abs() < 1e-8);
    }

    #[test]
    fn epsg_codes_name_their_zones() {
        assert_eq!(
            zone_of_epsg(32633),
            Some(Zone {
                number: 33,
                south: false
            })
        );
        assert_eq!(
            zone_of_epsg(32756),
            Some(Zone {
                number: 56,
                south: true
            })
        );
        assert_eq!(
            zone_of_epsg(25832),
            Some(Zone {
                number: 32,
                south: false
            })
        );
        assert_eq!(
            zone_of_epsg(28356),
            Some(Zone {
                number: 56,
                south: true
            })
        );
        assert_eq!(
            zone_of_epsg(3065),
            Some(Zone {
                number: 33,
                south: false
            })
        );
        assert_eq!(zone_of_epsg(28992), None);
    }
}
