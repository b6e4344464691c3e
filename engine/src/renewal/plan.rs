//! The resolved renewal plan: phase windows per project and, per element, the ordered steps
//! that drive its lifecycle. Resolving matches the manifest's selectors against the model.

use renewtwin_importers::{Model, PropertyValue, SpatialKind};
use renewtwin_protocol::{LifecycleState, PhaseInfo, PhaseKind, PhaseStatus, SimDay};

use crate::scene::manifest::{Action, Manifest, Selector};

/// One phase of one project, as a window of simulated days.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseWindow {
    /// Index of the project in [`Plan::projects`].
    pub project: usize,
    /// Which phase.
    pub kind: PhaseKind,
    /// First day.
    pub start: i32,
    /// Day after the last day.
    pub end: i32,
}

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
            };
        }
        state
    }
}

/// The resolved plan.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Project names.
    pub projects: Vec<String>,
    /// Every phase window of every project.
    pub phases: Vec<PhaseWindow>,
    /// Steps per element, indexed like the model's elements.
    pub schedules: Vec<ElementSchedule>,
    /// Day after the last phase ends.
    pub end: i32,
    /// Per task (in manifest order): how many elements it selected.
    pub task_matches: Vec<(String, usize)>,
}

impl Plan {
    /// Resolves `manifest`'s projects against `model`.
    pub fn resolve(manifest: &Manifest, model: &Model) -> Self {
        let building_of = buildings_of_elements(model);
        let building_count = building_of.iter().flatten().max().map_or(0, |b| b + 1);
        let mut plan = Plan { schedules: vec![ElementSchedule::default(); model.elements.len()], ..Plan::default() };
        for (pi, project) in manifest.projects.iter().enumerate() {
            plan.projects.push(project.name.clone());
            let mut day = 0i32;
            let mut phase_start = std::collections::BTreeMap::new();
            for kind in PhaseKind::ALL {
                let Some(&len) = project.phase_days.get(&kind) else { continue };
                let len = i32::try_from(len).unwrap_or(i32::MAX / 4);
                phase_start.insert(kind, day);
                plan.phases.push(PhaseWindow { project: pi, kind, start: day, end: day + len });
                day += len;
            }
            plan.end = plan.end.max(day);
            for task in &project.tasks {
                let base = phase_start.get(&task.phase).copied().unwrap_or(0) + task.start as i32;
                let duration = task.duration as i32;
                let mut matched = 0;
                for (ei, element) in model.elements.iter().enumerate() {
                    if !selects(&task.select, model, element) {
                        continue;
                    }
                    matched += 1;
                    let (start, end) = match (task.per_building, building_of[ei]) {
                        (true, Some(b)) if building_count > 1 => {
                            let slot = duration as f64 / building_count as f64;
                            let s = base + (slot * b as f64).floor() as i32;
                            let e = base + (slot * (b + 1) as f64).floor() as i32;
                            (s, e.max(s + 1))
                        }
                        _ => (base, base + duration),
                    };
                    plan.schedules[ei].0.push(Step { start, end, action: task.action });
                }
                plan.task_matches.push((task.name.clone(), matched));
            }
        }
        for schedule in &mut plan.schedules {
            schedule.0.sort_by_key(|s| (s.start, s.end));
        }
        plan
    }

    /// Phase statuses on `day`.
    pub fn phase_infos(&self, day: i32) -> Vec<PhaseInfo> {
        self.phases
            .iter()
            .map(|p| PhaseInfo {
                project: self.projects[p.project].clone(),
                kind: p.kind,
                start: SimDay(p.start),
                end: SimDay(p.end),
                status: if day < p.start {
                    PhaseStatus::Pending
                } else if day < p.end {
                    PhaseStatus::Active
                } else {
                    PhaseStatus::Done
                },
            })
            .collect()
    }
}

/// Dense building index (in spatial-tree order) of each element's container, if any.
fn buildings_of_elements(model: &Model) -> Vec<Option<usize>> {
    let mut dense = vec![None; model.spatial.len()];
    let mut next = 0;
    for (i, node) in model.spatial.iter().enumerate() {
        if node.kind == SpatialKind::Building {
            dense[i] = Some(next);
            next += 1;
        }
    }
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

fn value_matches(value: &PropertyValue, expected: &str) -> bool {
    match value {
        PropertyValue::Text(s) | PropertyValue::Other(s) => s.eq_ignore_ascii_case(expected),
        PropertyValue::Bool(b) => expected.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        PropertyValue::Integer(i) => expected.parse::<i64>().is_ok_and(|e| e == *i),
        PropertyValue::Real(r) => expected.parse::<f64>().is_ok_and(|e| (e - r).abs() <= 1e-9 * r.abs().max(1.0)),
    }
}

/// Whether `element` meets every criterion of `select`.
pub(crate) fn selects(select: &Selector, model: &Model, element: &renewtwin_importers::Element) -> bool {
    if !select.classes.is_empty() && !select.classes.iter().any(|c| element.class.starts_with(c.as_str())) {
        return false;
    }
    if !select.global_ids.is_empty() && !select.global_ids.contains(&element.global_id) {
        return false;
    }
    if !select.storeys.is_empty() {
        let storey = element.container.and_then(|c| model.spatial.get(c)).and_then(|n| n.name.as_deref());
        if !storey.is_some_and(|s| select.storeys.iter().any(|x| x == s)) {
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
