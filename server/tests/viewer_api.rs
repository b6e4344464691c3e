//! The viewer's HTTP API against a running server: `/api/states` answers from cached plans,
//! which must give the same bytes as resolving the plan afresh, every time, and must follow a
//! newly recorded event instead of serving the plan from before it.

mod common;

use renewtwin_twin::renewal::Plan;
use renewtwin_twin::scene;
use renewtwin_importers::ImportConfig;
use renewtwin_protocol::LifecycleState;

/// One request over plain TCP; the status and the raw body.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
    let (status, head, body) = common::http_raw(addr, method, path, body).await;
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "a sized body: {head}");
    (status, body)
}

/// The states on `day` computed here from the manifest the server holds now.
fn expected_states(server: &common::Running, day: i32) -> Vec<u8> {
    let manifest = server.plan.manifest().expect("running");
    let plan = Plan::resolve(&manifest, None, server.plan.model()).expect("the plan resolves");
    plan.schedules
        .iter()
        .map(|s| LifecycleState::ALL.iter().position(|x| *x == s.state_on(day)).expect("a known state") as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_state_requests_give_identical_answers_and_follow_a_recorded_event() {
    // One building whose lifts wait for a consultation outcome: recording it changes the plan.
    let text = "name = \"gate\"\nstart = \"2026-01-01\"\n[[models]]\ngenerate = { kind = \"district\", buildings = 1, seed = 2 }\n\
[[projects]]\nid = \"lifts\"\nname = \"Lifts\"\nphases = { consultation = 5, approval = 5, construction = 10 }\n\
[[projects.tasks]]\nid = \"shafts\"\nname = \"Shafts\"\nphase = \"construction\"\nduration = 10\naction = \"new\"\nselect = { class = [\"IfcTransportElement\"] }\n\
[projects.decision]\nparticipation = { households = \"1/100\", area = \"1/100\" }\n[[projects]]\nid = \"survey\"\nname = \"Survey (keeps the clock running while the consultation is pending)\"\nphases = { survey = 60 }\n";
    let manifest = scene::Manifest::parse("gate.toml", text).expect("manifest");
    let loaded = renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default()).expect("loads");
    let server = common::start(loaded, 0.0).await;

    let days = [0, 10, 40];
    let mut before = Vec::new();
    for day in days {
        let path = format!("/api/states?day={day}");
        let (status, first) = http(server.addr, "GET", &path, "").await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&first));
        for _ in 0..3 {
            assert_eq!(http(server.addr, "GET", &path, "").await.1, first, "day {day}: a repeated request answers the same");
        }
        assert_eq!(http(server.addr, "GET", &format!("{path}&scenario=base"), "").await.1, first, "the base plan is the plan played");
        assert_eq!(first, expected_states(&server, day), "day {day}: the cached answer is the resolved plan's");
        before.push(first);
    }

    // The consultation decides by ballot (one household agrees; the scene asks 1 in 100 to
    // take part), closing on day 5: a recorded outcome that changes the plan.
    let gov = common::government(server.addr).await;
    let voter = common::resident(server.addr, &gov, "1-1-101").await;
    let closed = common::decide_by_ballots(server.addr, &gov, "lifts", serde_json::json!([{"text": "同意吗？"}]), &[voter], 0, 5).await;
    assert_eq!(closed["outcome"], "approved", "{closed}");
    for (day, old) in days.into_iter().zip(before) {
        let (status, now) = http(server.addr, "GET", &format!("/api/states?day={day}"), "").await;
        assert_eq!(status, 200);
        assert_eq!(now, expected_states(&server, day), "day {day}: the answer follows the recorded event");
        if day == 40 {
            assert_ne!(now, old, "by day 40 the approved lifts are built, which the cached plan from before would not show");
        }
        assert_eq!(http(server.addr, "GET", &format!("/api/states?day={day}"), "").await.1, now);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scene_glb_is_the_exporters_bytes_for_the_day_and_scenario() {
    let server = common::start(common::default_scene(), 0.0).await;
    let (status, head, glb) = common::http_raw(server.addr, "GET", "/api/export/scene.glb?date=2026-10-01&scenario=lifts-only", "").await;
    assert_eq!(status, 200, "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: model/gltf-binary"), "{head}");
    let glb = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(&glb) } else { glb };
    // The same bytes as the exporter writes for the plan the server resolves, from the encoded
    // mesh frames the server keeps (it drops the model's own meshes once they are encoded).
    let manifest = server.plan.manifest().expect("a manifest");
    let model = server.plan.model().clone();
    let plan = Plan::resolve(&manifest, Some("lifts-only"), &model).expect("the scenario resolves");
    let day = (renewtwin_protocol::CivilDate::new(2026, 10, 1).days_since_epoch() - manifest.start.days_since_epoch()) as i32;
    let mut want = Vec::new();
    let scene = renewtwin_exporters::gltf::Scene { manifest: &manifest, model: &model, plan: &plan };
    let mut geometry = renewtwin_exporters::gltf::WireGeometry::new(&server.state.scene.mesh_frames).expect("frames");
    renewtwin_exporters::gltf::write_glb(&scene, &mut geometry, day, &mut want, |_| {}).expect("export");
    assert_eq!(glb.len(), want.len());
    assert!(glb == want, "the served GLB is the exporter's");

    let (status, _, body) = common::http_raw(server.addr, "GET", "/api/export/scene.glb?date=October", "").await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = common::http_raw(server.addr, "GET", "/api/export/scene.glb?scenario=no-such", "").await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tileset_and_its_tiles_are_served_to_anyone_for_the_day_asked() {
    let server = common::start(common::default_scene(), 0.0).await;
    // No session: the tileset is public like /api/scene (the ENDPOINTS table says ANYONE).
    let (status, body) = http(server.addr, "GET", "/api/export/tiles/tileset.json?date=2026-10-01", "").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let tileset: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(tileset["asset"]["version"], "1.1");
    assert_eq!(tileset["extras"]["date"], "2026-10-01");
    assert_eq!(tileset["root"]["transform"].as_array().map(Vec::len), Some(16));
    // The same tileset the exporter lays out from the server's frames.
    let manifest = server.plan.manifest().expect("a manifest");
    let model = server.plan.model().clone();
    let plan = Plan::resolve(&manifest, None, &model).expect("the plan resolves");
    let day = (renewtwin_protocol::CivilDate::new(2026, 10, 1).days_since_epoch() - manifest.start.days_since_epoch()) as i32;
    let scene = renewtwin_exporters::gltf::Scene { manifest: &manifest, model: &model, plan: &plan };
    let mut geometry = renewtwin_exporters::gltf::WireGeometry::new(&server.state.scene.mesh_frames).expect("frames");
    let options = renewtwin_exporters::tiles::TilesOptions { uri_suffix: "?date=2026-10-01".into(), ..Default::default() };
    let (want, stats) = renewtwin_exporters::tiles::write_tiles(&scene, &mut geometry, day, &options, &mut renewtwin_exporters::tiles::NoTiles, |_| {})
        .expect("the tiles lay out");
    // Compared as text read back, as the body was (serde_json reads the last digit of some floats
    // differently from how it writes them).
    let want: serde_json::Value = serde_json::from_str(&want.to_string()).expect("JSON");
    assert_eq!(tileset, want);
    // Every tile, by the URI the tileset gives relative to itself, is a GLB within the bound.
    let mut uris = Vec::new();
    let mut stack = vec![&tileset["root"]];
    while let Some(t) = stack.pop() {
        if let Some(u) = t["content"]["uri"].as_str() {
            uris.push(u.to_owned());
        }
        stack.extend(t["children"].as_array().into_iter().flatten());
    }
    assert_eq!(uris.len(), stats.tiles);
    let mut total = 0;
    for uri in &uris {
        assert!(uri.ends_with("?date=2026-10-01"), "{uri}");
        let (status, glb) = http(server.addr, "GET", &format!("/api/export/tiles/{uri}"), "").await;
        assert_eq!(status, 200, "{uri}: {}", String::from_utf8_lossy(&glb));
        assert_eq!(&glb[..4], b"glTF");
        assert!(glb.len() as u64 <= renewtwin_exporters::tiles::DEFAULT_MAX_TILE_BYTES);
        total += glb.len() as u64;
    }
    assert_eq!(total, stats.bytes);
    let (status, _) = http(server.addr, "GET", &format!("/api/export/tiles/tiles/{}.glb", stats.tiles), "").await;
    assert_eq!(status, 404, "past the last tile");
    let (status, _) = http(server.addr, "GET", "/api/export/tiles/tiles/x.png", "").await;
    assert_eq!(status, 404);
    let (status, _) = http(server.addr, "GET", "/api/export/tiles/tileset.json?date=October", "").await;
    assert_eq!(status, 400);
    let (status, _) = http(server.addr, "GET", "/api/export/tiles/tileset.json?scenario=no-such", "").await;
    assert_eq!(status, 404);
}

