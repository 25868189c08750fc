//! Several generator processes as one run. A process may hold only as many
//! connections as its open-file limit allows (20,000 here), so a run that wants more
//! is split over `sabench load-shard` child processes. Each child runs a share of the
//! one global plan — worker threads `k·threads … (k+1)·threads` of `processes·threads`,
//! with the same start instant, schedule and ramp — and streams every message its
//! workers would have sent to a local collector (each second's histograms in
//! HdrHistogram's exact V2 encoding) as JSON lines on its stdout. The parent feeds
//! them into the same collector as local workers, so the merged histograms, counts and
//! timeline are exactly those of one process running every worker.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::engine::{IntervalReport, WorkerMessage, WorkerSummary};
use super::plan::Plan;
use super::ramp::RampText;
use super::recorder::RecordingText;
use super::shard::instant_of;
use super::{check_file_descriptors, peak_rss_mib, LoadConfig, LoadError, Schedule, Target};

/// Descriptors a generator process keeps for everything but its connections.
pub const RESERVED_FILES: u64 = 64;
/// How long after the parent plans the run its shared start is: time for every child
/// to start and build its workers.
const START_MARGIN: Duration = Duration::from_millis(500);
/// Most generator processes one run may use.
pub const MAX_PROCESSES: usize = 64;

/// How many generator processes `config` runs in: as many as it asks for, or as many
/// as the open-file limit requires. Fails, before anything starts, when the
/// connections cannot fit, with the numbers and what to change.
pub fn processes_for(config: &LoadConfig) -> Result<usize, LoadError> {
    let limit = crate::sys::file_limits::open_file_limit();
    let per_process = limit.map(|l| l.saturating_sub(RESERVED_FILES).max(1) as usize);
    let processes = match (config.processes, per_process) {
        (Some(asked), _) => asked,
        (None, Some(per_process)) => config.connections.div_ceil(per_process),
        (None, None) => 1,
    }
    .clamp(1, config.connections.max(1));
    if processes > MAX_PROCESSES {
        return Err(LoadError::Settings(format!(
            "{} connections would need {processes} generator processes at {} descriptors each; at most {MAX_PROCESSES} run together: raise the open-file limit (`ulimit -n`) or use fewer connections",
            config.connections,
            limit.unwrap_or_default()
        )));
    }
    check_file_descriptors(config.connections.div_ceil(processes))?;
    Ok(processes)
}

/// What a child generator process is to run: the whole run's settings and its share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardOrder {
    /// The target URL.
    pub url: String,
    /// Permit a target off loopback.
    pub allow_remote: bool,
    /// The whole run's arrival process.
    pub schedule: Schedule,
    /// Connections over every process.
    pub connections: usize,
    /// Worker threads in each process.
    pub threads: usize,
    /// Processes in the run.
    pub processes: usize,
    /// This process's number (from 0).
    pub index: usize,
    /// The measured window.
    pub duration: Option<Duration>,
    /// This process's share of a count bound.
    pub requests: Option<u64>,
    /// The warm-up.
    pub warmup: Duration,
    /// Bound on one request.
    pub timeout: Duration,
    /// Bound on one connect.
    pub connect_timeout: Duration,
    /// CPUs to pin the workers to.
    pub cpus: Vec<usize>,
    /// Connections opened per second (connection scale).
    pub ramp: Option<f64>,
    /// The shared start (connections begin opening, or the schedule begins), ns since
    /// the Unix epoch.
    pub start_unix_ns: u64,
    /// Method, headers and body.
    pub request: super::target::RequestSpec,
    /// The weighted URL mix (empty: `url` alone).
    pub mix: Vec<(f64, String)>,
    /// The Unix-domain socket to connect to instead of the URL's address.
    #[serde(default)]
    pub unix_socket: Option<std::path::PathBuf>,
    /// How arrivals are spaced.
    pub arrival: super::pacer::Arrival,
    /// The run's seed.
    pub seed: u64,
    /// HTTPS trust.
    pub tls: super::tls::TlsOptions,
    /// How much of a response is read.
    #[serde(default)]
    pub read_limits: super::client::ReadLimits,
    /// HTTP/1.1 or HTTP/2.
    #[serde(default)]
    pub protocol: super::http2::Protocol,
    /// HTTP/2's streams per connection.
    #[serde(default = "super::http2::one_stream")]
    pub streams: usize,
}

