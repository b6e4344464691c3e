//! The resolved renewal plan: when each phase opens and closes under the governance gates,
//! when each task runs under its dependencies, and, per element, the ordered steps that drive
//! its lifecycle. Resolving matches the manifest's selectors against the model.
//!
//! Gates (the practice this product serves requires them):
//! - the approval phase opens only when the consultation has closed with its outcome recorded
//!   (a rejected scheme halts the project);
//! - construction opens only when every required approval is granted;
//! - construction is accepted (the acceptance phase closes, operation opens) only when the
//!   operation & maintenance owner and the funding are named ("build and manage as one").
//!
//! A plan that would demolish protected heritage is rejected, naming the element.

use std::collections::{BTreeMap, BTreeSet};

use renewtwin_importers::{ElementRef, Model, PropertyValue, SpatialKind};
use renewtwin_protocol::{CivilDate, LifecycleState, PhaseInfo, PhaseKind, PhaseStatus, SimDay};

use crate::manifest::calendar::working_day;
use crate::manifest::decision::{self, Scope};
use crate::manifest::{Action, ApprovalMode, ApprovalSpec, EventKind, Manifest, OnTimeout, ProjectSpec, Selector};

/// Why a plan cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A task would demolish a protected element.
    #[error("{file}:{line}: task {task:?} would demolish protected heritage {element} ({reason}); the plan is rejected")]
    HeritageDemolition {
        /// The manifest.
        file: String,
        /// Line of the task.
        line: usize,
        /// The task id.
        task: String,
        /// The element: class, `#id`, GlobalId and name.
        element: String,
        /// Why it is protected.
        reason: String,
    },
    /// A task works inside a heritage control zone without the heritage approval the scene
    /// declares for it.
    #[error(
        "{}:{}: task {:?} works on {}, {:.1} m from protected {} (control zone {:.1} m), but its project has no approval {:?}; add it to the project's [[projects.approvals]]",
        .0.file, .0.line, .0.task, .0.element, .0.distance_m, .0.protected, .0.zone_m, .0.approval
    )]
    HeritageApprovalMissing(Box<ZoneBreach>),
    /// Task dependencies form a cycle.
    #[error("{file}: the task dependencies form a cycle through {tasks:?}")]
    TaskCycle {
        /// The manifest.
        file: String,
        /// Tasks on the cycle.
        tasks: Vec<String>,
    },
    /// Approval dependencies form a cycle.
    #[error("{file}: project {project:?}: the approval dependencies form a cycle through {approvals:?}")]
    ApprovalCycle {
        /// The manifest.
        file: String,
        /// Project id.
        project: String,
        /// Approvals on the cycle.
        approvals: Vec<String>,
    },
    /// The scenario does not exist.
    #[error("{file}: no scenario named {name:?}; the scenarios are {known:?}")]
    UnknownScenario {
        /// The manifest.
        file: String,
        /// Asked for.
        name: String,
        /// Defined.
        known: Vec<String>,
    },
}

/// A task inside a heritage control zone without the approval it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneBreach {
    /// The manifest.
    pub file: String,
    /// Line of the task.
    pub line: usize,
    /// The task id.
    pub task: String,
    /// The element worked on.
    pub element: String,
    /// The protected element whose zone it is in.
    pub protected: String,
    /// Plan-view distance between the two, metres.
    pub distance_m: f64,
    /// The zone's width, metres.
    pub zone_m: f64,
    /// The approval id the scene requires.
    pub approval: String,
}

/// One phase of one project, as a window of simulated days.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseWindow {
    /// Index of the project in [`Plan::projects`].
    pub project: usize,
    /// Which phase.
    pub kind: PhaseKind,
    /// First day; `None` if a gate keeps it from ever opening.
    pub start: Option<i32>,
    /// Day after the last day; `None` if a gate keeps it from closing.
    pub end: Option<i32>,
    /// Declared length in days.
    pub planned_days: i32,
    /// Which gate it waited for, or why it is blocked.
    pub note: Option<String>,
}

impl PhaseWindow {
    /// Status on `day`.
    pub fn status_on(&self, day: i32) -> PhaseStatus {
        match (self.start, self.end) {
            (None, _) => PhaseStatus::Blocked,
            (Some(s), _) if day < s => PhaseStatus::Pending,
            (Some(_), Some(e)) if day >= e => PhaseStatus::Done,
            (Some(s), None) if day >= s + self.planned_days => PhaseStatus::Blocked,
            _ => PhaseStatus::Active,
        }
    }
}

/// A task as scheduled.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskWindow {
    /// Task id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Index of the project.
    pub project: usize,
    /// What it does.
    pub action: Action,
    /// First day, `None` if its phase never opens.
    pub start: Option<i32>,
    /// Day it is finished.
    pub end: Option<i32>,
    /// Elements it selected.
    pub elements: usize,
    /// Indices of the elements it works on (those it selected, less any whose scope did not
    /// approve), ascending.
    pub selected: Vec<u32>,
    /// Buildings it touches (dense building indices).
    pub buildings: BTreeSet<usize>,
    /// Cost in yuan: the lump sum plus the priced quantities (0 quantities when it selects
    /// nothing; the indicators then count nothing).
    pub cost: f64,
    /// The task's unit-rate quantities, priced (empty without `rates`).
    pub quantities: Vec<super::quantities::PricedQuantity>,
    /// Noisy work.
    pub noisy: bool,
    /// Days in `start..end` on which the scene's calendar lets it do no work (holidays, quiet
    /// days for noisy work, declared stops of its action), ascending.
    pub idle_days: Vec<i32>,
    /// Day its work on each building it touches is finished (dense building index → day).
    pub building_ends: BTreeMap<usize, i32>,
    /// What it declares it improves in each building it finishes (`improves`).
    pub improves: Option<crate::manifest::risk::Improvement>,
}

impl TaskWindow {
    /// Whether it works on `day`: inside its window and not an idle day.
    pub fn works_on(&self, day: i32) -> bool {
        matches!((self.start, self.end), (Some(s), Some(e)) if s <= day && day < e) && self.idle_days.binary_search(&day).is_err()
    }
}

