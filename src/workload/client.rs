//! Upstream HTTP clients: a pure blocking one (`ureq`, no hidden runtime) for the
//! blocking style and one shared pooled `reqwest` client for the async styles.
//! Both map failures onto the same [`WorkloadError`]s.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::breaker::CircuitBreaker;
use super::{WorkloadConfig, WorkloadError};

/// How a server's upstream client behaves (shared by both faces).
#[derive(Clone)]
pub struct ClientOptions {
    /// Base URL of the upstream; none: every call fails with [`WorkloadError::NoUpstream`].
    pub base: Option<String>,
    /// Bound on each call.
    pub timeout: Duration,
    /// Keep connections for reuse (false: a new connection per call).
    pub pooled: bool,
    /// Fail fast while the upstream keeps failing.
    pub breaker: Option<Arc<CircuitBreaker>>,
}

impl ClientOptions {
    /// The options a workload configuration asks for (one breaker per call of this).
    pub fn from_workload(workload: &WorkloadConfig) -> Self {
        Self {
            base: workload.upstream.clone(),
            timeout: workload.upstream_timeout,
            pooled: workload.pooled,
            breaker: workload
                .breaker
                .map(|spec| Arc::new(CircuitBreaker::new(spec))),
        }
    }

    /// Options for `base` with the defaults (pooled, no breaker).
    pub fn plain(base: Option<String>, timeout: Duration) -> Self {
        Self {
            base,
            timeout,
            pooled: true,
            breaker: None,
        }
    }

    /// Tells the breaker (if any) how an admitted call ended.
    fn guarded<T>(&self, outcome: Result<T, WorkloadError>) -> Result<T, WorkloadError> {
        if let Some(breaker) = &self.breaker {
            breaker.record(outcome.is_ok());
        }
        outcome
    }

    /// Refuses a call at once while the breaker (if any) is open.
    fn admit(&self, url: &str) -> Result<(), WorkloadError> {
        match &self.breaker {
            Some(breaker) if !breaker.allow() => Err(WorkloadError::CircuitOpen {
                url: url.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

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

/// Each way's buffer per pooled blocking connection: what hyper's client starts with
/// (8 KiB), instead of ureq's 128 KiB in + 128 KiB out, which alone made the blocking
/// style's memory 16 MiB larger over 64 connections (an artefact, not the model).
pub const BLOCKING_CLIENT_BUFFER_BYTES: usize = 8 * 1024;

/// A blocking upstream client with a connection pool sized to the server's threads.
#[derive(Clone)]
pub struct BlockingUpstream {
    agent: ureq::Agent,
    options: ClientOptions,
}

impl BlockingUpstream {
    /// A client keeping up to `pool_size` idle connections (none when not pooled).
    pub fn new(options: &ClientOptions, pool_size: usize) -> Self {
        let idle = if options.pooled { pool_size.max(1) } else { 0 };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .max_idle_connections(idle)
            .max_idle_connections_per_host(idle)
            .input_buffer_size(BLOCKING_CLIENT_BUFFER_BYTES)
            .output_buffer_size(BLOCKING_CLIENT_BUFFER_BYTES)
            .build()
            .new_agent();
        Self {
            agent,
            options: options.clone(),
        }
    }

    /// GETs `path` from the upstream and returns the body of a 2xx answer.
    pub fn get(&self, path: &str) -> Result<Bytes, WorkloadError> {
        let url = url(&self.options.base, path)?;
        self.options.admit(&url)?;
        let outcome = self.call(&url);
        self.options.guarded(outcome)
    }

    fn call(&self, url: &str) -> Result<Bytes, WorkloadError> {
        let url = url.to_string();
        let mut response = self.agent.get(&url).call().map_err(|e| match e {
            ureq::Error::Timeout(_) => WorkloadError::UpstreamTimeout {
                url: url.clone(),
                timeout: self.options.timeout,
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

/// An async upstream client: one `reqwest::Client` shared by every request.
#[derive(Clone)]
pub struct AsyncUpstream {
    client: reqwest::Client,
    options: ClientOptions,
}

impl AsyncUpstream {
    /// A client with `options` (not pooled: a new connection per call).
    pub fn new(options: &ClientOptions) -> Self {
        let mut builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .no_proxy();
        if !options.pooled {
            builder = builder.pool_max_idle_per_host(0);
        }
        let client = builder.build().unwrap_or_else(|_| reqwest::Client::new());
        Self {
            client,
            options: options.clone(),
        }
    }

    /// GETs `path` from the upstream and returns the body of a 2xx answer.
    pub async fn get(&self, path: &str) -> Result<Bytes, WorkloadError> {
        let url = url(&self.options.base, path)?;
        self.options.admit(&url)?;
        let outcome = self.call(&url).await;
        self.options.guarded(outcome)
    }

    async fn call(&self, url: &str) -> Result<Bytes, WorkloadError> {
        let url = url.to_string();
        let classify = |e: reqwest::Error, url: &str| {
            if e.is_timeout() {
                WorkloadError::UpstreamTimeout {
                    url: url.to_string(),
                    timeout: self.options.timeout,
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
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
