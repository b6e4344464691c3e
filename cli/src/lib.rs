//! The `renewtwin` command line's library half: what its commands do beyond wiring the other
//! crates together, kept here so the integration tests can call it too. `main.rs` is the CLI
//! (argument parsing, progress bars, logs) plus glue.

#[cfg(feature = "render")]
pub mod render;
