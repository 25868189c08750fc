//! The runtime-lag probe of the async styles (claim C4): a task that sleeps 1 ms in a
//! loop and records how late it wakes. A handler that blocks a worker shows up here
//! as lag. `GET /lag` returns the figures since start as JSON.
//!
//! What the figures mean: lag = (time the probe woke) − (time it asked to wake). tokio's
//! timer has 1 ms resolution and rounds up, so an idle runtime already shows up to about
//! 1 ms; tens or hundreds of milliseconds mean something held a worker thread.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// The probe interval.
pub const PERIOD: Duration = Duration::from_millis(1);

/// Lag figures since the probe started.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LagSnapshot {
    /// Median lag, ms.
    pub p50_ms: f64,
    /// 99th percentile lag, ms.
    pub p99_ms: f64,
    /// Largest lag, ms.
    pub max_ms: f64,
    /// Wake-ups measured.
    pub samples: u64,
}

/// A running probe.
pub struct LagProbe {
    histogram: Mutex<Histogram<u64>>,
}

impl LagProbe {
    /// A probe that never runs (`--no-lag-probe`, to measure what the probe costs):
    /// its snapshot has no samples.
    pub fn off() -> Arc<Self> {
        Arc::new(Self {
            histogram: Mutex::new(crate::histogram::new_histogram()),
        })
    }

    /// Starts the probe task on the current tokio runtime.
    pub fn start() -> Arc<Self> {
        let probe = Arc::new(Self {
            histogram: Mutex::new(crate::histogram::new_histogram()),
        });
        let recorder = probe.clone();
        tokio::spawn(async move {
            loop {
                let asked = Instant::now() + PERIOD;
                tokio::time::sleep(PERIOD).await;
                let lag = Instant::now().saturating_duration_since(asked);
                let mut histogram = recorder.histogram.lock().unwrap_or_else(|e| e.into_inner());
                crate::histogram::record_duration(&mut histogram, lag);
            }
        });
        probe
    }

    /// The figures so far.
    pub fn snapshot(&self) -> LagSnapshot {
        let histogram = self.histogram.lock().unwrap_or_else(|e| e.into_inner());
        let ms = |v: u64| v as f64 / 1000.0;
        LagSnapshot {
            p50_ms: ms(histogram.value_at_quantile(0.5)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
            samples: histogram.len(),
        }
    }
}
