//! A precise timer for one generator thread, with no thread of its own: a Linux
//! `timerfd` armed to the earliest pending deadline and read through the thread's own
//! reactor, so a connection waiting for its send time is woken by the thread that
//! sends, at most [`SLOT`] after it (tokio's own timer: up to a millisecond).
//!
//! Arming a timer is dear on this VM (each `timerfd_settime` traps to the hypervisor,
//! about 8 µs): armed for every send time, at 36,000 req/s it took 31 % of the core. So
//! deadlines are gathered in slots of [`SLOT`]: one arming wakes every connection
//! whose time falls in the slot, none before its time.
//!
//! Why not the shared alarm clock ([`crate::sys::alarm`]): that is a second thread, pinned
//! to the generator's core. Every send time then costs two context switches and a
//! cross-thread wake; at 31,700 req/s on 1,024 connections it took 20 % of the core
//! beside the worker's 42 %, the two threads took turns, and the open loop sent up to
//! 5 ms late (p99) with the worker itself less than half busy (issue 24). tokio's own
//! timer cannot stand in: it rounds every wait up to the next whole millisecond.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::task::Waker;
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

use crate::sys::deadlines::{Deadlines, Register, WaitUntil};

/// Deadlines within one slot of this length share one arming of the timer: the most a
/// send is late because of the timer.
pub(crate) const SLOT: Duration = Duration::from_micros(100);

#[derive(Default)]
struct State {
    waiting: Deadlines,
    /// The deadline the timerfd is armed for, if any (the end of a slot).
    armed: Option<Instant>,
    /// Where the slots are counted from.
    origin: Option<Instant>,
}

/// The timer of one thread (single-threaded: share it with `Rc`). [`PreciseTimer::run`]
/// must be polled on the same thread for any wait to end.
pub(crate) struct PreciseTimer {
    fd: AsyncFd<OwnedFd>,
    state: RefCell<State>,
}

impl PreciseTimer {
    /// A new timer; call it inside the runtime that will poll it (its fd is registered
    /// with that runtime's reactor).
    pub(crate) fn new() -> std::io::Result<Self> {
        // SAFETY: timerfd_create has no memory-safety preconditions; the result is
        // checked before it is owned.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the AsyncFd owns `fd`, so it stays open while registered.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }?;
        Ok(Self {
            fd,
            state: RefCell::new(State::default()),
        })
    }

    /// Completes at `at` or just after, never before.
    pub(crate) fn sleep_until(&self, at: Instant) -> WaitUntil<'_, Self> {
        WaitUntil::new(self, at)
    }

    /// Wakes every waiter whose time has come, each time the timerfd fires; runs until
    /// dropped (spawn it beside the tasks that wait).
    pub(crate) async fn run(&self) {
        loop {
            let Ok(mut ready) = self.fd.readable().await else {
                return;
            };
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into an 8-byte buffer; a non-blocking read
            // that finds nothing returns EAGAIN, which only clears the readiness.
            let read = unsafe {
                libc::read(
                    self.fd.get_ref().as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
            if read < 0 {
                ready.clear_ready();
            }
            self.fire();
        }
    }

    /// Wakes the waiters that are due and arms the timerfd for the next one.
    fn fire(&self) {
        let now = Instant::now();
        let (due, next) = {
            let mut state = self.state.borrow_mut();
            state.armed = None;
            (state.waiting.take_due(now), state.waiting.next())
        };
        if let Some(next) = next {
            self.arm_for(next);
        }
        for waker in due {
            waker.wake();
        }
    }

    /// Arms the timerfd for the slot that holds `at`.
    fn arm_for(&self, at: Instant) {
        let slot = self.state.borrow_mut().slot_end(at);
        if self.state.borrow().armed != Some(slot) {
            self.arm(slot);
        }
    }

    /// Arms the timerfd to fire at `at` (relative to now, which is read before the
    /// call, so it never fires early).
    fn arm(&self, at: Instant) {
        let wait = at
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1)); // 0 would disarm it
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: wait.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec; the old value is not asked for.
        let armed = unsafe {
            libc::timerfd_settime(
                self.fd.get_ref().as_raw_fd(),
                0,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if armed == 0 {
            self.state.borrow_mut().armed = Some(at);
        }
    }
}

impl Register for PreciseTimer {
    fn register(&self, at: Instant, waker: Waker) {
        let earlier = {
            let mut state = self.state.borrow_mut();
            state.waiting.push(at, waker);
            let slot = state.slot_end(at);
            state.armed.is_none_or(|armed| slot < armed).then_some(slot)
        };
        if let Some(slot) = earlier {
            self.arm(slot);
        }
    }
}

impl State {
    /// The end of the slot that holds `at`: the first slot boundary at or after it.
    fn slot_end(&mut self, at: Instant) -> Instant {
        let origin = *self.origin.get_or_insert(at);
        let offset = at.saturating_duration_since(origin).as_nanos();
        let slot = SLOT.as_nanos();
        let slots = offset.div_ceil(slot);
        origin + Duration::from_nanos((slots * slot) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn wakes_every_waiter_at_its_time_not_before_and_in_order() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let timer = Rc::new(PreciseTimer::new().unwrap());
            let local = tokio::task::LocalSet::new();
            let driver = timer.clone();
            local.spawn_local(async move { driver.run().await });
            local
                .run_until(async {
                    let start = Instant::now();
                    // Registered out of order, the latest first: the timerfd is re-armed
                    // for each earlier one.
                    let waits: Vec<_> = [2_500u64, 50, 400, 1_200]
                        .into_iter()
                        .map(|micros| {
                            let timer = timer.clone();
                            let at = start + Duration::from_micros(micros);
                            tokio::task::spawn_local(async move {
                                timer.sleep_until(at).await;
                                let woke = Instant::now();
                                assert!(woke >= at, "woke before its time");
                                (micros, woke)
                            })
                        })
                        .collect();
                    let mut woke = Vec::new();
                    for wait in waits {
                        woke.push(wait.await.unwrap());
                    }
                    woke.sort_by_key(|(_, at)| *at);
                    let order: Vec<u64> = woke.iter().map(|(micros, _)| *micros).collect();
                    assert_eq!(order, [50, 400, 1_200, 2_500]);
                })
                .await;
        });
    }

    #[test]
    fn deadlines_share_the_arming_of_the_slot_that_holds_them() {
        let mut state = State::default();
        let origin = Instant::now();
        assert_eq!(
            state.slot_end(origin),
            origin,
            "the first deadline sets the origin"
        );
        let in_first = state.slot_end(origin + Duration::from_micros(30));
        assert_eq!(in_first, origin + SLOT);
        assert_eq!(
            state.slot_end(origin + SLOT),
            origin + SLOT,
            "a boundary is its own slot's end"
        );
        assert_eq!(
            state.slot_end(origin + SLOT + Duration::from_nanos(1)),
            origin + 2 * SLOT
        );
        // Before the origin: the origin's slot (never earlier than the deadline's own).
        assert_eq!(state.slot_end(origin - Duration::from_micros(5)), origin);
    }

    #[test]
    fn a_time_already_past_completes_at_once() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let timer = PreciseTimer::new().unwrap();
            // No driver runs: a past deadline must not need one.
            timer.sleep_until(Instant::now()).await;
        });
    }
}
