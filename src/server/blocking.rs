//! The blocking style: `std::net` and OS threads, HTTP/1.1 keep-alive parsed with
//! `httparse`, upstream calls through `ureq`. No async runtime anywhere.
//!
//! Two modes: a fixed pool of N threads fed by the accept loop (a keep-alive connection
//! holds its thread until it closes — the trap the design warns about), or one thread
//! per connection.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::occupancy::{Occupancy, POOL_PATH};
use super::readers::Readers;
use super::reply::Reply;
use super::reply::{db_stats, DB_STATS_PATH};
use super::wire::{self, Parsed};
use super::{Limits, ServerConfig, Variant};
use crate::sys::shutdown::Shutdown;
use crate::workload::thread_pool::ThreadPool;
use crate::workload::{
    cpu, db, db::BlockingDb, fanout, io, mixed, BlockingUpstream, ClientOptions, Route,
    WorkloadConfig, HEALTH_BODY, NULL_BODY,
};

/// The shortest read timeout set (a deadline already past still gets one try).
const MIN_READ_WAIT: Duration = Duration::from_millis(1);
/// Upstream pool size for thread-per-connection (no fixed thread count to size it by).
const PER_CONNECTION_POOL: usize = 1024;
/// Most threads the fan-out pool starts (they are started on demand and reused).
const FANOUT_THREADS_MAX: usize = 1024;

/// What every connection shares.
struct State {
    workload: WorkloadConfig,
    limits: Limits,
    upstream: BlockingUpstream,
    /// Where `/fanout` and `/db-fanout` run their calls.
    fanout_pool: ThreadPool,
    /// `/db`, `/db-slow`, `/db-fanout`: a pooled client with no async runtime.
    db: BlockingDb,
    shutdown: Shutdown,
    /// Connections accepted and not yet closed (queued ones included); each holds an
    /// [`OpenSlot`] in it.
    open: Arc<AtomicUsize>,
    /// Each serving thread's stack size (None: Rust's default, 2 MiB).
    stack_bytes: Option<usize>,
    /// Threads holding a connection and working on a request (`GET /pool`).
    occupancy: Arc<Occupancy>,
    /// The connections' sockets, whose reads shutdown wakes.
    readers: Arc<Readers>,
}

/// A builder for a serving thread named `name`, with the configured stack size.
fn serving_thread(name: String, state: &State) -> std::thread::Builder {
    let builder = std::thread::Builder::new().name(name);
    match state.stack_bytes {
        Some(bytes) => builder.stack_size(bytes),
        None => builder,
    }
}

