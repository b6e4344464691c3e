//! Scenario indicators: what a plan costs and whom it touches, computed from the resolved plan
//! and the model's own data (`RenewTwin_Building`, `Pset_BuildingCommon`, `RenewTwin_Site`,
//! `RenewTwin_Landscape` property sets), with the manifest's assumptions where the model is
//! silent.

use std::collections::BTreeSet;

use renewtwin_importers::{Model, PropertyValue, SpatialKind};
use renewtwin_protocol::{CivilDate, LifecycleState, PhaseKind, SimDay};
use serde::Serialize;

use super::plan::{Plan, building_indices, buildings_of_elements};
use crate::manifest::{Action, Manifest};

/// Lead times of one project's approvals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApprovalLeadTime {
    /// Project name.
    pub project: String,
    /// Days with every approval run one after another.
    pub serial_days: i32,
    /// Days with approvals run in parallel where their dependencies allow.
    pub parallel_days: i32,
    /// Days from the approval phase opening to the last grant in the resolved schedule with
    /// the recorded decisions (late grants included); `None` while one is pending or refused.
    pub achieved_days: Option<i32>,
    /// Approvals decided after their time limit, or still undecided past it.
    pub overdue: Vec<String>,
    /// Approvals counted as granted at their limit by a deemed-grant rule.
    pub deemed: Vec<String>,
}

/// A task's recorded actual progress, in plan days (from the civic progress records).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskActual {
    /// Task id.
    pub task: String,
    /// Actual start day.
    pub start: Option<i32>,
    /// Actual finish day.
    pub finish: Option<i32>,
    /// Percent complete, 0 to 100.
    pub percent: f64,
    /// Actual cost in yuan, where recorded.
    pub cost: Option<f64>,
}

/// The indicators with the recorded actuals applied.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActualIndicators {
    /// Largest recorded delay of a task in days: its actual finish after its planned end, or,
    /// unfinished, its actual start after its planned start (0 when none is late).
    pub delay_days: i32,
    /// The planned duration moved by that delay (`None` while a gate blocks a project): the
    /// completion a late task pushes out, assuming the delay carries through to acceptance.
    pub duration_days: Option<i32>,
    /// The plan's task costs with each task's recorded actual cost in place of its estimate.
    pub cost_yuan: f64,
    /// Tasks with a record.
    pub tasks_recorded: usize,
}

/// What one task costs and why (`simulate --json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskCost {
    /// Task id.
    pub task: String,
    /// Total, yuan: the lump sum plus the priced quantities.
    pub yuan: f64,
    /// The lump sum declared in the scene (`cost`).
    pub lump_yuan: f64,
    /// Quantities from the model times the scene's unit rates (`rates`).
    pub quantities: Vec<super::quantities::PricedQuantity>,
}

/// A phase held by a gate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BlockedPhase {
    /// Project name.
    pub project: String,
    /// Phase key.
    pub phase: &'static str,
    /// Why.
    pub reason: String,
}

/// The indicators of one scenario.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Indicators {
    /// Scenario name (`base` for the base plan).
    pub scenario: String,
    /// Days from the plan's start until every project's construction is accepted and every
    /// task that works is done (a task stretched by the calendar may end after its phase);
    /// `None` while a gate blocks a project.
    pub duration_days: Option<i32>,
    /// The date that happens.
    pub completion_date: Option<CivilDate>,
    /// Sum of the costs of the tasks that run and select at least one element, in yuan: a
    /// task that selects nothing costs nothing (see `empty_tasks`).
    pub cost_yuan: f64,
    /// Ids of the tasks whose selector matches no element of the model: they do no work and
    /// their declared cost is not counted.
    pub empty_tasks: Vec<String>,
    /// The cost of each task counted in `cost_yuan`, with its lump sum and priced quantities.
    pub task_costs: Vec<TaskCost>,
    /// Households in buildings where any task runs.
    pub households_affected: u64,
    /// Days on which at least one noisy task runs.
    pub noisy_work_days: u32,
    /// Green area standing at the end of the plan, m² (`RenewTwin_Landscape.GreenArea`; 0
    /// where the model declares none, see `green_area_declared`).
    pub green_area_m2: f64,
    /// Whether any element of the model declares a green area.
    pub green_area_declared: bool,
    /// Gross floor area of the buildings standing at the end over the site area.
    pub floor_area_ratio: Option<f64>,
    /// Protected heritage elements in the model.
    pub heritage_elements: usize,
    /// Of those, how many still stand at the end.
    pub heritage_kept: usize,
    /// Lifts (`IfcTransportElement`) the plan adds: those it builds by its end, and those it
    /// plans but does not build (their unit or building did not consent).
    pub lifts_built: usize,
    /// Lifts planned as new that stay unbuilt at the end.
    pub lifts_not_built: usize,
    /// Approval lead times per project.
    pub approvals: Vec<ApprovalLeadTime>,
    /// Phases a gate keeps from opening or closing.
    pub blocked: Vec<BlockedPhase>,
    /// Pipe laid, taken out or renewed per task and nominal diameter (from the model).
    pub pipe_lengths: Vec<super::quantities::PipeLength>,
    /// Each project's cost over its declared funding sources.
    pub funding: Vec<super::cost_sharing::ProjectFunding>,
    /// Each lift's households' part shared by floor, where a project declares how.
    pub lift_cost_sharing: Vec<super::cost_sharing::LiftSharing>,
    /// Predicted vibration of each working task at the protected elements of a `[[heritage]]`
    /// rule with `vibration`, against its declared limit.
    pub heritage_vibration: Vec<VibrationCheck>,
}

