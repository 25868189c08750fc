//! The `cpu` workload: iterated SHA-256 over a fixed seed. The body carries the digest,
//! so skipped or shortened work shows.
//!
//! A regression can be planted on purpose, to measure what the before/after gate
//! catches (`scripts/ci-sensitivity.sh`): `SABENCH_PLANTED_CPU_TAX_PERCENT=N` in the
//! server's environment makes every request's CPU work cost N % more, in extra rounds
//! whose digest is thrown away, so the body is unchanged.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// The seed every request hashes.
pub const SEED: &[u8] = b"sync-async-bench";

/// How much CPU work one request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSpec {
    /// SHA-256 rounds (each hashes the previous 32-byte digest).
    pub rounds: u32,
}

/// `rounds` iterations of SHA-256: h₁ = H(seed), hₙ₊₁ = H(hₙ).
pub fn digest(rounds: u32) -> [u8; 32] {
    let mut state: [u8; 32] = Sha256::digest(SEED).into();
    for _ in 1..rounds {
        state = Sha256::digest(state).into();
    }
    state
}

/// The body for a finished computation.
pub fn render(spec: CpuSpec, digest: &[u8; 32]) -> String {
    format!(
        "cpu rounds={} sha256={}\n",
        spec.rounds,
        hex::encode(digest)
    )
}

/// Does the work and renders the body. CPU has no waiting, so both faces call this;
/// where it runs (inline, `spawn_blocking`, rayon) is the server's choice.
pub fn run(spec: CpuSpec) -> String {
    let body = render(spec, &digest(spec.rounds));
    let extra = (f64::from(spec.rounds) * planted_tax() / 100.0).round() as u32;
    if extra > 0 {
        std::hint::black_box(digest(extra));
    }
    body
}

/// The planted regression, percent of the CPU work (0: none).
fn planted_tax() -> f64 {
    static TAX: OnceLock<f64> = OnceLock::new();
    *TAX.get_or_init(|| {
        std::env::var("SABENCH_PLANTED_CPU_TAX_PERCENT")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t > 0.0)
            .unwrap_or(0.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_iterated_sha256() {
        let once: [u8; 32] = Sha256::digest(SEED).into();
        assert_eq!(digest(1), once);
        let twice: [u8; 32] = Sha256::digest(once).into();
        assert_eq!(digest(2), twice);
        assert!(run(CpuSpec { rounds: 2 }).contains(&hex::encode(twice)));
    }
}
