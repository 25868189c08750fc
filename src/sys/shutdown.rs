//! A shutdown signal shared by every server: blocking code polls it or waits on it,
//! async code awaits it, and hooks let a blocked `accept` be woken. Also the plain
//! stop flag the runner, the load generator and the supervisor poll.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

type Hook = Box<dyn Fn() + Send + Sync>;

/// A one-way switch from "running" to "shutting down", cheap to clone and share.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    triggered: AtomicBool,
    notify: tokio::sync::Notify,
    lock: Mutex<()>,
    condvar: Condvar,
    hooks: Mutex<Vec<Hook>>,
}

/// A flag that SIGINT or SIGTERM sets (Ctrl-C ends a run early instead of killing it).
pub fn flag_on_signals() -> std::io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, flag.clone())?;
    }
    Ok(flag)
}

impl Shutdown {
    /// A signal that has not been triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Switches to "shutting down": wakes every waiter and runs every hook once.
    pub fn trigger(&self) {
        if self.inner.triggered.swap(true, Ordering::SeqCst) {
            return;
        }
        self.inner.notify.notify_waiters();
        {
            let _guard = self.inner.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.inner.condvar.notify_all();
        }
        let hooks =
            std::mem::take(&mut *self.inner.hooks.lock().unwrap_or_else(|e| e.into_inner()));
        for hook in hooks {
            hook();
        }
    }

    /// Whether [`Shutdown::trigger`] has been called.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Completes once the signal is triggered (immediately if it already was).
    pub async fn wait(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }

    /// Blocks the calling thread until triggered or `timeout` passes; returns whether triggered.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let guard = self.inner.lock.lock().unwrap_or_else(|e| e.into_inner());
        let (_guard, _) = self
            .inner
            .condvar
            .wait_timeout_while(guard, timeout, |_| !self.is_triggered())
            .unwrap_or_else(|e| e.into_inner());
        self.is_triggered()
    }

    /// Runs `hook` when the signal is triggered (at once if it already was).
    pub fn on_trigger(&self, hook: impl Fn() + Send + Sync + 'static) {
        let mut hooks = self.inner.hooks.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_triggered() {
            drop(hooks);
            hook();
        } else {
            hooks.push(Box::new(hook));
        }
    }

    /// Triggers this signal on SIGINT or SIGTERM (a background thread waits for them).
    pub fn trigger_on_signals(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let shutdown = self.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if signals.forever().next().is_some() {
                    shutdown.trigger();
                }
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn trigger_wakes_blocking_waiters_and_runs_hooks_once() {
        let shutdown = Shutdown::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        shutdown.on_trigger(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        assert!(!shutdown.wait_timeout(Duration::from_millis(1)));
        let waiter = {
            let shutdown = shutdown.clone();
            std::thread::spawn(move || shutdown.wait_timeout(Duration::from_secs(30)))
        };
        shutdown.trigger();
        shutdown.trigger();
        assert!(waiter.join().unwrap());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn async_wait_completes_after_trigger() {
        let shutdown = Shutdown::new();
        let waiting = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.wait().await }
        });
        tokio::task::yield_now().await;
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("wait() finished")
            .unwrap();
        shutdown.wait().await; // already triggered: returns at once
    }
}
