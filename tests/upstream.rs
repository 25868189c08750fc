//! The mock upstream: latency, injected errors, and the hit counter behind /stats.

mod common;

use std::time::{Duration, Instant};

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
    let started = Instant::now();
    let statuses: Vec<u16> = (0..20)
        .map(|i| connection.get(&format!("/item/{i}")).status)
        .collect();
    // A lower bound: 20 calls of 20 ms each cannot end sooner; a slow machine only
    // makes them later, so this fails only if the latency was not applied.
    assert!(started.elapsed() >= Duration::from_millis(20 * 20));
    assert_eq!(statuses.iter().filter(|&&s| s == 500).count(), 2);
    assert_eq!(statuses[9], 500);
    assert_eq!(connection.get("/item/7").text(), "upstream /item/7\n");
    let stats = fetch_stats(&upstream.base_url()).unwrap();
    assert_eq!((stats.hits, stats.errors), (21, 2));
    assert_eq!(connection.get("/health").status, 200);
    assert_eq!(fetch_stats(&upstream.base_url()).unwrap().hits, 21);
}
