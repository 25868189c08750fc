//! The async style: tokio multi-thread runtime + hyper 1 (HTTP/1.1, keep-alive). I/O
//! awaits; CPU work runs inline on the runtime worker — the naive async the articles
//! warn about. The hybrid style reuses this server with another [`CpuOffload`].

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use tokio::sync::SemaphorePermit;

use super::admission::{Admission, RoomFull};
use super::lag::{self, LagProbe};
use super::offload::CpuOffload;
use super::reply::{db_stats, Reply, CONTENT_TYPE, DB_STATS_PATH, WAITED_HEADER};
use super::{ServerConfig, Variant};

/// Idle upstream connections the C4 variants' blocking client keeps.
const PER_SERVER_BLOCKING_POOL: usize = 512;
use crate::workload::db::{self, AsyncDb};
use crate::workload::{
    fanout, io, mixed, AsyncUpstream, BlockingUpstream, ClientOptions, Route, WorkloadConfig,
    HEALTH_BODY, NULL_BODY,
};

/// What every request handler shares.
struct State {
    workload: WorkloadConfig,
    upstream: AsyncUpstream,
    offload: CpuOffload,
    variant: Variant,
    /// For the C4 variants, which call the blocking I/O face from async code.
    blocking_upstream: BlockingUpstream,
    lag: Arc<LagProbe>,
    /// The C10 variants' gate on requests in service (None: every request is served).
    admission: Option<Admission>,
    /// `/db`, `/db-slow`, `/db-fanout`: tokio-postgres behind a deadpool pool.
    db: AsyncDb,
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
    let options = ClientOptions::from_workload(&config.workload);
    let admission = config.style.admits().then(|| {
        let bounded = config.style.variant == Variant::BoundedQueue;
        Admission::new(
            config.style.in_service,
            bounded.then_some(config.style.in_service),
        )
    });
    let state = Arc::new(State {
        admission,
        db: AsyncDb::new(&config.workload.db, Arc::default()),
        upstream: AsyncUpstream::new(&options),
        blocking_upstream: BlockingUpstream::new(&options, PER_SERVER_BLOCKING_POOL),
        workload: config.workload,
        offload,
        variant: config.style.variant,
        lag: if config.style.lag_probe {
            LagProbe::start()
        } else {
            LagProbe::off()
        },
    });
    let handler = move |request: Request<Incoming>| {
        let state = state.clone();
        async move { Ok(to_response(handle(&request, &state).await)) }
    };
    crate::net::serve_http(
        listener,
        handler,
        config.limits,
        crate::net::Protocols::Http1AndH2c,
        shutdown,
        config.grace,
    )
    .await
}

async fn handle(request: &Request<Incoming>, state: &State) -> Reply {
    if request.method() != Method::GET {
        return Reply::method_not_allowed();
    }
    if request.uri().path() == lag::PATH {
        let snapshot = lag::LagSnapshot {
            queue_wait: state
                .admission
                .as_ref()
                .and_then(Admission::waits_in_window),
            ..state.lag.snapshot()
        };
        return Reply::text(serde_json::to_string(&snapshot).unwrap_or_default());
    }
    if request.uri().path() == lag::WINDOW_PATH {
        return match lag::window_query(request.uri().query().unwrap_or("")) {
            Some((begins_in, lasts)) => {
                state.lag.set_window(begins_in, lasts);
                if let Some(admission) = &state.admission {
                    admission.set_window(begins_in, lasts);
                }
                Reply::text("window named".to_string())
            }
            None => Reply::error(400, "want ?begins_in_ms=B&lasts_ms=L".to_string()),
        };
    }
    if request.uri().path() == DB_STATS_PATH {
        return db_stats(state.db.stats());
    }
    let Some(route) = Route::from_target(request.uri().path()) else {
        return Reply::not_found();
    };
    // Health checks bypass the broken twin's tax and the C10 gate.
    let _place = if route == Route::Health {
        None
    } else {
        super::hog::tax();
        match admit(state).await {
            Ok(place) => place,
            Err(busy) => return busy,
        }
    };
    let workload = &state.workload;
    match route {
        Route::Null => Reply::ok(NULL_BODY),
        Route::Health => Reply::ok(HEALTH_BODY),
        Route::Io => Reply::from_result(io_part(state).await),
        Route::Cpu => match state.offload.run(workload.cpu).await {
            Ok(body) => Reply::text(body),
            Err(error) => Reply::error(error.status(), error.body()),
        },
        Route::Mixed => {
            let result = match io_part(state).await {
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
        Route::Db(route) => Reply::from_result(db::serve_async(route, &state.db).await),
    }
}

/// The C10 variants' gate: a place in service, held until the reply is built (None
/// without a gate), or a 503 when the waiting room is full.
async fn admit(state: &State) -> Result<Option<SemaphorePermit<'_>>, Reply> {
    let Some(admission) = &state.admission else {
        return Ok(None);
    };
    match admission.enter().await {
        Ok(place) => Ok(Some(place)),
        Err(RoomFull) => Err(Reply::error(
            503,
            "error: server busy: the request queue is full (bounded-queue)\n".into(),
        )),
    }
}

/// The I/O wait, done the variant's way: awaited (standard), blocking the worker
/// (C4 wrong), or blocking inside `spawn_blocking` (C4 right, alternative).
async fn io_part(
    state: &State,
) -> Result<crate::workload::Outcome, crate::workload::WorkloadError> {
    let spec = state.workload.io;
    match state.variant {
        Variant::BlockingInAsync => io::blocking(&spec, &state.blocking_upstream),
        Variant::BlockingInSpawnBlocking => {
            let upstream = state.blocking_upstream.clone();
            tokio::task::spawn_blocking(move || io::blocking(&spec, &upstream))
                .await
                .map_err(|e| crate::workload::WorkloadError::Offload(e.to_string()))?
        }
        _ => io::asynchronous(&spec, &state.upstream).await,
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
