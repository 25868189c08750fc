//! The live view's figures: a [`Board`] that the collector feeds once a second (its
//! [`Watcher`], from [`Board::feed`], told of each load as it begins) and the run feeds
//! once a cell; the
//! terminal view ([`super::terminal`]) reads a [`Snapshot`] of it to draw. Nothing here
//! runs per request: a second costs two histogram copies and five merges.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::display::figure;
use crate::load::pacer::Schedule;
use crate::load::recorder::{Counts, ErrorClass};
use crate::load::report::{Percentiles, Second};
use crate::load::{LoadConfig, Watched, Watcher};

/// Seconds kept for the rate chart.
const HISTORY: usize = 120;
/// "The last seconds" of the latency table.
pub const RECENT_SECONDS: usize = 5;
/// Lines of stderr kept for the view's log pane.
const LOG_LINES: usize = 200;

/// What a load is, as the view names it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadShape {
    /// The URL loaded (the first of a mix).
    pub url: String,
    /// "open loop, 2,000 req/s", "closed loop", …
    pub mode: String,
    /// Whether the schedule sets the rate (the lag decides validity) or replies do (the
    /// busy share does).
    pub open_loop: bool,
    /// Connections asked for.
    pub connections: usize,
    /// HTTP/2 streams a connection (1 for HTTP/1.1).
    pub streams: usize,
    /// The measured window (None: until a request count is spent).
    pub window: Option<Duration>,
    /// The warm-up before it.
    pub warmup: Duration,
    /// The generator lag above which the run is invalid.
    pub max_lag: Duration,
}

impl LoadShape {
    /// The shape of the load `config` describes.
    pub fn of(config: &LoadConfig) -> Self {
        let mode = match &config.schedule {
            Schedule::Closed => "closed loop".to_string(),
            Schedule::Constant { rate } => format!("open loop, {} req/s", figure(*rate)),
            _ => "open loop, changing rate".to_string(),
        };
        Self {
            url: config.url.clone(),
            mode,
            open_loop: config.schedule.is_open(),
            connections: config.connections,
            streams: config.streams,
            window: config.duration,
            warmup: config.warmup,
            max_lag: config.max_generator_lag,
        }
    }
}

/// A finished second's histograms, kept for the "last seconds" percentiles.
#[derive(Debug, Clone)]
struct Recent {
    ok: Histogram<u64>,
    all: Histogram<u64>,
}

/// The load running now.
#[derive(Debug, Clone)]
struct LoadState {
    shape: LoadShape,
    began: Instant,
    rows: VecDeque<Second>,
    recent: VecDeque<Recent>,
    errors_last: BTreeMap<ErrorClass, u64>,
    errors_before: BTreeMap<ErrorClass, u64>,
    counts: Counts,
    window_ok: Option<Percentiles>,
    window_all: Option<Percentiles>,
    recent_ok: Option<Percentiles>,
    recent_all: Option<Percentiles>,
    lag_p99_ms: Option<f64>,
    busy_sum: f64,
    busy_seconds: u32,
    /// Requests sent and due (the schedule's) in the window's seconds so far.
    sent_sum: f64,
    due_sum: f64,
}

/// Where a `sabench run` is among its cells.
#[derive(Debug, Clone)]
struct RunState {
    total: usize,
    done: usize,
    failed: usize,
    current: Option<String>,
    began: Instant,
}

#[derive(Debug, Default)]
struct State {
    title: String,
    load: Option<LoadState>,
    run: Option<RunState>,
    log: VecDeque<String>,
    stopping: bool,
}

/// The live view's figures, shared by the collector's thread (through the watchers it
/// hands out), the run, and the view's thread.
#[derive(Debug, Default)]
pub struct Board {
    state: Mutex<State>,
    /// Bumped on every change, so the view draws only when something moved.
    version: AtomicU64,
}

/// What the view draws: a copy of the board at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// "sabench load http://…" or "sabench run scenarios/quick.toml".
    pub title: String,
    /// The load running now, if one has begun.
    pub load: Option<LoadSnapshot>,
    /// `sabench run`: where it is among its cells.
    pub run: Option<RunSnapshot>,
    /// The last lines written to stderr while the view was up.
    pub log: Vec<String>,
    /// Whether a stop was asked for (q, Ctrl-C).
    pub stopping: bool,
}

