//! The stable 64-bit hash behind the distinct estimates.
//!
//! Stored profiles are merged with profiles computed by later builds, so the hash is defined
//! here, once, rather than borrowed from `std` (whose `DefaultHasher` may change between
//! releases). The definition is part of the profile format (version 1):
//!
//! - `mix64(z)` is the SplitMix64 finaliser: `z ^= z >> 30; z *= 0xBF58476D1CE4E5B9;
//!   z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31` (wrapping multiplications).
//! - a number hashes as `mix64(bits ^ SEED)`, `bits` being the IEEE-754 bits of the value as an
//!   `f64`, with `-0.0` read as `0.0` (so integers and floats of equal value hash alike).
//! - a string hashes its UTF-8 bytes: `state = SEED ^ (len * 0x9E3779B97F4A7C15)`, then for
//!   each 8-byte little-endian word `w` (the last one zero-padded) `state = mix64(state ^ w)`,
//!   and the hash is `mix64(state)`.

/// The seed of every hash ("esteira1" in ASCII).
const SEED: u64 = 0x6573_7465_6972_6131;
/// The golden-ratio constant that spreads the length into the initial state.
const LENGTH_SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finaliser, a bijection on `u64` with full avalanche.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z ^= z >> 30;
    z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^= z >> 27;
    z = z.wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The hash of a number (see the module's definition).
#[inline]
pub(crate) fn hash_f64(value: f64) -> u64 {
    let canonical = if value == 0.0 { 0.0 } else { value };
    mix64(canonical.to_bits() ^ SEED)
}

/// The hash of a string (see the module's definition).
pub(crate) fn hash_str(value: &str) -> u64 {
    let bytes = value.as_bytes();
    let mut state = SEED ^ (bytes.len() as u64).wrapping_mul(LENGTH_SPREAD);
    let mut words = bytes.chunks_exact(8);
    for word in words.by_ref() {
        let mut le = [0u8; 8];
        le.copy_from_slice(word);
        state = mix64(state ^ u64::from_le_bytes(le));
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        let mut le = [0u8; 8];
        le[..tail.len()].copy_from_slice(tail);
        state = mix64(state ^ u64::from_le_bytes(le));
    }
    mix64(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix64_matches_the_splitmix64_reference_output() {
        // SplitMix64 seeded with 0 first advances the state by 0x9E3779B97F4A7C15 and then
        // applies the finaliser; its first output is the published 0xE220A8397B1DCDAF.
        assert_eq!(mix64(0x9E37_79B9_7F4A_7C15), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn equal_numbers_hash_alike_and_strings_depend_on_length() {
        assert_eq!(hash_f64(0.0), hash_f64(-0.0));
        assert_eq!(hash_f64(3.0), hash_f64(f64::from(3_i32)));
        assert_ne!(hash_str("ab"), hash_str("ab\0"));
        assert_ne!(hash_str(""), hash_str("\0"));
    }
}
