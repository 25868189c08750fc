//! The runtime-lag probe of the async styles (claim C4): a task that sleeps 1 ms in a
//! loop and records how late it wakes. A handler that blocks a worker shows up here
//! as lag. `GET /lag` returns the figures since start as JSON ([`LagSnapshot`]); once
//! the runner has named its measured window (`GET /lag/window?begins_in_ms=B&lasts_ms=L`,
//! sent just before the load starts), it returns those of the wake-ups that overlap
//! the window too, so a stall in the warm-up or after the window is not the cell's.
//!
//! What the figures mean: lag = (time the probe woke) − (time it asked to wake). tokio's
//! timer has 1 ms resolution and rounds up, so an idle runtime already shows up to about
//! 1 ms; tens or hundreds of milliseconds mean something held a worker thread.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::windowed::{WaitFigures, WindowedWaits};

/// The probe interval.
pub const PERIOD: Duration = Duration::from_millis(1);

/// The path that answers with a [`LagSnapshot`].
pub const PATH: &str = "/lag";

/// The path that names the measured window (query: [`window_query`]).
pub const WINDOW_PATH: &str = "/lag/window";

/// Lag figures over some span of wake-ups.
pub type LagFigures = WaitFigures;

/// What `GET /lag` returns: the figures since the probe started and, when a window
/// was named, those of the wake-ups that overlap it (a stall that began before the
/// window and ended in it, or began in it, counts).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LagSnapshot {
    /// Since the probe started.
    #[serde(flatten)]
    pub since_start: LagFigures,
    /// In the named window (None: no window was named).
    #[serde(default)]
    pub window: Option<LagFigures>,
    /// The C10 variants (`limited`, `bounded-queue`): how long admitted requests waited
    /// for a place in service in the named window, the server's own queue (None: no
    /// admission gate, or no window named).
    #[serde(default)]
    pub queue_wait: Option<WaitFigures>,
}

/// A running probe.
pub struct LagProbe {
    recorded: Mutex<WindowedWaits>,
}

impl LagProbe {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            recorded: Mutex::new(WindowedWaits::default()),
        })
    }

    /// A probe that never runs (`--no-lag-probe`, to measure what the probe costs):
    /// its snapshot has no samples.
    pub fn off() -> Arc<Self> {
        Self::new()
    }

    /// Starts the probe task on the current tokio runtime.
    pub fn start() -> Arc<Self> {
        let probe = Self::new();
        let recorder = probe.clone();
        tokio::spawn(async move {
            loop {
                let asked = Instant::now() + PERIOD;
                tokio::time::sleep(PERIOD).await;
                recorder.lock().record(asked, Instant::now());
            }
        });
        probe
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WindowedWaits> {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Names the measured window: it begins `begins_in` from now and lasts `lasts`.
    /// A new window replaces the last one.
    pub fn set_window(&self, begins_in: Duration, lasts: Duration) {
        let begins = Instant::now() + begins_in;
        self.lock().set_window(begins, begins + lasts);
    }

    /// The figures so far.
    pub fn snapshot(&self) -> LagSnapshot {
        let recorded = self.lock();
        LagSnapshot {
            since_start: recorded.since_start(),
            window: recorded.in_window(),
            queue_wait: None,
        }
    }
}

/// The window of a `GET /lag/window` query, `begins_in_ms=B&lasts_ms=L` (None when
/// either is missing or not a number of milliseconds).
pub fn window_query(query: &str) -> Option<(Duration, Duration)> {
    let value = |key: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .map(Duration::from_millis)
    };
    Some((value("begins_in_ms")?, value("lasts_ms")?))
}

/// The query that names a window beginning `begins_in` from now and lasting `lasts`.
pub fn window_target(begins_in: Duration, lasts: Duration) -> String {
    format!(
        "{WINDOW_PATH}?begins_in_ms={}&lasts_ms={}",
        begins_in.as_millis(),
        lasts.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_query_reads_both_values_or_none() {
        let target = window_target(Duration::from_millis(900), Duration::from_secs(2));
        let query = target.split_once('?').unwrap().1;
        assert_eq!(
            window_query(query),
            Some((Duration::from_millis(900), Duration::from_secs(2)))
        );
        assert_eq!(window_query("begins_in_ms=5"), None);
        assert_eq!(window_query("begins_in_ms=x&lasts_ms=5"), None);
    }

    /// Stalls before, in and after the window (on tokio's paused clock): the window's
    /// figures hold only the one in it; the figures since start hold all three.
    #[tokio::test(start_paused = true)]
    async fn only_the_stalls_that_overlap_the_window_are_the_windows() {
        let probe = LagProbe::start();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // A 200 ms stall in the warm-up.
        tokio::time::advance(Duration::from_millis(200)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        probe.set_window(Duration::from_millis(10), Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(40)).await;
        // A 60 ms stall in the window.
        tokio::time::advance(Duration::from_millis(60)).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        // A 500 ms stall after it.
        tokio::time::advance(Duration::from_millis(500)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let snapshot = probe.snapshot();
        let window = snapshot.window.expect("a window was named");
        assert!(
            (59.0..=62.0).contains(&window.max_ms),
            "the window's stall: {window:?}"
        );
        assert!(
            (499.0..=502.0).contains(&snapshot.since_start.max_ms),
            "{snapshot:?}"
        );
        assert!(
            window.samples >= 30 && window.samples < snapshot.since_start.samples,
            "{snapshot:?}"
        );
        let text = serde_json::to_string(&snapshot).unwrap();
        assert!(text.starts_with("{\"p50_ms\""), "flat, as before: {text}");
        let back: LagSnapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, snapshot);
    }

    #[test]
    fn without_a_window_the_snapshot_says_none() {
        let probe = LagProbe::off();
        let snapshot = probe.snapshot();
        assert_eq!((snapshot.window, snapshot.since_start.samples), (None, 0));
    }
}
