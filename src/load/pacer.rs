//! When requests should leave: the schedule (closed loop, constant rate, stepped rate,
//! staged rates that ramp linearly), the arrival process (evenly spaced, or Poisson:
//! seeded exponential gaps), and a pacer that hands one worker thread its share of the
//! intended send times. Every open-loop schedule is read the same way: the n-th arrival
//! is due when the integral of the rate reaches n, so a rate that ramps from 0 or
//! changes mid-gap is followed exactly.

use std::time::Duration;

/// The arrival process a run follows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Schedule {
    /// Each connection sends as soon as its previous reply arrives.
    Closed,
    /// A constant arrival rate (requests per second), whatever the server does.
    Constant {
        /// Requests per second.
        rate: f64,
    },
    /// Stages, one after another: each ramps the rate linearly from the previous
    /// stage's (the first from 0) to its own over its duration; after the last, its
    /// rate holds.
    Staged {
        /// The stages, in order.
        stages: Stages,
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
    /// The arrival rate `elapsed` after the start (None in closed loop): read off the
    /// schedule's linear pieces.
    pub fn rate_at(&self, elapsed: Duration) -> Option<f64> {
        let t = elapsed.as_secs_f64();
        let mut k = 0;
        while let Some(piece) = self.piece(k) {
            match piece.length {
                Some(length) if t >= piece.start + length => k += 1,
                Some(length) => {
                    let along = (t - piece.start) / length.max(1e-12);
                    return Some(piece.from + (piece.to - piece.from) * along);
                }
                None => return Some(piece.from),
            }
        }
        None
    }

    /// Whether requests follow a schedule (open loop) rather than replies (closed).
    pub fn is_open(&self) -> bool {
        !matches!(self, Schedule::Closed)
    }

    /// The highest rate the schedule reaches (None in closed loop; a stepped rate with
    /// no cap: its rate after `horizon`).
    pub fn peak_rate(&self, horizon: Duration) -> Option<f64> {
        match self {
            Schedule::Closed => None,
            Schedule::Constant { rate } => Some(*rate),
            Schedule::Stepped { .. } => self.rate_at(horizon),
            Schedule::Staged { stages } => {
                stages.as_slice().iter().map(|s| s.rate).reduce(f64::max)
            }
        }
    }

    /// Requests due from the start to `elapsed`: the integral of the rate (0 in closed
    /// loop).
    pub fn due_by(&self, elapsed: Duration) -> f64 {
        let t = elapsed.as_secs_f64();
        let mut due = 0.0;
        let mut k = 0;
        while let Some(piece) = self.piece(k) {
            let length = piece.length.unwrap_or(f64::INFINITY);
            if t >= piece.start + length {
                due += piece.area().unwrap_or(0.0);
                k += 1;
                continue;
            }
            let along = t - piece.start;
            let slope = piece.slope();
            return due + piece.from * along + slope * along * along / 2.0;
        }
        due
    }

    /// Piece `k` of the schedule: a span over which its rate is linear (None: closed
    /// loop, or past the last piece).
    fn piece(&self, k: usize) -> Option<Piece> {
        match *self {
            Schedule::Closed => None,
            Schedule::Constant { rate } => (k == 0).then_some(Piece {
                start: 0.0,
                length: None,
                from: rate,
                to: rate,
            }),
            Schedule::Stepped {
                start,
                step,
                every,
                max,
            } => {
                let every = every.as_secs_f64().max(1e-9);
                let rate = start + step * k as f64;
                let capped = max.is_some_and(|max| rate >= max);
                let rate = max.map_or(rate, |max| rate.min(max));
                // Past the cap the rate holds: one last piece, for ever.
                if k > 0 && max.is_some_and(|max| start + step * (k - 1) as f64 >= max) {
                    return None;
                }
                Some(Piece {
                    start: every * k as f64,
                    length: (!capped).then_some(every),
                    from: rate,
                    to: rate,
                })
            }
            Schedule::Staged { ref stages } => {
                let list = stages.as_slice();
                let start: f64 = list.iter().take(k).map(|s| s.duration.as_secs_f64()).sum();
                let before = |k: usize| if k == 0 { 0.0 } else { list[k - 1].rate };
                match list.get(k) {
                    Some(stage) => Some(Piece {
                        start,
                        length: Some(stage.duration.as_secs_f64()),
                        from: before(k),
                        to: stage.rate,
                    }),
                    None if k == list.len() => Some(Piece {
                        start,
                        length: None,
                        from: before(k),
                        to: before(k),
                    }),
                    None => None,
                }
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
            Schedule::Staged { stages } => Schedule::Staged {
                stages: stages.scaled(share),
            },
        }
    }
}

/// A span of a schedule over which the rate moves linearly, seconds from the start.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Piece {
    /// When it begins.
    start: f64,
    /// How long it lasts (None: for ever, at `from`).
    length: Option<f64>,
    /// The rate at its beginning, req/s.
    from: f64,
    /// The rate at its end.
    to: f64,
}

