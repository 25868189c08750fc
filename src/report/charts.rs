//! Charts (SVG always, PNG too) per workload: throughput vs connections, p95 vs offered
//! rate (log y), peak RSS vs connections, the latency percentile spectrum (HdrHistogram
//! style), a per-second timeline, and the mechanism chart (`mechanism_chart`). Text uses the OFL font the repository ships, so
//! charts render the same on a bare machine with no fonts installed.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::aggregate::Group;
use super::{hlog, RunData};
use crate::load::report::Second;

/// The font every chart uses (SIL Open Font License, see assets/fonts/).
const FONT: &[u8] = include_bytes!("../../assets/fonts/LiberationSans-Regular.ttf");
const SIZE: (u32, u32) = (960, 540);

pub(super) fn register_font() {
    // Registering twice is harmless; an error would mean the shipped file is broken,
    // which a test catches.
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
}

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// As is.
    Linear,
    /// Base-10 logarithm (labels show the real values).
    Log,
    /// Percentiles: x = −log10(1 − q), labelled 0 %, 90 %, 99 %, 99.9 % …
    Percentile,
}

impl Scale {
    fn to_axis(self, v: f64) -> f64 {
        match self {
            Scale::Log => v.max(1e-9).log10(),
            _ => v,
        }
    }

    /// The label of a tick at a measured value (a load level): the value itself, not
    /// rounded to two digits.
    fn level_label(self, axis: f64) -> String {
        let value = match self {
            Scale::Log => 10f64.powf(axis),
            _ => axis,
        };
        let rounded = (value * 1000.0).round() / 1000.0;
        if rounded.fract().abs() < 1e-6 && rounded.abs() < 1000.0 {
            format!("{rounded:.0}")
        } else {
            crate::display::figure(rounded)
        }
    }

    fn label(self, axis: f64) -> String {
        match self {
            Scale::Linear => human(axis),
            Scale::Log => human(two_significant(10f64.powf(axis))),
            Scale::Percentile => {
                let q = 100.0 * (1.0 - 10f64.powf(-axis));
                let decimals = (axis - 2.0).max(0.0).ceil() as usize;
                format!("{q:.decimals$}%")
            }
        }
    }
}

/// Rounds to two significant digits (log-axis ticks fall between round numbers).
fn two_significant(v: f64) -> f64 {
    if v <= 0.0 {
        return v;
    }
    let magnitude = 10f64.powf(v.log10().floor() - 1.0);
    (v / magnitude).round() * magnitude
}

pub(super) fn human(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || (a >= 1.0 && v.fract() == 0.0) {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// A line chart: one series per style variant.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// File name without extension.
    pub file: String,
    /// Title.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// X mapping.
    pub x_scale: Scale,
    /// Y mapping.
    pub y_scale: Scale,
    /// (name, points) in data units.
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    /// Where the legend goes (where it hides no point).
    pub legend: SeriesLabelPosition,
    /// Ticks on x at the measured values (load levels), not at round numbers.
    pub x_ticks_at_data: bool,
    /// Each series' colour, by the style and knobs its name starts with.
    pub palette: Palette,
}

/// An f64 axis with its ticks where we say (plotters' `WithKeyPoints` over an f64
/// axis takes no label formatter).
struct TicksAt {
    axis: RangedCoordf64,
    at: Vec<f64>,
}

impl Ranged for TicksAt {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.axis.map(value, limit)
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.at.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.axis.range()
    }
}

/// A point of a drawn chart and what hovering it tells (the SVG's `<title>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Tooltip {
    /// Where, in pixels.
    pub at: (i32, i32),
    /// The text: series and value.
    pub text: String,
}

/// A chart drawn on any plotters backend, written as SVG and PNG.
pub trait Chart {
    /// File name without extension.
    fn file(&self) -> &str;
    /// Width and height, pixels.
    fn size(&self) -> (u32, u32);
    /// Draws it on `root`; returns where its points are and what each is worth.
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> anyhow::Result<Vec<Tooltip>>;
}

impl Chart for LineChart {
    fn file(&self) -> &str {
        &self.file
    }

