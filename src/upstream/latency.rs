//! Latency distributions for the mock upstream, drawn deterministically from a seed
//! and the call number (no shared RNG state, no locking).

use std::time::Duration;

/// How the upstream draws each call's latency.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Distribution {
    /// Every call takes exactly the latency.
    Fixed,
    /// Uniform in latency ± jitter.
    Uniform,
    /// Exponential with the latency as its mean (capped at 60 s).
    Exponential,
}

use crate::random::unit;

impl Distribution {
    /// The latency of call number `index`.
    pub fn sample(self, latency: Duration, jitter: Duration, seed: u64, index: u64) -> Duration {
        let u = unit(seed, index);
        let secs = match self {
            Distribution::Fixed => return latency,
            Distribution::Uniform => {
                latency.as_secs_f64() - jitter.as_secs_f64() + 2.0 * jitter.as_secs_f64() * u
            }
            Distribution::Exponential => -(1.0 - u).ln() * latency.as_secs_f64(),
        };
        Duration::from_secs_f64(secs.clamp(0.0, 60.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_stay_in_range_and_have_the_right_mean() {
        let latency = Duration::from_millis(20);
        let jitter = Duration::from_millis(5);
        let n = 20_000;
        let uniform: Vec<f64> = (0..n)
            .map(|i| {
                Distribution::Uniform
                    .sample(latency, jitter, 7, i)
                    .as_secs_f64()
            })
            .collect();
        assert!(uniform.iter().all(|&s| (0.015..=0.025).contains(&s)));
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean(&uniform) - 0.020).abs() < 0.001);
        let exponential: Vec<f64> = (0..n)
            .map(|i| {
                Distribution::Exponential
                    .sample(latency, jitter, 7, i)
                    .as_secs_f64()
            })
            .collect();
        assert!((mean(&exponential) - 0.020).abs() < 0.002);
        assert_eq!(Distribution::Fixed.sample(latency, jitter, 7, 3), latency);
        assert_eq!(
            Distribution::Uniform.sample(latency, jitter, 7, 3),
            Distribution::Uniform.sample(latency, jitter, 7, 3)
        );
    }
}
