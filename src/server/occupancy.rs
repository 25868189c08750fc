//! How busy the blocking style's threads are: how many hold a connection (a pool
//! thread held by an idle keep-alive connection counts: it can serve no one else) and
//! how many are working on a request. A thread samples both every 10 ms into 100 ms
//! buckets since the server started; `GET /pool` returns the buckets as JSON
//! ([`PoolSnapshot`]) and the runner averages those of its measured window. This is
//! the mechanism behind a starved pool: every thread held, few working.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The path that answers with a [`PoolSnapshot`].
pub const POOL_PATH: &str = "/pool";

/// One bucket's length.
pub const BUCKET: Duration = Duration::from_millis(100);

/// How often the counts are sampled.
const TICK: Duration = Duration::from_millis(10);

/// Buckets kept: the last hour.
const KEPT: usize = 36_000;

/// The live counts and their history.
pub struct Occupancy {
    held: AtomicUsize,
    working: AtomicUsize,
    threads: Option<usize>,
    started: Instant,
    series: Mutex<Series>,
}

#[derive(Default)]
struct Series {
    /// The number of the oldest bucket kept.
    first: u64,
    held: VecDeque<f32>,
    working: VecDeque<f32>,
}

/// What `GET /pool` returns.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoolSnapshot {
    /// The pool's size (None: a thread per connection).
    pub threads: Option<u64>,
    /// Seconds since the server started, when the snapshot was taken.
    pub uptime_s: f64,
    /// Each bucket's length, s.
    pub bucket_s: f64,
    /// The number of the first bucket below (bucket k covers [k, k+1) × bucket_s).
    pub first_bucket: u64,
    /// Mean threads holding a connection, bucket by bucket.
    pub held: Vec<f32>,
    /// Mean threads working on a request, bucket by bucket.
    pub working: Vec<f32>,
}

impl PoolSnapshot {
    /// The mean threads holding a connection and working, over the buckets wholly
    /// inside `[from_s, to_s]` of server time (None: no bucket is).
    pub fn window_mean(&self, from_s: f64, to_s: f64) -> Option<(f64, f64)> {
        let inside: Vec<usize> = (0..self.held.len())
            .filter(|i| {
                let start = (self.first_bucket + *i as u64) as f64 * self.bucket_s;
                start >= from_s - 1e-9 && start + self.bucket_s <= to_s + 1e-9
            })
            .collect();
        if inside.is_empty() {
            return None;
        }
        let mean = |values: &[f32]| {
            inside.iter().map(|i| f64::from(values[*i])).sum::<f64>() / inside.len() as f64
        };
        Some((mean(&self.held), mean(&self.working)))
    }
}

impl Occupancy {
    /// Starts counting (and the sampling thread, which ends when the last handle drops)
    /// for a pool of `threads` (None: a thread per connection).
    pub fn start(threads: Option<usize>) -> Arc<Self> {
        let occupancy = Arc::new(Self {
            held: AtomicUsize::new(0),
            working: AtomicUsize::new(0),
            threads,
            started: Instant::now(),
            series: Mutex::new(Series::default()),
        });
        let weak = Arc::downgrade(&occupancy);
        let _ = std::thread::Builder::new()
            .name("occupancy".into())
            .spawn(move || sample(weak));
        occupancy
    }

    /// Counts the calling thread as holding a connection until the guard drops.
    pub fn hold(&self) -> Counted<'_> {
        Counted::on(&self.held)
    }

    /// Counts the calling thread as working on a request until the guard drops.
    pub fn work(&self) -> Counted<'_> {
        Counted::on(&self.working)
    }

    /// The history so far.
    pub fn snapshot(&self) -> PoolSnapshot {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        PoolSnapshot {
            threads: self.threads.map(|n| n as u64),
            uptime_s: self.started.elapsed().as_secs_f64(),
            bucket_s: BUCKET.as_secs_f64(),
            first_bucket: series.first,
            held: series.held.iter().copied().collect(),
            working: series.working.iter().copied().collect(),
        }
    }
}

/// A count held up while it lives.
pub struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn on(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Samples the counts every tick into the current bucket, closing a bucket when its
/// time is over; ends when the occupancy is gone.
fn sample(weak: Weak<Occupancy>) {
    let (mut held, mut working, mut ticks) = (0.0f64, 0.0f64, 0u32);
    let mut bucket = 0u64;
    loop {
        std::thread::sleep(TICK);
        let Some(occupancy) = weak.upgrade() else {
            return;
        };
        let now = (occupancy.started.elapsed().as_nanos() / BUCKET.as_nanos()) as u64;
        if now != bucket && ticks > 0 {
            let mut series = occupancy.series.lock().unwrap_or_else(|e| e.into_inner());
            if series.held.is_empty() {
                series.first = bucket;
            }
            // Buckets with no tick (a stalled machine) repeat the last mean.
            let skipped = now.saturating_sub(bucket + 1) as usize;
            let n = f64::from(ticks);
            for _ in 0..=skipped {
                series.held.push_back((held / n) as f32);
                series.working.push_back((working / n) as f32);
            }
            while series.held.len() > KEPT {
                series.held.pop_front();
                series.working.pop_front();
                series.first += 1;
            }
            (held, working, ticks) = (0.0, 0.0, 0);
        }
        bucket = now;
        held += occupancy.held.load(Ordering::Relaxed) as f64;
        working += occupancy.working.load(Ordering::Relaxed) as f64;
        ticks += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_mean_takes_the_buckets_wholly_inside_it() {
        let snapshot = PoolSnapshot {
            threads: Some(8),
            uptime_s: 1.0,
            bucket_s: 0.1,
            first_bucket: 3,
            held: vec![1.0, 8.0, 8.0, 6.0],
            working: vec![0.0, 1.0, 3.0, 2.0],
        };
        // Buckets 4 and 5 cover [0.4, 0.6).
        assert_eq!(snapshot.window_mean(0.4, 0.6), Some((8.0, 2.0)));
        assert_eq!(snapshot.window_mean(0.35, 0.75), Some((22.0 / 3.0, 2.0)));
        assert_eq!(snapshot.window_mean(2.0, 3.0), None);
    }

    #[test]
    fn held_and_working_threads_are_counted_while_their_guards_live() {
        let occupancy = Occupancy::start(Some(4));
        let holds: Vec<_> = (0..3).map(|_| occupancy.hold()).collect();
        let working = occupancy.work();
        // Wait (bounded) for three whole buckets to close.
        let give_up = Instant::now() + Duration::from_secs(20);
        while occupancy.snapshot().held.len() < 4 && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop((holds, working));
        let snapshot = occupancy.snapshot();
        assert_eq!(snapshot.threads, Some(4));
        // The first bucket may have begun before the guards; the later ones are whole.
        assert_eq!(snapshot.held[1..4], [3.0, 3.0, 3.0], "{snapshot:?}");
        assert_eq!(snapshot.working[1..4], [1.0, 1.0, 1.0], "{snapshot:?}");
    }
}