impl ShardOrder {
    /// The whole run's settings as this process runs them.
    fn config(&self, stop: Arc<AtomicBool>) -> LoadConfig {
        LoadConfig {
            schedule: self.schedule.clone(),
            threads: self.threads,
            duration: self.duration,
            requests: self.requests,
            warmup: self.warmup,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            allow_remote: self.allow_remote,
            cpus: self.cpus.clone(),
            ramp: self.ramp,
            stop: Some(stop),
            request: self.request.clone(),
            mix: self.mix.clone(),
            unix_socket: self.unix_socket.clone(),
            arrival: self.arrival,
            seed: self.seed,
            tls: self.tls.clone(),
            read_limits: self.read_limits,
            protocol: self.protocol,
            streams: self.streams,
            ..LoadConfig::closed(&self.url, self.connections, Duration::ZERO)
        }
    }

    /// The worker threads this process runs, numbered over the whole run.
    fn workers(&self) -> std::ops::Range<usize> {
        self.index * self.threads..(self.index + 1) * self.threads
    }
}

/// A worker's message in its text form.
#[derive(Debug, Serialize, Deserialize)]
enum Wire {
    /// A finished interval.
    Interval {
        index: u64,
        length: Duration,
        recording: RecordingText,
        #[serde(default)]
        cpu_seconds: Option<f64>,
        #[serde(default)]
        connections_open: u64,
    },
    /// A worker is done.
    Done {
        cpu_seconds: f64,
        busy: Option<f64>,
        #[serde(default)]
        window_cpu_seconds: Option<f64>,
        #[serde(default)]
        panics: Vec<String>,
        unserved: u64,
        /// When the target last ended a request, ns after the plan's start (negative:
        /// before it).
        last_answer_ns: Option<i64>,
        ramp: Option<RampText>,
        #[serde(default)]
        sends: Vec<f64>,
        /// When the worker ended early, ns after the plan's start.
        #[serde(default)]
        ended_early_ns: Option<i64>,
        /// With a mix of URLs, each URL's recording of the window.
        #[serde(default)]
        per_url: Vec<RecordingText>,
    },
    /// The process is done: its peak resident memory.
    End { peak_rss_mib: f64 },
}

impl Wire {
    fn of(message: &WorkerMessage, start: Instant) -> Self {
        match message {
            WorkerMessage::Interval(report) => Wire::Interval {
                index: report.index,
                length: report.length,
                recording: RecordingText::from(&report.recording),
                cpu_seconds: report.cpu_seconds,
                connections_open: report.connections_open,
            },
            WorkerMessage::Done(summary) => Wire::Done {
                cpu_seconds: summary.cpu_seconds,
                busy: summary.busy,
                window_cpu_seconds: summary.window_cpu_seconds,
                panics: summary.panics.clone(),
                unserved: summary.unserved,
                last_answer_ns: summary.last_answer.map(|at| signed_ns(at, start)),
                ramp: summary.ramp.as_ref().map(RampText::from),
                sends: summary.sends.clone(),
                ended_early_ns: summary.ended_early.map(|at| signed_ns(at, start)),
                per_url: summary.per_url.iter().map(RecordingText::from).collect(),
            },
        }
    }

    /// The worker message again (None for [`Wire::End`]).
    fn into_message(self, start: Instant) -> Result<Option<WorkerMessage>, String> {
        Ok(Some(match self {
            Wire::Interval {
                index,
                length,
                recording,
                cpu_seconds,
                connections_open,
            } => WorkerMessage::Interval(Box::new(IntervalReport {
                index,
                length,
                recording: recording.decode()?,
                cpu_seconds,
                connections_open,
            })),
            Wire::Done {
                cpu_seconds,
                busy,
                window_cpu_seconds,
                panics,
                unserved,
                last_answer_ns,
                ramp,
                sends,
                ended_early_ns,
                per_url,
            } => WorkerMessage::Done(Box::new(WorkerSummary {
                cpu_seconds,
                busy,
                window_cpu_seconds,
                panics,
                unserved,
                last_answer: last_answer_ns.map(|ns| from_signed_ns(start, ns)),
                ramp: ramp.as_ref().map(RampText::decode).transpose()?,
                sends,
                ended_early: ended_early_ns.map(|ns| from_signed_ns(start, ns)),
                per_url: per_url
                    .iter()
                    .map(RecordingText::decode)
                    .collect::<Result<_, _>>()?,
            })),
            Wire::End { .. } => return Ok(None),
        }))
    }
}

fn signed_ns(at: Instant, origin: Instant) -> i64 {
    match at.checked_duration_since(origin) {
        Some(after) => after.as_nanos() as i64,
        None => -(origin.duration_since(at).as_nanos() as i64),
    }
}

fn from_signed_ns(origin: Instant, ns: i64) -> Instant {
    let magnitude = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        origin + magnitude
    } else {
        origin.checked_sub(magnitude).unwrap_or(origin)
    }
}

