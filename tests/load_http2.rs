//! `sabench load --http2` (issue 31): streams on shared connections whose counts add
//! up, the coordinated-omission correction when every stream is stalled, a stream
//! reset and a GOAWAY as their own error classes, h2 over TLS (ALPN), and clear
//! refusals of a target that does not speak HTTP/2. The targets are in-test HTTP/2
//! servers on 127.0.0.1:0: sabench's own accept loop (HTTP/1.1 and h2c on one port),
//! and one on the `h2` crate that can reset a stream or send GOAWAY.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod common;

use bytes::Bytes;
use sync_async_bench::load::http2::Protocol;
use sync_async_bench::load::{self, LoadConfig, LoadError, LoadReport, Schedule};

/// What the `h2`-crate target does with a request.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// Answer 200 "ok" after this delay.
    Answer(Duration),
    /// Reset the request's stream (RST_STREAM, REFUSED_STREAM).
    Reset,
}

/// What the target saw.
#[derive(Default)]
struct Seen {
    /// Connections that carried a request (the generator's checks before the run
    /// open others).
    connections: AtomicUsize,
    requests: AtomicU64,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

/// An HTTP/2 (h2c) server on 127.0.0.1:0 built on the `h2` crate: `script` decides,
/// from the request's path and its number on the server (from 0), what it does.
fn h2_target(
    script: impl Fn(&str, u64) -> Action + Send + Sync + 'static,
) -> (SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let shared = seen.clone();
    let script = Arc::new(script);
    let addr = accept_on_a_thread(move |socket| {
        tokio::spawn(serve_h2(socket, shared.clone(), script.clone()));
    });
    (addr, seen)
}

/// A listener on 127.0.0.1:0 whose connections `each` takes, on a thread of its own
/// running a current-thread runtime; its address.
fn accept_on_a_thread(each: impl Fn(tokio::net::TcpStream) + Send + 'static) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((socket, _)) = listener.accept().await {
                each(socket);
            }
        });
    });
    addr
}

async fn serve_h2(
    socket: tokio::net::TcpStream,
    seen: Arc<Seen>,
    script: Arc<impl Fn(&str, u64) -> Action + Send + Sync + 'static>,
) {
    let Ok(mut connection) = h2::server::handshake(socket).await else {
        return;
    };
    let mut first = true;
    while let Some(Ok((request, mut respond))) = connection.accept().await {
        if std::mem::take(&mut first) {
            seen.connections.fetch_add(1, Ordering::SeqCst);
        }
        let number = seen.requests.fetch_add(1, Ordering::SeqCst);
        match script(request.uri().path(), number) {
            Action::Reset => respond.send_reset(h2::Reason::REFUSED_STREAM),
            Action::Answer(delay) => {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    seen.most_in_flight.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                    let response = http::Response::new(());
                    if let Ok(mut body) = respond.send_response(response, false) {
                        let _ = body.send_data(Bytes::from_static(b"ok"), true);
                    }
                });
            }
        }
    }
}

fn http2(url: &str, connections: usize, streams: usize) -> LoadConfig {
    LoadConfig {
        protocol: Protocol::Http2,
        streams,
        requests: None,
        ..LoadConfig::closed(url, connections, Duration::from_secs(1))
    }
}

fn run(config: &LoadConfig) -> LoadReport {
    load::run(config).unwrap_or_else(|error| panic!("the run failed: {error}"))
}

#[test]
fn streams_share_each_connection_and_every_request_is_counted_once() {
    let (addr, seen) = h2_target(|_, _| Action::Answer(Duration::from_millis(20)));
    let config = LoadConfig {
        duration: None,
        requests: Some(400),
        ..http2(&format!("http://{addr}/"), 2, 4)
    };
    let report = run(&config);
    assert_eq!(report.protocol, Protocol::Http2);
    assert_eq!(report.streams, 4);
    assert_eq!(report.requests.ok, 400, "{}", report.render());
    assert!(report.requests.conserved(), "{:?}", report.requests);
    assert_eq!(report.requests.sent, report.requests.answered);
    // What the target received: each request once (none lost, none doubled), on two
    // connections, with the eight streams in flight at once.
    assert_eq!(seen.requests.load(Ordering::SeqCst), 400);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    assert_eq!(seen.most_in_flight.load(Ordering::SeqCst), 8);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["protocol"], "http2");
    assert!(report
        .render()
        .contains("HTTP/2 with 4 stream(s) a connection"));
}

