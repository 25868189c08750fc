//! The validity verdict of a run: why its numbers do not describe the target at the
//! load asked for (it stopped answering, every connection was held, the generator
//! sent late or was saturated), each reason naming its cause and what to do.

use std::time::Duration;

use super::pacer::Schedule;
use super::report::{RequestCounts, Second};
use super::LoadConfig;

/// A silence this long before the end, with requests left unanswered, means the target
/// stopped answering (rather than being slow or the run being short of connections).
const STALL: Duration = Duration::from_secs(1);
/// A closed-loop generator thread busier than this share of a core was the limit.
const BUSY_LIMIT: f64 = 0.9;

/// Why the generator may not have sent the load asked for, or None: in open loop its
/// own lag's p99 (ms) above `max_lag`; in closed loop its busiest thread's share of a
/// core at or above [`BUSY_LIMIT`]. The run's verdict and the live view's alike.
pub(crate) fn generator_reason(
    open_loop: bool,
    max_lag: Duration,
    lag_p99_ms: Option<f64>,
    busy: Option<f64>,
) -> Option<String> {
    if open_loop {
        let limit_ms = max_lag.as_secs_f64() * 1000.0;
        lag_p99_ms.filter(|lag| *lag > limit_ms).map(|lag| {
            format!(
                "the generator itself sent late (p99 lag {lag:.1} ms > {limit_ms:.1} ms): give it its own core (taskset) or more --threads"
            )
        })
    } else {
        busy.filter(|b| *b >= BUSY_LIMIT).map(|busy| {
            format!(
                "the generator was the bottleneck: its busiest thread used {:.0} % of a core during the window, so the target may be faster than measured: give the generator its own core (taskset, [pinning] generator) or more --threads",
                100.0 * busy
            )
        })
    }
}

/// What the validity verdict looks at.
pub(super) struct Reasons<'a> {
    pub(super) config: &'a LoadConfig,
    pub(super) requests: &'a RequestCounts,
    pub(super) window: Duration,
    pub(super) last_answer_s: Option<f64>,
    pub(super) target_rps: Option<f64>,
    pub(super) sent_rps: f64,
    pub(super) ok_service_p50_ms: Option<f64>,
    pub(super) generator_lag_p99_ms: Option<f64>,
    pub(super) busy: Option<f64>,
}

impl Reasons<'_> {
    /// Why the run does not describe the target at the load asked for, each reason
    /// naming the cause it can see and what to do; and whether some of them lie with
    /// the generator.
    pub(super) fn list(&self) -> (Vec<String>, bool) {
        let mut reasons = self.of_the_target();
        let generator = self.of_the_generator();
        let generator_limited = !generator.is_empty();
        reasons.extend(generator);
        (reasons, generator_limited)
    }

    /// The reasons that lie with the target: it stopped answering, or it held every
    /// connection so the schedule could not be sent.
    fn of_the_target(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        let stalled = self.stall();
        if let Some(stall) = &stalled {
            reasons.push(stall.clone());
        }
        if let Some(rate) = self.target_rps {
            if stalled.is_none() && self.sent_rps < 0.95 * rate {
                reasons.push(self.capped(rate));
            }
        }
        reasons
    }

    /// The reasons that lie with the generator itself: it sent late, or its busiest
    /// thread was saturated.
    fn of_the_generator(&self) -> Vec<String> {
        generator_reason(
            self.target_rps.is_some(),
            self.config.max_generator_lag,
            self.generator_lag_p99_ms,
            self.busy,
        )
        .into_iter()
        .collect()
    }

    /// "The target stopped answering at 4.0 s (...)", when requests were left
    /// unanswered and nothing came back during the last [`STALL`] or more.
    fn stall(&self) -> Option<String> {
        let r = self.requests;
        if r.unfinished == 0 {
            return None;
        }
        let window_s = self.window.as_secs_f64();
        let left = format!(
            "{} requests unsent, {} in flight",
            r.unsent, r.in_flight_at_end
        );
        match self.last_answer_s {
            None => Some(format!(
                "the target never answered ({left}): is it hung, or stopped (SIGSTOP)?"
            )),
            Some(last) if window_s - last >= STALL.as_secs_f64() => Some(format!(
                "the target stopped answering at {:.1} s (no replies for {:.1} s; {left})",
                last.max(0.0),
                window_s - last.max(0.0)
            )),
            Some(_) => None,
        }
    }

    /// The open-loop schedule was not kept because every connection was busy.
    fn capped(&self, rate: f64) -> String {
        let connections = self.config.connections;
        let little = self
            .ok_service_p50_ms
            .filter(|ms| *ms > 0.0)
            .map_or(String::new(), |ms| {
                format!(
                    " ({connections} connections ÷ {ms:.1} ms p50 service time (send to reply) allow about {:.0} req/s)",
                    connections as f64 * 1000.0 / ms
                )
            });
        format!(
            "sent {:.0} req/s, {:.0} % of the target {rate:.0}: requests in flight were capped by --connections {connections}{little}; {} requests were never sent: add connections, or the target is saturated at this rate",
            self.sent_rps,
            100.0 * self.sent_rps / rate,
            self.requests.unsent
        )
    }
}

/// Under stages, each stage judged on its own: a stage whose whole seconds in the
/// measured window sent under 95 % of what came due in them (the schedule could not be
/// kept there, though the run as a whole may have kept it). Stages with under 20
/// requests due in the window are not judged.
pub(super) fn stage_shortfalls(
    schedule: &Schedule,
    warmup: Duration,
    timeline: &[Second],
) -> Vec<String> {
    let Schedule::Staged { stages } = schedule else {
        return Vec::new();
    };
    let mut reasons = Vec::new();
    let mut start = Duration::ZERO;
    for (k, stage) in stages.as_slice().iter().enumerate() {
        let end = start + stage.duration;
        // The window's whole seconds that lie inside this stage.
        let inside: Vec<&Second> = timeline
            .iter()
            .filter(|row| {
                let from = warmup + Duration::from_secs(row.second);
                from >= start && from + Duration::from_secs(1) <= end
            })
            .collect();
        let due: f64 = inside
            .iter()
            .map(|row| {
                let from = warmup + Duration::from_secs(row.second);
                schedule.due_by(from + Duration::from_secs(1)) - schedule.due_by(from)
            })
            .sum();
        let sent: f64 = inside.iter().map(|row| row.sent_rps).sum();
        if due >= 20.0 && sent < 0.95 * due {
            reasons.push(format!(
                "stage {} (to {} req/s over {:?}) sent {:.0} of the {:.0} requests due in its {} whole seconds ({:.0} %): the schedule was not kept there (the target held every connection, or the generator fell behind)",
                k + 1,
                crate::display::figure(stage.rate),
                stage.duration,
                sent,
                due,
                inside.len(),
                100.0 * sent / due
            ));
        }
        start = end;
    }
    reasons
}