/// One approval as scheduled.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalWindow {
    /// Approval id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Authority.
    pub authority: String,
    /// Day the authority received it.
    pub start: Option<i32>,
    /// Day it was granted (`None`: refused, undecided, or never started).
    pub granted: Option<i32>,
    /// Day the time limit runs out (`start + time_limit`).
    pub due: Option<i32>,
    /// Day it was refused.
    pub refused: Option<i32>,
    /// Granted by the jurisdiction's deemed-grant rule at the time limit, not by a decision.
    pub deemed: bool,
    /// Decided (or still undecided) after its time limit: the day it became overdue.
    pub overdue_since: Option<i32>,
    /// Days after the time limit that the grant came (0 when on time or deemed).
    pub days_late: i32,
    /// The jurisdiction's rule for silence past the limit.
    pub on_timeout: OnTimeout,
}

impl ApprovalWindow {
    /// Received, not decided, and not deemed: what sits in the authority's inbox.
    pub fn is_pending(&self) -> bool {
        self.start.is_some() && self.granted.is_none() && self.refused.is_none()
    }
}

/// A project's approvals: the plan as played and the two lead times.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalReport {
    /// Index of the project.
    pub project: usize,
    /// Days to grant every approval one after another (sum of time limits).
    pub serial_days: i32,
    /// Days to grant every approval in parallel (longest dependency chain of time limits).
    pub parallel_days: i32,
    /// The approvals as scheduled in the plan's mode.
    pub approvals: Vec<ApprovalWindow>,
    /// Day the approval phase opened.
    pub opened: Option<i32>,
    /// Days from the approval phase opening to the last grant, as achieved with the recorded
    /// decisions (`None` while an approval is pending or refused).
    pub achieved_days: Option<i32>,
}

/// Start day of a step whose task never starts because a gate blocks its phase. The step still
/// decides the element's initial state (a new element stays planned).
pub const NEVER: i32 = i32::MAX;

/// A step in an element's renewal: an action over a window of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// First day of the work.
    pub start: i32,
    /// Day the work is finished.
    pub end: i32,
    /// What is done.
    pub action: Action,
}

/// The ordered steps of one element (sorted by start day).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElementSchedule(pub Vec<Step>);

impl ElementSchedule {
    /// The element's lifecycle state on `day`: a pure function of its steps.
    pub fn state_on(&self, day: i32) -> LifecycleState {
        let mut state = match self.0.first().map(|s| s.action) {
            Some(Action::New | Action::Temporary) => LifecycleState::Planned,
            Some(Action::Absent) => return LifecycleState::Absent,
            _ => LifecycleState::Existing,
        };
        for step in &self.0 {
            if day < step.start {
                break;
            }
            let done = day >= step.end;
            state = match (step.action, done) {
                (Action::Keep, _) => state,
                (Action::Retrofit, false) | (Action::New, false) => LifecycleState::UnderConstruction,
                (Action::Retrofit, true) => LifecycleState::Renewed,
                (Action::New, true) => LifecycleState::Built,
                (Action::Demolish, false) => LifecycleState::UnderDemolition,
                (Action::Demolish, true) => LifecycleState::Demolished,
                (Action::Temporary, false) => LifecycleState::Temporary,
                (Action::Temporary, true) => LifecycleState::Removed,
                (Action::Absent, _) => LifecycleState::Absent,
            };
        }
        state
    }
}

/// The resolved plan.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The scenario it was resolved for (`None`: the base plan).
    pub scenario: Option<String>,
    /// Project names.
    pub projects: Vec<String>,
    /// Every phase window of every project.
    pub phases: Vec<PhaseWindow>,
    /// Every task as scheduled.
    pub tasks: Vec<TaskWindow>,
    /// Approvals per project that has any.
    pub approvals: Vec<ApprovalReport>,
    /// Steps per element, indexed like the model's elements.
    pub schedules: Vec<ElementSchedule>,
    /// Day after the last phase or task that ends.
    pub end: i32,
    /// The scenarios `choice` consultations adopted, in the order they take effect
    /// (`scenario` is the last one's).
    pub choices: Vec<decision::ScenarioChoice>,
}

impl Plan {
    /// Resolves `manifest`'s base plan (or `scenario`) against `model`, following the
    /// scenarios that `choice` consultations adopted (`scenario_chosen` events).
    ///
    /// How a choice taking effect on day E joins the plans (so that the state before E is
    /// exactly the previous plan's, and the winner's from E on):
    /// - a task of the winning scenario that the plan played before did not have starts no
    ///   earlier than E (its dependants follow it);
    /// - a task both have keeps its schedule;
    /// - a task the winner leaves out is dropped if it had not started by E, and finishes as
    ///   planned if it had (work under way is not undone);
    /// - the approval mode stays that of `scenario` (approvals under way are not re-planned).
    ///
    /// Several choices apply in the order they take effect.
    pub fn resolve(manifest: &Manifest, scenario: Option<&str>, model: &Model) -> Result<Self, PlanError> {
        Self::resolve_following(manifest, scenario, model, true)
    }

    /// Resolves `scenario` (or the base plan) as if it were played from the start, ignoring
    /// the choices consultations made: what the viewer compares scenarios with.
    pub fn resolve_fixed(manifest: &Manifest, scenario: Option<&str>, model: &Model) -> Result<Self, PlanError> {
        Self::resolve_following(manifest, scenario, model, false)
    }

