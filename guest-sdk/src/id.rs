//! Unique ids that sort by creation time.
//!
//! [`ulid`] returns a [ULID](https://github.com/ulid/spec): 26 Crockford base32 characters
//! encoding 48 bits of Unix milliseconds then 80 random bits. Ids made in different
//! milliseconds sort in creation order as plain strings; two made in the same millisecond by
//! the same instance still sort in order (the random part is incremented, as the spec's
//! monotonic mode does); ids made concurrently elsewhere differ in 80 random bits.

use std::sync::Mutex;

use crate::time::now_ms;

/// Crockford's base32 alphabet: no I, L, O or U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The largest random part (80 bits).
const RANDOM_MAX: u128 = (1 << 80) - 1;

/// The last id made by this instance, to keep ids of one millisecond in order.
static LAST: Mutex<Generator> = Mutex::new(Generator { ms: 0, random: 0 });

/// A new ULID, e.g. `01JD3ZQ5X8T9V2K4M6N8P0R2S4`.
///
/// # Panics
/// If the host provides no randomness (`wasi:random`), which an Eddy host always does.
pub fn ulid() -> String {
    ulid_at(now_ms())
}

/// A new ULID for the moment `ms` (Unix milliseconds), e.g. the one a record's `created_at` is
/// also made from, so that sorting by id and sorting by timestamp agree.
///
/// # Panics
/// If the host provides no randomness (`wasi:random`), which an Eddy host always does.
pub fn ulid_at(ms: u64) -> String {
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    encode(last.next(ms, random80()))
}

/// Makes ids that never go backwards within one instance.
#[derive(Debug)]
struct Generator {
    ms: u64,
    random: u128,
}

impl Generator {
    /// The next id as a 128-bit number, given the clock and fresh randomness.
    fn next(&mut self, now_ms: u64, fresh: u128) -> u128 {
        let now_ms = now_ms & ((1 << 48) - 1);
        if now_ms <= self.ms && self.random < RANDOM_MAX {
            // Same millisecond (or the clock stepped back): stay after the last id.
            self.random += 1;
        } else {
            self.ms = now_ms;
            self.random = fresh & RANDOM_MAX;
        }
        (u128::from(self.ms) << 80) | self.random
    }
}

fn random80() -> u128 {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes[6..]).expect("the host provides wasi:random");
    u128::from_be_bytes(bytes)
}

/// The 26-character Crockford base32 text of a 128-bit id, most significant bits first.
fn encode(id: u128) -> String {
    (0..26).map(|i| char::from(ALPHABET[((id >> (125 - 5 * i)) & 31) as usize])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ulid_is_26_crockford_characters() {
        let id = ulid();
        assert_eq!(id.len(), 26);
        assert!(id.bytes().all(|b| ALPHABET.contains(&b)), "{id}");
    }

    #[test]
    fn the_time_part_comes_first_and_encodes_milliseconds() {
        // The ULID reference example: time 1469918176385 ms is `01ARYZ6S41`.
        let mut generator = Generator { ms: 0, random: 0 };
        let id = encode(generator.next(1_469_918_176_385, 0));
        assert_eq!(&id[..10], "01ARYZ6S41");
        assert_eq!(&id[10..], "0000000000000000");
        assert_eq!(encode(u128::MAX), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
    }

    #[test]
    fn ids_of_later_milliseconds_sort_after_earlier_ones() {
        let mut generator = Generator { ms: 0, random: 0 };
        let early = encode(generator.next(1_000, RANDOM_MAX));
        let late = encode(generator.next(1_001, 0));
        assert!(early < late);
    }

    #[test]
    fn ids_of_one_millisecond_stay_in_creation_order() {
        let mut generator = Generator { ms: 0, random: 0 };
        let first = generator.next(5_000, 900);
        let second = generator.next(5_000, 3);
        let after_clock_step_back = generator.next(4_999, 7);
        assert_eq!(second, first + 1);
        assert_eq!(after_clock_step_back, second + 1);
    }

    #[test]
    fn many_ulids_are_unique_and_sorted() {
        let ids: Vec<String> = (0..1000).map(|_| ulid()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids);
    }
}
