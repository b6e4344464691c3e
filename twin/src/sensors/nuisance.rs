//! Predicted nuisance: before works start, for each scenario and each working-hours option,
//! the expected number of days on which some working hour's noise at each building exceeds the
//! limit of its period, and the number of such hours, so residents can compare options. The
//! tasks keep their planned days under every option (longer hours do not shorten the works).
//!
//! The receiver is the building's façade nearest each source (the distance from the source to
//! the building's footprint, at least `min_distance_m`); the level is the background of the
//! hour plus every noisy task at work that day ([`super::emission`]), without the jitter of the
//! simulated sensors (an expected value). The limits are the site-boundary limits of
//! GB 12523-2011 applied at the façade.

use serde::Serialize;

use super::emission::{energetic_sum, level_at, working};
use super::simulate::SensorSetup;
use crate::renewal::plan::Plan;
use crate::site::works::ActiveWork;
use crate::site::{Rect, Site};

/// Days above the limit at one building.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildingNuisance {
    /// Dense building index.
    pub building: usize,
    /// Name.
    pub name: String,
    /// Households living there.
    pub households: f64,
    /// Days with at least one working hour above the limit.
    pub days_above_limit: u32,
    /// Working hours above the limit, over all days.
    pub hours_above_limit: u32,
}

/// One working-hours option.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NuisanceOption {
    /// Name.
    pub name: String,
    /// `[start, end)` local hours.
    pub working_hours: Vec<[u32; 2]>,
    /// Per building.
    pub buildings: Vec<BuildingNuisance>,
    /// Σ households × days above the limit.
    pub household_days: f64,
    /// Σ households × hours above the limit.
    pub household_hours: f64,
}

/// The level of the noisy `active` works at the façade of a building with footprint `rect`,
/// dB(A): each source's sound power propagated to the nearest point of the footprint (at least
/// `min_distance_m` away), summed energetically; −∞ when nothing noisy is at work. The one
/// noise function of the façade predictions (this module and the noise colour layer).
pub fn works_level_at_facade(setup: &SensorSetup, rect: &Rect, active: &[ActiveWork]) -> f64 {
    energetic_sum(active.iter().filter(|a| a.noisy).flat_map(|a| {
        let lw = setup.config.emission.of(a.action).map_or(f64::NEG_INFINITY, |e| e.sound_power_dba);
        a.positions.iter().map(move |q| level_at(lw, rect.distance_to(*q), setup.config.min_distance_m))
    }))
}

/// The predicted nuisance of `plan` for every configured working-hours option.
pub fn predicted_nuisance(setup: &SensorSetup, site: &Site, plan: &Plan) -> Vec<NuisanceOption> {
    let options = &setup.config.nuisance_options;
    let limits = &setup.config.limits;
    let mut days = vec![vec![(0u32, 0u32); site.homes.len()]; options.len()];
    for day in 0..plan.end.max(0) {
        let active = setup.works.active_on(plan, day);
        if !active.iter().any(|a| a.noisy) {
            continue;
        }
        for (b, home) in site.homes.iter().enumerate() {
            let works = works_level_at_facade(setup, &home.rect, &active);
            for (o, option) in options.iter().enumerate() {
                let hours = (0..24)
                    .filter(|h| working(&option.working_hours, *h))
                    .filter(|&h| {
                        let limit = if setup.is_day(h) { limits.noise_day_dba } else { limits.noise_night_dba };
                        energetic_sum([setup.background_noise(h), works]) > limit
                    })
                    .count() as u32;
                if hours > 0 {
                    days[o][b].0 += 1;
                    days[o][b].1 += hours;
                }
            }
        }
    }
    options
        .iter()
        .zip(days)
        .map(|(option, days)| {
            let buildings: Vec<BuildingNuisance> = site
                .homes
                .iter()
                .zip(days)
                .map(|(h, (d, hours))| BuildingNuisance {
                    building: h.building,
                    name: h.name.clone(),
                    households: h.households,
                    days_above_limit: d,
                    hours_above_limit: hours,
                })
                .collect();
            NuisanceOption {
                name: option.name.clone(),
                working_hours: option.working_hours.clone(),
                household_days: buildings.iter().map(|b| b.households * f64::from(b.days_above_limit)).sum(),
                household_hours: buildings.iter().map(|b| b.households * f64::from(b.hours_above_limit)).sum(),
                buildings,
            }
        })
        .collect()
}