/// The load of a [`Snapshot`].
#[derive(Debug, Clone)]
pub struct LoadSnapshot {
    /// What it is.
    pub shape: LoadShape,
    /// Seconds since it began (warm-up included).
    pub elapsed: Duration,
    /// Its finished seconds (the last 120).
    pub rows: Vec<Second>,
    /// Errors by class in the last finished second.
    pub errors_last: BTreeMap<ErrorClass, u64>,
    /// The window's counters so far.
    pub counts: Counts,
    /// Corrected latency of the successes over the last [`RECENT_SECONDS`] seconds.
    pub recent_ok: Option<Percentiles>,
    /// Corrected latency of every request over the last [`RECENT_SECONDS`] seconds.
    pub recent_all: Option<Percentiles>,
    /// Corrected latency of the successes over the window so far.
    pub window_ok: Option<Percentiles>,
    /// Corrected latency of every request over the window so far.
    pub window_all: Option<Percentiles>,
    /// The generator's lag over the window so far, p99, ms.
    pub lag_p99_ms: Option<f64>,
    /// The busiest generator thread's share of a core, mean over the seconds so far.
    pub busy: Option<f64>,
    /// Why the figures so far may not describe the target at the load asked for
    /// (empty: valid so far), by the run's own rules.
    pub invalid: Vec<String>,
}

impl LoadSnapshot {
    /// The last finished second.
    pub fn last(&self) -> Option<&Second> {
        self.rows.last()
    }

    /// Time left in the window (None: a request count, or not known).
    pub fn left(&self) -> Option<Duration> {
        let total = self.shape.warmup + self.shape.window?;
        Some(total.saturating_sub(self.elapsed))
    }

    /// Requests sent and not yet answered (at the last second's end).
    pub fn in_flight(&self) -> u64 {
        self.counts.unanswered()
    }
}

/// The run of a [`Snapshot`].
#[derive(Debug, Clone)]
pub struct RunSnapshot {
    /// Cells planned.
    pub total: usize,
    /// Cells finished.
    pub done: usize,
    /// Of those, failed.
    pub failed: usize,
    /// The cell running now.
    pub current: Option<String>,
    /// Time since the run began.
    pub elapsed: Duration,
}

impl RunSnapshot {
    /// Time left, from the mean time of the cells done (None before the first ends).
    pub fn left(&self) -> Option<Duration> {
        if self.done == 0 {
            return None;
        }
        let each = self.elapsed.as_secs_f64() / self.done as f64;
        Some(Duration::from_secs_f64(
            each * self.total.saturating_sub(self.done) as f64,
        ))
    }
}

impl Board {
    /// A board titled `title` (the command line, shortened).
    pub fn new(title: &str) -> Arc<Self> {
        let board = Self::default();
        board.lock().title = title.to_string();
        Arc::new(board)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn changed(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    /// A number that moves whenever the board does.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    /// The watcher that feeds the board: each load it is given to (`LoadConfig::watchers`)
    /// takes the board from its beginning on.
    pub fn feed(self: &Arc<Self>) -> Arc<dyn Watcher> {
        Arc::new(LoadFeed {
            board: self.clone(),
        })
    }

    /// A load of `shape` begins: the board shows it from now on.
    pub fn begin(&self, shape: LoadShape) {
        self.lock().load = Some(LoadState::new(shape));
        self.changed();
    }

    /// `sabench run`: `total` cells are planned.
    pub fn plan_cells(&self, total: usize) {
        self.lock().run = Some(RunState {
            total,
            done: 0,
            failed: 0,
            current: None,
            began: Instant::now(),
        });
        self.changed();
    }

    /// `sabench run`: the cell `label` begins.
    pub fn start_cell(&self, label: &str) {
        if let Some(run) = self.lock().run.as_mut() {
            run.current = Some(label.to_string());
        }
        self.changed();
    }

    /// `sabench run`: a cell ended (its line goes to stderr, the view's log).
    pub fn finish_cell(&self, failed: bool) {
        if let Some(run) = self.lock().run.as_mut() {
            run.done += 1;
            run.failed += usize::from(failed);
            run.current = None;
        }
        self.changed();
    }

    /// A line written to stderr while the view is up.
    pub fn log(&self, line: &str) {
        let mut state = self.lock();
        state.log.push_back(line.to_string());
        while state.log.len() > LOG_LINES {
            state.log.pop_front();
        }
        drop(state);
        self.changed();
    }

    /// A stop was asked for (q, Ctrl-C): the view says so until the run ends.
    pub fn stopping(&self) {
        self.lock().stopping = true;
        self.changed();
    }

    /// A copy of the board now.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.lock();
        let now = Instant::now();
        Snapshot {
            title: state.title.clone(),
            load: state.load.as_ref().map(|load| load.snapshot(now)),
            run: state.run.as_ref().map(|run| RunSnapshot {
                total: run.total,
                done: run.done,
                failed: run.failed,
                current: run.current.clone(),
                elapsed: now.saturating_duration_since(run.began),
            }),
            log: state.log.iter().cloned().collect(),
            stopping: state.stopping,
        }
    }
}

impl LoadState {
    fn new(shape: LoadShape) -> Self {
        Self {
            shape,
            began: Instant::now(),
            rows: VecDeque::new(),
            recent: VecDeque::new(),
            errors_last: BTreeMap::new(),
            errors_before: BTreeMap::new(),
            counts: Counts::default(),
            window_ok: None,
            window_all: None,
            recent_ok: None,
            recent_all: None,
            lag_p99_ms: None,
            busy_sum: 0.0,
            busy_seconds: 0,
            sent_sum: 0.0,
            due_sum: 0.0,
        }
    }