    fn resolve_following(manifest: &Manifest, scenario: Option<&str>, model: &Model, follow: bool) -> Result<Self, PlanError> {
        let lookup = |name: Option<&str>| -> Result<Option<&crate::manifest::ScenarioSpec>, PlanError> {
            match name {
                None => Ok(None),
                Some(name) => manifest.scenario(name).map(Some).ok_or_else(|| PlanError::UnknownScenario {
                    file: manifest.file.clone(),
                    name: name.to_owned(),
                    known: manifest.scenarios.iter().map(|s| s.name.clone()).collect(),
                }),
            }
        };
        let initial = lookup(scenario)?;
        let choices = if follow { decision::scenario_choices(&manifest.events) } else { Vec::new() };
        let mut tasks = manifest.tasks_for(initial);
        let mut floors: Vec<Option<i32>> = vec![None; tasks.len()];
        let mut plan = Self::resolve_tasks(manifest, initial, initial, model, &tasks, &floors)?;
        let mut played = scenario.map(str::to_owned);
        for choice in &choices {
            if choice.scenario == played {
                continue;
            }
            let next = manifest.tasks_for(lookup(choice.scenario.as_deref())?);
            let mut next_floors: Vec<Option<i32>> = next
                .iter()
                .map(|(_, t)| match tasks.iter().position(|(_, p)| std::ptr::eq(*p, *t)) {
                    Some(i) => floors[i],
                    None => Some(choice.day),
                })
                .collect();
            let mut joined = next;
            for (i, (pi, t)) in tasks.iter().enumerate() {
                let started = plan.tasks.get(i).and_then(|w| w.start).is_some_and(|s| s < choice.day);
                if started && !joined.iter().any(|(_, n)| n.id == t.id) {
                    joined.push((*pi, *t));
                    next_floors.push(floors[i]);
                }
            }
            tasks = joined;
            floors = next_floors;
            plan = Self::resolve_tasks(manifest, initial, lookup(choice.scenario.as_deref())?, model, &tasks, &floors)?;
            played = choice.scenario.clone();
        }
        plan.scenario = played;
        plan.choices = choices;
        Ok(plan)
    }

    /// Resolves the phases (approval mode from `mode_from`) and `tasks`, each starting no
    /// earlier than its floor, on the design of `design` ([`absent_elements`]: elements absent
    /// from it are selected by no task and absent on every day). A plan that follows a choice
    /// shows the chosen scenario's design from day 0: a variant is a design, not a piece of works.
    fn resolve_tasks(
        manifest: &Manifest,
        mode_from: Option<&crate::manifest::ScenarioSpec>,
        design: Option<&crate::manifest::ScenarioSpec>,
        model: &Model,
        tasks: &[(usize, &crate::manifest::TaskSpec)],
        floors: &[Option<i32>],
    ) -> Result<Self, PlanError> {
        let scenario_spec = mode_from;
        let building_of = buildings_of_elements(model);
        let building_count = building_of.iter().flatten().max().map_or(0, |b| b + 1);
        let slot_of = work_order(manifest, model, building_count);
        let absent = absent_elements(manifest, design, model);
        let mut plan = Plan {
            scenario: None,
            schedules: absent
                .iter()
                .map(|&a| if a { ElementSchedule(vec![Step { start: i32::MIN, end: i32::MIN, action: Action::Absent }]) } else { ElementSchedule::default() })
                .collect(),
            ..Plan::default()
        };

        // Phases, under the gates.
        let mut phase_of: BTreeMap<(usize, PhaseKind), (Option<i32>, Option<i32>)> = BTreeMap::new();
        for (pi, project) in manifest.projects.iter().enumerate() {
            plan.projects.push(project.name.clone());
            let mode = scenario_spec.and_then(|s| s.approval_mode).unwrap_or(manifest.approval_mode);
            let report = schedule_approvals(manifest, mode, pi, project)?;
            for window in phase_windows(manifest, pi, project, report.as_ref()) {
                phase_of.insert((pi, window.kind), (window.start, window.end));
                plan.phases.push(window);
            }
            plan.approvals.extend(report);
        }

        // Tasks, in dependency order.
        let order = topological_order(&manifest.file, tasks)?;
        let mut end_of: BTreeMap<&str, Option<i32>> = BTreeMap::new();
        let heritage = heritage_elements(manifest, model);
        check_heritage_zones(manifest, model, tasks, &absent)?;
        let calendar = manifest.calendar.as_ref();
        let mut windows = vec![None; tasks.len()];
        for ti in order {
            let (pi, task) = tasks[ti];
            let (phase_start, _) = phase_of.get(&(pi, task.phase)).copied().unwrap_or((None, None));
            let mut start = phase_start.map(|s| s + task.start as i32);
            for dep in &task.after {
                let pred_end = end_of.get(dep.task.as_str()).copied().flatten();
                start = match (start, pred_end) {
                    (Some(s), Some(e)) => Some(s.max(e + dep.lag)),
                    _ => None,
                };
            }
            if let Some(floor) = floors[ti] {
                start = start.map(|s| s.max(floor));
            }
            // The duration counts working days of the scene's calendar: the task starts on its
            // first working day and stretches over the days it cannot work.
            let start = start.map(|s| working_day(calendar, manifest.start, s, 0, task.action, task.noisy));
            let end = start.map(|s| working_day(calendar, manifest.start, s, task.duration.saturating_sub(1), task.action, task.noisy) + 1);
            end_of.insert(task.id.as_str(), end);
            windows[ti] = Some((start, end));
        }
        let mut scoped_end = 0;
        for (ti, (pi, task)) in tasks.iter().enumerate() {
            let (start, end) = windows[ti].unwrap_or((None, None));
            let mut window = TaskWindow {
                id: task.id.clone(),
                name: task.name.clone(),
                project: *pi,
                action: task.action,
                start,
                end,
                elements: 0,
                selected: Vec::new(),
                buildings: BTreeSet::new(),
                cost: task.cost,
                quantities: Vec::new(),
                noisy: task.noisy,
                idle_days: match (calendar, start, end) {
                    (Some(c), Some(s), Some(e)) => (s..e)
                        .filter(|d| !c.works_on(CivilDate::from_sim_day(manifest.start, SimDay(*d)), task.action, task.noisy))
                        .collect(),
                    _ => Vec::new(),
                },
                building_ends: BTreeMap::new(),
                improves: task.improves.clone(),
            };
            let mut selected = Vec::new();
            for (ei, element) in model.elements.iter().enumerate() {
                if absent[ei] || !selects(&task.select, model, ei) {
                    continue;
                }
                if task.action == Action::Demolish
                    && let Some(reason) = heritage.get(&ei)
                {
                    return Err(PlanError::HeritageDemolition {
                        file: manifest.file.clone(),
                        line: task.line,
                        task: task.id.clone(),
                        element: describe(element),
                        reason: reason.clone(),
                    });
                }
                window.elements += 1;
                selected.push(ei);
                if let Some(b) = building_of[ei] {
                    window.buildings.insert(b);
                }
                let (Some(base), Some(_)) = (start, end) else {
                    plan.schedules[ei].0.push(Step { start: NEVER, end: NEVER, action: task.action });
                    continue;
                };
                let duration = task.duration as i32;
                // Slots in working days, mapped onto plan days through the calendar.
                let at = |k: i32| working_day(calendar, manifest.start, base, u32::try_from(k).unwrap_or(0), task.action, task.noisy);
                let (s, e) = match (task.per_building, building_of[ei]) {
                    (true, Some(b)) if building_count > 1 => {
                        let slot = f64::from(duration) / building_count as f64;
                        let k = slot_of.get(b).copied().unwrap_or(b);
                        let ks = (slot * k as f64).floor() as i32;
                        let ke = ((slot * (k + 1) as f64).floor() as i32).max(ks + 1);
                        (at(ks), at(ke - 1) + 1)
                    }
                    _ => (base, at(duration - 1) + 1),
                };
                // A decision taken per unit or per building: the work proceeds only where that
                // scope's outcome in effect approves it, and not before the day it was decided.
                let (s, e) = match scope_gate(manifest, *pi, model, ei) {
                    ScopeGate::Project => (s, e),
                    ScopeGate::Approved(day) if day > s => (day, day + (e - s)),
                    ScopeGate::Approved(_) => (s, e),
                    ScopeGate::NotApproved => {
                        window.elements -= 1;
                        selected.pop();
                        plan.schedules[ei].0.push(Step { start: NEVER, end: NEVER, action: task.action });
                        continue;
                    }
                };
                scoped_end = scoped_end.max(e);
                if let Some(b) = building_of[ei] {
                    let end = window.building_ends.entry(b).or_insert(e);
                    *end = (*end).max(e);
                }
                plan.schedules[ei].0.push(Step { start: s, end: e, action: task.action });
            }
            window.selected = selected.iter().map(|&i| i as u32).collect();
            if task.rates.any() {
                window.quantities = super::quantities::price(model, &selected, &task.rates);
                window.cost += window.quantities.iter().map(|q| q.yuan).sum::<f64>();
            }
            plan.tasks.push(window);
        }
        for schedule in &mut plan.schedules {
            schedule.0.sort_by_key(|s| (s.start, s.end));
        }
        plan.end = plan
            .phases
            .iter()
            .filter_map(|p| p.end)
            .chain(plan.tasks.iter().filter_map(|t| t.end))
            .chain(std::iter::once(scoped_end))
            .max()
            .unwrap_or(0);
        Ok(plan)
    }

