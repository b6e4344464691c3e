//! The generator's own small deterministic PRNG (SplitMix64), so output never depends on an
//! external crate's algorithm choices.

/// SplitMix64: tiny, fast, and good enough for picking plausible building parameters.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

/// SplitMix64's output finaliser: a bijection on `u64` with good avalanche.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitMix64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// A generator for `seed`, decorrelated from other `stream`s of the same seed.
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        Self {
            state: mix64(seed ^ mix64(stream.wrapping_add(Self::GAMMA))),
        }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::GAMMA);
        mix64(self.state)
    }

    /// A uniform integer in `lo..=hi` (tiny modulo bias is irrelevant here).
    pub(crate) fn range_u32(&mut self, lo: u32, hi: u32) -> u32 {
        debug_assert!(lo <= hi);
        let span = u64::from(hi - lo) + 1;
        lo + (self.next_u64() % span) as u32
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let index = (self.next_u64() % items.len().max(1) as u64) as usize;
        &items[index.min(items.len().saturating_sub(1))]
    }

    /// A value in `lo..=hi` on a grid of `step` (building dimensions are modular).
    pub(crate) fn stepped(&mut self, lo: f64, hi: f64, step: f64) -> f64 {
        let steps = ((hi - lo) / step).round().max(0.0) as u32;
        lo + f64::from(self.range_u32(0, steps)) * step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_stream_repeat_the_sequence() {
        let mut a = SplitMix64::new(7, 3);
        let mut b = SplitMix64::new(7, 3);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn streams_of_one_seed_differ() {
        let mut a = SplitMix64::new(7, 0);
        let mut b = SplitMix64::new(7, 1);
        assert_ne!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn ranges_stay_inside_their_bounds() {
        let mut rng = SplitMix64::new(1, 1);
        for _ in 0..1000 {
            let v = rng.range_u32(5, 7);
            assert!((5..=7).contains(&v));
            let s = rng.stepped(12.6, 14.4, 0.3);
            assert!((12.6 - 1e-9..=14.4 + 1e-9).contains(&s));
        }
    }
}
