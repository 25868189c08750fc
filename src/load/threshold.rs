//! Pass/fail thresholds for CI, k6-style: `p95<100ms`, `error_rate<0.1%`, `rps>=5000`.
//! Each is checked against a finished run's report; a latency is the successful
//! requests' (corrected) unless the metric says `all_` (every request, errors and
//! unfinished ones included). A metric the run could not measure (no successful
//! request, so no latency) fails its threshold: an unmeasured number never passes.

use std::fmt;
use std::str::FromStr;

use super::report::{Knee, LoadReport, Percentiles, Second};

pub use super::report::ThresholdResult;

/// What a threshold compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    /// A latency percentile of the successful requests (corrected), by name.
    Ok(Percentile),
    /// A latency percentile of every request (corrected).
    All(Percentile),
    /// Failed or unfinished requests over scheduled ones.
    ErrorRate,
    /// Successful requests per second.
    Rps,
}

/// A latency percentile a threshold may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Percentile {
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
}

impl Percentile {
    fn of(self, p: &Percentiles) -> f64 {
        match self {
            Percentile::P50 => p.p50,
            Percentile::P90 => p.p90,
            Percentile::P95 => p.p95,
            Percentile::P99 => p.p99,
            Percentile::P999 => p.p999,
            Percentile::Max => p.max,
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "p50" | "med" => Percentile::P50,
            "p90" => Percentile::P90,
            "p95" => Percentile::P95,
            "p99" => Percentile::P99,
            "p999" | "p99.9" => Percentile::P999,
            "max" => Percentile::Max,
            _ => return None,
        })
    }
}

/// How the measured value must compare with the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Below,
    AtMost,
    Above,
    AtLeast,
}

impl Comparison {
    fn holds(self, actual: f64, bound: f64) -> bool {
        match self {
            Comparison::Below => actual < bound,
            Comparison::AtMost => actual <= bound,
            Comparison::Above => actual > bound,
            Comparison::AtLeast => actual >= bound,
        }
    }
}

/// One threshold, e.g. `p95<100ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    text: String,
    metric: Metric,
    comparison: Comparison,
    /// In the metric's unit: ms, a fraction, or req/s.
    bound: f64,
    /// One URL of a `--url-file` mix (`p95{url=/io}<100ms`): its name or path.
    url: Option<String>,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (at, op) = ["<=", ">=", "<", ">"]
            .iter()
            .find_map(|op| compact.find(op).map(|at| (at, *op)))
            .ok_or_else(|| {
                format!("threshold {text:?} has no comparison: write e.g. p95<100ms, error_rate<0.1%, rps>=5000")
            })?;
        let (name, value) = (&compact[..at], &compact[at + op.len()..]);
        // `p95{url=/io}`: one URL of the mix.
        let (name, url) = match name.split_once('{') {
            Some((metric, selector)) => {
                let url = selector
                    .strip_suffix('}')
                    .and_then(|s| s.strip_prefix("url="))
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| {
                        format!("threshold {text:?}: select a URL as {metric}{{url=/path}} (its path or its name in the URL file)")
                    })?;
                (metric, Some(url.to_string()))
            }
            None => (name, None),
        };
        let comparison = match op {
            "<" => Comparison::Below,
            "<=" => Comparison::AtMost,
            ">" => Comparison::Above,
            _ => Comparison::AtLeast,
        };
        let metric = match name {
            "error_rate" | "errors" => Metric::ErrorRate,
            "rps" | "throughput" => Metric::Rps,
            _ => match name.strip_prefix("all_") {
                Some(p) => Percentile::parse(p).map(Metric::All),
                None => Percentile::parse(name).map(Metric::Ok),
            }
            .ok_or_else(|| {
                format!("threshold {text:?}: unknown metric {name:?}; known: p50 p90 p95 p99 p999 max (successful requests), all_p95 … (every request), error_rate, rps")
            })?,
        };
        let bound = match metric {
            Metric::Ok(_) | Metric::All(_) => parse_latency_ms(value),
            Metric::ErrorRate => parse_fraction(value),
            Metric::Rps => value.parse::<f64>().ok(),
        }
        .filter(|b| b.is_finite() && *b >= 0.0)
        .ok_or_else(|| match metric {
            Metric::Ok(_) | Metric::All(_) => format!(
                "threshold {text:?}: {value:?} is not a latency: write e.g. 100ms, 1.5s, 250us"
            ),
            Metric::ErrorRate => {
                format!("threshold {text:?}: {value:?} is not a rate: write e.g. 0.1% or 0.001")
            }
            Metric::Rps => {
                format!("threshold {text:?}: {value:?} is not a number of requests per second")
            }
        })?;
        Ok(Self {
            text: compact,
            metric,
            comparison,
            bound,
            url,
        })
    }
}

