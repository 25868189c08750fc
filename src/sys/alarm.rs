//! A precise alarm clock for async code. tokio's timer rounds every wait up to the
//! next whole millisecond: the load generator would send every scheduled request up to
//! 1 ms late, and the async styles' in-process I/O waits would last ~1.3 ms longer than
//! the blocking style's `std::thread::sleep` (an unfair handicap). Spinning instead
//! burns a whole core. This clock is one OS thread that sleeps with `std::thread`
//! precision (timer slack set to 1 ns) and wakes the task whose time has come.

use std::sync::{Arc, Condvar, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::sys::deadlines::{Deadlines, Register, WaitUntil};

/// Waits shorter than this are spun (yielding to other tasks) instead of scheduled.
const SPIN_BELOW: Duration = Duration::from_micros(30);

#[derive(Default)]
struct State {
    alarms: Deadlines,
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// The clock; stops its thread when dropped.
pub struct AlarmClock {
    shared: Arc<Shared>,
}

impl AlarmClock {
    /// Starts the clock thread, pinned to `cpus` (empty: not pinned).
    pub fn start(cpus: &[usize]) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let ringer = shared.clone();
        let cpus = cpus.to_vec();
        std::thread::Builder::new()
            .name("alarm".into())
            .spawn(move || {
                let _ = crate::sys::affinity::pin_current_thread(&cpus);
                ring(&ringer)
            })?;
        Ok(Self { shared })
    }

    /// A handle tasks use to wait.
    pub fn handle(&self) -> AlarmHandle {
        AlarmHandle {
            shared: Some(self.shared.clone()),
        }
    }
}

impl Drop for AlarmClock {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stopped = true;
        self.shared.changed.notify_all();
    }
}

fn ring(shared: &Shared) {
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if state.stopped {
            return;
        }
        let now = Instant::now();
        for waker in state.alarms.take_due(now) {
            waker.wake();
        }
        state = match state.alarms.next() {
            Some(next) => {
                let wait = next.saturating_duration_since(now);
                shared
                    .changed
                    .wait_timeout(state, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => shared
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner()),
        };
    }
}

/// The process's shared clock (started on first use, never pinned): what the async
/// styles' in-process waits use.
pub fn shared() -> AlarmHandle {
    static CLOCK: std::sync::OnceLock<Option<AlarmClock>> = std::sync::OnceLock::new();
    match CLOCK.get_or_init(|| AlarmClock::start(&[]).ok()) {
        Some(clock) => clock.handle(),
        // No thread could be started: a handle nobody rings would hang, so its waits
        // yield until their time instead.
        None => AlarmHandle { shared: None },
    }
}

/// Lets a task wait on the clock.
#[derive(Clone)]
pub struct AlarmHandle {
    /// The clock; None when there is no clock thread (every wait yields until its time).
    shared: Option<Arc<Shared>>,
}

impl AlarmHandle {
    /// Completes at `at`, to within tens of microseconds.
    pub async fn sleep_until(&self, at: Instant) {
        let now = Instant::now();
        if at <= now {
            return;
        }
        if let Some(shared) = self.shared.as_ref().filter(|_| at - now > SPIN_BELOW) {
            WaitUntil::new(shared.as_ref(), at).await;
        }
        while Instant::now() < at {
            tokio::task::yield_now().await;
        }
    }
}

impl Register for Shared {
    fn register(&self, at: Instant, waker: Waker) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let earliest = state.alarms.push(at, waker);
        drop(state);
        if earliest {
            self.changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn wakes_at_the_time_asked_not_before() {
        let clock = AlarmClock::start(&[]).unwrap();
        let handle = clock.handle();
        for micros in [50u64, 400, 2_500] {
            let at = Instant::now() + Duration::from_micros(micros);
            handle.sleep_until(at).await;
            assert!(Instant::now() >= at);
        }
    }
}
