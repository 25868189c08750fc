//! sync-async-bench: identical HTTP workloads served in three concurrency styles
//! (blocking threads, async, hybrid), a mock upstream dependency, and a `verify`
//! step proving every style returns the same bytes.
//!
//! Data flows one way: `cli` → `run` → `load`/`report` → `results`, and
//! `verify` → `server`/`upstream` → `workload`. Nothing below imports what is above it.

pub mod affinity;
pub mod cli;
pub mod load;
pub mod net;
pub mod pipeline;
pub mod report;
pub mod results;
pub mod run;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod upstream;
pub mod verify;
pub mod workload;
