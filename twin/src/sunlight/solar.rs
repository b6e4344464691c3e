//! The sun's position: declination and equation of time from the NOAA Global Monitoring
//! Division's "General Solar Position Calculations" (fractional-year Fourier series after
//! Spencer, 1971; about 0.03° in declination and 1 minute in time), the horizontal position
//! from the standard spherical-astronomy relations, and the dates of the solar terms 冬至 and
//! 大寒 from the apparent ecliptic longitude of the sun (the Astronomical Almanac's
//! low-precision formula, about 0.01°, i.e. some 15 minutes in the time of a term).

use std::f64::consts::PI;

pub use crate::manifest::sunlight::StandardDay;

/// The sun seen from a place: azimuth clockwise from true north and elevation above the
/// horizon, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SunPosition {
    /// 0 = north, 90 = east, 180 = south, 270 = west.
    pub azimuth: f64,
    /// Above the horizon when positive.
    pub elevation: f64,
}

impl SunPosition {
    /// The unit vector towards the sun in a local east-north-up frame.
    pub fn direction_enu(&self) -> [f64; 3] {
        let (az, el) = (self.azimuth.to_radians(), self.elevation.to_radians());
        [az.sin() * el.cos(), az.cos() * el.cos(), el.sin()]
    }
}

/// Whether `year` is a Gregorian leap year.
pub fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The day of the year, 1 for 1 January.
pub fn day_of_year(year: i32, month: u32, day: u32) -> u32 {
    const BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let m = month.clamp(1, 12) as usize;
    BEFORE[m - 1] + day + u32::from(m > 2 && is_leap(year))
}

/// NOAA's fractional year γ in radians at `hour` (UTC) of day `doy`.
fn fractional_year(year: i32, doy: u32, hour: f64) -> f64 {
    let days = if is_leap(year) { 366.0 } else { 365.0 };
    2.0 * PI / days * (f64::from(doy) - 1.0 + (hour - 12.0) / 24.0)
}

/// The sun's declination in degrees at `hour` (UTC) of day `doy` of `year` (NOAA).
pub fn declination(year: i32, doy: u32, hour: f64) -> f64 {
    let g = fractional_year(year, doy, hour);
    let d = 0.006918 - 0.399912 * g.cos() + 0.070257 * g.sin() - 0.006758 * (2.0 * g).cos() + 0.000907 * (2.0 * g).sin()
        - 0.002697 * (3.0 * g).cos()
        + 0.00148 * (3.0 * g).sin();
    d.to_degrees()
}

/// The equation of time in minutes (true solar time − mean solar time) (NOAA).
pub fn equation_of_time(year: i32, doy: u32, hour: f64) -> f64 {
    let g = fractional_year(year, doy, hour);
    229.18 * (0.000075 + 0.001868 * g.cos() - 0.032077 * g.sin() - 0.014615 * (2.0 * g).cos() - 0.040849 * (2.0 * g).sin())
}

/// The sun at `latitude` (degrees north) when the sun's declination is `declination` and the
/// local true (apparent) solar time is `solar_hours` (12 = the sun's transit).
pub fn position_at_solar_time(latitude: f64, declination: f64, solar_hours: f64) -> SunPosition {
    let (phi, delta) = (latitude.to_radians(), declination.to_radians());
    let h = (15.0 * (solar_hours - 12.0)).to_radians();
    let sin_el = phi.sin() * delta.sin() + phi.cos() * delta.cos() * h.cos();
    let elevation = sin_el.clamp(-1.0, 1.0).asin().to_degrees();
    // Azimuth from south, positive westward, then turned to "from north, clockwise".
    let from_south = h.sin().atan2(h.cos() * phi.sin() - delta.tan() * phi.cos());
    let azimuth = (from_south.to_degrees() + 180.0).rem_euclid(360.0);
    SunPosition { azimuth, elevation }
}

/// The sun at (`latitude`, `longitude`) (degrees, east positive) at `utc_hours` of the date.
pub fn position_utc(latitude: f64, longitude: f64, year: i32, month: u32, day: u32, utc_hours: f64) -> SunPosition {
    let doy = day_of_year(year, month, day);
    let solar = utc_hours + longitude / 15.0 + equation_of_time(year, doy, utc_hours) / 60.0;
    position_at_solar_time(latitude, declination(year, doy, utc_hours), solar)
}

/// Julian day number of 0h UTC on a Gregorian date (Meeus, Astronomical Algorithms, ch. 7).
pub fn julian_day(year: i32, month: u32, day: u32) -> f64 {
    let (y, m) = if month <= 2 { (year - 1, month + 12) } else { (year, month) };
    let a = (f64::from(y) / 100.0).floor();
    let b = 2.0 - a + (a / 4.0).floor();
    (365.25 * (f64::from(y) + 4716.0)).floor() + (30.6001 * (f64::from(m) + 1.0)).floor() + f64::from(day) + b - 1524.5
}