#[test]
fn requests_that_waited_for_a_stalled_stream_count_from_their_intended_time() {
    // Both streams of the one connection stall for 500 ms on the target's 100th and
    // 101st requests; at 100 req/s some 50 requests come due meanwhile and wait for a
    // stream. Their latency counts from when they were due; their service time (from
    // the send) stays short.
    let (addr, _) = h2_target(|_, number| match number {
        100 | 101 => Action::Answer(Duration::from_millis(500)),
        _ => Action::Answer(Duration::ZERO),
    });
    let config = LoadConfig {
        schedule: Schedule::Constant { rate: 100.0 },
        duration: Some(Duration::from_secs(3)),
        ..http2(&format!("http://{addr}/"), 1, 2)
    };
    let report = run(&config);
    assert_eq!(report.requests.scheduled, 300);
    assert_eq!(report.requests.ok, 300, "{}", report.render());
    let ok = &report.latency_ms.ok;
    let corrected = ok.corrected.unwrap();
    let service = ok.service.unwrap();
    assert!(corrected.max >= 450.0, "{}", report.render());
    // About 50 of 300 waited 0–500 ms: the top 5 % waited more than about 300 ms.
    assert!(corrected.p95 >= 150.0, "{}", report.render());
    assert!(service.p95 < 100.0, "{}", report.render());
}

#[test]
fn a_reset_stream_is_its_own_error_class_and_spares_the_connection() {
    let (addr, seen) = h2_target(|path, _| match path {
        "/reset" => Action::Reset,
        _ => Action::Answer(Duration::ZERO),
    });
    let mix = ["/ok", "/reset"]
        .iter()
        .map(|path| (1.0, format!("http://{addr}{path}")))
        .collect();
    let config = LoadConfig {
        mix,
        mix_names: vec![None, None],
        duration: None,
        requests: Some(200),
        ..http2(&format!("http://{addr}/ok"), 1, 2)
    };
    let report = run(&config);
    assert!(report.requests.conserved(), "{:?}", report.requests);
    assert_eq!(report.requests.answered, 200, "{}", report.render());
    let errors_of = |name: &str| {
        let url = report.per_url.iter().find(|url| url.name == name).unwrap();
        let errors: Vec<(String, u64)> = url
            .errors
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(class, n)| (class.clone(), *n))
            .collect();
        (url.requests.answered, errors)
    };
    let (reset, errors) = errors_of("/reset");
    assert!(reset > 50);
    assert_eq!(errors, vec![("stream_reset".to_string(), reset)]);
    let (ok, errors) = errors_of("/ok");
    assert!(ok > 50);
    assert!(errors.is_empty(), "{errors:?}");
    // A reset ends a stream, not its connection.
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
}

