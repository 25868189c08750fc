//! The defaults of a scenario's keys, for serde's `default = "…"`.

use std::time::Duration;

pub(super) fn duration() -> Duration {
    Duration::from_secs(5)
}
pub(super) fn warmup() -> Duration {
    Duration::from_secs(1)
}
pub(super) fn latency() -> Duration {
    Duration::from_millis(20)
}
pub(super) fn timeout() -> Duration {
    Duration::from_secs(5)
}
pub(super) fn probe() -> Duration {
    Duration::from_secs(2)
}
pub(super) fn slow_probe_rate() -> f64 {
    50.0
}
pub(super) fn slow_slo() -> Duration {
    Duration::from_millis(100)
}
pub(super) fn trickle() -> Duration {
    Duration::from_secs(1)
}
pub(super) fn head_start() -> Duration {
    Duration::from_millis(500)
}
pub(super) fn probe_connections() -> u32 {
    4
}
pub(super) fn one() -> u32 {
    1
}
pub(super) fn cpu_rounds() -> u32 {
    1_000
}
pub(super) fn fanout_calls() -> u32 {
    10
}
pub(super) fn open_loop_connections() -> u32 {
    64
}
pub(super) fn bisections() -> u32 {
    4
}
pub(super) fn max_error_rate() -> f64 {
    0.001
}
pub(super) fn start_rps() -> f64 {
    100.0
}
pub(super) fn max_rps() -> f64 {
    1_000_000.0
}
pub(super) fn held_rate() -> f64 {
    1_000.0
}
pub(super) fn held_ramp() -> f64 {
    2_000.0
}
pub(super) fn max_connections() -> u32 {
    100
}
pub(super) fn shared_buffers() -> String {
    "128MB".into()
}
pub(super) fn seed_rows() -> u32 {
    100_000
}
pub(super) fn pgbench_clients() -> u32 {
    16
}
pub(super) fn capacity_target() -> f64 {
    10_000.0
}
pub(super) fn distribution() -> crate::upstream::Distribution {
    crate::upstream::Distribution::Fixed
}
pub(super) fn io_mode() -> crate::workload::IoMode {
    crate::workload::IoMode::Sleep
}
pub(super) fn ready() -> String {
    "/health".into()
}
pub(super) fn ready_timeout() -> Duration {
    Duration::from_secs(30)
}
pub(super) fn yes() -> bool {
    true
}
