//! The slow clients of a slowloris cell: S connections that each send part of a
//! request head and then one more byte every `trickle`, never finishing it. When the
//! server cuts one off (its header-read timeout, a 408, a reset) it connects again at
//! once, as a real attacker would, so the pressure stays at S for the whole cell.
//!
//! One thread drives them all with non-blocking sockets; it stops by itself at its
//! deadline or when stopped.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the slow clients start every connection with: a head that never ends.
const PARTIAL_HEAD: &[u8] = b"GET /null HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
/// How often connections are checked for having been cut off.
const TICK: Duration = Duration::from_millis(20);
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What the slow clients saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlowTally {
    /// Times the server ended a slow client's connection (timeout, 408, reset).
    pub cut_off: u64,
    /// Connection attempts that failed (refused, timed out, answered 503 at once
    /// counts as a cut-off instead).
    pub connects_failed: u64,
}

/// Slow clients running on their own thread.
pub struct SlowClients {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<SlowTally>>,
}

impl SlowClients {
    /// Starts `clients` slow clients against `addr` (loopback only), each sending a
    /// byte every `trickle`, until [`SlowClients::stop`] or `deadline`.
    pub fn start(
        addr: SocketAddr,
        clients: u32,
        trickle: Duration,
        deadline: Instant,
    ) -> std::io::Result<Self> {
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                format!("{addr} is not loopback: slow clients only target this machine"),
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("slowloris".into())
            .spawn(move || drive(addr, clients as usize, trickle, deadline, &flag))?;
        Ok(Self {
            stop,
            handle: Some(handle),
        })
    }

    /// Closes every slow connection and returns what they saw.
    pub fn stop(mut self) -> SlowTally {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for SlowClients {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn drive(
    addr: SocketAddr,
    clients: usize,
    trickle: Duration,
    deadline: Instant,
    stop: &AtomicBool,
) -> SlowTally {
    let mut tally = SlowTally::default();
    let mut connections: Vec<Option<TcpStream>> = (0..clients).map(|_| None).collect();
    let mut next_byte = Instant::now() + trickle;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let send = Instant::now() >= next_byte;
        if send {
            next_byte += trickle;
        }
        for slot in &mut connections {
            let alive = match slot {
                Some(stream) => still_open(stream) && (!send || stream.write_all(b"x").is_ok()),
                None => false,
            };
            if !alive {
                if slot.take().is_some() {
                    tally.cut_off += 1;
                }
                *slot = open(addr);
                if slot.is_none() {
                    tally.connects_failed += 1;
                }
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
        }
        std::thread::sleep(TICK);
    }
    tally
}

/// A new slow connection with its partial head sent, or None if it could not connect.
fn open(addr: SocketAddr) -> Option<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).ok()?;
    stream.write_all(PARTIAL_HEAD).ok()?;
    stream.set_nonblocking(true).ok()?;
    Some(stream)
}

/// Whether the server has neither closed the connection nor answered on it (an
/// answer to a head that never ended is a refusal: 408, 431, 503).
fn still_open(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 512];
    match stream.read(&mut byte) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => true,
        Err(e) if e.kind() == ErrorKind::Interrupted => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_clients_reconnect_when_cut_off_and_stop_when_told() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // A server that cuts every connection off after its first bytes, 6 times.
        let server = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for stream in listener.incoming().take(6) {
                let mut stream = stream.unwrap();
                let mut head = [0u8; PARTIAL_HEAD.len()];
                stream.read_exact(&mut head).unwrap();
                heads.push(head.to_vec());
            }
            heads
        });
        let slow = SlowClients::start(
            addr,
            2,
            Duration::from_millis(50),
            Instant::now() + Duration::from_secs(30),
        )
        .unwrap();
        let heads = server.join().unwrap();
        assert!(heads.iter().all(|h| h == PARTIAL_HEAD));
        std::thread::sleep(Duration::from_millis(200));
        let tally = slow.stop();
        assert!(tally.cut_off >= 4, "{tally:?}");
    }

    #[test]
    fn only_loopback_is_targeted() {
        let far = SocketAddr::from(([192, 0, 2, 1], 80));
        let refused = SlowClients::start(far, 1, Duration::from_secs(1), Instant::now());
        assert!(refused.is_err());
    }
}
