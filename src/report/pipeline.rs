//! The batch pipeline's timings as a markdown table (`sabench pipeline`, and the
//! summary of a run whose scenario has a `[pipeline]`).

use std::fmt::Write as _;

use super::stats;
use crate::pipeline::{PipelineOptions, Timing};

/// The timings as a markdown table, one row a way (the median over its repetitions,
/// with the range when there are several), with the speed-up over the sequential way.
pub fn render(options: &PipelineOptions, timings: &[Timing]) -> String {
    let mut ways: Vec<&str> = Vec::new();
    for t in timings {
        if !ways.contains(&t.way.as_str()) {
            ways.push(&t.way);
        }
    }
    let of = |way: &str| -> Vec<&Timing> { timings.iter().filter(|t| t.way == way).collect() };
    let median_wall = |runs: &[&Timing]| {
        let walls: Vec<f64> = runs.iter().map(|t| t.wall_ms).collect();
        stats::median(&walls)
    };
    let sequential = ways.first().map_or(1.0, |way| median_wall(&of(way)));
    let repetitions = ways.first().map_or(0, |way| of(way).len());
    let mut out = format!(
        "Pipeline: fetch {} sources ({} each, from a mock upstream on loopback), then transform ({} SHA-256 rounds), {repetitions} time(s). \
         The C9 ways fetch from an upstream where {:.0} % of sources fail.\n\n\
         | claim | way | wall ms (median) | range | speed-up vs sequential | results |\n|---|---|---:|---|---:|---:|\n",
        options.sources,
        humantime::format_duration(options.latency),
        options.transform_rounds,
        options.error_rate * 100.0
    );
    for way in &ways {
        let runs = of(way);
        let wall = median_wall(&runs);
        let low = runs.iter().map(|t| t.wall_ms).fold(f64::INFINITY, f64::min);
        let high = runs.iter().map(|t| t.wall_ms).fold(0.0, f64::max);
        let results: Vec<f64> = runs.iter().map(|t| f64::from(t.results)).collect();
        let _ = writeln!(
            out,
            "| {} | {way} | {wall:.1} | {low:.1} – {high:.1} | {:.2}× | {:.0}/{} |",
            runs[0].claim,
            sequential / wall.max(1e-9),
            stats::median(&results),
            runs[0].sources
        );
    }
    out.push_str(
        "\nThe article (C3): a 40-source pipeline, sequential 25 min → async 4 min (6.25×). \
         Scaled here to milliseconds per source; the ratio is what compares.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(way: &str, wall_ms: f64, results: u32, repetition: u32) -> Timing {
        Timing {
            way: way.into(),
            claim: "C3".into(),
            wall_ms,
            results,
            sources: 40,
            repetition,
        }
    }

    #[test]
    fn one_row_a_way_with_the_median_and_range_of_its_repetitions() {
        let timings = [
            timing("sequential (blocking)", 2000.0, 40, 1),
            timing("async, all at once (join)", 60.0, 40, 1),
            timing("sequential (blocking)", 2100.0, 40, 2),
            timing("async, all at once (join)", 50.0, 40, 2),
            timing("sequential (blocking)", 2050.0, 40, 3),
            timing("async, all at once (join)", 55.0, 40, 3),
        ];
        let table = render(&PipelineOptions::default(), &timings);
        assert!(table.contains("3 time(s)"), "{table}");
        assert!(
            table.contains(
                "| C3 | async, all at once (join) | 55.0 | 50.0 – 60.0 | 37.27× | 40/40 |"
            ),
            "{table}"
        );
        assert_eq!(table.matches("| sequential (blocking) |").count(), 1);
    }
}
