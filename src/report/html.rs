//! `report.html`: one self-contained page (no external files): the manifest, the
//! summary tables, and every chart inlined as SVG beside its workload's table.

use std::fmt::Write as _;

use super::{chart_files, Exporter, ReportFile, RunData};

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

const STYLE: &str = "body{font-family:'Liberation Sans',Arial,Helvetica,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}\
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}\
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}th,td{border:1px solid #ccc;padding:.3rem .6rem}\
th{background:#f3f5f8}td{text-align:right}td:first-child,td:nth-child(2){text-align:left}\
code{background:#f3f3f3;padding:0 .2rem}.charts{display:grid;grid-template-columns:1fr;gap:1rem}\
.charts svg{width:100%;height:auto;border:1px solid #eee}details{margin:1rem 0}";

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

fn render(run: &RunData) -> anyhow::Result<String> {
    // The summary as a value, rendered from the data as summary.md is: never read back.
    let summary = super::markdown::render(run);
    let mut body = String::new();
    // Split the summary at its sections; after each workload's table, its charts.
    let mut sections: Vec<String> = Vec::new();
    for line in summary.lines() {
        if line.starts_with("## ") || sections.is_empty() {
            sections.push(String::new());
        }
        if let Some(section) = sections.last_mut() {
            section.push_str(line);
            section.push('\n');
        }
    }
    for section in &sections {
        body.push_str(&markdown_to_html(section));
        let workload = section
            .strip_prefix("## Workload `")
            .and_then(|rest| rest.split('`').next());
        if let Some(workload) = workload {
            body.push_str("<div class=\"charts\">\n");
            for svg in chart_files::svgs_of(run, workload)? {
                let svg = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
                let _ = writeln!(body, "<figure>{svg}</figure>");
            }
            body.push_str("</div>\n");
        }
    }
    let _ = write!(body, "<h2>Manifest</h2>\n<table>\n");
    let manifest = serde_json::to_value(&run.manifest)?;
    if let Some(fields) = manifest.as_object() {
        for (key, value) in fields.iter().filter(|(k, _)| k.as_str() != "scenario") {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            let _ = writeln!(
                body,
                "<tr><th>{}</th><td style=\"text-align:left\">{}</td></tr>",
                escape(key),
                escape(&value)
            );
        }
    }
    body.push_str("</table>\n");
    let scenario = serde_json::to_string_pretty(run.manifest.scenario.recorded())?;
    let _ = writeln!(
        body,
        "<details><summary>Scenario as parsed</summary><pre>{}</pre></details>",
        escape(&scenario)
    );
    let title = escape(&format!(
        "{} — {}",
        run.manifest.scenario_name, run.manifest.run_id
    ));
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n"
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
