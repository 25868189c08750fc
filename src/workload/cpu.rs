//! The `cpu` workload: iterated SHA-256 over a fixed seed. The body carries the digest,
//! so skipped or shortened work shows.

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
    render(spec, &digest(spec.rounds))
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
