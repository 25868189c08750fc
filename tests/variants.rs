//! The articles' patterns and anti-patterns as server variants: each serves correct
//! responses, and each shows the behaviour it exists to show (runtime lag when a handler
//! blocks, a circuit that opens, a bounded queue that refuses, fan-out policies).

mod common;

use std::time::Duration;

use common::{dead_address, RawConnection};
use sync_async_bench::server::{self, Offload, ServerConfig, Style, StyleConfig, Variant};
use sync_async_bench::service::Running;
use sync_async_bench::upstream::{self, UpstreamConfig};
use sync_async_bench::workload::{FanoutPolicy, FanoutSpec, IoMode, IoSpec, WorkloadConfig};

fn style(style: Style, variant: Variant) -> StyleConfig {
    StyleConfig {
        variant,
        workers: 1,
        threads: 8,
        ..StyleConfig::new(style)
    }
}

fn upstream_workload(base: String) -> WorkloadConfig {
    WorkloadConfig {
        io: IoSpec {
            calls: 2,
            latency: Duration::ZERO,
            mode: IoMode::Upstream,
        },
        fanout: FanoutSpec {
            calls: 6,
            limit: Some(3),
            policy: FanoutPolicy::WaitAll,
        },
        upstream: Some(base),
        upstream_timeout: Duration::from_secs(5),
        ..WorkloadConfig::default()
    }
}

fn start(style: StyleConfig, workload: WorkloadConfig) -> Running {
    server::spawn(ServerConfig::new(style, workload)).unwrap()
}

fn bodies(server: &Running) -> Vec<(u16, String)> {
    let mut connection = RawConnection::connect(server.addr());
    ["/io", "/cpu", "/mixed", "/fanout"]
        .iter()
        .map(|path| {
            let response = connection.get(path);
            (response.status, response.text())
        })
        .collect()
}

#[test]
fn every_variant_serves_the_standard_bodies() {
    let up = upstream::spawn(UpstreamConfig {
        latency: Duration::from_millis(1),
        ..UpstreamConfig::default()
    })
    .unwrap();
    let workload = upstream_workload(up.base_url());
    let reference = bodies(&start(
        style(Style::Async, Variant::Standard),
        workload.clone(),
    ));
    assert!(
        reference.iter().all(|(status, _)| *status == 200),
        "{reference:?}"
    );
    let variants = [
        style(Style::Async, Variant::BlockingInAsync),
        style(Style::Async, Variant::BlockingInSpawnBlocking),
        style(Style::Async, Variant::NoPool),
        style(Style::Async, Variant::NoTimeout),
        style(Style::Async, Variant::CircuitBreaker),
        style(Style::Blocking, Variant::NoPool),
        style(Style::Blocking, Variant::CircuitBreaker),
        style(Style::Blocking, Variant::BoundedQueue),
        StyleConfig {
            offload: Offload::SpawnBlockingCapped,
            ..style(Style::Hybrid, Variant::Standard)
        },
    ];
    for variant in variants {
        let got = bodies(&start(variant.clone(), workload.clone()));
        assert_eq!(got, reference, "{}", variant.label());
    }
}

fn lag_max_ms(server: &Running) -> f64 {
    let response = RawConnection::connect(server.addr()).get("/lag");
    assert_eq!(response.status, 200);
    let lag: serde_json::Value = serde_json::from_str(&response.text()).unwrap();
    assert!(lag["samples"].as_u64().unwrap() > 0);
    lag["max_ms"].as_f64().unwrap()
}

/// `/io` as one 400 ms sleep: inline in a blocking-in-async handler, it holds the
/// runtime's worker that long.
fn sleeps_400ms() -> WorkloadConfig {
    WorkloadConfig {
        io: IoSpec {
            calls: 1,
            latency: Duration::from_millis(400),
            mode: IoMode::Sleep,
        },
        ..WorkloadConfig::default()
    }
}

/// The runner names each cell's window before its load: a stall before it (the
/// warm-up's) is in the figures since start, not in the window's.
#[test]
fn a_named_lag_window_leaves_out_the_stalls_before_it() {
    let workload = sleeps_400ms();
    let server = start(style(Style::Async, Variant::BlockingInAsync), workload);
    assert_eq!(RawConnection::connect(server.addr()).get("/io").status, 200);
    let mut control = RawConnection::connect(server.addr());
    let named = control.get("/lag/window?begins_in_ms=0&lasts_ms=200");
    assert_eq!(named.status, 200, "{}", named.text());
    std::thread::sleep(Duration::from_millis(300));
    let lag: serde_json::Value = serde_json::from_str(&control.get("/lag").text()).unwrap();
    assert!(lag["max_ms"].as_f64().unwrap() >= 250.0, "{lag}");
    let window = &lag["window"];
    assert!(window["samples"].as_u64().unwrap() > 0, "{lag}");
    // Relative to the stall itself, not to this machine's speed.
    assert!(
        window["max_ms"].as_f64().unwrap() * 2.0 < lag["max_ms"].as_f64().unwrap(),
        "the 400 ms stall came before the window: {lag}"
    );
    assert_eq!(
        control.get("/lag/window?begins_in_ms=soon").status,
        400,
        "a malformed window is refused"
    );
}

