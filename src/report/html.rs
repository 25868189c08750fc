//! `report.html`: one self-contained page (nothing fetched, no script): the findings
//! first, each with the chart that shows it, then a table of contents and a section per
//! workload whose tables, mechanism and charts fold away (`<details>`), then the
//! summary's other sections and the manifest. Charts are inlined SVG with a tooltip on
//! every point.

use std::fmt::Write as _;

use super::chart_files;
use super::findings::Finding;
use super::{Exporter, ReportFile, RunData};

/// The HTML exporter (run it after the charts).
pub struct Html;

impl Exporter for Html {
    fn name(&self) -> &'static str {
        "HTML report"
    }

    fn export(&self, run: &RunData) -> anyhow::Result<Vec<ReportFile>> {
        Ok(vec![ReportFile::text("report.html", render(run)?)])
    }
}

const STYLE: &str = "body{font-family:'Liberation Sans',Arial,Helvetica,sans-serif;margin:1.5rem auto;max-width:1100px;color:#222;padding:0 1rem;line-height:1.45}\
h1{font-size:1.6rem;margin-bottom:.2rem}.meta{color:#555;margin-top:0}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}\
h3 small{font-weight:normal;color:#555}.finding{margin:1rem 0 2rem}.answers{font-size:1.1rem;padding-left:1.2rem}.answers li{margin:.3rem 0}\
.toc{background:#f6f7f9;padding:.3rem .8rem;border-radius:4px;font-size:.9rem}.toc h2{display:inline;font-size:.9rem;border:0;margin:0 .6rem 0 0}\
.toc ol{display:inline;margin:0;padding:0}.toc li{display:inline;margin-right:1rem}\
table{border-collapse:collapse;margin:1rem 0;font-size:.85rem}th,td{border:1px solid #ccc;padding:.25rem .5rem}\
th{background:#f3f5f8}td{text-align:right}td:first-child,td:nth-child(2),td.text{text-align:left}\
.folded{overflow-x:auto}code{background:#f3f3f3;padding:0 .2rem}.charts{display:grid;grid-template-columns:1fr;gap:1rem}\
figure{margin:1rem 0}figure svg{width:100%;height:auto;border:1px solid #eee}figcaption{color:#555;font-size:.9rem}\
details{margin:.6rem 0}summary{cursor:pointer;font-weight:bold;color:#1f4e79}";

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Inline markdown of our own summary: `code` spans only.
fn inline(text: &str) -> String {
    let escaped = escape(text);
    let mut out = String::new();
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Converts the markdown the summary exporter writes (headings, paragraphs, lists,
/// pipe tables) to HTML.
pub fn markdown_to_html(markdown: &str) -> String {
    let mut out = String::new();
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut list = false;
    let flush_table = |out: &mut String, table: &mut Vec<Vec<String>>| {
        if table.is_empty() {
            return;
        }
        out.push_str("<table>\n");
        for (i, row) in table.iter().enumerate() {
            let cell = if i == 0 { "th" } else { "td" };
            out.push_str("<tr>");
            for value in row {
                let _ = write!(out, "<{cell}>{}</{cell}>", inline(value));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
        table.clear();
    };
    for line in markdown.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('|') {
            let cells: Vec<String> = trimmed
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            if !cells
                .iter()
                .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':')))
            {
                table.push(cells);
            }
            continue;
        }
        flush_table(&mut out, &mut table);
        if let Some(item) = trimmed.strip_prefix("- ") {
            if !list {
                out.push_str("<ul>\n");
                list = true;
            }
            let _ = writeln!(out, "<li>{}</li>", inline(item));
            continue;
        }
        if list {
            out.push_str("</ul>\n");
            list = false;
        }
        if let Some(h) = trimmed.strip_prefix("### ") {
            let _ = writeln!(out, "<h3>{}</h3>", inline(h));
        } else if let Some(h) = trimmed.strip_prefix("## ") {
            let _ = writeln!(out, "<h2>{}</h2>", inline(h));
        } else if let Some(h) = trimmed.strip_prefix("# ") {
            let _ = writeln!(out, "<h1>{}</h1>", inline(h));
        } else if !trimmed.is_empty() {
            let _ = writeln!(out, "<p>{}</p>", inline(trimmed));
        }
    }
    flush_table(&mut out, &mut table);
    if list {
        out.push_str("</ul>\n");
    }
    out
}

/// A section of the page: its anchor, its heading, its HTML.
struct Section {
    id: String,
    title: String,
    html: String,
}

