//! Every style, in-process on 127.0.0.1:0: correct routes, identical bodies, keep-alive,
//! bad input, a dead or slow upstream, and graceful shutdown.

mod common;

use std::time::Duration;

use common::{dead_address, RawConnection};
use sync_async_bench::server::{self, ServerConfig, StyleConfig};
use sync_async_bench::upstream::{self, UpstreamConfig};
use sync_async_bench::verify::{self, styles_to_verify, VerifyOptions};
use sync_async_bench::workload::{IoMode, IoSpec, WorkloadConfig};

fn sleep_workload(latency: Duration) -> WorkloadConfig {
    WorkloadConfig {
        io: IoSpec {
            calls: 1,
            latency,
            mode: IoMode::Sleep,
        },
        ..WorkloadConfig::default()
    }
}

fn upstream_workload(upstream: String, timeout: Duration) -> WorkloadConfig {
    WorkloadConfig {
        io: IoSpec {
            calls: 2,
            latency: Duration::ZERO,
            mode: IoMode::Upstream,
        },
        upstream: Some(upstream),
        upstream_timeout: timeout,
        ..WorkloadConfig::default()
    }
}

fn start(style: &StyleConfig, workload: WorkloadConfig) -> sync_async_bench::service::Running {
    server::spawn(ServerConfig::new(style.clone(), workload)).expect("server starts")
}

#[test]
fn verify_finds_every_route_identical_and_correct_in_every_style() {
    let report = verify::verify(&VerifyOptions::default()).unwrap();
    assert!(report.passed(), "{}", report.render());
    assert_eq!(report.styles.len(), 5);
}

#[test]
fn sleep_io_reports_the_wait_it_achieved() {
    for style in styles_to_verify() {
        let server = start(&style, sleep_workload(Duration::from_millis(15)));
        let mut connection = RawConnection::connect(server.addr());
        let response = connection.get("/io");
        assert_eq!(response.status, 200, "{}", style.label());
        assert_eq!(response.text(), "io mode=sleep calls=1 latency_us=15000\n");
        let waited: u64 = response
            .header("x-sabench-waited-us")
            .unwrap()
            .parse()
            .unwrap();
        assert!(waited >= 15_000, "{}: waited {waited} µs", style.label());
    }
}

#[test]
fn one_keep_alive_connection_serves_150_sequential_requests() {
    for style in styles_to_verify() {
        let server = start(&style, sleep_workload(Duration::from_millis(1)));
        let mut connection = RawConnection::connect(server.addr());
        for i in 0..150 {
            let path = ["/null", "/cpu", "/health"][i % 3];
            let response = connection.get(path);
            assert_eq!(response.status, 200, "{} request {i}", style.label());
        }
    }
}

#[test]
fn garbage_gets_400_and_the_server_keeps_serving() {
    for style in styles_to_verify() {
        let server = start(&style, WorkloadConfig::default());
        let mut bad = RawConnection::connect(server.addr());
        bad.send(b"\x16\x03\x01 this is not http\r\n\r\n");
        let response = bad.read_response().expect("a 400 before closing");
        assert_eq!(response.status, 400, "{}", style.label());
        assert!(bad.is_closed_by_server(), "{}", style.label());
        let mut good = RawConnection::connect(server.addr());
        assert_eq!(good.get("/null").status, 200, "{}", style.label());
        assert_eq!(good.get("/nope").status, 404, "{}", style.label());
        good.send(b"POST /null HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        assert_eq!(
            good.read_response().unwrap().status,
            405,
            "{}",
            style.label()
        );
        assert_eq!(good.get("/health").status, 200, "{}", style.label());
    }
}

