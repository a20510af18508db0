//! Time-sortable request ids: 12 base62 characters encoding
//! `[40 bits ms since 2020-01-01][14 random bits][10 bits sequence]`, the
//! Go toolkit's format, so ids from Go and Rust services sort together.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2020-01-01T00:00:00Z in Unix milliseconds.
pub const EPOCH_MS: u64 = 1_577_836_800_000;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SEQ_BITS: u32 = 10;
const RAND_BITS: u32 = 14;
const MS_MASK: u64 = (1 << 40) - 1;

/// The parts of a generated id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodedId {
    /// Unix time in milliseconds.
    pub unix_ms: u64,
    /// The 14 random bits.
    pub random: u16,
    /// The per-millisecond sequence.
    pub sequence: u16,
}

/// Generates ids; clones share the monotonic clock state.
///
/// Unlike the Go generator, which sleeps when more than 1024 ids are asked for
/// in one millisecond, this one borrows the next millisecond, so it never
/// blocks. The 14 random bits are drawn once per millisecond (from a
/// per-generator seed), so within a millisecond ids differ only by their
/// sequence and every id sorts after the previous one; Go drew them per id,
/// which made ids of the same millisecond sort randomly.
///
/// ```
/// use plumego_layers::request_id::RequestIdGenerator;
///
/// let generator = RequestIdGenerator::new();
/// let (a, b) = (generator.generate(), generator.generate());
/// assert_eq!(a.len(), 12);
/// assert!(a < b, "ids sort by creation");
/// assert!(RequestIdGenerator::decode(&a).is_some());
/// ```
#[derive(Debug, Clone)]
pub struct RequestIdGenerator {
    /// `(ms since EPOCH_MS) << 10 | sequence` of the last id.
    last: Arc<AtomicU64>,
    /// Keys the per-millisecond random bits.
    seed: u64,
}

impl Default for RequestIdGenerator {
    fn default() -> Self {
        Self {
            last: Arc::default(),
            seed: fastrand::u64(..),
        }
    }
}

/// SplitMix64: a cheap, well-mixed hash of the millisecond and the seed.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl RequestIdGenerator {
    /// A generator with fresh state.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new id.
    pub fn generate(&self) -> String {
        self.generate_at(SystemTime::now())
    }

    /// A new id as its 12 ASCII bytes, with no allocation (the layer hands
    /// them to a shared buffer that every clone of the id reuses).
    pub fn generate_bytes(&self) -> [u8; 12] {
        self.generate_bytes_at(SystemTime::now())
    }

    /// A new id as if the clock read `now` (a clock that steps back reuses the
    /// last millisecond).
    pub fn generate_at(&self, now: SystemTime) -> String {
        self.generate_bytes_at(now)
            .iter()
            .map(|&b| char::from(b))
            .collect()
    }

    /// [`generate_at`](Self::generate_at) as bytes.
    pub fn generate_bytes_at(&self, now: SystemTime) -> [u8; 12] {
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis()
            .saturating_sub(u128::from(EPOCH_MS));
        let now_ms = u64::try_from(now_ms).unwrap_or(MS_MASK) & MS_MASK;
        let mut last = self.last.load(Ordering::Relaxed);
        let stamp = loop {
            let last_ms = last >> SEQ_BITS;
            let next = if now_ms > last_ms {
                now_ms << SEQ_BITS
            } else {
                // Same millisecond, or the clock stepped back: count on; a full
                // sequence rolls into the next millisecond.
                last + 1
            };
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break next,
                Err(actual) => last = actual,
            }
        };
        let ms = stamp >> SEQ_BITS;
        let seq = stamp & ((1 << SEQ_BITS) - 1);
        let random = mix(self.seed ^ ms) >> (64 - RAND_BITS);
        encode((ms << (RAND_BITS + SEQ_BITS)) | (random << SEQ_BITS) | seq)
    }

    /// Splits an id into its time, random bits and sequence.
    pub fn decode(id: &str) -> Option<DecodedId> {
        if id.len() != 12 {
            return None;
        }
        let mut value: u64 = 0;
        for b in id.bytes() {
            let digit = ALPHABET.iter().position(|&a| a == b)? as u64;
            value = value.checked_mul(62)?.checked_add(digit)?;
        }
        Some(DecodedId {
            unix_ms: (value >> (RAND_BITS + SEQ_BITS)) + EPOCH_MS,
            random: ((value >> SEQ_BITS) & ((1 << RAND_BITS) - 1)) as u16,
            sequence: (value & ((1 << SEQ_BITS) - 1)) as u16,
        })
    }
}

fn encode(mut value: u64) -> [u8; 12] {
    let mut out = [b'0'; 12];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_time_and_sequence() {
        let g = RequestIdGenerator::new();
        let t = UNIX_EPOCH + Duration::from_millis(EPOCH_MS + 123_456_789);
        let a = RequestIdGenerator::decode(&g.generate_at(t)).unwrap();
        let b = RequestIdGenerator::decode(&g.generate_at(t)).unwrap();
        assert_eq!((a.unix_ms, a.sequence), (EPOCH_MS + 123_456_789, 0));
        assert_eq!((b.unix_ms, b.sequence), (EPOCH_MS + 123_456_789, 1));
        assert!(a.random < 1 << 14);
        assert_eq!(a.random, b.random, "random bits are per millisecond");
    }

    #[test]
    fn random_bits_vary_between_milliseconds_and_generators() {
        let g = RequestIdGenerator::new();
        let t = UNIX_EPOCH + Duration::from_millis(EPOCH_MS + 1);
        let randoms: std::collections::HashSet<u16> = (0..64)
            .map(|i| {
                let id = g.generate_at(t + Duration::from_millis(i));
                RequestIdGenerator::decode(&id).unwrap().random
            })
            .collect();
        assert!(randoms.len() > 32, "{} distinct values", randoms.len());
        let other = RequestIdGenerator::new();
        let a = RequestIdGenerator::decode(&g.generate_at(t + Duration::from_secs(9))).unwrap();
        let b = RequestIdGenerator::decode(&other.generate_at(t + Duration::from_secs(9))).unwrap();
        assert_ne!((a.random, g.seed), (b.random, other.seed));
    }

    #[test]
    fn monotonic_when_the_clock_steps_back_and_when_a_millisecond_fills() {
        let g = RequestIdGenerator::new();
        let t = UNIX_EPOCH + Duration::from_millis(EPOCH_MS + 10_000);
        let first = g.generate_at(t);
        let earlier = g.generate_at(t - Duration::from_secs(5));
        assert!(earlier > first);
        let mut prev = earlier;
        for _ in 0..3000 {
            let next = g.generate_at(t);
            assert!(next > prev, "{next} > {prev}");
            prev = next;
        }
        let last = RequestIdGenerator::decode(&prev).unwrap();
        assert!(
            last.unix_ms > EPOCH_MS + 10_000,
            "rolled into later milliseconds"
        );
    }

    #[test]
    fn unique_across_threads() {
        let g = RequestIdGenerator::new();
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..2000).map(|_| g.generate()).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    }

    #[test]
    fn decode_rejects_bad_input() {
        assert!(RequestIdGenerator::decode("short").is_none());
        assert!(RequestIdGenerator::decode("!!!!!!!!!!!!").is_none());
        assert!(
            RequestIdGenerator::decode("zzzzzzzzzzzz").is_none(),
            "overflows 64 bits"
        );
    }
}