#[test]
fn runtime_lag_is_large_when_a_handler_blocks_and_small_when_it_awaits() {
    let workload = sleeps_400ms();
    let mut lags = Vec::new();
    for variant in [Variant::BlockingInAsync, Variant::Standard] {
        let server = start(style(Style::Async, variant), workload.clone());
        std::thread::sleep(Duration::from_millis(50));
        let mut connection = RawConnection::connect(server.addr());
        for _ in 0..2 {
            assert_eq!(connection.get("/io").status, 200);
        }
        lags.push(lag_max_ms(&server));
    }
    let (blocked, awaiting) = (lags[0], lags[1]);
    // A worker blocked 400 ms lags at least most of that, whatever the machine; one
    // that only awaits lags by its scheduling alone: compared with each other, not timed.
    assert!(
        blocked >= 250.0,
        "max lag {blocked} ms, the worker was blocked 400 ms"
    );
    assert!(
        awaiting * 2.0 < blocked,
        "max lag {awaiting} ms while only awaiting, {blocked} ms while blocked"
    );
    let blocking = start(
        style(Style::Blocking, Variant::Standard),
        WorkloadConfig::default(),
    );
    assert_eq!(
        RawConnection::connect(blocking.addr()).get("/lag").status,
        404,
        "no runtime, no lag"
    );
}

#[test]
fn the_circuit_opens_on_a_dead_upstream_and_then_fails_fast() {
    for kind in [Style::Async, Style::Blocking] {
        let workload = upstream_workload(format!("http://{}", dead_address()));
        let server = start(style(kind, Variant::CircuitBreaker), workload);
        let mut connection = RawConnection::connect(server.addr());
        let statuses: Vec<u16> = (0..5).map(|_| connection.get("/io").status).collect();
        assert!(statuses.iter().all(|s| *s == 502), "{kind:?}: {statuses:?}");
        // "circuit open" is the answer given without calling the upstream at all.
        let response = connection.get("/io");
        assert_eq!(response.status, 503, "{kind:?}: {}", response.text());
        assert!(
            response.text().contains("circuit open"),
            "{}",
            response.text()
        );
    }
}

#[test]
fn a_bounded_queue_refuses_what_it_cannot_hold() {
    let config = StyleConfig {
        threads: 1,
        ..style(Style::Blocking, Variant::BoundedQueue)
    };
    let server = start(config, WorkloadConfig::default());
    // One keep-alive connection holds the only thread, one waits in the queue (size 1).
    let mut holder = RawConnection::connect(server.addr());
    assert_eq!(holder.get("/null").status, 200);
    let _waiting = RawConnection::connect(server.addr());
    std::thread::sleep(Duration::from_millis(100));
    let mut refused = RawConnection::connect(server.addr());
    refused.send(b"GET /null HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = refused.read_response().expect("a 503, not a hang");
    assert_eq!(response.status, 503);
    assert!(response.text().contains("queue is full"));
}

#[test]
fn fanout_policies_decide_what_a_failed_call_does() {
    let failing = upstream::spawn(UpstreamConfig {
        latency: Duration::from_millis(1),
        error_rate: 0.25,
        ..UpstreamConfig::default()
    })
    .unwrap();
    for kind in [Style::Async, Style::Blocking] {
        for (policy, expected) in [
            (FanoutPolicy::WaitAll, 502),
            (FanoutPolicy::FailFast, 502),
            (FanoutPolicy::CollectAll, 200),
        ] {
            let mut workload = upstream_workload(failing.base_url());
            workload.fanout = FanoutSpec {
                calls: 8,
                limit: None,
                policy,
            };
            let server = start(style(kind, Variant::Standard), workload);
            let response = RawConnection::connect(server.addr()).get("/fanout");
            assert_eq!(
                response.status,
                expected,
                "{kind:?} {policy:?}: {}",
                response.text()
            );
            if policy == FanoutPolicy::CollectAll {
                assert!(
                    response.text().contains("ok=6 failed=2"),
                    "{}",
                    response.text()
                );
            }
        }
    }
}

#[test]
fn the_upstream_refuses_calls_over_its_limit() {
    let limited = upstream::spawn(UpstreamConfig {
        latency: Duration::from_millis(300),
        max_inflight: Some(1),
        ..UpstreamConfig::default()
    })
    .unwrap();
    let addr = limited.addr();
    let first = std::thread::spawn(move || RawConnection::connect(addr).get("/item/1").status);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(RawConnection::connect(addr).get("/item/2").status, 503);
    assert_eq!(first.join().unwrap(), 200);
    let stats = upstream::fetch_stats(&limited.base_url()).unwrap();
    assert_eq!(stats.rejected, 1);
}
