//! The twin: the imported model spawned as ECS entities, one per element.
//!
//! Geometry stays out of the ECS (it is immutable and large); entities carry identity,
//! semantics the simulation needs, and the live lifecycle state.

use bevy_ecs::prelude::*;
use renewtwin_protocol::LifecycleState;

use crate::renewal::{Plan, Schedule};

/// Dense element id, the one used on the wire ([`renewtwin_protocol::ElementInfo::id`]).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElementId(pub u32);

/// IFC GlobalId.
#[derive(Component, Debug, Clone, PartialEq, Eq)]
pub struct GlobalId(pub String);

/// IFC class.
#[derive(Component, Debug, Clone, PartialEq, Eq)]
pub struct IfcClass(pub String);

/// The element's lifecycle state today.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle(pub LifecycleState);

/// What an entity is spawned from: the element's identity in the model.
#[derive(Debug, Clone)]
pub struct ElementSeed {
    /// GlobalId.
    pub global_id: String,
    /// IFC class.
    pub class: String,
}

/// Spawns one entity per element, with its schedule from `plan` and its state on `day`.
pub fn spawn_elements(world: &mut World, elements: &[ElementSeed], plan: &Plan, day: i32) {
    let batch: Vec<_> = elements
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let schedule = plan.schedules.get(i).cloned().unwrap_or_default();
            let state = schedule.state_on(day);
            (
                ElementId(i as u32),
                GlobalId(e.global_id.clone()),
                IfcClass(e.class.clone()),
                Lifecycle(state),
                Schedule(schedule),
            )
        })
        .collect();
    world.spawn_batch(batch);
}
