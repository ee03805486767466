//! Benchmark support for nestdb: the shared evaluation data and helpers used by the criterion
//! benchmarks, the side-by-side harness driver and the recall tests.

pub mod data;
pub mod driver;
