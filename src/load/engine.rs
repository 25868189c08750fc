//! The one worker loop. Every mode runs it: a [`Pacer`] says when each request should
//! leave (closed loop: at once), the [`Plan`] says when to stop (duration or count),
//! and each connection of a worker thread takes the next request when it is free.
//! A request whose intended time passed while every connection was busy is sent late,
//! and that wait counts in its corrected latency (wrk2's model, no coordinated omission).
//!
//! Nothing scheduled is dropped. When the window ends, requests still in flight get a
//! short drain ([`Plan::drain_until`]); those still unanswered then, and every request
//! the schedule called for that no connection ever sent, are recorded as unfinished
//! with latency `end − intended` (a lower bound). Warm-up requests still unanswered
//! when the window begins are counted in it.
//!
//! A stopped run (Ctrl-C) ends at once: a connection waiting for its ticket's time
//! gives the ticket back (it was never due, so it is not counted), and the window ends
//! where the stop was seen ([`WorkerSummary::ended_early`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::Connection;
use super::exchange::{connect, exchange};
use super::http2::{SharedConnection, StreamSlot};
use super::pacer::Pacer;
use super::plan::Plan;
use super::precise_timer::PreciseTimer;
use super::ramp::{Ramp, RampTally};
use super::recorder::{ErrorClass, Finished, Recording, RequestOutcome, Timing};
use super::thread_cpu::{thread_cpu_seconds, window_cpu, CpuReading};

/// A stop (Ctrl-C) is watched for only while waiting longer than this.
const WATCH_STOP_ABOVE: Duration = Duration::from_millis(3);
/// Pause after a failed connect so a dead target is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);
/// The longest drain for requests in flight when a timed window ends.
pub(crate) const MAX_DRAIN: Duration = Duration::from_secs(2);

/// One interval's recording, sent to the collector.
pub(crate) struct IntervalReport {
    /// Interval number (seconds since the measured window began).
    pub index: u64,
    /// Its length (the last one may be short).
    pub length: Duration,
    /// What happened in it.
    pub recording: Recording,
    /// The worker thread's CPU seconds in it (None: not read, the last, partial one).
    pub cpu_seconds: Option<f64>,
    /// Connections the worker held open at its end.
    pub connections_open: u64,
}

/// What a worker thread reports when it is done.
pub(crate) struct WorkerSummary {
    /// User + system CPU seconds of the worker thread, whole run.
    pub cpu_seconds: f64,
    /// Share of one core the thread used during the measured window (None: no window).
    pub busy: Option<f64>,
    /// CPU seconds the thread used during the measured window (None: no window).
    pub window_cpu_seconds: Option<f64>,
    /// The panics of its connection tasks, each its message (a bug in sabench).
    pub panics: Vec<String>,
    /// Connections that got no answer at all inside the measured window.
    pub unserved: u64,
    /// When the target last ended a request itself (answer, reset, refusal).
    pub last_answer: Option<Instant>,
    /// How opening and holding the connections went (connection scale only).
    pub ramp: Option<RampTally>,
    /// Every intended send time, s from the schedule's start (only with `--send-log`).
    pub sends: Vec<f64>,
    /// When the worker found the run stopped (Ctrl-C) or its request count spent, if
    /// it did before the planned end: the measured window ends there.
    pub ended_early: Option<Instant>,
    /// With a mix of URLs, each URL's recording of the window (empty otherwise).
    pub per_url: Vec<Recording>,
}

/// Messages from a worker thread to the collector.
pub(crate) enum WorkerMessage {
    /// A finished interval.
    Interval(Box<IntervalReport>),
    /// The worker is done.
    Done(Box<WorkerSummary>),
}

/// Where a request's outcome is recorded.
enum Belongs {
    /// Intended in the window: counted in it.
    Window,
    /// Intended in the warm-up, ended (or given up) in the window: on its own.
    CarriedOver,
    /// Intended and ended in the warm-up: not recorded.
    WarmUp,
}

/// A request a connection is about to send.
struct Ticket {
    intended: Option<Instant>,
    ready: Instant,
    measured: bool,
    /// Its number in the whole run (which request of the mix it sends).
    number: u64,
}