/// The worst predicted vibration of one task at protected heritage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VibrationCheck {
    /// Task id.
    pub task: String,
    /// The protected element nearest the task's works.
    pub protected: String,
    /// Plan distance between them, m.
    pub distance_m: f64,
    /// Predicted peak particle velocity there, mm/s (`manifest::vibration`).
    pub ppv_mm_s: f64,
    /// The declared limit, mm/s.
    pub limit_mm_s: f64,
    /// Whether the prediction exceeds the limit.
    pub exceeds: bool,
    /// Where the limit comes from.
    pub standard: String,
    /// Where the works' velocities come from.
    pub ppv_source: String,
}

/// The vibration checks of `plan`'s working tasks against every heritage rule with a
/// vibration limit (tasks whose action the rule gives no velocity are left out).
pub fn heritage_vibration(manifest: &Manifest, model: &Model, plan: &Plan) -> Vec<VibrationCheck> {
    let mut out = Vec::new();
    for h in &manifest.heritage {
        let Some(rule) = &h.vibration else { continue };
        let protected: Vec<(usize, [f64; 4])> = (0..model.elements.len())
            .filter(|&i| super::plan::selects(&h.select, model, i))
            .filter_map(|i| super::plan::plan_bounds(model, i).map(|b| (i, b)))
            .collect();
        if protected.is_empty() {
            continue;
        }
        for t in plan.tasks.iter().filter(|t| t.start.is_some() && t.elements > 0 && rule.ppv_mm_s.get(t.action.key()).is_some_and(|v| *v > 0.0)) {
            let mut worst: Option<(f64, usize)> = None;
            for &ei in &t.selected {
                let Some(b) = super::plan::plan_bounds(model, ei as usize) else { continue };
                for (pi, pb) in &protected {
                    let d = super::plan::box_distance(b, *pb);
                    if worst.is_none_or(|(w, _)| d < w) {
                        worst = Some((d, *pi));
                    }
                }
            }
            let Some((d, pi)) = worst else { continue };
            let ppv = rule.predict(t.action.key(), d);
            out.push(VibrationCheck {
                task: t.id.clone(),
                protected: super::plan::describe(model.elements.at(pi)),
                distance_m: d,
                ppv_mm_s: ppv,
                limit_mm_s: rule.limit_mm_s,
                exceeds: ppv > rule.limit_mm_s,
                standard: rule.standard.clone(),
                ppv_source: rule.ppv_source.clone(),
            });
        }
    }
    out
}

fn number(value: Option<&PropertyValue>) -> Option<f64> {
    match value? {
        PropertyValue::Real(r) => Some(*r),
        PropertyValue::Integer(i) => Some(*i as f64),
        PropertyValue::Text(t) | PropertyValue::Other(t) => t.trim().parse().ok(),
        PropertyValue::Bool(_) => None,
    }
}

impl Indicators {
    /// The indicators of `plan` with `actuals` applied: delay, duration and cost use the
    /// recorded figures where there are any, the plan's elsewhere.
    pub fn with_actuals(&self, plan: &Plan, actuals: &[TaskActual]) -> ActualIndicators {
        let mut delay = 0;
        let mut cost = 0.0;
        let mut recorded = 0;
        for t in plan.tasks.iter().filter(|t| t.start.is_some() && t.elements > 0) {
            let actual = actuals.iter().find(|a| a.task == t.id);
            if actual.is_some() {
                recorded += 1;
            }
            cost += actual.and_then(|a| a.cost).unwrap_or(t.cost);
            let late = match (actual, t.start, t.end) {
                (Some(TaskActual { finish: Some(f), .. }), _, Some(end)) => f - end,
                (Some(TaskActual { start: Some(s), .. }), Some(start), _) => s - start,
                _ => 0,
            };
            delay = delay.max(late);
        }
        ActualIndicators { delay_days: delay, duration_days: self.duration_days.map(|d| d + delay), cost_yuan: cost, tasks_recorded: recorded }
    }