impl Piece {
    /// Requests due over the whole piece (None: it lasts for ever).
    fn area(&self) -> Option<f64> {
        self.length.map(|l| (self.from + self.to) / 2.0 * l)
    }

    /// How fast the rate changes, req/s a second.
    fn slope(&self) -> f64 {
        match self.length {
            Some(l) if l > 0.0 => (self.to - self.from) / l,
            _ => 0.0,
        }
    }

    /// Seconds into the piece at which `due` more requests have come due (infinite: never,
    /// a rate of 0 for ever). Solves from·τ + slope·τ²/2 = due in the form that stays
    /// exact as the slope goes to 0 and the rate starts at 0.
    fn time_for(&self, due: f64) -> f64 {
        if due <= 0.0 {
            return 0.0;
        }
        let slope = self.slope();
        if slope == 0.0 {
            return if self.from > 0.0 {
                due / self.from
            } else {
                f64::INFINITY
            };
        }
        let root = (self.from * self.from + 2.0 * slope * due).max(0.0).sqrt();
        let denominator = self.from + root;
        if denominator > 0.0 {
            2.0 * due / denominator
        } else {
            f64::INFINITY
        }
    }
}

/// Most stages a staged rate may have.
pub const MAX_STAGES: usize = 16;

/// One stage: over `duration` the rate moves linearly from the previous stage's (the
/// first stage's from 0) to `rate`; a stage at the previous rate holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stage {
    /// How long it lasts.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// The rate it ends at, req/s.
    pub rate: f64,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}",
            humantime::format_duration(self.duration),
            self.rate
        )
    }
}

impl Stage {
    /// Reads `DURATION:RATE` (`30s:1000`), as `--stage` takes it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (duration, rate) = text.split_once(':').ok_or_else(|| {
            format!("{text:?}: give DURATION:RATE, e.g. 30s:1000 (ramp to 1,000 req/s over 30 s)")
        })?;
        let duration = super::input_bounds::parse_span(duration.trim())
            .map_err(|e| format!("{text:?}: {e}"))?;
        let rate: f64 = rate
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: the rate {rate:?} is not a number of req/s"))?;
        if !(rate >= 0.0 && rate.is_finite()) {
            return Err(format!("{text:?}: the rate must be 0 or more req/s"));
        }
        if duration.is_zero() {
            return Err(format!("{text:?}: a stage must last longer than 0 s"));
        }
        Ok(Self { duration, rate })
    }
}

/// The stages of a staged rate: at most [`MAX_STAGES`], shared by every worker's pacer.
#[derive(Clone, PartialEq)]
pub struct Stages {
    items: std::sync::Arc<[Stage]>,
}

impl Stages {
    /// The stages, or why they cannot be run: none, too many, or none with a rate above 0.
    pub fn new(list: &[Stage]) -> Result<Self, String> {
        if list.is_empty() {
            return Err("give at least one stage (DURATION:RATE)".into());
        }
        if list.len() > MAX_STAGES {
            return Err(format!(
                "{} stages: at most {MAX_STAGES} (join stages that hold one rate)",
                list.len()
            ));
        }
        if list.iter().all(|s| s.rate <= 0.0) {
            return Err("every stage's rate is 0: no request would be sent".into());
        }
        Ok(Self { items: list.into() })
    }

    /// The stages, in order.
    pub fn as_slice(&self) -> &[Stage] {
        &self.items
    }

    /// How long they last together.
    pub fn total(&self) -> Duration {
        self.as_slice().iter().map(|s| s.duration).sum()
    }

    /// The same stages at `share` of their rates.
    fn scaled(&self, share: f64) -> Self {
        let items: Vec<Stage> = self
            .as_slice()
            .iter()
            .map(|s| Stage {
                rate: s.rate * share,
                ..*s
            })
            .collect();
        Self {
            items: items.into(),
        }
    }
}