/// The child's side (`sabench load-shard`): reads its order from `input`, runs its
/// workers, and writes their messages as JSON lines to `output`, then its peak RSS.
/// SIGINT and SIGTERM end it early, as they end a run (in-flight requests finish).
pub fn run_child(input: impl Read, mut output: impl Write) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let order: ShardOrder =
        serde_json::from_reader(input).context("cannot read the shard's order on stdin")?;
    let stop =
        crate::sys::shutdown::flag_on_signals().context("cannot install the stop handler")?;
    crate::sys::file_limits::raise_open_file_limit();
    let config = order.config(stop);
    let target = Target::parse(&config.url, config.allow_remote)?;
    let tls = super::tls::TlsClient::for_target(&target, &config.tls)?;
    let plan = Arc::new(Plan::new(
        &config,
        &target,
        instant_of(order.start_unix_ns),
        tls,
    )?);
    let start = plan.start;
    let workers = order.threads * order.processes;
    let ((), panics) = super::workers::run(&plan, order.workers(), workers, |messages| {
        messages
            .into_iter()
            .try_for_each(|message| write_line(&mut output, &Wire::of(&message, start)))
    })?;
    if !panics.is_empty() {
        anyhow::bail!("a generator thread panicked: {}", panics.join("; "));
    }
    write_line(
        &mut output,
        &Wire::End {
            peak_rss_mib: peak_rss_mib(),
        },
    )
}

fn write_line(output: &mut impl Write, wire: &Wire) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *output, wire)?;
    output.write_all(b"\n")?;
    output.flush()?;
    Ok(())
}

/// One child generator process and the threads reading it.
struct ShardChild {
    process: std::process::Child,
    /// Forwards its messages; returns its peak RSS.
    reader: JoinHandle<Result<f64, String>>,
    /// Collects what it says on stderr.
    errors: JoinHandle<String>,
}

/// The parent's side: the running child processes of one run.
pub(crate) struct Shards {
    children: Vec<ShardChild>,
    measure_start: Instant,
    finished: Arc<AtomicBool>,
    stopper: Option<JoinHandle<()>>,
}

impl Shards {
    /// Starts `processes` children of `threads` workers each, all on one plan, whose
    /// messages go to `sender` as if their workers were local.
    pub fn start(
        config: &LoadConfig,
        target: &Target,
        processes: usize,
        threads: usize,
        sender: &Sender<WorkerMessage>,
    ) -> Result<Self, LoadError> {
        let program = match &config.program {
            Some(program) => program.clone(),
            None => std::env::current_exe().map_err(LoadError::Start)?,
        };
        let start_wall = SystemTime::now() + START_MARGIN;
        let start_unix_ns = start_wall
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        // Only the times are needed here: the children build the plan itself.
        let (_, schedule_start, measure_start) =
            super::plan::timing(config, target.addr, instant_of(start_unix_ns));
        let mut children = Vec::new();
        for index in 0..processes {
            let order = ShardOrder {
                url: config.url.clone(),
                allow_remote: config.allow_remote,
                schedule: config.schedule.clone(),
                connections: config.connections,
                threads,
                processes,
                index,
                duration: config.duration,
                requests: config.requests.map(|n| {
                    n / processes as u64 + u64::from((index as u64) < n % processes as u64)
                }),
                warmup: config.warmup,
                timeout: config.timeout,
                connect_timeout: config.connect_timeout,
                cpus: config.cpus.clone(),
                ramp: config.ramp,
                start_unix_ns,
                request: config.request.clone(),
                mix: config.mix.clone(),
                unix_socket: config.unix_socket.clone(),
                arrival: config.arrival,
                seed: config.seed,
                tls: config.tls.clone(),
                read_limits: config.read_limits,
                protocol: config.protocol,
                streams: config.streams,
            };
            children.push(spawn_child(&program, &order, schedule_start, sender)?);
        }
        let finished = Arc::new(AtomicBool::new(false));
        let stopper = config.stop.clone().map(|stop| {
            let pids: Vec<libc::pid_t> = children.iter().map(|c| c.process.id() as i32).collect();
            let finished = finished.clone();
            std::thread::spawn(move || forward_stop(&stop, &finished, &pids))
        });
        Ok(Self {
            children,
            measure_start,
            finished,
            stopper,
        })
    }

    /// When the measured window begins.
    pub fn measure_start(&self) -> Instant {
        self.measure_start
    }

