//! Colour layers: a category per element with a bilingual legend, for the viewer's layer
//! switch (`GET /api/viewer/layer`) and `renewtwin render --colour`. Each is a pure function
//! of the model, the plan and the day:
//!
//! - [`phase_layer`]: the phase of the project whose tasks select the element;
//! - [`risk_layer`]: the building's JGJ 125 inspection grade, a pipe's surveyed condition, or
//!   protected heritage;
//! - [`noise_layer`]: predicted construction noise at each building's façade, banded at the
//!   GB 12523-2011 limits of the scene's `[sensors.limits]`;
//! - [`sunlight_layer`]: each window's hours of sun on the standard day against the scene's
//!   `[sunlight]` rule (GB 50180-2018 §4.0.9), and those the plan takes below it;
//! - [`disruption_layer`]: each residential building's disruption on the day: elderly or
//!   disabled residents losing their accessible route, works at home, trips detoured.

use std::borrow::Cow;

use renewtwin_importers::{Model, SpatialKind};
use renewtwin_protocol::{PhaseKind, PhaseStatus};
use serde::Serialize;

use crate::manifest::Manifest;
use crate::renewal::plan::{Plan, buildings_of_elements, selects};
use crate::sensors::emission::{energetic_sum, working};
use crate::sensors::nuisance;
use crate::sensors::simulate::SensorSetup;
use crate::site::Home;
use crate::site::works::ActiveWork;

/// The category of an element a layer says nothing about.
pub const NO_VALUE: u8 = 255;

/// One category of a colour layer, with its bilingual label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegendEntry {
    /// Stable key.
    pub key: &'static str,
    /// Chinese label.
    pub zh: Cow<'static, str>,
    /// English label.
    pub en: Cow<'static, str>,
    /// Display colour (sRGB).
    pub rgb: [u8; 3],
}

/// The colour layers there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerName {
    /// Each element's project phase.
    Phase,
    /// Structural risk and heritage.
    Risk,
    /// Predicted construction noise per building.
    Noise,
    /// Hours of sun on each window on the standard day (GB 50180-2018).
    Sunlight,
    /// Who the works disrupt on the day, vulnerable residents first (population model).
    Disruption,
}

impl LayerName {
    /// Every layer.
    pub const ALL: [LayerName; 5] =
        [LayerName::Phase, LayerName::Risk, LayerName::Noise, LayerName::Sunlight, LayerName::Disruption];

    /// The layer's key (`phase`, `risk`, `noise`, `sunlight`, `disruption`).
    pub fn key(self) -> &'static str {
        match self {
            LayerName::Phase => "phase",
            LayerName::Risk => "risk",
            LayerName::Noise => "noise",
            LayerName::Sunlight => "sunlight",
            LayerName::Disruption => "disruption",
        }
    }

    /// The layer with `key`.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.key() == key)
    }
}

/// A colour layer: a category per element and the legend; the viewer's layers and
/// `renewtwin render --colour` draw the same ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColourLayer {
    /// Which layer.
    pub name: LayerName,
    /// Simulated day it is for.
    pub day: i32,
    /// The categories.
    pub legend: Vec<LegendEntry>,
    /// Index into `legend` per element; [`NO_VALUE`] where the layer says nothing.
    pub values: Vec<u8>,
}

const PHASE_RGB: [[u8; 3]; 7] =
    [[120, 144, 156], [121, 134, 203], [255, 202, 40], [171, 71, 188], [239, 108, 0], [38, 166, 154], [102, 187, 106]];

/// Each element's project phase that is active (or blocked) on `day`; the first project whose
/// tasks select the element counts.
pub fn phase_layer(manifest: &Manifest, model: &Model, plan: &Plan, day: i32) -> ColourLayer {
    let scenario = plan.scenario.as_deref().and_then(|s| manifest.scenario(s));
    let tasks = manifest.tasks_for(scenario);
    let mut project_of = vec![None; model.elements.len()];
    for (project, task) in &tasks {
        for (i, slot) in project_of.iter_mut().enumerate() {
            if slot.is_none() && selects(&task.select, model, i) {
                *slot = Some(*project);
            }
        }
    }
    let current = |project: usize| {
        plan.phases
            .iter()
            .filter(|w| w.project == project)
            .find(|w| matches!(w.status_on(day), PhaseStatus::Active | PhaseStatus::Blocked))
            .map(|w| w.kind)
    };
    let values = project_of
        .iter()
        .map(|p| {
            p.and_then(current)
                .and_then(|k| PhaseKind::ALL.iter().position(|x| *x == k))
                .map_or(NO_VALUE, |i| i as u8)
        })
        .collect();
    let legend = PhaseKind::ALL
        .iter()
        .zip(PHASE_RGB)
        .map(|(k, rgb)| LegendEntry { key: k.key(), zh: k.label_zh().into(), en: k.label_en().into(), rgb })
        .collect();
    ColourLayer { name: LayerName::Phase, day, legend, values }
}

