//! The elements of the twin as ECS components: one entity per element of the model
//! (spawned by [`crate::renewal::spawn_elements`]).
//!
//! Geometry stays out of the ECS (it is immutable and large); entities carry identity,
//! semantics the simulation needs, and the live lifecycle state.

use bevy_ecs::prelude::*;
use renewtwin_protocol::LifecycleState;

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