    /// Computes the indicators of `plan` (resolved from `manifest` against `model`).
    pub fn compute(manifest: &Manifest, model: &Model, plan: &Plan) -> Self {
        let end_states: Vec<LifecycleState> = plan.schedules.iter().map(|s| s.state_on(plan.end)).collect();

        let mut duration = Some(0);
        for (pi, _) in plan.projects.iter().enumerate() {
            let last = plan
                .phases
                .iter()
                .filter(|p| p.project == pi && matches!(p.kind, PhaseKind::Acceptance | PhaseKind::Construction))
                .max_by_key(|p| p.kind);
            duration = match (duration, last.map(|p| p.end)) {
                (Some(d), Some(Some(e))) => Some(d.max(e)),
                (d, None) => d,
                _ => None,
            };
        }
        // Phases keep their declared calendar days, while a task's working days stretch over the
        // calendar's holidays and stops: the plan is complete when its last task is done too.
        if let Some(d) = duration.as_mut() {
            let last_task = plan.tasks.iter().filter(|t| t.elements > 0).filter_map(|t| t.end).filter(|e| *e < super::plan::NEVER).max();
            *d = (*d).max(last_task.unwrap_or(0));
        }

        let building_of = buildings_of_elements(model);
        let dense = building_indices(model);
        let households_of = |b: usize| -> u64 {
            let node = dense.iter().position(|d| *d == Some(b)).and_then(|i| model.spatial.get(i));
            node.and_then(|n| number(n.property("RenewTwin_Building", "Households")))
                .map_or(u64::from(manifest.indicators.households_per_building), |h| h.max(0.0) as u64)
        };
        let touched: BTreeSet<usize> = plan.tasks.iter().filter(|t| t.start.is_some()).flat_map(|t| t.buildings.iter().copied()).collect();
        let households_affected = touched.iter().map(|&b| households_of(b)).sum();

        let mut noisy_days = BTreeSet::new();
        for t in plan.tasks.iter().filter(|t| t.noisy && t.elements > 0) {
            if let (Some(s), Some(e)) = (t.start, t.end) {
                noisy_days.extend((s..e).filter(|d| t.works_on(*d)));
            }
        }

        let green_area_declared = model.elements.iter().any(|e| e.property("RenewTwin_Landscape", "GreenArea").is_some());
        // Starts from +0 (an empty float sum is -0, printed "-0").
        let green_area_m2 = model
            .elements
            .iter()
            .zip(&end_states)
            .filter(|(_, s)| s.is_standing())
            .filter_map(|(e, _)| number(e.property("RenewTwin_Landscape", "GreenArea")))
            .fold(0.0, |a, b| a + b);

        // A building stands at the end unless most of its elements are demolished.
        let building_count = dense.iter().flatten().count();
        let mut total = vec![0usize; building_count];
        let mut gone = vec![0usize; building_count];
        for (b, s) in building_of.iter().zip(&end_states) {
            if let Some(b) = *b {
                total[b] += 1;
                if !s.is_standing() {
                    gone[b] += 1;
                }
            }
        }
        let gross_floor_area: f64 = model
            .spatial
            .iter()
            .zip(&dense)
            .filter_map(|(n, d)| d.map(|b| (n, b)))
            .filter(|&(_, b)| total[b] == 0 || gone[b] * 2 < total[b])
            .filter_map(|(n, _)| number(n.property("Pset_BuildingCommon", "GrossPlannedArea")))
            .sum();
        let site_area = model
            .spatial
            .iter()
            .filter(|n| n.kind == SpatialKind::Site)
            .filter_map(|n| number(n.property("RenewTwin_Site", "SiteArea")))
            .sum::<f64>();
        let floor_area_ratio = (site_area > 0.0 && gross_floor_area > 0.0).then(|| gross_floor_area / site_area);

        let protected: Vec<usize> = model
            .elements
            .iter()
            .enumerate()
            .filter(|&(i, _)| manifest.heritage.iter().any(|h| super::plan::selects(&h.select, model, i)))
            .map(|(i, _)| i)
            .collect();
        let heritage_kept = protected.iter().filter(|&&i| end_states[i].is_standing()).count();

        let new_lifts: Vec<LifecycleState> = model
            .elements
            .iter()
            .zip(&plan.schedules)
            .filter(|(e, s)| e.class.starts_with("IfcTransportElement") && s.0.iter().any(|st| st.action == Action::New))
            .map(|(_, s)| s.state_on(plan.end))
            .collect();
        let lifts_built = new_lifts.iter().filter(|s| **s == LifecycleState::Built).count();

        let pipe_lengths = plan
            .tasks
            .iter()
            .filter(|t| t.start.is_some())
            .flat_map(|t| {
                let elements: Vec<usize> = t.selected.iter().map(|&i| i as usize).collect();
                super::quantities::pipe_lengths(model, &t.id, t.action.key(), &elements)
            })
            .collect();
        Indicators {
            pipe_lengths,
            funding: super::cost_sharing::funding(manifest, plan),
            lift_cost_sharing: super::cost_sharing::lift_sharing(manifest, model, plan),
            heritage_vibration: heritage_vibration(manifest, model, plan),
            lifts_built,
            lifts_not_built: new_lifts.len() - lifts_built,
            scenario: plan.scenario.clone().unwrap_or_else(|| "base".into()),
            duration_days: duration,
            completion_date: duration.map(|d| CivilDate::from_sim_day(manifest.start, SimDay(d))),
            cost_yuan: plan.tasks.iter().filter(|t| t.start.is_some() && t.elements > 0).map(|t| t.cost).fold(0.0, |a, b| a + b),
            empty_tasks: plan.tasks.iter().filter(|t| t.elements == 0).map(|t| t.id.clone()).collect(),
            task_costs: plan
                .tasks
                .iter()
                .filter(|t| t.start.is_some() && t.elements > 0)
                .map(|t| TaskCost {
                    task: t.id.clone(),
                    yuan: t.cost,
                    lump_yuan: t.cost - t.quantities.iter().map(|q| q.yuan).sum::<f64>(),
                    quantities: t.quantities.clone(),
                })
                .collect(),
            households_affected,
            noisy_work_days: noisy_days.len() as u32,
            green_area_m2,
            green_area_declared,
            floor_area_ratio,
            heritage_elements: protected.len(),
            heritage_kept,
            approvals: plan
                .approvals
                .iter()
                .map(|a| ApprovalLeadTime {
                    project: plan.projects[a.project].clone(),
                    serial_days: a.serial_days,
                    parallel_days: a.parallel_days,
                    achieved_days: a.achieved_days,
                    overdue: a.approvals.iter().filter(|w| w.overdue_since.is_some()).map(|w| w.id.clone()).collect(),
                    deemed: a.approvals.iter().filter(|w| w.deemed).map(|w| w.id.clone()).collect(),
                })
                .collect(),
            blocked: plan
                .phases
                .iter()
                .filter(|p| p.start.is_none() || p.end.is_none())
                .map(|p| BlockedPhase {
                    project: plan.projects[p.project].clone(),
                    phase: p.kind.key(),
                    reason: p.note.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }
}

impl Indicators {
    /// The plain-text lines of the quantities and who pays (pipe lengths by diameter, funding
    /// sources, lift cost shares by floor), each with its source, for `renewtwin simulate`.
    pub fn write_quantities(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        for p in &self.pipe_lengths {
            let dn = p.diameter_m.map_or_else(|| "DN unknown".to_owned(), |d| format!("DN{:.0}", d * 1000.0));
            writeln!(out, "    pipe                 {} {}: {:.1} m in {} segments ({:?})", p.task, dn, p.length_m, p.segments, p.source)?;
        }
        for v in &self.heritage_vibration {
            writeln!(
                out,
                "    heritage vibration   {}: {:.2} mm/s predicted at {} ({:.1} m), limit {:.2} mm/s{}",
                v.task,
                v.ppv_mm_s,
                v.protected,
                v.distance_m,
                v.limit_mm_s,
                if v.exceeds { " EXCEEDED" } else { "" },
            )?;
        }
        let mut sources: Vec<(&str, &str)> = self.heritage_vibration.iter().map(|v| (v.standard.as_str(), v.ppv_source.as_str())).collect();
        sources.dedup();
        for (standard, works) in sources {
            writeln!(out, "      limit: {standard}; works' velocities: {works}")?;
        }
        for f in self.funding.iter().filter(|f| !f.sources.is_empty()) {
            let parts: Vec<String> = f.sources.iter().map(|s| format!("{} {:.0}% = {:.0} yuan", s.name, s.share * 100.0, s.yuan)).collect();
            writeln!(out, "    funding              {} ({:.0} yuan): {} [{}]", f.project, f.cost_yuan, parts.join("; "), f.source)?;
        }
        for l in &self.lift_cost_sharing {
            writeln!(out, "    lift cost sharing    {} ({}): households carry {:.0}% [{}; {}]", l.project, l.task, l.households_share * 100.0, l.formula, l.source)?;
            for u in &l.units {
                let floors: Vec<String> = u.floors.iter().map(|f| format!("{}F {:.0}", f.floor, f.yuan_per_household)).collect();
                writeln!(out, "      unit {:<10} lift {:.0} yuan, households {:.0} yuan; per household: {}", u.unit, u.lift_yuan, u.households_yuan, floors.join(", "))?;
            }
            for n in &l.notes {
                writeln!(out, "      note: {n}")?;
            }
        }
        Ok(())
    }
}
