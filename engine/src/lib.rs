//! renewtwin's engine: the twin as a headless Bevy ECS world, the renewal simulation, and the
//! server that streams both to browsers.
//!
//! One Bevy plugin per domain ([`renewal::RenewalPlugin`], [`live::LivePlugin`]); plugins only
//! register, systems do the work. No renderer and no window exist on the server.

pub mod consultation;
pub mod live;
pub mod population;
pub mod renewal;
#[cfg(feature = "render")]
pub mod render;
pub mod risk;
pub mod scene;
pub mod sensors;
pub mod server;
pub mod sim;
pub mod store;
pub mod twin;
mod viewer_assets;

/// Whether the browser viewer was compiled into this build.
pub const VIEWER_BUILT: bool = viewer_assets::VIEWER_BUILT;
