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

use super::reply::Reply;
use super::wire::{self, Parsed};
use super::{ServerConfig, Variant};
use crate::shutdown::Shutdown;
use crate::workload::{
    cpu, fanout, io, mixed, BlockingUpstream, ClientOptions, Route, WorkloadConfig, HEALTH_BODY,
    NULL_BODY,
};

/// How often an idle connection looks up to see whether shutdown has begun.
const SHUTDOWN_POLL: Duration = Duration::from_millis(100);
/// Upstream pool size for thread-per-connection (no fixed thread count to size it by).
const PER_CONNECTION_POOL: usize = 1024;

/// What every connection shares.
struct State {
    workload: WorkloadConfig,
    upstream: BlockingUpstream,
    shutdown: Shutdown,
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
    let knobs = &config.style;
    let pool_size = if knobs.thread_per_connection {
        PER_CONNECTION_POOL
    } else {
        knobs.threads * config.workload.fanout.concurrency() as usize
    };
    let state = Arc::new(State {
        upstream: BlockingUpstream::new(&ClientOptions::from_workload(&config.workload), pool_size),
        workload: config.workload.clone(),
        shutdown: shutdown.clone(),
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
            Ok(stream) => dispatch.hand_over(stream, &state),
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
    Unbounded(mpsc::Sender<TcpStream>),
    Bounded(mpsc::SyncSender<TcpStream>),
}

/// Answers a connection the full queue cannot take: 503 and close.
fn refuse_busy(mut stream: TcpStream) {
    // Drain what already arrived so closing does not reset the connection before the
    // client reads the answer.
    let _ = stream.set_nonblocking(true);
    let mut request = [0u8; 4096];
    let _ = stream.read(&mut request);
    let _ = stream.set_nonblocking(false);
    let mut out = Vec::new();
    let busy = Reply::error(
        503,
        "error: server busy: the accept queue is full (bounded-queue)\n".into(),
    );
    wire::write_response(&mut out, &busy, false);
    let _ = stream.write_all(&out);
    let _ = stream.shutdown(std::net::Shutdown::Write);
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
            let (sender, receiver) = mpsc::sync_channel::<TcpStream>(threads);
            (Queue::Bounded(sender), receiver)
        } else {
            let (sender, receiver) = mpsc::channel::<TcpStream>();
            (Queue::Unbounded(sender), receiver)
        };
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..threads)
            .map(|i| {
                let receiver = receiver.clone();
                let state = state.clone();
                std::thread::Builder::new()
                    .name(format!("pool-{i}"))
                    .spawn(move || loop {
                        let next = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match next {
                            Ok(stream) => serve_connection_safely(stream, &state),
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

    fn hand_over(&mut self, stream: TcpStream, state: &Arc<State>) {
        match self {
            Dispatch::Pool { queue, .. } => match queue {
                Some(Queue::Unbounded(sender)) => {
                    let _ = sender.send(stream);
                }
                Some(Queue::Bounded(sender)) => {
                    if let Err(mpsc::TrySendError::Full(stream)) = sender.try_send(stream) {
                        refuse_busy(stream);
                    }
                }
                None => {}
            },
            Dispatch::PerConnection { live } => {
                live.fetch_add(1, Ordering::SeqCst);
                let counter = live.clone();
                let state = state.clone();
                let spawned =
                    std::thread::Builder::new()
                        .name("connection".into())
                        .spawn(move || {
                            serve_connection_safely(stream, &state);
                            counter.fetch_sub(1, Ordering::SeqCst);
                        });
                if let Err(error) = spawned {
                    eprintln!("cannot start a connection thread: {error} (raise `ulimit -u` or use a fixed pool with --threads)");
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

/// Serves one connection; a panic in a handler closes that connection only.
fn serve_connection_safely(stream: TcpStream, state: &State) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if let Err(error) = serve_connection(stream, state) {
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
/// client closes, asks to close, sends garbage, or shutdown begins.
fn serve_connection(mut stream: TcpStream, state: &State) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(SHUTDOWN_POLL))?;
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut out = Vec::with_capacity(4096);
    loop {
        match wire::parse(&buffer) {
            Parsed::Complete(head) => {
                let request_len = head.head_len + head.body_len;
                if buffer.len() < request_len {
                    if !read_more(&mut stream, &mut buffer, &mut chunk, state)? {
                        return Ok(());
                    }
                    continue;
                }
                buffer.drain(..request_len);
                let reply = if head.is_get {
                    match Route::from_target(&head.target) {
                        Some(route) => respond(route, state),
                        None if head.target == "/lag" => Reply::error(
                            404,
                            "error: /lag measures an async runtime's lag; the blocking style has none\n".into(),
                        ),
                        None => Reply::not_found(),
                    }
                } else {
                    Reply::method_not_allowed()
                };
                let keep_alive = head.keep_alive && !state.shutdown.is_triggered();
                out.clear();
                wire::write_response(&mut out, &reply, keep_alive);
                stream.write_all(&out)?;
                if !keep_alive {
                    return Ok(());
                }
            }
            Parsed::Partial => {
                if !read_more(&mut stream, &mut buffer, &mut chunk, state)? {
                    return Ok(());
                }
            }
            Parsed::Invalid { status, reason } => {
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
}

/// Reads more bytes into `buffer`. Returns false when the connection should end: the
/// peer closed, or shutdown began while no request was pending.
fn read_more(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    chunk: &mut [u8],
    state: &State,
) -> std::io::Result<bool> {
    loop {
        match stream.read(chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if state.shutdown.is_triggered() && buffer.is_empty() {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Does the route's work on this thread, waiting by blocking.
fn respond(route: Route, state: &State) -> Reply {
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
        Route::Fanout => Reply::from_result(fanout::blocking(&workload.fanout, &state.upstream)),
    }
}
