//! Population models against hand-computed values.

use std::collections::BTreeMap;

use renewtwin_twin::population::config::{PlaceConfig, PopulationConfig};
use renewtwin_twin::population::disruption::{combine, detour_around, disruption_of};
use renewtwin_twin::population::gravity::{Place, flows};
use renewtwin_twin::site::{Home, Rect, Site};
use renewtwin_twin::population::{PopulationModel, TaskPlanDisruption};
use renewtwin_twin::renewal::plan::{ElementSchedule, Plan, Step, TaskWindow};
use renewtwin_twin::manifest::Action;
use renewtwin_twin::analytics::Analytics;
use renewtwin_twin::site::works::{BuildingWorks, TaskSite, Works, loose_window};

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
        vulnerable: None,
    }
}

fn stop(x: f64, y: f64) -> Place {
    Place { kind: "stop".into(), name: format!("stop {x}"), position: [x, y], weight: 1.0 }
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
    let reasons: Vec<&str> = d.pieces[0].flows.iter().map(|x| x.reason).collect();
    assert_eq!(reasons, vec!["path closed", "works at home"]);
    // The zone is 16 m square (10 m grown by 3 m each side), crossed through the middle:
    // 16 m extra each way, 32 m per round trip.
    assert!((d.pieces[0].flows[0].detour_m - 32.0).abs() < 1e-9, "{}", d.pieces[0].flows[0].detour_m);
    assert_eq!(d.pieces.len(), 1);
    assert!((d.pieces[0].detour_km_per_day - 50.0 * 0.032).abs() < 1e-9);
    assert!((d.pieces[0].trips_per_day - 75.0).abs() < 1e-9, "both homes' 75 trips");
}

/// Two homes (20 households of 50 residents at x = 0, 10 of 25 at x = 40), one stop at x = 80,
/// one round trip per resident a day, and two per-building tasks: `facade` works building 0 on
/// days 0–9 and building 1 on days 10–19; `windows` works building 0 on days 5–9 and building 1
/// on days 10–14.
fn two_buildings_two_tasks() -> (PopulationModel, Plan) {
    let homes = vec![home(0, 0.0, 50.0), home(1, 40.0, 25.0)];
    let config = PopulationConfig {
        trips_per_resident: [("stop".to_owned(), 1.0)].into_iter().collect(),
        places: vec![PlaceConfig { kind: "stop".into(), name: "stop".into(), x: 80.0, y: 0.0, weight: 1.0 }],
        ..PopulationConfig::default()
    };
    let task = |id: &str, elements: [usize; 2]| TaskSite {
        id: id.into(),
        action: Action::Retrofit,
        buildings: (0..2).map(|b| BuildingWorks { building: b, elements: vec![elements[b]], rect: homes[b].rect }).collect(),
        loose: Vec::new(),
    };
    let works = Works { tasks: vec![task("facade", [0, 1]), task("windows", [2, 3])] };
    let site = Site { homes: homes.clone(), ..Site::default() };
    let model = PopulationModel::new(&config, &renewtwin_importers::Model::default(), &site, &works);
    let window = |id: &str, start: i32, end: i32| TaskWindow {
        id: id.into(),
        name: id.into(),
        project: 0,
        action: Action::Retrofit,
        start: Some(start),
        end: Some(end),
        elements: 2,
        buildings: [0, 1].into_iter().collect(),
        selected: Vec::new(),
        cost: 0.0,
        quantities: Vec::new(),
        noisy: true,
        idle_days: Vec::new(),
        building_ends: Default::default(),
        improves: None,
    };
    let step = |start: i32, end: i32| ElementSchedule(vec![Step { start, end, action: Action::Retrofit }]);
    let plan = Plan {
        tasks: vec![window("facade", 0, 20), window("windows", 5, 15)],
        schedules: vec![step(0, 10), step(10, 20), step(5, 10), step(10, 15)],
        end: 20,
        ..Plan::default()
    };
    (model, plan)
}

