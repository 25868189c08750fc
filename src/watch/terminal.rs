//! The live terminal view of `sabench load` and `sabench run` (ratatui over crossterm,
//! on the alternate screen): it draws the [`Board`] on its own thread when the board
//! moves (once a second) and at least once a second, reads `q`, Esc and Ctrl-C as a
//! stop (the run's own stop flag, as Ctrl-C's signal sets it), and measures its own
//! CPU. While it is up, stderr goes to a pipe whose lines the view shows in its log
//! pane; when it closes they are written to the real stderr, so no warning is lost.
//! Plain lines instead ([`wanted`]) when stdin or stdout is not a terminal, under `CI`,
//! or with `--no-tui`.

use std::fs::File;
use std::io::{BufRead as _, BufReader, IsTerminal as _, Write as _};
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal as term};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Sparkline, Table, Wrap};
use ratatui::{Frame, Terminal};

use super::live::{Board, LoadSnapshot, RunSnapshot, Snapshot, RECENT_SECONDS};
use crate::display::{figure, or_dash, percent};
use crate::load::report::Percentiles;
use crate::sys::procfs::{cpu_time, CpuOf};

/// How often the view looks for a key press (and for a board that moved).
const POLL: Duration = Duration::from_millis(100);
/// The view redraws at least this often (the clocks move without the board).
const REDRAW: Duration = Duration::from_secs(1);
/// Lines of stderr kept to be written out when the view closes.
const KEPT_LINES: usize = 10_000;

/// Whether to show the live view: stdin and stdout are a terminal (it draws on one and
/// reads keys from the other), `CI` is not set (or is empty, `false` or `0`), and
/// `--no-tui` was not given.
pub fn wanted(no_tui: bool) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"));
    !no_tui && !ci && std::io::stdout().is_terminal() && std::io::stdin().is_terminal()
}

/// The live view titled `title` when it is [`wanted`]: the board to feed, and the view
/// drawing it (a stop key sets `stop`). None: plain lines.
pub fn open(
    title: &str,
    no_tui: bool,
    stop: &Arc<AtomicBool>,
) -> std::io::Result<Option<(Arc<Board>, View)>> {
    if !wanted(no_tui) {
        return Ok(None);
    }
    let board = Board::new(title);
    let view = View::start(board.clone(), stop.clone())?;
    Ok(Some((board, view)))
}

/// What the view cost, measured on its own thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// CPU seconds the drawing thread used.
    pub cpu_seconds: f64,
    /// How long the view was up.
    pub wall: Duration,
    /// Frames drawn.
    pub frames: u64,
}

impl Cost {
    /// "the live view drew 41 frames in 40.1 s with 0.05 s of CPU (0.1 % of a core)".
    pub fn describe(&self) -> String {
        let wall = self.wall.as_secs_f64();
        format!(
            "the live view drew {} frames in {wall:.1} s with {:.3} s of CPU ({} of a core)",
            self.frames,
            self.cpu_seconds,
            percent((wall > 0.0).then(|| self.cpu_seconds / wall))
        )
    }
}

/// The view while it is up: closed by [`View::close`] (or on drop, as by a panic).
pub struct View {
    stop_drawing: Arc<AtomicBool>,
    drawer: Option<JoinHandle<Cost>>,
    capture: Option<StderrCapture>,
    screen: bool,
}

impl View {
    /// Takes the terminal (raw mode, alternate screen) and stderr, and starts drawing
    /// `board`. A `q`, Esc or Ctrl-C sets `stop`.
    pub fn start(board: Arc<Board>, stop: Arc<AtomicBool>) -> std::io::Result<Self> {
        let mut view = Self {
            stop_drawing: Arc::new(AtomicBool::new(false)),
            drawer: None,
            capture: None,
            screen: false,
        };
        term::enable_raw_mode()?;
        view.screen = true;
        execute!(std::io::stdout(), term::EnterAlternateScreen, cursor::Hide)?;
        let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        view.capture = Some(StderrCapture::start(board.clone())?);
        let stop_drawing = view.stop_drawing.clone();
        view.drawer = Some(
            std::thread::Builder::new()
                .name("sabench-view".into())
                .spawn(move || draw_until(terminal, &board, &stop_drawing, &stop))?,
        );
        Ok(view)
    }

