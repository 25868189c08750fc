//! The deliberately broken twin: a server whose every request costs about twice the
//! CPU it would. It exists so CI can show that the gated claims catch a slower style
//! (`cpu_hog = true` in a scenario, `--cpu-hog` on `sabench serve`); no real
//! comparison uses it.
//!
//! A meter thread measures, every 100 ms, the process's own CPU time per request (the
//! time the tax itself burned taken out), and [`tax`] spins that long once more in each
//! request. A competing spinning thread would not do: the scheduler favours a waking
//! server thread, so the slowdown would depend on the load.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the cost per request is measured again.
const METER_EVERY: Duration = Duration::from_millis(100);
/// The longest tax on one request, so a stray measurement cannot stall a server.
const MAX_TAX: Duration = Duration::from_millis(5);

/// What the tax and its meter share.
#[derive(Default)]
struct Meter {
    /// Requests taxed so far.
    requests: AtomicU64,
    /// Nanoseconds the tax has spun so far.
    spun_ns: AtomicU64,
    /// The measured CPU cost of one request without the tax, ns.
    cost_ns: AtomicU64,
}

static METER: OnceLock<Arc<Meter>> = OnceLock::new();

/// The process's CPU time, ns.
fn process_cpu_ns() -> u64 {
    crate::sys::procfs::cpu_time(crate::sys::procfs::CpuOf::Process).as_nanos() as u64
}

/// Spins for the measured cost of one request (nothing when no hog was started).
pub fn tax() {
    if let Some(meter) = METER.get() {
        meter.tax();
    }
}

impl Meter {
    fn tax(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let cost = Duration::from_nanos(self.cost_ns.load(Ordering::Relaxed)).min(MAX_TAX);
        let started = Instant::now();
        while started.elapsed() < cost {
            std::hint::spin_loop();
        }
        let spun = started.elapsed().as_nanos() as u64;
        self.spun_ns.fetch_add(spun, Ordering::Relaxed);
    }
}

/// The running meter; dropping it stops measuring (the last cost stays in force).
pub struct CpuHog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CpuHog {
    /// Starts taxing every request of this process.
    pub fn start() -> std::io::Result<Self> {
        Self::metering(METER.get_or_init(Arc::default).clone())
    }

    fn metering(meter: Arc<Meter>) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cpu-hog-meter".into())
            .spawn(move || {
                let mut last = (process_cpu_ns(), 0, 0);
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(METER_EVERY);
                    let now = (
                        process_cpu_ns(),
                        meter.spun_ns.load(Ordering::Relaxed),
                        meter.requests.load(Ordering::Relaxed),
                    );
                    let requests = now.2.saturating_sub(last.2);
                    let own = now.0.saturating_sub(last.0).saturating_sub(now.1 - last.1);
                    if let Some(cost) = own.checked_div(requests) {
                        meter.cost_ns.store(cost, Ordering::Relaxed);
                    }
                    last = now;
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_costs_about_twice_its_own_cpu_once_metered() {
        // A meter of its own: the process-wide one would tax other tests' servers.
        let meter = Arc::new(Meter::default());
        let _hog = CpuHog::metering(meter.clone()).unwrap();
        let work = || {
            let mut x = 1u64;
            for _ in 0..20_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            meter.tax();
        };
        // Let the meter see requests for a few rounds.
        let until = Instant::now() + METER_EVERY * 4;
        while Instant::now() < until {
            work();
        }
        assert!(
            meter.cost_ns.load(Ordering::Relaxed) > 0,
            "it measured a cost"
        );
        assert!(
            meter.spun_ns.load(Ordering::Relaxed) > 0,
            "and taxed requests with it"
        );
    }
}
