//! Pieces of the power-loss test (`tests/power_loss.rs`).

#[path = "../common/mod.rs"]
pub mod common;

pub mod child;
pub mod cycle;
pub mod full;
pub mod model;
