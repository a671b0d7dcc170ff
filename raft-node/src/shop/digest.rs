//! A rolling digest of every state write, in apply order: replicas that applied the same
//! entries hold the same digest, so comparing it at equal applied indexes spots divergence.

use serde::{Deserialize, Serialize};

/// FNV-1a over the stream of writes; stable across builds and platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDigest(pub u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Default for StateDigest {
    fn default() -> Self {
        StateDigest(FNV_OFFSET)
    }
}

impl StateDigest {
    pub fn absorb(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(FNV_PRIME);
        }
        // Length separator so that ("ab","c") and ("a","bc") differ.
        h ^= bytes.len() as u64;
        self.0 = h.wrapping_mul(FNV_PRIME);
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_boundaries_matter() {
        let mut a = StateDigest::default();
        a.absorb(b"ab");
        a.absorb(b"c");
        let mut b = StateDigest::default();
        b.absorb(b"a");
        b.absorb(b"bc");
        assert_ne!(a, b);
        let mut c = StateDigest::default();
        c.absorb(b"ab");
        c.absorb(b"c");
        assert_eq!(a, c);
    }
}
