//! A lean HTTP/1.1 client connection for the load generator: one pre-built request
//! written per exchange, the response head parsed with `httparse`, the body skipped
//! by its framing (Content-Length, chunked, or read to close). No per-request
//! allocation once the buffer has grown.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one exchange learned of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    /// HTTP status code.
    pub status: u16,
    /// Whether the connection can carry another request.
    pub keep_alive: bool,
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The server closed the connection before a whole response arrived.
    #[error("connection closed before a complete response")]
    Closed,
    /// A socket error (reset, broken pipe, …).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes were not an HTTP/1.x response we can frame.
    #[error("malformed response: {0}")]
    Malformed(String),
}

impl ExchangeError {
    /// True for a reset or close by the peer (as opposed to garbage).
    pub fn is_reset(&self) -> bool {
        match self {
            ExchangeError::Closed => true,
            ExchangeError::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ),
            ExchangeError::Malformed(_) => false,
        }
    }
}

/// How the body of a response is delimited.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
    None,
}

/// One keep-alive connection.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    /// Opens a TCP connection (Nagle off).
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buffer: Vec::with_capacity(8 * 1024),
        })
    }

    /// Writes `request` (a whole HTTP/1.1 request) and reads one whole response.
    pub async fn exchange(&mut self, request: &[u8]) -> Result<ResponseHead, ExchangeError> {
        self.stream.write_all(request).await?;
        loop {
            let head = self.read_response().await?;
            // 1xx responses (but 101) precede the real one.
            if !(100..200).contains(&head.status) || head.status == 101 {
                return Ok(head);
            }
        }
    }

    async fn fill(&mut self) -> Result<(), ExchangeError> {
        if self.buffer.capacity() - self.buffer.len() < 4096 {
            self.buffer.reserve(8 * 1024);
        }
        match self.stream.read_buf(&mut self.buffer).await? {
            0 => Err(ExchangeError::Closed),
            _ => Ok(()),
        }
    }

    async fn read_response(&mut self) -> Result<ResponseHead, ExchangeError> {
        let (head_len, head, framing) = loop {
            if let Some(parsed) = parse_head(&self.buffer)? {
                break parsed;
            }
            self.fill().await?;
        };
        let body_len = match framing {
            Framing::None => 0,
            Framing::Length(len) => {
                while self.buffer.len() < head_len + len {
                    self.fill().await?;
                }
                len
            }
            Framing::Chunked => loop {
                if let Some(len) = chunked_length(&self.buffer[head_len..])? {
                    break len;
                }
                self.fill().await?;
            },
            Framing::UntilClose => {
                while self.fill().await.is_ok() {}
                self.buffer.clear();
                return Ok(ResponseHead {
                    keep_alive: false,
                    ..head
                });
            }
        };
        self.buffer.drain(..head_len + body_len);
        Ok(head)
    }
}

fn parse_head(buffer: &[u8]) -> Result<Option<(usize, ResponseHead, Framing)>, ExchangeError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ExchangeError::Malformed(e.to_string())),
    };
    let status = response.code.unwrap_or(0);
    let mut keep_alive = response.version == Some(1);
    let mut framing = Framing::UntilClose;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let len = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| ExchangeError::Malformed("bad Content-Length".into()))?;
            if !matches!(framing, Framing::Chunked) {
                framing = Framing::Length(len);
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            if contains_token(header.value, b"chunked") {
                framing = Framing::Chunked;
            }
        } else if header.name.eq_ignore_ascii_case("connection") {
            if contains_token(header.value, b"close") {
                keep_alive = false;
            } else if contains_token(header.value, b"keep-alive") {
                keep_alive = true;
            }
        }
    }
    if status == 204 || status == 304 || (100..200).contains(&status) {
        framing = Framing::None;
    }
    Ok(Some((
        head_len,
        ResponseHead { status, keep_alive },
        framing,
    )))
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|part| part.trim_ascii().eq_ignore_ascii_case(token))
}

/// The length of a complete chunked body at the start of `body` (None: incomplete).
pub fn chunked_length(body: &[u8]) -> Result<Option<usize>, ExchangeError> {
    let mut pos = 0;
    loop {
        let Some(line_end) = find_crlf(&body[pos..]) else {
            return Ok(None);
        };
        let line = &body[pos..pos + line_end];
        let size_text = line.split(|&b| b == b';').next().unwrap_or(line);
        let size = std::str::from_utf8(size_text)
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .ok_or_else(|| ExchangeError::Malformed("bad chunk size".into()))?;
        pos += line_end + 2;
        if size == 0 {
            // Trailer lines, then an empty line.
            loop {
                let Some(end) = find_crlf(&body[pos..]) else {
                    return Ok(None);
                };
                pos += end + 2;
                if end == 0 {
                    return Ok(Some(pos));
                }
            }
        }
        if body.len() < pos + size + 2 {
            return Ok(None);
        }
        pos += size + 2;
    }
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_framed_exactly() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        assert_eq!(chunked_length(body).unwrap(), Some(body.len() - 4));
        assert_eq!(chunked_length(&body[..10]).unwrap(), None);
        assert_eq!(chunked_length(b"0\r\n\r\n").unwrap(), Some(5));
        assert!(chunked_length(b"zz\r\n").is_err());
    }

    #[test]
    fn heads_give_status_keep_alive_and_framing() {
        let (len, head, framing) = parse_head(b"HTTP/1.1 503 Busy\r\nContent-Length: 3\r\n\r\nabc")
            .unwrap()
            .unwrap();
        assert_eq!((len, head.status, head.keep_alive), (40, 503, true));
        assert!(matches!(framing, Framing::Length(3)));
        let (_, head, framing) = parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert!(!head.keep_alive);
        assert!(matches!(framing, Framing::UntilClose));
        let (_, head, _) =
            parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(!head.keep_alive);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le")
            .unwrap()
            .is_none());
    }
}