/// The sun's apparent ecliptic longitude in degrees at Julian day `jd` (Astronomical Almanac,
/// "Low precision formulas for the Sun").
pub fn ecliptic_longitude(jd: f64) -> f64 {
    let n = jd - 2_451_545.0;
    let l = 280.460 + 0.985_647_4 * n;
    let g = (357.528 + 0.985_600_3 * n).to_radians();
    (l + 1.915 * g.sin() + 0.020 * (2.0 * g).sin()).rem_euclid(360.0)
}

/// The civil date (China Standard Time, UTC+8, as the calendar of the terms is kept) on which
/// the term falls in `year`: 大寒 in January, 冬至 in December.
pub fn term_date(term: StandardDay, year: i32) -> (i32, u32, u32) {
    let month = match term {
        StandardDay::Dahan => 1,
        StandardDay::Dongzhi => 12,
    };
    let target = term.longitude();
    // Longitude relative to the target, in (−180, 180]: negative before the term.
    let rel = |jd: f64| (ecliptic_longitude(jd) - target + 180.0).rem_euclid(360.0) - 180.0;
    for day in 10..=31 {
        // The day in CST runs from 16:00 UTC the day before to 16:00 UTC.
        let start = julian_day(year, month, day) - 8.0 / 24.0;
        if rel(start) < 0.0 && rel(start + 1.0) >= 0.0 {
            return (year, month, day);
        }
    }
    // The terms always fall in the window above; a date far outside the formula's range
    // would not, and the usual date stands in.
    (year, month, if month == 1 { 20 } else { 21 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noon_elevation_is_ninety_minus_latitude_plus_declination() {
        // Hand-computed: at transit the elevation is 90° − φ + δ. Beijing (39.9°N) on the
        // December solstice (δ = −23.44°): 26.66°, due south.
        let noon = position_at_solar_time(39.9, -23.44, 12.0);
        assert!((noon.elevation - 26.66).abs() < 1e-6, "{noon:?}");
        assert!((noon.azimuth - 180.0).abs() < 1e-9);
        // At the equinox (δ = 0) the sun rises due east at 6:00 and sets due west at 18:00.
        let rise = position_at_solar_time(39.9, 0.0, 6.0);
        assert!(rise.elevation.abs() < 1e-9 && (rise.azimuth - 90.0).abs() < 1e-9, "{rise:?}");
        let set = position_at_solar_time(39.9, 0.0, 18.0);
        assert!((set.azimuth - 270.0).abs() < 1e-9);
        // Morning sun is east of south, afternoon sun west of it, symmetric about noon.
        let (am, pm) = (position_at_solar_time(39.9, -20.0, 9.0), position_at_solar_time(39.9, -20.0, 15.0));
        assert!((am.elevation - pm.elevation).abs() < 1e-9 && (am.azimuth + pm.azimuth - 360.0).abs() < 1e-9);
    }

    #[test]
    fn declination_and_equation_of_time_match_the_almanac_within_the_formulas_accuracy() {
        // Astronomical Almanac values (0h TT): 2025-12-21 δ = −23.43°; 2025-06-21 δ = +23.43°;
        // 2025-03-20 about 0°; the equation of time is about +16.4 min in early November and
        // about −14.2 min in mid-February.
        assert!((declination(2025, day_of_year(2025, 12, 21), 0.0) + 23.43).abs() < 0.15);
        assert!((declination(2025, day_of_year(2025, 6, 21), 0.0) - 23.43).abs() < 0.15);
        assert!(declination(2025, day_of_year(2025, 3, 20), 12.0).abs() < 0.5);
        assert!((equation_of_time(2025, day_of_year(2025, 11, 3), 12.0) - 16.4).abs() < 0.5);
        assert!((equation_of_time(2025, day_of_year(2025, 2, 11), 12.0) + 14.2).abs() < 0.5);
    }

    #[test]
    fn the_solar_terms_fall_on_their_published_dates() {
        // China's published calendar (Purple Mountain Observatory): 冬至 2023-12-22 (11:27 CST),
        // 2024-12-21, 2025-12-21 (23:03 CST); 大寒 2024-01-20, 2025-01-20, 2026-01-20.
        assert_eq!(term_date(StandardDay::Dongzhi, 2023), (2023, 12, 22));
        assert_eq!(term_date(StandardDay::Dongzhi, 2024), (2024, 12, 21));
        assert_eq!(term_date(StandardDay::Dongzhi, 2025), (2025, 12, 21));
        assert_eq!(term_date(StandardDay::Dahan, 2024), (2024, 1, 20));
        assert_eq!(term_date(StandardDay::Dahan, 2025), (2025, 1, 20));
        assert_eq!(term_date(StandardDay::Dahan, 2026), (2026, 1, 20));
    }

    #[test]
    fn the_sun_over_beijing_at_civil_noon_on_the_solstice() {
        // 2025-12-21 04:00 UTC (12:00 CST) at 39.9°N 116.4°E: true solar time 11:45.7 + EoT
        // (+1.9 min) ≈ 11:47.5, so the sun is just east of south, elevation ≈ 26.6°.
        let p = position_utc(39.9, 116.4, 2025, 12, 21, 4.0);
        assert!((p.elevation - 26.6).abs() < 0.3, "{p:?}");
        assert!(p.azimuth > 175.0 && p.azimuth < 180.0, "{p:?}");
    }
}
