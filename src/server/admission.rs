//! Request admission for the async styles' C10 variants: at most N requests are served
//! at once; the rest wait, either without bound (`limited`, the queue that grows under
//! overload) or up to N of them (`bounded-queue`), beyond which a request is refused at
//! once (503) instead of waiting. This bounds requests, not connections: keep-alive
//! connections stay open and each request is admitted or refused on its own.
//!
//! The gate times every admitted request's wait for a place (0 for one admitted at
//! once): the server's own queue, apart from any backlog in front of it in the client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use super::windowed::{WaitFigures, WindowedWaits};

/// The admission gate.
#[derive(Debug)]
pub struct Admission {
    in_service: Semaphore,
    waiting: AtomicUsize,
    /// Most requests that may wait (None: no bound).
    max_waiting: Option<usize>,
    /// How long admitted requests waited for their place.
    waits: Mutex<WindowedWaits>,
}

/// A request was refused: the waiting room is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomFull;

/// Counts one waiting request for as long as it waits (also when its connection drops
/// and the wait is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    /// `in_service` at once; `max_waiting` more may wait (None: any number).
    pub fn new(in_service: usize, max_waiting: Option<usize>) -> Self {
        Self {
            in_service: Semaphore::new(in_service),
            waiting: AtomicUsize::new(0),
            max_waiting,
            waits: Mutex::default(),
        }
    }

    /// Waits for a place in service; with a bounded waiting room, refuses at once
    /// when it is full. The permit is the place: drop it when the request is done.
    pub async fn enter(&self) -> Result<SemaphorePermit<'_>, RoomFull> {
        let arrived = Instant::now();
        if let Ok(permit) = self.in_service.try_acquire() {
            self.lock().record(arrived, arrived);
            return Ok(permit);
        }
        let before = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if self.max_waiting.is_some_and(|max| before >= max) {
            return Err(RoomFull);
        }
        let permit = self.in_service.acquire().await.map_err(|_| RoomFull)?;
        self.lock().record(arrived, Instant::now());
        Ok(permit)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WindowedWaits> {
        self.waits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Names the measured window: it begins `begins_in` from now and lasts `lasts`.
    pub fn set_window(&self, begins_in: std::time::Duration, lasts: std::time::Duration) {
        let begins = Instant::now() + begins_in;
        self.lock().set_window(begins, begins + lasts);
    }

    /// How long admitted requests waited for a place in the named window (None: no
    /// window named).
    pub fn waits_in_window(&self) -> Option<WaitFigures> {
        self.lock().in_window()
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_bounded_room_refuses_once_full_and_an_unbounded_one_never_does() {
        let gate = Arc::new(Admission::new(1, Some(1)));
        let first = gate.enter().await.unwrap();
        // The second waits (the room holds one) …
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.map(drop) }
        });
        while gate.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        // … so the third is refused at once.
        assert_eq!(gate.enter().await.map(drop), Err(RoomFull));
        drop(first);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!(gate.waiting(), 0);

        let unbounded = Arc::new(Admission::new(1, None));
        let held = unbounded.enter().await.unwrap();
        let waiters: Vec<_> = (0..50)
            .map(|_| {
                let gate = unbounded.clone();
                tokio::spawn(async move { gate.enter().await.map(drop) })
            })
            .collect();
        drop(held);
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), Ok(()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn admitted_waits_are_timed_in_the_window() {
        let gate = Arc::new(Admission::new(1, None));
        gate.set_window(
            std::time::Duration::ZERO,
            std::time::Duration::from_secs(10),
        );
        let held = gate.enter().await.unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.map(drop) }
        });
        while gate.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::advance(std::time::Duration::from_millis(40)).await;
        drop(held);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        let waits = gate.waits_in_window().unwrap();
        assert_eq!(waits.samples, 2, "the one admitted at once waited 0");
        assert!((39.0..=41.0).contains(&waits.max_ms), "{waits:?}");
        assert!(waits.p50_ms < 1.0, "{waits:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_leaves_the_room() {
        let gate = Admission::new(1, Some(1));
        let _held = gate.enter().await.unwrap();
        let wait = tokio::time::timeout(std::time::Duration::from_millis(10), gate.enter()).await;
        assert!(wait.is_err(), "it waited, then was cancelled");
        assert_eq!(gate.waiting(), 0);
        let again = tokio::time::timeout(std::time::Duration::from_millis(10), gate.enter()).await;
        assert!(
            again.is_err(),
            "the freed place in the room is taken again, so it waits"
        );
    }
}
