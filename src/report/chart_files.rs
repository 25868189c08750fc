//! The charts exporter: every chart of a run (each workload's outcome charts from
//! `charts`, then its mechanism chart) drawn into memory as SVG and PNG files, and the
//! SVGs the HTML report inlines.

use std::path::Path;

use plotters::prelude::*;

use std::fmt::Write as _;

use super::charts::{charts_for, Chart, Tooltip};
use super::{Exporter, ReportFile, RunData};

/// The charts exporter.
pub struct Charts;

impl Exporter for Charts {
    fn name(&self) -> &'static str {
        "charts"
    }

    fn export(&self, run: &RunData) -> anyhow::Result<Vec<ReportFile>> {
        let mut files = Vec::new();
        for workload in run.workloads() {
            for chart in workload_charts(run, &workload) {
                files.extend(chart.files()?);
            }
        }
        Ok(files)
    }
}

/// A workload's charts: its outcome charts, then its mechanism chart if it has one.
fn workload_charts(run: &RunData, workload: &str) -> Vec<Box<dyn DrawnChart>> {
    super::charts::register_font();
    let mut out: Vec<Box<dyn DrawnChart>> = charts_for(run, workload)
        .into_iter()
        .map(|c| Box::new(c) as Box<dyn DrawnChart>)
        .collect();
    if let Some(chart) = super::mechanism_chart::MechanismChart::of(run, workload) {
        out.push(Box::new(chart));
    }
    out
}

/// Each of a workload's charts, in order, as (file name without extension, SVG): the
/// HTML report inlines them.
pub fn svgs_of(run: &RunData, workload: &str) -> anyhow::Result<Vec<(String, String)>> {
    workload_charts(run, workload)
        .iter()
        .map(|chart| Ok((chart.name().to_string(), chart.svg()?)))
        .collect()
}

/// `svg` with a hover target over each point: an invisible circle whose `<title>` a
/// browser shows as its tooltip (plotters writes no titles of its own).
fn with_tooltips(svg: String, tooltips: &[Tooltip]) -> String {
    let Some(end) = svg.rfind("</svg>") else {
        return svg;
    };
    let mut out = String::with_capacity(svg.len() + tooltips.len() * 96);
    out.push_str(&svg[..end]);
    for tooltip in tooltips {
        let _ = writeln!(
            out,
            "<circle cx=\"{}\" cy=\"{}\" r=\"8\" fill=\"#000\" fill-opacity=\"0\"><title>{}</title></circle>",
            tooltip.at.0,
            tooltip.at.1,
            super::html::escape(&tooltip.text)
        );
    }
    out.push_str(&svg[end..]);
    out
}

/// A chart as files: its SVG and PNG (object-safe, so a workload's charts of every
/// kind go in one list).
pub trait DrawnChart {
    /// Its file name without extension.
    fn name(&self) -> &str;
    /// Its SVG.
    fn svg(&self) -> anyhow::Result<String>;
    /// `charts/<file>.svg` and `charts/<file>.png`.
    fn files(&self) -> anyhow::Result<Vec<ReportFile>>;
}

impl<C: Chart> DrawnChart for C {
    fn name(&self) -> &str {
        self.file()
    }

    fn svg(&self) -> anyhow::Result<String> {
        let mut svg = String::new();
        let tooltips =
            self.draw(SVGBackend::with_string(&mut svg, self.size()).into_drawing_area())?;
        Ok(with_tooltips(svg, &tooltips))
    }

    fn files(&self) -> anyhow::Result<Vec<ReportFile>> {
        let (width, height) = self.size();
        let mut pixels = vec![0u8; width as usize * height as usize * 3];
        self.draw(BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area())?;
        let mut png = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut png),
            &pixels,
            width,
            height,
            image::ColorType::Rgb8,
        )?;
        let dir = Path::new("charts");
        Ok(vec![
            ReportFile::text(dir.join(format!("{}.svg", self.file())), self.svg()?),
            ReportFile {
                path: dir.join(format!("{}.png", self.file())),
                bytes: png,
            },
        ])
    }
}