#[test]
fn a_per_building_task_disrupts_each_building_only_while_that_building_is_worked() {
    // While building 0 is worked (days 0–9) its 50 trips a day are disrupted (works at home);
    // while building 1 is worked (days 10–19) its 25 trips are, and home 0's 50 trips detour
    // 32 m round its 16 m zone: 10 × 50 + 10 × 75 = 1250 trip-days, 10 × 50 × 0.032 = 16 km.
    // Counting every building for the whole window would give 20 × 75 = 1500.
    let (model, plan) = two_buildings_two_tasks();
    let d = model.plan_disruption(&plan);
    assert_eq!(d.households_disrupted, 30.0);
    assert_eq!(d.residents_disrupted, 75.0);
    assert_eq!(d.disruption_days, 20);
    assert_eq!(d.household_days, 10.0 * 20.0 + 10.0 * 30.0);
    assert!((d.trip_days_disrupted - 1250.0).abs() < 1e-9, "{}", d.trip_days_disrupted);
    assert!((d.detour_km - 16.0).abs() < 1e-9, "{}", d.detour_km);
    assert!((d.peak_trips_per_day - 75.0).abs() < 1e-9);
    // On their own: facade as above; windows 5 days at building 0 and 5 at building 1.
    let by_task = |id: &str| d.tasks.iter().find(|t| t.task == id).cloned().expect("task listed");
    let close = |a: &TaskPlanDisruption, trips: f64, km: f64| (a.trip_days - trips).abs() < 1e-9 && (a.detour_km - km).abs() < 1e-9;
    let (facade, windows) = (by_task("facade"), by_task("windows"));
    assert!(close(&facade, 1250.0, 16.0) && facade.days == 20 && facade.households == 30.0, "{facade:?}");
    assert!(close(&windows, 5.0 * 50.0 + 5.0 * 75.0, 8.0) && windows.days == 10, "{windows:?}");
}

#[test]
fn a_trip_disrupted_by_two_tasks_on_the_same_day_counts_once() {
    // Days 5–9 both tasks work building 0, days 10–14 both work building 1: the plan's total
    // (1250) is the facade's alone, not facade + windows (1250 + 625).
    let (model, plan) = two_buildings_two_tasks();
    let d = model.plan_disruption(&plan);
    let sum: f64 = d.tasks.iter().map(|t| t.trip_days).sum();
    assert!((sum - 1875.0).abs() < 1e-9, "{sum}");
    assert!((d.trip_days_disrupted - 1250.0).abs() < 1e-9);
    let day3 = model.disruption_on(&plan, 3);
    assert_eq!((day3.tasks.clone(), day3.households), (vec!["facade".to_owned()], 20.0));
    assert!((day3.trips_per_day - 50.0).abs() < 1e-9, "{}", day3.trips_per_day);
    let day12 = model.disruption_on(&plan, 12);
    assert_eq!(day12.tasks, vec!["facade".to_owned(), "windows".to_owned()]);
    assert_eq!(day12.households, 30.0);
    assert!((day12.trips_per_day - 75.0).abs() < 1e-9, "{}", day12.trips_per_day);
    assert_eq!(model.disruption_on(&plan, 20).households, 0.0, "nothing after the works");
}

#[test]
fn a_trench_work_front_takes_each_section_in_turn() {
    // 4 sections over 10 days: days 0–2, 3–4, 5–7, 8–9 (⌊i · 4 / 10⌋ = k).
    let windows: Vec<(i32, i32)> = (0..4).map(|k| loose_window(k, 4, 100, 110)).collect();
    assert_eq!(windows, vec![(100, 103), (103, 105), (105, 108), (108, 110)]);
    // 4 sections over 2 days: two a day.
    let windows: Vec<(i32, i32)> = (0..4).map(|k| loose_window(k, 4, 0, 2)).collect();
    assert_eq!(windows, vec![(0, 1), (0, 1), (1, 2), (1, 2)]);
}

