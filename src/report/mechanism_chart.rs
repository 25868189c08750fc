//! The mechanism chart of a workload: three bar panels side by side, one bar per
//! style and knob setting in the same colour across them — its throughput at the
//! objective (the level the recommendation chose for it; without an objective, the
//! workload's heaviest level), then the server's CPU per request (user, with the kernel
//! part stacked lighter) and its context switches per request (voluntary, involuntary
//! stacked lighter) at that same level. Outcome beside mechanism.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::aggregate::Group;
use super::charts::{weight, Chart, Tooltip};
use super::recommend::{candidates, Objective};
use super::RunData;
use crate::display::figure;

/// One bar per style: what it reached, and what its threads did to get there.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Style and knobs.
    pub variant: String,
    /// Successful req/s at the objective (None: it never met it).
    pub throughput: Option<f64>,
    /// The least and most of its repetitions (drawn as a whisker).
    pub throughput_range: Option<(f64, f64)>,
    /// CPU per request, user and kernel, µs.
    pub cpu_us: Option<(f64, f64)>,
    /// Context switches per request, voluntary and involuntary.
    pub switches: Option<(f64, f64)>,
}

/// The chart of one workload.
#[derive(Debug, Clone)]
pub struct MechanismChart {
    /// File name without extension.
    pub file: String,
    /// Title.
    pub title: String,
    /// What the first panel shows.
    pub outcome: String,
    /// The bars.
    pub bars: Vec<Bar>,
    /// Each style's colour, as on the run's other charts.
    pub palette: super::charts::Palette,
}

impl MechanismChart {
    /// The chart of `workload`, None when no cell measured the mechanism.
    pub fn of(run: &RunData, workload: &str) -> Option<Self> {
        let objective = Objective::of(run, workload);
        let (outcome, chosen): (String, Vec<(&Group, Option<f64>)>) = match &objective {
            Some(objective) => {
                let pool = objective.groups(run, workload);
                let found = candidates(&run.cells, &pool, objective);
                let mut chosen: Vec<(&Group, Option<f64>)> =
                    found.iter().map(|c| (c.group, Some(c.rps))).collect();
                // A style that never met the objective keeps a bar (none) at its last level.
                for g in pool.iter().rev() {
                    if !chosen.iter().any(|(c, _)| c.variant == g.variant) {
                        chosen.push((g, None));
                    }
                }
                // The bars stay in the run's order of styles, whichever won.
                let order = |g: &Group| pool.iter().position(|p| p.variant == g.variant);
                chosen.sort_by_key(|(g, _)| order(g));
                (objective.measure().to_string(), chosen)
            }
            None => {
                let groups: Vec<&Group> = run
                    .groups
                    .iter()
                    .filter(|g| g.workload == workload && g.load_mode != "slowloris")
                    .collect();
                let top = groups.iter().map(|g| weight(g)).reduce(f64::max)?;
                let chosen: Vec<(&Group, Option<f64>)> = groups
                    .iter()
                    .filter(|g| weight(g) == top)
                    .map(|g| (*g, Some(g.achieved.median)))
                    .collect();
                let level = chosen.first().map(|(g, _)| g.level.clone())?;
                (format!("successful req/s at {level}"), chosen)
            }
        };
        let bars: Vec<Bar> = chosen
            .into_iter()
            .map(|(g, throughput)| {
                let m = &g.mechanism;
                Bar {
                    variant: g.variant.clone(),
                    throughput,
                    throughput_range: throughput
                        .map(|_| (g.achieved.min, g.achieved.max))
                        .filter(|(lo, hi)| hi > lo),
                    cpu_us: m.cpu_user_us.zip(m.cpu_sys_us),
                    switches: m.ctx_voluntary.zip(m.ctx_involuntary),
                }
            })
            .collect();
        if bars
            .iter()
            .all(|b| b.cpu_us.is_none() && b.switches.is_none())
        {
            return None;
        }
        Some(Self {
            file: format!("mechanism-{}", crate::file_name::slug(workload)),
            title: format!("{workload}: outcome and mechanism"),
            outcome,
            bars,
            palette: super::charts::Palette::of(run),
        })
    }
}

impl Chart for MechanismChart {
    fn file(&self) -> &str {
        &self.file
    }