/// An h2c server on 127.0.0.1:0 that answers every request's HEADERS with a GOAWAY
/// whose last stream id is below it (the request is refused, never processed), holds
/// the connection open a moment, then closes it. Returns its address and how many
/// connections it served.
fn goaway_target() -> (SocketAddr, Arc<AtomicUsize>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || {
                let mut preface = [0u8; 24];
                if stream.read_exact(&mut preface).is_err() {
                    return;
                }
                // The server's SETTINGS (empty).
                let _ = stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
                let mut header = [0u8; 9];
                while stream.read_exact(&mut header).is_ok() {
                    let length = u32::from_be_bytes([0, header[0], header[1], header[2]]);
                    let mut payload = vec![0u8; length as usize];
                    if stream.read_exact(&mut payload).is_err() {
                        return;
                    }
                    match (header[3], header[4]) {
                        // SETTINGS, not an ACK: acknowledge it.
                        (4, 0) => {
                            let _ = stream.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]);
                        }
                        // HEADERS: GOAWAY, last stream 0, ENHANCE_YOUR_CALM (0xb).
                        (1, _) => {
                            count.fetch_add(1, Ordering::SeqCst);
                            let goaway = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xb];
                            let _ = stream.write_all(&goaway);
                            std::thread::sleep(Duration::from_millis(50));
                            return;
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (addr, served)
}

#[test]
fn a_request_a_goaway_refused_is_its_own_error_class() {
    let (addr, served) = goaway_target();
    let config = LoadConfig {
        duration: None,
        requests: Some(20),
        ..http2(&format!("http://{addr}/"), 1, 1)
    };
    let report = run(&config);
    assert!(report.requests.conserved(), "{:?}", report.requests);
    assert_eq!(report.errors["goaway"], 20, "{}", report.render());
    assert_eq!(report.requests.failed, 20);
    // Each refused request had a connection of its own: the next opened a new one.
    assert_eq!(served.load(Ordering::SeqCst), 20);
}

/// sabench's own accept loop on 127.0.0.1:0 speaking `protocols`, each answer naming
/// the protocol it saw and the path ("HTTP/2.0 /null"); the runtime keeps it serving.
fn sabench_server(
    protocols: sync_async_bench::net::Protocols,
) -> (tokio::runtime::Runtime, SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = |request: http::Request<hyper::body::Incoming>| async move {
        let body = format!("{:?} {}", request.version(), request.uri().path());
        Ok::<_, std::io::Error>(http::Response::new(http_body_util::Full::new(Bytes::from(
            body,
        ))))
    };
    runtime.spawn(sync_async_bench::net::serve_http(
        listener,
        handler,
        sync_async_bench::net::Limits::default(),
        protocols,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    (runtime, addr)
}

#[test]
fn sabench_s_own_server_answers_http1_and_h2c_on_one_port() {
    let (_server, addr) = sabench_server(sync_async_bench::net::Protocols::Http1AndH2c);
    let url = format!("http://{addr}/null");
    let one = run(&LoadConfig {
        duration: None,
        requests: Some(100),
        ..LoadConfig::closed(&url, 2, Duration::from_secs(1))
    });
    let two = run(&LoadConfig {
        duration: None,
        requests: Some(100),
        ..http2(&url, 2, 3)
    });
    assert_eq!((one.requests.ok, two.requests.ok), (100, 100));
    assert_eq!(one.protocol, Protocol::Http1);
    assert_eq!(two.protocol, Protocol::Http2);
    // The bodies name the protocol the server saw: "HTTP/1.1 /null" and "HTTP/2.0 /null".
    assert_eq!(two.bytes_received, 100 * "HTTP/2.0 /null".len() as u64);
}

#[test]
fn a_target_that_speaks_only_http1_is_refused_before_the_run() {
    let (_server, addr) = sabench_server(sync_async_bench::net::Protocols::Http1);
    let error = load::run(&http2(&format!("http://{addr}/"), 1, 1)).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, LoadError::Settings(_)), "{message}");
    assert!(
        message.contains("does not speak HTTP/2 in cleartext"),
        "{message}"
    );
    assert!(message.contains("run without --http2"), "{message}");
}

#[test]
fn streams_need_http2_and_http2_refuses_what_it_cannot_do() {
    let url = "http://127.0.0.1:1/";
    let cases = [
        (
            LoadConfig {
                streams: 4,
                ..LoadConfig::closed(url, 1, Duration::from_secs(1))
            },
            "--streams needs --http2",
        ),
        (
            LoadConfig {
                ramp: Some(100.0),
                schedule: Schedule::Constant { rate: 10.0 },
                ..http2(url, 1, 1)
            },
            "--ramp",
        ),
        (http2(url, 1, 0), "--streams must be 1 to"),
    ];
    for (config, says) in cases {
        let message = load::run(&config).unwrap_err().to_string();
        assert!(message.contains(says), "{message}");
    }
}

/// An h2 server over TLS on 127.0.0.1:0 offering `alpn`, with a self-signed
/// certificate for localhost (its PEM is returned), answering 200 "ok".
fn tls_h2_target(alpn: &[&[u8]]) -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let pem = certified.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let port = accept_on_a_thread(move |socket| {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(socket).await else {
                return;
            };
            let service = hyper::service::service_fn(|_| async {
                Ok::<_, std::io::Error>(http::Response::new(http_body_util::Full::new(
                    Bytes::from_static(b"ok"),
                )))
            });
            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    })
    .port();
    (port, pem)
}

#[test]
fn h2_over_tls_is_chosen_by_alpn_and_a_server_without_it_is_refused() {
    let (port, _) = tls_h2_target(&[b"h2"]);
    let mut config = LoadConfig {
        duration: None,
        requests: Some(60),
        ..http2(&format!("https://localhost:{port}/"), 2, 3)
    };
    config.tls.insecure = true;
    let report = run(&config);
    assert_eq!(report.requests.ok, 60, "{}", report.render());

    let (port, _) = tls_h2_target(&[b"http/1.1"]);
    config.url = format!("https://localhost:{port}/");
    let error = load::run(&config).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, LoadError::Settings(_)), "{message}");
    assert!(message.contains("did not agree to HTTP/2"), "{message}");
    assert!(message.contains("run without --http2"), "{message}");
}

#[test]
fn sabench_load_http2_reports_its_protocol_in_the_text_and_the_published_json() {
    let (addr, seen) = h2_target(|_, _| Action::Answer(Duration::ZERO));
    let json = std::env::temp_dir().join(format!("sabench-h2-{}.json", std::process::id()));
    let url = format!("http://{addr}/");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sabench"))
        .args([
            "load",
            &url,
            "--http2",
            "-c",
            "2",
            "--streams",
            "4",
            "-n",
            "200",
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    common::assert_success(&output);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("HTTP/2 with 4 stream(s) a connection"),
        "{text}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    let schema = common::schema::schema();
    let problems = common::schema::validate(&schema, &schema, &report, "$");
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(report["protocol"], "http2");
    assert_eq!(report["streams"], 4);
    assert_eq!(report["errors"]["stream_reset"], 0);
    assert_eq!(report["requests"]["ok"], 200);
    assert_eq!(seen.requests.load(Ordering::SeqCst), 200);
    // --streams is HTTP/2's: without --http2 it is refused as bad input (exit 2).
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_sabench"))
        .args(["load", &url, "--streams", "4", "-n", "10"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--http2"));
}
