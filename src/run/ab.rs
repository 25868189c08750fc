//! `sabench ab`: two builds of the servers measured against each other cell by cell.
//! Every cell of the scenario runs once per pair for each build, the two back to back
//! and in alternating order (before then after, after then before, …: ABBA), on the
//! same pinned cores, with one generator and one upstream (this binary's) for both, so
//! the only difference is the server's build and drift between minutes moves both sides
//! of a pair alike. Each build's cells go into a run folder of its own (readable by
//! every other command); `report::ab` pairs them up and judges the gates.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::Context;

use super::{Lane, RunOptions, Step};
use crate::report::ab::AbReport;
use crate::report::compare::FailOn;
use crate::results::manifest::revision_of;
use crate::results::RunDir;
use crate::scenario;
use crate::scenario::plan::CellPlan;

/// What to compare.
pub struct AbOptions {
    /// The `sabench` executable of the build before the change.
    pub before: PathBuf,
    /// The build after it.
    pub after: PathBuf,
    /// Pairs per cell (None: the scenario's repetitions); at least 6, the fewest
    /// whose signed-rank test can call a change real.
    pub pairs: Option<u32>,
    /// The gates.
    pub gates: Vec<FailOn>,
}

/// How an A/B comparison ended.
pub struct AbOutcome {
    /// Its folder: `before/`, `after/`, `ab.md`, `ab.json`.
    pub root: PathBuf,
    /// The comparison (None: interrupted before any pair).
    pub report: Option<AbReport>,
    /// `ab.md`.
    pub text: String,
    /// Whether Ctrl-C stopped it.
    pub interrupted: bool,
}

/// The fewest pairs that can show a real change.
pub const MIN_PAIRS: u32 = 6;

/// The order of the steps: every cell, its before and after back to back, the order
/// flipping with each repetition (ABBA…).
pub(super) fn schedule(cells: &[CellPlan]) -> Vec<Step> {
    cells
        .iter()
        .enumerate()
        .flat_map(|(cell, plan)| {
            let lanes = match plan.repetition % 2 {
                1 => [0, 1],
                _ => [1, 0],
            };
            lanes.map(|lane| Step { cell, lane })
        })
        .collect()
}

fn check_program(program: &Path, side: &str) -> anyhow::Result<PathBuf> {
    let absolute = std::path::absolute(program).unwrap_or_else(|_| program.to_path_buf());
    anyhow::ensure!(
        absolute.is_file(),
        "--{side} {}: no such executable (build it first, e.g. `cargo build --release` and give target/release/sabench)",
        program.display()
    );
    Ok(absolute)
}

/// Runs the comparison into a new folder under `options.out`.
pub fn run(options: &RunOptions, ab: &AbOptions) -> anyhow::Result<AbOutcome> {
    let before = check_program(&ab.before, "before")?;
    let after = check_program(&ab.after, "after")?;
    let mut scenario = scenario::load(&options.scenario)?;
    let pairs = ab.pairs.unwrap_or(scenario.repetitions);
    anyhow::ensure!(
        pairs >= MIN_PAIRS,
        "{pairs} pairs a cell: the signed-rank test needs at least {MIN_PAIRS} to call any change real (give --pairs {MIN_PAIRS} or more, or raise the scenario's repetitions)"
    );
    scenario.repetitions = pairs;
    scenario.pipeline = None; // the batch pipeline runs in-process: it has no build to compare
    let cells = crate::scenario::plan::cells(&scenario);
    anyhow::ensure!(
        !cells.is_empty(),
        "{}: no cell to compare",
        options.scenario.display()
    );
    let root = RunDir::create_folder_of_runs(
        &options.out,
        &crate::file_name::slug(&format!("{}-ab", scenario.name)),
    )?;
    let before_dir = RunDir::create_new(&root, "before")?;
    let after_dir = RunDir::create_new(&root, "after")?;
    let manifest = |dir: &RunDir, program: &Path| {
        super::new_manifest(&scenario, options, dir, cells.len(), revision_of(program))
    };
    let mut before_manifest = manifest(&before_dir, &before)?;
    let mut after_manifest = manifest(&after_dir, &after)?;
    before_dir.write_manifest(&before_manifest)?;
    after_dir.write_manifest(&after_manifest)?;
    let steps = schedule(&cells);
    eprintln!(
        "ab {}: {} cells × {pairs} pairs, before ({}) and after ({}) back to back → {}",
        root.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().to_string()),
        cells.len() / pairs as usize,
        before_manifest.git_revision,
        after_manifest.git_revision,
        root.display()
    );
    let result = {
        let mut lanes = [
            Lane {
                name: "before",
                dir: &before_dir,
                server_program: &before,
                manifest: &mut before_manifest,
            },
            Lane {
                name: "after",
                dir: &after_dir,
                server_program: &after,
                manifest: &mut after_manifest,
            },
        ];
        super::run_cells(&scenario, &cells, &steps, &mut lanes, options)
    };
    super::close(&before_dir, &mut before_manifest, &result, options)?;
    super::close(&after_dir, &mut after_manifest, &result, options)?;
    result.context("the A/B runs")?;
    let interrupted = options.interrupted.load(Ordering::SeqCst);
    if before_manifest.cells_done == 0 || after_manifest.cells_done == 0 {
        return Ok(AbOutcome {
            root,
            report: None,
            text: String::new(),
            interrupted,
        });
    }
    let (report, text) =
        crate::report::ab::write(&root, &before_dir, &after_dir, &ab.gates, pairs as usize)?;
    Ok(AbOutcome {
        root,
        report: Some(report),
        text,
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cell_runs_both_builds_back_to_back_in_alternating_order() {
        let text = "name = \"s\"\nrepetitions = 4\n[load]\nconnections = [1]\n[[workloads]]\nroute = \"cpu\"\n[[styles]]\nstyle = \"async\"\n";
        let scenario = scenario::parse(text, "s.toml").unwrap();
        let cells = crate::scenario::plan::cells(&scenario);
        let steps = schedule(&cells);
        let lanes: Vec<usize> = steps.iter().map(|s| s.lane).collect();
        assert_eq!(lanes, [0, 1, 1, 0, 0, 1, 1, 0], "ABBA ABBA");
        for pair in steps.chunks(2) {
            assert_eq!(
                pair[0].cell, pair[1].cell,
                "a pair is one cell, back to back"
            );
        }
    }
}