    /// Takes a finished second: its row, its histograms for the last seconds, its
    /// errors by class (the totals' growth), and the window's figures so far.
    fn take(&mut self, watched: &Watched<'_>) {
        let totals = watched.totals;
        self.rows.push_back(watched.row.clone());
        while self.rows.len() > HISTORY {
            self.rows.pop_front();
        }
        self.recent.push_back(Recent {
            ok: watched.second.ok_corrected.clone(),
            all: watched.second.all_corrected.clone(),
        });
        while self.recent.len() > RECENT_SECONDS {
            self.recent.pop_front();
        }
        self.recent_ok = merged(self.recent.iter().map(|r| &r.ok));
        self.recent_all = merged(self.recent.iter().map(|r| &r.all));
        self.errors_last = totals
            .counts
            .errors
            .iter()
            .map(|(class, n)| {
                let before = self.errors_before.get(class).copied().unwrap_or(0);
                (*class, n.saturating_sub(before))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        self.errors_before = totals.counts.errors.clone();
        self.counts = totals.counts.clone();
        self.window_ok = Percentiles::of(&totals.ok_corrected);
        self.window_all = Percentiles::of(&totals.all_corrected);
        self.lag_p99_ms = Percentiles::of(&totals.generator_lag).map(|p| p.p99);
        if let Some(busy) = watched.row.generator_busy {
            self.busy_sum += busy;
            self.busy_seconds += 1;
        }
        self.sent_sum += watched.row.sent_rps;
        self.due_sum += watched.row.target_rps.unwrap_or(0.0);
    }

    /// Why the figures so far may not describe the target at the load asked for: the
    /// run's own rules, read on the seconds so far (the report judges the whole
    /// window at the end). The target answered nothing in the last second while
    /// requests waited; under 95 % of what came due was sent (every connection busy);
    /// the generator sent late or was saturated.
    fn invalid(&self, in_flight: u64, busy: Option<f64>) -> Vec<String> {
        let mut reasons = Vec::new();
        if let Some(last) = self.rows.back() {
            if last.achieved_rps == 0.0 && last.errors == 0 && in_flight > 0 {
                reasons.push(format!(
                    "the target answered nothing in the last second ({in_flight} requests in flight)"
                ));
            }
        }
        if self.shape.open_loop && self.due_sum > 0.0 && self.sent_sum < 0.95 * self.due_sum {
            reasons.push(format!(
                "sent {:.0} % of the requests due, every connection busy: add connections, or the target is saturated",
                100.0 * self.sent_sum / self.due_sum
            ));
        }
        reasons.extend(crate::load::validity::generator_reason(
            self.shape.open_loop,
            self.shape.max_lag,
            self.lag_p99_ms,
            busy,
        ));
        reasons
    }

    fn snapshot(&self, now: Instant) -> LoadSnapshot {
        let busy = (self.busy_seconds > 0).then(|| self.busy_sum / f64::from(self.busy_seconds));
        LoadSnapshot {
            shape: self.shape.clone(),
            elapsed: now.saturating_duration_since(self.began),
            rows: self.rows.iter().cloned().collect(),
            errors_last: self.errors_last.clone(),
            counts: self.counts.clone(),
            recent_ok: self.recent_ok,
            recent_all: self.recent_all,
            window_ok: self.window_ok,
            window_all: self.window_all,
            lag_p99_ms: self.lag_p99_ms,
            busy,
            invalid: self.invalid(self.counts.unanswered(), busy),
        }
    }
}

/// The percentiles of some histograms together (None when all are empty).
fn merged<'a>(histograms: impl Iterator<Item = &'a Histogram<u64>>) -> Option<Percentiles> {
    let mut sum: Option<Histogram<u64>> = None;
    for histogram in histograms {
        match sum.as_mut() {
            None => sum = Some(histogram.clone()),
            Some(sum) => {
                // Every histogram of a run has the same configuration: the add cannot
                // fail; if it did, the figure would be a second short, not wrong.
                let _ = sum.add(histogram);
            }
        }
    }
    Percentiles::of(&sum?)
}

/// The board's feed from the collector (a [`Watcher`]).
#[derive(Debug)]
struct LoadFeed {
    board: Arc<Board>,
}

impl Watcher for LoadFeed {
    fn begin(&self, config: &LoadConfig) {
        self.board.begin(LoadShape::of(config));
    }

