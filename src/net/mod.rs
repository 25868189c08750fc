//! Networking shared by every server: binding listeners on loopback with errors that
//! say what to do, the connection [`Limits`] every style enforces, and the tokio +
//! hyper accept loop (limits, graceful shutdown) used by the async styles and the mock
//! upstream.

pub mod guard;
pub mod limits;

pub use limits::Limits;

/// The response header in which a server says how long its I/O actually waited, in
/// µs (the load generator reads it; verify compares its presence, not its value).
pub const WAITED_HEADER: &str = "x-sabench-waited-us";

use std::future::Future;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Why a listener could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The address is not loopback; this suite only serves on this machine.
    #[error("{0} is not a loopback address: sabench only binds 127.0.0.1 or [::1]")]
    NotLoopback(IpAddr),
    /// Somebody else holds the port.
    #[error("port {} on {} is already in use: pick another with --port (or --port 0 for any free port), or stop the process holding it (`ss -ltnp 'sport = :{}'` shows it)", .0.port(), .0.ip(), .0.port())]
    InUse(SocketAddr),
    /// Any other failure from the OS.
    #[error("cannot listen on {addr}")]
    Other {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Binds a TCP listener on a loopback address, refusing anything else.
pub fn bind_loopback(addr: SocketAddr) -> Result<TcpListener, BindError> {
    if !addr.ip().is_loopback() {
        return Err(BindError::NotLoopback(addr.ip()));
    }
    let listener = TcpListener::bind(addr).map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => BindError::InUse(addr),
        _ => BindError::Other { addr, source },
    })?;
    widen_backlog(&listener);
    Ok(listener)
}

/// The accept backlog asked for: the kernel caps it at `net.core.somaxconn`.
const BACKLOG: libc::c_int = 65_535;

/// Raises the listener's accept backlog from std's 128 to what the kernel allows, so a
/// generator that opens thousands of connections at once is not answered with SYN
/// retries (1 s each) that would show up as its latency. Linux takes a second
/// `listen` on a listening socket as a new backlog; if it fails, the old one stays.
fn widen_backlog(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: `listen` on a socket this listener owns; it only changes the backlog.
    unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) };
}

/// A listener on 127.0.0.1 with an OS-chosen port, for tests and in-process runs.
pub fn bind_ephemeral() -> Result<TcpListener, BindError> {
    bind_loopback(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Which protocols a server speaks on its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocols {
    /// HTTP/1.1 only (the mock upstream).
    Http1,
    /// HTTP/1.1, and HTTP/2 in cleartext with prior knowledge (h2c) on the same port:
    /// hyper's auto builder reads a connection's first bytes and picks (the async and
    /// hybrid styles).
    Http1AndH2c,
}

/// Serves HTTP/1.1 (keep-alive), and h2c when `protocols` says so, on `listener`,
/// answering every request with `handler`,
/// within `limits` (see [`guard`]; beyond `max_connections` a connection is answered
/// 503, a body over `max_body_bytes` 413, both closing the connection), until
/// `shutdown` completes; then stops accepting and waits up to `grace` for in-flight
/// requests to finish. A handler that returns `Err` has the connection closed without
/// an answer (how the mock upstream plays "down").
pub async fn serve_http<H, Fut>(
    listener: tokio::net::TcpListener,
    handler: H,
    limits: Limits,
    protocols: Protocols,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, std::io::Error>> + Send + 'static,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .max_buf_size(limits.max_header_bytes.max(limits::MIN_HEADER_BYTES))
        // A request followed by the client's FIN is answered, as the blocking style does.
        .half_close(true)
        // No `date:` header: the blocking style sends none, and the bytes must match.
        .auto_date_header(false);
    let auto = auto_builder(limits);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let Ok(permit) = open.clone().try_acquire_owned() else {
                        tokio::spawn(refuse_busy(stream, limits.max_connections));
                        continue;
                    };
                    let handler = handler.clone();
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let handler = handler.clone();
                        async move {
                            match body_over_limit(&request, limits.max_body_bytes) {
                                Some(refusal) => Ok(refusal),
                                None => handler(request).await,
                            }
                        }
                    });
                    let stream = guard::GuardedStream::new(stream, limits);
                    let io = TokioIo::new(stream);
                    match protocols {
                        Protocols::Http1 => {
                            let connection = graceful.watch(builder.serve_connection(io, service));
                            tokio::spawn(async move {
                                let _ = connection.await;
                                drop(permit);
                            });
                        }
                        Protocols::Http1AndH2c => {
                            let connection = auto.serve_connection(io, service).into_owned();
                            let connection = graceful.watch(connection);
                            tokio::spawn(async move {
                                let _ = connection.await;
                                drop(permit);
                            });
                        }
                    }
                }
                Err(error) => accept_backoff(&error).await,
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("shutdown: in-flight requests still running after {grace:?}; closing anyway");
    }
    Ok(())
}

