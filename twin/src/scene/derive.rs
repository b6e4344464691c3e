//! The scene of a bare model file (`renewtwin serve FILE.ifc`): derived from the model alone,
//! never borrowed from the default district. Its name is the model's project name, its one
//! viewpoint is fitted to the model's bounds (no caption: nothing is said about a model that
//! it does not say itself), and its plan is the model's own IFC work schedule where it carries
//! one (IfcWorkSchedule / IfcTask with dates and assigned products), else there is no plan.

use std::collections::{BTreeMap, BTreeSet};

use renewtwin_importers::{Model, SpatialKind, Task, WorkSchedule};
use renewtwin_protocol::{CivilDate, PhaseKind};

use crate::manifest::{
    Action, ApprovalMode, Dependency, IndicatorSettings, Manifest, ModelSource, ProjectSpec,
    Selector, TaskSpec, ViewpointSpec, decision,
};

/// The reason a derived scene has no plan.
pub const NO_PLAN: &str = "no plan: the model carries no IFC work schedule (IfcWorkSchedule with dated IfcTasks assigned to products)";

/// The scene of `model`, read from `path` as a bare file. `today` is day 0 when the model
/// carries no schedule (there is then no plan, and the date only dates the analytics, such as
/// the pipes' ages).
pub fn manifest_for_model(path: &std::path::Path, model: &Model, today: CivilDate) -> Manifest {
    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let project_name = model
        .spatial
        .iter()
        .find(|n| n.kind == SpatialKind::Project)
        .and_then(|n| n.name.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let name = match project_name {
        Some(p) => format!("{p} ({file_name})"),
        None => file_name.clone(),
    };
    let derived = plan_from_schedules(model);
    let (start, projects, plan_note) = match derived {
        Some(d) => (d.start, d.projects, d.note),
        None => (today, Vec::new(), NO_PLAN.to_owned()),
    };
    Manifest {
        file: format!("{file_name} (scene derived from the model)"),
        name,
        start,
        models: vec![ModelSource::File(path.to_path_buf())],
        projects,
        heritage: Vec::new(),
        events: Vec::new(),
        scenarios: Vec::new(),
        approval_mode: ApprovalMode::default(),
        // The model's own RenewTwin_Building.Households only: no households are assumed.
        indicators: IndicatorSettings {
            households_per_building: 0,
        },
        viewpoints: fit_viewpoint(model).into_iter().collect(),
        sensors: None,
        risk: None,
        population: None,
        plan_note: Some(plan_note),
        calendar: None,
        // The sunlight standard's defaults (GB 50180-2018): the report names the rule it used.
        sunlight: Default::default(),
        // No plan of the district's: the supply check has nothing to refuse but reads the model.
        networks: Default::default(),
    }
}

/// One viewpoint, `overview`, looking at the centre of the model's bounds from the south-west,
/// above, from 1.6 times the bounding sphere's radius (as the viewer frames a scene); `None`
/// for a model without geometry.
pub fn fit_viewpoint(model: &Model) -> Option<ViewpointSpec> {
    let bb = model.bbox();
    if bb.is_empty() {
        return None;
    }
    let centre = [
        (bb.min[0] + bb.max[0]) * 0.5,
        (bb.min[1] + bb.max[1]) * 0.5,
        (bb.min[2] + bb.max[2]) * 0.5,
    ];
    let diagonal = ((bb.max[0] - bb.min[0]).powi(2)
        + (bb.max[1] - bb.min[1]).powi(2)
        + (bb.max[2] - bb.min[2]).powi(2))
    .sqrt();
    let radius = (diagonal * 0.5).max(1.0);
    let (yaw, pitch): (f64, f64) = (-2.2, 0.6);
    let d = radius * 1.6;
    Some(ViewpointSpec {
        name: "overview".into(),
        eye: [
            centre[0] + pitch.cos() * yaw.cos() * d,
            centre[1] + pitch.cos() * yaw.sin() * d,
            centre[2] + pitch.sin() * d,
        ],
        target: centre,
        caption_zh: String::new(),
        caption_en: String::new(),
    })
}

struct DerivedPlan {
    start: CivilDate,
    projects: Vec<ProjectSpec>,
    note: String,
}

/// What an IfcTask's PredefinedType does to its products (IFC4 IfcTaskTypeEnum):
/// CONSTRUCTION, INSTALLATION → new; DEMOLITION, DISMANTLE, DISPOSAL, REMOVAL → demolish;
/// RENOVATION, MAINTENANCE → retrofit; ATTENDANCE, LOGISTIC, MOVE, OPERATION → keep. A task
/// without a type (or NOTDEFINED / USERDEFINED) takes its parent's; at the top, new (a 4D
/// construction sequence, in which products appear as their tasks run).
fn action_of(schedule: &WorkSchedule, index: usize) -> Action {
    let mut at = Some(index);
    for _ in 0..schedule.tasks.len() {
        let Some(i) = at else { break };
        let task = &schedule.tasks[i];
        match task
            .predefined_type
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            Some("CONSTRUCTION" | "INSTALLATION") => return Action::New,
            Some("DEMOLITION" | "DISMANTLE" | "DISPOSAL" | "REMOVAL") => return Action::Demolish,
            Some("RENOVATION" | "MAINTENANCE") => return Action::Retrofit,
            Some("ATTENDANCE" | "LOGISTIC" | "MOVE" | "OPERATION") => return Action::Keep,
            _ => at = task.parent,
        }
    }
    Action::New
}

