//! When requests should leave: the schedule (closed loop, constant rate, stepped rate),
//! the arrival process (evenly spaced, or Poisson: seeded exponential gaps), and a
//! pacer that hands one worker thread its share of the intended send times.

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

    /// The same schedule at `share` of its rate (a shard's part of a run).
    pub fn scaled(self, share: f64) -> Self {
        match self {
            Schedule::Closed => Schedule::Closed,
            Schedule::Constant { rate } => Schedule::Constant { rate: rate * share },
            Schedule::Stepped {
                start,
                step,
                every,
                max,
            } => Schedule::Stepped {
                start: start * share,
                step: step * share,
                every,
                max: max.map(|m| m * share),
            },
        }
    }
}

/// How the intended send times of an open loop are spaced.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Arrival {
    /// Evenly: one every 1/rate (wrk2's model).
    #[default]
    Uniform,
    /// A Poisson process: independent exponential gaps with mean 1/rate, as real
    /// traffic arrives (queues build up more than under even spacing).
    Poisson,
}

/// Intended send times for worker `index` of `workers`. Uniform: worker w takes
/// requests w, w + workers, w + 2·workers, … of the global schedule, so together the
/// workers follow the schedule exactly. Poisson: each worker is a Poisson process of
/// rate/workers with its own seeded gaps, and together (superposed) they are one of
/// the whole rate.
#[derive(Debug, Clone)]
pub struct Pacer {
    schedule: Schedule,
    workers: f64,
    next_offset: f64,
    arrival: Arrival,
    random: u64,
}

impl Pacer {
    /// The evenly spaced pacer of worker `index` (from 0) out of `workers`.
    pub fn new(schedule: Schedule, index: usize, workers: usize) -> Self {
        Self::with_arrival(schedule, index, workers, Arrival::Uniform, 0)
    }

    /// The pacer of worker `index` out of `workers` for `arrival`, its randomness
    /// (Poisson) drawn from `seed` and `index`.
    pub fn with_arrival(
        schedule: Schedule,
        index: usize,
        workers: usize,
        arrival: Arrival,
        seed: u64,
    ) -> Self {
        let mut pacer = Self {
            schedule,
            workers: workers.max(1) as f64,
            next_offset: 0.0,
            arrival,
            random: super::target::splitmix64(
                seed ^ (index as u64).wrapping_mul(0xA076_1D64_78BD_642F),
            ),
        };
        pacer.next_offset = match (arrival, schedule.initial_rate()) {
            (_, None) => 0.0,
            (Arrival::Uniform, Some(rate)) => index as f64 / rate.max(1e-9),
            (Arrival::Poisson, Some(_)) => pacer.gap(0.0),
        };
        pacer
    }

    /// The time from `offset` to the next intended send.
    fn gap(&mut self, offset: f64) -> f64 {
        let rate = self
            .schedule
            .rate_at(Duration::from_secs_f64(offset))
            .unwrap_or(1.0)
            .max(1e-9);
        let mean = self.workers / rate;
        match self.arrival {
            Arrival::Uniform => mean,
            Arrival::Poisson => {
                self.random = super::target::splitmix64(self.random);
                let u = super::target::unit_interval(self.random);
                -(1.0 - u).ln() * mean
            }
        }
    }

    /// The next intended send time, as an offset from the run's start (None: closed loop).
    pub fn next_send(&mut self) -> Option<Duration> {
        let offset = self.peek()?;
        self.next_offset += self.gap(self.next_offset);
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
    fn poisson_gaps_are_exponential_with_the_rate_and_repeat_with_the_seed() {
        let schedule = Schedule::Constant { rate: 1000.0 };
        let times = |seed| {
            let mut pacers: Vec<Pacer> = (0..2)
                .map(|i| Pacer::with_arrival(schedule, i, 2, Arrival::Poisson, seed))
                .collect();
            let mut all: Vec<f64> = pacers
                .iter_mut()
                .flat_map(|p| {
                    (0..20_000)
                        .map(|_| p.next_send().unwrap().as_secs_f64())
                        .collect::<Vec<_>>()
                })
                .collect();
            all.sort_by(f64::total_cmp);
            all.truncate(20_000); // both workers' streams cover this span
            all
        };
        let all = times(42);
        let gaps: Vec<f64> = all.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 0.001).abs() < 0.00005, "mean gap {mean}");
        // Exponential: P(gap > mean) = e^-1, and the coefficient of variation is 1.
        let above = gaps.iter().filter(|g| **g > 0.001).count() as f64 / gaps.len() as f64;
        assert!((above - (-1.0f64).exp()).abs() < 0.02, "{above}");
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((sd / mean - 1.0).abs() < 0.05, "cv {}", sd / mean);
        assert_eq!(times(42), all, "the same seed, the same times");
        assert_ne!(times(43)[..10], all[..10]);
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