/// Structural risk on `day` of `plan`: the JGJ 125 inspection grade (A–D) of the element's
/// building (`RenewTwin_Building.InspectionGrade`, or the grade a finished retrofit task declares
/// in `improves`), a pipe's surveyed condition (`RenewTwin_Survey.Condition`: good, fair, poor,
/// critical on the same four steps; a pipe the plan has laid or relined by `day` counts as good),
/// and protected heritage. Elements that do not stand on `day` (not yet built, demolished,
/// removed) have no value.
pub fn risk_layer(model: &Model, plan: &Plan, day: i32) -> ColourLayer {
    let legend = vec![
        LegendEntry { key: "a", zh: "A 级 安全".into(), en: "Grade A, safe".into(), rgb: [67, 160, 71] },
        LegendEntry { key: "b", zh: "B 级 基本安全".into(), en: "Grade B, mostly safe".into(), rgb: [192, 202, 51] },
        LegendEntry { key: "c", zh: "C 级 局部危险".into(), en: "Grade C, partly unsafe".into(), rgb: [251, 140, 0] },
        LegendEntry { key: "d", zh: "D 级 危险".into(), en: "Grade D, unsafe".into(), rgb: [211, 47, 47] },
        LegendEntry { key: "heritage", zh: "文物保护".into(), en: "Protected heritage".into(), rgb: [142, 36, 170] },
    ];
    let grade_index = |text: &str| match text.trim().to_ascii_uppercase().chars().next() {
        Some('A') => Some(0u8),
        Some('B') => Some(1),
        Some('C') => Some(2),
        Some('D') => Some(3),
        _ => None,
    };
    let text_of = |v: &renewtwin_importers::PropertyValue| match v {
        renewtwin_importers::PropertyValue::Text(s) | renewtwin_importers::PropertyValue::Other(s) => Some(s.clone()),
        _ => None,
    };
    let buildings = buildings_of_elements(model);
    let building_nodes: Vec<usize> =
        model.spatial.iter().enumerate().filter(|(_, n)| n.kind == SpatialKind::Building).map(|(i, _)| i).collect();
    let mut building_grade: Vec<Option<u8>> = building_nodes
        .iter()
        .map(|&n| model.spatial[n].property("RenewTwin_Building", "InspectionGrade").and_then(text_of).and_then(|g| grade_index(&g)))
        .collect();
    let mut improved: Vec<(i32, usize, &str)> = plan
        .tasks
        .iter()
        .filter_map(|t| t.improves.as_ref().and_then(|i| i.inspection_grade.as_deref()).map(|g| (t, g)))
        .flat_map(|(t, g)| t.building_ends.iter().filter(|(_, end)| **end <= day).map(move |(b, end)| (*end, *b, g)))
        .collect();
    improved.sort_unstable();
    for (_, b, g) in improved {
        if let Some(slot) = building_grade.get_mut(b) {
            *slot = grade_index(g);
        }
    }
    use renewtwin_protocol::LifecycleState as S;
    let state = |i: usize| plan.schedules.get(i).map_or(S::Existing, |s| s.state_on(day));
    let laid = |i: usize| {
        plan.schedules.get(i).is_some_and(|s| s.0.iter().any(|st| matches!(st.action, crate::manifest::Action::New | crate::manifest::Action::Retrofit) && st.end <= day))
    };
    let values = model
        .elements
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let pset = |set: &str, name: &str| {
                e.property_sets.iter().find(|p| p.name == set).and_then(|p| p.get(name)).and_then(text_of)
            };
            if matches!(state(i), S::Planned | S::Demolished | S::Removed | S::Absent) {
                return NO_VALUE;
            }
            if e.property_sets.iter().any(|p| p.name == "RenewTwin_Heritage") {
                return 4;
            }
            if e.class.starts_with("IfcPipe") && laid(i) {
                return 0;
            }
            if let Some(condition) = pset("RenewTwin_Survey", "Condition") {
                // Survey conditions: GOOD, FAIR, POOR, CRITICAL (PLANNED for new pipes).
                return match condition.to_ascii_uppercase().as_str() {
                    "GOOD" => 0,
                    "FAIR" => 1,
                    "POOR" => 2,
                    "CRITICAL" => 3,
                    _ => NO_VALUE,
                };
            }
            buildings[i].and_then(|b| building_grade.get(b).copied().flatten()).unwrap_or(NO_VALUE)
        })
        .collect();
    ColourLayer { name: LayerName::Risk, day, legend, values }
}

