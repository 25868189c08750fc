//! `sabench load` for real services (issue 15): method, headers and body; a weighted
//! URL mix; Poisson arrivals (their gaps written by --send-log and tested against the
//! exponential distribution); a new connection per request with its connect time; and
//! k6-style thresholds that fail a CI job with exit status 3.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// One request as the recording target saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Its number on its connection (0: the first).
    on_connection: usize,
}

/// A loopback HTTP/1.1 server that records every request (reading bodies by their
/// Content-Length) and answers 200 "ok", closing when asked.
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = shared.clone();
                std::thread::spawn(move || serve(stream, &seen));
            }
        });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, seen: &Mutex<Vec<Seen>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    for on_connection in 0.. {
        let (head_len, mut request) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut parsed = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(len)) = parsed.parse(&buffer) {
                let request = Seen {
                    method: parsed.method.unwrap_or("").to_string(),
                    path: parsed.path.unwrap_or("").to_string(),
                    headers: parsed
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).to_string(),
                            )
                        })
                        .collect(),
                    body: Vec::new(),
                    on_connection,
                };
                break (len, request);
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        while buffer.len() < head_len + length {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        request.body = buffer[head_len..head_len + length].to_vec();
        buffer.drain(..head_len + length);
        seen.lock().unwrap().push(request);
        let connection = if close { "Connection: close\r\n" } else { "" };
        let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n{connection}\r\nok\n");
        if stream.write_all(reply.as_bytes()).is_err() || close {
            return;
        }
    }
}

fn sabench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sabench"))
        .arg("load")
        .args(args)
        .output()
        .unwrap()
}

fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sabench-requests-{}-{name}", std::process::id()))
}

fn json_of(args: &[&str], name: &str) -> (Output, Value) {
    let path = scratch(name);
    let path_text = path.to_string_lossy().into_owned();
    let mut all = args.to_vec();
    all.extend(["--json", &path_text, "-q"]);
    let output = sabench(&all);
    let value = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    let _ = std::fs::remove_file(&path);
    (output, value)
}