#[test]
fn the_default_scene_s_per_building_tasks_disrupt_a_fraction_of_what_whole_window_counting_gave() {
    // Regression: every worked building used to count for the whole window of a per-building
    // task (222 households / 501,540 trip-days for the default scene's base plan).
    let manifest = renewtwin_twin::scene::Manifest::parse("default", renewtwin_twin::scene::DEFAULT_MANIFEST).expect("parses");
    let loaded = renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &renewtwin_importers::ImportConfig::default()).expect("loads");
    let analytics = Analytics::prepare(&loaded.manifest, &loaded.model, None).expect("analytics");
    let model = &analytics.population;
    let d = model.plan_disruption(&loaded.plan);
    let all_trips: f64 = model.flows.iter().map(|f| f.trips_per_day).sum();
    let all_households: f64 = model.homes.iter().map(|h| h.households).sum();
    assert!(d.households_disrupted > 0.0 && d.households_disrupted <= all_households + 1e-9);
    assert!(d.peak_trips_per_day <= all_trips + 1e-9, "no day disrupts more trips than are made");
    assert!(d.trip_days_disrupted <= all_trips * f64::from(d.disruption_days) + 1e-6);
    assert!(d.household_days <= all_households * f64::from(d.disruption_days) + 1e-6);
    let window = loaded.plan.tasks.iter().find(|t| t.id == "facade-walls").expect("facade task");
    let days = f64::from(window.end.expect("runs") - window.start.expect("runs"));
    let site = model.tasks.iter().find(|t| t.task == "facade-walls").expect("facade disruption");
    assert_eq!(site.buildings_worked.len(), model.homes.len(), "the facade task works every building");
    let (_, flows) = combine(&site.pieces);
    let whole_window: f64 = flows.iter().map(|f| model.flows[f.flow].trips_per_day).sum::<f64>() * days;
    let facade = d.tasks.iter().find(|t| t.task == "facade-walls").expect("facade listed");
    assert!(
        facade.trip_days < 0.5 * whole_window,
        "{} trip-days building by building vs {whole_window} counting every building for all {days} days",
        facade.trip_days
    );
    let sum_of_tasks: f64 = d.tasks.iter().map(|t| t.trip_days).sum();
    assert!(d.trip_days_disrupted < sum_of_tasks, "overlapping tasks count a trip once a day");
}

mod destinations {
    use renewtwin_importers::{Element, Mesh, MeshId, Model, Placement, Property, PropertySet, PropertyValue};
    use renewtwin_twin::population::config::PopulationConfig;
    use renewtwin_twin::population::gravity::places;
    use renewtwin_twin::site::Site;

