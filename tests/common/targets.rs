//! Scripted HTTP targets for load-generator tests: a thread-per-connection server on
//! 127.0.0.1:0 whose every answer is chosen by a closure of (request number, time since
//! start). Bounded: it stops accepting when dropped.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the target does with one request.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// Wait, then answer with this status and a Content-Length body.
    Respond { status: u16, delay: Duration },
    /// Answer 200 with a chunked body.
    Chunked,
    /// Answer 200 with no length, then close (body delimited by close).
    UntilClose,
    /// Answer 200 with `Connection: close`, then close.
    RespondAndClose,
    /// Close the connection without answering.
    Drop,
    /// Wait this long, then close the connection without answering (a reset after a wait).
    DropAfter(Duration),
    /// Never answer: hold the connection until the target is dropped.
    Hang,
    /// A chunked 200 whose one-byte chunks never end.
    EndlessChunks,
    /// A head whose one header's value never ends.
    EndlessHead,
    /// A 200 with a Content-Length of 10 GB, streamed until the reader goes.
    HugeBody,
}

type Script = dyn Fn(u64, Duration) -> Action + Send + Sync;

/// A running scripted target.
pub struct Target {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pub requests: Arc<AtomicU64>,
}

impl Target {
    pub fn start(script: impl Fn(u64, Duration) -> Action + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // A deep accept queue (std listens with 128): a ramp of thousands of connections
        // a second must not lose a SYN while this thread-per-connection target, on a
        // busy machine, is slow to accept (a lost SYN waits 1 s, then 3 s, to retry).
        // SAFETY: listen() on the listener's own open descriptor only resizes its queue.
        unsafe {
            libc::listen(std::os::fd::AsRawFd::as_raw_fd(&listener), 4096);
        }
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let script: Arc<Script> = Arc::new(script);
        let started = Instant::now();
        {
            let stop = stop.clone();
            let requests = requests.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let script = script.clone();
                    let requests = requests.clone();
                    let stop = stop.clone();
                    std::thread::spawn(move || serve(stream, &*script, &requests, started, &stop));
                }
            });
        }
        Self {
            addr,
            stop,
            requests,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A target answering 200 after `delay`.
    pub fn delayed(delay: Duration) -> Self {
        Self::start(move |_, _| Action::Respond { status: 200, delay })
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(
    mut stream: TcpStream,
    script: &Script,
    requests: &AtomicU64,
    started: Instant,
    stop: &AtomicBool,
) {
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let head_len = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&buffer) {
                Ok(httparse::Status::Complete(len)) => break len,
                Ok(httparse::Status::Partial) => {}
                Err(_) => return,
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        buffer.drain(..head_len);
        let number = requests.fetch_add(1, Ordering::SeqCst);
        let action = script(number, started.elapsed());
        let written = match action {
            Action::Respond { status, delay } => {
                std::thread::sleep(delay);
                stream.write_all(
                    format!("HTTP/1.1 {status} X\r\nContent-Length: 5\r\n\r\nhello").as_bytes(),
                )
            }
            Action::Chunked => stream.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n",
            ),
            Action::UntilClose => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n\r\nhello until close");
                return;
            }
            Action::RespondAndClose => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
                return;
            }
            Action::Drop => return,
            Action::DropAfter(delay) => {
                std::thread::sleep(delay);
                return;
            }
            Action::Hang => {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                return;
            }
            Action::EndlessChunks => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                stream_until_gone(&mut stream, &b"1\r\nx\r\n".repeat(8 * 1024), stop);
                return;
            }
            Action::EndlessHead => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nX-Filler: ");
                stream_until_gone(&mut stream, &[b'a'; 64 * 1024], stop);
                return;
            }
            Action::HugeBody => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n");
                stream_until_gone(&mut stream, &[b'x'; 64 * 1024], stop);
                return;
            }
        };
        if written.is_err() {
            return;
        }
    }
}

/// Writes `block` again and again until the reader goes (a write fails) or the target
/// is dropped: bounded by the reader's own timeout.
fn stream_until_gone(stream: &mut TcpStream, block: &[u8], stop: &AtomicBool) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    while !stop.load(Ordering::SeqCst) {
        if stream.write_all(block).is_err() {
            return;
        }
    }
}