/// State shared by the connections of one worker thread (single-threaded: `RefCell`).
struct Worker {
    plan: Arc<Plan>,
    /// This worker's number and how many there are (a connection's global index is
    /// `slot × workers + index`).
    index: usize,
    workers: usize,
    ramp: RefCell<RampTally>,
    pacer: RefCell<Pacer>,
    interval: RefCell<Recording>,
    /// With a mix of URLs, the window's requests of each URL on their own (empty
    /// with one URL): merged at the end, never per second.
    per_url: RefCell<Vec<Recording>>,
    /// Wakes each connection at its send time, on this thread.
    timer: PreciseTimer,
    unserved: Cell<u64>,
    /// When the run ended early (stop flag or request count), if it did.
    cut_short: Cell<Option<Instant>>,
    last_answer: Cell<Option<Instant>>,
    /// The thread's CPU time when the measured window began.
    cpu_at_window: Cell<Option<CpuReading>>,
    /// The thread's CPU time when the planned window ended (None: not reached).
    cpu_at_window_end: Cell<Option<CpuReading>>,
    /// Tickets this worker has taken.
    taken: Cell<u64>,
    /// Intended send times kept for `--send-log`.
    sends: RefCell<Vec<f64>>,
    /// Wakes the held connections when the run is stopped.
    released: tokio::sync::Notify,
    /// HTTP/2: the worker's connections, each shared by `streams` slots (empty for
    /// HTTP/1.1, where each slot is a connection of its own).
    shared: Vec<Rc<SharedConnection>>,
    /// HTTP/1.1: the slots holding an open connection now (see [`OpenCount`]).
    open_http1: Cell<u64>,
}

/// What one request slot of a worker sends on.
enum Channel {
    /// HTTP/1.1: a connection of its own (None until it opens, or after it closed).
    Http1(Option<Connection>),
    /// HTTP/2: a stream of a connection it shares with the worker's other slots there.
    Http2(StreamSlot),
}

impl Channel {
    /// HTTP/1.1: whether it holds an open connection (HTTP/2's are counted on the
    /// worker's shared connections).
    fn holds_http1(&self) -> bool {
        matches!(self, Channel::Http1(Some(_)))
    }

    /// Sends the `number`-th request of the run and reads its answer (None: still in
    /// flight at the run's drain deadline). `index` is the connection's number over
    /// every worker.
    async fn exchange(
        &mut self,
        plan: &Plan,
        index: usize,
        number: u64,
        sent: Instant,
    ) -> Option<Finished> {
        match self {
            Channel::Http1(connection) => {
                let request = plan.requests.pick(number);
                exchange(connection, plan, index, request, sent).await
            }
            Channel::Http2(slot) => {
                let url = plan.requests.index_of(number);
                super::http2::exchange(slot, plan, url, sent).await
            }
        }
    }
}

/// A slot's part in the worker's count of open HTTP/1.1 connections: updated after
/// each exchange (a connection opened or lost), and given back when the slot ends.
struct OpenCount<'w> {
    worker: &'w Worker,
    counted: bool,
}

impl<'w> OpenCount<'w> {
    fn new(worker: &'w Worker, channel: &Channel) -> Self {
        let mut count = Self {
            worker,
            counted: false,
        };
        count.update(channel);
        count
    }

    fn update(&mut self, channel: &Channel) {
        let holds = channel.holds_http1();
        let open = &self.worker.open_http1;
        match (self.counted, holds) {
            (false, true) => open.set(open.get() + 1),
            (true, false) => open.set(open.get().saturating_sub(1)),
            _ => {}
        }
        self.counted = holds;
    }
}

impl Drop for OpenCount<'_> {
    fn drop(&mut self) {
        if self.counted {
            let open = &self.worker.open_http1;
            open.set(open.get().saturating_sub(1));
        }
    }
}

impl Worker {
    /// Connections open now: HTTP/1.1 slots holding one, or HTTP/2 connections alive.
    fn connections_open(&self) -> u64 {
        let http2 = self.shared.iter().filter(|shared| shared.is_open()).count();
        self.open_http1.get() + http2 as u64
    }

