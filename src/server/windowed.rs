//! Waits recorded since a server started and, once the runner has named its measured
//! window, those that overlap the window: a wait that began before the window and ended
//! in it, or began in it, counts. The runtime-lag probe (`lag.rs`) and the C10 admission
//! gate (`admission.rs`) keep their figures this way, so a stall or a queue in the
//! warm-up or after the window is not the cell's.

use hdrhistogram::Histogram;
use tokio::time::Instant;

/// Figures of some span of waits.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WaitFigures {
    /// Median wait, ms.
    pub p50_ms: f64,
    /// 99th percentile wait, ms.
    pub p99_ms: f64,
    /// Longest wait, ms.
    pub max_ms: f64,
    /// Waits measured.
    pub samples: u64,
}

impl WaitFigures {
    fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |v: u64| v as f64 / 1000.0;
        Self {
            p50_ms: ms(histogram.value_at_quantile(0.5)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
            samples: histogram.len(),
        }
    }
}

/// The waits since start and in the named window.
#[derive(Debug)]
pub struct WindowedWaits {
    since_start: Histogram<u64>,
    window: Option<Window>,
}

/// The named window and the waits that overlapped it.
#[derive(Debug)]
struct Window {
    begins: Instant,
    ends: Instant,
    histogram: Histogram<u64>,
}

impl Default for WindowedWaits {
    fn default() -> Self {
        Self {
            since_start: crate::histogram::new_histogram(),
            window: None,
        }
    }
}

impl WindowedWaits {
    /// Records a wait that began at `began` and ended at `ended`.
    pub fn record(&mut self, began: Instant, ended: Instant) {
        let wait = ended.saturating_duration_since(began);
        crate::histogram::record_duration(&mut self.since_start, wait);
        if let Some(window) = self
            .window
            .as_mut()
            .filter(|w| ended >= w.begins && began < w.ends)
        {
            crate::histogram::record_duration(&mut window.histogram, wait);
        }
    }

    /// Names the measured window, from `begins` to `ends`; a new window replaces the
    /// last one and starts empty.
    pub fn set_window(&mut self, begins: Instant, ends: Instant) {
        self.window = Some(Window {
            begins,
            ends,
            histogram: crate::histogram::new_histogram(),
        });
    }

    /// The figures since start.
    pub fn since_start(&self) -> WaitFigures {
        WaitFigures::of(&self.since_start)
    }

    /// The figures in the named window (None: no window was named).
    pub fn in_window(&self) -> Option<WaitFigures> {
        self.window.as_ref().map(|w| WaitFigures::of(&w.histogram))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_wait_counts_in_the_window_if_it_overlaps_it() {
        let mut waits = WindowedWaits::default();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        assert_eq!(waits.in_window(), None);
        waits.set_window(ms(100), ms(200));
        waits.record(ms(0), ms(50)); // before
        waits.record(ms(80), ms(120)); // began before, ended in it
        waits.record(ms(150), ms(400)); // began in it, ended after
        waits.record(ms(200), ms(210)); // after
        let window = waits.in_window().unwrap();
        assert_eq!(window.samples, 2);
        assert!((249.0..=251.0).contains(&window.max_ms), "{window:?}");
        assert_eq!(waits.since_start().samples, 4);
    }
}
