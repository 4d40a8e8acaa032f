//! SplitMix64 (Steele, Lea and Flood, 2014): a small seeded generator for drawing samples and
//! rows reproducibly. Not cryptographic.

/// A SplitMix64 stream; the same seed gives the same numbers on every platform.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`, without modulo bias (rejection).
    ///
    /// # Panics
    /// When `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// `min(k, n)` distinct indices drawn uniformly from `0..n`, in the order drawn (partial
    /// Fisher–Yates).
    pub fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut indices: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below((n - i) as u64) as usize;
            indices.swap(i, j);
        }
        indices.truncate(k);
        indices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_the_published_splitmix64() {
        // The first outputs of Vigna's reference splitmix64.c for seed 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn unit_below_and_sample_stay_in_range() {
        let mut rng = SplitMix64::new(42);
        for _ in 0..1000 {
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u), "{u}");
            assert!(rng.below(7) < 7);
        }
        let mut drawn = rng.sample(10, 4);
        assert_eq!(drawn.len(), 4);
        drawn.sort_unstable();
        drawn.dedup();
        assert_eq!(drawn.len(), 4, "indices are distinct");
        assert!(drawn.iter().all(|&i| i < 10));
        let mut all = rng.sample(5, 9);
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 4], "k above n takes every index");
    }
}
