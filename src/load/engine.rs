//! The one worker loop. Every mode runs it: a [`Pacer`] says when each request should
//! leave (closed loop: at once), the [`Plan`] says when to stop (duration or count),
//! and each connection of a worker thread takes the next request when it is free.
//! A request whose intended time passed while every connection was busy is sent late,
//! and that wait counts in its corrected latency (wrk2's model, no coordinated omission).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::alarm::AlarmHandle;
use super::client::{Connection, ExchangeError};
use super::pacer::{Pacer, Schedule};
use super::recorder::{ErrorClass, Recording, RequestOutcome, Timing};

/// Waits longer than this use tokio's (millisecond) timer for the bulk, then the
/// precise alarm clock for the rest.
const COARSE_ABOVE: Duration = Duration::from_millis(3);
/// Pause after a failed connect so a dead target is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// What every worker of a run shares.
pub(crate) struct Plan {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The request bytes.
    pub request: Vec<u8>,
    /// The arrival process.
    pub schedule: Schedule,
    /// Time zero of the schedule (the warm-up begins here).
    pub start: Instant,
    /// End of warm-up: requests intended from here on are measured.
    pub measure_start: Instant,
    /// No request is intended at or after this instant.
    pub end: Option<Instant>,
    /// At most this many measured requests.
    pub max_requests: Option<u64>,
    /// Measured requests issued so far (all workers).
    pub issued: AtomicU64,
    /// Bound on one exchange.
    pub timeout: Duration,
    /// Bound on one connect.
    pub connect_timeout: Duration,
    /// Set from outside to end the run early.
    pub stop: Option<Arc<AtomicBool>>,
    /// CPUs the worker threads are pinned to.
    pub cpus: Vec<usize>,
}

/// One interval's recording, sent to the collector.
pub(crate) struct IntervalReport {
    /// Interval number (seconds since the measured window began).
    pub index: u64,
    /// Its length (the last one may be short).
    pub length: Duration,
    /// What happened in it.
    pub recording: Recording,
}

/// Messages from a worker thread to the collector.
pub(crate) enum WorkerMessage {
    /// A finished interval.
    Interval(Box<IntervalReport>),
    /// The worker is done; its thread used this much CPU.
    Done {
        /// User + system CPU seconds of the worker thread.
        cpu_seconds: f64,
        /// Connections that got no answer at all inside the measured window.
        unserved: u64,
    },
}

/// A request a connection is about to send.
struct Ticket {
    intended: Option<Instant>,
    ready: Instant,
    measured: bool,
}

/// State shared by the connections of one worker thread (single-threaded: `RefCell`).
struct Worker {
    plan: Arc<Plan>,
    pacer: RefCell<Pacer>,
    interval: RefCell<Recording>,
    alarm: AlarmHandle,
    unserved: std::cell::Cell<u64>,
}

impl Worker {
    /// The next request to send, or None when the run is over.
    fn next_ticket(&self) -> Option<Ticket> {
        let plan = &self.plan;
        let ready = Instant::now();
        let intended = self
            .pacer
            .borrow_mut()
            .next_send()
            .map(|offset| plan.start + offset);
        let at = intended.unwrap_or(ready);
        // The window is bounded in time: a request still unsent at the end is not sent
        // (in open loop that shortfall shows as a sent rate under the target).
        if plan.end.is_some_and(|end| at >= end || ready >= end) {
            return None;
        }
        if plan
            .stop
            .as_ref()
            .is_some_and(|stop| stop.load(Ordering::Relaxed))
        {
            return None;
        }
        // Measured: scheduled inside the window, or sent inside it after waiting out the
        // warm-up's backlog (an overloaded server's queue is part of what it costs).
        let measured = at >= plan.measure_start || ready >= plan.measure_start;
        if measured {
            if let Some(max) = plan.max_requests {
                if plan.issued.fetch_add(1, Ordering::Relaxed) >= max {
                    return None;
                }
            }
        }
        Some(Ticket {
            intended,
            ready,
            measured,
        })
    }
}

/// Runs one worker thread: `connections` connections on a current-thread runtime,
/// reporting an interval every second and `Done` at the end.
pub(crate) fn run_worker(
    plan: Arc<Plan>,
    index: usize,
    workers: usize,
    connections: usize,
    reports: Sender<WorkerMessage>,
    alarm: AlarmHandle,
) -> std::io::Result<()> {
    crate::affinity::pin_current_thread(&plan.cpus)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let worker = Rc::new(Worker {
        pacer: RefCell::new(Pacer::new(plan.schedule, index, workers)),
        interval: RefCell::new(Recording::default()),
        alarm,
        unserved: std::cell::Cell::new(0),
        plan,
    });
    let last_index = runtime.block_on(async {
        let local = tokio::task::LocalSet::new();
        let drivers: Vec<_> = (0..connections)
            .map(|_| {
                let worker = worker.clone();
                local.spawn_local(async move { drive(&worker).await })
            })
            .collect();
        let all_done = async {
            for driver in drivers {
                let _ = driver.await;
            }
        };
        let mut ticker = std::pin::pin!(tick(&worker, &reports));
        local
            .run_until(async {
                tokio::select! {
                    () = all_done => {},
                    () = &mut ticker => {},
                }
            })
            .await;
        let elapsed = Instant::now().saturating_duration_since(worker.plan.measure_start);
        elapsed.as_secs()
    });
    let start_of_last = worker.plan.measure_start + Duration::from_secs(last_index);
    let recording = worker.interval.replace(Recording::default());
    let _ = reports.send(WorkerMessage::Interval(Box::new(IntervalReport {
        index: last_index,
        length: Instant::now().saturating_duration_since(start_of_last),
        recording,
    })));
    let _ = reports.send(WorkerMessage::Done {
        cpu_seconds: thread_cpu_seconds(),
        unserved: worker.unserved.get(),
    });
    Ok(())
}