/// Serves the blocking style on `listener` until `shutdown` triggers, then lets open
/// requests finish (bounded by the grace period) and returns.
pub fn run(listener: TcpListener, config: ServerConfig, shutdown: Shutdown) -> std::io::Result<()> {
    listener.set_nonblocking(false)?;
    let addr = listener.local_addr()?;
    // `accept` cannot be interrupted: a throwaway connection wakes it.
    shutdown.on_trigger(move || {
        let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    });
    let readers = Arc::new(Readers::default());
    let waker = readers.clone();
    shutdown.on_trigger(move || waker.wake_all());
    let knobs = &config.style;
    let pool_size = if knobs.thread_per_connection {
        PER_CONNECTION_POOL
    } else {
        let fan = config
            .workload
            .fanout
            .concurrency()
            .max(config.workload.db.fanout);
        knobs.threads * fan as usize
    };
    let state = Arc::new(State {
        upstream: BlockingUpstream::new(&ClientOptions::from_workload(&config.workload), pool_size),
        fanout_pool: ThreadPool::new(pool_size.min(FANOUT_THREADS_MAX), "fanout"),
        db: BlockingDb::new(&config.workload.db, Arc::default()),
        workload: config.workload.clone(),
        limits: config.limits,
        shutdown: shutdown.clone(),
        open: Arc::new(AtomicUsize::new(0)),
        stack_bytes: knobs.stack_kib.map(|kib| kib * 1024),
        occupancy: Occupancy::start((!knobs.thread_per_connection).then_some(knobs.threads.max(1))),
        readers,
    });
    let mut dispatch = if knobs.thread_per_connection {
        Dispatch::per_connection()
    } else {
        let bounded = knobs.variant == Variant::BoundedQueue;
        Dispatch::pool(knobs.threads.max(1), bounded, &state)?
    };
    for stream in listener.incoming() {
        if shutdown.is_triggered() {
            break;
        }
        match stream {
            Ok(stream) if state.open.load(Ordering::SeqCst) >= state.limits.max_connections => {
                refuse(
                    stream,
                    &crate::net::busy_response(state.limits.max_connections),
                );
            }
            Ok(stream) => dispatch.hand_over(Accepted::now(stream, &state.open), &state),
            Err(error) => {
                eprintln!(
                    "accept failed: {error} (if this is 'Too many open files', raise `ulimit -n`)"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    drop(listener);
    dispatch.drain(Instant::now() + config.grace);
    Ok(())
}

/// The queue between the accept loop and the pool: unbounded (connections wait
/// however long it takes) or bounded (C10: beyond it, 503 at once).
enum Queue {
    Unbounded(mpsc::Sender<Accepted>),
    Bounded(mpsc::SyncSender<Accepted>),
}

/// Answers a connection the server will not serve with `answer`, then closes it.
fn refuse(mut stream: TcpStream, answer: &[u8]) {
    // Drain what already arrived so closing does not reset the connection before the
    // client reads the answer.
    let _ = stream.set_nonblocking(true);
    let mut request = [0u8; 4096];
    let _ = stream.read(&mut request);
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(answer);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// The answer of the bounded-queue variant when its queue is full.
fn queue_full() -> Vec<u8> {
    let mut out = Vec::new();
    let busy = Reply::error(
        503,
        "error: server busy: the accept queue is full (bounded-queue)\n".into(),
    );
    wire::write_response(&mut out, &busy, false);
    out
}

/// How accepted connections reach a thread.
enum Dispatch {
    /// A fixed pool taking connections from a queue.
    Pool {
        queue: Option<Queue>,
        workers: Vec<JoinHandle<()>>,
    },
    /// A new thread for each connection; `live` counts them.
    PerConnection { live: Arc<AtomicUsize> },
}

impl Dispatch {
    fn pool(threads: usize, bounded: bool, state: &Arc<State>) -> std::io::Result<Self> {
        let (queue, receiver) = if bounded {
            let (sender, receiver) = mpsc::sync_channel::<Accepted>(threads);
            (Queue::Bounded(sender), receiver)
        } else {
            let (sender, receiver) = mpsc::channel::<Accepted>();
            (Queue::Unbounded(sender), receiver)
        };
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..threads)
            .map(|i| {
                let receiver = receiver.clone();
                let state = state.clone();
                serving_thread(format!("pool-{i}"), &state).spawn(move || loop {
                    let next = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match next {
                        Ok(accepted) => serve_connection_safely(accepted, &state),
                        Err(_) => return,
                    }
                })
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Dispatch::Pool {
            queue: Some(queue),
            workers,
        })
    }

    fn per_connection() -> Self {
        Dispatch::PerConnection {
            live: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn hand_over(&mut self, accepted: Accepted, state: &Arc<State>) {
        match self {
            Dispatch::Pool { queue, .. } => match queue {
                Some(Queue::Unbounded(sender)) => {
                    let _ = sender.send(accepted);
                }
                Some(Queue::Bounded(sender)) => {
                    if let Err(mpsc::TrySendError::Full(refused)) = sender.try_send(accepted) {
                        refuse(refused.stream, &queue_full());
                    }
                }
                None => {}
            },
            Dispatch::PerConnection { live } => {
                live.fetch_add(1, Ordering::SeqCst);
                let counter = live.clone();
                let shared = state.clone();
                let spawned = serving_thread("connection".into(), state).spawn(move || {
                    serve_connection_safely(accepted, &shared);
                    counter.fetch_sub(1, Ordering::SeqCst);
                });
                if let Err(error) = spawned {
                    eprintln!("cannot start a connection thread: {error} (raise `ulimit -u`, kernel.threads-max or vm.max_map_count: a thread takes 4 memory maps, so the default 65,530 stops near 16,000 threads; or use a fixed pool with --threads)");
                    live.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
    }

    /// Whether every connection thread has finished.
    fn is_drained(&self) -> bool {
        match self {
            Dispatch::Pool { workers, .. } => workers.iter().all(JoinHandle::is_finished),
            Dispatch::PerConnection { live } => live.load(Ordering::SeqCst) == 0,
        }
    }

    /// Closes the queue, then waits until every connection thread is done, or until `deadline`.
    fn drain(&mut self, deadline: Instant) {
        if let Dispatch::Pool { queue, .. } = self {
            queue.take();
        }
        while !self.is_drained() {
            if Instant::now() >= deadline {
                eprintln!(
                    "shutdown: connections still busy at the end of the grace period; leaving them"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// One place in the count of open connections, given back when dropped: however a
/// connection ends (served, refused, never handed to a thread), the count follows.
struct OpenSlot(Arc<AtomicUsize>);

impl OpenSlot {
    fn take(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::SeqCst);
        Self(open.clone())
    }
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection, when it was accepted, and its place in the count of open ones.
struct Accepted {
    stream: TcpStream,
    at: Instant,
    _slot: OpenSlot,
}

impl Accepted {
    fn now(stream: TcpStream, open: &Arc<AtomicUsize>) -> Self {
        Self {
            stream,
            at: Instant::now(),
            _slot: OpenSlot::take(open),
        }
    }

    /// When its first request began: at its accept if bytes were already waiting when
    /// a thread got to it (a slow client queued behind others gets no fresh timeout),
    /// otherwise not yet.
    fn first_request_began(&self) -> Option<Instant> {
        let mut byte = [0u8; 1];
        let waiting = self.stream.set_nonblocking(true).is_ok()
            && matches!(self.stream.peek(&mut byte), Ok(n) if n > 0);
        let _ = self.stream.set_nonblocking(false);
        waiting.then_some(self.at)
    }
}

/// Serves one connection; a panic in a handler closes that connection only.
fn serve_connection_safely(accepted: Accepted, state: &State) {
    let _held = state.occupancy.hold();
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if let Err(error) = serve_connection(accepted, state) {
            if !matches!(
                error.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ) {
                eprintln!("connection error: {error}");
            }
        }
    }));
}

/// Reads requests from one keep-alive connection and answers each in turn until the
/// client closes, asks to close, sends garbage, breaks a limit, or shutdown begins.
fn serve_connection(accepted: Accepted, state: &State) -> std::io::Result<()> {
    let limits = &state.limits;
    // When the current request's first byte arrived (None: idle between requests).
    let mut began = accepted.first_request_began();
    let mut stream = accepted.stream;
    // Declared after the stream: unregistered before it closes.
    let _registered = state.readers.register(&stream);
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(limits.write_timeout))?;
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut out = Vec::with_capacity(4096);
    // Whether the current head's body was read and dropped already.
    let mut body_skipped = false;
    loop {
        let refusal = match wire::parse(&buffer, limits.max_header_bytes) {
            Parsed::Complete(head) if head.body_len > limits.max_body_bytes => Some((
                413,
                format!(
                    "request body of {} bytes is over the limit of {}",
                    head.body_len, limits.max_body_bytes
                ),
            )),
            // The body is bounded by the arm above, so the sum cannot overflow.
            Parsed::Complete(head)
                if body_skipped || buffer.len() >= head.head_len + head.body_len =>
            {
                let whole = head.head_len + if body_skipped { 0 } else { head.body_len };
                body_skipped = false;
                buffer.drain(..whole);
                // A pipelined request already begun keeps its own clock.
                began = (!buffer.is_empty()).then(Instant::now);
                let keep_alive = head.keep_alive && !state.shutdown.is_triggered();
                let working = state.occupancy.work();
                out.clear();
                wire::write_response(&mut out, &answer(&head, state), keep_alive);
                stream.write_all(&out)?;
                drop(working);
                if !keep_alive {
                    return Ok(());
                }
                continue;
            }
            // A whole head whose body is still arriving. No route wants a body: what
            // came is dropped and the rest read and dropped too, never kept.
            Parsed::Complete(head) => {
                let missing = head.head_len + head.body_len - buffer.len();
                buffer.truncate(head.head_len);
                match skip_body(&mut stream, missing, &mut chunk, state, began)? {
                    More::Read => {
                        body_skipped = true;
                        continue;
                    }
                    More::Closed => return Ok(()),
                    More::TimedOut => {
                        Some((408, "the request body took too long to arrive".into()))
                    }
                }
            }
            // Part of a head.
            Parsed::Partial => {
                if !buffer.is_empty() {
                    began.get_or_insert_with(Instant::now);
                }
                match read_more(&mut stream, &mut buffer, &mut chunk, state, began)? {
                    More::Read => continue,
                    More::Closed => return Ok(()),
                    More::TimedOut => Some((408, "the request took too long to arrive".into())),
                }
            }
            Parsed::Invalid { status, reason } => Some((status, reason.to_string())),
        };
        if let Some((status, reason)) = refusal {
            out.clear();
            wire::write_response(
                &mut out,
                &Reply::error(status, format!("error: {reason}\n")),
                false,
            );
            stream.write_all(&out)?;
            return Ok(());
        }
    }
}

/// The reply to one whole request.
fn answer(head: &wire::RequestHead, state: &State) -> Reply {
    if !head.is_get {
        return Reply::method_not_allowed();
    }
    match Route::from_target(&head.target) {
        Some(route) => respond(route, state),
        None if head.target == DB_STATS_PATH => db_stats(state.db.stats()),
        None if head.target == POOL_PATH => {
            Reply::text(serde_json::to_string(&state.occupancy.snapshot()).unwrap_or_default())
        }
        None if head.target == crate::server::lag::PATH => Reply::error(
            404,
            "error: /lag measures an async runtime's lag; the blocking style has none\n".into(),
        ),
        None => Reply::not_found(),
    }
}

/// What reading more of a request came to.
enum More {
    /// New bytes are in the buffer.
    Read,
    /// The connection should end quietly: the peer closed, it sat idle past the idle
    /// timeout, or shutdown began while no request was pending.
    Closed,
    /// A request began but did not arrive within the header-read timeout.
    TimedOut,
}

/// Reads more bytes into `buffer`: within the header-read timeout counted from the
/// request's first byte (`began`), or, with no request begun, the idle timeout. The read
/// blocks until then; shutdown wakes it by shutting the socket's read side (see
/// [`Readers`]), and a connection idle when shutdown began ends at once.
fn read_more(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    chunk: &mut [u8],
    state: &State,
    began: Option<Instant>,
) -> std::io::Result<More> {
    let deadline = read_deadline(began, !buffer.is_empty(), Instant::now(), &state.limits);
    loop {
        // Registered before this look, so a shutdown after it wakes the read below.
        if buffer.is_empty() && state.shutdown.is_triggered() {
            return Ok(More::Closed);
        }
        stream.set_read_timeout(Some(wait_until(deadline)))?;
        match stream.read(chunk) {
            Ok(0) => return Ok(More::Closed),
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return Ok(More::Read);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // Shutdown is looked for at the top of the loop; here only the deadline.
                if Instant::now() >= deadline {
                    return Ok(if buffer.is_empty() {
                        More::Closed
                    } else {
                        More::TimedOut
                    });
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// When a read must end: the header-read timeout counted from the request's first byte
/// (`began`) once part of a request is in, else the idle timeout counted from `now`.
fn read_deadline(
    began: Option<Instant>,
    part_of_a_request: bool,
    now: Instant,
    limits: &Limits,
) -> Instant {
    match began {
        Some(began) if part_of_a_request => began + limits.header_read_timeout,
        _ => now + limits.idle_timeout,
    }
}

/// Reads and drops `missing` body bytes (and not one more: a pipelined request may
/// follow), within the header-read timeout counted from the request's first byte.
fn skip_body(
    stream: &mut TcpStream,
    mut missing: usize,
    chunk: &mut [u8],
    state: &State,
    began: Option<Instant>,
) -> std::io::Result<More> {
    let deadline = began.unwrap_or_else(Instant::now) + state.limits.header_read_timeout;
    while missing > 0 {
        stream.set_read_timeout(Some(wait_until(deadline)))?;
        let wanted = missing.min(chunk.len());
        match stream.read(&mut chunk[..wanted]) {
            Ok(0) => return Ok(More::Closed),
            Ok(n) => missing -= n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() >= deadline {
                    return Ok(More::TimedOut);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(More::Read)
}

/// How long a read may block to end by `deadline` (at least [`MIN_READ_WAIT`]: a zero
/// timeout would mean none).
fn wait_until(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(MIN_READ_WAIT)
}

/// Does the route's work on this thread, waiting by blocking.
fn respond(route: Route, state: &State) -> Reply {
    if route != Route::Health {
        super::hog::tax();
    }
    let workload = &state.workload;
    match route {
        Route::Null => Reply::ok(NULL_BODY),
        Route::Health => Reply::ok(HEALTH_BODY),
        Route::Io => Reply::from_result(io::blocking(&workload.io, &state.upstream)),
        Route::Cpu => Reply::text(cpu::run(workload.cpu)),
        Route::Mixed => Reply::from_result(
            io::blocking(&workload.io, &state.upstream)
                .map(|io| mixed::render(io, &cpu::run(workload.cpu))),
        ),
        Route::Fanout => Reply::from_result(fanout::blocking(
            &workload.fanout,
            &state.upstream,
            &state.fanout_pool,
        )),
        Route::Db(route) => {
            Reply::from_result(db::serve_blocking(route, &state.db, &state.fanout_pool))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slow client that waited in the queue: accepted `waited` ago with half a head
    /// already sent, as a thread finally reaches it.
    fn queued_slow_client(waited: Duration) -> (Accepted, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
        let (server_side, _) = listener.accept().unwrap();
        let open = Arc::new(AtomicUsize::new(0));
        let mut accepted = Accepted::now(server_side, &open);
        accepted.at = Instant::now().checked_sub(waited).unwrap();
        // The bytes are in the server side's buffer before it is looked at.
        let mut byte = [0u8; 1];
        while accepted.stream.peek(&mut byte).unwrap_or(0) == 0 {}
        (accepted, client)
    }

    #[test]
    fn a_queued_slow_client_is_timed_from_its_accept_not_from_its_pickup() {
        let limits = Limits {
            header_read_timeout: Duration::from_secs(1),
            ..Limits::default()
        };
        let (accepted, _client) = queued_slow_client(Duration::from_secs(5));
        let began = accepted.first_request_began();
        assert_eq!(began, Some(accepted.at), "its request began at its accept");
        let now = Instant::now();
        let deadline = read_deadline(began, true, now, &limits);
        assert_eq!(deadline, accepted.at + limits.header_read_timeout);
        assert!(deadline < now, "its header-read time ran out in the queue");
    }

    #[test]
    fn an_idle_connection_waits_under_the_idle_timeout_only() {
        let limits = Limits {
            header_read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(60),
            ..Limits::default()
        };
        let now = Instant::now();
        let long_ago = now.checked_sub(Duration::from_secs(5)).unwrap();
        for began in [None, Some(long_ago)] {
            assert_eq!(
                read_deadline(began, false, now, &limits),
                now + limits.idle_timeout
            );
        }
    }
}