    fn size(&self) -> (u32, u32) {
        SIZE
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> anyhow::Result<Vec<Tooltip>> {
        let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| {
            anyhow::anyhow!("drawing {}: {e:?}", self.file)
        };
        root.fill(&WHITE).map_err(fail)?;
        let points: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|(_, pts)| {
                pts.iter()
                    .map(|&(x, y)| (self.x_scale.to_axis(x), self.y_scale.to_axis(y)))
            })
            .collect();
        let range = |values: Vec<f64>, pad_zero: bool| {
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !lo.is_finite() {
                return 0.0..1.0;
            }
            let lo = if pad_zero { lo.min(0.0) } else { lo };
            let span = (hi - lo).max(1e-9);
            (lo - span * 0.05)..(hi + span * 0.08)
        };
        let x_range = range(points.iter().map(|p| p.0).collect(), false);
        let y_range = range(
            points.iter().map(|p| p.1).collect(),
            self.y_scale == Scale::Linear,
        );
        let (xs, ys) = (self.x_scale, self.y_scale);
        let x_ticks = if self.x_ticks_at_data {
            let mut at: Vec<f64> = points.iter().map(|p| p.0).collect();
            at.sort_by(f64::total_cmp);
            at.dedup();
            at
        } else {
            let axis: RangedCoordf64 = x_range.clone().into();
            axis.key_points(if xs == Scale::Percentile { 7 } else { 10 })
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(
                TicksAt {
                    axis: x_range.into(),
                    at: x_ticks,
                },
                y_range,
            )
            .map_err(fail)?;
        let at_data = self.x_ticks_at_data;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|v| {
                if at_data {
                    xs.level_label(*v)
                } else {
                    xs.label(*v)
                }
            })
            .y_label_formatter(&|v| ys.label(*v))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()
            .map_err(fail)?;
        let mut tooltips = Vec::new();
        for (name, pts) in &self.series {
            let color = self.palette.color(name);
            let mapped: Vec<(f64, f64)> = pts
                .iter()
                .map(|&(x, y)| (xs.to_axis(x), ys.to_axis(y)))
                .collect();
            chart
                .draw_series(LineSeries::new(mapped.clone(), color.stroke_width(2)))
                .map_err(fail)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            if mapped.len() <= 40 {
                chart
                    .draw_series(mapped.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(fail)?;
                for (&(x, y), &p) in pts.iter().zip(&mapped) {
                    tooltips.push(Tooltip {
                        at: chart.backend_coord(&p),
                        text: format!(
                            "{name}: {} {} at {} {}",
                            crate::display::figure(y),
                            self.y_label,
                            crate::display::figure(x),
                            self.x_label
                        ),
                    });
                }
            }
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(self.legend.clone())
            .draw()
            .map_err(fail)?;
        root.present().map_err(fail)?;
        Ok(tooltips)
    }
}

/// Distinct, readable hues (Tableau 10): blocking blue, async orange, hybrid green, then
/// the rest for other servers (Python, Go, a target of one's own).
const HUES: [(u8, u8, u8); 10] = [
    (78, 121, 167),
    (242, 142, 43),
    (89, 161, 79),
    (225, 87, 89),
    (176, 122, 161),
    (118, 183, 178),
    (156, 117, 95),
    (255, 157, 167),
    (186, 176, 172),
    (237, 201, 72),
];

/// The colour of every style and knob setting of a run, the same on every chart: a hue
/// per style (blocking blue, async orange, hybrid green), a shade of it per knob setting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Palette {
    /// The run's variants (style and knobs, e.g. `blocking(pool=16)`), in order.
    variants: Vec<String>,
}

impl Palette {
    /// The palette of a run's variants, in the order they first appear.
    pub fn new(variants: impl IntoIterator<Item = String>) -> Self {
        let mut known: Vec<String> = Vec::new();
        for variant in variants {
            if !known.contains(&variant) {
                known.push(variant);
            }
        }
        Self { variants: known }
    }

    /// The palette of every variant `run` measured.
    pub fn of(run: &RunData) -> Self {
        Self::new(run.groups.iter().map(|g| g.variant.clone()))
    }