    /// Phase statuses on `day`.
    pub fn phase_infos(&self, day: i32) -> Vec<PhaseInfo> {
        self.phases
            .iter()
            .map(|p| PhaseInfo {
                project: self.projects[p.project].clone(),
                kind: p.kind,
                start: p.start.map(SimDay),
                end: p.end.map(SimDay),
                status: p.status_on(day),
                note: p.note.clone(),
            })
            .collect()
    }
}

/// The slot each building takes in a `per_building` task (dense building index → position):
/// the model's order, or under `[risk] work_order = "least_safe_first"` ascending safety score
/// on the plan's start date (the `[risk.building]` score of the survey the model carries;
/// ties keep the model's order).
pub fn work_order(manifest: &Manifest, model: &Model, building_count: usize) -> Vec<usize> {
    use crate::manifest::risk::{BuildingSurvey, WorkOrder};
    let config = manifest.risk.clone().unwrap_or_default();
    if config.work_order == WorkOrder::Model {
        return (0..building_count).collect();
    }
    let dense = building_indices(model);
    let mut scores = vec![f64::INFINITY; building_count];
    for (node, b) in model.spatial.iter().zip(&dense) {
        let Some(b) = *b else { continue };
        let text = |set: &str, name: &str| match node.property(set, name) {
            Some(PropertyValue::Text(t) | PropertyValue::Other(t)) => Some(t.trim().to_owned()),
            _ => None,
        };
        let number = |set: &str, name: &str| match node.property(set, name) {
            Some(PropertyValue::Real(r)) if r.is_finite() => Some(*r),
            Some(PropertyValue::Integer(i)) => Some(*i as f64),
            Some(PropertyValue::Text(t) | PropertyValue::Other(t)) => t.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
            _ => None,
        };
        let (grade, structure) = (text("RenewTwin_Building", "InspectionGrade"), text("RenewTwin_Building", "StructureType"));
        let survey = BuildingSurvey {
            grade: grade.as_deref(),
            built: number("Pset_BuildingCommon", "YearOfConstruction").map(|y| y as i32),
            structure: structure.as_deref(),
            defects: number("RenewTwin_Building", "RecordedDefects"),
        };
        if let Some(s) = scores.get_mut(b) {
            *s = config.building.score(&config.building.hazards(&survey, manifest.start.year));
        }
    }
    let mut order: Vec<usize> = (0..building_count).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]).then(a.cmp(b)));
    let mut slot_of = vec![0; building_count];
    for (k, b) in order.into_iter().enumerate() {
        slot_of[b] = k;
    }
    slot_of
}

/// How a per-scope decision gates one element's work.
enum ScopeGate {
    /// The project decides as one (or the element names no scope): the phase gate suffices.
    Project,
    /// The element's scope approved, on this day.
    Approved(i32),
    /// The element's scope rejected, or has not decided.
    NotApproved,
}

/// The scope key of element `ei` under `scope`: its unit's `RenewTwin_Unit.Unit`, or its
/// building's name.
pub fn scope_key(scope: Scope, model: &Model, ei: usize) -> Option<String> {
    let element = model.elements.get(ei)?;
    match scope {
        Scope::Project => None,
        Scope::Unit => match element.property(decision::UNIT_PSET, "Unit")? {
            PropertyValue::Text(t) | PropertyValue::Other(t) => Some(t.clone()),
            _ => None,
        },
        Scope::Building => {
            let mut node = element.container;
            for _ in 0..model.spatial.len() {
                let i = node?;
                if model.spatial[i].kind == SpatialKind::Building {
                    return model.spatial[i].name.clone();
                }
                node = model.spatial[i].parent;
            }
            None
        }
    }
}

