//! File-name-safe parts made from labels (`async(workers=1)` → `async-workers-1`): the
//! run folders, cell ids and chart files are named with them.

/// Keeps letters, digits, `-` and `_`; anything else becomes `-`.
pub fn slug(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_string()
}