    fn size(&self) -> (u32, u32) {
        (1200, 560)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> anyhow::Result<Vec<Tooltip>> {
        let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| {
            anyhow::anyhow!("drawing {}: {e:?}", self.file)
        };
        root.fill(&WHITE).map_err(fail)?;
        let root = root.titled(&self.title, ("sans-serif", 24)).map_err(fail)?;
        let panels = root.split_evenly((1, 3));
        let outcome: Vec<Option<(f64, f64)>> = self
            .bars
            .iter()
            .map(|b| b.throughput.map(|t| (t, 0.0)))
            .collect();
        let cpu: Vec<Option<(f64, f64)>> = self.bars.iter().map(|b| b.cpu_us).collect();
        let switches: Vec<Option<(f64, f64)>> = self.bars.iter().map(|b| b.switches).collect();
        let specs = [
            (self.outcome.as_str(), &outcome, true),
            (
                "server CPU µs per request (user + kernel, lighter)",
                &cpu,
                false,
            ),
            (
                "context switches per request (voluntary + involuntary, lighter)",
                &switches,
                false,
            ),
        ];
        let mut tooltips = Vec::new();
        for (panel, (label, values, legend)) in panels.iter().zip(specs) {
            tooltips.extend(self.panel(panel, label, values, legend).map_err(fail)?);
        }
        root.present().map_err(fail)?;
        Ok(tooltips)
    }
}

impl MechanismChart {
    /// One panel: a bar per style of `values` (a part and a lighter part stacked on it).
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        label: &str,
        values: &[Option<(f64, f64)>],
        legend: bool,
    ) -> Result<Vec<Tooltip>, DrawingAreaErrorKind<DB::ErrorType>> {
        let mut tooltips = Vec::new();
        let whisker_top = if legend {
            self.bars
                .iter()
                .filter_map(|b| b.throughput_range.map(|r| r.1))
                .fold(0.0f64, f64::max)
        } else {
            0.0
        };
        let top = values
            .iter()
            .flatten()
            .map(|(a, b)| a + b)
            .fold(whisker_top, f64::max)
            .max(1e-9);
        let n = values.len() as f64;
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            // Room above the bars for their figures, and in the first panel the legend.
            .build_cartesian_2d(
                0.0..n,
                0.0..top * if legend { 1.3 + 0.12 * n } else { 1.25 },
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_desc(label)
            .y_label_formatter(&|v| super::charts::human(*v))
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .draw()?;
        for (i, (bar, value)) in self.bars.iter().zip(values).enumerate() {
            let color = self.palette.color(&bar.variant);
            let x = i as f64;
            let Some((part, rest)) = value else {
                chart.draw_series(std::iter::once(Text::new(
                    "none",
                    (x + 0.3, top * 0.02),
                    ("sans-serif", 13),
                )))?;
                continue;
            };
            let series = chart.draw_series(std::iter::once(Rectangle::new(
                [(x + 0.15, 0.0), (x + 0.85, *part)],
                color.filled(),
            )))?;
            if legend {
                series.label(bar.variant.as_str()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                });
            }
            if *rest > 0.0 {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.15, *part), (x + 0.85, part + rest)],
                    color.mix(0.4).filled(),
                )))?;
            }
            // In the outcome panel, the repetitions' least to most as a whisker.
            let range = bar.throughput_range.filter(|_| legend);
            if let Some((lo, hi)) = range {
                let whisker = [(x + 0.5, lo), (x + 0.5, hi)];
                chart.draw_series(std::iter::once(PathElement::new(
                    whisker,
                    BLACK.stroke_width(2),
                )))?;
                for end in [lo, hi] {
                    let cap = [(x + 0.4, end), (x + 0.6, end)];
                    chart.draw_series(std::iter::once(PathElement::new(
                        cap,
                        BLACK.stroke_width(2),
                    )))?;
                }
            }
            let label_at = range.map_or(part + rest, |(_, hi)| hi.max(part + rest));
            chart.draw_series(std::iter::once(Text::new(
                figure(part + rest),
                (x + 0.2, label_at + top * 0.03),
                ("sans-serif", 13),
            )))?;
            let spread = range.map_or(String::new(), |(lo, hi)| {
                format!(" (repetitions {} to {})", figure(lo), figure(hi))
            });
            let detail = if *rest > 0.0 {
                format!(" ({} + {})", figure(*part), figure(*rest))
            } else {
                String::new()
            };
            tooltips.push(Tooltip {
                at: chart.backend_coord(&(x + 0.5, part + rest)),
                text: format!(
                    "{}: {label}: {}{detail}{spread}",
                    bar.variant,
                    figure(part + rest)
                ),
            });
        }
        if legend {
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 13))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
        }
        Ok(tooltips)
    }
}