    /// The next request to send, or None when the run is over. A request due at or
    /// after the end is not taken from the schedule, so the schedule's remainder is
    /// exactly what was due and never sent.
    fn next_ticket(&self) -> Option<Ticket> {
        let plan = &self.plan;
        let ready = Instant::now();
        if plan.end.is_some_and(|end| ready >= end) {
            return None;
        }
        if plan.stopped() {
            self.end_early(ready);
            return None;
        }
        let due = self.pacer.borrow().peek().map(|offset| plan.start + offset);
        if let (Some(due), Some(end)) = (due, plan.end) {
            if due >= end {
                return None;
            }
        }
        let at = due.unwrap_or(ready);
        // A request belongs to the window its intended time falls in (closed loop: the
        // time a free connection took it). A warm-up request sent late, inside the
        // window, is still the warm-up's: it is carried over, never scheduled here.
        let measured = at >= plan.measure_start;
        if measured {
            if let Some(max) = plan.max_requests {
                if plan.issued.fetch_add(1, Ordering::Relaxed) >= max {
                    self.end_early(ready);
                    return None;
                }
            }
        }
        let offset = self.pacer.borrow_mut().next_send();
        if let (true, Some(offset)) = (plan.log_sends, offset) {
            self.sends.borrow_mut().push(offset.as_secs_f64());
        }
        let taken = self.taken.get();
        self.taken.set(taken + 1);
        Some(Ticket {
            intended: offset.map(|o| plan.start + o),
            ready,
            measured,
            number: taken * self.workers as u64 + self.index as u64,
        })
    }

    /// Gives back a ticket whose time had not come when the run was stopped: it was
    /// never due, so it is neither sent nor unsent (it was not counted as scheduled;
    /// that happens when a request is sent), and it leaves the send log.
    fn withdraw(&self, ticket: &Ticket) {
        self.end_early(Instant::now());
        let (true, Some(intended)) = (self.plan.log_sends, ticket.intended) else {
            return;
        };
        let offset = intended.duration_since(self.plan.start).as_secs_f64();
        let mut sends = self.sends.borrow_mut();
        if let Some(at) = sends.iter().rposition(|logged| *logged == offset) {
            sends.remove(at);
        }
    }

    fn end_early(&self, at: Instant) {
        if self.cut_short.get().is_none() {
            self.cut_short.set(Some(at));
        }
    }

    /// The instant the run's requests were due by: the planned end, or earlier when it
    /// was cut short (None: a count-bounded run that ran its course).
    fn effective_end(&self) -> Option<Instant> {
        match (self.plan.end, self.cut_short.get()) {
            (Some(end), Some(cut)) => Some(end.min(cut)),
            (end, cut) => end.or(cut),
        }
    }

    /// Where a request of `ticket` whose outcome came (or was given up) at `at` is
    /// recorded: in the window, carried over from the warm-up, or nowhere (a warm-up
    /// request that ended in the warm-up).
    fn belongs(&self, ticket: &Ticket, at: Instant) -> Belongs {
        if ticket.measured {
            Belongs::Window
        } else if at >= self.plan.measure_start {
            Belongs::CarriedOver
        } else {
            Belongs::WarmUp
        }
    }

    fn record_finished(&self, ticket: &Ticket, timing: &Timing, finished: &Finished) {
        if finished.outcome.is_from_target() {
            self.last_answer.set(Some(timing.done));
        }
        match self.belongs(ticket, timing.done) {
            Belongs::Window => {
                self.record_in_window(ticket.number, |into| into.record(timing, finished));
            }
            Belongs::CarriedOver => self
                .interval
                .borrow_mut()
                .record_carried_over(timing, finished),
            Belongs::WarmUp => {}
        }
    }

    fn record_in_flight(&self, ticket: &Ticket, intended: Instant, sent: Instant) {
        let end = self.effective_end().unwrap_or_else(Instant::now);
        match self.belongs(ticket, end) {
            Belongs::Window => self.record_in_window(ticket.number, |into| {
                into.record_in_flight(intended, sent, end);
            }),
            Belongs::CarriedOver => {
                self.interval
                    .borrow_mut()
                    .record_carried_over_unfinished(intended, Some(sent), end)
            }
            Belongs::WarmUp => {}
        }
    }

