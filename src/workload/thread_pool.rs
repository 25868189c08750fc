//! A bounded pool of OS threads for the blocking style's fan-out: threads are started
//! on demand up to a maximum and then reused, so a fan-out request does not pay for
//! starting F threads (what a real blocking service does with an executor), and a
//! burst cannot start more threads than the bound; past it, calls wait their turn.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
    stopped: bool,
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    max: usize,
    name: String,
}

/// The pool; its threads end when it is dropped (after the jobs already queued).
pub struct ThreadPool {
    shared: Arc<Shared>,
}

impl ThreadPool {
    /// A pool of at most `max` threads (at least 1) named `name-N`, none started yet.
    pub fn new(max: usize, name: &str) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                ready: Condvar::new(),
                max: max.max(1),
                name: name.to_string(),
            }),
        }
    }

    /// Runs `job` on a pool thread: an idle one, a new one while under the bound, or
    /// the next to finish. A job that panics ends only itself.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        let mut state = self.lock();
        state.jobs.push_back(Box::new(job));
        let start_one = state.jobs.len() > state.idle && state.threads < self.shared.max;
        if start_one {
            let shared = self.shared.clone();
            let name = format!("{}-{}", self.shared.name, state.threads);
            if std::thread::Builder::new()
                .name(name)
                .spawn(move || work(&shared))
                .is_ok()
            {
                state.threads += 1;
            }
        }
        drop(state);
        self.shared.ready.notify_one();
    }

    /// Threads started so far.
    pub fn threads(&self) -> usize {
        self.lock().threads
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.lock().stopped = true;
        self.shared.ready.notify_all();
    }
}

fn work(shared: &Shared) {
    loop {
        let job = {
            let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(job) = state.jobs.pop_front() {
                    break job;
                }
                if state.stopped {
                    state.threads -= 1;
                    return;
                }
                state.idle += 1;
                state = shared.ready.wait(state).unwrap_or_else(|e| e.into_inner());
                state.idle -= 1;
            }
        };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn threads_are_bounded_and_reused() {
        let pool = ThreadPool::new(3, "test");
        let (done, finished) = mpsc::channel();
        for i in 0..12 {
            let done = done.clone();
            pool.execute(move || {
                std::thread::sleep(Duration::from_millis(5));
                let _ = done.send(i);
            });
        }
        let mut got: Vec<i32> = (0..12).map(|_| finished.recv().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, (0..12).collect::<Vec<_>>());
        assert!(pool.threads() <= 3, "{} threads", pool.threads());
        // The next batch reuses them.
        let done2 = done.clone();
        pool.execute(move || {
            let _ = done2.send(99);
        });
        assert_eq!(finished.recv().unwrap(), 99);
        assert!(pool.threads() <= 3);
    }

    #[test]
    fn a_panicking_job_ends_only_itself() {
        let pool = ThreadPool::new(1, "test");
        pool.execute(|| panic!("a job panics"));
        let (done, finished) = mpsc::channel();
        pool.execute(move || {
            let _ = done.send(());
        });
        assert!(finished.recv_timeout(Duration::from_secs(10)).is_ok());
    }
}
