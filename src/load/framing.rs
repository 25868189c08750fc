//! HTTP/1.x response framing for the load generator, apart from any socket: the head
//! parsed with `httparse` ([`ResponseHead`] and how its body is delimited), and a
//! chunked body decoded as it streams without keeping its data ([`ChunkedDecoder`]).
//! A leaf: the connection (`client`) uses it, never the other way.

/// A response that is not HTTP/1.x we can frame, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// What one exchange learned of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    /// HTTP status code.
    pub status: u16,
    /// Whether the connection can carry another request.
    pub keep_alive: bool,
    /// The wait the server says it achieved (`x-sabench-waited-us`), if it says.
    pub server_wait_us: Option<u64>,
}

/// How the body of a response is delimited.
pub(super) enum Framing {
    /// A Content-Length body.
    Length(usize),
    /// A chunked body.
    Chunked,
    /// A body read until the connection closes.
    UntilClose,
    /// No body (HEAD, 1xx, 204, 304).
    None,
}

/// Where a chunked body's decoding stands between reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ChunkState {
    /// At a chunk's size line.
    #[default]
    Size,
    /// Inside a chunk's data, this many bytes to go.
    Data(u64),
    /// At the CRLF after a chunk's data.
    DataEnd,
    /// At a trailer line (after the last chunk); an empty one ends the body.
    Trailer,
}

/// A chunked-body decoder that keeps no data: fed the buffered bytes, it says how many
/// it used up and whether the body ended.
#[derive(Debug, Default)]
pub(super) struct ChunkedDecoder {
    state: ChunkState,
}

/// What one [`ChunkedDecoder::advance`] came to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Advance {
    /// The body ended after this many bytes.
    Done(usize),
    /// Used this many bytes (of which `data` were chunk data) and needs more.
    NeedMore { used: usize, data: u64 },
}

impl ChunkedDecoder {
    /// Decodes as far as `bytes` go.
    pub(super) fn advance(&mut self, bytes: &[u8]) -> Result<Advance, Malformed> {
        let mut pos = 0;
        let mut data = 0u64;
        loop {
            let rest = &bytes[pos..];
            match self.state {
                ChunkState::Size => {
                    let Some(end) = find_crlf(rest) else {
                        return Ok(Advance::NeedMore { used: pos, data });
                    };
                    let size = chunk_size(&rest[..end])?;
                    pos += end + 2;
                    self.state = if size == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    let take = left.min(rest.len() as u64);
                    pos += take as usize;
                    data += take;
                    if take < left {
                        self.state = ChunkState::Data(left - take);
                        return Ok(Advance::NeedMore { used: pos, data });
                    }
                    self.state = ChunkState::DataEnd;
                }
                ChunkState::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(Advance::NeedMore { used: pos, data });
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(Malformed("no CRLF after a chunk's data".into()));
                    }
                    pos += 2;
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailer => {
                    let Some(end) = find_crlf(rest) else {
                        return Ok(Advance::NeedMore { used: pos, data });
                    };
                    pos += end + 2;
                    if end == 0 {
                        return Ok(Advance::Done(pos));
                    }
                }
            }
        }
    }
}

/// A chunk-size line's size (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Result<u64, Malformed> {
    let size_text = line.split(|&b| b == b';').next().unwrap_or(line);
    std::str::from_utf8(size_text)
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
        .ok_or_else(|| Malformed("bad chunk size".into()))
}

pub(super) fn parse_head(
    buffer: &[u8],
) -> Result<Option<(usize, ResponseHead, Framing)>, Malformed> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Malformed(e.to_string())),
    };
    let status = response.code.unwrap_or(0);
    let mut keep_alive = response.version == Some(1);
    let mut framing = Framing::UntilClose;
    let mut server_wait_us = None;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let len = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| Malformed("bad Content-Length".into()))?;
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
        } else if header.name.eq_ignore_ascii_case(crate::net::WAITED_HEADER) {
            server_wait_us = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
        }
    }
    if status == 204 || status == 304 || (100..200).contains(&status) {
        framing = Framing::None;
    }
    let head = ResponseHead {
        status,
        keep_alive,
        server_wait_us,
    };
    Ok(Some((head_len, head, framing)))
}

/// How many bytes the first response at the start of `buffer` takes, head and body,
/// with its head; None while it is incomplete, or when it is framed by the close of
/// the connection (no length, not chunked). The same framing `read_response` follows.
pub fn response_length(buffer: &[u8]) -> Result<Option<(ResponseHead, usize)>, Malformed> {
    let Some((head_len, head, framing)) = parse_head(buffer)? else {
        return Ok(None);
    };
    let length = match framing {
        Framing::None => Some(head_len),
        Framing::Length(len) => Some(
            head_len
                .checked_add(len)
                .ok_or_else(|| Malformed("Content-Length too large".into()))?,
        ),
        Framing::Chunked => chunked_length(&buffer[head_len..])?.map(|body| head_len + body),
        Framing::UntilClose => None,
    };
    Ok(length.filter(|&n| n <= buffer.len()).map(|n| (head, n)))
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|part| part.trim_ascii().eq_ignore_ascii_case(token))
}

/// The length of a complete chunked body at the start of `body` (None: incomplete).
pub fn chunked_length(body: &[u8]) -> Result<Option<usize>, Malformed> {
    Ok(match ChunkedDecoder::default().advance(body)? {
        Advance::Done(length) => Some(length),
        Advance::NeedMore { .. } => None,
    })
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
        // A chunk size past u64 is refused, not an overflow; one within it is a body
        // still arriving (the body cap ends it when streamed).
        assert!(chunked_length(b"1ffffffffffffffff\r\nx").is_err());
        assert_eq!(chunked_length(b"ffffffffffffffff\r\nx").unwrap(), None);
    }

    #[test]
    fn a_chunked_body_decodes_the_same_however_it_is_split() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n";
        for split in 0..body.len() {
            let mut decoder = ChunkedDecoder::default();
            let (first, second) = body.split_at(split);
            let (used, data) = match decoder.advance(first).unwrap() {
                Advance::NeedMore { used, data } => (used, data),
                Advance::Done(_) => panic!("done after {split} of {} bytes", body.len()),
            };
            // What was not used stays buffered and comes again with the rest.
            let mut rest = first[used..].to_vec();
            rest.extend_from_slice(second);
            assert_eq!(
                decoder.advance(&rest).unwrap(),
                Advance::Done(rest.len()),
                "split at {split}"
            );
            assert!(data <= 9, "split at {split}: {data} data bytes");
        }
        let mut decoder = ChunkedDecoder::default();
        assert!(
            decoder.advance(b"3\r\nabcX\r\n").is_err(),
            "no CRLF after the data"
        );
    }

    #[test]
    fn chunk_data_is_counted_and_never_kept() {
        let mut decoder = ChunkedDecoder::default();
        // A megabyte chunk fed in 4 KiB reads: each read is used up whole.
        assert_eq!(
            decoder.advance(b"100000\r\n").unwrap(),
            Advance::NeedMore { used: 8, data: 0 }
        );
        let read = [b'x'; 4096];
        for _ in 0..256 {
            assert_eq!(
                decoder.advance(&read).unwrap(),
                Advance::NeedMore {
                    used: 4096,
                    data: 4096
                }
            );
        }
        assert_eq!(decoder.advance(b"\r\n0\r\n\r\n").unwrap(), Advance::Done(7));
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