fn task_days(task: &Task) -> Option<(f64, f64)> {
    let start = task.start.as_ref()?.days?;
    let finish = task
        .finish
        .as_ref()
        .and_then(|f| f.days)
        .or_else(|| Some(start + task.duration.as_ref()?.days?))?;
    Some((start, finish.max(start)))
}

/// A project per IfcWorkSchedule that has a dated task with products: a construction phase
/// from the earliest task start to the latest finish (whole days: a task occupies every
/// calendar day it touches), one task per such IfcTask, finish-to-start links as `after`.
fn plan_from_schedules(model: &Model) -> Option<DerivedPlan> {
    let usable = |s: &WorkSchedule| -> Vec<usize> {
        (0..s.tasks.len())
            .filter(|&i| {
                !s.tasks[i].is_milestone
                    && !s.tasks[i].products.is_empty()
                    && task_days(&s.tasks[i]).is_some()
            })
            .collect()
    };
    let first = model
        .schedules
        .iter()
        .flat_map(|s| {
            usable(s)
                .into_iter()
                .filter_map(move |i| task_days(&s.tasks[i]))
        })
        .map(|(start, _)| start.floor())
        .reduce(f64::min)?;
    let day0 = first as i64;
    let mut projects = Vec::new();
    let mut used_ids = BTreeSet::new();
    let mut names = Vec::new();
    for (si, schedule) in model.schedules.iter().enumerate() {
        let tasks = usable(schedule);
        if tasks.is_empty() {
            continue;
        }
        let mut id_of: BTreeMap<usize, String> = BTreeMap::new();
        for &i in &tasks {
            let t = &schedule.tasks[i];
            let base = crate::manifest::slug(
                t.identification
                    .as_deref()
                    .or(t.name.as_deref())
                    .unwrap_or(&t.global_id),
            );
            let mut id = base.clone();
            let mut n = 2;
            while !used_ids.insert(id.clone()) {
                id = format!("{base}-{n}");
                n += 1;
            }
            id_of.insert(i, id);
        }
        let mut specs = Vec::new();
        let mut phase_len = 1u32;
        for &i in &tasks {
            let t = &schedule.tasks[i];
            let Some((s, f)) = task_days(t) else { continue };
            let start = (s.floor() as i64 - day0).max(0) as u32;
            let end = ((f.ceil() as i64 - day0).max(i64::from(start) + 1)) as u32;
            phase_len = phase_len.max(end);
            let after = t
                .predecessors
                .iter()
                .filter(|l| l.sequence_type.eq_ignore_ascii_case("FINISH_START"))
                .filter_map(|l| {
                    Some(Dependency {
                        task: id_of.get(&l.task)?.clone(),
                        lag: l
                            .lag
                            .as_ref()
                            .and_then(|g| g.days)
                            .map_or(0, |d| d.round() as i32),
                    })
                })
                .collect();
            let action = action_of(schedule, i);
            specs.push(TaskSpec {
                id: id_of[&i].clone(),
                name: t
                    .name
                    .clone()
                    .or_else(|| t.identification.clone())
                    .unwrap_or_else(|| t.global_id.clone()),
                phase: PhaseKind::Construction,
                start,
                duration: end - start,
                temporary_supply: None,
                improves: None,
                per_building: false,
                action,
                select: Selector {
                    global_ids: t
                        .products
                        .iter()
                        .filter_map(|&p| model.elements.get(p))
                        .map(|e| e.global_id.to_owned())
                        .collect(),
                    ..Selector::default()
                },
                after,
                cost: 0.0,
                rates: crate::manifest::UnitRates::default(),
                noisy: !matches!(action, Action::Keep),
                line: 0,
            });
        }
        let name = schedule
            .name
            .clone()
            .or_else(|| schedule.identification.clone())
            .unwrap_or_else(|| format!("IFC work schedule {}", si + 1));
        names.push(if schedule.step_id > 0 {
            format!("{name:?} (#{})", schedule.step_id)
        } else {
            format!("{name:?}")
        });
        let id = crate::manifest::slug(schedule.identification.as_deref().unwrap_or(&name));
        projects.push(ProjectSpec {
            id: if projects.iter().any(|p: &ProjectSpec| p.id == id) {
                format!("{id}-{}", si + 1)
            } else {
                id
            },
            name,
            phase_days: BTreeMap::from([(PhaseKind::Construction, phase_len)]),
            tasks: specs,
            approvals: Vec::new(),
            consultation_required: false,
            operation_owner: None,
            funding: None,
            funding_sources: Vec::new(),
            lift_cost_sharing: None,
            decision: decision::DecisionRule::civil_code(decision::Scope::Project, 1),
        });
    }
    Some(DerivedPlan {
        start: CivilDate::from_days_since_epoch(day0),
        projects,
        note: format!(
            "plan derived from the model's IFC work schedule {}",
            names.join(", ")
        ),
    })
}