#[test]
fn the_method_headers_and_body_asked_for_are_what_the_server_gets() {
    let target = Recorder::start();
    let url = format!("{}/items?x=1", target.url);
    let body = scratch("body");
    std::fs::write(&body, b"{\"name\":\"a\"}").unwrap();
    let (output, report) = json_of(
        &[
            &url,
            "-m",
            "post",
            "-H",
            "Content-Type: application/json",
            "-H",
            "Host: api.example",
            "--body-file",
            body.to_str().unwrap(),
            "-n",
            "20",
            "-c",
            "2",
        ],
        "post",
    );
    common::assert_success(&output);
    assert_eq!(report["requests_ok"], 20);
    let seen = target.seen();
    assert_eq!(seen.len(), 20);
    for request in &seen {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/items?x=1");
        assert_eq!(request.body, b"{\"name\":\"a\"}");
        let host: Vec<_> = request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
            .collect();
        assert_eq!(
            host.len(),
            1,
            "one Host, the one asked for: {:?}",
            request.headers
        );
        assert_eq!(host[0].1, "api.example");
        assert!(request
            .headers
            .contains(&("Content-Type".into(), "application/json".into())));
    }
    assert!(
        seen.iter().any(|r| r.on_connection > 0),
        "connections are kept alive"
    );
    let bad = sabench(&[&url, "-H", "no colon", "-n", "1"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Name: value"));
}

#[test]
fn a_weighted_url_mix_is_followed() {
    let target = Recorder::start();
    let file = scratch("urls");
    std::fs::write(&file, format!("# the mix\n3 {0}/a\n1 {0}/b\n", target.url)).unwrap();
    let (output, report) = json_of(
        &[
            "--url-file",
            file.to_str().unwrap(),
            "-n",
            "4000",
            "-c",
            "4",
        ],
        "mix",
    );
    common::assert_success(&output);
    assert_eq!(report["requests_ok"], 4000);
    let a = target.seen().iter().filter(|r| r.path == "/a").count();
    assert!(
        (2800..3200).contains(&a),
        "{a} of 4000 to /a (weight 3 of 4)"
    );
    std::fs::write(&file, format!("{}/a\nhttp://127.0.0.2:1/b\n", target.url)).unwrap();
    let mixed = sabench(&["--url-file", file.to_str().unwrap(), "-n", "1", "-c", "1"]);
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("one address"));
}

#[test]
fn a_mix_too_large_to_measure_url_by_url_is_pooled_and_says_so() {
    let target = Recorder::start();
    let file = scratch("many-urls");
    let urls = sync_async_bench::load::MAX_URLS_APART + 1;
    let lines: String = (0..urls)
        .map(|i| format!("{}/u{i}\n", target.url))
        .collect();
    std::fs::write(&file, lines).unwrap();
    let file = file.to_str().unwrap();
    let (output, report) = json_of(&["--url-file", file, "-n", "200", "-c", "2"], "many");
    common::assert_success(&output);
    assert_eq!(report["requests_ok"], 200);
    assert!(
        report.get("per_url").is_none(),
        "no URL measured apart: {}",
        report["per_url"]
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{urls} URLs in the mix")),
        "{stderr}"
    );
    // A threshold on one URL of it cannot be judged: refused before the run.
    let refused = sabench(&[
        "--url-file",
        file,
        "-n",
        "10",
        "-c",
        "1",
        "--threshold",
        "p95{url=/u3}<1s",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("measured apart in a mix of up to"),
        "{stderr}"
    );
    // At the bound, each URL is measured apart.
    let lines: String = (0..urls - 1)
        .map(|i| format!("{}/u{i}\n", target.url))
        .collect();
    let bounded = scratch("bounded-urls");
    std::fs::write(&bounded, lines).unwrap();
    let (output, report) = json_of(
        &[
            "--url-file",
            bounded.to_str().unwrap(),
            "-n",
            "200",
            "-c",
            "2",
        ],
        "bounded",
    );
    common::assert_success(&output);
    assert_eq!(report["per_url"].as_array().map(Vec::len), Some(urls - 1));
}

#[test]
fn poisson_arrivals_have_exponential_gaps_and_corrected_latency() {
    let target = Recorder::start();
    let url = format!("{}/", target.url);
    let log = scratch("sends");
    let (output, report) = json_of(
        &[
            &url,
            "--rate",
            "2000",
            "--arrival",
            "poisson",
            "--seed",
            "7",
            "-d",
            "2s",
            "-c",
            "16",
            "--send-log",
            log.to_str().unwrap(),
        ],
        "poisson",
    );
    common::assert_success(&output);
    let times: Vec<f64> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let _ = std::fs::remove_file(&log);
    assert_eq!(
        times.len() as u64,
        report["requests"]["scheduled"].as_u64().unwrap()
    );
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!(
        (mean - 0.0005).abs() < 0.00005,
        "mean gap {mean} s at 2000 req/s"
    );
    // Kolmogorov–Smirnov against Exp(mean): D below the 1 % critical value 1.63/√n.
    let mut sorted = gaps.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let d = sorted
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let cdf = 1.0 - (-g / mean).exp();
            (cdf - i as f64 / n)
                .abs()
                .max(((i + 1) as f64 / n - cdf).abs())
        })
        .fold(0.0, f64::max);
    assert!(d < 1.63 / n.sqrt(), "KS D = {d:.4} over {n} gaps");
    assert!(
        common::report_valid_but_for_the_generator(&report),
        "{}",
        report["invalid_reasons"]
    );
}

