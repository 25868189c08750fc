//! How numbers that may be missing are shown: a value that was not measured is "—",
//! never 0 (an empty histogram has no p95).

/// `12.35` with `decimals`, or `—` when there is no value.
pub fn or_dash(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".to_string(), |v| format!("{v:.decimals$}"))
}

/// `12.3 %` of a share between 0 and 1, or `—` when there is no share.
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "—".to_string(), |s| format!("{:.1} %", 100.0 * s))
}

/// `12.35` with `decimals`; an unbounded value (the open top of a ratio's interval when
/// a repetition scored 0) is `∞`.
pub fn fixed(value: f64, decimals: usize) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "∞" } else { "-∞" }.to_string();
    }
    format!("{value:.decimals$}")
}

/// A measured figure to about three significant digits, thousands separated:
/// `9,360`, `123`, `12.3`, `1.23`, `0.063`; `∞` when unbounded.
pub fn figure(value: f64) -> String {
    if value.is_infinite() {
        return fixed(value, 0);
    }
    let magnitude = value.abs();
    if magnitude >= 1000.0 {
        let digits = format!("{:.0}", magnitude);
        let mut grouped = String::new();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        let sign = if value < 0.0 { "-" } else { "" };
        format!("{sign}{grouped}")
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 || magnitude == 0.0 {
        format!("{value:.2}")
    } else {
        // Two significant digits below 1.
        let decimals = (-magnitude.log10().floor()) as usize + 1;
        format!("{value:.decimals$}")
    }
}

/// A markdown table's head: the `fixed` columns (left-aligned), then one per `more`
/// with `align` (`---` or `---:`), and its separator line, both ended by a newline.
pub fn table_head(fixed: &[&str], more: &[&str], align: &str) -> String {
    let mut head = String::from("|");
    let mut rule = String::from("|");
    for name in fixed {
        head.push_str(&format!(" {name} |"));
        rule.push_str("---|");
    }
    for name in more {
        head.push_str(&format!(" {name} |"));
        rule.push_str(align);
        rule.push('|');
    }
    format!("{head}\n{rule}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_are_dashes_not_zeros() {
        assert_eq!(or_dash(None, 2), "—");
        assert_eq!(or_dash(Some(1.234), 2), "1.23");
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(0.125)), "12.5 %");
    }

    #[test]
    fn figures_keep_about_three_significant_digits() {
        assert_eq!(figure(9360.4), "9,360");
        assert_eq!(figure(1_234_567.0), "1,234,567");
        assert_eq!(figure(123.4), "123");
        assert_eq!(figure(12.34), "12.3");
        assert_eq!(figure(1.234), "1.23");
        assert_eq!(figure(0.0634), "0.063");
        assert_eq!(figure(0.0), "0.00");
        assert_eq!(figure(f64::INFINITY), "∞");
        assert_eq!(fixed(f64::INFINITY, 3), "∞");
        assert_eq!(fixed(2.5, 3), "2.500");
    }
}
