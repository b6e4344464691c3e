//! The timeline of a plan: every day on which a phase or task starts or ends, what happened,
//! and how many elements are in each lifecycle state from that day on.

use std::collections::BTreeMap;

use renewtwin_protocol::{CivilDate, LifecycleState, SimDay};
use serde::Serialize;

use super::plan::Plan;

/// One day on which something happens.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimelineEvent {
    /// Simulated day.
    pub day: i32,
    /// Its date.
    pub date: CivilDate,
    /// Phase transitions, e.g. `"加装电梯 Add lifts: approval opened"`.
    pub phases: Vec<String>,
    /// Task transitions, e.g. `"lift-shafts started"`.
    pub tasks: Vec<String>,
    /// Elements per lifecycle state (keys as in the API) from this day on.
    pub states: BTreeMap<&'static str, usize>,
}

/// Every event of `plan` up to and including `until` (all when `None`).
pub fn timeline(plan: &Plan, start: CivilDate, until: Option<i32>) -> Vec<TimelineEvent> {
    let mut days: BTreeMap<i32, (Vec<String>, Vec<String>)> = BTreeMap::new();
    days.entry(0).or_default();
    for p in &plan.phases {
        let project = &plan.projects[p.project];
        if let Some(s) = p.start {
            days.entry(s).or_default().0.push(format!("{project}: {} opened", p.kind.key()));
        }
        if let Some(e) = p.end {
            days.entry(e).or_default().0.push(format!("{project}: {} closed", p.kind.key()));
        }
    }
    for t in plan.tasks.iter().filter(|t| t.elements > 0) {
        if let Some(s) = t.start {
            days.entry(s).or_default().1.push(format!("{} started", t.id));
        }
        if let Some(e) = t.end {
            days.entry(e).or_default().1.push(format!("{} finished", t.id));
        }
    }
    days.into_iter()
        .filter(|(d, _)| until.is_none_or(|u| *d <= u))
        .map(|(day, (phases, tasks))| {
            TimelineEvent { day, date: CivilDate::from_sim_day(start, SimDay(day)), phases, tasks, states: state_counts(plan, day) }
        })
        .collect()
}

/// Elements per lifecycle state on `day`.
pub fn state_counts(plan: &Plan, day: i32) -> BTreeMap<&'static str, usize> {
    let mut states = BTreeMap::new();
    for s in &plan.schedules {
        let state: LifecycleState = s.state_on(day);
        *states.entry(state.key()).or_insert(0) += 1;
    }
    states
}