#[test]
fn a_dead_upstream_gives_a_prompt_502_with_a_clear_body() {
    let dead = format!("http://{}", dead_address());
    for style in styles_to_verify() {
        let server = start(
            &style,
            upstream_workload(dead.clone(), Duration::from_secs(5)),
        );
        let mut connection = RawConnection::connect(server.addr());
        // "unreachable" is the refused connect, not the 5 s timeout's "did not answer".
        for path in ["/io", "/mixed", "/fanout"] {
            let response = connection.get(path);
            assert_eq!(response.status, 502, "{} {path}", style.label());
            assert!(
                response.text().contains("unreachable"),
                "{}: {}",
                style.label(),
                response.text()
            );
        }
        assert_eq!(connection.get("/cpu").status, 200, "{}", style.label());
    }
}

#[test]
fn a_stalled_or_failing_upstream_gives_502_within_the_timeout() {
    let stalled = upstream::spawn(UpstreamConfig {
        latency: Duration::from_secs(30),
        grace: Duration::from_millis(50),
        ..UpstreamConfig::default()
    })
    .unwrap();
    let failing = upstream::spawn(UpstreamConfig {
        latency: Duration::ZERO,
        error_rate: 1.0,
        ..UpstreamConfig::default()
    })
    .unwrap();
    for style in styles_to_verify() {
        let timeout = Duration::from_millis(300);
        let server = start(&style, upstream_workload(stalled.base_url(), timeout));
        // The stalled upstream would answer after 30 s: "did not answer within" is the
        // 300 ms timeout's own answer.
        let response = RawConnection::connect(server.addr()).get("/io");
        assert_eq!(response.status, 502, "{}", style.label());
        assert!(
            response.text().contains("did not answer within"),
            "{}: {}",
            style.label(),
            response.text()
        );
        drop(server);

        let server = start(&style, upstream_workload(failing.base_url(), timeout));
        let response = RawConnection::connect(server.addr()).get("/io");
        assert_eq!(response.status, 502, "{}", style.label());
        assert!(
            response.text().contains("answered HTTP 500"),
            "{}: {}",
            style.label(),
            response.text()
        );
    }
}

#[test]
fn graceful_shutdown_lets_an_in_flight_slow_request_finish() {
    for style in styles_to_verify() {
        let server = start(&style, sleep_workload(Duration::from_millis(700)));
        let addr = server.addr();
        let mut connection = RawConnection::connect(addr);
        connection.send(b"GET /io HTTP/1.1\r\nHost: x\r\n\r\n");
        std::thread::sleep(Duration::from_millis(200));
        let stopping = std::thread::spawn(move || server.stop());
        let response = connection
            .read_response()
            .expect("the in-flight request is answered");
        assert_eq!(response.status, 200, "{}", style.label());
        assert_eq!(response.text(), "io mode=sleep calls=1 latency_us=700000\n");
        stopping.join().unwrap().expect("server stops cleanly");
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "{}: still accepting after shutdown",
            style.label()
        );
    }
}

/// Voluntary context switches so far of this process's threads named `name`.
fn switches_of_threads_named(name: &str) -> u64 {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap();
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}

#[test]
fn idle_blocking_threads_sleep_until_a_request_or_shutdown_wakes_them() {
    // A thread per connection, 20 idle keep-alive connections: their threads block in
    // read (no polling for shutdown), and shutdown still ends them at once.
    let style = StyleConfig {
        thread_per_connection: true,
        ..StyleConfig::new(server::Style::Blocking)
    };
    let server = start(&style, sleep_workload(Duration::from_millis(1)));
    let mut connections: Vec<RawConnection> = (0..20)
        .map(|_| RawConnection::connect(server.addr()))
        .collect();
    for connection in &mut connections {
        assert_eq!(connection.get("/io").status, 200);
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = switches_of_threads_named("connection");
    std::thread::sleep(Duration::from_secs(1));
    let woken = switches_of_threads_named("connection") - before;
    // A 100 ms poll would wake each of the 20 threads 10 times in that second.
    assert!(woken < 20, "idle threads woke {woken} times in a second");
    server.stop().expect("server stops cleanly");
    for connection in &mut connections {
        assert!(
            connection.is_closed_by_server(),
            "an idle connection was closed at shutdown"
        );
    }
}
