//! The URL a load run targets: where to connect, and the request bytes, built once.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

use super::LoadError;

/// A parsed `http://host:port/path` target.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The URL as given.
    pub url: String,
    /// The complete GET request, sent as-is on every exchange.
    pub request: Vec<u8>,
}

impl Target {
    /// Parses `url`; a host that is not loopback needs `allow_remote`.
    pub fn parse(url: &str, allow_remote: bool) -> Result<Self, LoadError> {
        let bad = |reason: &str| LoadError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// URLs are supported (no TLS)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        let with_port = if authority.ends_with(']') || !authority.contains(':') {
            format!("{authority}:80")
        } else {
            authority.to_string()
        };
        let addr = match with_port.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                let (host, port) = with_port
                    .rsplit_once(':')
                    .ok_or_else(|| bad("bad host:port"))?;
                let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
                if host.eq_ignore_ascii_case("localhost") {
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
                } else if allow_remote {
                    (host, port)
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
        let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n").into_bytes();
        Ok(Self {
            addr,
            url: url.to_string(),
            request,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(
            Target::parse("https://127.0.0.1/", false),
            Err(LoadError::BadUrl { .. })
        ));
    }
}
