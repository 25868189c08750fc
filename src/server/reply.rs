//! The response every style produces for a request, before it is put on the wire.

use std::time::Duration;

use bytes::Bytes;

use crate::workload::{Outcome, WorkloadError};

pub use crate::net::WAITED_HEADER;
/// The content type of every body.
pub const CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// A status, a body, and (for I/O routes) the wait achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response body.
    pub body: Bytes,
    /// Wait achieved, sent as [`WAITED_HEADER`].
    pub waited: Option<Duration>,
}

impl Reply {
    /// A 200 with a fixed body.
    pub fn ok(body: &'static str) -> Self {
        Self {
            status: 200,
            body: Bytes::from_static(body.as_bytes()),
            waited: None,
        }
    }

    /// A 200 carrying a computed body.
    pub fn text(body: String) -> Self {
        Self {
            status: 200,
            body: Bytes::from(body),
            waited: None,
        }
    }

    /// 200 with the outcome's body and wait, or the error's status and message.
    pub fn from_result(result: Result<Outcome, WorkloadError>) -> Self {
        match result {
            Ok(outcome) => Self {
                status: 200,
                body: Bytes::from(outcome.body),
                waited: Some(outcome.waited),
            },
            Err(error) => Self::error(error.status(), error.body()),
        }
    }

    /// An error status with a one-line explanation.
    pub fn error(status: u16, message: String) -> Self {
        Self {
            status,
            body: Bytes::from(message),
            waited: None,
        }
    }

    /// 404 listing the routes that exist.
    pub fn not_found() -> Self {
        Self::error(
            404,
            "error: no such route; try /null /io /cpu /mixed /fanout /db /db-slow /db-fanout /health\n".into(),
        )
    }

    /// 405: only GET is served.
    pub fn method_not_allowed() -> Self {
        Self::error(405, "error: only GET is served\n".into())
    }
}

/// Where every style serves its database counters as JSON.
pub const DB_STATS_PATH: &str = "/db-stats";

/// The answer to `GET /db-stats`: the server's database counters as JSON.
pub fn db_stats(stats: &crate::workload::db::DbStats) -> Reply {
    Reply::text(serde_json::to_string(&stats.snapshot()).unwrap_or_default())
}

/// The reason phrase for the statuses the servers send.
pub fn reason(status: u16) -> &'static str {
    // hyper's own phrases, so both kinds of server send the same status line.
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
        .unwrap_or("Unknown")
}