/// The loudest predicted working-hour level at the building's nearest façade on a day with
/// `active` works, dB(A): the hour's background plus the works
/// ([`nuisance::works_level_at_facade`], the expected value the nuisance prediction uses,
/// without the simulated sensors' jitter). `None` when the day has no working hours.
fn predicted_noise(setup: &SensorSetup, home: &Home, active: &[ActiveWork]) -> Option<f64> {
    let works = nuisance::works_level_at_facade(setup, &home.rect, active);
    (0..24)
        .filter(|h| working(&setup.config.working_hours, *h))
        .map(|h| energetic_sum([setup.background_noise(h), works]))
        .reduce(f64::max)
}

/// Noise bands with the legal limits as edges: below the night limit, up to 5 dB(A) under the
/// day limit, within 5 dB(A) of it, above it.
fn noise_band(level: f64, night_limit: f64, day_limit: f64) -> u8 {
    if level >= day_limit {
        3
    } else if level >= day_limit - 5.0 {
        2
    } else if level >= night_limit {
        1
    } else {
        0
    }
}

/// Predicted construction noise at each building on `day` (sensors module, GB 12523-2011
/// limits), for every element of the building; elements outside buildings have no value.
pub fn noise_layer(setup: &SensorSetup, homes: &[Home], plan: &Plan, day: i32, elements: usize) -> ColourLayer {
    let limits = &setup.config.limits;
    let (night, day_limit) = (limits.noise_night_dba, limits.noise_day_dba);
    let legend = vec![
        LegendEntry {
            key: "quiet",
            zh: format!("低于夜间限值 {night:.0} dB(A)").into(),
            en: format!("below the night limit, {night:.0} dB(A)").into(),
            rgb: [102, 187, 106],
        },
        LegendEntry {
            key: "moderate",
            zh: format!("中等 {night:.0}–{:.0} dB(A)", day_limit - 5.0).into(),
            en: format!("moderate, {night:.0}–{:.0} dB(A)", day_limit - 5.0).into(),
            rgb: [255, 213, 79],
        },
        LegendEntry {
            key: "near_limit",
            zh: format!("接近昼间限值 {:.0}–{day_limit:.0} dB(A)", day_limit - 5.0).into(),
            en: format!("near the day limit, {:.0}–{day_limit:.0} dB(A)", day_limit - 5.0).into(),
            rgb: [251, 140, 0],
        },
        LegendEntry {
            key: "above_limit",
            zh: format!("超过昼间限值 {day_limit:.0} dB(A)").into(),
            en: format!("above the day limit, {day_limit:.0} dB(A)").into(),
            rgb: [211, 47, 47],
        },
    ];
    let active = setup.works.active_on(plan, day);
    let mut values = vec![NO_VALUE; elements];
    for home in homes {
        let Some(level) = predicted_noise(setup, home, &active) else { continue };
        let band = noise_band(level, night, day_limit);
        for &e in &home.elements {
            if let Some(v) = values.get_mut(e as usize) {
                *v = band;
            }
        }
    }
    ColourLayer { name: LayerName::Noise, day, legend, values }
}

/// Each residential building's disruption on `day` of `plan` (the population model: works on
/// the building, trips detoured or their destination closed, and elderly or disabled residents
/// losing their accessible route, `population.accessible_walk_m`, GB 50180-2018 Table 4.0.1),
/// for every element of the building; elements outside buildings have no value.
pub fn disruption_layer(population: &crate::population::PopulationModel, plan: &Plan, day: i32, elements: usize) -> ColourLayer {
    use crate::population::HomeDisruption;
    let walk = population.accessible_walk_m;
    let legend = vec![
        LegendEntry {
            key: "undisrupted",
            zh: "未受影响".into(),
            en: "not disrupted".into(),
            rgb: [102, 187, 106],
        },
        LegendEntry {
            key: "trips",
            zh: "出行绕行或目的地关闭".into(),
            en: "trips detoured or destination closed".into(),
            rgb: [255, 213, 79],
        },
        LegendEntry {
            key: "works_at_home",
            zh: "本楼施工 出入受限".into(),
            en: "works on the building, entrance restricted".into(),
            rgb: [251, 140, 0],
        },
        LegendEntry {
            key: "accessible_route_lost",
            zh: format!("老年/残障居民失去无障碍路线（{walk:.0} 米步行）").into(),
            en: format!("elderly/disabled residents lose their accessible route ({walk:.0} m walk)").into(),
            rgb: [211, 47, 47],
        },
    ];
    let mut values = vec![NO_VALUE; elements];
    for (home, state) in population.homes.iter().zip(population.homes_on(plan, day)) {
        let band = match state {
            HomeDisruption::Undisrupted => 0,
            HomeDisruption::Trips => 1,
            HomeDisruption::WorksAtHome => 2,
            HomeDisruption::AccessibleRouteLost => 3,
        };
        for &e in &home.elements {
            if let Some(v) = values.get_mut(e as usize) {
                *v = band;
            }
        }
    }
    ColourLayer { name: LayerName::Disruption, day, legend, values }
}

