//! Hostile clients against every style and the mock upstream (issue 10): slowloris, a
//! huge Content-Length, a body longer than declared, garbage, a 1 MiB request line,
//! 10,000 headers, pipelining, a half-closed socket, a client that never reads, idle
//! keep-alive connections and one connection too many.
//!
//! Each target runs as its own `sabench` process with short limits, so its memory is
//! its own: every case checks that the hostile connection gets a 4xx or is closed, that
//! a normal `GET /health` from a fresh connection is answered afterwards, and that the
//! server's peak RSS stayed bounded. Bounds are generous: a slow machine cannot fail it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::RawConnection;
use sync_async_bench::run::process::{Child, Tether};

/// Peak RSS any target may reach in any case (an idle server needs a few tens of MiB;
/// buffering a hostile body would need hundreds).
const RSS_BOUND_MIB: f64 = 150.0;
/// How long to keep asking for room after held connections close: a hang guard only
/// (the server sees a close at its next read, within milliseconds on any machine).
const ROOM_BOUND: Duration = Duration::from_secs(60);

/// What a case runs against.
#[derive(Debug, Clone, Copy)]
enum Target {
    Blocking,
    Async,
    Hybrid,
    Upstream,
}

/// A target process and the folder holding its log.
struct Started {
    child: Child,
    dir: PathBuf,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Short limits, so timeouts fire within a test; `extra` adds flags or overrides these.
fn start(target: Target, extra: &[&str]) -> Started {
    let (kind, mut args, own): (&str, Vec<String>, &str) = match target {
        Target::Blocking => ("serve", words("serve --style blocking"), "--threads 4"),
        Target::Async => ("serve", words("serve --style async"), "--workers 1"),
        Target::Hybrid => ("serve", words("serve --style hybrid"), "--workers 1"),
        Target::Upstream => ("upstream", words("upstream"), "--latency 1ms"),
    };
    let defaults =
        format!("--port 0 {own} --header-read-timeout 500ms --idle-timeout 1s --write-timeout 1s");
    for pair in words(&defaults).chunks(2) {
        if !extra.contains(&pair[0].as_str()) {
            args.extend(pair.iter().cloned());
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let dir = std::env::temp_dir().join(format!(
        "sabench-hostile-{}-{:?}-{}",
        std::process::id(),
        target,
        unique()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Child::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_sabench")),
        kind,
        &args,
        &[],
        &dir,
        dir.join("server.log"),
        Tether::DeathSignal,
    )
    .expect("the target starts");
    Started { child, dir }
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// Peak resident memory of a process, MiB (`VmHWM`; 0 when /proc cannot say).
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    sync_async_bench::sys::procfs::status_value(&status, "VmHWM:").map_or(0.0, |kib| kib / 1024.0)
}

/// After a case: the target answers a normal request on a fresh connection (the
/// connection's own 30 s read timeout is the hang guard, not a speed bound), is still
/// running, and its peak RSS stayed under the bound.
fn still_healthy(started: &Started, case: &str) {
    let status = RawConnection::connect(started.child.addr())
        .get("/health")
        .status;
    assert_eq!(status, 200, "{case}: /health after the hostile client");
    let rss = peak_rss_mib(started.child.pid());
    assert!(
        rss > 0.0 && rss < RSS_BOUND_MIB,
        "{case}: peak RSS {rss:.0} MiB (bound {RSS_BOUND_MIB} MiB)"
    );
}

/// Whether the server ended the connection within a few seconds (EOF or reset, after
/// any answers), as opposed to leaving it open: a read that times out is not a close.
fn cut_off_by_server(mut stream: TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                )
            }
        }
    }
}

/// Sends `bytes` on a fresh connection; the status of the first answer (None: closed
/// without one) and whether the server then closed the connection.
fn send_raw(started: &Started, bytes: &[u8]) -> (Option<u16>, bool) {
    let stream = TcpStream::connect(started.child.addr()).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut connection = RawConnection::from_stream(stream.try_clone().unwrap());
    // The server may close before it has read everything: a failed send is fine.
    let _ = (&stream).write_all(bytes);
    let status = connection.read_response().map(|r| r.status);
    (status, cut_off_by_server(stream))
}

fn is_client_error(status: Option<u16>) -> bool {
    status.is_none_or(|s| (400..500).contains(&s))
}

/// `n` connections that each sent half a request head.
fn partial_heads(started: &Started, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut stream = TcpStream::connect(started.child.addr()).unwrap();
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            stream
        })
        .collect()
}

