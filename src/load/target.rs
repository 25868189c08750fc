//! What a load run sends: where to connect, and the request bytes (method, headers,
//! body; one request per URL of a weighted mix), built once.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

use super::LoadError;

/// How each request is made, whatever its URL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestSpec {
    /// The method, e.g. GET, POST.
    pub method: String,
    /// Extra headers, in order (a `Host` here replaces the URL's).
    pub headers: Vec<(String, String)>,
    /// The body (sent with its Content-Length when not empty, or for POST, PUT and PATCH).
    pub body: Vec<u8>,
    /// Keep connections open between requests (false: `Connection: close`, a new
    /// connection per request, its connect time reported on its own).
    pub keep_alive: bool,
}

impl Default for RequestSpec {
    fn default() -> Self {
        Self {
            method: "GET".into(),
            headers: Vec::new(),
            body: Vec::new(),
            keep_alive: true,
        }
    }
}

impl RequestSpec {
    /// The whole request for `path` on `authority`.
    fn render(&self, authority: &str, path: &str) -> Vec<u8> {
        let mut head = format!("{} {path} HTTP/1.1\r\n", self.method);
        if !self
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            head.push_str(&format!("Host: {authority}\r\n"));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let needs_length = matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
        if !self.body.is_empty() || needs_length {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        if !self.keep_alive {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// A parsed `http://host:port/path` target.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The URL as given.
    pub url: String,
    /// The complete request, sent as-is on every exchange.
    pub request: Vec<u8>,
    /// The path (with its query).
    pub path: String,
    /// `host:port` as the URL gives it.
    pub authority: String,
    /// The host alone (the name a TLS certificate must carry).
    pub host: String,
    /// `https://`: the connections speak TLS.
    pub tls: bool,
}

impl Target {
    /// Parses `url` and builds its request as `spec` says; a host that is not loopback
    /// needs `allow_remote`.
    pub fn with_request(
        url: &str,
        allow_remote: bool,
        spec: &RequestSpec,
    ) -> Result<Self, LoadError> {
        let mut target = Self::parse(url, allow_remote)?;
        target.request = spec.render(&target.authority, &target.path);
        Ok(target)
    }

    /// Parses `url` (a plain GET); a host that is not loopback needs `allow_remote`.
    pub fn parse(url: &str, allow_remote: bool) -> Result<Self, LoadError> {
        let bad = |reason: &str| LoadError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let UrlParts {
            tls,
            host,
            port,
            authority,
            path,
            ..
        } = parse_url(url).map_err(|reason| bad(&reason))?;
        let with_port = format!("{host}:{port}");
        let addr = match with_port.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                if host.eq_ignore_ascii_case("localhost") {
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
                } else if allow_remote {
                    (host.as_str(), port)
                        .to_socket_addrs()
                        .map_err(|e| bad(&format!("cannot resolve {host}: {e}")))?
                        .next()
                        .ok_or_else(|| bad("host resolves to no address"))?
                } else {
                    return Err(LoadError::NotLoopback(url.to_string()));
                }
            }
        };
        if !addr.ip().is_loopback() && !allow_remote {
            return Err(LoadError::NotLoopback(url.to_string()));
        }
        Ok(Self {
            addr,
            url: url.to_string(),
            request: RequestSpec::default().render(&authority, &path),
            path,
            authority,
            host,
            tls,
        })
    }
}

/// A URL's parts, as `http::Uri` parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    /// `https://`.
    pub tls: bool,
    /// The host (an IPv6 address in brackets).
    pub host: String,
    /// The port given, or the scheme's.
    pub port: u16,
    /// Whether the URL gave the port.
    pub port_given: bool,
    /// `host[:port]` as the URL gives it (the `Host` header).
    pub authority: String,
    /// The path and query (`/` when the URL has none).
    pub path: String,
}

impl UrlParts {
    /// Whether the host is this machine: `localhost` or a loopback address.
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// Parses an `http://` or `https://` URL with `http::Uri`: the one URL parser of the
/// suite (the load generator's targets, the servers' upstream). `http://h:80?x` is the
/// host `h`, port 80 and the request target `/?x`.
pub fn parse_url(url: &str) -> Result<UrlParts, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("not a URL ({e}): write e.g. http://127.0.0.1:8080/path"))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err("the URL must start with http:// or https://".into()),
    };
    let authority = uri.authority().ok_or("no host")?;
    if authority.as_str().contains('@') {
        return Err("credentials in the URL are not supported: send them in a header (-H)".into());
    }
    let host = authority.host();
    if host.is_empty() {
        return Err("no host".into());
    }
    let path = match uri.query() {
        Some(query) => format!("{}?{query}", uri.path()),
        None => uri.path().to_string(),
    };
    Ok(UrlParts {
        tls,
        host: host.to_string(),
        port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
        port_given: authority.port_u16().is_some(),
        authority: authority.as_str().to_string(),
        path: if path.is_empty() { "/".into() } else { path },
    })
}

