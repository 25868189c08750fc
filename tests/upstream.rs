//! The mock upstream: latency, injected errors, and the hit counter behind /stats.

mod common;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::RawConnection;
use sync_async_bench::upstream::{self, fetch_stats, UpstreamConfig};

#[test]
fn counts_hits_applies_latency_and_injects_errors_evenly() {
    let upstream = upstream::spawn(UpstreamConfig {
        latency: Duration::from_millis(20),
        error_rate: 0.1,
        ..UpstreamConfig::default()
    })
    .unwrap();
    let mut connection = RawConnection::connect(upstream.addr());
    let statuses: Vec<u16> = (0..20)
        .map(|i| connection.get(&format!("/item/{i}")).status)
        .collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 500).count(), 2);
    assert_eq!(statuses[9], 500);
    assert_eq!(connection.get("/item/7").text(), "upstream /item/7\n");
    let stats = fetch_stats(&upstream.base_url()).unwrap();
    assert_eq!((stats.hits, stats.errors), (21, 2));
    assert_eq!(connection.get("/health").status, 200);
    assert_eq!(fetch_stats(&upstream.base_url()).unwrap().hits, 21);
}

/// One GET on a keep-alive connection, read to the end of its body: the status.
async fn get(stream: &mut tokio::net::TcpStream, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: upstream\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the upstream closed the connection");
        response.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&response);
        let Some(head_end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length: usize = text[..head_end]
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        if response.len() >= head_end + 4 + length {
            return text[9..12].parse().unwrap();
        }
    }
}

/// The latency is applied to every call: on tokio's paused clock, which moves only by
/// the timers the upstream sets, 20 calls of 20 ms take 400 ms of it, however fast or
/// slow the machine.
#[tokio::test(start_paused = true)]
async fn every_call_waits_the_configured_latency_on_the_clock() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = UpstreamConfig {
        latency: Duration::from_millis(20),
        ..UpstreamConfig::default()
    };
    let server = tokio::spawn(upstream::run(listener, config, std::future::pending()));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = tokio::time::Instant::now();
    for i in 0..20 {
        assert_eq!(get(&mut stream, &format!("/item/{i}")).await, 200);
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_millis(420),
        "20 calls of 20 ms took {waited:?} of the paused clock"
    );
    server.abort();
}