    fn second(&self, watched: &Watched<'_>) {
        if let Some(load) = self.board.lock().load.as_mut() {
            load.take(watched);
        }
        self.board.changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::recorder::Recording;

    fn shape(open_loop: bool) -> LoadShape {
        LoadShape {
            url: "http://127.0.0.1:1/io".into(),
            mode: "test".into(),
            open_loop,
            connections: 4,
            streams: 1,
            window: Some(Duration::from_secs(10)),
            warmup: Duration::ZERO,
            max_lag: Duration::from_millis(10),
        }
    }

    fn row(second: u64, busy: f64) -> Second {
        Second {
            second,
            sent_rps: 100.0,
            achieved_rps: 90.0,
            generator_busy: Some(busy),
            connections_open: 4,
            ..Second::default()
        }
    }

    /// Feeds a second whose requests took `ms` each and `timeouts` more timeouts.
    fn feed(
        watcher: &Arc<dyn Watcher>,
        totals: &mut Recording,
        index: u64,
        ms: u64,
        timeouts: u64,
        busy: f64,
    ) {
        let mut second = Recording::default();
        for _ in 0..10 {
            second.ok_corrected.record(ms * 1000).unwrap();
            second.all_corrected.record(ms * 1000).unwrap();
        }
        second.counts.sent = 10 + timeouts;
        second.counts.ok = 10;
        if timeouts > 0 {
            second.counts.errors.insert(ErrorClass::Timeout, timeouts);
        }
        totals.merge(&second).unwrap();
        watcher.second(&Watched {
            row: &row(index, busy),
            second: &second,
            totals,
        });
    }

    /// Feeds `row`, a second of `sent` requests of which `ok` succeeded (no latency).
    fn counted(
        watcher: &Arc<dyn Watcher>,
        totals: &mut Recording,
        row: &Second,
        sent: u64,
        ok: u64,
    ) {
        let mut second = Recording::default();
        second.counts.sent = sent;
        second.counts.ok = ok;
        totals.merge(&second).unwrap();
        watcher.second(&Watched {
            row,
            second: &second,
            totals,
        });
    }

    #[test]
    fn the_last_seconds_forget_what_is_older_and_the_window_does_not() {
        let board = Board::new("sabench load");
        let watcher = board.feed();
        board.begin(shape(false));
        let mut totals = Recording::default();
        for index in 0..RECENT_SECONDS as u64 {
            feed(&watcher, &mut totals, index, 100, 0, 0.2);
        }
        for index in 0..RECENT_SECONDS as u64 {
            feed(&watcher, &mut totals, 5 + index, 1, 0, 0.2);
        }
        let load = board.snapshot().load.unwrap();
        let recent = load.recent_ok.unwrap();
        assert!(recent.p99 < 2.0, "the 100 ms seconds are older: {recent:?}");
        let window = load.window_ok.unwrap();
        assert!(window.p99 > 99.0, "the window keeps them: {window:?}");
        assert_eq!(load.rows.len(), 2 * RECENT_SECONDS);
        assert_eq!(load.last().unwrap().second, 9);
    }

    #[test]
    fn errors_by_class_are_the_last_seconds_not_the_windows() {
        let board = Board::new("sabench load");
        let watcher = board.feed();
        board.begin(shape(false));
        let mut totals = Recording::default();
        feed(&watcher, &mut totals, 0, 1, 3, 0.1);
        feed(&watcher, &mut totals, 1, 1, 2, 0.1);
        let load = board.snapshot().load.unwrap();
        assert_eq!(load.errors_last.get(&ErrorClass::Timeout), Some(&2));
        assert_eq!(load.counts.errors.get(&ErrorClass::Timeout), Some(&5));
        feed(&watcher, &mut totals, 2, 1, 0, 0.1);
        assert!(board.snapshot().load.unwrap().errors_last.is_empty());
    }

    #[test]
    fn a_saturated_closed_loop_generator_is_shown_invalid_as_the_verdict_would() {
        let board = Board::new("sabench load");
        let watcher = board.feed();
        board.begin(shape(false));
        let mut totals = Recording::default();
        feed(&watcher, &mut totals, 0, 1, 0, 0.5);
        assert!(board.snapshot().load.unwrap().invalid.is_empty());
        for index in 1..10 {
            feed(&watcher, &mut totals, index, 1, 0, 1.0);
        }
        let load = board.snapshot().load.unwrap();
        assert!((load.busy.unwrap() - 0.95).abs() < 1e-9);
        assert_eq!(load.invalid.len(), 1, "{:?}", load.invalid);
        assert!(load.invalid[0].contains("bottleneck"), "{:?}", load.invalid);
    }

    #[test]
    fn a_target_that_holds_every_connection_or_goes_silent_is_shown_invalid() {
        let board = Board::new("sabench load");
        let watcher = board.feed();
        board.begin(shape(true));
        let mut totals = Recording::default();
        // Open loop at 100 req/s due, 90 sent: under 95 %.
        let row = Second {
            target_rps: Some(100.0),
            sent_rps: 90.0,
            achieved_rps: 90.0,
            ..Second::default()
        };
        counted(&watcher, &mut totals, &row, 90, 90);
        let invalid = board.snapshot().load.unwrap().invalid;
        assert_eq!(invalid.len(), 1, "{invalid:?}");
        assert!(
            invalid[0].contains("sent 90 % of the requests due"),
            "{invalid:?}"
        );
        // A second with nothing answered and 5 requests waiting.
        let row = Second {
            second: 1,
            target_rps: Some(5.0),
            sent_rps: 5.0,
            ..Second::default()
        };
        counted(&watcher, &mut totals, &row, 5, 0);
        let invalid = board.snapshot().load.unwrap().invalid;
        assert!(
            invalid[0].contains("answered nothing in the last second (5 requests in flight)"),
            "{invalid:?}"
        );
    }

    #[test]
    fn a_new_load_starts_the_board_afresh() {
        let board = Board::new("sabench run");
        let watcher = board.feed();
        board.begin(shape(true));
        let mut totals = Recording::default();
        feed(&watcher, &mut totals, 0, 1, 0, 0.1);
        assert_eq!(board.snapshot().load.unwrap().rows.len(), 1);
        watcher.begin(&LoadConfig::closed(
            "http://127.0.0.1:1/cpu",
            8,
            Duration::from_secs(3),
        ));
        let load = board.snapshot().load.unwrap();
        assert!(load.rows.is_empty());
        assert_eq!(load.shape.url, "http://127.0.0.1:1/cpu");
        assert_eq!(load.shape.mode, "closed loop");
        assert_eq!(load.shape.window, Some(Duration::from_secs(3)));
    }

    #[test]
    fn a_run_says_its_cells_and_the_time_left_from_the_cells_done() {
        let board = Board::new("sabench run");
        board.plan_cells(4);
        board.start_cell("io async c64");
        let snapshot = board.snapshot().run.unwrap();
        assert_eq!(snapshot.current.as_deref(), Some("io async c64"));
        assert_eq!(snapshot.left(), None);
        board.finish_cell(false);
        let run = RunSnapshot {
            elapsed: Duration::from_secs(10),
            ..board.snapshot().run.unwrap()
        };
        assert_eq!(run.done, 1);
        assert_eq!(run.left(), Some(Duration::from_secs(30)));
    }
}
