//! What one client may cost a server: the bounds every real server has (slow heads,
//! idle keep-alive connections, clients that never read, big heads and bodies, too
//! many connections), shared by every style and the mock upstream.

use std::time::Duration;

/// The limits, with defaults that real servers use and that never fire in a benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// From a request's first byte to its whole head (then 408 or close); the blocking
    /// style also reads a body it drops within it.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may sit with no request (then it is closed).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How long one response may wait to be written (a client that never reads).
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
    /// Largest request head, bytes (then 431 and close).
    pub max_header_bytes: usize,
    /// Largest request body, bytes (then 413 and close, before reading it).
    pub max_body_bytes: usize,
    /// Most connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
}

/// The smallest head limit accepted (hyper's read buffer cannot be smaller).
pub const MIN_HEADER_BYTES: usize = 8 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_body_bytes: 1024 * 1024,
            // Above what one process may open on this machine (20,000 files): it never
            // fires unless set lower.
            max_connections: 25_000,
        }
    }
}

impl Limits {
    /// The limits as `key=value` words for a cell's knobs, e.g. `header-read=10s ...`.
    pub fn knobs(&self) -> String {
        let d = crate::flags::duration;
        format!(
            "header-read={} idle={} write={} max-header={} max-body={} max-conns={}",
            d(self.header_read_timeout),
            d(self.idle_timeout),
            d(self.write_timeout),
            self.max_header_bytes,
            self.max_body_bytes,
            self.max_connections
        )
    }

    /// The `sabench serve` / `sabench upstream` flags that set these limits.
    pub fn args(&self) -> Vec<String> {
        let d = crate::flags::duration;
        vec![
            "--header-read-timeout".into(),
            d(self.header_read_timeout),
            "--idle-timeout".into(),
            d(self.idle_timeout),
            "--write-timeout".into(),
            d(self.write_timeout),
            "--max-header-bytes".into(),
            self.max_header_bytes.to_string(),
            "--max-body-bytes".into(),
            self.max_body_bytes.to_string(),
            "--max-connections".into(),
            self.max_connections.to_string(),
        ]
    }

    /// Whether the limits make sense: every timeout above zero, room for a head, at
    /// least one connection. The message says which one is wrong.
    pub fn check(&self) -> Result<(), String> {
        let zero = [
            ("header_read_timeout", self.header_read_timeout),
            ("idle_timeout", self.idle_timeout),
            ("write_timeout", self.write_timeout),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, d)| d.is_zero()) {
            return Err(format!("{name} must be above zero"));
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return Err(format!(
                "max_header_bytes must be at least {MIN_HEADER_BYTES} (got {})",
                self.max_header_bytes
            ));
        }
        if self.max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_as_flags_and_knobs() {
        let limits = Limits::default();
        assert_eq!(limits.check(), Ok(()));
        assert!(limits.knobs().contains("header-read=10s"));
        assert!(limits.args().contains(&"--max-connections".to_string()));
        let bad = Limits {
            idle_timeout: Duration::ZERO,
            ..limits
        };
        assert!(bad.check().unwrap_err().contains("idle_timeout"));
        let small = Limits {
            max_header_bytes: 100,
            ..limits
        };
        assert!(small.check().unwrap_err().contains("max_header_bytes"));
    }
}