/// The summary's markdown cut at its `## ` headings: (heading, body).
fn chunks(markdown: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in markdown.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            out.push((heading.to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// A body cut at its `### ` headings: the part before the first, then (heading, body).
fn subsections(body: &str) -> (String, Vec<(String, String)>) {
    let mut lead = String::new();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            out.push((heading.to_string(), String::new()));
            continue;
        }
        let target = match out.last_mut() {
            Some((_, text)) => text,
            None => &mut lead,
        };
        target.push_str(line);
        target.push('\n');
    }
    (lead, out)
}

/// `text` folded away under `summary`.
fn folded(summary: &str, html: &str) -> String {
    format!(
        "<details><summary>{}</summary>\n<div class=\"folded\">\n{html}</div>\n</details>\n",
        inline(summary)
    )
}

/// An anchor name from a heading.
fn anchor(title: &str) -> String {
    crate::file_name::slug(&title.replace('`', "").to_lowercase())
}

/// The file name (without extension) of the chart a finding shows: `mechanism-io`.
fn finding_chart(chart: Option<&str>) -> Option<String> {
    let path = std::path::Path::new(chart?);
    Some(path.file_stem()?.to_string_lossy().into_owned())
}

/// An SVG without the XML prologue, ready to inline.
fn inline_svg(svg: &str) -> &str {
    svg.find("<svg").map_or(svg, |i| &svg[i..])
}

/// Each workload's charts, drawn once: (file name without extension, SVG).
type Drawn = std::collections::BTreeMap<String, Vec<(String, String)>>;

/// The findings: per workload the answer, why, memory, and its chart.
fn findings_section(findings: &[Finding], drawn: &Drawn) -> Section {
    // Every workload's answer in a line, so the first screen holds them all.
    let mut html = String::from("<ul class=\"answers\">\n");
    for finding in findings {
        let _ = writeln!(
            html,
            "<li><a href=\"#{}\">{}</a>{}: <strong>{}</strong>: {}.</li>",
            anchor(&format!("finding {}", finding.workload)),
            escape(&finding.workload),
            escape(&finding.at()),
            inline(&finding.answer.lead),
            inline(&finding.answer.margin)
        );
    }
    html.push_str("</ul>\n");
    for finding in findings {
        let id = anchor(&format!("finding {}", finding.workload));
        let at = if finding.level.is_empty() {
            String::new()
        } else {
            format!(" <small>at {}</small>", escape(&finding.level))
        };
        let _ = writeln!(
            html,
            "<article class=\"finding\" id=\"{id}\">\n<h3>{}{at}</h3>\n<p class=\"answer\"><strong>{}</strong>: {}</p>",
            escape(&finding.workload),
            inline(&finding.answer.lead),
            inline(&finding.detail())
        );
        html.push_str("<ul>\n");
        for sentence in &finding.why {
            let _ = writeln!(html, "<li><b>Why</b>: {}</li>", inline(sentence));
        }
        if let Some(memory) = &finding.memory {
            let _ = writeln!(html, "<li><b>Memory</b>: {}</li>", inline(memory));
        }
        html.push_str("</ul>\n");
        let shown = finding_chart(finding.chart.as_deref());
        let svg = shown.as_deref().and_then(|name| {
            drawn
                .get(&finding.workload)?
                .iter()
                .find(|(n, _)| n == name)
        });
        if let Some((_, svg)) = svg {
            let caption = if shown.as_deref().is_some_and(|n| n.starts_with("knee-")) {
                "each second's p95 against the rate scheduled in it, as the stages ramp"
            } else {
                "throughput at the objective (the whisker spans the repetitions), then what the server's threads did for it"
            };
            let _ = writeln!(
                html,
                "<figure class=\"chart\">{}<figcaption>{}: {caption}. Hover a point for its value.</figcaption></figure>",
                inline_svg(svg),
                escape(&finding.workload)
            );
        }
        html.push_str("</article>\n");
    }
    Section {
        id: "findings".into(),
        title: "Findings".into(),
        html,
    }
}

/// A workload's section: its table, why and recommendation folded away, then its
/// other charts, folded too.
fn workload_section(findings: &[Finding], drawn: &Drawn, title: &str, body: &str) -> Section {
    let workload = title
        .strip_prefix("Workload `")
        .and_then(|rest| rest.split('`').next())
        .unwrap_or(title);
    let (lead, parts) = subsections(body);
    let mut html = folded(
        "Results by style and level: throughput, latency, memory, errors",
        &markdown_to_html(&lead),
    );
    for (heading, text) in &parts {
        let summary = match heading.as_str() {
            "Why" => "Why: the rules' sentences and the mechanism table they read".to_string(),
            "Recommendation" => {
                "Recommendation in full: the test, its costs and instances".to_string()
            }
            other => other.to_string(),
        };
        html.push_str(&folded(&summary, &markdown_to_html(text)));
    }
    // Every chart but the one its finding shows.
    let shown = findings
        .iter()
        .find(|f| f.workload == workload)
        .and_then(|f| finding_chart(f.chart.as_deref()))
        .unwrap_or_default();
    let charts: Vec<&(String, String)> = drawn
        .get(workload)
        .into_iter()
        .flatten()
        .filter(|(name, _)| *name != shown)
        .collect();
    if !charts.is_empty() {
        let mut figures = String::from("<div class=\"charts\">\n");
        for (name, svg) in &charts {
            let _ = writeln!(
                figures,
                "<figure class=\"chart\" id=\"chart-{}\">{}</figure>",
                escape(name),
                inline_svg(svg)
            );
        }
        figures.push_str("</div>\n");
        html.push_str(&folded(
            &format!("Charts ({}): hover a point for its value", charts.len()),
            &figures,
        ));
    }
    Section {
        id: anchor(&format!("workload {workload}")),
        title: format!("Workload {workload}"),
        html,
    }
}

/// The manifest and the scenario as parsed, folded.
fn manifest_section(run: &RunData) -> anyhow::Result<Section> {
    let mut table = String::from("<table>\n");
    let manifest = serde_json::to_value(&run.manifest)?;
    if let Some(fields) = manifest.as_object() {
        for (key, value) in fields.iter().filter(|(k, _)| k.as_str() != "scenario") {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            let _ = writeln!(
                table,
                "<tr><th>{}</th><td class=\"text\">{}</td></tr>",
                escape(key),
                escape(&value)
            );
        }
    }
    table.push_str("</table>\n");
    let scenario = serde_json::to_string_pretty(run.manifest.scenario.recorded())?;
    let html = folded("The manifest: machine, build, status", &table)
        + &folded(
            "The scenario as parsed",
            &format!("<pre>{}</pre>\n", escape(&scenario)),
        );
    Ok(Section {
        id: "manifest".into(),
        title: "Manifest".into(),
        html,
    })
}

fn render(run: &RunData) -> anyhow::Result<String> {
    // The summary as a value, rendered from the data as summary.md is: never read back.
    let summary = super::markdown::render(run);
    let findings = super::findings::findings(run);
    let mut drawn = Drawn::new();
    for workload in run.workloads() {
        let charts = chart_files::svgs_of(run, &workload)?;
        drawn.insert(workload, charts);
    }
    let mut sections = vec![findings_section(&findings, &drawn)];
    sections.push(Section {
        id: "the-run".into(),
        title: "The run".into(),
        html: markdown_to_html(&super::markdown::header(run))
            + &folded(
                "How to read the tables",
                &markdown_to_html(super::markdown::READING),
            ),
    });
    for (title, body) in chunks(&summary) {
        match title.as_str() {
            "Findings" | "The run" => {}
            t if t.starts_with("Workload `") => {
                sections.push(workload_section(&findings, &drawn, t, &body));
            }
            _ => sections.push(Section {
                id: anchor(&title),
                title: title.replace('`', ""),
                html: folded("Show", &markdown_to_html(&body)),
            }),
        }
    }
    sections.push(manifest_section(run)?);
    let m = &run.manifest;
    let mut body = format!(
        "<header><h1>{}</h1><p class=\"meta\">run <code>{}</code> · {} · {} of {} cells · {} cores ({})</p></header>\n",
        escape(&m.scenario_name),
        escape(&m.run_id),
        escape(&m.started),
        m.cells_done,
        m.cells_planned,
        m.cores,
        escape(&m.cpu_model)
    );
    body.push_str("<nav class=\"toc\"><h2>Contents</h2><ol>\n");
    for section in &sections {
        let _ = writeln!(
            body,
            "<li><a href=\"#{}\">{}</a></li>",
            section.id,
            escape(&section.title)
        );
    }
    body.push_str("</ol></nav>\n<main>\n");
    for section in &sections {
        let _ = write!(
            body,
            "<section id=\"{}\">\n<h2>{}</h2>\n{}</section>\n",
            section.id,
            escape(&section.title),
            section.html
        );
    }
    body.push_str("</main>\n");
    let title = escape(&format!("{} — {}", m.scenario_name, m.run_id));
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_headings_and_code_convert() {
        let html = markdown_to_html("# T `x`\n\n| a | b |\n|---|---:|\n| 1 | <2> |\n\n- item\n");
        assert!(html.contains("<h1>T <code>x</code></h1>"));
        assert!(html.contains("<tr><th>a</th><th>b</th></tr>"));
        assert!(html.contains("<td>&lt;2&gt;</td>"));
        assert!(html.contains("<ul>\n<li>item</li>\n</ul>"));
        assert!(!html.contains("---"));
    }
}
