//! A small seedable pseudo-random generator (SplitMix64) for bootstraps, feature sampling and
//! bin subsampling. Not cryptographic; streams differ from numpy's, so seeded results are
//! reproducible within Esteira but not equal to scikit-learn's.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// SplitMix64 (Steele, Lea, Flood 2014).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for `seed`, or for a per-process random seed when `seed` is `None`.
    pub(crate) fn new(seed: Option<u64>) -> Self {
        Rng(seed.unwrap_or_else(|| RandomState::new().hash_one(0x5eed_u64)))
    }

    /// An independent generator for sub-stream `index` (e.g. one per tree).
    pub(crate) fn fork(&self, index: u64) -> Self {
        let mut r = Rng(self.0 ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        Rng(r.next_u64())
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by Lemire's multiply-shift (bias below 2^-32 for n < 2^32).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}