    /// Gives the terminal and stderr back (the lines written to stderr meanwhile are
    /// written out now) and says what the view cost.
    pub fn close(mut self) -> Option<Cost> {
        self.restore()
    }

    /// Closes the view and says on stderr what it cost.
    pub fn finish(self) {
        if let Some(cost) = self.close() {
            eprintln!("{}", cost.describe());
        }
    }

    fn restore(&mut self) -> Option<Cost> {
        self.stop_drawing.store(true, Ordering::Relaxed);
        let cost = self.drawer.take().and_then(|drawer| drawer.join().ok());
        if self.screen {
            let _ = execute!(std::io::stdout(), term::LeaveAlternateScreen, cursor::Show);
            let _ = term::disable_raw_mode();
            self.screen = false;
        }
        if let Some(capture) = self.capture.take() {
            capture.restore();
        }
        cost
    }
}

impl Drop for View {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Draws `board` when it moves (and every [`REDRAW`]) until `stop_drawing`; a stop key
/// sets `stop`. Returns the thread's own cost.
fn draw_until(
    mut terminal: Terminal<CrosstermBackend<std::io::Stdout>>,
    board: &Board,
    stop_drawing: &AtomicBool,
    stop: &AtomicBool,
) -> Cost {
    let began = Instant::now();
    let cpu_before = cpu_time(CpuOf::Thread);
    let mut frames = 0;
    let mut drawn: Option<(u64, Instant)> = None;
    while !stop_drawing.load(Ordering::Relaxed) {
        let version = board.version();
        let due = drawn.is_none_or(|(seen, at)| seen != version || at.elapsed() >= REDRAW);
        if due {
            let snapshot = board.snapshot();
            if terminal.draw(|frame| render(frame, &snapshot)).is_ok() {
                frames += 1;
            }
            drawn = Some((version, Instant::now()));
        }
        match event::poll(POLL) {
            Ok(true) => match event::read() {
                Ok(Event::Key(key)) if key.kind == KeyEventKind::Press => {
                    let ctrl_c = key.code == KeyCode::Char('c')
                        && key.modifiers.contains(KeyModifiers::CONTROL);
                    if ctrl_c || matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) {
                        stop.store(true, Ordering::SeqCst);
                        board.stopping();
                    }
                }
                Ok(Event::Resize(..)) => drawn = None,
                _ => {}
            },
            Ok(false) => {}
            // No terminal to read from any more: draw on, at the poll's pace.
            Err(_) => std::thread::sleep(POLL),
        }
    }
    Cost {
        cpu_seconds: (cpu_time(CpuOf::Thread) - cpu_before).as_secs_f64(),
        wall: began.elapsed(),
        frames,
    }
}

/// Draws a snapshot of the board: the header, the rate, latency and generator panes of
/// the load running now, the log, and the keys.
pub fn render(frame: &mut Frame<'_>, snapshot: &Snapshot) {
    let header = 2 + u16::from(snapshot.run.is_some());
    let [top, rate, middle, log, keys] = Layout::vertical([
        Constraint::Length(header + 2),
        Constraint::Length(7),
        Constraint::Length(11),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(
        Paragraph::new(header_lines(snapshot))
            .block(Block::bordered().title(format!(" {} ", snapshot.title))),
        top,
    );
    match &snapshot.load {
        Some(load) => {
            render_rate(frame, rate, load);
            let [latency, generator] =
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(middle);
            render_latency(frame, latency, load);
            render_requests(frame, generator, load);
        }
        None => frame.render_widget(
            Paragraph::new("no load running yet (a server starting, or the run between cells)")
                .block(Block::bordered().title(" rate ")),
            rate,
        ),
    }
    let shown = usize::from(log.height.saturating_sub(2));
    let lines: Vec<Line> = snapshot
        .log
        .iter()
        .skip(snapshot.log.len().saturating_sub(shown))
        .map(|line| Line::raw(line.clone()))
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" log (stderr) ")),
        log,
    );
    let hint = match snapshot.stopping {
        true => Span::styled(
            " stopping: the requests in flight finish, then the report ",
            Style::default().add_modifier(Modifier::BOLD),
        ),
        false => Span::raw(" q or Ctrl-C: stop (what is done is kept) "),
    };
    frame.render_widget(Paragraph::new(Line::from(hint)), keys);
}