    const IDENTITY: [f64; 16] = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];

    /// A GeoJSON point layer as the importer makes it: a marker around each point with the
    /// feature's properties in the `GeoJSON` set.
    fn poi(m: &mut Model, name: &str, at: [f64; 2], tags: &[(&str, &str)]) {
        let p = [[at[0] - 0.5, at[1] - 0.5, 0.0], [at[0] + 0.5, at[1] + 0.5, 1.0]];
        m.meshes.push(Mesh { positions: p.iter().flat_map(|v| v.iter().map(|x| *x as f32)).collect(), normals: vec![0.0; 6], indices: Vec::new() });
        m.elements.push(Element {
            step_id: 0,
            global_id: name.into(),
            class: "IfcBuildingElementProxy".into(),
            name: Some(name.into()),
            container: None,
            type_name: None,
            property_sets: vec![PropertySet {
                name: "GeoJSON".into(),
                properties: tags.iter().map(|(k, v)| Property { name: (*k).into(), value: PropertyValue::Text((*v).into()) }).collect(),
            }
            .into()],
            placements: vec![Placement { mesh: MeshId((m.meshes.len() - 1) as u32), transform: IDENTITY }],
            materials: Vec::new(),
        });
    }

    #[test]
    fn trips_go_to_the_points_of_interest_of_the_map_layer() {
        let mut m = Model::default();
        poi(&mut m, "公交站", [10.0, -20.0], &[("highway", "bus_stop")]);
        poi(&mut m, "小学", [-50.0, 0.0], &[("amenity", "school")]);
        poi(&mut m, "菜市场", [80.0, 5.0], &[("amenity", "marketplace")]);
        poi(&mut m, "bench", [0.0, 0.0], &[("amenity", "bench")]);
        let site = Site::from_model(&m, 24.0, 2.5);
        let d = places(&PopulationConfig::default(), &m, &site);
        assert_eq!(d.source, "map");
        let got: Vec<(&str, &str, [f64; 2])> = d.places.iter().map(|p| (p.kind.as_str(), p.name.as_str(), p.position)).collect();
        assert_eq!(got, vec![("stop", "公交站", [10.0, -20.0]), ("school", "小学", [-50.0, 0.0]), ("market", "菜市场", [80.0, 5.0])]);
        assert_eq!(d.diagnostics, vec!["no clinic among the destinations: clinic trips are not modelled".to_owned()]);
    }

    #[test]
    fn without_places_or_a_map_there_are_no_destinations_and_a_diagnostic_says_so() {
        let m = Model::default();
        let d = places(&PopulationConfig::default(), &m, &Site::from_model(&m, 24.0, 2.5));
        assert!(d.places.is_empty(), "no placeholder destinations");
        assert_eq!(d.source, "none");
        assert!(d.diagnostics[0].starts_with("no destinations"), "{:?}", d.diagnostics);
    }
}

#[test]
fn vulnerable_residents_of_disrupted_buildings_are_counted_and_ranked() {
    use renewtwin_twin::site::Vulnerable;
    let (mut model, plan) = two_buildings_two_tasks();
    let before = model.plan_disruption(&plan);
    assert!(!before.vulnerable.declared);
    // Building 0: 6 elderly, 1 disabled, 3 children; building 1: 2 elderly. Building 0 is
    // disrupted on 20 days: worked on days 0–9, then on days 10–19 its residents' path to the stop
    // at x = 80 runs through building 1's works; building 1 on its own 10 days (10–19).
    // Vulnerable-resident-days: 10 × 20 + 2 × 10 = 220.
    model.homes[0].vulnerable = Some(Vulnerable { elderly: 6.0, disabled: 1.0, children: 3.0 });
    model.homes[1].vulnerable = Some(Vulnerable { elderly: 2.0, disabled: 0.0, children: 0.0 });
    let v = model.plan_disruption(&plan).vulnerable;
    assert!(v.declared);
    assert_eq!((v.elderly, v.disabled, v.children), (8.0, 1.0, 3.0));
    let days: Vec<(&str, i32)> = v.priority.iter().map(|p| (p.building.as_str(), p.days)).collect();
    assert_eq!(days, vec![("0号楼", 20), ("1号楼", 10)]);
    assert_eq!(v.vulnerable_resident_days, 220.0);
    assert_eq!(v.priority[0].vulnerable, 10.0, "the building with the most vulnerable residents first: {days:?}");
}

