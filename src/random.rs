//! The one seeded pseudo-random source of the suite (SplitMix64): the load generator's
//! Poisson gaps and URL mix, the mock upstream's latency draws. The same seed gives the
//! same numbers, so runs repeat.

/// The golden-ratio increment of SplitMix64.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// One step of SplitMix64: a well-mixed 64-bit value from any input.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit value as a number in [0, 1).
pub fn unit_interval(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The `index`-th number in [0, 1) of the stream `seed`: the same pair, the same number.
pub fn unit(seed: u64, index: u64) -> f64 {
    unit_interval(splitmix64(seed.wrapping_add(index.wrapping_mul(GOLDEN))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_repeats_with_its_seed_and_stays_in_the_unit_interval() {
        // SplitMix64's published first output for seed 0.
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        let draws: Vec<f64> = (0..1000).map(|i| unit(7, i)).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert_eq!(draws, (0..1000).map(|i| unit(7, i)).collect::<Vec<_>>());
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
    }
}
