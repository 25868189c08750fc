//! sync-async-bench: identical HTTP workloads served in three concurrency styles
//! (blocking threads, async, hybrid) with the articles' anti-patterns as variants, a
//! mock upstream, a load generator that corrects for coordinated omission, a scenario
//! runner, reports (markdown, charts, HTML), before/after comparison and a claims check.
//!
//! Data flows one way: `cli` → `run` → `load`/`report` → `results` → `scenario`, and
//! `verify` → `server`/`upstream` → `workload`. `scenario` (the file and its plan of
//! cells) is read by `run`, and stored typed in a run's manifest by `results`, so
//! `report` reads it as data from the run's folder; it imports none of them. Nothing
//! below imports what is above it.

#![warn(missing_docs)]

pub mod cli;
pub mod db;
pub mod display;
pub mod file_name;
pub mod flags;
pub mod fuzzing;
pub mod histogram;
pub mod load;
pub mod net;
pub mod pair;
pub mod pipeline;
pub mod random;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod server;
pub mod service;
pub mod sys;
pub mod upstream;
pub mod verify;
pub mod watch;
pub mod workload;
