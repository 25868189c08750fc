//! What the two timers share ([`crate::sys::alarm`], the servers' precise clock thread, and
//! the load generator's per-thread `timerfd`): the deadlines waiting, earliest first,
//! and the future that waits for one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// A deadline and the task waiting for it (ordered by time, then by arrival).
struct Entry {
    at: Instant,
    order: u64,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// The deadlines waiting, earliest first.
#[derive(Default)]
pub(crate) struct Deadlines {
    waiting: BinaryHeap<Reverse<Entry>>,
    registered: u64,
}

impl Deadlines {
    /// Adds a waiter; true when it is now the earliest.
    pub(crate) fn push(&mut self, at: Instant, waker: Waker) -> bool {
        let earliest = self.next().is_none_or(|next| at < next);
        self.registered += 1;
        let order = self.registered;
        self.waiting.push(Reverse(Entry { at, order, waker }));
        earliest
    }

    /// The earliest deadline, if any.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.waiting.peek().map(|Reverse(entry)| entry.at)
    }

    /// Takes every waiter due at `now`, earliest first (to be woken).
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Waker> {
        let mut due = Vec::new();
        while self.next().is_some_and(|at| at <= now) {
            if let Some(Reverse(entry)) = self.waiting.pop() {
                due.push(entry.waker);
            }
        }
        due
    }
}

/// Something a task can hand its deadline and waker to.
pub(crate) trait Register {
    /// Wakes `waker` at `at` or after, never before.
    fn register(&self, at: Instant, waker: Waker);
}

/// Completes at `at` or just after: registers once, then is ready when woken at its
/// time (a wake before it, from elsewhere, only polls it again).
pub(crate) struct WaitUntil<'a, R: Register + ?Sized> {
    clock: &'a R,
    at: Instant,
    registered: bool,
}

impl<'a, R: Register + ?Sized> WaitUntil<'a, R> {
    /// Waits on `clock` until `at`.
    pub(crate) fn new(clock: &'a R, at: Instant) -> Self {
        Self {
            clock,
            at,
            registered: false,
        }
    }
}

impl<R: Register + ?Sized> Future for WaitUntil<'_, R> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        if !self.registered {
            self.registered = true;
            self.clock.register(self.at, cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_due_waiters_come_out_earliest_first_and_the_rest_stay() {
        let mut deadlines = Deadlines::default();
        let now = Instant::now();
        let waker = Waker::noop().clone();
        assert!(deadlines.push(now + Duration::from_millis(3), waker.clone()));
        assert!(deadlines.push(now + Duration::from_millis(1), waker.clone()));
        assert!(!deadlines.push(now + Duration::from_millis(2), waker.clone()));
        assert_eq!(deadlines.take_due(now).len(), 0);
        assert_eq!(deadlines.take_due(now + Duration::from_millis(2)).len(), 2);
        assert_eq!(deadlines.next(), Some(now + Duration::from_millis(3)));
    }
}