impl std::fmt::Debug for Stages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl serde::Serialize for Stages {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.as_slice())
    }
}

impl<'de> serde::Deserialize<'de> for Stages {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Vec::<Stage>::deserialize(deserializer)?;
        Stages::new(&list).map_err(serde::de::Error::custom)
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
/// the whole rate. Either way a request is counted in requests due (the integral of
/// the rate) and sent when that many have come due.
#[derive(Debug, Clone)]
pub struct Pacer {
    schedule: Schedule,
    workers: f64,
    /// The next request's place in the count of requests due.
    next_due: f64,
    /// The piece of the schedule the next request falls in, and the requests due
    /// before that piece began.
    piece: usize,
    due_before_piece: f64,
    arrival: Arrival,
    random: u64,
}

/// An intended time that never comes (a rate of 0 for ever): far past any run's end.
const NEVER: f64 = 1e9;

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
            next_due: 0.0,
            piece: 0,
            due_before_piece: 0.0,
            arrival,
            random: super::target::splitmix64(
                seed ^ (index as u64).wrapping_mul(0xA076_1D64_78BD_642F),
            ),
        };
        pacer.next_due = match arrival {
            Arrival::Uniform => index as f64,
            Arrival::Poisson => pacer.gap(),
        };
        pacer
    }

    /// How many more requests come due before this worker's next: its share, evenly or
    /// as an exponential gap.
    fn gap(&mut self) -> f64 {
        match self.arrival {
            Arrival::Uniform => self.workers,
            Arrival::Poisson => {
                self.random = super::target::splitmix64(self.random);
                let u = super::target::unit_interval(self.random);
                -(1.0 - u).ln() * self.workers
            }
        }
    }

    /// When the `due`-th request comes due, from piece `piece` on (which began with
    /// `before` due): the time, and the piece it falls in with the count before it.
    fn time_of(&self, due: f64, mut piece: usize, mut before: f64) -> (f64, usize, f64) {
        while let Some(p) = self.schedule.piece(piece) {
            match p.area() {
                Some(area) if due - before >= area => {
                    before += area;
                    piece += 1;
                }
                _ => {
                    let t = p.start + p.time_for(due - before);
                    return (
                        if t.is_finite() { t.min(NEVER) } else { NEVER },
                        piece,
                        before,
                    );
                }
            }
        }
        (NEVER, piece, before)
    }

    /// The next intended send time, as an offset from the run's start (None: closed loop).
    pub fn next_send(&mut self) -> Option<Duration> {
        if !self.schedule.is_open() {
            return None;
        }
        let (t, piece, before) = self.time_of(self.next_due, self.piece, self.due_before_piece);
        self.piece = piece;
        self.due_before_piece = before;
        self.next_due += self.gap();
        Some(Duration::from_secs_f64(t))
    }

    /// The next intended send time, without taking it (None: closed loop).
    pub fn peek(&self) -> Option<Duration> {
        if !self.schedule.is_open() {
            return None;
        }
        let (t, _, _) = self.time_of(self.next_due, self.piece, self.due_before_piece);
        Some(Duration::from_secs_f64(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_interleave_to_follow_a_constant_rate_exactly() {
        let schedule = Schedule::Constant { rate: 100.0 };
        let mut a = Pacer::new(schedule.clone(), 0, 2);
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
                .map(|i| Pacer::with_arrival(schedule.clone(), i, 2, Arrival::Poisson, seed))
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

    fn staged(list: &[(u64, f64)]) -> Schedule {
        let stages: Vec<Stage> = list
            .iter()
            .map(|&(ms, rate)| Stage {
                duration: Duration::from_millis(ms),
                rate,
            })
            .collect();
        Schedule::Staged {
            stages: Stages::new(&stages).unwrap(),
        }
    }

    /// Every send of `workers` pacers before `end`, sorted.
    fn sends(schedule: &Schedule, workers: usize, arrival: Arrival, end: Duration) -> Vec<f64> {
        let mut all: Vec<f64> = (0..workers)
            .flat_map(|i| {
                let mut pacer = Pacer::with_arrival(schedule.clone(), i, workers, arrival, 7);
                std::iter::from_fn(move || pacer.next_send())
                    .take_while(move |t| *t < end)
                    .map(|t| t.as_secs_f64())
                    .collect::<Vec<_>>()
            })
            .collect();
        all.sort_by(f64::total_cmp);
        all
    }

    #[test]
    fn stages_ramp_linearly_from_zero_and_hold() {
        // Up to 1,000 req/s over 2 s, hold 1 s, down to 200 over 1 s.
        let schedule = staged(&[(2000, 1000.0), (1000, 1000.0), (1000, 200.0)]);
        assert_eq!(schedule.rate_at(Duration::ZERO), Some(0.0));
        assert_eq!(schedule.rate_at(Duration::from_millis(500)), Some(250.0));
        assert_eq!(schedule.rate_at(Duration::from_millis(2500)), Some(1000.0));
        assert_eq!(schedule.rate_at(Duration::from_millis(3500)), Some(600.0));
        assert_eq!(schedule.rate_at(Duration::from_secs(9)), Some(200.0));
        assert_eq!(schedule.peak_rate(Duration::ZERO), Some(1000.0));
        // The integral: 1,000 + 1,000 + 600 = 2,600 requests over the 4 s.
        assert!((schedule.due_by(Duration::from_secs(4)) - 2600.0).abs() < 1e-6);
        assert!((schedule.due_by(Duration::from_secs(1)) - 250.0).abs() < 1e-6);
    }

    #[test]
    fn the_requests_scheduled_are_the_integral_of_the_stages() {
        let schedule = staged(&[(2000, 1000.0), (1000, 1000.0), (1000, 200.0)]);
        for workers in [1, 3, 8] {
            let all = sends(&schedule, workers, Arrival::Uniform, Duration::from_secs(4));
            assert_eq!(all.len(), 2600, "{workers} workers");
            // Second by second the count follows the ramp: 250, 750, 1,000, 600.
            let per_second: Vec<usize> = (0..4)
                .map(|s| all.iter().filter(|t| t.floor() as usize == s).count())
                .collect();
            assert_eq!(per_second, vec![250, 750, 1000, 600], "{workers} workers");
        }
        // Poisson: the same integral on average (sd √2600 ≈ 51).
        let poisson = sends(&schedule, 4, Arrival::Poisson, Duration::from_secs(4));
        assert!(
            (poisson.len() as f64 - 2600.0).abs() < 200.0,
            "{}",
            poisson.len()
        );
        let first_second = poisson.iter().filter(|t| **t < 1.0).count() as f64;
        assert!((first_second - 250.0).abs() < 60.0, "{first_second}");
    }

    #[test]
    fn a_stage_down_to_zero_sends_nothing_after_it() {
        let schedule = staged(&[(1000, 100.0), (1000, 0.0)]);
        let all = sends(&schedule, 2, Arrival::Uniform, Duration::from_secs(60));
        // 50 + 50 due in the two seconds; the next would be due at 2 s exactly (the
        // integral reaches 100 there), and after it none ever is.
        assert_eq!(all.iter().filter(|t| **t < 2.0).count(), 100);
        assert!(all.iter().all(|t| *t <= 2.0 + 1e-9), "{:?}", all.last());
    }

    #[test]
    fn stages_read_from_the_command_line_say_what_is_wrong() {
        assert_eq!(
            Stage::parse("30s:1000"),
            Ok(Stage {
                duration: Duration::from_secs(30),
                rate: 1000.0
            })
        );
        assert!(Stage::parse("30s").unwrap_err().contains("DURATION:RATE"));
        assert!(Stage::parse("0s:10").unwrap_err().contains("longer than 0"));
        assert!(Stage::parse("1s:-5").unwrap_err().contains("0 or more"));
        assert!(Stage::parse("1s:fast")
            .unwrap_err()
            .contains("not a number"));
        let many = vec![Stage::parse("1s:10").unwrap(); MAX_STAGES + 1];
        assert!(Stages::new(&many).unwrap_err().contains("at most 16"));
        let zero = [Stage::parse("1s:0").unwrap()];
        assert!(Stages::new(&zero).unwrap_err().contains("no request"));
        let json = serde_json::to_string(&staged(&[(1500, 10.0)])).unwrap();
        assert_eq!(
            json,
            r#"{"Staged":{"stages":[{"duration":"1s 500ms","rate":10.0}]}}"#
        );
        assert_eq!(
            serde_json::from_str::<Schedule>(&json).unwrap(),
            staged(&[(1500, 10.0)])
        );
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
