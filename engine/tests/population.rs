//! Population models against hand-computed values.

use std::collections::BTreeMap;

use renewtwin_engine::population::disruption::{detour_around, disruption_of};
use renewtwin_engine::population::gravity::{Place, flows};
use renewtwin_engine::population::site::{Home, Rect};
use renewtwin_engine::scene::manifest::Action;
use renewtwin_engine::sensors::works::{BuildingWorks, TaskSite};

fn home(building: usize, x: f64, residents: f64) -> Home {
    Home {
        building,
        global_id: format!("b{building}"),
        name: format!("{building}号楼"),
        rect: Rect::new([x - 5.0, -5.0], [x + 5.0, 5.0]),
        households: residents / 2.5,
        residents,
        year: None,
        structure: None,
        grade: None,
        defects: None,
        elements: Vec::new(),
    }
}

fn stop(x: f64, y: f64) -> Place {
    Place { kind: "stop".into(), name: format!("stop {x}"), position: [x, y], weight: 1.0, assumed: false }
}

#[test]
fn the_gravity_model_shares_a_home_s_trips_by_deterrence_and_keeps_their_total() {
    // One home of 100 residents, 1 trip each, stops at 0 m and 400 m with decay 400 m:
    // T = 100 · 1/(1 + e⁻¹) = 73.106 and 100 · e⁻¹/(1 + e⁻¹) = 26.894.
    let rates: BTreeMap<String, f64> = [("stop".to_owned(), 1.0)].into_iter().collect();
    let f = flows(&[home(0, 0.0, 100.0)], &[stop(0.0, 0.0), stop(400.0, 0.0)], &rates, 400.0);
    assert_eq!(f.len(), 2);
    assert!((f[0].trips_per_day - 73.106).abs() < 1e-3, "{}", f[0].trips_per_day);
    assert!((f[1].trips_per_day - 26.894).abs() < 1e-3, "{}", f[1].trips_per_day);
}

#[test]
fn a_path_through_a_works_zone_detours_round_its_shorter_side() {
    // A 10 m square crossed straight through its middle: round the half perimeter (20 m)
    // instead of 10 m across, 10 m extra.
    let zone = Rect::new([0.0, 0.0], [10.0, 10.0]);
    assert_eq!(detour_around(&zone, [-10.0, 5.0], [20.0, 5.0]), Some(10.0));
    // Crossing near the south edge: round the south side, 2 × 1 m extra.
    let extra = detour_around(&zone, [-10.0, 1.0], [20.0, 1.0]).expect("crosses");
    assert!((extra - 2.0).abs() < 1e-9, "{extra}");
    assert_eq!(detour_around(&zone, [-10.0, 15.0], [20.0, 15.0]), None, "misses it");
}

#[test]
fn works_on_a_building_disrupt_its_households_and_the_neighbours_whose_path_it_closes() {
    // Homes at x = 0 and x = 40, the stop at x = 80: works on the middle home's building block
    // the path of the home at 0? No — works on building 1 (x = 40) close the path of home 0,
    // whose straight line to the stop runs through it.
    let homes = vec![home(0, 0.0, 50.0), home(1, 40.0, 25.0)];
    let places = vec![stop(80.0, 0.0)];
    let rates: BTreeMap<String, f64> = [("stop".to_owned(), 1.0)].into_iter().collect();
    let f = flows(&homes, &places, &rates, 400.0);
    let task = TaskSite {
        id: "facade".into(),
        action: Action::Retrofit,
        buildings: vec![BuildingWorks { building: 1, elements: vec![0], rect: homes[1].rect }],
        loose: Vec::new(),
    };
    let d = disruption_of(&task, &homes, &places, &f, 3.0);
    assert_eq!(d.households, 30.0, "20 households at home 0 (path closed) and 10 at home 1 (works at home)");
    let reasons: Vec<&str> = d.flows.iter().map(|x| x.reason).collect();
    assert_eq!(reasons, vec!["path closed", "works at home"]);
    // The zone is 16 m square (10 m grown by 3 m each side), crossed through the middle:
    // 16 m extra each way, 32 m per round trip.
    assert!((d.flows[0].detour_m - 32.0).abs() < 1e-9, "{}", d.flows[0].detour_m);
    assert!((d.detour_km_per_day - 50.0 * 0.032).abs() < 1e-9);
}
