//! Upstream HTTP clients: a pure blocking one (`ureq`, no hidden runtime) for the
//! blocking style and one shared pooled `reqwest` client for the async styles.
//! Both map failures onto the same [`WorkloadError`]s.

use std::time::Duration;

use bytes::Bytes;

use super::WorkloadError;

/// The path of the `index`-th upstream resource a workload fetches.
pub fn item_path(index: u32) -> String {
    format!("/item/{index}")
}

fn url(base: &Option<String>, path: &str) -> Result<String, WorkloadError> {
    match base {
        Some(base) => Ok(format!("{}{path}", base.trim_end_matches('/'))),
        None => Err(WorkloadError::NoUpstream),
    }
}

/// A blocking upstream client with a connection pool sized to the server's threads.
#[derive(Clone)]
pub struct BlockingUpstream {
    agent: ureq::Agent,
    base: Option<String>,
    timeout: Duration,
}

impl BlockingUpstream {
    /// A client for `base` (none: every call fails with [`WorkloadError::NoUpstream`]),
    /// keeping up to `pool_size` idle connections to it.
    pub fn new(base: Option<String>, pool_size: usize, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_idle_connections(pool_size.max(1))
            .max_idle_connections_per_host(pool_size.max(1))
            .build()
            .new_agent();
        Self {
            agent,
            base,
            timeout,
        }
    }

    /// GETs `path` from the upstream and returns the body of a 2xx answer.
    pub fn get(&self, path: &str) -> Result<Bytes, WorkloadError> {
        let url = url(&self.base, path)?;
        let mut response = self.agent.get(&url).call().map_err(|e| match e {
            ureq::Error::Timeout(_) => WorkloadError::UpstreamTimeout {
                url: url.clone(),
                timeout: self.timeout,
            },
            other => WorkloadError::UpstreamUnreachable {
                url: url.clone(),
                reason: other.to_string(),
            },
        })?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(WorkloadError::UpstreamStatus { url, status });
        }
        let body =
            response
                .body_mut()
                .read_to_vec()
                .map_err(|e| WorkloadError::UpstreamUnreachable {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
        Ok(Bytes::from(body))
    }
}

/// An async upstream client: one pooled `reqwest::Client` shared by every request.
#[derive(Clone)]
pub struct AsyncUpstream {
    client: reqwest::Client,
    base: Option<String>,
    timeout: Duration,
}

impl AsyncUpstream {
    /// A client for `base` (none: every call fails with [`WorkloadError::NoUpstream`]).
    pub fn new(base: Option<String>, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            client,
            base,
            timeout,
        }
    }

    /// GETs `path` from the upstream and returns the body of a 2xx answer.
    pub async fn get(&self, path: &str) -> Result<Bytes, WorkloadError> {
        let url = url(&self.base, path)?;
        let classify = |e: reqwest::Error, url: &str| {
            if e.is_timeout() {
                WorkloadError::UpstreamTimeout {
                    url: url.to_string(),
                    timeout: self.timeout,
                }
            } else {
                WorkloadError::UpstreamUnreachable {
                    url: url.to_string(),
                    reason: error_chain(&e),
                }
            }
        };
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| classify(e, &url))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(WorkloadError::UpstreamStatus { url, status });
        }
        response.bytes().await.map_err(|e| classify(e, &url))
    }
}

/// An error and its causes on one line (reqwest hides the useful part in `source`).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
