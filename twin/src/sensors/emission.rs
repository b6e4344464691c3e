//! The physics of the simulated sensors, in f64, as pure functions.
//!
//! Noise: each working task is a point source of A-weighted sound power `Lw` on the ground,
//! radiating into a half space, so the level at distance `r` is
//! `Lp = Lw − 20·log10(r) − 8` dB(A) (hemispherical spreading; no barrier, ground or air
//! absorption terms). Levels from several sources and the background add energetically:
//! `L = 10·log10(Σ 10^(Li/10))`.
//!
//! Dust: each working task is a ground-level PM10 source of `Q` g/s, dispersed as a Gaussian
//! plume with ground reflection for a ground-level receptor:
//! `C = Q·10⁶ / (π·σy·σz·u) · exp(−y² / (2σy²))` µg/m³ for a receptor `x` metres downwind
//! and `y` metres crosswind (zero upwind), with Briggs' open-country neutral (class D)
//! dispersion `σy = 0.08x / √(1 + 0.0001x)`, `σz = 0.06x / √(1 + 0.0015x)`, widened by the
//! initial spread of a construction site (`σy0 = 10 m`, `σz0 = 5 m`, assumed) as
//! `σ = √(σ0² + σ(x)²)`, and wind speed `u` at least 0.5 m/s.
//!
//! Weather and jitter come from a counter-based hash of (seed, stream, day, hour), so any day
//! can be computed on its own, in any order, with the same result.

use serde::{Deserialize, Serialize};

use super::config::WeatherConfig;

/// Initial crosswind spread of a site's dust, metres (assumed).
pub const SIGMA_Y0_M: f64 = 10.0;
/// Initial vertical spread of a site's dust, metres (assumed).
pub const SIGMA_Z0_M: f64 = 5.0;

/// Attenuation by hemispherical spreading at `r` metres: `20·log10(r) + 8` dB.
pub fn hemispherical_spreading_db(r: f64) -> f64 {
    20.0 * r.log10() + 8.0
}

/// Level of a point source of sound power `lw` at distance `r` (at least `min_r`), dB(A).
pub fn level_at(lw: f64, r: f64, min_r: f64) -> f64 {
    lw - hemispherical_spreading_db(r.max(min_r))
}

/// Energetic sum of levels, dB; `-∞` for none.
pub fn energetic_sum(levels: impl IntoIterator<Item = f64>) -> f64 {
    let sum: f64 = levels.into_iter().map(|l| 10f64.powf(l / 10.0)).sum();
    if sum > 0.0 { 10.0 * sum.log10() } else { f64::NEG_INFINITY }
}

/// Ground-level PM10 concentration, µg/m³, at `receiver` from a ground-level source of `q_gs`
/// g/s at `source`, under wind blowing from `wind_from_deg` (clockwise from north) at
/// `speed_ms`.
pub fn plume_ugm3(q_gs: f64, source: [f64; 2], receiver: [f64; 2], wind_from_deg: f64, speed_ms: f64) -> f64 {
    let to = (wind_from_deg + 180.0).to_radians();
    let (ux, uy) = (to.sin(), to.cos());
    let (dx, dy) = (receiver[0] - source[0], receiver[1] - source[1]);
    let x = dx * ux + dy * uy;
    let y = -dx * uy + dy * ux;
    if x <= 0.0 || q_gs <= 0.0 {
        return 0.0;
    }
    let sy = (SIGMA_Y0_M.powi(2) + (0.08 * x / (1.0 + 0.0001 * x).sqrt()).powi(2)).sqrt();
    let sz = (SIGMA_Z0_M.powi(2) + (0.06 * x / (1.0 + 0.0015 * x).sqrt()).powi(2)).sqrt();
    let u = speed_ms.max(0.5);
    q_gs * 1e6 / (std::f64::consts::PI * sy * sz * u) * (-(y * y) / (2.0 * sy * sy)).exp()
}

/// A uniform number in `[0, 1)` from (seed, stream, day, hour): SplitMix64 over the mixed key.
pub fn unit(seed: u64, stream: u64, day: i32, hour: u32) -> f64 {
    let mut z = seed
        ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (i64::from(day) as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9)
        ^ u64::from(hour).wrapping_mul(0x94d0_49bb_1331_11eb);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// One day's weather.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DayWeather {
    /// Direction the wind blows from, degrees clockwise from north.
    pub wind_from_deg: f64,
    /// Wind speed, m/s.
    pub wind_speed_ms: f64,
    /// Whether it rains.
    pub rain: bool,
}

/// Stream ids of the hash, one per use.
const WIND_DIR: u64 = 1;
const WIND_SPEED: u64 = 2;
const RAIN: u64 = 3;

/// The weather of `day`: a pure function of the seed, the day and the configuration.
pub fn weather_on(seed: u64, day: i32, w: &WeatherConfig) -> DayWeather {
    let dir = w.wind_from_deg + w.wind_spread_deg * (2.0 * unit(seed, WIND_DIR, day, 0) - 1.0);
    DayWeather {
        wind_from_deg: dir.rem_euclid(360.0),
        wind_speed_ms: w.wind_speed_ms * (0.5 + unit(seed, WIND_SPEED, day, 0)),
        rain: unit(seed, RAIN, day, 0) < w.rain_probability,
    }
}

/// Whether local `hour` is inside `working_hours`.
pub fn working(working_hours: &[[u32; 2]], hour: u32) -> bool {
    working_hours.iter().any(|[s, e]| (*s..*e).contains(&hour))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_equal_sources_add_three_decibels() {
        assert!((energetic_sum([60.0, 60.0]) - 63.0103).abs() < 1e-3);
    }

    #[test]
    fn a_receiver_upwind_of_the_dust_gets_none() {
        // Wind from the north blows south: a receiver north of the source is upwind.
        assert_eq!(plume_ugm3(1.0, [0.0, 0.0], [0.0, 50.0], 0.0, 2.0), 0.0);
        assert!(plume_ugm3(1.0, [0.0, 0.0], [0.0, -50.0], 0.0, 2.0) > 0.0);
    }

    #[test]
    fn the_hash_is_uniform_enough_and_repeatable() {
        let mean = (0..10_000).map(|d| unit(7, 1, d, 0)).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        assert_eq!(unit(7, 1, 42, 3), unit(7, 1, 42, 3));
    }
}