/// The header: the load's shape and time left, and a run's cells.
fn header_lines(snapshot: &Snapshot) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match &snapshot.load {
        Some(load) => {
            let shape = &load.shape;
            let connections = match shape.streams {
                1 => format!("{} connections", shape.connections),
                n => format!("{} connections × {n} HTTP/2 streams", shape.connections),
            };
            lines.push(Line::raw(format!(
                "{}  ·  {}  ·  {connections}",
                shape.url, shape.mode
            )));
            let warm = load.elapsed < shape.warmup;
            let clock = match (warm, load.left()) {
                (true, _) => format!(
                    "warming up: {:.1} of {:.1} s",
                    load.elapsed.as_secs_f64(),
                    shape.warmup.as_secs_f64()
                ),
                (false, Some(left)) => format!("{}  ·  {} left", seconds_done(load), short(left)),
                (false, None) => format!(
                    "{} (it ends when the request count is spent)",
                    seconds_done(load)
                ),
            };
            lines.push(Line::raw(clock));
        }
        None => lines.extend([Line::raw("waiting for a load"), Line::raw("")]),
    }
    if let Some(run) = &snapshot.run {
        lines.push(Line::raw(run_line(run)));
    }
    lines
}

/// "second 3 of the window done", or that the first is not over yet.
fn seconds_done(load: &LoadSnapshot) -> String {
    match load.last() {
        Some(row) => format!("second {} of the window done", row.second + 1),
        None => "the window's first second is not over yet".to_string(),
    }
}

fn run_line(run: &RunSnapshot) -> String {
    let now = match &run.current {
        Some(label) => format!("cell {} of {}: {label}", run.done + 1, run.total),
        None => format!("{} of {} cells", run.done, run.total),
    };
    let failed = match run.failed {
        0 => String::new(),
        n => format!(", {n} failed"),
    };
    let left = run
        .left()
        .map_or("time left known after the first cell".to_string(), |left| {
            format!("about {} left", short(left))
        });
    format!("{now}  ·  {} done{failed}  ·  {left}", run.done)
}

/// A count, thousands separated (12,345).
fn count(n: u64) -> String {
    match n {
        0..1000 => n.to_string(),
        _ => figure(n as f64),
    }
}

/// A rate a second: whole when it is whole or 100 and more (2,000), else to a tenth
/// (0.5).
fn rate(value: f64) -> String {
    match value >= 100.0 || value.fract() == 0.0 {
        true => count(value.round() as u64),
        false => format!("{value:.1}"),
    }
}

/// "1h 02m", "3m 05s", "42 s".
fn short(duration: Duration) -> String {
    let s = duration.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The rate pane: the last second's rates in the title, successes a second as a chart.
fn render_rate(frame: &mut Frame<'_>, area: Rect, load: &LoadSnapshot) {
    let title = match load.last() {
        Some(row) => format!(
            " rate: ok {}/s  ·  sent {}/s  ·  offered {}  ·  errors {}/s ",
            rate(row.achieved_rps),
            rate(row.sent_rps),
            row.target_rps
                .map_or("by replies (closed loop)".to_string(), |r| format!(
                    "{}/s",
                    rate(r)
                )),
            count(row.errors)
        ),
        None => " rate: the first second is not over yet ".to_string(),
    };
    let width = usize::from(area.width.saturating_sub(2));
    let data: Vec<u64> = load
        .rows
        .iter()
        .skip(load.rows.len().saturating_sub(width))
        .map(|row| row.achieved_rps.round() as u64)
        .collect();
    // A fifth of headroom over the highest second, so a steady rate is not a wall.
    let top = data.iter().max().map_or(1, |max| (max + max / 4).max(1));
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .max(top)
            .style(Style::default().fg(Color::Green))
            .block(Block::bordered().title(title)),
        area,
    );
}

