//! Hostile clients against the blocking style (issue 10, first part): slow partial
//! heads, a huge Content-Length, an oversized head, idle keep-alive connections. Each
//! case checks that the hostile connection gets a 4xx or is closed, and that a normal
//! request from a fresh connection is answered afterwards. Short limits keep it quick;
//! bounds are generous so a slow machine cannot fail it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::RawConnection;
use sync_async_bench::server::{self, Limits, ServerConfig, StyleConfig};
use sync_async_bench::service::Running;
use sync_async_bench::workload::WorkloadConfig;

/// A blocking pool of `threads` with short limits.
fn blocking(threads: usize) -> Running {
    let mut style = StyleConfig::new(server::Style::Blocking);
    style.threads = threads;
    let mut config = ServerConfig::new(style, WorkloadConfig::default());
    config.limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    server::spawn(config).expect("server starts")
}

/// Whether the server ended the connection within 3 s (EOF or reset, after any
/// answer), as opposed to leaving it open: a read that times out is not a close.
fn cut_off_by_server(mut stream: TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut chunk = [0u8; 4096];
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

fn health_from_a_fresh_connection(server: &Running) -> u16 {
    RawConnection::connect(server.addr()).get("/health").status
}

#[test]
fn slowloris_holds_a_pool_only_until_the_header_timeout() {
    let server = blocking(4);
    // Twice as many slow clients as threads, each trickling a byte every 100 ms.
    let mut slow: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = TcpStream::connect(server.addr()).unwrap();
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            stream
        })
        .collect();
    let trickle_until = Instant::now() + Duration::from_millis(1_500);
    while Instant::now() < trickle_until {
        for stream in &mut slow {
            let _ = stream.write_all(b"X");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every slow client was cut off, though it kept sending.
    for stream in slow {
        assert!(cut_off_by_server(stream), "a slow client was left open");
    }
    let started = Instant::now();
    assert_eq!(health_from_a_fresh_connection(&server), 200);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_huge_content_length_is_refused_before_its_body_is_read() {
    let server = blocking(2);
    let mut connection = RawConnection::connect(server.addr());
    connection.send(
        b"POST /null HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\nsome body bytes",
    );
    let response = connection.read_response().expect("an answer, not silence");
    assert_eq!(response.status, 413);
    assert!(connection.is_closed_by_server());
    // The largest Content-Length there is does not overflow anything either.
    let mut connection = RawConnection::connect(server.addr());
    connection.send(
        format!(
            "POST /null HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            u64::MAX
        )
        .as_bytes(),
    );
    let status = connection.read_response().map(|r| r.status);
    assert!(matches!(status, Some(400 | 413) | None), "{status:?}");
    assert_eq!(health_from_a_fresh_connection(&server), 200);
}

#[test]
fn an_endless_request_head_is_refused() {
    let server = blocking(2);
    let stream = TcpStream::connect(server.addr()).unwrap();
    let mut connection = RawConnection::from_stream(stream.try_clone().unwrap());
    let long_target = "a".repeat(1024 * 1024);
    connection.send(format!("GET /{long_target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    let status = connection.read_response().map(|r| r.status);
    assert!(matches!(status, Some(431) | None), "{status:?}");
    assert!(cut_off_by_server(stream));
    assert_eq!(health_from_a_fresh_connection(&server), 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = blocking(1);
    let stream = TcpStream::connect(server.addr()).unwrap();
    let mut idle = RawConnection::from_stream(stream.try_clone().unwrap());
    assert_eq!(idle.get("/health").status, 200);
    // The only thread is held by this idle connection until the idle timeout frees it.
    let started = Instant::now();
    assert_eq!(health_from_a_fresh_connection(&server), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the fresh connection waited for the idle one to be let go"
    );
    assert!(cut_off_by_server(stream));
}
