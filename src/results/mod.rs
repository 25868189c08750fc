//! The result data model and its on-disk layout. `run` writes it, `report` reads it,
//! so a report can always be rebuilt from the files alone.
//!
//! ```text
//! results/<run-id>/
//!   manifest.json          scenario as parsed, machine, revision, times, status
//!   cells.csv              one row per cell and repetition (appended as cells finish)
//!   hist/<cell>.hlog       HdrHistogram interval log of each cell
//!   samples/<cell>.server.csv    server process samples every 100 ms
//!   samples/<cell>.timeline.csv  per-second load timeline
//!   summary.md, charts/, report.html   written by `report`
//! ```

pub mod ceiling;
pub mod cell;
pub mod layout;
pub mod manifest;

pub use cell::{CellRecord, ServerSample};
pub use layout::RunDir;
pub use manifest::{DatabaseInfo, Manifest, PgbenchRun, StoredScenario};
