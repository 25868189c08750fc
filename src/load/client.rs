//! A lean HTTP/1.1 client connection for the load generator: one pre-built request
//! written per exchange, the response head parsed with `httparse`, the body skipped
//! by its framing (Content-Length, chunked, or read to close). No per-request
//! allocation once the buffer has grown. Over HTTPS the same connection drives a
//! rustls session on its socket (see [`super::tls`]).

use std::net::SocketAddr;

use std::io::{Read, Write};

use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;

pub use super::framing::{chunked_length, response_length, ResponseHead};
use super::framing::{parse_head, Advance, ChunkedDecoder, Framing};

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The server closed the connection before a whole response arrived.
    #[error("connection closed before a complete response")]
    Closed,
    /// A socket error (reset, broken pipe, …).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes were not an HTTP/1.x response we can frame.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The response's head or body passed the generator's [`ReadLimits`]; the
    /// connection is dropped.
    #[error("response too large: {0}")]
    TooLarge(String),
}

/// How much of one response the generator will read: the head is kept whole to parse
/// it, so it is capped; a body is read and dropped as it streams, so its cap bounds
/// time, not memory. Beyond either, the request fails as `too_large`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadLimits {
    /// Largest response head (status line, headers, and a chunked body's trailers and
    /// size lines), bytes.
    pub max_head_bytes: usize,
    /// Largest response body, bytes.
    pub max_body_bytes: u64,
}

/// Default head cap: 64 KiB.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;
/// Default body cap: 1 GiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1 << 30;

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// A TLS handshake that failed, carried inside the `io::Error` a connect returns so the
/// engine counts it as a TLS error, not as a socket one.
#[derive(Debug, thiserror::Error)]
#[error("TLS handshake failed: {0}")]
pub struct HandshakeFailed(#[source] pub(crate) std::io::Error);

/// Whether `error` is a TLS failure: a failed handshake, or a TLS error (a bad record,
/// an alert) on an open connection.
pub fn is_tls_failure(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<HandshakeFailed>() || inner.is::<rustls::Error>())
}

impl From<super::framing::Malformed> for ExchangeError {
    fn from(malformed: super::framing::Malformed) -> Self {
        ExchangeError::Malformed(malformed.0)
    }
}

impl ExchangeError {
    /// True for a TLS failure on the open connection.
    pub fn is_tls(&self) -> bool {
        matches!(self, ExchangeError::Io(e) if is_tls_failure(e))
    }

    /// True for a reset or close by the peer (as opposed to garbage).
    pub fn is_reset(&self) -> bool {
        match self {
            ExchangeError::Closed => true,
            ExchangeError::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ),
            ExchangeError::Malformed(_) | ExchangeError::TooLarge(_) => false,
        }
    }
}

/// The socket under a connection: TCP, or a Unix-domain stream (`--unix-socket`).
pub enum Socket {
    /// A TCP connection.
    Tcp(std::net::TcpStream),
    /// A Unix-domain stream connection.
    Unix(std::os::unix::net::UnixStream),
}

impl Socket {
    /// Reads into `buf` without taking the bytes (`MSG_PEEK`, never blocking).
    fn peek(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(stream) => stream.peek(buf),
            Socket::Unix(stream) => {
                use std::os::fd::AsRawFd as _;
                // SAFETY: `buf` is valid for `buf.len()` bytes, and the descriptor is
                // the stream's own, open while it is borrowed.
                let read = unsafe {
                    libc::recv(
                        stream.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_PEEK | libc::MSG_DONTWAIT,
                    )
                };
                usize::try_from(read).map_err(|_| std::io::Error::last_os_error())
            }
        }
    }
}

impl std::os::fd::AsRawFd for Socket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Socket::Tcp(stream) => stream.as_raw_fd(),
            Socket::Unix(stream) => stream.as_raw_fd(),
        }
    }
}

impl Read for &Socket {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match *self {
            Socket::Tcp(stream) => (&*stream).read(buf),
            Socket::Unix(stream) => (&*stream).read(buf),
        }
    }
}

