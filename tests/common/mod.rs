//! Test helpers: a raw HTTP/1.1 client over `TcpStream`, so tests see exactly what
//! went over the wire (status, headers, body, whether the connection stayed open), and
//! a check that a command succeeded that shows its stderr when it did not.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Asserts that a command exited 0, showing what it said on stderr when it did not.
#[track_caller]
pub fn assert_success(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive connection that sends requests and reads responses one at a time.
pub struct RawConnection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl RawConnection {
    pub fn connect(addr: SocketAddr) -> Self {
        Self::from_stream(TcpStream::connect(addr).expect("connect to the server"))
    }

    /// Wraps a stream that is already open.
    pub fn from_stream(stream: TcpStream) -> Self {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Self {
            stream,
            buffer: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    pub fn get(&mut self, path: &str) -> RawResponse {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes());
        self.read_response()
            .expect("a response before the connection closed")
    }

    /// Reads one response (Content-Length framed); None if the server closed first.
    pub fn read_response(&mut self) -> Option<RawResponse> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(head_len)) = response.parse(&self.buffer) {
                let headers: Vec<(String, String)> = response
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let status = response.code.unwrap_or(0);
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse().expect("numeric content-length"))
                    .expect("every response has a content-length");
                while self.buffer.len() < head_len + length {
                    if !self.fill() {
                        panic!("connection closed inside a body");
                    }
                }
                let body = self.buffer[head_len..head_len + length].to_vec();
                self.buffer.drain(..head_len + length);
                return Some(RawResponse {
                    status,
                    headers,
                    body,
                });
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// True when the server has closed the connection (reads EOF).
    pub fn is_closed_by_server(&mut self) -> bool {
        !self.fill()
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }
}

/// Whether this is CI (`CI=true`), where a test must not skip what it cannot do.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether a run is valid but for the generator's own lag or saturation (`reasons`
/// joined by "; "): a loaded or slow machine makes the generator late, and tests assert
/// behaviour, never this machine's speed. Any reason that lies with the target fails.
pub fn valid_but_for_the_generator(valid: bool, reasons: &str) -> bool {
    valid
        || reasons
            .split("; ")
            .filter(|reason| !reason.is_empty())
            .all(|reason| reason.starts_with("the generator"))
}

/// The same for a `sabench load --json` report.
pub fn report_valid_but_for_the_generator(report: &serde_json::Value) -> bool {
    let reasons: Vec<&str> = report["invalid_reasons"]
        .as_array()
        .map(|all| all.iter().filter_map(|r| r.as_str()).collect())
        .unwrap_or_default();
    valid_but_for_the_generator(report["valid"] == true, &reasons.join("; "))
}

/// A loopback address where nothing listens (bound, then released).
pub fn dead_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
pub mod netns;
pub mod runs;
pub mod schema;
pub mod targets;

/// Waits for `child` to exit, failing the test after `timeout` with `what` in the message.
pub fn wait_for_exit(
    child: &mut std::process::Child,
    timeout: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not exit within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
