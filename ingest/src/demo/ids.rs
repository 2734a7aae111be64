//! Deterministic identifiers and random streams.
//!
//! Everything random in the generator derives from the configured seed through [`hash`], so the same
//! seed gives byte-identical events however the iteration is interleaved. Ids that real SDKs draw
//! at random (device ids, `insert_id`) are hashes of what makes them unique, formatted as UUIDs:
//! distinct inputs give distinct ids with overwhelming probability, and nothing has to be remembered.

use rand::SeedableRng;
use rand::rngs::StdRng;

/// Which random stream a draw belongs to, so that unrelated decisions never share numbers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    /// Building the population and the catalog.
    Population = 1,
    /// Whether a person comes back on a given day.
    Activity = 2,
    /// Everything a person does during one day.
    Day = 3,
    /// Device ids.
    Device = 4,
    /// `insert_id` of device events.
    Insert = 5,
    /// Campaign sends, opens and clicks.
    Campaign = 6,
    /// `insert_id` of server-side (CRM) events.
    ServerInsert = 7,
    /// Upload delays of batches.
    Upload = 8,
}

/// SplitMix64's finaliser: a fast, well-mixed 64-bit permutation.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Hashes the seed, a stream and some integers into one well-mixed value.
pub(crate) fn hash(seed: u64, stream: Stream, parts: &[u64]) -> u64 {
    let mut h = splitmix64(seed ^ (stream as u64).wrapping_mul(0xa076_1d64_78bd_642f));
    for &p in parts {
        h = splitmix64(h ^ p);
    }
    h
}

/// A uniform draw in `[0, 1)` determined by the seed, a stream and some integers.
pub(crate) fn unit(seed: u64, stream: Stream, parts: &[u64]) -> f64 {
    (hash(seed, stream, parts) >> 11) as f64 / (1u64 << 53) as f64
}

/// A random generator for one stream and key.
pub(crate) fn rng(seed: u64, stream: Stream, parts: &[u64]) -> StdRng {
    StdRng::seed_from_u64(hash(seed, stream, parts))
}

/// A version-4-shaped UUID (lowercase) made from two 64-bit values.
pub(crate) fn uuid(hi: u64, lo: u64) -> String {
    // Set the version (4) and variant (10xx) bits like a real random UUID.
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// A UUID determined by the seed, a stream and some integers.
pub(crate) fn uuid_for(seed: u64, stream: Stream, parts: &[u64]) -> String {
    let hi = hash(seed, stream, parts);
    uuid(hi, splitmix64(hi ^ 0x5851_f42d_4c95_7f2d))
}

/// The customer's user id for a person (what the app passes to `setUserId`).
pub(crate) fn user_id(person: u32) -> String {
    format!("u_{person:06}")
}

/// The public id of a service listing.
pub(crate) fn service_id(service: u32) -> String {
    format!("svc_{service:05}")
}

/// The public id of an order.
pub(crate) fn order_id(order: u32) -> String {
    format!("ord_{order:07}")
}
