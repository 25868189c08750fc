//! Small helpers over the operating system, each with one concern: pinning to CPUs
//! ([`affinity`]), a precise alarm clock ([`alarm`], on the `deadlines` it shares
//! with the load generator's timer), reading `/proc` ([`procfs`]), the open-file limit ([`file_limits`]), and shutting down
//! on a signal ([`shutdown`]). Nothing here knows about styles, loads or results.

pub mod affinity;
pub mod alarm;
pub(crate) mod deadlines;
pub mod file_limits;
pub mod procfs;
pub mod shutdown;
