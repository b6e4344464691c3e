//! The renewtwin twin: scenes, the headless Bevy ECS world, and the domains it simulates
//! (renewal, sensors, risk, population). It knows no HTTP and no SQL: what it shares with a
//! server are plain types, channels and the [`sensors::log::SensorLog`] interface.
//!
//! Modules are layered; each imports only modules listed before it (checked by
//! `scripts/check-module-cycles.py`):
//! [`manifest`] → [`scene`] → [`elements`] → [`renewal`] → [`site`] → [`sensors`], [`risk`],
//! [`population`] → [`analytics`] → [`layers`] → [`live`] → [`wire`] → [`sim`].
//!
//! One Bevy plugin per domain ([`renewal::RenewalPlugin`], [`live::LivePlugin`],
//! [`sensors::SensorsPlugin`], [`risk::RiskPlugin`], [`population::PopulationPlugin`]);
//! plugins only register, systems do the work. No renderer and no window exist here.

pub mod analytics;
pub mod elements;
pub mod latest;
pub mod layers;
pub mod live;
pub mod manifest;
pub mod population;
pub mod renewal;
pub mod risk;
pub mod scene;
pub mod sensors;
pub mod sim;
pub mod sunlight;
pub mod site;
pub mod wire;
