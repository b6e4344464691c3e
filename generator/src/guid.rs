//! IFC GlobalIds: 128-bit values derived from the seed and a counter, written in IFC's
//! 22-character base-64 form (alphabet `0-9A-Za-z_$`).

use crate::rng::mix64;

/// The IFC "compressed GUID" alphabet, in digit order.
pub(crate) const IFC_GUID_ALPHABET: &[u8; 64] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$";

/// Length of an encoded GlobalId.
pub(crate) const IFC_GUID_LEN: usize = 22;

/// Encodes a 128-bit value as an IFC GlobalId: the number in base 64, most significant digit
/// first, 22 digits (the first carries only the top two bits, so it is always `0`–`3`).
pub(crate) fn encode_ifc_guid(value: u128) -> [u8; IFC_GUID_LEN] {
    let mut out = [0u8; IFC_GUID_LEN];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 6 * (IFC_GUID_LEN - 1 - i);
        *slot = IFC_GUID_ALPHABET[((value >> shift) & 63) as usize];
    }
    out
}

/// Decodes an IFC GlobalId back to its 128-bit value; `None` if it is not one.
#[cfg(test)]
pub(crate) fn decode_ifc_guid(text: &str) -> Option<u128> {
    if text.len() != IFC_GUID_LEN {
        return None;
    }
    let mut value: u128 = 0;
    for (i, byte) in text.bytes().enumerate() {
        let digit = IFC_GUID_ALPHABET.iter().position(|&c| c == byte)? as u128;
        if i == 0 && digit > 3 {
            return None;
        }
        value = (value << 6) | digit;
    }
    Some(value)
}

/// Hands out GlobalIds for one generated file: unique within it (the low half is a bijection
/// of the counter), different between seeds, and identical between runs.
#[derive(Debug, Clone)]
pub(crate) struct GuidSource {
    seed_low: u64,
    seed_high: u64,
    counter: u64,
}

impl GuidSource {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed_low: mix64(seed ^ 0x5265_6E65_7754_7769), // "RenewTwi"
            seed_high: mix64(seed.rotate_left(17) ^ 0x6E47_7569_6473_2121),
            counter: 0,
        }
    }

    /// The next GlobalId.
    pub(crate) fn next_guid(&mut self) -> [u8; IFC_GUID_LEN] {
        let n = self.counter;
        self.counter += 1;
        // mix64 is a bijection, so distinct counters give distinct low halves.
        let low = mix64(n.wrapping_add(self.seed_low));
        let high = mix64(n ^ self.seed_high).wrapping_add(self.seed_high);
        encode_ifc_guid((u128::from(high) << 64) | u128::from(low))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn encoding_matches_the_reference_algorithm_on_known_values() {
        // Zero and all-ones: first digit carries two bits, the rest six.
        assert_eq!(&encode_ifc_guid(0), b"0000000000000000000000");
        assert_eq!(&encode_ifc_guid(u128::MAX), b"3$$$$$$$$$$$$$$$$$$$$$");
        // 0x40 is one unit in the last digit.
        assert_eq!(&encode_ifc_guid(64), b"0000000000000000000010");
        // IfcOpenShell's guid.compress("2f0e7b7fa4d04a0e8a1b0c0d0e0f1011"), byte-wise reference.
        let uuid = 0x2f0e_7b7f_a4d0_4a0e_8a1b_0c0d_0e0f_1011_u128;
        assert_eq!(
            std::str::from_utf8(&encode_ifc_guid(uuid)),
            Ok("0l3dj$fD1A3eeR30qE3n0H")
        );
    }

    #[test]
    fn encoding_round_trips() {
        let mut source = GuidSource::new(42);
        for _ in 0..1000 {
            let guid = source.next_guid();
            let text = std::str::from_utf8(&guid).unwrap_or_default();
            let value = decode_ifc_guid(text);
            assert_eq!(value.map(encode_ifc_guid), Some(guid));
        }
    }

    #[test]
    fn guids_are_unique_over_many_draws_and_use_only_the_alphabet() {
        let mut source = GuidSource::new(1);
        let mut seen = HashSet::new();
        for _ in 0..200_000 {
            let guid = source.next_guid();
            assert!(guid.iter().all(|c| IFC_GUID_ALPHABET.contains(c)));
            assert!(b"0123".contains(&guid[0]));
            assert!(seen.insert(guid));
        }
    }

    #[test]
    fn different_seeds_give_different_guids() {
        assert_ne!(
            GuidSource::new(1).next_guid(),
            GuidSource::new(2).next_guid()
        );
    }
}
