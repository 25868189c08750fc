//! Request admission for the async styles' C10 variants: at most N requests are served
//! at once; the rest wait, either without bound (`limited`, the queue that grows under
//! overload) or up to N of them (`bounded-queue`), beyond which a request is refused at
//! once (503) instead of waiting. This bounds requests, not connections: keep-alive
//! connections stay open and each request is admitted or refused on its own.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

/// The admission gate.
#[derive(Debug)]
pub struct Admission {
    in_service: Semaphore,
    waiting: AtomicUsize,
    /// Most requests that may wait (None: no bound).
    max_waiting: Option<usize>,
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
        }
    }

    /// Waits for a place in service; with a bounded waiting room, refuses at once
    /// when it is full. The permit is the place: drop it when the request is done.
    pub async fn enter(&self) -> Result<SemaphorePermit<'_>, RoomFull> {
        if let Ok(permit) = self.in_service.try_acquire() {
            return Ok(permit);
        }
        let before = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if self.max_waiting.is_some_and(|max| before >= max) {
            return Err(RoomFull);
        }
        self.in_service.acquire().await.map_err(|_| RoomFull)
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
