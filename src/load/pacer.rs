//! When requests should leave: the schedule (closed loop, constant rate, stepped rate)
//! and a pacer that hands one worker thread its share of the intended send times.

use std::time::Duration;

/// The arrival process a run follows.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Schedule {
    /// Each connection sends as soon as its previous reply arrives.
    Closed,
    /// A constant arrival rate (requests per second), whatever the server does.
    Constant {
        /// Requests per second.
        rate: f64,
    },
    /// A rate that starts at `start` and grows by `step` every `every` (capped at `max`).
    Stepped {
        /// Requests per second at first.
        start: f64,
        /// Added to the rate at each step.
        step: f64,
        /// Time between steps.
        every: Duration,
        /// The rate stops growing here.
        max: Option<f64>,
    },
}

impl Schedule {
    /// The arrival rate `elapsed` after the start (None in closed loop).
    pub fn rate_at(&self, elapsed: Duration) -> Option<f64> {
        match *self {
            Schedule::Closed => None,
            Schedule::Constant { rate } => Some(rate),
            Schedule::Stepped {
                start,
                step,
                every,
                max,
            } => {
                let steps = (elapsed.as_secs_f64() / every.as_secs_f64().max(1e-9)).floor();
                let rate = start + step * steps;
                Some(max.map_or(rate, |max| rate.min(max)))
            }
        }
    }

    /// The rate at the start, for display (None in closed loop).
    pub fn initial_rate(&self) -> Option<f64> {
        self.rate_at(Duration::ZERO)
    }
}

/// Intended send times for worker `index` of `workers`: worker w takes requests
/// w, w + workers, w + 2·workers, … of the global schedule, so together the workers
/// follow the schedule exactly.
#[derive(Debug, Clone)]
pub struct Pacer {
    schedule: Schedule,
    workers: f64,
    next_offset: f64,
}

impl Pacer {
    /// The pacer of worker `index` (from 0) out of `workers`.
    pub fn new(schedule: Schedule, index: usize, workers: usize) -> Self {
        let first = schedule
            .initial_rate()
            .map_or(0.0, |rate| index as f64 / rate.max(1e-9));
        Self {
            schedule,
            workers: workers.max(1) as f64,
            next_offset: first,
        }
    }

    /// The next intended send time, as an offset from the run's start (None: closed loop).
    pub fn next_send(&mut self) -> Option<Duration> {
        let offset = self.peek()?;
        let rate = self.schedule.rate_at(offset)?;
        self.next_offset += self.workers / rate.max(1e-9);
        Some(offset)
    }

    /// The next intended send time, without taking it (None: closed loop).
    pub fn peek(&self) -> Option<Duration> {
        self.schedule.initial_rate()?;
        Some(Duration::from_secs_f64(self.next_offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_interleave_to_follow_a_constant_rate_exactly() {
        let schedule = Schedule::Constant { rate: 100.0 };
        let mut a = Pacer::new(schedule, 0, 2);
        let mut b = Pacer::new(schedule, 1, 2);
        let mut all: Vec<f64> = (0..5)
            .flat_map(|_| [a.next_send().unwrap(), b.next_send().unwrap()])
            .map(|d| d.as_secs_f64())
            .collect();
        all.sort_by(f64::total_cmp);
        for (i, t) in all.iter().enumerate() {
            assert!((t - i as f64 * 0.01).abs() < 1e-9, "{i}: {t}");
        }
    }

    #[test]
    fn stepped_rate_grows_and_caps() {
        let schedule = Schedule::Stepped {
            start: 100.0,
            step: 100.0,
            every: Duration::from_secs(1),
            max: Some(250.0),
        };
        assert_eq!(schedule.rate_at(Duration::from_millis(500)), Some(100.0));
        assert_eq!(schedule.rate_at(Duration::from_millis(1500)), Some(200.0));
        assert_eq!(schedule.rate_at(Duration::from_secs(9)), Some(250.0));
        let mut pacer = Pacer::new(schedule, 0, 1);
        let sent_in_first_two_seconds = std::iter::from_fn(|| pacer.next_send())
            .take_while(|t| *t < Duration::from_secs(2))
            .count();
        assert_eq!(sent_in_first_two_seconds, 300);
    }

    #[test]
    fn closed_loop_has_no_schedule() {
        assert_eq!(Pacer::new(Schedule::Closed, 0, 1).next_send(), None);
        assert_eq!(Pacer::new(Schedule::Closed, 0, 1).peek(), None);
    }

    #[test]
    fn peek_shows_the_next_send_without_taking_it() {
        let mut pacer = Pacer::new(Schedule::Constant { rate: 10.0 }, 0, 1);
        assert_eq!(pacer.peek(), pacer.next_send());
        assert_eq!(pacer.peek(), Some(Duration::from_millis(100)));
    }
}