    /// Waits for every child; the sum of their peak RSS, MiB, or what went wrong.
    pub fn finish(mut self) -> Result<f64, LoadError> {
        let mut rss = 0.0;
        let mut failure = None;
        for (index, child) in std::mem::take(&mut self.children).into_iter().enumerate() {
            let ShardChild {
                mut process,
                reader,
                errors,
            } = child;
            let status = process.wait().map_err(LoadError::Start)?;
            let read = reader
                .join()
                .unwrap_or_else(|_| Err("its reader panicked".into()));
            let said = errors.join().unwrap_or_default();
            match read {
                Ok(peak) if status.success() => rss += peak,
                Ok(_) | Err(_) if failure.is_some() => {}
                Ok(_) => failure = Some(shard_failed(index, &status.to_string(), &said)),
                Err(why) => failure = Some(shard_failed(index, &why, &said)),
            }
        }
        self.finished.store(true, Ordering::Relaxed);
        if let Some(stopper) = self.stopper.take() {
            let _ = stopper.join();
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(rss + peak_rss_mib()),
        }
    }
}

impl Drop for Shards {
    /// A run abandoned on an error leaves no child behind.
    fn drop(&mut self) {
        self.finished.store(true, Ordering::Relaxed);
        for child in &mut self.children {
            let _ = child.process.kill();
            let _ = child.process.wait();
        }
    }
}

fn shard_failed(index: usize, why: &str, said: &str) -> LoadError {
    let said = said.trim();
    LoadError::Shard {
        index,
        why: if said.is_empty() {
            why.to_string()
        } else {
            format!("{why}: {said}")
        },
    }
}

/// Starts one child with its order on stdin, and the threads that read it.
fn spawn_child(
    program: &PathBuf,
    order: &ShardOrder,
    start: Instant,
    sender: &Sender<WorkerMessage>,
) -> Result<ShardChild, LoadError> {
    let mut command = Command::new(program);
    command
        .arg("load-shard")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: prctl is async-signal-safe. The child dies with the thread that started it
    // (which waits for it), so a killed parent leaves no generator behind.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut process = command.spawn().map_err(|e| LoadError::Shard {
        index: order.index,
        why: format!("cannot start {}: {e}", program.display()),
    })?;
    let taken = (
        process.stdin.take(),
        process.stdout.take(),
        process.stderr.take(),
    );
    let (Some(mut stdin), Some(stdout), Some(mut stderr)) = taken else {
        let _ = process.kill();
        return Err(LoadError::Start(std::io::Error::other(
            "a child without pipes",
        )));
    };
    let written = serde_json::to_writer(&mut stdin, order).map_err(std::io::Error::from);
    drop(stdin);
    if let Err(error) = written {
        let _ = process.kill();
        let _ = process.wait();
        return Err(LoadError::Start(error));
    }
    let sender = sender.clone();
    let reader = std::thread::spawn(move || forward(BufReader::new(stdout), start, &sender));
    let errors = std::thread::spawn(move || {
        let mut said = String::new();
        let _ = stderr.read_to_string(&mut said);
        said
    });
    Ok(ShardChild {
        process,
        reader,
        errors,
    })
}

/// Hands each message of one child to the collector; returns the child's peak RSS.
fn forward(
    lines: impl BufRead,
    start: Instant,
    sender: &Sender<WorkerMessage>,
) -> Result<f64, String> {
    for line in lines.lines() {
        let line = line.map_err(|e| format!("cannot read its output: {e}"))?;
        let wire: Wire =
            serde_json::from_str(&line).map_err(|e| format!("garbled output ({e}): {line:.80}"))?;
        if let Wire::End { peak_rss_mib } = wire {
            return Ok(peak_rss_mib);
        }
        if let Some(message) = wire.into_message(start)? {
            // The collector is gone only when the run is being abandoned.
            let _ = sender.send(message);
        }
    }
    Err("it ended before its report was complete".into())
}

