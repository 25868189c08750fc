//! A TCP stream that enforces the connection [`Limits`] hyper has no knob for: a
//! header-read timeout counted from a request's first byte, an idle keep-alive timeout
//! between requests, and a write timeout for a client that never reads. A timeout ends
//! the connection with `TimedOut`, which hyper answers by closing it.
//!
//! The stream tells request heads apart by their blank line; bytes after a head (a
//! body, pipelined requests) are not looked at until the response is written.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::Limits;

/// Where a connection is in its request/response cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the next request since this instant (idle timeout).
    Idle(Instant),
    /// A head began at this instant; `newlines` counts line ends with nothing between
    /// them (two end the head).
    Head { since: Instant, newlines: u8 },
    /// A whole head arrived; the handler runs until the response is written.
    Busy,
}

/// A deadline armed while one direction waits.
struct Deadline {
    sleep: Pin<Box<Sleep>>,
    at: Option<Instant>,
}

impl Deadline {
    fn new() -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            at: None,
        }
    }

    /// Waits for `at` (re-arming if it moved); Ready once it has passed.
    fn poll_until(&mut self, at: Instant, cx: &mut Context<'_>) -> Poll<()> {
        if self.at != Some(at) {
            self.at = Some(at);
            self.sleep.as_mut().reset(at);
        }
        self.sleep.as_mut().poll(cx)
    }

    fn disarm(&mut self) {
        self.at = None;
    }
}

/// A server-side TCP stream bounded by [`Limits`] (see the module docs).
pub struct GuardedStream {
    inner: TcpStream,
    limits: Limits,
    phase: Phase,
    read_deadline: Deadline,
    write_deadline: Deadline,
    /// The reader that waited while a handler ran, with no deadline: woken when the
    /// response goes out, so it waits again under the idle timeout.
    parked_reader: Option<Waker>,
}

impl GuardedStream {
    /// Wraps a freshly accepted connection: it starts idle.
    pub fn new(inner: TcpStream, limits: Limits) -> Self {
        Self {
            inner,
            limits,
            phase: Phase::Idle(Instant::now()),
            read_deadline: Deadline::new(),
            write_deadline: Deadline::new(),
            parked_reader: None,
        }
    }

    /// After a write: bytes going out are a response, so the next request's clock
    /// starts now (and a reader parked through the handler waits again under it);
    /// a write that cannot go on is bounded by the write timeout.
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = result {
            if n > 0 {
                self.phase = Phase::Idle(Instant::now());
                if let Some(reader) = self.parked_reader.take() {
                    reader.wake();
                }
            }
        }
        self.guard_write(cx, result)
    }

    /// Follows the bytes just read through the phases.
    fn saw(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.phase = match self.phase {
                Phase::Busy => return,
                Phase::Idle(_) => Phase::Head {
                    since: Instant::now(),
                    newlines: u8::from(byte == b'\n'),
                },
                Phase::Head { since, newlines } => match byte {
                    b'\n' if newlines >= 1 => Phase::Busy,
                    b'\n' => Phase::Head { since, newlines: 1 },
                    b'\r' => Phase::Head { since, newlines },
                    _ => Phase::Head { since, newlines: 0 },
                },
            };
        }
    }

    /// When waiting to read must give up, by phase (none while a handler runs).
    fn read_limit(&self) -> Option<Instant> {
        match self.phase {
            Phase::Idle(since) => Some(since + self.limits.idle_timeout),
            Phase::Head { since, .. } => Some(since + self.limits.header_read_timeout),
            Phase::Busy => None,
        }
    }

    /// Bounds a write that could not go on: `TimedOut` once the write timeout passed.
    fn guard_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending => {
                let at = *self
                    .write_deadline
                    .at
                    .get_or_insert_with(|| Instant::now() + self.limits.write_timeout);
                match self.write_deadline.poll_until(at, cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Err(timed_out("the client did not read its response")))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
            ready => {
                self.write_deadline.disarm();
                ready
            }
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_string())
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.read_deadline.disarm();
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                let Some(at) = this.read_limit() else {
                    this.read_deadline.disarm();
                    this.parked_reader = Some(cx.waker().clone());
                    return Poll::Pending;
                };
                match this.read_deadline.poll_until(at, cx) {
                    Poll::Ready(()) if matches!(this.phase, Phase::Idle(_)) => {
                        Poll::Ready(Err(timed_out("idle keep-alive connection")))
                    }
                    Poll::Ready(()) => {
                        Poll::Ready(Err(timed_out("the request head took too long")))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(cx, result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.guard_write(cx, result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair(limits: Limits) -> (GuardedStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (GuardedStream::new(server, limits), client)
    }

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            ..Limits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_partial_head_times_out_at_the_header_limit_not_the_idle_one() {
        let (mut server, mut client) = pair(limits()).await;
        client
            .write_all(b"GET /health HTTP/1.1\r\nHost")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.unwrap();
        assert!(n > 0);
        let started = Instant::now();
        let error = server.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(9) && waited <= Duration::from_secs(11),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_gets_the_idle_limit_and_a_busy_one_none() {
        let (mut server, mut client) = pair(limits()).await;
        let mut buf = [0u8; 64];
        // A whole head: busy, so no read deadline while the handler works.
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(server.phase, Phase::Busy, "read {n} bytes");
        let waiting = tokio::time::timeout(Duration::from_secs(300), server.read(&mut buf)).await;
        assert!(
            waiting.is_err(),
            "a busy connection must not time out on read"
        );
        // The response goes out: idle from now, closed after the idle timeout.
        server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        let started = Instant::now();
        let error = server.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(
            started.elapsed() >= Duration::from_secs(59),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_waiting_through_a_handler_gets_the_idle_limit_once_it_answers() {
        let (mut server, mut client) = pair(limits()).await;
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(server.phase, Phase::Busy, "read {n} bytes");
        // As hyper does: a read waits while the handler runs, the answer goes out
        // from elsewhere, and the reader is not polled again unless woken.
        let (mut reader, mut writer) = tokio::io::split(server);
        let waiting = tokio::spawn(async move {
            let started = Instant::now();
            let result = reader.read(&mut [0u8; 64]).await;
            (result.map_err(|e| e.kind()), started.elapsed())
        });
        tokio::time::sleep(Duration::from_secs(120)).await;
        writer.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        let (result, waited) = tokio::time::timeout(Duration::from_secs(600), waiting)
            .await
            .expect("the parked reader was never woken")
            .unwrap();
        assert_eq!(result, Err(io::ErrorKind::TimedOut));
        assert!(waited >= Duration::from_secs(179), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_reads_is_cut_off_after_the_write_timeout() {
        let (mut server, _client) = pair(limits()).await;
        let chunk = vec![b'x'; 1 << 20];
        let error = loop {
            if let Err(error) = server.write_all(&chunk).await {
                break error;
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn heads_end_at_a_blank_line_with_or_without_carriage_returns() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for raw in [
                &b"GET / HTTP/1.1\r\nA: b\r\n\r\n"[..],
                b"GET / HTTP/1.1\nA: b\n\n",
            ] {
                let (mut server, _client) = pair(limits()).await;
                server.saw(raw);
                assert_eq!(
                    server.phase,
                    Phase::Busy,
                    "{:?}",
                    String::from_utf8_lossy(raw)
                );
            }
            let (mut server, _client) = pair(limits()).await;
            server.saw(b"GET / HTTP/1.1\r\nA: b\r\n");
            assert!(matches!(server.phase, Phase::Head { .. }));
        });
    }
}