#[test]
fn no_keepalive_opens_a_connection_per_request_and_reports_its_connect_time() {
    let target = Recorder::start();
    let url = format!("{}/", target.url);
    let (output, report) = json_of(&[&url, "--no-keepalive", "-n", "50", "-c", "2"], "close");
    common::assert_success(&output);
    assert_eq!(report["requests_ok"], 50);
    assert!(
        target.seen().iter().all(|r| r.on_connection == 0),
        "one request per connection"
    );
    assert!(
        report["connect_ms"]["p50"]
            .as_f64()
            .is_some_and(|p| p > 0.0),
        "{}",
        report["connect_ms"]
    );
}

#[test]
fn thresholds_pass_or_fail_the_run_with_exit_status_3() {
    let target = Recorder::start();
    let url = format!("{}/", target.url);
    let (output, report) = json_of(
        &[
            &url,
            "--rate",
            "200",
            "-d",
            "1s",
            "--threshold",
            "p95<5s",
            "--threshold",
            "error_rate<1%",
        ],
        "pass",
    );
    common::assert_success(&output);
    assert_eq!(
        report["thresholds"][0]["passed"], true,
        "{}",
        report["thresholds"]
    );
    let (output, report) = json_of(
        &[
            &url,
            "--rate",
            "200",
            "-d",
            "1s",
            "--threshold",
            "rps>=1000000",
            "--threshold",
            "p95<5s",
        ],
        "fail",
    );
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["thresholds"][0]["passed"], false);
    assert_eq!(report["thresholds"][1]["passed"], true);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("FAIL  rps>=1000000") && text.contains("PASS  p95<5s"),
        "{text}"
    );
    let bad = sabench(&[&url, "--threshold", "p95 100ms", "-n", "1"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no comparison"));
}

/// A loopback HTTPS server with a self-signed certificate for `localhost` and
/// 127.0.0.1 (made by rcgen), answering every request 200 "ok" on keep-alive
/// connections; returns its port and the certificate's PEM. Connections after the
/// first `tls_connections` get a plain-HTTP 400 instead of a handshake (a peer that
/// stopped speaking TLS).
fn tls_target(tls_connections: usize) -> (u16, String) {
    tls_target_asking(tls_connections, None)
}

/// As [`tls_target`]; with `client_ca`, the server asks every client for a certificate
/// that CA signed and refuses the handshake without one (mTLS).
fn tls_target_asking(
    tls_connections: usize,
    client_ca: Option<rustls::pki_types::CertificateDer<'static>>,
) -> (u16, String) {
    use std::sync::Arc;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let pem = certified.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = Arc::new(
        builder
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (accepted, mut stream) in listener.incoming().flatten().enumerate() {
            if accepted >= tls_connections {
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
                continue;
            }
            let config = config.clone();
            std::thread::spawn(move || {
                let Ok(session) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(session, stream);
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    buffer.drain(..end);
                    if tls
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (port, pem)
}

#[test]
fn https_targets_are_loaded_and_an_untrusted_certificate_says_what_to_do() {
    let (port, pem) = tls_target(usize::MAX);
    let url = format!("https://localhost:{port}/");
    let (output, report) = json_of(
        &[&url, "--insecure", "--rate", "300", "-d", "1s", "-c", "4"],
        "tls-insecure",
    );
    common::assert_success(&output);
    assert_eq!(report["requests_ok"], 300, "{}", report["errors"]);
    let ca = scratch("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    let (output, report) = json_of(
        &[
            &url,
            "--cacert",
            ca.to_str().unwrap(),
            "-n",
            "50",
            "-c",
            "2",
        ],
        "tls-ca",
    );
    common::assert_success(&output);
    assert_eq!(report["requests_ok"], 50);
    let untrusted = sabench(&[&url, "-n", "5", "-c", "1"]);
    assert!(!untrusted.status.success());
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(
        stderr.contains("TLS handshake") && stderr.contains("--cacert"),
        "{stderr}"
    );
}

#[test]
fn tls_failures_after_the_first_handshake_are_counted_as_tls_errors() {
    // The first five handshakes (the checks before the run, then the first requests)
    // succeed; every later connection meets a peer that answers plain HTTP, which the
    // run must count as `tls`.
    let (port, _) = tls_target(5);
    let url = format!("https://127.0.0.1:{port}/");
    let (output, report) = json_of(
        &[&url, "--insecure", "--no-keepalive", "-n", "20", "-c", "1"],
        "tls-broken",
    );
    common::assert_success(&output);
    let ok = report["requests_ok"].as_u64().unwrap();
    let errors = &report["errors"];
    assert!((1..20).contains(&ok), "{report}");
    assert_eq!(errors["tls"].as_u64().unwrap(), 20 - ok, "{errors}");
    assert_eq!(errors["other"], 0, "{errors}");
    assert_eq!(errors["reset"], 0, "{errors}");
}

#[test]
fn a_server_that_asks_for_a_client_certificate_gets_it_with_cert_and_key() {
    // A private CA, and a client certificate it signed.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client = rcgen::CertificateParams::new(vec!["load-generator".to_string()])
        .unwrap()
        .signed_by(&client_key, &ca, &ca_key)
        .unwrap();
    let (port, server_pem) = tls_target_asking(usize::MAX, Some(ca.der().clone()));
    let url = format!("https://localhost:{port}/");
    let (server_ca, cert, key, stranger) = (
        scratch("mtls-server.pem"),
        scratch("mtls-client.pem"),
        scratch("mtls-client.key"),
        scratch("mtls-stranger.key"),
    );
    std::fs::write(&server_ca, &server_pem).unwrap();
    std::fs::write(&cert, client.pem()).unwrap();
    std::fs::write(&key, client_key.serialize_pem()).unwrap();
    std::fs::write(
        &stranger,
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let [server_ca, cert, key, stranger] =
        [&server_ca, &cert, &key, &stranger].map(|p| p.to_str().unwrap().to_string());
    let base = [url.as_str(), "--cacert", &server_ca, "-n", "40", "-c", "2"];

    let with = [&base[..], &["--cert", &cert, "--key", &key]].concat();
    let (output, report) = json_of(&with, "mtls-with");
    common::assert_success(&output);
    assert_eq!(report["requests_ok"], 40, "{}", report["errors"]);

    // Without a certificate the server refuses every handshake: nothing succeeds.
    let (output, report) = json_of(&base, "mtls-without");
    assert!(
        !output.status.success() || report["requests_ok"] == 0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A key that is not the certificate's is refused before the run, with what to check.
    let wrong = sabench(&[&base[..], &["--cert", &cert, "--key", &stranger]].concat());
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("does the key belong to the certificate"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    // One without the other is a usage error.
    let alone = sabench(&[&base[..], &["--cert", &cert]].concat());
    assert_eq!(alone.status.code(), Some(2));
}

#[test]
fn a_unix_socket_target_is_loaded_with_the_urls_host_and_path() {
    use std::os::unix::net::UnixListener;
    let path = scratch("target.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let heads = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let heads = heads.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let head: Vec<u8> = buffer.drain(..end).collect();
                    heads
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    if stream
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let socket = path.to_str().unwrap().to_string();
    let (output, report) = json_of(
        &[
            "http://localhost/items?x=1",
            "--unix-socket",
            &socket,
            "-n",
            "50",
            "-c",
            "2",
        ],
        "unix",
    );
    common::assert_success(&output);
    assert_eq!(report["requests_ok"], 50, "{}", report["errors"]);
    let first = seen.lock().unwrap().first().cloned().unwrap();
    assert!(
        first.starts_with("GET /items?x=1 HTTP/1.1\r\n")
            && first.contains("\r\nHost: localhost\r\n"),
        "{first}"
    );
    // Nothing listening there: refused before the run, with what to check.
    let gone = scratch("nobody.sock");
    let _ = std::fs::remove_file(&gone);
    let refused = sabench(&[
        "http://localhost/",
        "--unix-socket",
        gone.to_str().unwrap(),
        "-n",
        "1",
        "-c",
        "1",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is the server listening there?"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let _ = std::fs::remove_file(&path);
}
