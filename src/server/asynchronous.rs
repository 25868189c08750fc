//! The async style: tokio multi-thread runtime + hyper 1 (HTTP/1.1, keep-alive). I/O
//! awaits; CPU work runs inline on the runtime worker — the naive async the articles
//! warn about. The hybrid style reuses this server with another [`CpuOffload`].

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};

use super::offload::CpuOffload;
use super::reply::{Reply, CONTENT_TYPE, WAITED_HEADER};
use super::ServerConfig;
use crate::workload::{
    fanout, io, mixed, AsyncUpstream, Route, WorkloadConfig, HEALTH_BODY, NULL_BODY,
};

/// What every request handler shares.
struct State {
    workload: WorkloadConfig,
    upstream: AsyncUpstream,
    offload: CpuOffload,
}

/// Serves the async style on `listener` until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with_offload(listener, config, CpuOffload::Inline, shutdown).await
}

/// Serves the routes with CPU work executed by `offload` (shared with the hybrid style).
pub(crate) async fn serve_with_offload(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    offload: CpuOffload,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let upstream = AsyncUpstream::new(
        config.workload.upstream.clone(),
        config.workload.upstream_timeout,
    );
    let state = Arc::new(State {
        workload: config.workload,
        upstream,
        offload,
    });
    let handler = move |request: Request<Incoming>| {
        let state = state.clone();
        async move { Ok(to_response(handle(&request, &state).await)) }
    };
    crate::net::serve_http1(listener, handler, shutdown, config.grace).await
}

async fn handle(request: &Request<Incoming>, state: &State) -> Reply {
    if request.method() != Method::GET {
        return Reply::method_not_allowed();
    }
    let Some(route) = Route::from_target(request.uri().path()) else {
        return Reply::not_found();
    };
    let workload = &state.workload;
    match route {
        Route::Null => Reply::ok(NULL_BODY),
        Route::Health => Reply::ok(HEALTH_BODY),
        Route::Io => Reply::from_result(io::asynchronous(&workload.io, &state.upstream).await),
        Route::Cpu => match state.offload.run(workload.cpu).await {
            Ok(body) => Reply::text(body),
            Err(error) => Reply::error(error.status(), error.body()),
        },
        Route::Mixed => {
            let result = match io::asynchronous(&workload.io, &state.upstream).await {
                Ok(io) => state
                    .offload
                    .run(workload.cpu)
                    .await
                    .map(|cpu| mixed::render(io, &cpu)),
                Err(error) => Err(error),
            };
            Reply::from_result(result)
        }
        Route::Fanout => {
            Reply::from_result(fanout::asynchronous(&workload.fanout, &state.upstream).await)
        }
    }
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(reply.status)
        .header(hyper::header::CONTENT_TYPE, CONTENT_TYPE);
    if let Some(waited) = reply.waited {
        builder = builder.header(WAITED_HEADER, waited.as_micros().to_string());
    }
    builder
        .body(Full::new(reply.body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"error\n"))))
}
