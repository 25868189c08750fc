//! Fault phases for the mock upstream: for a stated span of its life it stalls (holds
//! every call until the phase ends), errors (answers 500 at once) or is down (drops
//! every connection without an answer). Written `from=5s,for=5s,mode=stall`.

use std::str::FromStr;
use std::time::Duration;

/// What the upstream does during a fault phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultMode {
    /// Hold each call until the phase ends, then answer normally.
    Stall,
    /// Answer 500 at once.
    Error,
    /// Close the connection without answering.
    Down,
}

/// One phase: `mode` from `from` for `length`, measured from the upstream's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPhase {
    /// When it begins.
    pub from: Duration,
    /// How long it lasts.
    pub length: Duration,
    /// What happens.
    pub mode: FaultMode,
}

impl FaultPhase {
    /// When it ends.
    pub fn until(&self) -> Duration {
        self.from + self.length
    }
}

impl FromStr for FaultPhase {
    type Err = String;

    /// Parses `from=5s,for=5s,mode=stall|error|down`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (mut from, mut length, mut mode) = (None, None, None);
        for part in text.split(',') {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!("{part:?} is not key=value (expected from=5s,for=5s,mode=stall)")
            })?;
            let duration =
                || humantime::parse_duration(value.trim()).map_err(|e| format!("{key}: {e}"));
            match key.trim() {
                "from" => from = Some(duration()?),
                "for" => length = Some(duration()?),
                "mode" => {
                    mode = Some(match value.trim() {
                        "stall" => FaultMode::Stall,
                        "error" => FaultMode::Error,
                        "down" => FaultMode::Down,
                        other => return Err(format!("mode {other:?} is not stall, error or down")),
                    })
                }
                other => return Err(format!("unknown key {other:?} (expected from, for, mode)")),
            }
        }
        Ok(Self {
            from: from.ok_or("missing from=")?,
            length: length.ok_or("missing for=")?,
            mode: mode.ok_or("missing mode=")?,
        })
    }
}

/// The phase active `elapsed` after the start, if any (the first listed wins).
pub fn active(phases: &[FaultPhase], elapsed: Duration) -> Option<FaultPhase> {
    phases
        .iter()
        .copied()
        .find(|phase| elapsed >= phase.from && elapsed < phase.until())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_with_reasons() {
        let phase: FaultPhase = "from=5s,for=2s,mode=stall".parse().unwrap();
        assert_eq!(phase.until(), Duration::from_secs(7));
        assert!("from=5s,mode=stall"
            .parse::<FaultPhase>()
            .unwrap_err()
            .contains("for="));
        assert!("from=5s,for=1s,mode=melt"
            .parse::<FaultPhase>()
            .unwrap_err()
            .contains("melt"));
    }

    #[test]
    fn phases_switch_on_and_off_at_their_times() {
        let phases = [
            "from=1s,for=1s,mode=error".parse().unwrap(),
            "from=3s,for=500ms,mode=down".parse().unwrap(),
        ];
        let at = |ms| active(&phases, Duration::from_millis(ms)).map(|p| p.mode);
        assert_eq!(at(999), None);
        assert_eq!(at(1000), Some(FaultMode::Error));
        assert_eq!(at(1999), Some(FaultMode::Error));
        assert_eq!(at(2000), None);
        assert_eq!(at(3200), Some(FaultMode::Down));
        assert_eq!(at(3500), None);
    }
}
