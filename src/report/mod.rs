//! Reports rebuilt from a run folder's files alone (`sabench report DIR`), one
//! exporter per format behind a small [`Exporter`] trait: the markdown summary, the
//! charts (SVG and PNG), and the self-contained HTML page. Also `compare` (before/after).

pub mod ab;
pub mod aggregate;
pub mod chart_files;
pub mod charts;
pub mod claims;
pub mod compare;
pub mod database;
pub mod findings;
pub mod hlog;
pub mod html;
pub mod invariance;
pub mod markdown;
pub mod mechanism_chart;
pub mod pipeline;
pub mod protocols;
pub mod recommend;
pub mod scale;
pub mod slowloris;
pub mod staged;
pub mod stats;
pub mod targets;
pub mod why;

use std::path::PathBuf;

use crate::results::{CellRecord, Manifest, RunDir};
use aggregate::Group;

/// Everything an exporter reads.
pub struct RunData {
    /// The run folder.
    pub dir: RunDir,
    /// Its manifest.
    pub manifest: Manifest,
    /// Every cell and repetition.
    pub cells: Vec<CellRecord>,
    /// Cells grouped over repetitions.
    pub groups: Vec<Group>,
    /// The batch pipeline's timings, if the scenario ran it.
    pub pipeline: Vec<crate::pipeline::Timing>,
}

impl RunData {
    /// The groups of one workload, level by level, in the order the levels first appear.
    pub fn levels(&self, workload: &str) -> Vec<(String, Vec<&Group>)> {
        let mut levels: Vec<(String, Vec<&Group>)> = Vec::new();
        for group in self.groups.iter().filter(|g| g.workload == workload) {
            match levels.iter_mut().find(|(level, _)| *level == group.level) {
                Some((_, groups)) => groups.push(group),
                None => levels.push((group.level.clone(), vec![group])),
            }
        }
        levels
    }

    /// The scenario the run measured, typed (None: an older run whose scenario no
    /// longer reads as one).
    pub fn scenario(&self) -> Option<&crate::scenario::Scenario> {
        self.manifest.scenario.typed()
    }

    /// The saturation search a workload ran: its own, or the scenario's `[load]` one.
    pub fn search(&self, workload: &str) -> Option<&crate::scenario::Saturate> {
        let scenario = self.scenario()?;
        scenario
            .workloads
            .iter()
            .find(|w| w.name() == workload)
            .and_then(|w| w.saturate.as_ref())
            .or(scenario.load.saturate.as_ref())
    }

    /// Reads a run folder.
    pub fn read(dir: &RunDir) -> anyhow::Result<Self> {
        let manifest = dir.read_manifest()?;
        let cells = if dir.cells_path().exists() {
            dir.read_cells()?
        } else {
            Vec::new()
        };
        let groups = aggregate::groups(&cells);
        let pipeline = std::fs::read(dir.root().join("pipeline.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Ok(Self {
            dir: dir.clone(),
            manifest,
            cells,
            groups,
            pipeline,
        })
    }

    /// The scenario's wrong-versus-right pairs.
    pub fn pairs(&self) -> Vec<crate::pair::Pair> {
        self.scenario().map(|s| s.pairs.clone()).unwrap_or_default()
    }

    /// Workload names in the order they ran (slowloris cells have their own section).
    pub fn workloads(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for group in self.groups.iter().filter(|g| g.load_mode != "slowloris") {
            if !names.contains(&group.workload) {
                names.push(group.workload.clone());
            }
        }
        names
    }
}

/// One file of a report: where it goes in the run's folder, and its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFile {
    /// Its path relative to the run's folder, e.g. `charts/throughput-io.svg`.
    pub path: PathBuf,
    /// Its content.
    pub bytes: Vec<u8>,
}

impl ReportFile {
    /// A text file.
    pub fn text(path: impl Into<PathBuf>, text: String) -> Self {
        Self {
            path: path.into(),
            bytes: text.into_bytes(),
        }
    }
}

/// Makes one output format of a run, as bytes: `build` writes them, a test compares
/// them, nothing reads them back from disk.
pub trait Exporter {
    /// What it writes, for messages.
    fn name(&self) -> &'static str;
    /// Its files.
    fn export(&self, run: &RunData) -> anyhow::Result<Vec<ReportFile>>;
}

/// Writes every report file of `dir` (summary, charts, HTML) from its data files.
pub fn build(dir: &RunDir) -> anyhow::Result<Vec<PathBuf>> {
    let run = RunData::read(dir)?;
    let exporters: [&dyn Exporter; 3] = [&markdown::Summary, &chart_files::Charts, &html::Html];
    let mut written = Vec::new();
    for exporter in exporters {
        let files = exporter
            .export(&run)
            .map_err(|e| e.context(format!("making the {}", exporter.name())))?;
        for file in files {
            written.push(dir.write_file(&file.path, &file.bytes)?);
        }
    }
    Ok(written)
}