fn scope_gate(manifest: &Manifest, pi: usize, model: &Model, ei: usize) -> ScopeGate {
    let project = &manifest.projects[pi];
    if !project.consultation_required {
        return ScopeGate::Project;
    }
    let Some(key) = scope_key(project.decision.scope, model, ei) else { return ScopeGate::Project };
    match decision::scope_outcome(&project.id, &key, &manifest.events) {
        Some((true, day)) => ScopeGate::Approved(day),
        _ => ScopeGate::NotApproved,
    }
}

pub(crate) fn describe(e: ElementRef<'_>) -> String {
    let name = e.name.map(|n| format!(" {n:?}")).unwrap_or_default();
    format!("{} #{} {}{name}", e.class, e.step_id, e.global_id)
}

fn first_event<'a>(manifest: &'a Manifest, project: &str, pred: impl Fn(&EventKind) -> bool) -> Option<&'a crate::manifest::EventSpec> {
    manifest.events.iter().filter(|e| e.project == project && pred(&e.kind)).min_by_key(|e| e.day)
}

/// The phase windows of one project under the gates.
fn phase_windows(manifest: &Manifest, pi: usize, project: &ProjectSpec, approvals: Option<&ApprovalReport>) -> Vec<PhaseWindow> {
    let mut out = Vec::new();
    let mut open: Result<i32, String> = Ok(0);
    for kind in PhaseKind::ALL {
        let Some(&days) = project.phase_days.get(&kind) else { continue };
        let days = i32::try_from(days).unwrap_or(i32::MAX / 4);
        let start = match &open {
            Ok(s) => *s,
            Err(reason) => {
                out.push(PhaseWindow { project: pi, kind, start: None, end: None, planned_days: days, note: Some(reason.clone()) });
                continue;
            }
        };
        let (end, note, next): (Option<i32>, Option<String>, Result<(), String>) = match kind {
            PhaseKind::Consultation if project.consultation_required => {
                // The latest outcome supersedes earlier ones (a new consultation after a
                // rejection); the phase closes once an outcome in effect approves the scheme.
                match decision::consultation_closes(&project.id, start, days, &manifest.events) {
                    Some(close) => {
                        let note = format!("outcome in effect on day {close}: approved");
                        (Some(close), Some(note), Ok(()))
                    }
                    None => {
                        let rejected = manifest.events.iter().any(|e| e.project == project.id && matches!(e.kind, EventKind::ConsultationClosed { .. }));
                        if rejected {
                            let why = "the consultation rejected the scheme".to_owned();
                            (None, Some(why.clone()), Err(why))
                        } else {
                            (None, Some("waits for the consultation's recorded outcome".into()), Err("waits for the consultation to close".into()))
                        }
                    }
                }
            }
            PhaseKind::Approval => match approvals {
                Some(report) => {
                    if let Some(refused) = report.approvals.iter().find(|a| a.refused.is_some()) {
                        let why = format!("approval {:?} was refused by {}", refused.name, refused.authority);
                        (None, Some(why.clone()), Err(why))
                    } else if let Some(waiting) = report.approvals.iter().find(|a| a.is_pending()) {
                        let late = waiting.due.map(|d| format!(" (time limit ends on day {d}; overdue after it)")).unwrap_or_default();
                        let why = format!("waits for approval {:?} by {}{late}", waiting.name, waiting.authority);
                        (None, Some(why.clone()), Err(why))
                    } else {
                        let granted = report.approvals.iter().filter_map(|a| a.granted).max().unwrap_or(start).max(start);
                        (Some(granted), Some(format!("every required approval granted by day {granted}")), Ok(()))
                    }
                }
                None => (Some(start + days), None, Ok(())),
            },
            PhaseKind::Acceptance => {
                let named = |up_front: &Option<String>, owner: bool| {
                    if up_front.is_some() {
                        return Some(0);
                    }
                    first_event(manifest, &project.id, |k| {
                        if owner { matches!(k, EventKind::OwnerNamed(_)) } else { matches!(k, EventKind::FundingNamed(_)) }
                    })
                    .map(|e| e.day)
                };
                match (named(&project.operation_owner, true), named(&project.funding, false)) {
                    (Some(o), Some(f)) => (Some((start + days).max(o).max(f)), None, Ok(())),
                    (o, f) => {
                        let missing = match (o, f) {
                            (None, None) => "the operation & maintenance owner and the funding",
                            (None, _) => "the operation & maintenance owner",
                            _ => "the funding",
                        };
                        let why = format!("construction cannot be accepted until {missing} are named (build and manage as one)");
                        (None, Some(why.clone()), Err(why))
                    }
                }
            }
            _ => (Some(start + days), None, Ok(())),
        };
        out.push(PhaseWindow { project: pi, kind, start: Some(start), end, planned_days: days, note });
        open = match (next, end) {
            (Ok(()), Some(e)) => Ok(e),
            (Err(reason), _) => Err(reason),
            (Ok(()), None) => Err(format!("waits for the {} phase", kind.key())),
        };
    }
    out
}

