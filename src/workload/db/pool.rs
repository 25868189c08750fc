//! The blocking client's pool bookkeeping: at most `max` items open, callers served
//! first come, first served, as deadpool's semaphore serves the async styles.
//!
//! A plain mutex and condition variable wakes an arbitrary waiter and lets newcomers
//! barge in: on `/db-slow` with a pool of 4 that measured twice deadpool's p95 at the
//! same throughput, a pool artefact and not a difference of style. Waking every waiter
//! and letting the oldest take the item is fair but wakes 48 threads per query (it cost
//! two thirds of `/db`'s throughput). So each waiter has its own condition variable and
//! a freed item is handed straight to the oldest one: one wake-up per hand-off.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// What a caller is given.
#[derive(Debug, PartialEq, Eq)]
pub enum Grant<T> {
    /// An idle item to reuse.
    Idle(T),
    /// A place: the caller opens a new item, and calls [`FairPool::close_one`] when it
    /// is gone (or could not be opened).
    Room,
}

/// A bounded, first-come-first-served pool of `T`.
pub struct FairPool<T> {
    state: Mutex<State<T>>,
    max: usize,
}

struct State<T> {
    idle: Vec<T>,
    /// Items open now (idle, lent out, or being opened).
    open: usize,
    /// Callers waiting, oldest first.
    waiters: VecDeque<Arc<Waiter<T>>>,
}

struct Waiter<T> {
    grant: Mutex<Option<Grant<T>>>,
    ready: Condvar,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> FairPool<T> {
    /// A pool of at most `max` items (at least one).
    pub fn new(max: usize) -> Self {
        Self {
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
                waiters: VecDeque::new(),
            }),
            max: max.max(1),
        }
    }

    /// An idle item or a place for a new one, waiting behind earlier callers until
    /// `deadline`; None when it passed first.
    pub fn take(&self, deadline: Instant) -> Option<Grant<T>> {
        let mut state = lock(&self.state);
        if state.waiters.is_empty() {
            if let Some(item) = state.idle.pop() {
                return Some(Grant::Idle(item));
            }
            if state.open < self.max {
                state.open += 1;
                return Some(Grant::Room);
            }
        }
        let waiter = Arc::new(Waiter {
            grant: Mutex::new(None),
            ready: Condvar::new(),
        });
        state.waiters.push_back(waiter.clone());
        drop(state);
        let mut grant = lock(&waiter.grant);
        loop {
            if let Some(given) = grant.take() {
                return Some(given);
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            grant = waiter
                .ready
                .wait_timeout(grant, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(grant);
        // Out of time: leave the queue, unless a grant arrived meanwhile (givers hold
        // the state lock while they hand over, so this sees it or prevents it).
        let mut state = lock(&self.state);
        if let Some(given) = lock(&waiter.grant).take() {
            return Some(given);
        }
        state.waiters.retain(|w| !Arc::ptr_eq(w, &waiter));
        None
    }

    /// An item is free again: to the oldest waiter, or idle.
    pub fn give_back(&self, item: T) {
        let mut state = lock(&self.state);
        match state.waiters.pop_front() {
            Some(waiter) => hand(&waiter, Grant::Idle(item)),
            None => state.idle.push(item),
        }
    }

    /// An item is gone (closed, broken, or never opened): its place goes to the
    /// oldest waiter, or is freed.
    pub fn close_one(&self) {
        let mut state = lock(&self.state);
        match state.waiters.pop_front() {
            Some(waiter) => hand(&waiter, Grant::Room),
            None => state.open = state.open.saturating_sub(1),
        }
    }
}

fn hand<T>(waiter: &Waiter<T>, grant: Grant<T>) {
    *lock(&waiter.grant) = Some(grant);
    waiter.ready.notify_one();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn gives_room_up_to_max_then_reuses_what_comes_back() {
        let pool = FairPool::new(2);
        assert_eq!(pool.take(soon(10)), Some(Grant::Room));
        assert_eq!(pool.take(soon(10)), Some(Grant::Room));
        assert_eq!(pool.take(soon(10)), None, "full: times out");
        pool.give_back(7);
        assert_eq!(pool.take(soon(10)), Some(Grant::Idle(7)));
        pool.close_one();
        assert_eq!(
            pool.take(soon(10)),
            Some(Grant::Room),
            "a closed item frees its place"
        );
    }

    #[test]
    fn waiters_are_served_in_the_order_they_came() {
        let pool = Arc::new(FairPool::new(1));
        assert_eq!(pool.take(soon(10)), Some(Grant::Room));
        let (tx, rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        for who in 0..4 {
            let (shared, tx) = (pool.clone(), tx.clone());
            threads.push(std::thread::spawn(move || {
                if let Some(Grant::Idle(item)) = shared.take(soon(10_000)) {
                    tx.send(who).unwrap();
                    shared.give_back(item);
                }
            }));
            // Each is queued before the next starts.
            while lock(&pool.state).waiters.len() < who + 1 {
                std::thread::yield_now();
            }
        }
        pool.give_back(0);
        for thread in threads {
            thread.join().unwrap();
        }
        let order: Vec<usize> = rx.try_iter().collect();
        assert_eq!(order, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_waiter_that_timed_out_leaves_the_queue() {
        let pool = FairPool::<u8>::new(1);
        assert_eq!(pool.take(soon(10)), Some(Grant::Room));
        assert_eq!(pool.take(soon(5)), None);
        assert!(lock(&pool.state).waiters.is_empty());
        pool.give_back(1);
        assert_eq!(lock(&pool.state).idle, vec![1], "nobody left to hand it to");
    }
}