/// Hands the collector each whole second of the measured window as it ends.
async fn tick(worker: &Worker, reports: &Sender<WorkerMessage>) {
    for index in 0.. {
        let boundary = worker.plan.measure_start + Duration::from_secs(index + 1);
        tokio::time::sleep_until(boundary.into()).await;
        let recording = worker.interval.replace(Recording::default());
        let report = IntervalReport {
            index,
            length: Duration::from_secs(1),
            recording,
        };
        if reports
            .send(WorkerMessage::Interval(Box::new(report)))
            .is_err()
        {
            return;
        }
    }
}

/// One connection: take a ticket, wait for its time, exchange, record; until the run
/// ends. A connection that got no answer inside the measured window is counted as
/// unserved (a fixed thread pool tied up by other keep-alive connections looks so).
async fn drive(worker: &Worker) {
    let plan = &worker.plan;
    let mut connection: Option<Connection> = None;
    let mut served = false;
    while let Some(ticket) = worker.next_ticket() {
        if let Some(at) = ticket.intended {
            pace_until(at, &worker.alarm).await;
        }
        let sent = Instant::now();
        let outcome = exchange(&mut connection, plan).await;
        let done = Instant::now();
        served |= outcome.answered()
            && done >= plan.measure_start
            && plan.end.is_none_or(|end| done <= end);
        if ticket.measured {
            let timing = Timing {
                intended: ticket.intended.unwrap_or(sent),
                ready: ticket.ready,
                sent,
                done,
            };
            worker.interval.borrow_mut().record(&timing, outcome);
        }
        if matches!(
            outcome,
            RequestOutcome::Failed(ErrorClass::ConnectRefused | ErrorClass::ConnectTimeout)
        ) {
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
    if !served {
        worker.unserved.set(worker.unserved.get() + 1);
    }
}

/// Waits until `at`: tokio's timer for the bulk of a long wait, then the alarm clock.
async fn pace_until(at: Instant, alarm: &AlarmHandle) {
    if at > Instant::now() + COARSE_ABOVE {
        tokio::time::sleep_until((at - COARSE_ABOVE).into()).await;
    }
    alarm.sleep_until(at).await;
}

/// Sends one request on `slot`'s connection (connecting first if needed) and classifies
/// the result. A connection that failed, timed out or was closed is dropped.
async fn exchange(slot: &mut Option<Connection>, plan: &Plan) -> RequestOutcome {
    let connection = match slot {
        Some(connection) => connection,
        None => {
            match tokio::time::timeout(plan.connect_timeout, Connection::connect(plan.addr)).await {
                Err(_) => return RequestOutcome::Failed(ErrorClass::ConnectTimeout),
                Ok(Err(error)) => return RequestOutcome::Failed(classify_connect(&error)),
                Ok(Ok(connection)) => slot.insert(connection),
            }
        }
    };
    match tokio::time::timeout(plan.timeout, connection.exchange(&plan.request)).await {
        Err(_) => {
            *slot = None;
            RequestOutcome::Failed(ErrorClass::Timeout)
        }
        Ok(Err(error)) => {
            *slot = None;
            RequestOutcome::Failed(classify_exchange(&error))
        }
        Ok(Ok(head)) => {
            if !head.keep_alive {
                *slot = None;
            }
            match head.status {
                500..=599 => RequestOutcome::Failed(ErrorClass::Status5xx),
                400..=499 => RequestOutcome::Failed(ErrorClass::Status4xx),
                100..=399 => RequestOutcome::Ok(head.server_wait_us.map(Duration::from_micros)),
                _ => RequestOutcome::Failed(ErrorClass::Other),
            }
        }
    }
}

fn classify_connect(error: &std::io::Error) -> ErrorClass {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => ErrorClass::ConnectRefused,
        std::io::ErrorKind::TimedOut => ErrorClass::ConnectTimeout,
        _ => ErrorClass::Other,
    }
}

fn classify_exchange(error: &ExchangeError) -> ErrorClass {
    if error.is_reset() {
        ErrorClass::Reset
    } else {
        ErrorClass::Other
    }
}

/// CPU seconds (user + system) used by the calling thread so far.
pub(crate) fn thread_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid pointer is always a valid call on Linux.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return 0.0;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