/// Topological order of approvals (Kahn), or the ids on a cycle.
fn approval_order(approvals: &[ApprovalSpec]) -> Result<Vec<usize>, Vec<String>> {
    let mut indegree: Vec<usize> = approvals.iter().map(|a| a.depends.len()).collect();
    let mut ready: Vec<usize> = (0..approvals.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::new();
    while let Some(i) = ready.pop() {
        order.push(i);
        for (j, a) in approvals.iter().enumerate() {
            if a.depends.iter().any(|d| *d == approvals[i].id) {
                indegree[j] -= 1;
                if indegree[j] == 0 {
                    ready.push(j);
                }
            }
        }
        ready.sort_unstable_by(|a, b| b.cmp(a));
    }
    if order.len() < approvals.len() {
        return Err((0..approvals.len()).filter(|i| !order.contains(i)).map(|i| approvals[i].id.clone()).collect());
    }
    Ok(order)
}

/// Schedules a project's approvals from the day its approval phase opens, in the manifest's mode.
fn schedule_approvals(manifest: &Manifest, mode: ApprovalMode, pi: usize, project: &ProjectSpec) -> Result<Option<ApprovalReport>, PlanError> {
    if project.approvals.is_empty() {
        return Ok(None);
    }
    let order = approval_order(&project.approvals).map_err(|approvals| PlanError::ApprovalCycle {
        file: manifest.file.clone(),
        project: project.id.clone(),
        approvals,
    })?;
    let limits: Vec<i32> = project.approvals.iter().map(|a| a.time_limit as i32).collect();
    let serial_days = limits.iter().sum();
    let mut finish = vec![0i32; limits.len()];
    for &i in &order {
        let ready = project.approvals[i]
            .depends
            .iter()
            .filter_map(|d| project.approvals.iter().position(|a| &a.id == d))
            .map(|j| finish[j])
            .max()
            .unwrap_or(0);
        finish[i] = ready + limits[i];
    }
    let parallel_days = finish.iter().copied().max().unwrap_or(0);

    // The approval phase opens once the phases before it close: find that day without the
    // approvals (they only decide when the phase closes).
    let opens = phase_windows(manifest, pi, &ProjectSpec { approvals: Vec::new(), ..project.clone() }, None)
        .into_iter()
        .find(|w| w.kind == PhaseKind::Approval)
        .and_then(|w| w.start);
    let mut windows: Vec<ApprovalWindow> = project
        .approvals
        .iter()
        .map(|a| ApprovalWindow {
            id: a.id.clone(),
            name: a.name.clone(),
            authority: a.authority.clone(),
            start: None,
            granted: None,
            due: None,
            refused: None,
            deemed: false,
            overdue_since: None,
            days_late: 0,
            on_timeout: a.on_timeout,
        })
        .collect();
    if let Some(opens) = opens {
        let mut previous = opens;
        for &i in &order {
            let a = &project.approvals[i];
            let deps_done: Option<i32> = a
                .depends
                .iter()
                .filter_map(|d| project.approvals.iter().position(|x| &x.id == d))
                .try_fold(opens, |acc, j| windows[j].granted.map(|g| acc.max(g)));
            let start = match (mode, deps_done) {
                (_, None) => None,
                (ApprovalMode::Parallel, Some(d)) => Some(d),
                (ApprovalMode::Serial, Some(d)) => Some(d.max(previous)),
            };
            let Some(s) = start else { continue };
            let due = s + a.time_limit as i32;
            // The first decision recorded once the authority has the file (an earlier event
            // belongs to no window of this approval).
            let recorded = manifest.events.iter().filter(|e| e.project == project.id && e.day >= s).find_map(|e| match &e.kind {
                EventKind::ApprovalGranted { approval } if *approval == a.id => Some(Ok(e.day)),
                EventKind::ApprovalRefused { approval } if *approval == a.id => Some(Err(e.day)),
                _ => None,
            });
            let w = &mut windows[i];
            w.start = Some(s);
            w.due = Some(due);
            match (a.on_timeout, recorded) {
                // Deemed granted at the limit unless decided before it.
                (OnTimeout::DeemedGranted, Some(Ok(g))) if g <= due => w.granted = Some(g),
                (OnTimeout::DeemedGranted, Some(Err(r))) if r <= due => w.refused = Some(r),
                (OnTimeout::DeemedGranted, _) => {
                    w.granted = Some(due);
                    w.deemed = true;
                }
                // Otherwise the recorded day stands, however late: nothing that depends on
                // the grant starts before it.
                (OnTimeout::Overdue, Some(Ok(g))) => {
                    w.granted = Some(g);
                    w.days_late = (g - due).max(0);
                }
                (OnTimeout::Overdue, Some(Err(r))) => w.refused = Some(r),
                (OnTimeout::Overdue, None) => {}
            }
            let decided = w.granted.or(w.refused);
            if decided.is_none_or(|d| d > due) && !w.deemed {
                w.overdue_since = Some(due);
            }
            if let Some(g) = w.granted {
                previous = g;
            }
        }
    }
    let all_granted = windows.iter().all(|w| w.granted.is_some());
    let achieved_days = match opens {
        Some(o) if all_granted => windows.iter().filter_map(|w| w.granted).max().map(|g| g - o),
        _ => None,
    };
    Ok(Some(ApprovalReport { project: pi, serial_days, parallel_days, approvals: windows, opened: opens, achieved_days }))
}

/// Topological order of tasks by their finish-to-start dependencies.
fn topological_order(file: &str, tasks: &[(usize, &crate::manifest::TaskSpec)]) -> Result<Vec<usize>, PlanError> {
    let index: BTreeMap<&str, usize> = tasks.iter().enumerate().map(|(i, (_, t))| (t.id.as_str(), i)).collect();
    let mut indegree = vec![0usize; tasks.len()];
    let mut successors = vec![Vec::new(); tasks.len()];
    for (i, (_, t)) in tasks.iter().enumerate() {
        for d in &t.after {
            if let Some(&j) = index.get(d.task.as_str()) {
                indegree[i] += 1;
                successors[j].push(i);
            }
        }
    }
    let mut ready: std::collections::VecDeque<usize> = (0..tasks.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(tasks.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &s in &successors[i] {
            indegree[s] -= 1;
            if indegree[s] == 0 {
                ready.push_back(s);
            }
        }
    }
    if order.len() < tasks.len() {
        let tasks = (0..tasks.len()).filter(|i| !order.contains(i)).map(|i| tasks[i].1.id.clone()).collect();
        return Err(PlanError::TaskCycle { file: file.to_owned(), tasks });
    }
    Ok(order)
}

/// Protected elements and why.
/// Plan-view bounds `[min x, min y, max x, max y]` of element `ei`'s placed meshes.
pub(crate) fn plan_bounds(model: &Model, ei: usize) -> Option<[f64; 4]> {
    let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for p in model.elements.get(ei)?.placements {
        let Some(mesh) = model.meshes.get(p.mesh.0 as usize) else { continue };
        let t = &p.transform;
        for v in mesh.positions.chunks_exact(3) {
            let (x, y, z) = (f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
            let (wx, wy) = (t[0] * x + t[4] * y + t[8] * z + t[12], t[1] * x + t[5] * y + t[9] * z + t[13]);
            b = [b[0].min(wx), b[1].min(wy), b[2].max(wx), b[3].max(wy)];
        }
    }
    (b[0] <= b[2]).then_some(b)
}

/// Distance between two plan-view boxes (0 when they overlap).
pub(crate) fn box_distance(a: [f64; 4], b: [f64; 4]) -> f64 {
    let dx = (b[0] - a[2]).max(a[0] - b[2]).max(0.0);
    let dy = (b[1] - a[3]).max(a[1] - b[3]).max(0.0);
    dx.hypot(dy)
}

/// Every task that changes an element (any action but keep) within the control zone of a
/// protected element whose `[[heritage]]` names an `approval` must belong to a project that
/// declares that approval (so its approval phase waits for the heritage authority).
fn check_heritage_zones(manifest: &Manifest, model: &Model, tasks: &[(usize, &crate::manifest::TaskSpec)], absent: &[bool]) -> Result<(), PlanError> {
    struct Zone<'a> {
        element: usize,
        bounds: [f64; 4],
        width: f64,
        approval: &'a str,
    }
    let mut zones = Vec::new();
    for h in &manifest.heritage {
        let Some(approval) = h.approval.as_deref() else { continue };
        for ei in (0..model.elements.len()).filter(|&i| selects(&h.select, model, i)) {
            let width = h.zone_m.or_else(|| model.elements.at(ei).property("RenewTwin_Heritage", "ControlZone").and_then(number));
            if let (Some(width), Some(bounds)) = (width, plan_bounds(model, ei)) {
                zones.push(Zone { element: ei, bounds, width, approval });
            }
        }
    }
    if zones.is_empty() {
        return Ok(());
    }
    for (pi, task) in tasks {
        if task.action == Action::Keep {
            continue;
        }
        let project = &manifest.projects[*pi];
        for ei in (0..model.elements.len()).filter(|&i| !absent[i] && selects(&task.select, model, i)) {
            let Some(bounds) = plan_bounds(model, ei) else { continue };
            for z in &zones {
                let distance = box_distance(bounds, z.bounds);
                if distance <= z.width && !project.approvals.iter().any(|a| a.id == z.approval) {
                    return Err(PlanError::HeritageApprovalMissing(Box::new(ZoneBreach {
                        file: manifest.file.clone(),
                        line: task.line,
                        task: task.id.clone(),
                        element: describe(model.elements.at(ei)),
                        protected: describe(model.elements.at(z.element)),
                        distance_m: distance,
                        zone_m: z.width,
                        approval: z.approval.to_owned(),
                    })));
                }
            }
        }
    }
    Ok(())
}

fn number(value: &PropertyValue) -> Option<f64> {
    match value {
        PropertyValue::Real(r) => Some(*r),
        PropertyValue::Integer(i) => Some(*i as f64),
        PropertyValue::Text(t) | PropertyValue::Other(t) => t.trim().parse().ok(),
        PropertyValue::Bool(_) => None,
    }
}

fn heritage_elements(manifest: &Manifest, model: &Model) -> BTreeMap<usize, String> {
    let mut out = BTreeMap::new();
    for h in &manifest.heritage {
        for i in 0..model.elements.len() {
            if selects(&h.select, model, i) {
                out.entry(i).or_insert_with(|| h.reason.clone());
            }
        }
    }
    out
}

/// For each model element, whether it is absent from the design of `scenario` (`None`: the
/// base plan): an element of another scenario's variant model, or an element of the base
/// models that one of `scenario`'s variant models `replaces`. Which input each element came
/// from is read from `model.sources` against [`Manifest::all_models`]; a model that was not
/// loaded from this manifest's models (no sources, or another count) is all base.
pub fn absent_elements(manifest: &Manifest, scenario: Option<&crate::manifest::ScenarioSpec>, model: &Model) -> Vec<bool> {
    let mut absent = vec![false; model.elements.len()];
    let variant_of = manifest.variant_of();
    if model.sources.len() != variant_of.len() || !variant_of.iter().any(Option::is_some) {
        return absent;
    }
    let shown = scenario.and_then(|s| manifest.scenarios.iter().position(|x| x.name == s.name));
    let mut base = Vec::new();
    for (source, owner) in model.sources.iter().zip(&variant_of) {
        let range = source.first_element..(source.first_element + source.element_count).min(absent.len());
        match owner {
            None => base.extend(range),
            Some(si) if Some(*si) != shown => absent[range].fill(true),
            Some(_) => {}
        }
    }
    if let Some(s) = scenario {
        for replaces in s.models.iter().filter_map(|m| m.replaces.as_ref()) {
            for &ei in &base {
                if selects(replaces, model, ei) {
                    absent[ei] = true;
                }
            }
        }
    }
    absent
}

/// What a scenario's design adds and replaces (for the viewer's list of variants).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScenarioDesign {
    /// Each variant model of the scenario: its source name and how many elements it adds.
    pub models: Vec<VariantInfo>,
    /// Elements of the base models the scenario's variants replace (absent from its plan).
    pub replaced: usize,
}

/// One variant model as loaded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VariantInfo {
    /// The model's source name (file name, or the generator's name for it).
    pub model: String,
    /// Elements it adds to the scenario.
    pub elements: usize,
}