/// The body of a chunked HTTP/1.1 answer.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).expect("chunk size").trim(), 16).expect("hex size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sunlight_layer_classes_each_window_against_the_standard_before_and_during_the_works() {
    // Two rows of buildings; 10-minute samples keep the ray casting short in a debug build.
    let text = "name = \"sun\"\nstart = \"2026-01-01\"\n[[models]]\ngenerate = { kind = \"district\", buildings = 4, seed = 2 }\n\
[sunlight]\nstep_minutes = 10\n";
    let manifest = scene::Manifest::parse("sun.toml", text).expect("manifest");
    let loaded = renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default()).expect("loads");
    let windows = loaded.model.elements.iter().filter(|e| e.class == "IfcWindow").count();
    let elements = loaded.model.elements.len();
    let server = common::start(loaded, 0.0).await;
    let (status, body) = http(server.addr, "GET", "/api/viewer/layer?name=sunlight&day=0", "").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let layer: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let keys: Vec<&str> = layer["legend"].as_array().expect("legend").iter().filter_map(|e| e["key"].as_str()).collect();
    assert_eq!(keys, ["meets", "below", "taken_below"]);
    let values: Vec<u64> = layer["values"].as_array().expect("values").iter().filter_map(serde_json::Value::as_u64).collect();
    assert_eq!(values.len(), elements, "a value per element");
    assert_eq!(values.iter().filter(|v| **v != 255).count(), windows, "every window and nothing else");
    assert!(values.contains(&0) && values.contains(&1), "south windows meet it, north ones do not: {values:?}");
    assert!(!values.contains(&2), "nothing is taken below before the works");
    // Asked again: the same answer (from the cache).
    let (_, again) = http(server.addr, "GET", "/api/viewer/layer?name=sunlight&day=0", "").await;
    assert_eq!(again, body);

    // The inspect panel of a window that meets the standard and of one below it: the hours as
    // surveyed, on the day shown and after the works (no works here: all three the same), the
    // verdict the layer shows, the rule and its source; a wall has no sunlight figures.
    let sun_of = |id: usize| {
        let addr = server.addr;
        async move {
            let (status, body) = http(addr, "GET", &format!("/api/viewer/element/{id}"), "").await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            serde_json::from_slice::<serde_json::Value>(&body).expect("JSON")["sunlight"].clone()
        }
    };
    let meets = values.iter().position(|v| *v == 0).expect("a window that meets the standard");
    let below = values.iter().position(|v| *v == 1).expect("a window below the standard");
    let sun = sun_of(meets).await;
    assert_eq!((sun["verdict"].as_str(), sun["standard_day"].as_str(), sun["min_hours"].as_f64()), (Some("meets"), Some("大寒日"), Some(2.0)), "{sun}");
    let hours = sun["before"].as_f64().expect("hours before");
    assert!(hours >= 2.0 && sun["now"].as_f64() == Some(hours) && sun["after"].as_f64() == Some(hours), "{sun}");
    assert!(sun["source"].as_str().is_some_and(|s| s.contains("GB 50180")), "{sun}");
    let sun = sun_of(below).await;
    assert_eq!(sun["verdict"].as_str(), Some("below"), "{sun}");
    assert!(sun["after"].as_f64().is_some_and(|h| h < 2.0), "{sun}");
    let wall = values.iter().position(|v| *v == 255).expect("an element that is not a window");
    assert_eq!(sun_of(wall).await, serde_json::Value::Null, "a wall is not evaluated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disruption_layer_follows_the_works_day_by_day() {
    let loaded = common::default_scene();
    let elements = loaded.model.elements.len();
    let server = common::start_with_analytics(loaded, 0.0).await;
    let mut seen = std::collections::BTreeSet::new();
    for day in (0..300).step_by(10) {
        let (status, body) = http(server.addr, "GET", &format!("/api/viewer/layer?name=disruption&day={day}"), "").await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let layer: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        let keys: Vec<&str> = layer["legend"].as_array().expect("legend").iter().filter_map(|e| e["key"].as_str()).collect();
        assert_eq!(keys, ["undisrupted", "trips", "works_at_home", "accessible_route_lost"]);
        let values: Vec<u64> = layer["values"].as_array().expect("values").iter().filter_map(serde_json::Value::as_u64).collect();
        assert_eq!(values.len(), elements, "a value per element");
        assert!(values.contains(&255), "the street and the pipes are in no building");
        seen.extend(values.into_iter().filter(|v| *v != 255));
    }
    // Over the plan, buildings are left alone on some days and worked on others.
    assert!(seen.contains(&0) && seen.contains(&2), "bands seen over the plan: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenarios_list_their_design_variants_and_the_states_show_each_design() {
    let server = common::start(common::default_scene(), 0.0).await;
    // Anyone may ask (no credential).
    let (status, scenarios) = common::http_json(server.addr, "GET", "/api/viewer/scenarios", None, "").await;
    assert_eq!(status, 200, "{scenarios}");
    let list = scenarios["scenarios"].as_array().expect("a list");
    let variant = list.iter().find(|s| s["name"] == "south-lifts").expect("the default scene's design variant");
    let models = variant["variants"].as_array().expect("its models");
    assert_eq!(models.len(), 1, "{variant}");
    assert!(models[0]["model"].as_str().expect("a name").contains("lifts-south"), "{variant}");
    let added = models[0]["elements"].as_u64().expect("a count") as usize;
    assert!(added >= 6, "{variant}");
    assert_eq!(variant["replaced"].as_u64(), Some(added as u64), "one south shaft for each north shaft it replaces: {variant}");
    for other in list.iter().filter(|s| s["name"] != "south-lifts") {
        assert_eq!(other["variants"].as_array().map(Vec::len), Some(0), "{other}");
        assert_eq!(other["replaced"], 0, "{other}");
    }

    // The states of each design on the last day: the variant's shafts are absent from the base
    // plan and built in the variant, the north shafts the other way round, the rest the same.
    let model = server.plan.model();
    let range = model.sources[1].first_element..model.sources[1].first_element + model.sources[1].element_count;
    assert_eq!(range.len(), added);
    let end = scenarios["plan_end"].as_i64().expect("plan end");
    let absent = LifecycleState::ALL.iter().position(|s| *s == LifecycleState::Absent).expect("absent") as u8;
    let built = LifecycleState::ALL.iter().position(|s| *s == LifecycleState::Built).expect("built") as u8;
    let (s1, base) = http(server.addr, "GET", &format!("/api/states?day={end}&scenario=base"), "").await;
    let (s2, south) = http(server.addr, "GET", &format!("/api/states?day={end}&scenario=south-lifts"), "").await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(base.len(), model.elements.len());
    let north: Vec<usize> = (0..range.start).filter(|&i| model.elements.at(i).class == "IfcTransportElement").collect();
    assert_eq!(north.len(), added);
    for i in range.clone() {
        assert_eq!((base[i], south[i]), (absent, built), "variant element {i}");
    }
    for &i in &north {
        assert_eq!((base[i], south[i]), (built, absent), "replaced element {i}");
    }
    let differ = (0..base.len()).filter(|&i| base[i] != south[i]).count();
    assert_eq!(differ, 2 * added, "only the shafts differ between the two designs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sun_over_the_site_at_winter_solstice_noon_is_due_south_at_ninety_less_latitude_and_tilt() {
    let server = common::start(common::default_scene(), 0.0).await;
    // Anyone may ask. Hand-computed: at true solar noon the sun is due south (azimuth 180°) at
    // elevation 90° − φ + δ; on 2026-12-21 (冬至, the solstice at 20:50 UTC) δ = −23.44°.
    let (status, sun) = common::http_json(server.addr, "GET", "/api/viewer/sun?date=2026-12-21&time=12:00", None, "").await;
    assert_eq!(status, 200, "{sun}");
    let lat = sun["latitude"].as_f64().expect("latitude");
    let (az, el) = (sun["azimuth"].as_f64().expect("azimuth"), sun["elevation"].as_f64().expect("elevation"));
    assert!((az - 180.0).abs() < 0.5, "azimuth {az}");
    assert!((el - (90.0 - lat - 23.44)).abs() < 0.1, "elevation {el} at latitude {lat}");
    let d: Vec<f64> = sun["direction"].as_array().expect("direction").iter().filter_map(serde_json::Value::as_f64).collect();
    assert_eq!(d.len(), 3);
    assert!((d.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-9, "a unit vector");
    assert!((d[2] - el.to_radians().sin()).abs() < 1e-9 && d[1] < 0.0, "up by the elevation, towards the south: {d:?}");
    // Morning: east of south, lower.
    let (_, morning) = common::http_json(server.addr, "GET", "/api/viewer/sun?date=2026-12-21&time=09:00", None, "").await;
    assert!(morning["azimuth"].as_f64().is_some_and(|a| a > 90.0 && a < 180.0) && morning["elevation"].as_f64() < Some(el), "{morning}");
    // The standard days by name: the term's date that year, not a fixed day (冬至 2024 and
    // 2025 fall on 21 December, 2023 on the 22nd; 大寒 2026 on 20 January), and the scene's
    // rule (the default scene keeps GB 50180-2018's: 大寒日, at least 2 h within 8:00-16:00).
    for (query, date) in [("dongzhi&year=2024", "2024-12-21"), ("dongzhi&year=2023", "2023-12-22"), ("dahan&year=2026", "2026-01-20")] {
        let (status, named) = common::http_json(server.addr, "GET", &format!("/api/viewer/sun?date={query}&time=12:00"), None, "").await;
        assert_eq!((status, named["date"].as_str()), (200, Some(date)), "{query}: {named}");
    }
    let (_, standard) = common::http_json(server.addr, "GET", "/api/viewer/sun?date=standard&time=09:00", None, "").await;
    assert_eq!(standard["term"], "dahan", "{standard}");
    assert_eq!(standard["rule"]["standard_day"], "dahan");
    assert_eq!(standard["rule"]["min_hours"], 2.0);
    assert_eq!((standard["rule"]["from_hour"].as_f64(), standard["rule"]["to_hour"].as_f64()), (Some(8.0), Some(16.0)));
    let year = standard["rule"]["year"].as_i64().expect("the rule's year");
    assert_eq!(standard["date"].as_str().map(|d| d[..4].to_owned()), Some(year.to_string()), "the standard day of the rule's year");
    assert_eq!(sun["term"], serde_json::Value::Null, "a date asked by its day names no term");
    for bad in [
        "/api/viewer/sun?date=2026-13-01&time=12:00",
        "/api/viewer/sun?date=2026-12-21&time=25:00",
        "/api/viewer/sun?time=12:00",
        "/api/viewer/sun?date=xiazhi&time=12:00",
        "/api/viewer/sun?date=dongzhi&year=99999&time=12:00",
    ] {
        let (status, body) = common::http_json(server.addr, "GET", bad, None, "").await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}