/// The latency pane: the last seconds' and the window's percentiles, successes and all.
fn render_latency(frame: &mut Frame<'_>, area: Rect, load: &LoadSnapshot) {
    let row = |name: String, p: Option<Percentiles>| {
        Row::new(
            std::iter::once(name).chain(
                [
                    p.map(|p| p.p50),
                    p.map(|p| p.p90),
                    p.map(|p| p.p99),
                    p.map(|p| p.p999),
                    p.map(|p| p.max),
                ]
                .into_iter()
                .map(|v| v.map_or("—".to_string(), figure)),
            ),
        )
    };
    let recent = format!("last {RECENT_SECONDS} s");
    let rows = vec![
        row(format!("{recent} ok"), load.recent_ok),
        row(format!("{recent} all"), load.recent_all),
        row("window ok".into(), load.window_ok),
        row("window all".into(), load.window_all),
    ];
    let widths = [
        Constraint::Length(13),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(
                Row::new(["", "p50", "p90", "p99", "p99.9", "max"])
                    .style(Style::default().add_modifier(Modifier::BOLD)),
            )
            .block(Block::bordered().title(" latency, ms (from the intended send time) ")),
        area,
    );
}

/// The requests and generator pane: errors by class, the window's counts, the
/// generator's lag and busy share with their verdict, connections open.
fn render_requests(frame: &mut Frame<'_>, area: Rect, load: &LoadSnapshot) {
    let errors = match load.errors_last.is_empty() {
        true => "none".to_string(),
        false => load
            .errors_last
            .iter()
            .map(|(class, n)| format!("{} {n}", class.key()))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let counts = &load.counts;
    let open = load.last().map_or(0, |row| row.connections_open);
    let verdict = match load.invalid.is_empty() {
        true => Span::styled(
            "VALID so far: the target answers and the generator keeps up",
            Style::default().fg(Color::Green),
        ),
        false => Span::styled(
            format!("INVALID so far: {}", load.invalid.join("; ")),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
    };
    let lines = vec![
        Line::raw(format!("errors last second: {errors}")),
        Line::raw(format!(
            "window: sent {}  ok {}  failed {}",
            count(counts.sent),
            count(counts.ok),
            count(counts.error_total())
        )),
        Line::raw(format!(
            "in flight {}  ·  connections open {open} of {}",
            load.in_flight(),
            load.shape.connections
        )),
        Line::raw(format!(
            "generator lag p99 {} ms (limit {} ms)",
            or_dash(load.lag_p99_ms, 2),
            figure(load.shape.max_lag.as_secs_f64() * 1000.0)
        )),
        Line::raw(format!("generator busy {} of a core", percent(load.busy))),
        Line::from(verdict),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" requests and generator ")),
        area,
    );
}

/// stderr sent to a pipe while the view is up: each line goes to the board's log and
/// is kept, to be written to the real stderr when the view closes. Lines that arrive
/// after that (a child still writing) go straight through.
struct StderrCapture {
    saved: OwnedFd,
    captured: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    lines: Vec<String>,
    dropped: usize,
    through: bool,
}

impl StderrCapture {
    fn start(board: Arc<Board>) -> std::io::Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: pipe2 returned two fresh descriptors, each owned once here.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: F_DUPFD_CLOEXEC on fd 2 returns a fresh descriptor (or -1).
        let saved = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) };
        if saved < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `saved` is a fresh descriptor owned here.
        let saved = unsafe { OwnedFd::from_raw_fd(saved) };
        let _ = std::io::stderr().flush();
        // SAFETY: both descriptors are open; dup2 onto 2 (no CLOEXEC: children inherit
        // it as their stderr, as before).
        if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&write), 2) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        drop(write);
        let captured = Arc::new(Mutex::new(Captured::default()));
        let shared = captured.clone();
        std::thread::Builder::new()
            .name("sabench-stderr".into())
            .spawn(move || read_lines(File::from(read), &board, &shared))?;
        Ok(Self { saved, captured })
    }

    /// Puts the real stderr back and writes the kept lines to it.
    fn restore(self) {
        let mut captured = self
            .captured
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // SAFETY: both descriptors are open; the saved one goes back onto 2.
        unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&self.saved), 2) };
        captured.through = true;
        let mut stderr = std::io::stderr().lock();
        for line in captured.lines.drain(..) {
            let _ = writeln!(stderr, "{line}");
        }
        if captured.dropped > 0 {
            let _ = writeln!(
                stderr,
                "({} earlier lines of stderr were not kept)",
                captured.dropped
            );
        }
    }
}

