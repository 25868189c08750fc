//! The blocking style's open connections, by socket, so that shutdown can wake the
//! threads blocked reading them: it shuts each socket's read side, and the blocked read
//! returns at once. Without it every idle thread would have to wake now and then to look
//! for shutdown, and at 10,000 held connections those wake-ups cost more CPU than the
//! requests (100 context switches a request at 1,000 req/s with a 100 ms poll).

use std::collections::HashSet;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;

/// The sockets of the connections being served.
#[derive(Default)]
pub struct Readers {
    sockets: Mutex<HashSet<RawFd>>,
}

impl Readers {
    /// Registers `stream` until the returned guard drops. Declare the guard after the
    /// stream, so that it drops (and unregisters) before the stream closes: a socket
    /// number is never shut after it was closed and perhaps reused.
    pub fn register(&self, stream: &TcpStream) -> Registered<'_> {
        let socket = stream.as_raw_fd();
        self.lock().insert(socket);
        Registered {
            readers: self,
            socket,
        }
    }

    /// Shuts the read side of every registered socket: their blocked reads return 0.
    pub fn wake_all(&self) {
        for socket in self.lock().iter() {
            // SAFETY: a registered socket is open: its guard unregisters it (under this
            // lock) before the stream that owns it closes.
            unsafe {
                libc::shutdown(*socket, libc::SHUT_RD);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<RawFd>> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A registration, removed on drop.
pub struct Registered<'a> {
    readers: &'a Readers,
    socket: RawFd,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.readers.lock().remove(&self.socket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    #[test]
    fn a_blocked_read_returns_when_woken() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut served, _) = listener.accept().unwrap();
        served
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let readers = std::sync::Arc::new(Readers::default());
        let waker = readers.clone();
        let began = Instant::now();
        let reader = std::thread::spawn(move || {
            let _registered = readers.register(&served);
            let mut byte = [0u8; 1];
            served.read(&mut byte).unwrap()
        });
        // Wake it once it is registered (bounded wait).
        while waker.lock().is_empty() && began.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(20));
        waker.wake_all();
        assert_eq!(
            reader.join().unwrap(),
            0,
            "the read ended as at end of stream"
        );
        assert!(
            waker.lock().is_empty(),
            "unregistered when its thread ended"
        );
        assert!(
            began.elapsed() < Duration::from_secs(25),
            "not by its read timeout"
        );
    }
}
