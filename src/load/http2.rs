//! HTTP/2 for the load generator, on hyper's HTTP/2 implementation (the `h2` crate,
//! driven directly: hyper's own client spawns a task per request, which cost a third
//! of the generator's CPU): over TLS (ALPN `h2`) for `https://`, and in cleartext
//! with prior knowledge (h2c) for `http://`. A connection carries up to `--streams`
//! requests at once; each stream is one of the engine's
//! request slots, so pacing and the coordinated-omission correction are the engine's
//! own (a request's latency counts from its intended time, whether it waited for a
//! stream, for the connection to open, or for the server's stream limit).
//!
//! A stream reset (RST_STREAM) and a GOAWAY that ends a request are their own error
//! classes. A request that times out resets only its stream; the connection stays.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;

use super::exchange::{bounded, outcome_of};
use super::plan::Plan;
use super::recorder::{ErrorClass, Finished};
use super::target::{RequestSpec, Target};
use super::LoadError;

/// The protocol a load run speaks.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// HTTP/1.1: one request at a time per connection.
    #[default]
    #[value(name = "http1")]
    Http1,
    /// HTTP/2: several streams per connection (h2 over TLS, h2c in cleartext).
    #[value(name = "http2")]
    Http2,
}

impl Protocol {
    /// How reports name it: `HTTP/1.1` or `HTTP/2`.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
        }
    }

    /// Whether it is HTTP/1.1 (serde's `skip_serializing_if`).
    pub fn is_http1(&self) -> bool {
        *self == Protocol::Http1
    }
}

/// One URL's request as HTTP/2 sends it: built once, cloned per request.
#[derive(Debug, Clone)]
struct Template {
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Template {
    /// The request `spec` makes of `target`. A `Host` header becomes the authority
    /// (HTTP/2 has no Host header of its own); hop-by-hop headers are refused by
    /// HTTP/2 and left out.
    fn new(target: &Target, spec: &RequestSpec) -> Result<Self, LoadError> {
        let bad = |reason: String| LoadError::Settings(format!("--http2 request: {reason}"));
        let method = http::Method::from_bytes(spec.method.as_bytes())
            .map_err(|e| bad(format!("method {:?}: {e}", spec.method)))?;
        let mut authority = target.authority.clone();
        let mut headers = http::HeaderMap::new();
        for (name, value) in &spec.headers {
            if name.eq_ignore_ascii_case("host") {
                authority = value.clone();
                continue;
            }
            if is_connection_specific(name) {
                continue;
            }
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| bad(format!("header name {name:?}: {e}")))?;
            let value = http::HeaderValue::from_str(value)
                .map_err(|e| bad(format!("header {name}'s value {value:?}: {e}")))?;
            headers.append(name, value);
        }
        let scheme = if target.tls { "https" } else { "http" };
        let uri = format!("{scheme}://{authority}{}", target.path)
            .parse()
            .map_err(|e| bad(format!("{scheme}://{authority}{}: {e}", target.path)))?;
        Ok(Self {
            method,
            uri,
            headers,
            body: Bytes::from(spec.body.clone()),
        })
    }

    fn request(&self) -> http::Request<()> {
        let mut request = http::Request::new(());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        *request.version_mut() = http::Version::HTTP_2;
        request
    }
}

/// Headers HTTP/2 forbids (RFC 9113 §8.2.2).
fn is_connection_specific(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
    ]
    .iter()
    .any(|forbidden| name.eq_ignore_ascii_case(forbidden))
}

/// What every HTTP/2 connection of a run shares: the streams each carries, the TLS
/// connector (ALPN `h2`), and each URL's request.
pub(crate) struct Http2Plan {
    /// Requests in flight at once on one connection.
    pub streams: usize,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    templates: Vec<Template>,
}