/// Reads the pipe line by line until every writer has closed it.
fn read_lines(read: File, board: &Board, captured: &Mutex<Captured>) {
    let mut reader = BufReader::new(read);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buffer)
            .trim_end_matches(['\n', '\r'])
            .to_string();
        let mut kept = captured
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.through {
            let _ = writeln!(std::io::stderr(), "{line}");
            continue;
        }
        board.log(&line);
        if kept.lines.len() < KEPT_LINES {
            kept.lines.push(line);
        } else {
            kept.dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::recorder::Recording;
    use crate::load::report::Second;
    use crate::load::Watched;
    use crate::watch::live::LoadShape;
    use ratatui::backend::TestBackend;

    fn screen(snapshot: &Snapshot) -> String {
        let mut terminal = Terminal::new(TestBackend::new(110, 32)).unwrap();
        terminal.draw(|frame| render(frame, snapshot)).unwrap();
        let buffer = terminal.backend().buffer();
        let mut text = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                text.push_str(buffer[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn the_view_shows_the_rate_the_percentiles_the_generator_and_the_run() {
        let board = Board::new("sabench run scenarios/quick.toml");
        board.plan_cells(6);
        board.start_cell("io async c64");
        let watcher = board.feed();
        board.begin(LoadShape {
            url: "http://127.0.0.1:9/io".into(),
            mode: "open loop, 2,000 req/s".into(),
            open_loop: true,
            connections: 64,
            streams: 1,
            window: Some(Duration::from_secs(10)),
            warmup: Duration::ZERO,
            max_lag: Duration::from_millis(10),
        });
        let mut second = Recording::default();
        for _ in 0..1990 {
            second.ok_corrected.record(4_000).unwrap();
            second.all_corrected.record(4_000).unwrap();
        }
        second.counts.sent = 2000;
        second.counts.ok = 1990;
        second
            .counts
            .errors
            .insert(crate::load::recorder::ErrorClass::Timeout, 10);
        second.generator_lag.record(50).unwrap();
        let row = Second {
            second: 0,
            target_rps: Some(2000.0),
            sent_rps: 2000.0,
            achieved_rps: 1990.0,
            errors: 10,
            p50_ms: Some(4.0),
            p99_ms: Some(4.0),
            p95_ms: Some(4.0),
            all_p95_ms: Some(4.0),
            all_p99_ms: Some(4.0),
            generator_lag_p99_ms: Some(0.05),
            generator_busy: Some(0.12),
            connections_open: 64,
        };
        watcher.second(&Watched {
            row: &row,
            second: &second,
            totals: &second,
        });
        board.log("[1/6] null async c64: 9,000 ok req/s");
        let text = screen(&board.snapshot());
        for expected in [
            "sabench run scenarios/quick.toml",
            "open loop, 2,000 req/s",
            "ok 1,990/s",
            "offered 2,000/s",
            "p99",
            "4.00",
            "timeout 10",
            "connections open 64 of 64",
            "generator lag p99 0.05 ms",
            "generator busy 12.0 % of a core",
            "VALID so far",
            "cell 1 of 6: io async c64",
            "[1/6] null async c64",
            "q or Ctrl-C: stop",
        ] {
            assert!(text.contains(expected), "{expected:?} not in\n{text}");
        }
    }

    #[test]
    fn before_a_load_and_when_stopping_the_view_says_so() {
        let board = Board::new("sabench load http://127.0.0.1:9/");
        board.stopping();
        let text = screen(&board.snapshot());
        assert!(text.contains("no load running yet"), "{text}");
        assert!(text.contains("stopping"), "{text}");
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(short(Duration::from_secs(42)), "42 s");
        assert_eq!(short(Duration::from_secs(185)), "3m 05s");
        assert_eq!(short(Duration::from_secs(3720)), "1h 02m");
        assert_eq!(count(7), "7");
        assert_eq!(count(16_002), "16,002");
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(0.5), "0.5");
        assert_eq!(rate(1990.4), "1,990");
    }

    #[test]
    fn the_cost_is_a_share_of_a_core() {
        let cost = Cost {
            cpu_seconds: 0.05,
            wall: Duration::from_secs(10),
            frames: 11,
        };
        assert_eq!(
            cost.describe(),
            "the live view drew 11 frames in 10.0 s with 0.050 s of CPU (0.5 % of a core)"
        );
    }
}
