//! `renewtwin simulate` as a user reads it: the plain-text report lists the same alerts (with
//! the works at the sensor), predicted nuisance and risk warnings as `--json`.

use std::process::Command;

fn simulate(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_renewtwin")).arg("simulate").args(args).output().expect("run simulate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn plain_simulate_lists_the_alerts_nuisance_population_and_risk_warnings_that_json_gives() {
    let v: serde_json::Value = serde_json::from_str(&simulate(&["--json"])).expect("json");
    let text = simulate(&[]);
    let base = &v["scenarios"][0]["analytics"];
    let alerts = base["alerts"].as_array().expect("alerts");
    assert!(!alerts.is_empty(), "the default plan's works raise alerts");
    assert!(text.contains(&format!("alerts               {} (simulated sensors over the plan)", alerts.len())), "{text}");
    // The first alert, with its worst value, limit and the works with their distance.
    let a = &alerts[0];
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(a["date"].as_str().expect("date")) && l.contains(a["sensor"].as_str().expect("sensor")))
        .unwrap_or_else(|| panic!("the first alert is listed: {text}"));
    assert!(line.contains(a["rule"].as_str().expect("rule")), "{line}");
    assert!(line.contains(&format!("{:.1} > {:.1}", a["value"].as_f64().expect("value"), a["limit"].as_f64().expect("limit"))), "{line}");
    for t in a["evidence"]["tasks"].as_array().expect("tasks") {
        assert!(line.contains(t["task"].as_str().expect("task")), "the works at the sensor: {line}");
    }
    if alerts.len() > 20 {
        assert!(text.contains(&format!("… and {} more", alerts.len() - 20)), "{text}");
    }
    for option in base["predicted_nuisance"].as_array().expect("nuisance") {
        let name = option["name"].as_str().expect("name");
        let days = option["household_days"].as_f64().expect("household-days");
        assert!(text.contains(&format!("{name:<24} {days:.0} household-days")), "{name}: {text}");
    }
    let p = &base["population"];
    assert!(
        text.contains(&format!("{:.0} trip-days", p["trip_days_disrupted"].as_f64().expect("trip-days"))),
        "the population disruption: {text}"
    );
    let warnings = v["risk_warnings"].as_array().expect("risk warnings");
    assert!(!warnings.is_empty(), "the default district's old pipes and buildings warn");
    assert!(text.contains(&format!("risk warnings          {}", warnings.len())), "{text}");
    for w in warnings {
        let line = text.lines().find(|l| l.contains(w["global_id"].as_str().expect("id"))).expect("each warning is listed");
        assert!(line.contains(w["message"].as_str().expect("message")), "{line}");
        assert!(line.contains("age_years"), "with its evidence: {line}");
    }
}

#[test]
fn longer_working_hours_are_predicted_to_bother_the_neighbours_for_more_hours() {
    let v: serde_json::Value = serde_json::from_str(&simulate(&["--json", "--scenario", "all"])).expect("json");
    for s in v["scenarios"].as_array().expect("scenarios") {
        let options = s["analytics"]["predicted_nuisance"].as_array().expect("options");
        let of = |name: &str| options.iter().find(|o| o["name"].as_str().is_some_and(|n| n.starts_with(name))).expect("option");
        let (standard, long, evening) = (of("standard"), of("long day"), of("with evening"));
        let hours = |o: &serde_json::Value| o["household_hours"].as_f64().expect("hours");
        let days = |o: &serde_json::Value| o["household_days"].as_f64().expect("days");
        assert!(hours(standard) > 0.0, "{}: noisy works exceed the limit somewhere", s["scenario"]);
        assert!(hours(long) > hours(standard), "16 working hours a day against 11");
        // Work after 22:00 is judged against the night limit (55 dB(A)): more days exceed.
        assert!(days(evening) > days(standard), "{}", s["scenario"]);
    }
}
