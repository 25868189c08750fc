//! Progress over cells: the live view's board (`sabench run` on a terminal, see
//! `watch::terminal`); else an `indicatif` bar with ETA, the current cell and live
//! req/s when stderr is a terminal; one plain line per finished cell otherwise (CI
//! logs).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::display::{or_dash, percent};
use crate::load::report::Second;
use crate::load::{SecondHook, Watcher};
use crate::results::CellRecord;
use crate::watch::live::Board;

/// Reports progress of a run.
pub struct Progress {
    bar: Option<ProgressBar>,
    board: Option<Arc<Board>>,
    total: usize,
}

impl Progress {
    /// On the live view's `board` when there is one; else a bar on a terminal, plain
    /// lines elsewhere.
    pub fn on(total: usize, board: Option<&Arc<Board>>) -> Self {
        match board {
            Some(board) => {
                board.plan_cells(total);
                Self {
                    bar: None,
                    board: Some(board.clone()),
                    total,
                }
            }
            None => Self::new(total),
        }
    }

    /// A bar on a terminal, plain lines elsewhere.
    pub fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64);
            let style =
                ProgressStyle::with_template("{bar:30} {pos}/{len} cells  ETA {eta}  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Self {
            bar,
            board: None,
            total,
        }
    }

    /// A cell begins.
    pub fn start_cell(&self, index: usize, label: &str) {
        match (&self.board, &self.bar) {
            (Some(board), _) => board.start_cell(label),
            (None, Some(bar)) => bar.set_message(label.to_string()),
            (None, None) => eprintln!("[{}/{}] {label} ...", index + 1, self.total),
        }
    }

    /// The live view's feed, for each load of the run (None without the view).
    pub fn watcher(&self) -> Option<Arc<dyn Watcher>> {
        self.board.as_ref().map(Board::feed)
    }

    /// A hook the load generator calls every second (updates live req/s on the bar).
    pub fn live_hook(&self, label: &str) -> Option<SecondHook> {
        let bar = self.bar.clone()?;
        let label = label.to_string();
        Some(SecondHook(Arc::new(move |second: &Second| {
            bar.set_message(format!(
                "{label}  {:.0} req/s  ok p99 {} ms",
                second.achieved_rps,
                or_dash(second.p99_ms, 1)
            ));
        })))
    }

    /// A cell finished.
    pub fn finish_cell(&self, index: usize, record: &CellRecord) {
        let line = format!(
            "[{}/{}] {} {} {}: {:.0} ok req/s, ok p95 {} ms, ok p99 {} ms, failed or unfinished {}, peak RSS {} MiB{}{}",
            index + 1,
            self.total,
            record.workload,
            record.variant,
            record.level(),
            record.achieved_rps,
            or_dash(record.p95_ms, 2),
            or_dash(record.p99_ms, 2),
            percent(record.failure_share()),
            or_dash(record.rss_peak_mib, 1),
            match (record.failed(), record.valid) {
                (true, _) => format!(" FAILED: {}", record.error),
                (false, false) => " INVALID".to_string(),
                (false, true) => String::new(),
            },
            if record.measurement_notes.is_empty() {
                String::new()
            } else {
                format!(" (note: {})", record.measurement_notes)
            }
        );
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            None => eprintln!("{line}"),
        }
        if let Some(board) = &self.board {
            board.finish_cell(record.failed());
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