/// Passes the run's stop flag on to the children (SIGTERM: they end as a stopped run
/// ends, and still report) until they are finished.
fn forward_stop(stop: &AtomicBool, finished: &AtomicBool, pids: &[libc::pid_t]) {
    while !finished.load(Ordering::Relaxed) {
        if stop.load(Ordering::Relaxed) {
            for pid in pids {
                // SAFETY: kill with a pid of our own unreaped child and a valid signal.
                unsafe {
                    libc::kill(*pid, libc::SIGTERM);
                }
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::ramp::RampTally;
    use crate::load::recorder::{ErrorClass, Finished, Recording, RequestOutcome, Timing};

    fn recording(sample_ms: &[u64]) -> Recording {
        let mut recording = Recording::default();
        let origin = Instant::now();
        for ms in sample_ms {
            recording.note_sent();
            let done = origin + Duration::from_millis(*ms);
            let timing = Timing {
                intended: origin,
                ready: origin,
                sent: origin,
                done,
            };
            let finished = Finished {
                outcome: RequestOutcome::Ok(None),
                status: Some(200),
                bytes: 10,
                connect: None,
            };
            recording.record(&timing, &finished);
        }
        recording
    }

    #[test]
    fn an_interval_crosses_the_process_boundary_exactly() {
        let start = Instant::now();
        let recording = recording(&[1, 2, 3, 250, 999]);
        let message = WorkerMessage::Interval(Box::new(IntervalReport {
            index: 3,
            length: Duration::from_secs(1),
            recording: recording.clone(),
            cpu_seconds: Some(0.25),
            connections_open: 7,
        }));
        let text = serde_json::to_string(&Wire::of(&message, start)).unwrap();
        let back: Wire = serde_json::from_str(&text).unwrap();
        let Some(WorkerMessage::Interval(report)) = back.into_message(start).unwrap() else {
            panic!("not an interval");
        };
        assert_eq!(report.index, 3);
        assert_eq!(report.cpu_seconds, Some(0.25));
        assert_eq!(report.connections_open, 7);
        assert_eq!(report.recording.counts, recording.counts);
        for (got, sent) in report
            .recording
            .histograms()
            .into_iter()
            .zip(recording.histograms())
        {
            assert_eq!(got, sent);
        }
    }

    #[test]
    fn a_workers_summary_keeps_its_instants_and_ramp() {
        let start = Instant::now();
        let mut tally = RampTally::default();
        tally.opened(Duration::from_millis(3));
        tally.failed(ErrorClass::ConnectTimeout);
        tally.stayed_up = 1;
        let earlier = start.checked_sub(Duration::from_millis(5)).unwrap_or(start);
        let message = WorkerMessage::Done(Box::new(WorkerSummary {
            cpu_seconds: 0.5,
            busy: Some(0.25),
            window_cpu_seconds: Some(0.2),
            panics: Vec::new(),
            unserved: 2,
            last_answer: Some(earlier),
            ramp: Some(tally.clone()),
            sends: Vec::new(),
            ended_early: Some(start + Duration::from_millis(7)),
            per_url: vec![Recording::default(), {
                let mut one = Recording::default();
                one.counts.ok = 3;
                one
            }],
        }));
        let back: Wire =
            serde_json::from_str(&serde_json::to_string(&Wire::of(&message, start)).unwrap())
                .unwrap();
        let Some(WorkerMessage::Done(summary)) = back.into_message(start).unwrap() else {
            panic!("not a summary");
        };
        assert_eq!(summary.unserved, 2);
        assert_eq!(summary.last_answer, Some(earlier));
        assert_eq!(summary.ended_early, Some(start + Duration::from_millis(7)));
        assert_eq!(summary.per_url.len(), 2);
        assert_eq!(
            summary.per_url[1].counts.ok, 3,
            "each URL's recording crosses the pipe"
        );
        let ramp = summary.ramp.unwrap();
        assert_eq!((ramp.established, ramp.stayed_up), (1, 1));
        assert_eq!(ramp.failed, tally.failed);
        assert_eq!(ramp.connect, tally.connect);
    }

    #[test]
    fn a_child_that_ends_early_is_an_error_not_a_short_report() {
        let (sender, _receiver) = std::sync::mpsc::channel();
        let lines: &[u8] = b"";
        assert!(forward(lines, Instant::now(), &sender).is_err());
        let garbled: &[u8] = b"{\"Nonsense\":1}\n";
        let why = forward(garbled, Instant::now(), &sender).unwrap_err();
        assert!(why.contains("garbled"), "{why}");
    }

    #[test]
    fn the_connections_decide_the_processes_unless_asked() {
        let limit = crate::sys::file_limits::open_file_limit().unwrap();
        let per_process = (limit - RESERVED_FILES) as usize;
        let mut config = LoadConfig::closed("http://127.0.0.1:1/", 10, Duration::from_secs(1));
        assert_eq!(processes_for(&config).unwrap(), 1);
        config.connections = per_process + 1;
        assert_eq!(processes_for(&config).unwrap(), 2);
        config.processes = Some(3);
        assert_eq!(processes_for(&config).unwrap(), 3);
        config.processes = Some(1);
        assert!(matches!(
            processes_for(&config),
            Err(LoadError::TooFewFileDescriptors { .. })
        ));
        config.connections = 2;
        config.processes = Some(5);
        assert_eq!(
            processes_for(&config).unwrap(),
            2,
            "no process without a connection"
        );
    }
}