    /// Records an event of the window's `number`-th request in the second's interval
    /// and, with a mix measured URL by URL, in its URL's recording too.
    fn record_in_window(&self, number: u64, record: impl Fn(&mut Recording)) {
        record(&mut self.interval.borrow_mut());
        let index = self.plan.requests.index_of(number);
        if let Some(url) = self.per_url.borrow_mut().get_mut(index) {
            record(url);
        }
    }

    /// Records every request the schedule called for before the end that no
    /// connection ever took (the backlog of a stalled or saturated target): due in the
    /// window, unsent; due in the warm-up, carried over and unfinished.
    fn record_unsent(&self) {
        let Some(end) = self.effective_end() else {
            return;
        };
        if end < self.plan.measure_start {
            return;
        }
        let mut pacer = self.pacer.borrow_mut();
        while let Some(due) = pacer.peek().map(|offset| self.plan.start + offset) {
            if due >= end {
                break;
            }
            pacer.next_send();
            // The ticket it would have been: which URL it was for.
            let taken = self.taken.get();
            self.taken.set(taken + 1);
            let number = taken * self.workers as u64 + self.index as u64;
            if due >= self.plan.measure_start {
                self.record_in_window(number, |into| into.record_unsent(due, end));
            } else {
                self.interval
                    .borrow_mut()
                    .record_carried_over_unfinished(due, None, end);
            }
        }
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
) -> std::io::Result<()> {
    crate::sys::affinity::pin_current_thread(&plan.cpus)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The timer's fd registers with this runtime's reactor.
    let timer = {
        let _inside = runtime.enter();
        PreciseTimer::new()?
    };
    let panics = RefCell::new(Vec::new());
    let worker = Rc::new(Worker {
        index,
        workers,
        ramp: RefCell::new(RampTally::default()),
        pacer: RefCell::new(Pacer::with_arrival(
            plan.schedule.clone(),
            index,
            workers,
            plan.arrival,
            plan.seed,
        )),
        interval: RefCell::new(Recording::default()),
        per_url: RefCell::new(match super::urls_apart(plan.requests.len()) {
            true => (0..plan.requests.len())
                .map(|_| Recording::default())
                .collect(),
            false => Vec::new(),
        }),
        timer,
        unserved: Cell::new(0),
        cut_short: Cell::new(None),
        last_answer: Cell::new(None),
        cpu_at_window: Cell::new(None),
        cpu_at_window_end: Cell::new(None),
        taken: Cell::new(0),
        sends: RefCell::new(Vec::new()),
        released: tokio::sync::Notify::new(),
        shared: match plan.http2 {
            Some(_) => (0..connections).map(|_| Rc::default()).collect(),
            None => Vec::new(),
        },
        open_http1: Cell::new(0),
        plan,
    });
    // HTTP/2: a slot per stream, `streams` to each connection.
    let slots = connections * worker.plan.streams();
    runtime.block_on(async {
        let local = tokio::task::LocalSet::new();
        let drivers: Vec<_> = (0..slots)
            .map(|slot| {
                let worker = worker.clone();
                local.spawn_local(async move { drive(&worker, slot).await })
            })
            .collect();
        let all_done = async {
            for driver in drivers {
                if let Err(error) = driver.await {
                    if error.is_panic() {
                        panics
                            .borrow_mut()
                            .push(panic_message(&*error.into_panic()));
                    }
                }
            }
        };
        let mut ticker = std::pin::pin!(tick(&worker, &reports));
        let watcher = worker.clone();
        local.spawn_local(async move { watch_stop(&watcher).await });
        let clock = worker.clone();
        local.spawn_local(async move { clock.timer.run().await });
        local
            .run_until(async {
                tokio::select! {
                    () = all_done => {},
                    () = &mut ticker => {},
                }
            })
            .await;
    });
    worker.record_unsent();
    let now = Instant::now();
    let last_index = now
        .saturating_duration_since(worker.plan.measure_start)
        .as_secs();
    let start_of_last = worker.plan.measure_start + Duration::from_secs(last_index);
    let recording = worker.interval.replace(Recording::default());
    let _ = reports.send(WorkerMessage::Interval(Box::new(IntervalReport {
        index: last_index,
        length: now.saturating_duration_since(start_of_last),
        recording,
        cpu_seconds: None,
        connections_open: worker.connections_open(),
    })));
    let cpu_seconds = thread_cpu_seconds();
    let (window_cpu_seconds, busy) = window_cpu(
        worker.cpu_at_window.get(),
        worker.cpu_at_window_end.get(),
        CpuReading::now(),
    );
    let _ = reports.send(WorkerMessage::Done(Box::new(WorkerSummary {
        cpu_seconds,
        busy,
        window_cpu_seconds,
        panics: panics.take(),
        unserved: worker.unserved.get(),
        last_answer: worker.last_answer.get(),
        ramp: worker
            .plan
            .ramp
            .as_ref()
            .map(|_| worker.ramp.replace(RampTally::default())),
        sends: worker.sends.take(),
        ended_early: worker.cut_short.get(),
        per_url: worker.per_url.take(),
    })));
    Ok(())
}

/// Notes the thread's CPU time when the window begins and when it is planned to end,
/// and hands the collector each whole second of the window as it ends.
async fn tick(worker: &Worker, reports: &Sender<WorkerMessage>) {
    tokio::time::sleep_until(worker.plan.measure_start.into()).await;
    worker.cpu_at_window.set(Some(CpuReading::now()));
    let window_end = async {
        if let Some(end) = worker.plan.end {
            tokio::time::sleep_until(end.into()).await;
            worker.cpu_at_window_end.set(Some(CpuReading::now()));
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        () = seconds(worker, reports) => {},
        () = window_end => {},
    }
}

/// Hands the collector each whole second of the measured window as it ends, until the
/// collector is gone.
async fn seconds(worker: &Worker, reports: &Sender<WorkerMessage>) {
    let mut cpu_before = thread_cpu_seconds();
    for index in 0.. {
        let boundary = worker.plan.measure_start + Duration::from_secs(index + 1);
        tokio::time::sleep_until(boundary.into()).await;
        let recording = worker.interval.replace(Recording::default());
        let cpu_now = thread_cpu_seconds();
        let report = IntervalReport {
            index,
            length: Duration::from_secs(1),
            recording,
            cpu_seconds: Some((cpu_now - cpu_before).max(0.0)),
            connections_open: worker.connections_open(),
        };
        cpu_before = cpu_now;
        if reports
            .send(WorkerMessage::Interval(Box::new(report)))
            .is_err()
        {
            return;
        }
    }
}

/// One request slot (HTTP/1.1: a connection; HTTP/2: a stream): take a ticket, wait
/// for its time, exchange, record; until the run ends. An HTTP/1.1 connection that got
/// no answer inside the measured window is counted as unserved (a fixed thread pool
/// tied up by other keep-alive connections looks so).
async fn drive(worker: &Worker, slot: usize) {
    let plan = &worker.plan;
    let streams = plan.streams();
    let index = (slot / streams) * worker.workers + worker.index;
    let mut channel = match worker.shared.get(slot / streams) {
        Some(shared) => Channel::Http2(StreamSlot::new(shared.clone())),
        None => Channel::Http1(match &plan.ramp {
            Some(ramp) => open_on_ramp(worker, ramp, index).await,
            None => None,
        }),
    };
    let mut open = OpenCount::new(worker, &channel);
    let mut served = false;
    // Whether it was given a measured request at all: with more held connections than
    // the window has requests, many are never asked, and that is not "unserved".
    let mut asked = false;
    while let Some(ticket) = worker.next_ticket() {
        if let Some(at) = ticket.intended {
            if !pace_unless_stopped(worker, at).await {
                worker.withdraw(&ticket);
                break;
            }
        }
        asked |= ticket.measured;
        let sent = Instant::now();
        if ticket.measured {
            worker.record_in_window(ticket.number, Recording::note_sent);
        }
        if plan.panic_at_request == Some(ticket.number) {
            panic!("injected generator panic at request {}", ticket.number);
        }
        let intended = ticket.intended.unwrap_or(sent);
        let exchanged = channel.exchange(plan, index, ticket.number, sent).await;
        open.update(&channel);
        let Some(finished) = exchanged else {
            worker.record_in_flight(&ticket, intended, sent);
            break;
        };
        let done = Instant::now();
        served |= finished.outcome.answered()
            && done >= plan.measure_start
            && plan.end.is_none_or(|end| done <= end);
        let timing = Timing {
            intended,
            ready: ticket.ready,
            sent,
            done,
        };
        worker.record_finished(&ticket, &timing, &finished);
        if matches!(
            finished.outcome,
            RequestOutcome::Failed(ErrorClass::ConnectRefused | ErrorClass::ConnectTimeout)
        ) {
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
    let Channel::Http1(connection) = channel else {
        return;
    };
    if asked && !served {
        worker.unserved.set(worker.unserved.get() + 1);
    }
    if plan.ramp.is_some() {
        // A held connection is held to the end even when the schedule has no more
        // requests for it (most have none: there are more connections than requests).
        hold_until_end(worker).await;
        if connection.as_ref().is_some_and(Connection::is_open) {
            worker.ramp.borrow_mut().stayed_up += 1;
        }
    }
}

/// Waits until the run's window (and drain) is over, or the run is stopped. One timer
/// per held connection, not a poll: 19,000 connections polling the stop flag 10 times
/// a second cost the generator's thread enough to send late; [`watch_stop`] polls it
/// once for them all.
async fn hold_until_end(worker: &Worker) {
    let end = worker.plan.drain_until.or(worker.plan.end);
    // Single-threaded: `watch_stop` cannot run between the check and the first poll of
    // `released`, so a release cannot be missed.
    if worker.plan.stopped() {
        return;
    }
    tokio::select! {
        () = worker.released.notified() => {},
        () = sleep_until_or_forever(end) => {},
    }
}

async fn sleep_until_or_forever(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// How often a worker looks at the run's stop flag for its held connections.
const STOP_POLL: Duration = Duration::from_millis(200);

/// Lets the held connections go once the run's stop flag is set (Ctrl-C).
async fn watch_stop(worker: &Worker) {
    if worker.plan.stop.is_none() {
        return;
    }
    while !worker.plan.stopped() {
        tokio::time::sleep(STOP_POLL).await;
    }
    worker.released.notify_waiters();
}

/// Waits until `at`, or until the run is stopped (Ctrl-C), whichever comes first; true
/// when `at` came. A connection may hold a ticket for up to connections ÷ rate ahead
/// (20 s for 2,000 held connections at 100 req/s), and a stopped run must not wait
/// for it.
async fn pace_unless_stopped(worker: &Worker, at: Instant) -> bool {
    if worker.plan.stop.is_none() || at <= Instant::now() + WATCH_STOP_ABOVE {
        worker.timer.sleep_until(at).await;
        return true;
    }
    // Single-threaded: `watch_stop` cannot run between the check and the first poll of
    // `released`, so a release cannot be missed.
    if worker.plan.stopped() {
        return false;
    }
    tokio::select! {
        () = worker.released.notified() => false,
        () = worker.timer.sleep_until(at) => true,
    }
}

/// Opens connection `index` at its time on the ramp, noting how long it took or why
/// it failed (a failed one is retried at its first request, as any other). A run
/// stopped before its time opens nothing more.
async fn open_on_ramp(worker: &Worker, ramp: &Ramp, index: usize) -> Option<Connection> {
    let at = ramp.opens_at(index);
    if !pace_unless_stopped(worker, at).await {
        return None;
    }
    let outcome = connect(&worker.plan, index).await;
    let mut tally = worker.ramp.borrow_mut();
    match outcome {
        Ok(connection) => {
            tally.opened(at.elapsed());
            Some(connection)
        }
        Err(class) => {
            tally.failed(class);
            None
        }
    }
}

/// The message a panic carried (`panic!("…")` gives a `&str` or a `String`).
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into())
}
