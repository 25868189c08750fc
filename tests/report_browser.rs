//! `report.html` in a real browser: headless Chromium renders the committed reference's
//! page (byte for byte what this build makes, by `tests/reference.rs`) with every fold
//! opened, and a script measures the layout: the findings and their first chart sit
//! above the first table, every chart is drawn at a readable size, every point carries
//! a tooltip, and nothing is wider than a laptop's screen.
//!
//! Chromium comes from `scripts/install-chromium.sh` (`.ci/run` calls it). Without it the
//! test fails with that hint, unless `SABENCH_SKIP_BROWSER=1` is set outside CI (under
//! `CI=true` it never skips).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The laptop screen the page must fit.
const SCREEN: (u32, u32) = (1366, 768);

/// The layout the page reports of itself once rendered.
#[derive(Debug, serde::Deserialize)]
struct Layout {
    /// Top of the findings section, px from the page's top.
    findings: f64,
    /// Top of the first chart inside the findings.
    findings_chart: f64,
    /// Top of the first table.
    table: f64,
    /// Inline SVG charts on the page.
    svgs: usize,
    /// Of them, those drawn at least 300 px wide.
    drawn: usize,
    /// Tooltips (`<title>` inside a chart).
    titles: usize,
    /// The page's width, px.
    width: f64,
}

/// Chromium's executable, or None (with the reason) when the test may skip.
fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        });
        if found.is_some() {
            return found;
        }
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let skip = std::env::var("SABENCH_SKIP_BROWSER").is_ok_and(|v| v == "1");
    if skip && !ci {
        eprintln!("SABENCH_SKIP_BROWSER=1: the browser test is skipped");
        return None;
    }
    panic!("no Chromium on the PATH: run `bash scripts/install-chromium.sh` (or set SABENCH_SKIP_BROWSER=1 outside CI to skip this test)");
}

/// The script the page runs: opens every fold, then writes what it measured into the
/// body's `data-layout` attribute, which `--dump-dom` prints.
const MEASURE: &str = r#"<script>
document.querySelectorAll('details').forEach(d => d.open = true);
const topOf = e => e ? e.getBoundingClientRect().top + window.scrollY : -1;
const svgs = [...document.querySelectorAll('svg')];
document.body.setAttribute('data-layout', JSON.stringify({
  findings: topOf(document.getElementById('findings')),
  findings_chart: topOf(document.querySelector('#findings svg')),
  table: topOf(document.querySelector('table')),
  svgs: svgs.length,
  drawn: svgs.filter(s => s.getBoundingClientRect().width >= 300).length,
  titles: document.querySelectorAll('svg title').length,
  width: document.documentElement.scrollWidth,
}));
</script>"#;

/// Renders `page` with the measuring script and reads back its layout.
fn render(browser: &Path, page: &str) -> Layout {
    let dir = std::env::temp_dir().join(format!("sabench-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("report.html");
    let end = page.rfind("</body>").expect("the page has a body");
    std::fs::write(&file, format!("{}{MEASURE}{}", &page[..end], &page[end..])).unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            &format!("--user-data-dir={}", dir.join("profile").display()),
            &format!("--window-size={},{}", SCREEN.0, SCREEN.1),
            "--dump-dom",
        ])
        .arg(format!("file://{}", file.display()))
        // To a file: a pipe would fill with the page's megabyte and stall the browser.
        .stdout(std::fs::File::create(dir.join("dom.html")).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromium starts");
    // Bounded: a browser that hangs is killed, and the test says so.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("headless Chromium did not finish rendering in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let dom = std::fs::read_to_string(dir.join("dom.html")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let start = dom.find("data-layout=\"").unwrap_or_else(|| {
        panic!(
            "the page's script did not run: {}",
            &dom[..dom.len().min(500)]
        )
    }) + "data-layout=\"".len();
    let json = &dom[start..start + dom[start..].find('"').unwrap()];
    let json = json.replace("&quot;", "\"").replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[test]
fn the_report_renders_findings_first_with_every_chart() {
    let Some(browser) = chromium() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/reference");
    let page = std::fs::read_to_string(root.join("report.html")).unwrap();
    let charts = std::fs::read_dir(root.join("charts"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "svg")
        })
        .count();
    let layout = render(&browser, &page);
    eprintln!("{layout:?}");
    assert!(
        layout.findings >= 0.0 && layout.findings < layout.table,
        "the findings come before the first table: {layout:?}"
    );
    assert!(
        layout.findings_chart > layout.findings && layout.findings_chart < layout.table,
        "a finding's chart comes before the first table: {layout:?}"
    );
    assert_eq!(
        layout.svgs, charts,
        "every chart in charts/ is on the page, once: {layout:?}"
    );
    assert_eq!(
        layout.drawn, layout.svgs,
        "every chart is drawn at a readable size: {layout:?}"
    );
    assert!(
        layout.titles >= layout.svgs,
        "the charts' points carry tooltips: {layout:?}"
    );
    assert!(
        layout.width <= f64::from(SCREEN.0),
        "nothing is wider than a {}-pixel screen: {layout:?}",
        SCREEN.0
    );
}
