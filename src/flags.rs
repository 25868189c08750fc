//! Values as they are written on `sabench`'s command line, for the code that builds a
//! child's arguments from a configuration (the runner, each config's own `args`).

use std::time::Duration;

/// The command-line value of a clap enum (e.g. `spawn-blocking`).
pub fn flag_value<T: clap::ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// A duration as `humantime` reads it back, without spaces (e.g. `1m30s`).
pub fn duration(d: Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_written() {
        assert_eq!(
            flag_value(&crate::server::Offload::SpawnBlocking),
            "spawn-blocking"
        );
        let d = Duration::from_millis(90_500);
        assert_eq!(humantime::parse_duration(&duration(d)).unwrap(), d);
    }
}