impl Http2Plan {
    /// The plan for `targets` (one per URL of the mix) made as `spec` says, `streams`
    /// to a connection, over `tls` (the run's client, which [`offer_alpn`] made offer
    /// `h2`; a connection whose server chooses otherwise fails).
    pub(crate) fn new(
        targets: &[Target],
        spec: &RequestSpec,
        streams: usize,
        tls: Option<&super::tls::TlsClient>,
    ) -> Result<Self, LoadError> {
        let tls = tls.map(|client| {
            (
                tokio_rustls::TlsConnector::from(client.config.clone()),
                client.server_name.clone(),
            )
        });
        Ok(Self {
            streams: streams.max(1),
            tls,
            templates: targets
                .iter()
                .map(|target| Template::new(target, spec))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// One stream a connection: HTTP/1.1's, and what older reports and orders without a
/// `streams` field mean (serde's default).
pub(crate) fn one_stream() -> usize {
    1
}

/// The most streams a connection may be asked to carry at once.
pub const MAX_STREAMS: usize = 1_000;

/// Refuses settings HTTP/2 cannot honour, each saying what to change.
pub(crate) fn check_settings(config: &super::LoadConfig) -> Result<(), LoadError> {
    let refuse = |why: &str| Err(LoadError::Settings(why.into()));
    match config.protocol {
        Protocol::Http1 if config.streams > 1 => refuse(
            "--streams needs --http2: HTTP/1.1 carries one request at a time on a connection (use more --connections)",
        ),
        Protocol::Http1 => Ok(()),
        Protocol::Http2 if !(1..=MAX_STREAMS).contains(&config.streams) => Err(LoadError::Settings(
            format!("--streams must be 1 to {MAX_STREAMS}, not {}", config.streams),
        )),
        Protocol::Http2 if config.ramp.is_some() => refuse(
            "--http2 does not hold connections on a --ramp yet: leave --ramp out (HTTP/2 opens each connection at its first request)",
        ),
        Protocol::Http2 if !config.request.keep_alive => refuse(
            "--no-keepalive is HTTP/1.1's: an HTTP/2 connection carries many requests; leave it out",
        ),
        Protocol::Http2 => Ok(()),
    }
}

/// `client` offering ALPN `h2` only when the run speaks HTTP/2 (as is otherwise: no
/// ALPN, which servers take as HTTP/1.1).
pub(crate) fn offer_alpn(
    client: super::tls::TlsClient,
    protocol: Protocol,
) -> super::tls::TlsClient {
    match protocol {
        Protocol::Http1 => client,
        Protocol::Http2 => {
            let mut config = (*client.config).clone();
            config.alpn_protocols = vec![b"h2".to_vec()];
            super::tls::TlsClient {
                config: Arc::new(config),
                ..client
            }
        }
    }
}

/// Refuses an HTTP/2 run over TLS whose target did not choose `h2` in the handshake.
pub(crate) fn check_alpn(
    config: &super::LoadConfig,
    chosen: Option<&[u8]>,
    target: &Target,
) -> Result<(), LoadError> {
    if config.protocol == Protocol::Http1 || chosen == Some(b"h2".as_slice()) {
        return Ok(());
    }
    Err(LoadError::Settings(format!(
        "{}: {}",
        target.url,
        NoH2(alpn_name(chosen))
    )))
}

/// What a TLS handshake's ALPN chose, for messages: `"http/1.1"`, or `nothing`.
fn alpn_name(chosen: Option<&[u8]>) -> String {
    chosen.map_or("nothing".into(), |p| {
        format!("{:?}", String::from_utf8_lossy(p))
    })
}

/// The refusal of an HTTP/2 run whose TLS handshake `error` is the server's alert
/// that it speaks none of the protocols offered (it has ALPN, without `h2`).
pub(crate) fn alpn_refused(
    config: &super::LoadConfig,
    error: &std::io::Error,
    target: &Target,
) -> Option<LoadError> {
    let refused = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|tls| {
            *tls == rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)
        });
    (config.protocol == Protocol::Http2 && refused).then(|| {
        LoadError::Settings(format!(
            "{}: {}",
            target.url,
            NoH2("none: it refused h2 with a no_application_protocol alert".into())
        ))
    })
}

/// The client's connection preface and an empty SETTINGS frame (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// Refuses an h2c run (HTTP/2 on `http://`) whose target does not answer the HTTP/2
/// preface with a SETTINGS frame: it speaks HTTP/1.1 only, and every request would
/// fail.
pub(crate) fn h2c_preflight(target: &Target, config: &super::LoadConfig) -> Result<(), LoadError> {
    use std::io::{Read as _, Write as _};
    if config.protocol == Protocol::Http1 {
        return Ok(());
    }
    let mut stream = super::preflight_stream(target, config)?;
    let mut frame = [0u8; 9];
    let answered = stream
        .write_all(PREFACE)
        .and_then(|()| stream.read_exact(&mut frame));
    // A frame header: 3 bytes of length, then the type (4: SETTINGS).
    if answered.is_ok() && frame[3] == 4 {
        return Ok(());
    }
    let said = if frame.starts_with(b"HTTP/1") {
        "it answered in HTTP/1.1".to_string()
    } else {
        match answered {
            Err(error) => format!("no HTTP/2 SETTINGS came back ({error})"),
            Ok(()) => "no HTTP/2 SETTINGS came back".to_string(),
        }
    };
    Err(LoadError::Settings(format!(
        "{} does not speak HTTP/2 in cleartext (h2c with prior knowledge): {said}; run without --http2, or give an https:// URL if it speaks HTTP/2 over TLS",
        target.url
    )))
}

/// The target did not agree to HTTP/2 over TLS (ALPN chose something else, or nothing).
#[derive(Debug, thiserror::Error)]
#[error("the server did not agree to HTTP/2 in the TLS handshake (ALPN chose {0}): it speaks HTTP/1.1 only; run without --http2")]
pub struct NoH2(String);

/// An open connection's sender, and whether its connection task has ended.
#[derive(Clone)]
struct Open {
    sender: SendRequest<Bytes>,
    ended: Rc<Cell<bool>>,
}

/// One HTTP/2 connection, shared by its streams (the engine's slots on one thread).
#[derive(Default)]
pub(crate) struct SharedConnection {
    open: RefCell<Option<Open>>,
    /// Held while the connection is being opened, so its streams open one, not many.
    opening: tokio::sync::Mutex<()>,
}

impl SharedConnection {
    /// Whether it has a connection whose task has not ended.
    pub(crate) fn is_open(&self) -> bool {
        self.open
            .borrow()
            .as_ref()
            .is_some_and(|open| !open.ended.get())
    }

    /// The open connection, if it has one whose task has not ended.
    fn current(&self) -> Option<Open> {
        let mut slot = self.open.borrow_mut();
        if slot.as_ref().is_some_and(|open| open.ended.get()) {
            *slot = None;
        }
        slot.clone()
    }

    /// Forgets the connection whose end flag is `failed` (a new one opens at the
    /// next request), unless another stream has already replaced it.
    fn forget(&self, failed: &Rc<Cell<bool>>) {
        let mut slot = self.open.borrow_mut();
        if slot
            .as_ref()
            .is_some_and(|held| Rc::ptr_eq(&held.ended, failed))
        {
            *slot = None;
        }
    }

    /// The connection, opening it first if it has none (the time that took is
    /// returned with it, when this stream opened it).
    async fn get(&self, plan: &Plan) -> Result<(Open, Option<Duration>), ErrorClass> {
        if let Some(open) = self.current() {
            return Ok((open, None));
        }
        let _opening = self.opening.lock().await;
        if let Some(open) = self.current() {
            return Ok((open, None));
        }
        let began = Instant::now();
        let open = match tokio::time::timeout(plan.connect_timeout, connect(plan)).await {
            Err(_) => return Err(ErrorClass::ConnectTimeout),
            Ok(Err(error)) => return Err(super::exchange::classify_connect(&error)),
            Ok(Ok(open)) => open,
        };
        *self.open.borrow_mut() = Some(open.clone());
        Ok((open, Some(began.elapsed())))
    }
}

/// A byte stream HTTP/2 runs over: TCP, a Unix-domain socket, or TLS over either.
trait Transport: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Transport for T {}

/// A stream's receive window: 1 MiB, so a large body is not throttled by the
/// default 64 KiB (the generator returns what it read at once).
const STREAM_WINDOW: u32 = 1 << 20;
/// A connection's receive window: 16 MiB, room for 16 streams' full windows.
const CONNECTION_WINDOW: u32 = 16 << 20;

/// Opens a connection and does the HTTP/2 handshake; the connection's own task runs
/// on this thread (the worker's `LocalSet`) and marks it ended when it ends.
async fn connect(plan: &Plan) -> std::io::Result<Open> {
    let Some(http2) = &plan.http2 else {
        return Err(std::io::Error::other("not an HTTP/2 run"));
    };
    let socket: Box<dyn Transport> = match &plan.unix_socket {
        Some(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
        None => {
            let stream = tokio::net::TcpStream::connect(plan.addr).await?;
            stream.set_nodelay(true)?;
            Box::new(stream)
        }
    };
    let io: Box<dyn Transport> = match &http2.tls {
        None => socket,
        Some((connector, name)) => {
            let stream = connector
                .connect(name.clone(), socket)
                .await
                .map_err(|error| {
                    std::io::Error::new(error.kind(), super::client::HandshakeFailed(error))
                })?;
            let alpn = stream.get_ref().1.alpn_protocol();
            if alpn != Some(b"h2".as_slice()) {
                return Err(std::io::Error::other(super::client::HandshakeFailed(
                    std::io::Error::other(NoH2(alpn_name(alpn))),
                )));
            }
            Box::new(stream)
        }
    };
    let (sender, connection) = h2::client::Builder::new()
        .max_header_list_size(u32::try_from(plan.read_limits.max_head_bytes).unwrap_or(u32::MAX))
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|error| match error.into_io() {
            Some(io) => io,
            None => std::io::Error::other("the HTTP/2 handshake failed"),
        })?;
    let ended = Rc::new(Cell::new(false));
    let mark = ended.clone();
    tokio::task::spawn_local(async move {
        let _ = connection.await;
        mark.set(true);
    });
    Ok(Open { sender, ended })
}

/// One of the engine's request slots over HTTP/2: a stream of a shared connection,
/// keeping its own handle on the connection between requests.
pub(crate) struct StreamSlot {
    connection: Rc<SharedConnection>,
    held: Option<Open>,
}

impl StreamSlot {
    /// A slot on `connection`.
    pub(crate) fn new(connection: Rc<SharedConnection>) -> Self {
        Self {
            connection,
            held: None,
        }
    }

    /// The open connection: the slot's own handle while its connection lives, else
    /// the shared one (opened first if needed; the time that took is returned).
    async fn open(&mut self, plan: &Plan) -> Result<(Open, Option<Duration>), ErrorClass> {
        match self.held.take() {
            Some(open) if !open.ended.get() => Ok((open, None)),
            _ => self.connection.get(plan).await,
        }
    }
}

/// Sends a request for URL `url` of the mix on a stream of `slot`'s connection,
/// opening the connection first if needed, and classifies the result. Bounded as an
/// HTTP/1.1 exchange is: `sent + timeout` (a timeout; only this stream is reset) or
/// the run's drain deadline (None: still in flight then).
pub(crate) async fn exchange(
    slot: &mut StreamSlot,
    plan: &Plan,
    url: usize,
    sent: Instant,
) -> Option<Finished> {
    bounded(plan, sent, attempt(slot, plan, url))
        .await
        .map_or_else(|late| late, Some)
}

/// A stream that could not start on an open connection (it closed meanwhile: a
/// GOAWAY, a reset) is tried again on a new connection, this many times: the request
/// never left, so a client may retry it.
const RETRIES_BEFORE_SENDING: usize = 1;

async fn attempt(slot: &mut StreamSlot, plan: &Plan, url: usize) -> Finished {
    let Some(template) = plan.http2.as_ref().map(|h2| &h2.templates[url]) else {
        return Finished::failed(ErrorClass::Other);
    };
    let mut retries = RETRIES_BEFORE_SENDING;
    let (mut sender, ended, connect) = loop {
        let (Open { sender, ended }, connect) = match slot.open(plan).await {
            Ok(got) => got,
            Err(class) => return Finished::failed(class),
        };
        match sender.ready().await {
            Ok(sender) => break (sender, ended, connect),
            Err(_) if retries > 0 && connect.is_none() => {
                retries -= 1;
                slot.connection.forget(&ended);
            }
            Err(error) => {
                slot.connection.forget(&ended);
                return Finished {
                    connect,
                    ..Finished::failed(classify(&error))
                };
            }
        }
    };
    let failed = |class: ErrorClass, bytes: u64| Finished {
        bytes,
        connect,
        ..Finished::failed(class)
    };
    let ends_stream = template.body.is_empty();
    let response = match sender.send_request(template.request(), ends_stream) {
        Ok((response, mut body)) => {
            slot.held = Some(Open {
                sender: sender.clone(),
                ended,
            });
            if !ends_stream {
                if let Err(error) = body.send_data(template.body.clone(), true) {
                    return failed(classify(&error), 0);
                }
            }
            response.await
        }
        Err(error) => Err(error),
    };
    let response = match response {
        Ok(response) => response,
        Err(error) => return failed(classify(&error), 0),
    };
    let status = response.status().as_u16();
    let waited = response
        .headers()
        .get(crate::net::WAITED_HEADER)
        .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok());
    let mut body = response.into_body();
    let mut bytes = 0u64;
    while let Some(chunk) = body.data().await {
        let read = match chunk {
            Ok(chunk) => chunk.len(),
            Err(error) => return failed(classify(&error), bytes),
        };
        bytes += read as u64;
        if bytes > plan.read_limits.max_body_bytes {
            // Dropping the body resets this stream only.
            return failed(ErrorClass::TooLarge, bytes);
        }
        // What was read is dropped at once: the window opens again.
        let _ = body.flow_control().release_capacity(read);
    }
    Finished {
        outcome: outcome_of(status, waited),
        status: Some(status),
        bytes,
        connect,
    }
}

/// The class of a failed HTTP/2 request: a reset of its stream, a GOAWAY that
/// refused it, a TLS failure, the connection lost, or something else.
fn classify(error: &h2::Error) -> ErrorClass {
    if error.is_go_away() {
        ErrorClass::GoAway
    } else if error.is_reset() {
        ErrorClass::StreamReset
    } else if let Some(io) = error.get_io() {
        if super::client::is_tls_failure(io) {
            ErrorClass::Tls
        } else {
            ErrorClass::Reset
        }
    } else {
        ErrorClass::Other
    }
}