/// The builder that serves HTTP/1.1 and h2c alike, each within `limits` as the
/// HTTP/1.1-only builder is: the same header cap, no `date:` header, half-close.
fn auto_builder(
    limits: Limits,
) -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    let mut auto =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    let header_bytes = limits.max_header_bytes.max(limits::MIN_HEADER_BYTES);
    auto.http1()
        .max_buf_size(header_bytes)
        .half_close(true)
        .auto_date_header(false);
    auto.http2()
        .max_header_list_size(u32::try_from(header_bytes).unwrap_or(u32::MAX))
        .auto_date_header(false);
    auto
}

/// A 413 (closing the connection) for a request that declares a body over `max`.
fn body_over_limit(request: &Request<Incoming>, max: usize) -> Option<Response<Full<Bytes>>> {
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u128>()
        .ok()?;
    (declared > max as u128).then(|| {
        let body = format!("error: request body of {declared} bytes is over the limit of {max}\n");
        Response::builder()
            .status(413)
            .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(hyper::header::CONNECTION, "close")
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    })
}

/// The answer to a connection beyond the connection limit: 503 and close.
pub fn busy_response(max_connections: usize) -> Vec<u8> {
    let body = format!(
        "error: server busy: {max_connections} connections are open (the --max-connections limit)\n"
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers a connection the limit cannot take, without waiting on a slow client.
async fn refuse_busy(mut stream: tokio::net::TcpStream, max_connections: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answer = async {
        // Read what already arrived, so closing does not reset the connection before
        // the client reads the answer.
        let mut request = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut request)).await;
        let _ = stream.write_all(&busy_response(max_connections)).await;
        let _ = stream.shutdown().await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// Runs an async server on its own multi-thread runtime (blocking the caller): converts
/// `listener` to tokio, awaits `serve`, then gives leftover tasks `grace` to finish.
pub fn block_on_listener<F, Fut>(
    listener: TcpListener,
    workers: usize,
    thread_name: &str,
    grace: Duration,
    serve: F,
) -> std::io::Result<()>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .thread_name(thread_name)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        listener.set_nonblocking(true)?;
        serve(tokio::net::TcpListener::from_std(listener)?).await
    });
    runtime.shutdown_timeout(grace);
    result
}

/// After a failed `accept` (e.g. out of file descriptors), says so and pauses briefly
/// instead of spinning.
async fn accept_backoff(error: &std::io::Error) {
    eprintln!("accept failed: {error} (if this is 'Too many open files', raise `ulimit -n`)");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_loopback_and_names_a_port_in_use() {
        let err = bind_loopback("0.0.0.0:0".parse().unwrap()).unwrap_err();
        assert!(matches!(err, BindError::NotLoopback(_)));
        let held = bind_ephemeral().unwrap();
        let err = bind_loopback(held.local_addr().unwrap()).unwrap_err();
        assert!(matches!(err, BindError::InUse(_)));
        assert!(err.to_string().contains("already in use"), "{err}");
    }
}