/// The requests of a run: one per URL of the mix, each picked by its weight,
/// deterministically from the seed and the request's number.
#[derive(Debug, Clone)]
pub struct Requests {
    /// Each URL's whole request.
    pub bytes: Vec<Vec<u8>>,
    /// Running sums of the weights, normalized to end at 1.
    cumulative: Vec<f64>,
    /// HEAD requests: their answers have no body whatever their length says.
    pub head: bool,
    /// Reuse a connection after its answer (false: `--no-keepalive`, which sent
    /// `Connection: close` and must not send on it again, whatever the server says).
    pub keep_alive: bool,
    seed: u64,
}

impl Requests {
    /// The requests for `targets` with `weights` (all on one address), each as `spec`
    /// renders it (its method says whether answers have bodies; its keep-alive whether
    /// a connection is reused).
    pub fn new(targets: &[Target], weights: &[f64], spec: &RequestSpec, seed: u64) -> Self {
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                sum += w / total;
                sum
            })
            .collect();
        Self {
            bytes: targets.iter().map(|t| t.request.clone()).collect(),
            cumulative,
            head: spec.method.eq_ignore_ascii_case("HEAD"),
            keep_alive: spec.keep_alive,
            seed,
        }
    }

    /// The request the `number`-th request of the run sends (the same for the same seed).
    pub fn pick(&self, number: u64) -> &[u8] {
        &self.bytes[self.index_of(number)]
    }

    /// Which URL of the mix the `number`-th request of the run goes to.
    pub fn index_of(&self, number: u64) -> usize {
        if self.bytes.len() == 1 {
            return 0;
        }
        let u = unit_interval(splitmix64(
            self.seed ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        self.cumulative
            .partition_point(|&c| c <= u)
            .min(self.bytes.len() - 1)
    }

    /// How many URLs the mix has.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the mix is empty (it never is: a run has a URL).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

pub use crate::random::{splitmix64, unit_interval};

/// Reads a weighted URL list: a URL per line, optionally after its weight
/// (`3 http://127.0.0.1:8080/a`); blank lines and `#` comments are skipped.
pub fn parse_url_file(text: &str, file: &str) -> Result<Vec<(f64, String)>, String> {
    Ok(parse_named_url_file(text, file)?
        .into_iter()
        .map(|(_, weight, url)| (weight, url))
        .collect())
}

/// As [`parse_url_file`], with each line's name: `NAME WEIGHT URL` names it, `WEIGHT URL`
/// and `URL` leave it unnamed (its per-URL figures go by its path).
pub fn parse_named_url_file(
    text: &str,
    file: &str,
) -> Result<Vec<(Option<String>, f64, String)>, String> {
    let mut urls = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = || {
            format!(
                "{file}:{}: write `NAME WEIGHT URL`, `WEIGHT URL` or `URL`, not {line:?}",
                number + 1
            )
        };
        let (name, weight, url) = match words.as_slice() {
            [url] if url.parse::<f64>().is_err() => (None, 1.0, *url),
            [weight, url] => (None, weight.parse::<f64>().map_err(|_| bad())?, *url),
            [name, weight, url] if name.parse::<f64>().is_err() => (
                Some(name.to_string()),
                weight.parse::<f64>().map_err(|_| bad())?,
                *url,
            ),
            _ => return Err(bad()),
        };
        if let Some(name) = &name {
            if names.contains(name) {
                return Err(format!(
                    "{file}:{}: the name {name:?} is given twice: names must differ",
                    number + 1
                ));
            }
            names.push(name.clone());
        }
        if !(weight.is_finite() && weight > 0.0) {
            return Err(format!(
                "{file}:{}: the weight must be above 0, not {weight}",
                number + 1
            ));
        }
        urls.push((name, weight, url.to_string()));
    }
    if urls.is_empty() {
        return Err(format!("{file}: no URL in it"));
    }
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_without_a_path_and_odd_urls_split_where_http_says() {
        let parts = parse_url("http://h:80?x").unwrap();
        assert_eq!(
            (
                parts.host.as_str(),
                parts.port,
                parts.authority.as_str(),
                parts.path.as_str()
            ),
            ("h", 80, "h:80", "/?x")
        );
        let target = Target::parse("http://127.0.0.1:9?a=1", false).unwrap();
        assert_eq!((target.addr.port(), target.path.as_str()), (9, "/?a=1"));
        assert_eq!(parse_url("https://[::1]/p").unwrap().port, 443);
        assert!(parse_url("http://user:pw@127.0.0.1:9/")
            .unwrap_err()
            .contains("credentials"));
        assert!(parse_url("http:///x").is_err());
        assert!(parse_url("127.0.0.1:9").unwrap_err().contains("http://"));
    }

    #[test]
    fn loopback_urls_parse_and_others_need_allow_remote() {
        let target = Target::parse("http://127.0.0.1:8080/null?x=1", false).unwrap();
        assert_eq!(target.addr, "127.0.0.1:8080".parse().unwrap());
        assert!(String::from_utf8(target.request)
            .unwrap()
            .starts_with("GET /null?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        assert_eq!(
            Target::parse("http://localhost:9/", false)
                .unwrap()
                .addr
                .port(),
            9
        );
        assert_eq!(
            Target::parse("http://[::1]:9", false).unwrap().addr.port(),
            9
        );
        assert!(matches!(
            Target::parse("http://10.0.0.1:80/", false),
            Err(LoadError::NotLoopback(_))
        ));
        assert!(matches!(
            Target::parse("http://example.com/", false),
            Err(LoadError::NotLoopback(_))
        ));
        let secure = Target::parse("https://localhost/x", false).unwrap();
        assert!(secure.tls && secure.addr.port() == 443 && secure.host == "localhost");
        assert!(matches!(
            Target::parse("ftp://127.0.0.1/", false),
            Err(LoadError::BadUrl { .. })
        ));
    }

    #[test]
    fn a_request_has_its_method_headers_and_body() {
        let spec = RequestSpec {
            method: "POST".into(),
            headers: vec![
                ("Host".into(), "api.example".into()),
                ("X-Trace".into(), "1".into()),
            ],
            body: b"{}".to_vec(),
            keep_alive: false,
        };
        let target = Target::with_request("http://127.0.0.1:8080/items", false, &spec).unwrap();
        assert_eq!(
            String::from_utf8(target.request).unwrap(),
            "POST /items HTTP/1.1\r\nHost: api.example\r\nX-Trace: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
    }

    #[test]
    fn a_weighted_mix_is_followed_and_repeats_with_its_seed() {
        let targets: Vec<Target> = ["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"]
            .iter()
            .map(|u| Target::parse(u, false).unwrap())
            .collect();
        let requests = Requests::new(&targets, &[3.0, 1.0], &RequestSpec::default(), 7);
        let a = (0..40_000)
            .filter(|n| requests.pick(*n).starts_with(b"GET /a"))
            .count();
        assert!(
            (29_000..31_000).contains(&a),
            "{a} of 40000 picked /a (weight 3 of 4)"
        );
        let again = Requests::new(&targets, &[3.0, 1.0], &RequestSpec::default(), 7);
        assert!((0..100).all(|n| requests.pick(n) == again.pick(n)));
        let parsed = parse_url_file("# mix\n3 http://x/a\nhttp://x/b\n", "f").unwrap();
        assert_eq!(
            parsed,
            vec![(3.0, "http://x/a".into()), (1.0, "http://x/b".into())]
        );
        assert!(parse_url_file("0 http://x/a", "f")
            .unwrap_err()
            .contains("f:1"));
        let named = parse_named_url_file("search 3 http://x/a\n2 http://x/b\n", "f").unwrap();
        assert_eq!(named[0], (Some("search".into()), 3.0, "http://x/a".into()));
        assert_eq!(named[1], (None, 2.0, "http://x/b".into()));
        let twice = parse_named_url_file("a 1 http://x/a\na 1 http://x/b\n", "f");
        assert!(twice
            .unwrap_err()
            .contains("f:2: the name \"a\" is given twice"));
        let odd = parse_named_url_file("a b http://x/a\n", "f");
        assert!(odd.unwrap_err().contains("`NAME WEIGHT URL`"));
    }
}
