//! The Idempotency-Key: the one rule for what a key may hold, used by the node, the
//! frontend and the client alike.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest idempotency key accepted (bytes).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// A client's key for one logical write: every retry of that write carries the same key,
/// and the store answers a retry with the first result instead of applying it again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} bytes, got {0}")]
    Length(usize),
    #[error("Idempotency-Key may only hold printable ASCII (space to '~'), found byte 0x{0:02x}")]
    Character(u8),
}

impl IdempotencyKey {
    /// Checks the one rule: 1 to 128 bytes of printable ASCII (0x20 to 0x7e). Tabs,
    /// control characters and non-ASCII are refused everywhere.
    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        Self::from_bytes(raw.as_bytes())
    }

    /// The same rule on a raw header value.
    pub fn from_bytes(raw: &[u8]) -> Result<Self, KeyError> {
        if raw.is_empty() || raw.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(KeyError::Length(raw.len()));
        }
        if let Some(bad) = raw.iter().find(|b| !(0x20..=0x7e).contains(*b)) {
            return Err(KeyError::Character(*bad));
        }
        // Every byte is ASCII, so this is valid UTF-8.
        Ok(Self(String::from_utf8_lossy(raw).into_owned()))
    }

    /// A fresh key, for a write whose caller sent none: a time-ordered UUID (version 7),
    /// unique like a random one, but each new key sorts after the ones made before it. Every
    /// replica stores an idempotency record under this key, and an insert next to the
    /// previous one is far cheaper for RocksDB's memtable than one at a random place (random
    /// keys cost followers about a tenth of their CPU per order in `perf`).
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = KeyError;
    fn try_from(s: String) -> Result<Self, KeyError> {
        Self::parse(&s)
    }
}

impl From<IdempotencyKey> for String {
    fn from(k: IdempotencyKey) -> String {
        k.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_every_caller() {
        assert!(IdempotencyKey::parse("order-1 retry").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(128)).is_ok());
        assert_eq!(IdempotencyKey::parse(""), Err(KeyError::Length(0)));
        assert_eq!(
            IdempotencyKey::parse(&"k".repeat(129)),
            Err(KeyError::Length(129))
        );
        assert_eq!(
            IdempotencyKey::parse("a\tb"),
            Err(KeyError::Character(b'\t'))
        );
        assert!(IdempotencyKey::parse("caf\u{e9}").is_err());
        assert!(IdempotencyKey::from_bytes(b"x\x7f").is_err());
    }

    #[test]
    fn generated_keys_pass_the_rule_and_differ() {
        let a = IdempotencyKey::generate();
        let b = IdempotencyKey::generate();
        assert!(IdempotencyKey::parse(a.as_str()).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn generated_keys_sort_in_the_order_they_were_made() {
        let keys: Vec<IdempotencyKey> = (0..1000).map(|_| IdempotencyKey::generate()).collect();
        for pair in keys.windows(2) {
            assert!(
                pair[0].as_str() < pair[1].as_str(),
                "{} was made before {} but sorts after it",
                pair[0].as_str(),
                pair[1].as_str()
            );
        }
    }

    #[test]
    fn serde_applies_the_rule() {
        assert!(serde_json::from_str::<IdempotencyKey>("\"a\\tb\"").is_err());
        let k: IdempotencyKey = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(k.as_str(), "abc");
    }
}
