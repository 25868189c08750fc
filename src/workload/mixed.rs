//! The `mixed` workload: the common "fetch, then compute" handler — the `io` wait,
//! then the `cpu` kernel. The servers compose the two faces; this file owns the body.

use super::Outcome;

/// Joins the I/O outcome and the CPU body into the `/mixed` body.
pub fn render(io: Outcome, cpu_body: &str) -> Outcome {
    Outcome {
        body: format!("mixed\n{}{}", io.body, cpu_body),
        waited: io.waited,
    }
}
