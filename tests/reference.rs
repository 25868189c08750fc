//! The committed reference run (`results/reference/`) is the reports' snapshot: every
//! exporter's output, made by this build from the run's data files alone, is byte for
//! byte what is committed. A change to a report's format updates the reference in the
//! same commit (`sabench report results/reference`), so the change shows in review.

use std::path::Path;

use sync_async_bench::report::{self, Exporter, RunData};
use sync_async_bench::results::RunDir;

#[test]
fn every_exporter_makes_the_committed_reference_byte_for_byte() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/reference");
    let run = RunData::read(&RunDir::open(&root).unwrap()).unwrap();
    let exporters: [&dyn Exporter; 3] = [
        &report::markdown::Summary,
        &report::chart_files::Charts,
        &report::html::Html,
    ];
    let mut compared = 0;
    for exporter in exporters {
        for file in exporter.export(&run).unwrap() {
            let committed = std::fs::read(root.join(&file.path))
                .unwrap_or_else(|e| panic!("{}: {e}", file.path.display()));
            assert!(
                committed == file.bytes,
                "{} ({}) differs from the committed reference: rebuild it with `sabench report results/reference`",
                file.path.display(),
                exporter.name()
            );
            compared += 1;
        }
    }
    assert!(compared > 10, "{compared} files");
}