fn parse_latency_ms(value: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value
        .strip_suffix("us")
        .or_else(|| value.strip_suffix("µs"))
    {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None; // a bare number is ambiguous: say the unit
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

fn parse_fraction(value: &str) -> Option<f64> {
    match value.strip_suffix('%') {
        Some(percent) => percent.parse::<f64>().ok().map(|p| p / 100.0),
        None => value.parse().ok(),
    }
}

impl Threshold {
    /// Checks it against `report`.
    pub fn check(&self, report: &LoadReport) -> ThresholdResult {
        let (latency, error_share, rps) = match &self.url {
            None => (&report.latency_ms, report.error_share, report.achieved_rps),
            Some(url) => {
                let Some(one) = report
                    .per_url
                    .iter()
                    .find(|u| u.name == *url || u.url.ends_with(url.as_str()))
                else {
                    return self.judge(None);
                };
                (&one.latency_ms, one.error_share, one.achieved_rps)
            }
        };
        let actual = match self.metric {
            Metric::Ok(p) => latency.ok.corrected.map(|l| p.of(&l)),
            Metric::All(p) => latency.all.corrected.map(|l| p.of(&l)),
            Metric::ErrorRate => error_share,
            Metric::Rps => Some(rps),
        };
        self.judge(actual)
    }

    /// The URL it selects, if it selects one (`p95{url=/io}<100ms`).
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The `cells.csv` column it reads (`p95_ms`, `all_p99_ms`, `error_rate`,
    /// `achieved_rps`), for checking a run's cells.
    pub fn column(&self) -> String {
        let name = |p: Percentile| match p {
            Percentile::P50 => "p50",
            Percentile::P90 => "p90",
            Percentile::P95 => "p95",
            Percentile::P99 => "p99",
            Percentile::P999 => "p999",
            Percentile::Max => "max",
        };
        match self.metric {
            Metric::Ok(p) => format!("{}_ms", name(p)),
            Metric::All(p) => format!("all_{}_ms", name(p)),
            Metric::ErrorRate => "error_rate".into(),
            Metric::Rps => "achieved_rps".into(),
        }
    }

    /// Its metric in one second of the timeline (None: the timeline does not hold it).
    fn per_second(&self, row: &Second) -> Option<f64> {
        if self.url.is_some() {
            return None; // the timeline is pooled over the mix
        }
        match self.metric {
            Metric::Ok(Percentile::P50) => row.p50_ms,
            Metric::Ok(Percentile::P95) => row.p95_ms,
            Metric::Ok(Percentile::P99) => row.p99_ms,
            Metric::All(Percentile::P95) => row.all_p95_ms,
            Metric::All(Percentile::P99) => row.all_p99_ms,
            Metric::ErrorRate => (row.sent_rps > 0.0).then(|| row.errors as f64 / row.sent_rps),
            _ => None,
        }
    }

    /// Checks it against a value read elsewhere (a cell's [`Threshold::column`]).
    pub fn judge(&self, actual: Option<f64>) -> ThresholdResult {
        let unit = match self.metric {
            Metric::Ok(_) | Metric::All(_) => "ms",
            Metric::ErrorRate => "fraction",
            Metric::Rps => "req/s",
        };
        ThresholdResult {
            threshold: self.text.clone(),
            actual,
            unit: unit.into(),
            passed: actual.is_some_and(|a| self.comparison.holds(a, self.bound)),
        }
    }
}

/// Under a rate that changes, the first second of a `timeline` that broke one of
/// `thresholds` read per second (latency percentiles the timeline holds, and the
/// error rate): the knee. None when no threshold can be read per second.
pub fn knee(thresholds: &[Threshold], timeline: &[Second]) -> Option<Knee> {
    let readable: Vec<&Threshold> = thresholds
        .iter()
        .filter(|t| timeline.iter().any(|row| t.per_second(row).is_some()))
        .collect();
    if readable.is_empty() {
        return None;
    }
    for row in timeline {
        for threshold in &readable {
            let Some(value) = threshold.per_second(row) else {
                continue;
            };
            if !threshold.comparison.holds(value, threshold.bound) {
                return Some(Knee {
                    threshold: threshold.text.clone(),
                    second: Some(row.second),
                    target_rps: row.target_rps,
                    value: Some(value),
                });
            }
        }
    }
    let peak = timeline
        .iter()
        .filter_map(|row| row.target_rps)
        .reduce(f64::max);
    Some(Knee {
        threshold: readable
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        second: None,
        target_rps: peak,
        value: None,
    })
}

impl Knee {
    /// One line: where the threshold broke, or that every one held.
    pub fn describe(&self) -> String {
        let rate = self
            .target_rps
            .map_or("—".to_string(), crate::display::figure);
        match (self.second, self.value) {
            (Some(second), Some(value)) => {
                // The error rate is a fraction; every other per-second figure, ms.
                let measured = if self.threshold.starts_with("error") {
                    crate::display::percent(Some(value))
                } else {
                    format!("{} ms", crate::display::figure(value))
                };
                format!(
                    "knee: {} first broke in second {} of the window, at {rate} req/s scheduled (that second: {measured})",
                    self.threshold,
                    second + 1,
                )
            }
            _ => format!(
                "knee: none — {} held in every second, up to {rate} req/s scheduled",
                self.threshold
            ),
        }
    }
}

/// Checks every threshold against `report`.
pub fn check_all(thresholds: &[Threshold], report: &LoadReport) -> Vec<ThresholdResult> {
    thresholds.iter().map(|t| t.check(report)).collect()
}

/// The text lines for the results: `PASS p95<100ms (p95 = 12.3 ms)`.
pub fn render(results: &[ThresholdResult]) -> String {
    let mut out = String::new();
    for result in results {
        let verdict = if result.passed { "PASS" } else { "FAIL" };
        out.push_str(&format!("  {verdict}  {}\n", result.describe()));
    }
    out
}

impl ThresholdResult {
    /// The threshold and what was measured: `p95<100ms (measured 130.200 ms)`.
    pub fn describe(&self) -> String {
        let actual = match self.actual {
            None => "not measured".to_string(),
            Some(value) => match self.unit.as_str() {
                "fraction" => format!("{:.3} %", value * 100.0),
                "ms" => format!("{value:.3} ms"),
                _ => format!("{value:.1} {}", self.unit),
            },
        };
        format!("{} (measured {actual})", self.threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::report::{Latency, LatencyView};

    fn report(p95: Option<f64>, error_share: f64, rps: f64) -> LoadReport {
        let percentiles = p95.map(|p95| Percentiles {
            p50: p95 / 2.0,
            p90: p95 * 0.9,
            p95,
            p99: p95 * 1.5,
            p999: p95 * 2.0,
            max: p95 * 3.0,
            mean: p95 / 2.0,
        });
        LoadReport {
            latency_ms: Latency {
                ok: LatencyView {
                    corrected: percentiles,
                    ..LatencyView::default()
                },
                all: LatencyView {
                    corrected: percentiles.map(|p| Percentiles {
                        p95: p.p95 * 10.0,
                        ..p
                    }),
                    ..LatencyView::default()
                },
            },
            error_share: Some(error_share),
            achieved_rps: rps,
            ..LoadReport::default()
        }
    }

    #[test]
    fn parses_the_k6_style_forms_and_refuses_the_rest_with_a_hint() {
        let t: Threshold = "p95 < 100ms".parse().unwrap();
        assert_eq!(
            (t.metric, t.comparison, t.bound),
            (Metric::Ok(Percentile::P95), Comparison::Below, 100.0)
        );
        let t: Threshold = "error_rate<0.1%".parse().unwrap();
        assert!((t.bound - 0.001).abs() < 1e-12);
        let t: Threshold = "rps>=5000".parse().unwrap();
        assert_eq!(
            (t.metric, t.comparison, t.bound),
            (Metric::Rps, Comparison::AtLeast, 5000.0)
        );
        let t: Threshold = "all_p99<=1.5s".parse().unwrap();
        assert_eq!((t.metric, t.bound), (Metric::All(Percentile::P99), 1500.0));
        for (bad, hint) in [
            ("p95 100ms", "no comparison"),
            ("p96<1ms", "unknown metric"),
            ("p95<100", "not a latency"),
            ("error_rate<lots", "not a rate"),
        ] {
            let error = bad.parse::<Threshold>().unwrap_err();
            assert!(error.contains(hint), "{bad}: {error}");
        }
    }

    #[test]
    fn checks_against_a_report_and_never_passes_an_unmeasured_latency() {
        let good = report(Some(50.0), 0.0005, 6000.0);
        let thresholds: Vec<Threshold> =
            ["p95<100ms", "error_rate<0.1%", "rps>=5000", "all_p95<100ms"]
                .iter()
                .map(|t| t.parse().unwrap())
                .collect();
        let results = check_all(&thresholds, &good);
        let passed: Vec<bool> = results.iter().map(|r| r.passed).collect();
        assert_eq!(
            passed,
            [true, true, true, false],
            "all_p95 is 500 ms: {results:?}"
        );
        let none = report(None, 1.0, 0.0);
        let result = thresholds[0].check(&none);
        assert!(!result.passed && result.actual.is_none());
        assert!(render(&[result]).contains("FAIL  p95<100ms (measured not measured)"));
    }

    #[test]
    fn the_knee_is_the_first_second_a_rising_rate_broke_a_threshold() {
        let second = |i: u64, rate: f64, p95: f64, errors: u64| Second {
            second: i,
            target_rps: Some(rate),
            sent_rps: rate,
            achieved_rps: rate,
            errors,
            p50_ms: Some(p95 / 2.0),
            p99_ms: Some(p95 * 2.0),
            p95_ms: Some(p95),
            all_p95_ms: Some(p95),
            all_p99_ms: Some(p95 * 2.0),
            ..Second::default()
        };
        let mut rising = report(Some(10.0), 0.0, 100.0);
        rising.timeline = vec![
            second(0, 100.0, 5.0, 0),
            second(1, 200.0, 8.0, 0),
            second(2, 300.0, 60.0, 0),
            second(3, 400.0, 90.0, 40),
        ];
        let p95: Threshold = "p95<50ms".parse().unwrap();
        let errors: Threshold = "error_rate<5%".parse().unwrap();
        let rising = rising.timeline;
        let knee = knee(&[errors.clone(), p95.clone()], &rising).unwrap();
        assert_eq!(knee.threshold, "p95<50ms");
        assert_eq!(
            (knee.second, knee.target_rps, knee.value),
            (Some(2), Some(300.0), Some(60.0))
        );
        assert!(
            knee.describe()
                .contains("second 3 of the window, at 300 req/s"),
            "{}",
            knee.describe()
        );
        // Errors alone break at 400 req/s (40 of 400 = 10 %).
        let by_errors = super::knee(&[errors], &rising).unwrap();
        assert_eq!(
            (by_errors.second, by_errors.target_rps),
            (Some(3), Some(400.0))
        );
        // A bound every second met: no knee, up to the highest rate.
        let loose: Threshold = "p95<100ms".parse().unwrap();
        let held = super::knee(&[loose], &rising).unwrap();
        assert_eq!((held.second, held.target_rps), (None, Some(400.0)));
        assert!(
            held.describe().starts_with("knee: none"),
            "{}",
            held.describe()
        );
        // Throughput is not read per second: no knee to mark.
        let rps: Threshold = "rps>10".parse().unwrap();
        assert_eq!(super::knee(&[rps], &rising), None);
    }

    #[test]
    fn a_threshold_may_select_one_url_of_a_mix() {
        let mut pooled = report(Some(10.0), 0.0, 100.0);
        let mut slow = pooled.clone();
        slow.latency_ms.ok.corrected = slow.latency_ms.ok.corrected.map(|mut p| {
            p.p95 = 90.0;
            p
        });
        pooled.per_url = vec![crate::load::report::UrlReport {
            name: "search".into(),
            url: "http://127.0.0.1:1/search?q=1".into(),
            weight: 1.0,
            requests: Default::default(),
            achieved_rps: 40.0,
            error_share: Some(0.0),
            errors: Default::default(),
            status_counts: Default::default(),
            latency_ms: slow.latency_ms,
        }];
        let whole: Threshold = "p95<50ms".parse().unwrap();
        let by_name: Threshold = "p95{url=search}<50ms".parse().unwrap();
        let by_path: Threshold = "p95{url=/search?q=1}<50ms".parse().unwrap();
        let rps: Threshold = "rps{url=search}>=40".parse().unwrap();
        assert!(whole.check(&pooled).passed);
        assert!(!by_name.check(&pooled).passed, "the URL's own p95 is 90 ms");
        assert_eq!(by_path.check(&pooled).actual, Some(90.0));
        assert!(rps.check(&pooled).passed);
        assert_eq!(by_name.url(), Some("search"));
        // A URL the mix does not have is not measured, so it fails.
        let unknown: Threshold = "p95{url=/nowhere}<50ms".parse().unwrap();
        assert_eq!(unknown.check(&pooled).actual, None);
        assert!("p95{host=x}<50ms"
            .parse::<Threshold>()
            .unwrap_err()
            .contains("{url=/path}"));
    }
}