/// Each window's sun on the standard day with the elements standing on `day`: meets the rule,
/// below it, or below it now though it met it before the works (`before`, the same windows'
/// hours in the district as surveyed). Other elements: [`NO_VALUE`].
pub fn sunlight_layer(
    elements: usize,
    rule: &crate::manifest::sunlight::SunlightRule,
    now: &[crate::sunlight::WindowSun],
    before: &[crate::sunlight::WindowSun],
    day: i32,
) -> ColourLayer {
    let h = format!("{}", rule.min_hours);
    // ColorBrewer RdYlBu, safe for colour-blind viewers: the same three colours as the risk
    // layer's safe palette, whose pairs the browser test checks.
    let legend = vec![
        LegendEntry { key: "meets", zh: format!("满足日照标准（≥{h} 小时）").into(), en: format!("Meets the sunlight standard (≥ {h} h)").into(), rgb: [44, 123, 182] },
        LegendEntry { key: "below", zh: format!("低于日照标准（<{h} 小时）").into(), en: format!("Below the standard (< {h} h)").into(), rgb: [253, 174, 97] },
        LegendEntry { key: "taken_below", zh: "改造后低于标准（原满足）".into(), en: "Taken below the standard by the works".into(), rgb: [215, 25, 28] },
    ];
    let meets = |hours: f64| hours + 1e-9 >= rule.min_hours;
    let met_before: std::collections::HashSet<usize> = before.iter().filter(|w| meets(w.hours)).map(|w| w.element).collect();
    let mut values = vec![NO_VALUE; elements];
    for w in now {
        if let Some(v) = values.get_mut(w.element) {
            *v = if meets(w.hours) {
                0
            } else if met_before.contains(&w.element) {
                2
            } else {
                1
            };
        }
    }
    ColourLayer { name: LayerName::Sunlight, day, legend, values }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::Rect;

    #[test]
    fn noise_bands_have_the_legal_limits_as_edges() {
        assert_eq!(noise_band(54.9, 55.0, 70.0), 0);
        assert_eq!(noise_band(55.0, 55.0, 70.0), 1);
        assert_eq!(noise_band(64.9, 55.0, 70.0), 1);
        assert_eq!(noise_band(65.0, 55.0, 70.0), 2);
        assert_eq!(noise_band(70.0, 55.0, 70.0), 3);
    }

    fn home(x: f64) -> Home {
        Home {
            building: 0,
            global_id: "b".into(),
            name: "b".into(),
            rect: Rect { min: [x, 0.0], max: [x + 10.0, 10.0] },
            households: 1.0,
            residents: 2.0,
            year: None,
            structure: None,
            grade: None,
            defects: None,
            elements: vec![],
            vulnerable: None,
        }
    }

    #[test]
    fn buildings_near_noisy_work_are_louder_than_far_ones() {
        let setup = SensorSetup::default();
        let work = ActiveWork { task: "t".into(), name: "t".into(), action: "demolish", noisy: true, positions: vec![[0.0, 5.0]] };
        let near = predicted_noise(&setup, &home(5.0), std::slice::from_ref(&work)).expect("working hours");
        let far = predicted_noise(&setup, &home(300.0), std::slice::from_ref(&work)).expect("working hours");
        let quiet = predicted_noise(&setup, &home(5.0), &[]).expect("working hours");
        assert!(near > far && far >= quiet, "near {near}, far {far}, background {quiet}");
    }

    #[test]
    fn the_phase_legend_names_every_phase_once() {
        assert_eq!(PHASE_RGB.len(), PhaseKind::ALL.len());
        let mut colours = PHASE_RGB.to_vec();
        colours.sort_unstable();
        colours.dedup();
        assert_eq!(colours.len(), PHASE_RGB.len());
    }

    #[test]
    fn layer_names_round_trip_through_their_keys() {
        for l in LayerName::ALL {
            assert_eq!(LayerName::from_key(l.key()), Some(l));
        }
        assert_eq!(LayerName::from_key("sunlight"), Some(LayerName::Sunlight));
        assert_eq!(LayerName::from_key("shadow"), None);
    }
}
