//! The renewal simulation through its public API, on a real generated district imported by the
//! IFC importer: governance gates, approvals run serially and in parallel, task dependencies,
//! heritage protection, scenario indicators, exact seeking and determinism through a headless
//! Bevy app with manual time.

use std::sync::OnceLock;

use renewtwin_twin::renewal::indicators::Indicators;
use renewtwin_twin::renewal::plan::{Plan, PlanError};
use renewtwin_twin::renewal::{TickSeconds, states_on};
use renewtwin_twin::scene::{self, Manifest};
use renewtwin_twin::sim::{SimConfig, SimInput, build_app};
use renewtwin_twin::renewal::ElementSeed;
use renewtwin_importers::{ImportConfig, Model};
use renewtwin_protocol::{CivilDate, LifecycleState, PhaseKind, PhaseStatus};

/// A two-building district, generated and imported once for all tests.
fn district() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let m = Manifest::parse("district.toml", "name = \"d\"\nstart = \"2026-01-01\"\n[[models]]\ngenerate = { kind = \"district\", buildings = 2, seed = 3 }\n")
            .expect("manifest");
        scene::load_models(&m, None, &ImportConfig::default(), None).expect("the generated district imports")
    })
}

const HEAD: &str = "name = \"test\"\nstart = \"2026-01-01\"\n[[models]]\ngenerate = { kind = \"district\", buildings = 2, seed = 3 }\n";