#[test]
fn elderly_and_disabled_trips_cut_or_pushed_beyond_the_accessible_walk_are_counted() {
    use renewtwin_twin::site::Vulnerable;
    let (mut model, plan) = two_buildings_two_tasks();
    // Building 0 (50 residents, 50 trips a day to the stop 80 m away): 6 elderly + 1 disabled,
    // so 7 of its trips a day are theirs (children do not count here). Building 1 (25 residents,
    // 25 trips, 40 m): 2 elderly, 2 trips a day.
    model.homes[0].vulnerable = Some(Vulnerable { elderly: 6.0, disabled: 1.0, children: 3.0 });
    model.homes[1].vulnerable = Some(Vulnerable { elderly: 2.0, disabled: 0.0, children: 0.0 });
    // Days 0–9 building 0 is worked (its entrance restricted): 7 × 10 = 70 trip-days cut.
    // Days 10–19 building 1 is worked: its 2 × 10 = 20 cut; building 0's path runs through
    // building 1's 16 m zone, 16 m extra each way: 80 m becomes 96 m, within the 300 m walk.
    let a = model.plan_disruption(&plan).vulnerable.accessible_routes;
    assert_eq!(a.walk_m, 300.0, "GB 50180-2018's five-minute walk");
    assert!(a.walk_source.contains("GB 50180-2018"));
    assert!((a.trip_days_cut - 90.0).abs() < 1e-9, "{}", a.trip_days_cut);
    assert_eq!(a.trip_days_beyond_walk, 0.0);
    // With a 90 m walk the detour takes building 0's trips from 80 m to 96 m, beyond it:
    // 7 × 10 = 70 trip-days more.
    model.accessible_walk_m = 90.0;
    let a = model.plan_disruption(&plan).vulnerable.accessible_routes;
    assert!((a.trip_days_cut - 90.0).abs() < 1e-9, "{}", a.trip_days_cut);
    assert!((a.trip_days_beyond_walk - 70.0).abs() < 1e-9, "{}", a.trip_days_beyond_walk);
    let order: Vec<(&str, f64)> = a.buildings.iter().map(|b| (b.building.as_str(), b.trip_days)).collect();
    assert_eq!(order.len(), 2);
    assert_eq!(order[0].0, "0号楼");
    assert!((order[0].1 - 140.0).abs() < 1e-9 && (order[1].1 - 20.0).abs() < 1e-9, "{order:?}");
}

#[test]
fn the_disruption_layer_marks_each_building_by_its_strongest_disruption_of_the_day() {
    use renewtwin_twin::layers::{NO_VALUE, disruption_layer};
    use renewtwin_twin::population::HomeDisruption;
    use renewtwin_twin::site::Vulnerable;
    let (mut model, plan) = two_buildings_two_tasks();
    model.homes[0].elements = vec![0, 1];
    model.homes[1].elements = vec![2];
    let key = |layer: &renewtwin_twin::layers::ColourLayer, e: usize| layer.legend[layer.values[e] as usize].key;
    // Day 3: building 0 is worked (its entrance restricted); building 1's path to the stop
    // (x = 40 → 80) does not cross it.
    assert_eq!(model.homes_on(&plan, 3), vec![HomeDisruption::WorksAtHome, HomeDisruption::Undisrupted]);
    let layer = disruption_layer(&model, &plan, 3, 4);
    assert_eq!([key(&layer, 0), key(&layer, 1), key(&layer, 2)], ["works_at_home", "works_at_home", "undisrupted"]);
    assert_eq!(layer.values[3], NO_VALUE, "an element in no building");
    // Day 12: building 1 is worked; building 0's residents detour round it to the stop.
    assert_eq!(model.homes_on(&plan, 12), vec![HomeDisruption::Trips, HomeDisruption::WorksAtHome]);
    // Building 1 with 2 elderly residents: their route is cut on day 12, red on the layer;
    // building 0's detour (80 m → 96 m one way) stays within the 300 m walk.
    model.homes[1].vulnerable = Some(Vulnerable { elderly: 2.0, disabled: 0.0, children: 0.0 });
    model.homes[0].vulnerable = Some(Vulnerable { elderly: 0.0, disabled: 0.0, children: 5.0 });
    let layer = disruption_layer(&model, &plan, 12, 4);
    assert_eq!([key(&layer, 0), key(&layer, 2)], ["trips", "accessible_route_lost"]);
    assert!(layer.legend[3].en.contains("300 m"), "{:?}", layer.legend[3]);
    // Day 25: the plan is done.
    assert_eq!(model.homes_on(&plan, 25), vec![HomeDisruption::Undisrupted; 2]);
}
