//! HTTP/1.1 on the wire for the blocking style: request heads parsed with `httparse`,
//! responses written by hand. (The async styles use hyper.)

use super::reply::{reason, Reply, CONTENT_TYPE, WAITED_HEADER};

/// Most header lines in one request; more get 431.
const MAX_HEADERS: usize = 100;

/// A complete request head found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Whether the method is GET (others get 405).
    pub is_get: bool,
    /// The request target (path and query).
    pub target: String,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// Bytes of the head, including the blank line.
    pub head_len: usize,
    /// Bytes of body that follow (Content-Length); the server reads and discards them.
    pub body_len: usize,
}

/// What a buffer holds so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request head.
    Complete(RequestHead),
    /// Not enough bytes yet.
    Partial,
    /// Not HTTP/1.x the server can serve; answer 400 (or 431 when too long) and close.
    Invalid {
        /// The status to answer with.
        status: u16,
        /// Why, for the response body.
        reason: String,
    },
}

/// Parses the request head at the start of `buf`; a head (or a beginning of one)
/// longer than `max_head` bytes, or with too many header lines, is refused with 431.
pub fn parse(buf: &[u8], max_head: usize) -> Parsed {
    let too_long = || {
        invalid(
            431,
            format!("request head is over the limit of {max_head} bytes"),
        )
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len > max_head => return too_long(),
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > max_head => return too_long(),
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return invalid(431, format!("more than {MAX_HEADERS} header lines"))
        }
        Err(error) => return invalid(400, format!("malformed request: {error}")),
    };
    let version = request.version.unwrap_or(1);
    let mut keep_alive = version == 1;
    let mut body_len = 0;
    for header in request.headers.iter() {
        let value = String::from_utf8_lossy(header.value);
        let value = value.trim();
        if header.name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if header.name.eq_ignore_ascii_case("content-length") {
            match value.parse() {
                Ok(len) => body_len = len,
                Err(_) => return invalid(400, format!("bad Content-Length: {value:?}")),
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return invalid(400, "chunked request bodies are not supported".into());
        }
    }
    Parsed::Complete(RequestHead {
        is_get: request.method == Some("GET"),
        target: request.path.unwrap_or("/").to_string(),
        keep_alive,
        head_len,
        body_len,
    })
}

fn invalid(status: u16, reason: String) -> Parsed {
    Parsed::Invalid { status, reason }
}

/// Appends `reply` as an HTTP/1.1 response to `out`.
pub fn write_response(out: &mut Vec<u8>, reply: &Reply, keep_alive: bool) {
    use std::io::Write;
    // The same bytes hyper writes for the async styles: its headers in insertion
    // order, then content-length.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\ncontent-type: {CONTENT_TYPE}\r\n",
        reply.status,
        reason(reply.status),
    );
    if let Some(waited) = reply.waited {
        let _ = write!(out, "{WAITED_HEADER}: {}\r\n", waited.as_micros());
    }
    let _ = write!(out, "content-length: {}\r\n", reply.body.len());
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&reply.body);
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 16 * 1024;

    fn complete(raw: &[u8]) -> RequestHead {
        match parse(raw, LIMIT) {
            Parsed::Complete(head) => head,
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    #[test]
    fn keep_alive_follows_version_and_connection_header() {
        assert!(complete(b"GET /null HTTP/1.1\r\nHost: x\r\n\r\n").keep_alive);
        assert!(!complete(b"GET /null HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!complete(b"GET /null HTTP/1.0\r\n\r\n").keep_alive);
        assert!(complete(b"GET /null HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
    }

    #[test]
    fn partial_garbage_and_oversized_heads() {
        assert_eq!(parse(b"GET /null HTTP/1.1\r\nHost", LIMIT), Parsed::Partial);
        assert!(matches!(
            parse(b"\x00\x01garbage\r\n\r\n", LIMIT),
            Parsed::Invalid { status: 400, .. }
        ));
        let long = [b"GET /".as_slice(), &vec![b'a'; LIMIT + 1]].concat();
        assert!(matches!(
            parse(&long, LIMIT),
            Parsed::Invalid { status: 431, .. }
        ));
        let whole = [long.as_slice(), b" HTTP/1.1\r\n\r\n"].concat();
        assert!(matches!(
            parse(&whole, LIMIT),
            Parsed::Invalid { status: 431, .. }
        ));
        let many: String = (0..10_000).map(|i| format!("X-{i}: y\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(
            parse(many.as_bytes(), usize::MAX),
            Parsed::Invalid { status: 431, .. }
        ));
    }

    #[test]
    fn body_length_and_method_are_read() {
        let head = complete(b"POST /null HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
        assert!(!head.is_get);
        assert_eq!(head.body_len, 5);
        assert_eq!(head.head_len, 42);
    }

    #[test]
    fn response_has_length_and_close_when_asked() {
        let mut out = Vec::new();
        write_response(&mut out, &Reply::ok("ok\n"), false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("content-length: 3\r\n"));
        assert!(text.contains("connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nok\n"));
    }
}
