//! The summary's section on servers of the user's own (`[[targets]]`): what each one
//! is, the command it ran with, the versions it reported, and how its memory was
//! measured (a tree of processes, so summed PSS rather than one process's RSS).

use std::fmt::Write as _;

use crate::results::manifest::TargetFacts;
use crate::results::CellRecord;

/// The section, or nothing when the run measured no target.
pub fn section(targets: &[TargetFacts], cells: &[CellRecord]) -> String {
    if targets.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "## Servers of your own\n\n\
         Each was started per cell by its command (under `sabench supervise`, which owns its whole process group), pinned like the built-in styles, and polled until ready. \
         Its memory is the **summed PSS of its process tree** (a master and its workers share pages; PSS divides each shared page among its users, so nothing is counted twice), its threads and CPU the tree's sums; a built-in style is one process, whose RSS is shown. \
         `{port}` and the other placeholders are filled per cell.\n\n\
         | target | what | command | versions |\n|---|---|---|---|\n",
    );
    for target in targets {
        let versions = target
            .versions
            .iter()
            .map(|(command, said)| format!("`{command}`: {said}"))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(
            out,
            "| {} | {} | `{}` (in `{}`) | {} |",
            target.name,
            if target.description.is_empty() {
                "—"
            } else {
                &target.description
            },
            target.command.join(" ").replace('|', "\\|"),
            target.cwd,
            if versions.is_empty() {
                "—".to_string()
            } else {
                versions
            }
        );
    }
    out.push('\n');
    out.push_str(&memory_table(cells));
    out
}

/// Per target cell: the tree's summed PSS beside its processes' RSS added up as `ps`
/// shows them (which counts every shared page once per process), and its threads.
fn memory_table(cells: &[CellRecord]) -> String {
    let external: Vec<&CellRecord> = cells.iter().filter(|c| c.style == "external").collect();
    if external.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "| cell | peak PSS, summed MiB | peak RSS, summed as `ps` shows MiB | threads, summed |\n|---|---:|---:|---:|\n",
    );
    for cell in external {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell.cell,
            cell.rss_peak_mib
                .map_or("—".to_string(), |mib| format!("{mib:.1}")),
            cell.tree_rss_sum_peak_mib
                .map_or("—".to_string(), |mib| format!("{mib:.1}")),
            cell.threads_max.map_or("—".to_string(), |n| n.to_string())
        );
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_target_its_command_and_versions() {
        let facts = TargetFacts {
            name: "flask".into(),
            description: "Flask under gunicorn".into(),
            command: vec!["gunicorn".into(), "-b".into(), "127.0.0.1:{port}".into()],
            cwd: "examples/python".into(),
            versions: vec![("python --version".into(), "Python 3.11.7".into())],
        };
        let cell = CellRecord {
            cell: "io-flask-c4-r1".into(),
            style: "external".into(),
            rss_peak_mib: Some(80.0),
            tree_rss_sum_peak_mib: Some(150.0),
            threads_max: Some(5),
            ..CellRecord::default()
        };
        let text = section(&[facts], &[cell]);
        assert!(
            text.contains("| io-flask-c4-r1 | 80.0 | 150.0 | 5 |"),
            "{text}"
        );
        assert!(
            text.contains("| flask | Flask under gunicorn | `gunicorn -b 127.0.0.1:{port}`"),
            "{text}"
        );
        assert!(text.contains("`python --version`: Python 3.11.7"), "{text}");
        assert!(text.contains("summed PSS"), "{text}");
        assert_eq!(section(&[], &[]), "");
    }
}
