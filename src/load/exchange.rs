//! One request on one connection: connect if needed (within the connect timeout),
//! send, read the reply until its deadline, and classify what came back.

use std::time::{Duration, Instant};

use super::client::{Connection, ExchangeError};
use super::plan::Plan;
use super::recorder::{ErrorClass, Finished, RequestOutcome};

/// Opens connection `index` within the connect timeout, or says why it could not.
pub(super) async fn connect(plan: &Plan, index: usize) -> Result<Connection, ErrorClass> {
    match tokio::time::timeout(plan.connect_timeout, plan.open(index)).await {
        Err(_) => Err(ErrorClass::ConnectTimeout),
        Ok(Err(error)) => Err(classify_connect(&error)),
        Ok(Ok(connection)) => Ok(connection),
    }
}

/// Sends one request on `slot`'s connection (connecting first if needed) and classifies
/// the result; a connection that failed, timed out or was closed is dropped. The reply
/// is awaited until `sent + timeout` (then it is a timeout) or the run's drain
/// deadline, whichever comes first: None means the request was still in flight then.
pub(super) async fn exchange(
    slot: &mut Option<Connection>,
    plan: &Plan,
    index: usize,
    request: &[u8],
    sent: Instant,
) -> Option<Finished> {
    match bounded(plan, sent, attempt(slot, plan, index, request)).await {
        Ok(finished) => Some(finished),
        Err(late) => {
            *slot = None;
            late
        }
    }
}

/// Runs `attempt` (a request sent at `sent`) until `sent + timeout` or the run's drain
/// deadline, whichever comes first. Err when it did not end in time: a timeout past
/// the reply deadline, or None past the drain (the request was still in flight then).
/// HTTP/1.1 and HTTP/2 alike.
pub(super) async fn bounded(
    plan: &Plan,
    sent: Instant,
    attempt: impl std::future::Future<Output = Finished>,
) -> Result<Finished, Option<Finished>> {
    let reply_deadline = sent + plan.timeout;
    let cut = plan.drain_until.filter(|drain| *drain < reply_deadline);
    let deadline = cut.unwrap_or(reply_deadline);
    tokio::time::timeout_at(deadline.into(), attempt)
        .await
        .map_err(|_| cut.is_none().then(|| Finished::failed(ErrorClass::Timeout)))
}

/// Connects if needed (noting how long that took), then exchanges one request, with
/// no overall bound.
async fn attempt(
    slot: &mut Option<Connection>,
    plan: &Plan,
    index: usize,
    request: &[u8],
) -> Finished {
    let mut connected = None;
    let connection = match slot {
        Some(connection) => connection,
        None => {
            let began = Instant::now();
            match connect(plan, index).await {
                Err(class) => return Finished::failed(class),
                Ok(connection) => {
                    connected = Some(began.elapsed());
                    slot.insert(connection)
                }
            }
        }
    };
    let read_before = connection.bytes_read();
    let result = connection.exchange(request, plan.requests.head).await;
    let bytes = connection.bytes_read() - read_before;
    match result {
        Err(error) => {
            *slot = None;
            Finished {
                bytes,
                connect: connected,
                ..Finished::failed(classify_exchange(&error))
            }
        }
        Ok(head) => {
            if !head.keep_alive || !plan.requests.keep_alive {
                *slot = None;
            }
            Finished {
                outcome: outcome_of(head.status, head.server_wait_us),
                status: Some(head.status),
                bytes,
                connect: connected,
            }
        }
    }
}

/// How a request answered with `status` ended, with the wait the server reported
/// (µs) when it succeeded. HTTP/1.1 and HTTP/2 alike.
pub(super) fn outcome_of(status: u16, server_wait_us: Option<u64>) -> RequestOutcome {
    match status {
        500..=599 => RequestOutcome::Failed(ErrorClass::Status5xx),
        400..=499 => RequestOutcome::Failed(ErrorClass::Status4xx),
        100..=399 => RequestOutcome::Ok(server_wait_us.map(Duration::from_micros)),
        _ => RequestOutcome::Failed(ErrorClass::Other),
    }
}

/// The class of a failed connect.
pub(super) fn classify_connect(error: &std::io::Error) -> ErrorClass {
    if super::client::is_tls_failure(error) {
        return ErrorClass::Tls;
    }
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => ErrorClass::ConnectRefused,
        std::io::ErrorKind::TimedOut => ErrorClass::ConnectTimeout,
        _ => ErrorClass::Other,
    }
}

fn classify_exchange(error: &ExchangeError) -> ErrorClass {
    if error.is_tls() {
        ErrorClass::Tls
    } else if error.is_reset() {
        ErrorClass::Reset
    } else if matches!(error, ExchangeError::TooLarge(_)) {
        ErrorClass::TooLarge
    } else {
        ErrorClass::Other
    }
}
