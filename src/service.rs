//! A server running in-process on a background thread: its address and how to stop it.
//! Used by `verify`, by tests, and by anything that needs a server without a child process.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use crate::sys::shutdown::Shutdown;

/// A server (or mock upstream) running on its own thread until stopped.
pub struct Running {
    addr: SocketAddr,
    shutdown: Shutdown,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Starts `serve` on a new thread named `name`; it must return once `shutdown` triggers.
    pub fn spawn(
        name: &str,
        addr: SocketAddr,
        shutdown: Shutdown,
        serve: impl FnOnce() -> std::io::Result<()> + Send + 'static,
    ) -> std::io::Result<Self> {
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(serve)?;
        Ok(Self {
            addr,
            shutdown,
            thread: Some(thread),
        })
    }

    /// Binds 127.0.0.1 on an OS-chosen port and starts `serve(listener, shutdown)` there.
    pub fn spawn_ephemeral(
        name: &str,
        serve: impl FnOnce(std::net::TcpListener, Shutdown) -> std::io::Result<()> + Send + 'static,
    ) -> std::io::Result<Self> {
        let listener = crate::net::bind_ephemeral().map_err(std::io::Error::other)?;
        let addr = listener.local_addr()?;
        let shutdown = Shutdown::new();
        let signal = shutdown.clone();
        Self::spawn(name, addr, shutdown, move || serve(listener, signal))
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` for building URLs.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's shutdown signal (trigger it to begin a graceful stop).
    pub fn shutdown_signal(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Triggers a graceful shutdown and waits for the server thread to finish.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> std::io::Result<()> {
        self.shutdown.trigger();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