impl std::io::Write for &Socket {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match *self {
            Socket::Tcp(stream) => (&*stream).write(buf),
            Socket::Unix(stream) => (&*stream).write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        match *self {
            Socket::Tcp(stream) => (&*stream).write_vectored(bufs),
            Socket::Unix(stream) => (&*stream).write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One keep-alive connection.
///
/// It drives the socket through [`AsyncFd`] so that, after a short read has drained
/// the socket, it can drop tokio's cached readiness itself: the next read then waits
/// for epoll instead of issuing a read that would only say "would block" — one system
/// call saved per request.
pub struct Connection {
    socket: AsyncFd<Socket>,
    /// The TLS session over the socket (None: plain HTTP).
    tls: Option<Box<rustls::ClientConnection>>,
    buffer: Vec<u8>,
    filled: usize,
    bytes_read: u64,
    limits: ReadLimits,
}

/// Initial (and usual) size of the read buffer; a longer head or chunked body grows it.
pub(crate) const BUFFER: usize = 16 * 1024;

impl Connection {
    /// Opens a TCP connection (Nagle off).
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        Self::connect_with(addr, None, BUFFER, None).await
    }

    /// Opens a TCP connection, with a TLS session over it when `tls` is given.
    pub async fn connect_over(
        addr: SocketAddr,
        tls: Option<&super::tls::TlsClient>,
    ) -> std::io::Result<Self> {
        Self::connect_with(addr, None, BUFFER, tls).await
    }

    /// Opens a TCP connection from `source` (None: the kernel chooses) with a read
    /// buffer of `buffer` bytes to start with.
    pub async fn connect_with(
        addr: SocketAddr,
        source: Option<std::net::IpAddr>,
        buffer: usize,
        tls: Option<&super::tls::TlsClient>,
    ) -> std::io::Result<Self> {
        let stream = match source {
            None => TcpStream::connect(addr).await?,
            Some(source) => {
                let socket = match addr {
                    SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
                    SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
                };
                bind_address_only(&socket)?;
                socket.bind(SocketAddr::new(source, 0))?;
                socket.connect(addr).await?
            }
        };
        stream.set_nodelay(true)?;
        let stream = stream.into_std()?;
        stream.set_nonblocking(true)?;
        Self::over(Socket::Tcp(stream), buffer, tls).await
    }

    /// Opens a connection to the Unix-domain socket at `path`, with a TLS session over
    /// it when `tls` is given.
    pub async fn connect_unix(
        path: &std::path::Path,
        buffer: usize,
        tls: Option<&super::tls::TlsClient>,
    ) -> std::io::Result<Self> {
        let stream = tokio::net::UnixStream::connect(path).await?.into_std()?;
        stream.set_nonblocking(true)?;
        Self::over(Socket::Unix(stream), buffer, tls).await
    }

    /// The connection over an open non-blocking `socket`: registered with the runtime,
    /// its TLS handshake done when `tls` is given.
    async fn over(
        socket: Socket,
        buffer: usize,
        tls: Option<&super::tls::TlsClient>,
    ) -> std::io::Result<Self> {
        // SAFETY: the stream owns its descriptor, and it is moved into the AsyncFd, so
        // the descriptor stays open and the same until the AsyncFd drops.
        let socket = unsafe { AsyncFd::register(socket) }?;
        let tls = match tls {
            Some(client) => {
                let mut session = Box::new(client.session()?);
                handshake(&socket, &mut session)
                    .await
                    .map_err(|error| std::io::Error::new(error.kind(), HandshakeFailed(error)))?;
                Some(session)
            }
            None => None,
        };
        Ok(Self {
            socket,
            tls,
            buffer: vec![0; buffer.max(64)],
            filled: 0,
            bytes_read: 0,
            limits: ReadLimits::default(),
        })
    }

    /// The same connection, reading responses within `limits`.
    pub fn with_limits(mut self, limits: ReadLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether the peer has not closed or reset it (as far as a look at the socket
    /// tells without reading).
    pub fn is_open(&self) -> bool {
        let mut probe = [0u8; 1];
        match self.socket.get_ref().peek(&mut probe) {
            Ok(0) => false,
            Ok(_) => true, // unread bytes: open, if odd
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        }
    }

    /// Bytes read from the socket since it was opened.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Writes `request` (a whole HTTP/1.1 request) and reads one whole response (with
    /// no body when it answers a HEAD request, whatever its length says).
    pub async fn exchange(
        &mut self,
        request: &[u8],
        head_request: bool,
    ) -> Result<ResponseHead, ExchangeError> {
        self.write_all(request).await?;
        loop {
            let head = self.read_response(head_request).await?;
            // 1xx responses (but 101) precede the real one.
            if !(100..200).contains(&head.status) || head.status == 101 {
                return Ok(head);
            }
        }
    }

    async fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), ExchangeError> {
        if let Some(session) = self.tls.as_mut() {
            session.writer().write_all(bytes)?;
            flush_tls(&self.socket, session).await?;
            return Ok(());
        }
        while !bytes.is_empty() {
            let mut stream: &Socket = self.socket.get_ref();
            match stream.write(bytes) {
                Ok(0) => return Err(ExchangeError::Closed),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.socket.writable().await?.clear_ready();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Reads more bytes after `self.filled`, growing the buffer when it is full. Only a
    /// head (or a chunk's size or trailer line) is ever kept whole, and bodies are
    /// dropped as they stream, so a full buffer past the head cap is a head too large.
    async fn fill(&mut self) -> Result<(), ExchangeError> {
        // A socket that is always readable (a server streaming faster than the body is
        // read) never makes a read wait, so without this the task would never yield:
        // its timeout could not fire, and every other connection of the worker's
        // thread, and its second ticks, would stall behind it (a 1 s timeout once took
        // 60 s). The budget lets the runtime run the rest after 128 reads in a row.
        tokio::task::coop::consume_budget().await;
        if self.filled == self.buffer.len() {
            if self.buffer.len() >= self.limits.max_head_bytes {
                return Err(ExchangeError::TooLarge(format!(
                    "a head (or a chunk's size or trailer line) of over {} bytes (--max-response-head-bytes)",
                    self.limits.max_head_bytes
                )));
            }
            let grown =
                (self.buffer.len() * 2).min(self.limits.max_head_bytes.max(self.buffer.len() + 1));
            self.buffer.resize(grown, 0);
        }
        if let Some(session) = self.tls.as_mut() {
            let space = &mut self.buffer[self.filled..];
            let n = read_plaintext(&self.socket, session, space).await?;
            self.filled += n;
            self.bytes_read += n as u64;
            return Ok(());
        }
        loop {
            let mut guard = self.socket.readable().await?;
            let space = &mut self.buffer[self.filled..];
            let wanted = space.len();
            let mut stream: &Socket = guard.get_inner();
            match stream.read(space) {
                Ok(0) => return Err(ExchangeError::Closed),
                Ok(n) => {
                    if n < wanted {
                        // The socket is drained: wait for epoll before reading again.
                        guard.clear_ready();
                    }
                    self.filled += n;
                    self.bytes_read += n as u64;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Drops the first `n` buffered bytes, keeping any that follow.
    fn consume(&mut self, n: usize) {
        self.buffer.copy_within(n..self.filled, 0);
        self.filled -= n;
    }

    async fn read_response(&mut self, head_request: bool) -> Result<ResponseHead, ExchangeError> {
        let (head_len, head, mut framing) = loop {
            let parsed = parse_head(&self.buffer[..self.filled])?;
            let length = parsed.as_ref().map_or(self.filled, |(length, ..)| *length);
            if length > self.limits.max_head_bytes {
                return Err(ExchangeError::TooLarge(format!(
                    "a head of over {} bytes (--max-response-head-bytes)",
                    self.limits.max_head_bytes
                )));
            }
            if let Some(parsed) = parsed {
                break parsed;
            }
            self.fill().await?;
        };
        if head_request {
            framing = Framing::None;
        }
        match framing {
            Framing::None => self.consume(head_len),
            Framing::Length(len) => {
                if len as u64 > self.limits.max_body_bytes {
                    return Err(self.body_too_large(format!("Content-Length {len}")));
                }
                // Skip the body without keeping it: only what follows it stays buffered.
                let mut remaining = len;
                let mut from = head_len;
                while self.filled - from < remaining {
                    remaining -= self.filled - from;
                    self.filled = 0;
                    from = 0;
                    self.fill().await?;
                }
                self.consume(from + remaining);
            }
            Framing::Chunked => {
                self.consume(head_len);
                self.skip_chunked_body().await?;
            }
            Framing::UntilClose => {
                let mut body = 0u64;
                loop {
                    body += self.filled as u64;
                    if body > self.limits.max_body_bytes {
                        return Err(self.body_too_large("a body read to the close".into()));
                    }
                    self.filled = 0;
                    if self.fill().await.is_err() {
                        break;
                    }
                }
                self.filled = 0;
                return Ok(ResponseHead {
                    keep_alive: false,
                    ..head
                });
            }
        }
        Ok(head)
    }
}

impl Connection {
    /// Reads and drops a chunked body as it arrives, chunk by chunk: only a size line or
    /// a trailer line is ever kept whole (bounded by the head cap), the data never.
    /// What follows the body stays buffered.
    async fn skip_chunked_body(&mut self) -> Result<(), ExchangeError> {
        let mut decoder = ChunkedDecoder::default();
        let mut body = 0u64;
        loop {
            match decoder.advance(&self.buffer[..self.filled])? {
                Advance::Done(used) => {
                    self.consume(used);
                    return Ok(());
                }
                Advance::NeedMore { used, data } => {
                    body += data;
                    if body > self.limits.max_body_bytes {
                        return Err(self.body_too_large("a chunked body".into()));
                    }
                    self.consume(used);
                    self.fill().await?;
                }
            }
        }
    }

    /// The error for a body over the cap.
    fn body_too_large(&self, what: String) -> ExchangeError {
        ExchangeError::TooLarge(format!(
            "{what} over {} bytes (--max-response-body-bytes)",
            self.limits.max_body_bytes
        ))
    }
}

/// Drives the TLS handshake to its end on the non-blocking socket.
async fn handshake(
    socket: &AsyncFd<Socket>,
    session: &mut rustls::ClientConnection,
) -> std::io::Result<()> {
    while session.is_handshaking() {
        if session.wants_write() {
            flush_tls(socket, session).await?;
        } else {
            read_tls_records(socket, session).await?;
        }
    }
    flush_tls(socket, session).await
}

/// Writes every TLS record the session has ready.
async fn flush_tls(
    socket: &AsyncFd<Socket>,
    session: &mut rustls::ClientConnection,
) -> std::io::Result<()> {
    while session.wants_write() {
        let mut stream: &Socket = socket.get_ref();
        match session.write_tls(&mut stream) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                socket.writable().await?.clear_ready();
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads TLS records from the socket (waiting for them) and processes them; a TLS
/// error (a bad certificate, a protocol error) is an `InvalidData` error.
async fn read_tls_records(
    socket: &AsyncFd<Socket>,
    session: &mut rustls::ClientConnection,
) -> std::io::Result<()> {
    loop {
        let mut guard = socket.readable().await?;
        let mut stream: &Socket = guard.get_inner();
        match session.read_tls(&mut stream) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {
                session
                    .process_new_packets()
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => guard.clear_ready(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads decrypted bytes into `space`, reading records from the socket as needed.
async fn read_plaintext(
    socket: &AsyncFd<Socket>,
    session: &mut rustls::ClientConnection,
    space: &mut [u8],
) -> Result<usize, ExchangeError> {
    loop {
        match session.reader().read(space) {
            Ok(0) => return Err(ExchangeError::Closed),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                read_tls_records(socket, session).await.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        ExchangeError::Closed
                    } else {
                        ExchangeError::Io(e)
                    }
                })?;
                if session.wants_write() {
                    flush_tls(socket, session).await?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(ExchangeError::Closed)
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Asks the kernel to bind only the address now and choose the port at `connect`, by
/// the whole (source, destination) pair (`IP_BIND_ADDRESS_NO_PORT`): a port in use
/// from another source address can then be used again, and `bind` does not search
/// the port range itself.
fn bind_address_only(socket: &tokio::net::TcpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, and a pointer to an int of the size given.
    let status = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            std::ptr::addr_of!(on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A response already whole in the socket, so no read of it ever waits, read 64
    /// bytes at a time (a thousand reads): the exchange still lets the other tasks of
    /// its thread run between its reads (the timers, the other connections, the second
    /// ticks), not only while it waits for the socket's first readiness.
    #[test]
    fn a_socket_that_never_makes_a_read_wait_still_lets_its_thread_run_other_tasks() {
        let (client, mut server) = std::os::unix::net::UnixStream::pair().unwrap();
        let body = vec![b'x'; 64 * 1024];
        let mut response =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        response.extend_from_slice(&body);
        server.write_all(&response).unwrap();
        client.set_nonblocking(true).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        let (turns, exchanged) = local.block_on(&runtime, async {
            // Counts the turns the thread gave it while the exchange went on.
            let turns = Rc::new(Cell::new(0u32));
            let counter = turns.clone();
            let other = tokio::task::spawn_local(async move {
                loop {
                    counter.set(counter.get() + 1);
                    tokio::task::yield_now().await;
                }
            });
            let mut connection = Connection::over(Socket::Unix(client), 64, None)
                .await
                .unwrap();
            let head = connection
                .exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false)
                .await;
            other.abort();
            (turns.get(), head.map(|head| head.status))
        });
        assert_eq!(exchanged.ok(), Some(200));
        assert!(
            turns > 2,
            "the other task ran {turns} time(s) in a thousand reads: the exchange did not yield between them"
        );
    }
}