/// The design of scenario `scenario` of `manifest` over `model` (empty for a scenario that
/// shares the base design, or a model not loaded from this manifest's models).
pub fn scenario_design(manifest: &Manifest, scenario: &crate::manifest::ScenarioSpec, model: &Model) -> ScenarioDesign {
    let variant_of = manifest.variant_of();
    if model.sources.len() != variant_of.len() || scenario.models.is_empty() {
        return ScenarioDesign::default();
    }
    let si = manifest.scenarios.iter().position(|s| s.name == scenario.name);
    let models = model
        .sources
        .iter()
        .zip(&variant_of)
        .filter(|(_, owner)| owner.is_some() && **owner == si)
        .map(|(s, _)| VariantInfo { model: s.source.name.clone(), elements: s.element_count })
        .collect();
    let absent = absent_elements(manifest, Some(scenario), model);
    let replaced = model
        .sources
        .iter()
        .zip(&variant_of)
        .filter(|(_, owner)| owner.is_none())
        .map(|(s, _)| absent[s.first_element..(s.first_element + s.element_count).min(absent.len())].iter().filter(|a| **a).count())
        .sum();
    ScenarioDesign { models, replaced }
}

/// Dense building index (in spatial-tree order) of each element's container, if any.
pub fn buildings_of_elements(model: &Model) -> Vec<Option<usize>> {
    let dense = building_indices(model);
    let building_of_node = |mut i: usize| {
        for _ in 0..model.spatial.len() {
            if let Some(b) = dense[i] {
                return Some(b);
            }
            i = model.spatial[i].parent?;
        }
        None
    };
    model.elements.iter().map(|e| e.container.and_then(building_of_node)).collect()
}