    /// The colour of a series named after a variant (`blocking(pool=16)`, or
    /// `blocking(pool=16) (48 conns never served)`).
    pub fn color(&self, series: &str) -> RGBAColor {
        let variant = self
            .variants
            .iter()
            .filter(|v| {
                series
                    .strip_prefix(v.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
            })
            .max_by_key(|v| v.len())
            .map_or(series, String::as_str);
        let style_of = |v: &str| v.split('(').next().unwrap_or(v).trim().to_string();
        let style = style_of(variant);
        let hue = match style.as_str() {
            "blocking" => 0,
            "async" => 1,
            "hybrid" => 2,
            _ => {
                let mut others: Vec<String> = Vec::new();
                for s in self.variants.iter().map(|v| style_of(v)) {
                    if !matches!(s.as_str(), "blocking" | "async" | "hybrid")
                        && !others.contains(&s)
                    {
                        others.push(s);
                    }
                }
                3 + others
                    .iter()
                    .position(|s| *s == style)
                    .unwrap_or(others.len())
            }
        };
        let shade = self
            .variants
            .iter()
            .filter(|v| style_of(v) == style)
            .position(|v| v == variant)
            .unwrap_or(0);
        let (r, g, b) = HUES[hue % HUES.len()];
        // The first setting in the hue itself, then darker and lighter by turns, never so
        // light it fades into the background.
        const SHADES: [f64; 7] = [1.0, 0.66, 1.38, 0.46, 1.56, 0.82, 1.2];
        let factor = SHADES[shade % SHADES.len()];
        let tone = |c: u8| {
            let c = f64::from(c);
            if factor <= 1.0 {
                (c * factor).round() as u8
            } else {
                (c + (255.0 - c) * (factor - 1.0)).round().min(255.0) as u8
            }
        };
        RGBColor(tone(r), tone(g), tone(b)).to_rgba()
    }
}

/// One series per variant from the groups of `mode`, with points (x(group), y(group)).
fn series(
    groups: &[&Group],
    mode: &str,
    x: impl Fn(&Group) -> f64,
    y: impl Fn(&Group) -> Option<f64>,
) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut out: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for g in groups.iter().filter(|g| g.load_mode == mode) {
        // A level with no value (no success, so no p95) is left out, never drawn as 0.
        let Some(y) = y(g) else { continue };
        let point = (x(g), y);
        match out.iter_mut().find(|(name, _)| *name == g.variant) {
            Some((_, pts)) => pts.push(point),
            None => out.push((g.variant.clone(), vec![point])),
        }
    }
    for (_, pts) in &mut out {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// How heavy a level is: its rate, else its connections.
pub(super) fn weight(group: &Group) -> f64 {
    group.target_rps.unwrap_or(group.connections as f64)
}

/// The cell (first repetition) of each variant at the workload's heaviest level.
fn heaviest_cells<'a>(groups: &[&'a Group]) -> (String, Vec<&'a Group>) {
    let closed: Vec<&Group> = groups
        .iter()
        .copied()
        .filter(|g| g.load_mode == "closed")
        .collect();
    let pool = if closed.is_empty() {
        groups
            .iter()
            .copied()
            .filter(|g| g.load_mode == "open")
            .collect()
    } else {
        closed
    };
    let Some(top) = pool.iter().map(|g| weight(g)).reduce(f64::max) else {
        return (String::new(), Vec::new());
    };
    let chosen: Vec<&Group> = pool.into_iter().filter(|g| weight(g) == top).collect();
    let level = chosen.first().map(|g| g.level.clone()).unwrap_or_default();
    (level, chosen)
}

/// A series name that says when some connections were never served: their requests
/// have no latency, so the line alone would flatter the style.
fn legend_with_unserved(group: &Group) -> String {
    if group.unserved > 0 {
        format!("{} ({} conns never served)", group.variant, group.unserved)
    } else {
        group.variant.clone()
    }
}

/// Every chart of one workload (charts with no data are left out).
pub fn charts_for(run: &RunData, workload: &str) -> Vec<LineChart> {
    let groups: Vec<&Group> = run
        .groups
        .iter()
        .filter(|g| g.workload == workload)
        .collect();
    let file = |kind: &str| format!("{kind}-{}", crate::file_name::slug(workload));
    let palette = Palette::of(run);
    let x_log = |mode: &str, key: fn(&Group) -> f64| {
        let xs: Vec<f64> = groups
            .iter()
            .filter(|g| g.load_mode == mode)
            .map(|g| key(g))
            .collect();
        let (lo, hi) = xs
            .iter()
            .fold((f64::INFINITY, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        if lo > 0.0 && hi / lo >= 8.0 {
            Scale::Log
        } else {
            Scale::Linear
        }
    };
    let connections = |g: &Group| g.connections as f64;
    let rate = |g: &Group| g.target_rps.unwrap_or(0.0);
    let mut charts = vec![
        LineChart {
            file: file("throughput"),
            title: format!("{workload}: throughput vs connections (closed loop)"),
            x_label: "connections".into(),
            y_label: "successful req/s".into(),
            x_scale: x_log("closed", connections),
            y_scale: Scale::Linear,
            series: series(&groups, "closed", connections, |g| Some(g.achieved.median)),
            legend: SeriesLabelPosition::UpperLeft,
            x_ticks_at_data: true,
            palette: palette.clone(),
        },
        LineChart {
            file: file("p95"),
            title: format!("{workload}: p95 latency vs offered rate (open loop)"),
            x_label: "offered req/s".into(),
            y_label: "p95 ms of successes (corrected, log)".into(),
            x_scale: x_log("open", rate),
            y_scale: Scale::Log,
            series: series(&groups, "open", rate, |g| g.p95.map(|s| s.median)),
            legend: SeriesLabelPosition::UpperLeft,
            x_ticks_at_data: true,
            palette: palette.clone(),
        },
        LineChart {
            file: file("rss"),
            title: format!("{workload}: server peak RSS vs connections"),
            x_label: "connections".into(),
            y_label: "peak RSS MiB".into(),
            x_scale: x_log("closed", connections),
            y_scale: Scale::Linear,
            series: series(&groups, "closed", connections, |g| {
                g.rss_peak.map(|s| s.median)
            }),
            legend: SeriesLabelPosition::UpperLeft,
            x_ticks_at_data: true,
            palette: palette.clone(),
        },
        LineChart {
            file: file("held-rss"),
            title: format!("{workload}: server peak RSS vs connections held"),
            x_label: "connections held".into(),
            y_label: "peak RSS MiB".into(),
            x_scale: x_log("held", connections),
            y_scale: Scale::Linear,
            series: series(&groups, "held", connections, |g| {
                g.rss_peak.map(|s| s.median)
            }),
            legend: SeriesLabelPosition::UpperLeft,
            x_ticks_at_data: true,
            palette: palette.clone(),
        },
        LineChart {
            file: file("held-p95"),
            title: format!("{workload}: p95 at a fixed rate vs connections held"),
            x_label: "connections held".into(),
            y_label: "p95 ms of successes (corrected, log)".into(),
            x_scale: x_log("held", connections),
            y_scale: Scale::Log,
            series: series(&groups, "held", connections, |g| g.p95.map(|s| s.median)),
            legend: SeriesLabelPosition::UpperLeft,
            x_ticks_at_data: true,
            palette: palette.clone(),
        },
    ];
    // Each server's capacity at the SLO against what it cost in memory: one point each
    // (up and left is better).
    let capacity: Vec<(String, Vec<(f64, f64)>)> = groups
        .iter()
        .filter(|g| g.load_mode == "saturate" && g.achieved.median > 0.0)
        .filter_map(|g| {
            let rss = g.rss_peak?.median;
            Some((g.variant.clone(), vec![(rss.max(0.1), g.achieved.median)]))
        })
        .collect();
    charts.push(LineChart {
        file: file("capacity-memory"),
        title: format!("{workload}: capacity at the SLO vs peak memory"),
        x_label: "peak memory MiB (a tree of processes: summed PSS; log)".into(),
        y_label: "max successful req/s at the SLO (log)".into(),
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        series: capacity,
        legend: SeriesLabelPosition::LowerRight,
        x_ticks_at_data: false,
        palette: palette.clone(),
    });
    let (level, heaviest) = heaviest_cells(&groups);
    let spectrum: Vec<(String, Vec<(f64, f64)>)> = heaviest
        .iter()
        .filter_map(|g| {
            // Every request (errors, and unfinished at their lower bound); runs older
            // than that tag have successes only.
            let path = run.dir.hlog_path(g.cells.first()?);
            let read = |tag| {
                hlog::read_merged(&path, tag)
                    .map_err(|error| {
                        eprintln!("warning: {error}; the spectrum chart leaves this cell out")
                    })
                    .ok()
                    .flatten()
            };
            let histogram = read("all-corrected").or_else(|| read("corrected"))?;
            let points = (0..=500)
                .map(|k| {
                    let x = f64::from(k) / 100.0;
                    let q = 1.0 - 10f64.powf(-x);
                    (x, histogram.value_at_quantile(q) as f64 / 1000.0)
                })
                .collect();
            Some((legend_with_unserved(g), points))
        })
        .collect();
    charts.push(LineChart {
        file: file("spectrum"),
        title: format!("{workload}: latency by percentile at {level}"),
        x_label: "percentile".into(),
        y_label: "latency ms, every request (corrected, log)".into(),
        x_scale: Scale::Percentile,
        y_scale: Scale::Log,
        series: spectrum,
        legend: SeriesLabelPosition::UpperLeft,
        x_ticks_at_data: false,
        palette: palette.clone(),
    });
    let timeline: Vec<(String, Vec<(f64, f64)>)> = heaviest
        .iter()
        .filter_map(|g| {
            let rows: Vec<Second> =
                crate::results::layout::read_csv(&run.dir.timeline_path(g.cells.first()?)).ok()?;
            let points = rows
                .iter()
                .map(|s| (s.second as f64 + 1.0, s.achieved_rps))
                .collect();
            Some((g.variant.clone(), points))
        })
        .collect();
    charts.push(LineChart {
        file: file("timeline"),
        title: format!("{workload}: throughput per second at {level}"),
        x_label: "second of the measured window".into(),
        y_label: "successful req/s".into(),
        x_scale: Scale::Linear,
        y_scale: Scale::Linear,
        series: timeline,
        legend: SeriesLabelPosition::UpperLeft,
        x_ticks_at_data: false,
        palette: palette.clone(),
    });
    // Under stages: each second's p95 against the rate scheduled then (the knee).
    charts.push(LineChart {
        file: file("knee"),
        title: format!("{workload}: p95 per second as the staged rate ramps"),
        x_label: "req/s scheduled in that second".into(),
        y_label: "p95 ms of that second's successes (corrected, log)".into(),
        x_scale: Scale::Linear,
        y_scale: Scale::Log,
        series: super::staged::p95_by_rate(run, workload),
        legend: SeriesLabelPosition::UpperLeft,
        x_ticks_at_data: false,
        palette: palette.clone(),
    });
    // A line over one load level says nothing: those charts need two levels or more.
    let by_level = ["throughput-", "p95-", "rss-"];
    charts.retain(|c| {
        let mut xs: Vec<f64> = c
            .series
            .iter()
            .flat_map(|(_, pts)| pts.iter().map(|p| p.0))
            .collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let needed = if by_level.iter().any(|k| c.file.starts_with(k)) {
            2
        } else {
            1
        };
        xs.len() >= needed
    });
    charts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_font_loads() {
        assert!(plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok());
    }

    #[test]
    fn percentile_labels_read_like_hdrhistogram() {
        assert_eq!(Scale::Percentile.label(0.0), "0%");
        assert_eq!(Scale::Percentile.label(1.0), "90%");
        assert_eq!(Scale::Percentile.label(2.0), "99%");
        assert_eq!(Scale::Percentile.label(3.0), "99.9%");
        assert_eq!(Scale::Log.label(2.0), "100");
        assert_eq!(Scale::Log.label(63.1f64.log10()), "63");
        assert_eq!(Scale::Linear.label(0.0), "0");
        assert_eq!(Scale::Linear.label(1000.0), "1000");
    }
}