fn slowloris(target: Target) {
    let started = start(target, &[]);
    // Twice as many slow clients as the blocking pool has threads, each trickling a
    // byte every 100 ms for three header timeouts.
    let mut slow = partial_heads(&started, 8);
    let until = Instant::now() + Duration::from_millis(1_500);
    while Instant::now() < until {
        for stream in &mut slow {
            let _ = stream.write_all(b"X");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for stream in slow {
        assert!(
            cut_off_by_server(stream),
            "{target:?}: a slow client was left open"
        );
    }
    still_healthy(&started, "slowloris");
}

fn huge_content_length(target: Target) {
    let started = start(target, &[]);
    let (status, closed) = send_raw(
        &started,
        b"POST /null HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\nsome body bytes",
    );
    assert_eq!(status, Some(413), "{target:?}");
    assert!(closed, "{target:?}: the connection stayed open after 413");
    let max = format!(
        "POST /null HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        u64::MAX
    );
    let (status, closed) = send_raw(&started, max.as_bytes());
    assert!(is_client_error(status) && closed, "{target:?}: {status:?}");
    still_healthy(&started, "huge Content-Length");
}

fn a_large_body_under_the_limit_is_never_kept(target: Target) {
    let started = start(target, &["--max-body-bytes", "200000000"]);
    let body = vec![b'x'; 160_000_000];
    let mut request = format!(
        "POST /null HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    drop(body);
    // The server may answer before the body is all sent, and close (hyper does).
    let (status, _) = send_raw(&started, &request);
    assert!(
        matches!(status, Some(405 | 200) | None),
        "{target:?}: {status:?}"
    );
    // 160 MB kept would be over the RSS bound.
    still_healthy(&started, "a 160 MB body under a 200 MB limit");
}

fn body_longer_than_declared(target: Target) {
    let started = start(target, &[]);
    let extra = "x".repeat(100);
    let request =
        format!("POST /null HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello{extra}");
    let (status, closed) = send_raw(&started, request.as_bytes());
    // The declared body is answered; what follows it is no request: 400 or a close.
    assert!(
        status.is_some(),
        "{target:?}: no answer to the declared request"
    );
    assert!(
        closed,
        "{target:?}: the bytes past the body were taken as a request"
    );
    still_healthy(&started, "body longer than declared");
}

fn garbage(target: Target) {
    let started = start(target, &[]);
    let noise: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (status, closed) = send_raw(&started, &noise);
    assert!(is_client_error(status) && closed, "{target:?}: {status:?}");
    still_healthy(&started, "garbage");
}

fn a_request_line_of_one_mebibyte(target: Target) {
    let started = start(target, &[]);
    let request = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(1 << 20));
    let (status, closed) = send_raw(&started, request.as_bytes());
    assert!(
        matches!(status, Some(414 | 431 | 400) | None),
        "{target:?}: {status:?}"
    );
    assert!(closed, "{target:?}");
    still_healthy(&started, "1 MiB request line");
}

fn ten_thousand_headers(target: Target) {
    let started = start(target, &[]);
    let headers: String = (0..10_000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let request = format!("GET /health HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
    let (status, closed) = send_raw(&started, request.as_bytes());
    assert!(
        matches!(status, Some(431 | 400) | None),
        "{target:?}: {status:?}"
    );
    assert!(closed, "{target:?}");
    still_healthy(&started, "10,000 headers");
}

fn pipelined_requests(target: Target) {
    let started = start(target, &[]);
    let mut connection = RawConnection::connect(started.child.addr());
    connection.send(&b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(3));
    for i in 0..3 {
        let response = connection.read_response();
        assert_eq!(
            response.map(|r| r.status),
            Some(200),
            "{target:?}: answer {i}"
        );
    }
    still_healthy(&started, "pipelining");
}

fn half_closed(target: Target) {
    let started = start(target, &[]);
    let stream = TcpStream::connect(started.child.addr()).unwrap();
    let mut connection = RawConnection::from_stream(stream.try_clone().unwrap());
    connection.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    // The request before the half-close is answered, then the connection ends.
    let status = connection.read_response().map(|r| r.status);
    assert_eq!(status, Some(200), "{target:?}");
    assert!(cut_off_by_server(stream), "{target:?}: left open");
    still_healthy(&started, "half-close");
}

fn a_client_that_never_reads(target: Target) {
    let started = start(target, &[]);
    let stream = TcpStream::connect(started.child.addr()).unwrap();
    // Many pipelined requests and no reads: the answers fill both socket buffers and
    // the server's writes block until the write timeout ends the connection.
    let writer = stream.try_clone().unwrap();
    writer
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let flood = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200_000);
    let sender = std::thread::spawn(move || {
        let _ = (&writer).write_all(&flood);
    });
    std::thread::sleep(Duration::from_secs(3));
    still_healthy(&started, "a client that never reads");
    assert!(cut_off_by_server(stream), "{target:?}: left open");
    let _ = sender.join();
}

/// An idle keep-alive connection is ended by the idle timeout and by nothing else: with
/// a long idle timeout it outlives several header-read timeouts and serves a second
/// request; with a short one the server closes it.
fn idle_keep_alive(target: Target) {
    let patient = start(
        target,
        &["--header-read-timeout", "200ms", "--idle-timeout", "60s"],
    );
    let mut idle = RawConnection::connect(patient.child.addr());
    assert_eq!(idle.get("/health").status, 200);
    // Five header-read timeouts with no byte sent: only the idle clock may run.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        idle.get("/health").status,
        200,
        "{target:?}: an idle connection was closed by the header-read timeout"
    );

    let started = start(
        target,
        &["--header-read-timeout", "60s", "--idle-timeout", "1s"],
    );
    let stream = TcpStream::connect(started.child.addr()).unwrap();
    let mut idle = RawConnection::from_stream(stream.try_clone().unwrap());
    assert_eq!(idle.get("/health").status, 200);
    assert!(
        cut_off_by_server(stream),
        "{target:?}: an idle connection was kept past the idle timeout"
    );
    still_healthy(&started, "idle keep-alive");
}

fn one_connection_too_many(target: Target) {
    let started = start(target, &["--max-connections", "3"]);
    let held: Vec<RawConnection> = (0..3)
        .map(|_| {
            let mut connection = RawConnection::connect(started.child.addr());
            assert_eq!(connection.get("/health").status, 200);
            connection
        })
        .collect();
    let (status, closed) = send_raw(&started, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, Some(503), "{target:?}: the fourth connection");
    assert!(closed, "{target:?}");
    drop(held);
    // Once they close (the server sees it at its next read), room is made again.
    let deadline = Instant::now() + ROOM_BOUND;
    loop {
        let (status, _) = send_raw(&started, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        if status == Some(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{target:?}: no room after closing: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Ten slow heads on a pool of two threads: each gets its 408 and the pool is free
/// again for `/health`. That a queued client's clock started at its accept (no fresh
/// timeout when a thread reaches it) is the blocking server's own unit test.
#[test]
fn queued_slow_clients_are_refused_and_the_pool_recovers() {
    let started = start(
        Target::Blocking,
        &["--threads", "2", "--header-read-timeout", "1s"],
    );
    let slow = partial_heads(&started, 10);
    let status = RawConnection::connect(started.child.addr())
        .get("/health")
        .status;
    assert_eq!(status, 200);
    for stream in slow {
        let status = RawConnection::from_stream(stream)
            .read_response()
            .map(|r| r.status);
        assert_eq!(status, Some(408), "a queued slow client");
    }
}

/// A body that arrives after its head is read and dropped to its last byte, not one
/// more: the request pipelined behind it is answered.
#[test]
fn a_late_body_is_skipped_exactly() {
    let started = start(Target::Blocking, &[]);
    let mut connection = RawConnection::connect(started.child.addr());
    connection.send(b"POST /null HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n");
    std::thread::sleep(Duration::from_millis(100));
    connection.send(b"0123456789GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(connection.read_response().map(|r| r.status), Some(405));
    assert_eq!(connection.read_response().map(|r| r.status), Some(200));
}

/// Every case, as one test per target.
macro_rules! hostile_cases {
    ($($module:ident => $target:expr),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[test] fn slowloris() { super::slowloris($target) }
            #[test] fn huge_content_length() { super::huge_content_length($target) }
            #[test] fn body_longer_than_declared() { super::body_longer_than_declared($target) }
            #[test] fn a_large_body_under_the_limit_is_never_kept() { super::a_large_body_under_the_limit_is_never_kept($target) }
            #[test] fn garbage() { super::garbage($target) }
            #[test] fn a_request_line_of_one_mebibyte() { super::a_request_line_of_one_mebibyte($target) }
            #[test] fn ten_thousand_headers() { super::ten_thousand_headers($target) }
            #[test] fn pipelined_requests() { super::pipelined_requests($target) }
            #[test] fn half_closed() { super::half_closed($target) }
            #[test] fn a_client_that_never_reads() { super::a_client_that_never_reads($target) }
            #[test] fn idle_keep_alive() { super::idle_keep_alive($target) }
            #[test] fn one_connection_too_many() { super::one_connection_too_many($target) }
        }
    )*};
}

hostile_cases! {
    blocking => Target::Blocking,
    asynchronous => Target::Async,
    hybrid => Target::Hybrid,
    upstream => Target::Upstream,
}