/// For each spatial node, its dense building index if it is a building.
pub fn building_indices(model: &Model) -> Vec<Option<usize>> {
    let mut dense = vec![None; model.spatial.len()];
    let mut next = 0;
    for (i, node) in model.spatial.iter().enumerate() {
        if node.kind == SpatialKind::Building {
            dense[i] = Some(next);
            next += 1;
        }
    }
    dense
}

fn value_matches(value: &PropertyValue, expected: &str) -> bool {
    match value {
        PropertyValue::Text(s) | PropertyValue::Other(s) => s.eq_ignore_ascii_case(expected),
        PropertyValue::Bool(b) => expected.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        PropertyValue::Integer(i) => expected.parse::<i64>().is_ok_and(|e| e == *i),
        PropertyValue::Real(r) => expected.parse::<f64>().is_ok_and(|e| (e - r).abs() <= 1e-9 * r.abs().max(1.0)),
    }
}

/// Whether element `index` is a product of an imported IFC task named (by name, identification
/// or GlobalId) in `names`, or of a task nested in one.
fn linked_to_ifc_task(names: &[String], model: &Model, index: usize) -> bool {
    model.schedules.iter().any(|schedule| {
        let named = |t: &renewtwin_importers::Task| {
            names.iter().any(|n| t.name.as_deref() == Some(n) || t.identification.as_deref() == Some(n) || t.global_id == *n)
        };
        schedule.tasks.iter().any(|task| {
            if task.products.binary_search(&index).is_err() {
                return false;
            }
            let mut current = Some(task);
            for _ in 0..=schedule.tasks.len() {
                let Some(t) = current else { break };
                if named(t) {
                    return true;
                }
                current = t.parent.and_then(|p| schedule.tasks.get(p));
            }
            false
        })
    })
}

/// Whether element `index` of `model` meets every criterion of `select`.
pub fn selects(select: &Selector, model: &Model, index: usize) -> bool {
    let Some(element) = model.elements.get(index) else { return false };
    if !select.ifc_tasks.is_empty() && !linked_to_ifc_task(&select.ifc_tasks, model, index) {
        return false;
    }
    if !select.classes.is_empty() && !select.classes.iter().any(|c| element.class.starts_with(c.as_str())) {
        return false;
    }
    if !select.global_ids.is_empty() && !select.global_ids.iter().any(|g| g == element.global_id) {
        return false;
    }
    if !select.storeys.is_empty() {
        let storey = element.container.and_then(|c| model.spatial.get(c)).and_then(|n| n.name.as_deref());
        if !storey.is_some_and(|s| select.storeys.iter().any(|x| x == s)) {
            return false;
        }
    }
    if !select.buildings.is_empty() {
        let mut node = element.container;
        let mut building = None;
        for _ in 0..model.spatial.len() {
            let Some(i) = node else { break };
            if model.spatial[i].kind == SpatialKind::Building {
                building = model.spatial[i].name.as_deref();
                break;
            }
            node = model.spatial[i].parent;
        }
        if !building.is_some_and(|b| select.buildings.iter().any(|x| x == b)) {
            return false;
        }
    }
    if let Some(status) = &select.status {
        let found = element
            .property_sets
            .iter()
            .flat_map(|p| &p.properties)
            .any(|p| p.name == "Status" && value_matches(&p.value, status));
        if !found {
            return false;
        }
    }
    select
        .properties
        .iter()
        .all(|(pset, prop, expected)| element.property(pset, prop).is_some_and(|v| value_matches(v, expected)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(steps: &[(i32, i32, Action)]) -> ElementSchedule {
        ElementSchedule(steps.iter().map(|&(start, end, action)| Step { start, end, action }).collect())
    }

    #[test]
    fn a_retrofitted_wall_goes_existing_then_under_construction_then_renewed() {
        let s = schedule(&[(10, 20, Action::Retrofit)]);
        assert_eq!(s.state_on(0), LifecycleState::Existing);
        assert_eq!(s.state_on(9), LifecycleState::Existing);
        assert_eq!(s.state_on(10), LifecycleState::UnderConstruction);
        assert_eq!(s.state_on(19), LifecycleState::UnderConstruction);
        assert_eq!(s.state_on(20), LifecycleState::Renewed);
    }

    #[test]
    fn a_new_element_is_planned_until_its_work_starts() {
        let s = schedule(&[(5, 8, Action::New)]);
        assert_eq!(s.state_on(-3), LifecycleState::Planned);
        assert_eq!(s.state_on(6), LifecycleState::UnderConstruction);
        assert_eq!(s.state_on(100), LifecycleState::Built);
    }

    #[test]
    fn a_pipe_laid_then_demolished_ends_demolished() {
        let s = schedule(&[(0, 10, Action::New), (10, 20, Action::Demolish)]);
        assert_eq!(s.state_on(5), LifecycleState::UnderConstruction);
        assert_eq!(s.state_on(12), LifecycleState::UnderDemolition);
        assert_eq!(s.state_on(25), LifecycleState::Demolished);
    }

    #[test]
    fn temporary_works_stand_during_their_task_and_are_removed_after() {
        let s = schedule(&[(3, 6, Action::Temporary)]);
        assert_eq!(s.state_on(0), LifecycleState::Planned);
        assert_eq!(s.state_on(4), LifecycleState::Temporary);
        assert_eq!(s.state_on(6), LifecycleState::Removed);
    }

    #[test]
    fn an_element_without_steps_stays_existing() {
        assert_eq!(ElementSchedule::default().state_on(1000), LifecycleState::Existing);
    }
}