/// A lifts project: consultation 10 days, approvals (planning 20 ∥ fire 10) → construction
/// permit 15, construction 30 days, acceptance 5. Every authority's jurisdiction deems silence
/// past the time limit a grant here; [`overdue`] turns that off for one approval.
fn lifts_project(extra: &str) -> String {
    format!(
        "{HEAD}
[[projects]]
id = \"lifts\"
name = \"Lifts\"
phases = {{ consultation = 10, approval = 5, construction = 30, acceptance = 5, operation = 10 }}
{extra}
[[projects.approvals]]
id = \"planning\"
name = \"Planning permit\"
authority = \"Planning bureau\"
time_limit = 20
on_timeout = \"deemed_granted\"

[[projects.approvals]]
id = \"fire\"
name = \"Fire review\"
authority = \"Fire service\"
time_limit = 10
on_timeout = \"deemed_granted\"

[[projects.approvals]]
id = \"construction\"
name = \"Construction permit\"
authority = \"Construction bureau\"
time_limit = 15
depends = [\"planning\", \"fire\"]
on_timeout = \"deemed_granted\"

[[projects.tasks]]
id = \"shafts\"
name = \"Lift shafts\"
phase = \"construction\"
duration = 30
action = \"new\"
cost = 1000
select = {{ class = [\"IfcTransportElement\"], status = \"NEW\" }}
"
    )
}

fn resolve(text: &str, scenario: Option<&str>) -> Result<(Manifest, Plan), PlanError> {
    let manifest = Manifest::parse("scene.toml", text).expect("a valid manifest");
    let plan = Plan::resolve(&manifest, scenario, district())?;
    Ok((manifest, plan))
}

fn phase(plan: &Plan, kind: PhaseKind) -> &renewtwin_twin::renewal::plan::PhaseWindow {
    plan.phases.iter().find(|p| p.kind == kind).expect("phase present")
}

fn lift_states(plan: &Plan, day: i32) -> Vec<LifecycleState> {
    let model = district();
    model
        .elements
        .iter()
        .zip(&plan.schedules)
        .filter(|(e, _)| e.class == "IfcTransportElement")
        .map(|(_, s)| s.state_on(day))
        .collect()
}

const EVENTS_OK: &str = "
[[events]]
day = 12
kind = \"consultation_closed\"
project = \"lifts\"
outcome = \"approved\"

[[events]]
day = 20
kind = \"owner_named\"
project = \"lifts\"
name = \"Property company\"

[[events]]
day = 20
kind = \"funding_named\"
project = \"lifts\"
name = \"City subsidy\"
";

#[test]
fn approval_waits_for_the_recorded_consultation_outcome() {
    let (_, plan) = resolve(&lifts_project(""), None).expect("plan");
    let consultation = phase(&plan, PhaseKind::Consultation);
    assert_eq!(consultation.start, Some(0));
    assert_eq!(consultation.end, None, "no outcome recorded: the consultation cannot close");
    let approval = phase(&plan, PhaseKind::Approval);
    assert_eq!(approval.start, None);
    assert_eq!(approval.status_on(100), PhaseStatus::Blocked);
    assert!(lift_states(&plan, 1000).iter().all(|s| *s == LifecycleState::Planned), "no lift is ever built");
    assert!(!lift_states(&plan, 0).is_empty(), "the district has lifts to build");
}

#[test]
fn a_rejected_scheme_halts_the_project_with_the_reason() {
    let text = lifts_project("") + "\n[[events]]\nday = 11\nkind = \"consultation_closed\"\nproject = \"lifts\"\noutcome = \"rejected\"\n";
    let (_, plan) = resolve(&text, None).expect("plan");
    // A rejection keeps the consultation open for a new one; the project halts meanwhile.
    assert_eq!(phase(&plan, PhaseKind::Consultation).end, None);
    let construction = phase(&plan, PhaseKind::Construction);
    assert_eq!(construction.start, None);
    assert!(construction.note.as_deref().is_some_and(|n| n.contains("rejected")), "{:?}", construction.note);
    // A later consultation's approval supersedes the rejection (the earliest no longer wins).
    let again = text + "\n[[events]]\nday = 30\nkind = \"consultation_closed\"\nproject = \"lifts\"\noutcome = \"approved\"\n";
    let (_, plan) = resolve(&again, None).expect("plan");
    assert_eq!(phase(&plan, PhaseKind::Consultation).end, Some(30));
    assert_eq!(phase(&plan, PhaseKind::Approval).start, Some(30));
}

#[test]
fn construction_opens_when_every_approval_is_granted_in_parallel() {
    let (_, plan) = resolve(&(lifts_project("") + EVENTS_OK), None).expect("plan");
    // Consultation runs its 10 days, the outcome comes on day 12: the approval phase opens then.
    assert_eq!(phase(&plan, PhaseKind::Approval).start, Some(12));
    // Parallel: planning (20) and fire (10) at once, then the construction permit (15): 35 days.
    let report = &plan.approvals[0];
    assert_eq!((report.serial_days, report.parallel_days), (45, 35));
    assert_eq!(phase(&plan, PhaseKind::Construction).start, Some(12 + 35));
    let states = lift_states(&plan, 12 + 35);
    assert!(states.iter().all(|s| *s == LifecycleState::UnderConstruction), "{states:?}");
    assert!(lift_states(&plan, 12 + 35 + 30).iter().all(|s| *s == LifecycleState::Built));
}

#[test]
fn serial_approvals_take_the_sum_of_their_time_limits() {
    let text = (lifts_project("") + EVENTS_OK).replace("start = \"2026-01-01\"\n", "start = \"2026-01-01\"\napproval_mode = \"serial\"\n");
    let (_, plan) = resolve(&text, None).expect("plan");
    assert_eq!(phase(&plan, PhaseKind::Construction).start, Some(12 + 45));
}

#[test]
fn a_recorded_early_grant_shortens_the_wait_and_a_refusal_blocks() {
    let early = lifts_project("") + EVENTS_OK + "\n[[events]]\nday = 15\nkind = \"approval_granted\"\nproject = \"lifts\"\napproval = \"planning\"\n";
    let (_, plan) = resolve(&early, None).expect("plan");
    // planning granted on day 15 (not 32), fire on 22 by its limit, then 15 days: day 37.
    assert_eq!(phase(&plan, PhaseKind::Construction).start, Some(37));

    let refused = lifts_project("") + EVENTS_OK + "\n[[events]]\nday = 15\nkind = \"approval_refused\"\nproject = \"lifts\"\napproval = \"fire\"\n";
    let (_, plan) = resolve(&refused, None).expect("plan");
    let approval = phase(&plan, PhaseKind::Approval);
    assert_eq!(approval.end, None);
    assert!(approval.note.as_deref().is_some_and(|n| n.contains("Fire review") && n.contains("refused")), "{:?}", approval.note);
    assert_eq!(phase(&plan, PhaseKind::Construction).start, None);
}

/// `text` with the jurisdiction of `authority` not deeming silence a grant.
fn overdue(text: &str, authority: &str) -> String {
    let from = format!("authority = \"{authority}\"\n");
    let at = text.find(&from).expect("authority present") + from.len();
    let rest = &text[at..];
    let line = "on_timeout = \"deemed_granted\"\n";
    let off = rest.find(line).expect("on_timeout after the authority");
    format!("{}{}on_timeout = \"overdue\"\n{}", &text[..at], &rest[..off], &rest[off + line.len()..])
}

fn grant(day: i32, approval: &str) -> String {
    format!("\n[[events]]\nday = {day}\nkind = \"approval_granted\"\nproject = \"lifts\"\napproval = \"{approval}\"\n")
}

#[test]
fn a_grant_n_days_late_delays_construction_by_exactly_n_days() {
    // By hand: the approval phase opens on day 12 (the consultation's outcome); the planning
    // permit (limit 20) is due on day 32 and sits on the critical path (fire, limit 10, is due
    // on day 22). Granted N days late, on day 32 + N, the construction permit starts then and
    // is deemed granted 15 days later: construction opens on day 47 + N and the lifts, 30 days
    // of work, are built on day 77 + N.
    let base = overdue(&(lifts_project("") + EVENTS_OK), "Planning bureau");
    for n in [0, 1, 82] {
        let (_, plan) = resolve(&(base.clone() + &grant(32 + n, "planning")), None).expect("plan");
        assert_eq!(phase(&plan, PhaseKind::Construction).start, Some(47 + n), "planning granted {n} days late");
        assert!(lift_states(&plan, 76 + n).iter().all(|s| *s == LifecycleState::UnderConstruction));
        assert!(lift_states(&plan, 77 + n).iter().all(|s| *s == LifecycleState::Built));
        let report = &plan.approvals[0];
        let planning = report.approvals.iter().find(|a| a.id == "planning").expect("planning");
        assert_eq!((planning.due, planning.granted, planning.days_late), (Some(32), Some(32 + n), n));
        assert_eq!(planning.overdue_since, (n > 0).then_some(32), "flagged overdue only when late");
        // Achieved lead time from the resolved schedule, beside the time-limit figures.
        assert_eq!(report.achieved_days, Some(35 + n));
        assert_eq!((report.serial_days, report.parallel_days), (45, 35));
    }
}

#[test]
fn a_late_grant_off_the_critical_path_delays_by_what_it_overruns_the_path() {
    // Fire (limit 10, due day 22) granted 82 days late on day 104; the construction permit
    // waited for planning until day 32 anyway, so it now starts on day 104 instead of 32 and
    // construction opens on day 104 + 15 = 119 instead of 47: 72 days later (82 days late minus
    // the 10 days of slack fire had behind planning).
    let text = overdue(&(lifts_project("") + EVENTS_OK), "Fire service") + &grant(104, "fire");
    let (_, plan) = resolve(&text, None).expect("plan");
    assert_eq!(phase(&plan, PhaseKind::Construction).start, Some(119));
    let fire = plan.approvals[0].approvals.iter().find(|a| a.id == "fire").expect("fire");
    assert_eq!((fire.days_late, fire.overdue_since), (82, Some(22)));
}

#[test]
fn an_undecided_approval_past_its_limit_holds_construction_unless_deemed() {
    let text = overdue(&(lifts_project("") + EVENTS_OK), "Planning bureau");
    let (manifest, plan) = resolve(&text, None).expect("plan");
    let approval = phase(&plan, PhaseKind::Approval);
    assert_eq!((approval.start, approval.end), (Some(12), None));
    let note = approval.note.as_deref().unwrap_or_default();
    assert!(note.contains("Planning permit") && note.contains("Planning bureau") && note.contains("day 32"), "{note}");
    assert_eq!(phase(&plan, PhaseKind::Construction).start, None);
    assert!(lift_states(&plan, 10_000).iter().all(|s| *s == LifecycleState::Planned), "no lift without the permit");
    let planning = plan.approvals[0].approvals.iter().find(|a| a.id == "planning").expect("planning");
    assert!(planning.is_pending() && planning.overdue_since == Some(32));
    // The permit that depends on it never reaches its authority.
    let permit = plan.approvals[0].approvals.iter().find(|a| a.id == "construction").expect("permit");
    assert_eq!(permit.start, None);
    let ind = Indicators::compute(&manifest, district(), &plan);
    assert_eq!(ind.approvals[0].achieved_days, None);
    assert_eq!(ind.approvals[0].overdue, vec!["planning".to_owned()]);
    // Where the jurisdiction deems silence a grant, the same file is granted on day 32.
    let (_, deemed) = resolve(&(lifts_project("") + EVENTS_OK), None).expect("plan");
    let planning = deemed.approvals[0].approvals.iter().find(|a| a.id == "planning").expect("planning");
    assert_eq!((planning.granted, planning.deemed, planning.overdue_since), (Some(32), true, None));
}

#[test]
fn a_deemed_approval_ignores_a_grant_recorded_after_its_limit() {
    // Deemed granted on day 32 already; a grant recorded on day 50 changes nothing.
    let (_, plan) = resolve(&(lifts_project("") + EVENTS_OK + &grant(50, "planning")), None).expect("plan");
    assert_eq!(phase(&plan, PhaseKind::Construction).start, Some(47));
}

#[test]
fn the_default_scene_fire_review_granted_82_days_late_moves_the_lifts() {
    // Default scene: the lifts' approval phase opens on day 120 (survey 30 + design 45 +
    // consultation 45; the outcome of 2026-05-28, day 87, came earlier). Fire review (limit
    // 10, no deemed grant) is due on day 130; planning (20, deemed) on day 140. Recorded on
    // 2026-07-03 (day 123), the construction permit starts on day 140, is deemed on 155, the
    // lift notice on 165: construction opens on day 165. Recorded on 2026-09-30 (day 212, 82
    // days late), the permit starts on day 212: 227, 237, construction on day 237.
    let lifts_construction = |text: &str| {
        let manifest = Manifest::parse("scenes/default/scene.toml", text).expect("default manifest");
        let plan = Plan::resolve(&manifest, None, district()).expect("plan");
        let pi = plan.projects.iter().position(|p| p.contains("Add lifts")).expect("lifts project");
        let report = plan.approvals.iter().find(|a| a.project == pi).expect("lift approvals");
        let fire = report.approvals.iter().find(|a| a.id == "fire").expect("fire").clone();
        let start = plan.phases.iter().find(|p| p.project == pi && p.kind == PhaseKind::Construction).and_then(|p| p.start);
        (start, fire.days_late, report.achieved_days)
    };
    assert_eq!(lifts_construction(scene::DEFAULT_MANIFEST), (Some(165), 0, Some(45)));
    let late = scene::DEFAULT_MANIFEST.replace("date = \"2026-07-03\"", "date = \"2026-09-30\"");
    assert_ne!(late, scene::DEFAULT_MANIFEST);
    assert_eq!(lifts_construction(&late), (Some(237), 82, Some(117)));
}

#[test]
fn indicators_use_the_recorded_actuals_where_there_are_any() {
    use renewtwin_twin::renewal::indicators::TaskActual;
    // The shafts are planned from day 47 to day 77 at 1000 yuan; the plan is accepted on day
    // 77 + 5 = 82 (acceptance 5 days, owner and funding named on day 20).
    let (manifest, plan) = resolve(&(lifts_project("") + EVENTS_OK), None).expect("plan");
    let planned = Indicators::compute(&manifest, district(), &plan);
    assert_eq!((planned.duration_days, planned.cost_yuan), (Some(82), 1000.0));
    let none = planned.with_actuals(&plan, &[]);
    assert_eq!((none.delay_days, none.duration_days, none.cost_yuan, none.tasks_recorded), (0, Some(82), 1000.0, 0));
    // Started 4 days late: 4 days of delay so far, completion projected 4 days later.
    let started = TaskActual { task: "shafts".into(), start: Some(51), finish: None, percent: 20.0, cost: None };
    let a = planned.with_actuals(&plan, std::slice::from_ref(&started));
    assert_eq!((a.delay_days, a.duration_days, a.cost_yuan, a.tasks_recorded), (4, Some(86), 1000.0, 1));
    // Finished on day 90 (13 days after the planned 77) at 1250 yuan.
    let done = TaskActual { finish: Some(90), percent: 100.0, cost: Some(1250.0), ..started };
    let a = planned.with_actuals(&plan, &[done]);
    assert_eq!((a.delay_days, a.duration_days, a.cost_yuan), (13, Some(95), 1250.0));
}

#[test]
fn construction_is_accepted_only_once_owner_and_funding_are_named() {
    let without_owner = lifts_project("") + &EVENTS_OK.replace("kind = \"owner_named\"", "kind = \"funding_named\"");
    let (_, plan) = resolve(&without_owner, None).expect("plan");
    let acceptance = phase(&plan, PhaseKind::Acceptance);
    assert!(acceptance.start.is_some() && acceptance.end.is_none());
    assert!(acceptance.note.as_deref().is_some_and(|n| n.contains("operation & maintenance owner")), "{:?}", acceptance.note);
    assert_eq!(phase(&plan, PhaseKind::Operation).start, None);

    let named_up_front = lifts_project("operation_owner = \"Property company\"\nfunding = \"Subsidy\"\n")
        + "\n[[events]]\nday = 12\nkind = \"consultation_closed\"\nproject = \"lifts\"\noutcome = \"approved\"\n";
    let (_, plan) = resolve(&named_up_front, None).expect("plan");
    let construction_end = phase(&plan, PhaseKind::Construction).end.expect("construction ends");
    assert_eq!(phase(&plan, PhaseKind::Acceptance).end, Some(construction_end + 5));
    assert_eq!(phase(&plan, PhaseKind::Operation).start, Some(construction_end + 5));
}

#[test]
fn finish_to_start_dependencies_with_lags_delay_the_successor() {
    let text = format!(
        "{HEAD}[[projects]]\nid = \"pipes\"\nname = \"Pipes\"\nphases = {{ construction = 100 }}\n\
[[projects.tasks]]\nid = \"lay\"\nname = \"Lay new\"\nphase = \"construction\"\nduration = 20\naction = \"new\"\nselect = {{ class = [\"IfcPipeSegment\"], status = \"NEW\" }}\n\
[[projects.tasks]]\nid = \"remove\"\nname = \"Remove old\"\nphase = \"construction\"\nduration = 10\naction = \"demolish\"\nafter = [{{ task = \"lay\", lag = 5 }}]\nselect = {{ class = [\"IfcPipeSegment\"], status = \"EXISTING\" }}\n"
    );
    let (_, plan) = resolve(&text, None).expect("plan");
    let remove = plan.tasks.iter().find(|t| t.id == "remove").expect("task");
    assert_eq!((remove.start, remove.end), (Some(25), Some(35)));
    assert!(remove.elements > 0);
}

#[test]
fn a_dependency_cycle_is_an_error_naming_the_tasks() {
    let text = format!(
        "{HEAD}[[projects]]\nname = \"P\"\nphases = {{ construction = 100 }}\n\
[[projects.tasks]]\nid = \"a\"\nname = \"a\"\nphase = \"construction\"\nduration = 2\naction = \"keep\"\nafter = [\"b\"]\nselect = {{}}\n\
[[projects.tasks]]\nid = \"b\"\nname = \"b\"\nphase = \"construction\"\nduration = 2\naction = \"keep\"\nafter = [\"a\"]\nselect = {{}}\n"
    );
    let err = resolve(&text, None).expect_err("cycle").to_string();
    assert!(err.contains("cycle") && err.contains("\"a\"") && err.contains("\"b\""), "{err}");
}

#[test]
fn demolishing_protected_heritage_is_rejected_naming_the_element() {
    let text = format!(
        "{HEAD}[[heritage]]\nselect = {{ property = {{ \"RenewTwin_Heritage.Protected\" = \"true\" }} }}\nreason = \"listed\"\n\
[[projects]]\nname = \"Clearance\"\nphases = {{ construction = 30 }}\n\
[[projects.tasks]]\nid = \"clear\"\nname = \"Clear the site\"\nphase = \"construction\"\nduration = 10\naction = \"demolish\"\nselect = {{ class = [\"IfcColumn\", \"IfcWall\"] }}\n"
    );
    let model = district();
    let protected = model.elements.iter().filter(|e| e.property("RenewTwin_Heritage", "Protected").is_some()).count();
    if protected == 0 {
        // The generator marks a heritage structure; without it this test would prove nothing.
        panic!("the generated district has no protected heritage element");
    }
    let err = match resolve(&text, None) {
        Ok(_) => panic!("a plan demolishing the listed archway was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.starts_with("scene.toml:"), "{err}");
    assert!(err.contains("task \"clear\"") && err.contains("IfcColumn #") && err.contains("listed"), "{err}");
}

#[test]
fn scenario_indicators_tell_the_alternatives_apart() {
    let manifest = Manifest::parse("scenes/default/scene.toml", scene::DEFAULT_MANIFEST).expect("default manifest");
    let model = district();
    let base = Plan::resolve(&manifest, None, model).expect("base plan");
    let lifts_only = Plan::resolve(&manifest, Some("lifts-only"), model).expect("lifts-only");
    let serial = Plan::resolve(&manifest, Some("serial-approvals"), model).expect("serial");
    let (b, l, s) = (
        Indicators::compute(&manifest, model, &base),
        Indicators::compute(&manifest, model, &lifts_only),
        Indicators::compute(&manifest, model, &serial),
    );
    assert!(l.cost_yuan < b.cost_yuan, "{} < {}", l.cost_yuan, b.cost_yuan);
    assert_eq!(b.cost_yuan - l.cost_yuan, 4_800_000.0 + 2_400_000.0 + 900_000.0, "the facade tasks' costs");
    assert!(l.noisy_work_days <= b.noisy_work_days);
    assert!(b.households_affected > 0);
    let lifts = b.approvals.iter().find(|a| a.project.contains("lifts") || a.project.contains("Add lifts")).expect("lift approvals");
    assert_eq!((lifts.serial_days, lifts.parallel_days), (55, 45));
    assert!(s.duration_days.expect("serial completes") >= b.duration_days.expect("base completes"));
    assert_eq!(b.heritage_kept, b.heritage_elements);
    assert!(b.green_area_m2 > 0.0, "the pocket park is built");
    assert!(b.floor_area_ratio.is_some_and(|f| f > 0.1 && f < 10.0), "{:?}", b.floor_area_ratio);
    assert!(b.blocked.is_empty(), "{:?}", b.blocked);
}

fn sim_input(plan: &Plan) -> SimInput {
    let seeds = district()
        .elements
        .iter()
        .map(|e| ElementSeed { global_id: e.global_id.to_owned(), class: e.class.to_owned() })
        .collect();
    SimInput::new(plan.clone(), CivilDate::new(2026, 3, 2), seeds)
}

fn default_plan() -> Plan {
    let manifest = Manifest::parse("scenes/default/scene.toml", scene::DEFAULT_MANIFEST).expect("default manifest");
    Plan::resolve(&manifest, None, district()).expect("plan")
}

fn play(app: &mut bevy_app::App, days: u32) {
    for _ in 0..days {
        app.world_mut().insert_resource(TickSeconds(1.0));
        app.update();
    }
}

#[test]
fn seeking_backwards_through_the_app_gives_exactly_the_state_of_that_day() {
    let plan = default_plan();
    let config = SimConfig { speed: 1.0, looping: false, ..SimConfig::default() };
    let (mut app, live) = build_app(sim_input(&plan), &config);
    play(&mut app, 260);
    let forward = live.snapshot();
    assert_eq!(forward.day, 260);
    assert_eq!(forward.states, states_on(&plan, 260));

    let (tx, rx) = std::sync::mpsc::channel();
    app.insert_resource(renewtwin_twin::renewal::ClockCommands(std::sync::Mutex::new(rx)));
    tx.send(renewtwin_protocol::ClockCommand::Seek(renewtwin_protocol::SimDay(120))).expect("send");
    app.update();
    let back = live.snapshot();
    assert_eq!(back.day, 120);
    assert_eq!(back.states, states_on(&plan, 120), "the state after seeking back is that day's state");
    assert_ne!(back.states, forward.states, "something changed between day 120 and 260");
}

#[test]
fn two_runs_with_the_same_inputs_produce_byte_identical_state() {
    let plan = default_plan();
    let run = || {
        let config = SimConfig { speed: 3.0, looping: true, ..SimConfig::default() };
        let (mut app, live) = build_app(sim_input(&plan), &config);
        let mut rx = live.subscribe();
        play(&mut app, 150);
        // Every published delta, without the wall-clock send time that is only there to
        // measure delivery latency.
        let mut deltas = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            let Ok(renewtwin_protocol::ServerMsg::State(mut delta)) = renewtwin_protocol::decode(&frame.bytes) else {
                panic!("a state frame")
            };
            delta.sent_at_us = 0;
            deltas.extend(renewtwin_protocol::encode(&delta).expect("encode"));
        }
        let snap = live.snapshot();
        let state = renewtwin_protocol::encode(&(snap.seq, snap.day, snap.date, &snap.states, &snap.phases)).expect("encode");
        (deltas, state)
    };
    let (a, b) = (run(), run());
    assert!(!a.0.is_empty());
    assert_eq!(a, b);
}

#[test]
fn tasks_select_the_products_of_an_imported_ifc_work_schedule() {
    let ifc = concat!(env!("CARGO_MANIFEST_DIR"), "/../importers/tests/data/schedule-ifc4.ifc");
    let text = format!(
        "name = \"schedule\"\nstart = \"2024-03-01\"\n[[models]]\npath = {ifc:?}\n\
[[projects]]\nname = \"P\"\nphases = {{ construction = 100 }}\n\
[[projects.tasks]]\nid = \"strip\"\nname = \"Strip\"\nphase = \"construction\"\nduration = 10\naction = \"retrofit\"\nselect = {{ ifc_task = [\"T-1.1\"] }}\n\
[[projects.tasks]]\nid = \"all\"\nname = \"Whole phase\"\nphase = \"construction\"\nstart = 20\nduration = 10\naction = \"retrofit\"\nselect = {{ ifc_task = [\"Phase 1\"], class = [\"IfcWall\"] }}\n"
    );
    let manifest = Manifest::parse("schedule.toml", &text).expect("manifest");
    let loaded = renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default()).expect("the schedule file imports");
    let names = |task: &str| -> Vec<String> {
        let t = loaded.plan.tasks.iter().find(|t| t.id == task).expect("task");
        assert!(t.elements > 0, "{task} selects something");
        loaded
            .model
            .elements
            .iter()
            .zip(&loaded.plan.schedules)
            .filter(|(_, s)| s.0.iter().any(|step| step.start == t.start.expect("starts")))
            .filter_map(|(e, _)| e.name.map(str::to_owned))
            .collect()
    };
    let mut strip = names("strip");
    strip.sort();
    assert_eq!(strip, vec!["Ground slab".to_owned(), "Wall north".to_owned()], "IfcRelAssignsToProcess products");
    let mut all = names("all");
    all.sort();
    assert_eq!(all, vec!["Wall north".to_owned(), "Wall south".to_owned()], "nested tasks, both assignment directions, walls only");
}

#[test]
fn a_task_that_selects_nothing_costs_nothing_and_is_reported_empty() {
    // The shafts (1000 yuan) plus a task of 5000 yuan whose selector matches no element of the
    // generated district (it has no IfcChimney): the cost stays 1000, the task is listed empty.
    let nothing = "[[projects.tasks]]\nid = \"chimneys\"\nname = \"Chimneys\"\nphase = \"construction\"\nduration = 5\naction = \"retrofit\"\ncost = 5000\nselect = { class = [\"IfcChimney\"] }\n";
    let (manifest, plan) = resolve(&(lifts_project("") + EVENTS_OK + nothing), None).expect("plan");
    let ind = Indicators::compute(&manifest, district(), &plan);
    assert_eq!(ind.cost_yuan, 1000.0);
    assert_eq!(ind.empty_tasks, vec!["chimneys".to_owned()]);
    let actual = renewtwin_twin::renewal::indicators::TaskActual { task: "chimneys".into(), start: Some(50), finish: None, percent: 0.0, cost: Some(700.0) };
    assert_eq!(ind.with_actuals(&plan, &[actual]).cost_yuan, 1000.0, "an empty task's recorded cost is not counted either");
}

#[test]
fn a_ten_working_day_task_stretches_over_a_holiday_and_rests_on_it() {
    // Day 0 is Tue 2026-09-29; the National Day holiday is declared 2026-10-01..07. The task's
    // 10 working days are 29, 30 Sep and 8..15 Oct: it ends on day 17 (exclusive), idle on
    // days 2..=8, and counts 10 noisy days, not 17.
    let text = "name = \"calendar\"\nstart = \"2026-09-29\"\n[[models]]\ngenerate = { kind = \"district\", buildings = 2, seed = 3 }\n\
[calendar]\nsource = \"declared for this test\"\nholidays = [{ name = \"National Day\", from = \"2026-10-01\", to = \"2026-10-07\" }]\n\
[[projects]]\nid = \"p\"\nname = \"P\"\nconsultation_required = false\nphases = { construction = 30 }\n\
[[projects.tasks]]\nid = \"roofs\"\nname = \"Roofs\"\nphase = \"construction\"\nduration = 10\naction = \"retrofit\"\nselect = { class = [\"IfcRoof\"] }\n";
    let (manifest, plan) = resolve(text, None).expect("plan");
    let t = plan.tasks.iter().find(|t| t.id == "roofs").expect("task");
    assert_eq!((t.start, t.end), (Some(0), Some(17)));
    assert_eq!(t.idle_days, (2..=8).collect::<Vec<i32>>());
    assert!(t.works_on(1) && !t.works_on(5) && t.works_on(9) && !t.works_on(17));
    let ind = Indicators::compute(&manifest, district(), &plan);
    assert_eq!(ind.noisy_work_days, 10);
    // A start declared on a holiday moves to the first working day after it.
    let later = text.replace("duration = 10", "start = 3\nduration = 10");
    let (_, plan) = resolve(&later, None).expect("plan");
    let t = plan.tasks.iter().find(|t| t.id == "roofs").expect("task");
    assert_eq!((t.start, t.end), (Some(9), Some(19)));
}

/// A project retrofitting `select` under a `[[heritage]]` rule on the archway (the generator's
/// `RenewTwin_Heritage.Protected`, control zone 10 m) with `heritage_extra`, and `approvals`.
fn heritage_scene(heritage_extra: &str, approvals: &str, select: &str) -> String {
    format!(
        "{HEAD}[[heritage]]\nselect = {{ property = {{ \"RenewTwin_Heritage.Protected\" = \"true\" }} }}\nreason = \"listed\"\n{heritage_extra}\n\
[[projects]]\nid = \"p\"\nname = \"P\"\nconsultation_required = false\nphases = {{ approval = 5, construction = 30 }}\n{approvals}\n\
[[projects.tasks]]\nid = \"works\"\nname = \"Works\"\nphase = \"construction\"\nduration = 10\naction = \"retrofit\"\nselect = {select}\n"
    )
}

const HERITAGE_APPROVAL: &str = "[[projects.approvals]]\nid = \"heritage\"\nname = \"文物部门同意 Heritage consent\"\nauthority = \"文物局 Cultural heritage bureau\"\ntime_limit = 5\non_timeout = \"deemed_granted\"\n";

#[test]
fn works_in_a_heritage_control_zone_need_the_declared_heritage_approval() {
    let archway = "{ property = { \"RenewTwin_Heritage.Protected\" = \"true\" } }";
    // Restoring the archway itself (distance 0, inside its 10 m zone) without the approval.
    let err = resolve(&heritage_scene("approval = \"heritage\"", "", archway), None).expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, PlanError::HeritageApprovalMissing(ref b) if b.approval == "heritage" && b.distance_m == 0.0 && b.zone_m == 10.0), "{text}");
    assert!(text.contains("\"works\"") && text.contains("no approval \"heritage\""), "{text}");
    // With the approval declared the plan stands; without `approval` the zone is not checked.
    resolve(&heritage_scene("approval = \"heritage\"", HERITAGE_APPROVAL, archway), None).expect("with the approval");
    resolve(&heritage_scene("", "", archway), None).expect("zone not checked");
    // Roofs are not on the archway: inside a declared 100 km zone they need the approval, inside
    // a 0 m zone (touching only) they do not.
    let roofs = "{ class = [\"IfcRoof\"] }";
    assert!(matches!(
        resolve(&heritage_scene("approval = \"heritage\"\nzone_m = 100000.0", "", roofs), None),
        Err(PlanError::HeritageApprovalMissing(_))
    ));
    resolve(&heritage_scene("approval = \"heritage\"\nzone_m = 0.0", "", roofs), None).expect("roofs are outside a 0 m zone");
}

#[test]
fn unit_rates_price_the_quantities_of_the_selected_elements() {
    // The fixture's two walls are 4 m × 0.2 m × 3 m boxes without quantity sets: per wall 1
    // item, half the surface 2·(4·0.2 + 4·3 + 0.2·3)/2 = 13.4 m², length 4 m. At 100 yuan an
    // item, 10 a m² and 1 a m, plus a 50 yuan lump sum: 50 + 200 + 268 + 8 = 526 yuan.
    let ifc = concat!(env!("CARGO_MANIFEST_DIR"), "/../importers/tests/data/schedule-ifc4.ifc");
    let text = format!(
        "name = \"rates\"\nstart = \"2024-03-01\"\n[[models]]\npath = {ifc:?}\n\
[[projects]]\nname = \"P\"\nconsultation_required = false\nphases = {{ construction = 30 }}\n\
[[projects.tasks]]\nid = \"walls\"\nname = \"Walls\"\nphase = \"construction\"\nduration = 10\naction = \"retrofit\"\ncost = 50\nrates = {{ per_item = 100, per_m2 = 10, per_m = 1 }}\nselect = {{ class = [\"IfcWall\"] }}\n"
    );
    let manifest = Manifest::parse("rates.toml", &text).expect("manifest");
    let loaded = renewtwin_twin::renewal::LoadedScene::from_manifest(manifest, None, None, &ImportConfig::default()).expect("loads");
    let ind = Indicators::compute(&loaded.manifest, &loaded.model, &loaded.plan);
    // Mesh positions are f32: the measured area is exact to about 1e-6 m².
    assert!((ind.cost_yuan - 526.0).abs() < 1e-3, "{}", ind.cost_yuan);
    let c = &ind.task_costs[0];
    assert_eq!((c.task.as_str(), c.lump_yuan), ("walls", 50.0));
    let q: Vec<(&str, f64)> = c.quantities.iter().map(|q| (q.unit, (q.amount * 1000.0).round() / 1000.0)).collect();
    assert_eq!(q, [("item", 2.0), ("m2", 26.8), ("m", 8.0)]);
    assert_eq!(c.quantities[1].source, renewtwin_twin::renewal::quantities::QuantitySource::Mesh);
    assert!(Manifest::parse("bad.toml", &text.replace("per_m = 1", "per_m = -1")).is_err(), "negative rates are refused");
}

/// A project whose consultation (days 0-10) chooses between the base plan (lift shafts) and a
/// scenario that re-roofs during the consultation and leaves out a façade task.
fn choice_project(events: &str) -> String {
    format!(
        "{HEAD}
[[projects]]
id = \"works\"
name = \"Works\"
phases = {{ consultation = 10, construction = 30 }}
operation_owner = \"o\"
funding = \"f\"

[[projects.tasks]]
id = \"walls\"
name = \"Walls\"
phase = \"consultation\"
start = 6
duration = 4
action = \"retrofit\"
select = {{ class = [\"IfcWall\"] }}

[[projects.tasks]]
id = \"early\"
name = \"Early works\"
phase = \"consultation\"
start = 0
duration = 2
action = \"retrofit\"
select = {{ class = [\"IfcSlab\"] }}

[[projects.tasks]]
id = \"shafts\"
name = \"Lift shafts\"
phase = \"construction\"
duration = 30
action = \"new\"
select = {{ class = [\"IfcTransportElement\"], status = \"NEW\" }}

[[scenarios]]
name = \"roofs\"
title = \"Re-roof instead of the walls\"
disable = [\"walls\", \"early\"]

[[scenarios.tasks]]
project = \"works\"
id = \"roofs\"
name = \"Roofs\"
phase = \"consultation\"
start = 0
duration = 10
action = \"retrofit\"
select = {{ class = [\"IfcRoof\"] }}

[[events]]
day = 10
kind = \"consultation_closed\"
project = \"works\"
outcome = \"approved\"
{events}"
    )
}

fn states_of(plan: &Plan, class: &str, day: i32) -> Vec<LifecycleState> {
    district().elements.iter().zip(&plan.schedules).filter(|(e, _)| e.class.starts_with(class)).map(|(_, s)| s.state_on(day)).collect()
}

#[test]
fn a_chosen_scenario_plays_from_its_day_and_the_base_plan_before_it() {
    let chosen = "[[events]]\nday = 4\nkind = \"scenario_chosen\"\nproject = \"works\"\nscenario = \"roofs\"\n";
    let (_, base) = resolve(&choice_project(""), None).expect("base");
    let (manifest, played) = resolve(&choice_project(chosen), None).expect("played");
    let fixed = Plan::resolve_fixed(&manifest, Some("roofs"), district()).expect("roofs from the start");
    assert_eq!(played.scenario.as_deref(), Some("roofs"));
    assert_eq!(played.choices.len(), 1);
    assert_eq!(base.scenario, None);
    // Before day 4 the played plan is the base plan, element by element.
    for day in 0..4 {
        for class in ["IfcRoof", "IfcWall", "IfcSlab", "IfcTransportElement"] {
            assert_eq!(states_of(&played, class, day), states_of(&base, class, day), "{class} on day {day}");
        }
    }
    let all = |v: Vec<LifecycleState>, s: LifecycleState| !v.is_empty() && v.iter().all(|x| *x == s);
    // The scenario's own task starts no earlier than the day it was chosen (it would have run
    // from day 0 had it been played from the start).
    assert!(all(states_of(&fixed, "IfcRoof", 2), LifecycleState::UnderConstruction));
    assert!(all(states_of(&played, "IfcRoof", 3), LifecycleState::Existing));
    assert!(all(states_of(&played, "IfcRoof", 4), LifecycleState::UnderConstruction));
    assert!(all(states_of(&played, "IfcRoof", 14), LifecycleState::Renewed));
    assert!(all(states_of(&base, "IfcRoof", 100), LifecycleState::Existing), "the base plan never re-roofs");
    // A task the winner leaves out: dropped if it had not started (the walls, from day 6),
    // finished if it had (the early works, days 0-2).
    assert!(all(states_of(&base, "IfcWall", 20), LifecycleState::Renewed));
    assert!(all(states_of(&played, "IfcWall", 20), LifecycleState::Existing));
    assert!(all(states_of(&played, "IfcSlab", 20), LifecycleState::Renewed));
    assert!(all(states_of(&fixed, "IfcSlab", 20), LifecycleState::Existing));
    // Choosing the base plan back later plays the base plan's tasks from then on.
    let back = format!("{chosen}\n[[events]]\nday = 8\nkind = \"scenario_chosen\"\nproject = \"works\"\nscenario = \"base\"\n");
    let (_, twice) = resolve(&choice_project(&back), None).expect("chosen twice");
    assert_eq!(twice.scenario, None);
    assert!(all(states_of(&twice, "IfcRoof", 20), LifecycleState::Renewed), "the roofs under way on day 8 finish");
    assert!(all(states_of(&twice, "IfcWall", 7), LifecycleState::Existing));
    assert!(all(states_of(&twice, "IfcWall", 8), LifecycleState::UnderConstruction), "the walls come back from day 8");
}

#[test]
fn a_scenario_choice_names_a_scenario_of_the_scene_and_follows_the_consultation_window() {
    let unknown = "[[events]]\nday = 4\nkind = \"scenario_chosen\"\nproject = \"works\"\nscenario = \"nope\"\n";
    let e = Manifest::parse("scene.toml", &choice_project(unknown)).expect_err("unknown scenario");
    assert!(e.to_string().contains("events[1].scenario") && e.to_string().contains("\"roofs\""), "{e}");
    let missing = "[[events]]\nday = 4\nkind = \"scenario_chosen\"\nproject = \"works\"\n";
    let e = Manifest::parse("scene.toml", &choice_project(missing)).expect_err("no scenario");
    assert!(e.to_string().contains("events[1].scenario"), "{e}");
    let early = "[[events]]\nday = -1\nkind = \"scenario_chosen\"\nproject = \"works\"\nscenario = \"roofs\"\n";
    assert!(Manifest::parse("scene.toml", &choice_project(early)).is_err());
}
