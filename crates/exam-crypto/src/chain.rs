//! A SHA-256 hash chain over a sequence of entries (e.g. a journal), so that the head alone
//! commits to every entry, its bytes and its place:
//!
//! ```text
//! genesis(context) = SHA-256("exam-chain-v1" ‖ 0x00 ‖ context)
//! next(prev, entry) = SHA-256(prev [32] ‖ len(entry) as u64 big-endian ‖ entry)
//! ```
//!
//! The length prefix keeps entry boundaries unambiguous (`"ab","c"` and `"a","bc"` differ), and
//! the context keeps chains of different journals apart.

use std::fmt;

use ring::digest::{Context, SHA256};

use crate::CryptoError;

/// Bytes in a chain hash.
pub const CHAIN_HASH_BYTES: usize = 32;
/// The label hashed first in every genesis.
pub const CHAIN_LABEL: &[u8] = b"exam-chain-v1";

/// One link of the chain: 32 bytes, shown as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash([u8; CHAIN_HASH_BYTES]);

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

fn finish(ctx: Context) -> ChainHash {
    let mut out = [0u8; CHAIN_HASH_BYTES];
    out.copy_from_slice(ctx.finish().as_ref());
    ChainHash(out)
}

impl ChainHash {
    /// The hash before any entry: `SHA-256("exam-chain-v1" ‖ 0x00 ‖ context)`.
    pub fn genesis(context: &[u8]) -> Self {
        let mut ctx = Context::new(&SHA256);
        ctx.update(CHAIN_LABEL);
        ctx.update(&[0]);
        ctx.update(context);
        finish(ctx)
    }

    /// The hash after `entry`: `SHA-256(self ‖ len(entry) u64 BE ‖ entry)`.
    pub fn next(&self, entry: &[u8]) -> Self {
        let mut ctx = Context::new(&SHA256);
        ctx.update(&self.0);
        // usize is at most 64 bits on every target Rust supports.
        ctx.update(&(entry.len() as u64).to_be_bytes());
        ctx.update(entry);
        finish(ctx)
    }

    pub fn from_bytes(bytes: [u8; CHAIN_HASH_BYTES]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; CHAIN_HASH_BYTES] {
        &self.0
    }

    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads 64 hex digits, either case.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let mut out = [0u8; CHAIN_HASH_BYTES];
        hex::decode_to_slice(text.trim(), &mut out)
            .map_err(|_| CryptoError::Malformed("a chain hash is 64 hex digits"))?;
        Ok(Self(out))
    }
}

/// Whether `entries`, chained from `genesis(context)`, end at `expected_head`.
pub fn verify_chain<'a>(
    context: &[u8],
    entries: impl Iterator<Item = &'a [u8]>,
    expected_head: &ChainHash,
) -> bool {
    let head = entries.fold(ChainHash::genesis(context), |h, e| h.next(e));
    // Heads are public (they are published to be compared), so a plain comparison is fine.
    head == *expected_head
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(context: &[u8], entries: &[&[u8]]) -> ChainHash {
        entries
            .iter()
            .fold(ChainHash::genesis(context), |h, e| h.next(e))
    }

    #[test]
    fn known_answers_follow_the_documented_formulas() {
        // Computed independently with Python's hashlib:
        // sha256(b"exam-chain-v1\x00" + context), then
        // sha256(prev + struct.pack(">Q", 3) + b"abc").
        let g = ChainHash::genesis(b"");
        assert_eq!(
            g.to_hex(),
            "026098de81a012244e90c079d3478f5f858d7964cafab97538ce336a4e815908"
        );
        assert_eq!(
            g.next(b"abc").to_hex(),
            "a437da6294c5327a969189df48cb22e12387b8a8ff84bdeb9550066742b67f4f"
        );
        assert_eq!(
            ChainHash::genesis(b"journal 1").to_hex(),
            "814f92fe00b20e1a96759a8b2f6fdde504576215c75c4bffee9bd5e0a94fc416"
        );
    }

    #[test]
    fn any_reorder_drop_insert_or_changed_byte_changes_the_head() {
        let entries: [&[u8]; 4] = [b"first", b"second", b"", b"fourth entry"];
        let good = head(b"journal 1", &entries);
        assert!(verify_chain(b"journal 1", entries.iter().copied(), &good));
        let mut variants: Vec<Vec<Vec<u8>>> = Vec::new();
        let base: Vec<Vec<u8>> = entries.iter().map(|e| e.to_vec()).collect();
        // Reorders: every swap of two entries.
        for i in 0..base.len() {
            for j in i + 1..base.len() {
                let mut v = base.clone();
                v.swap(i, j);
                variants.push(v);
            }
        }
        // Drops and inserts (an empty entry too) at every place.
        for i in 0..base.len() {
            let mut v = base.clone();
            v.remove(i);
            variants.push(v);
        }
        for i in 0..=base.len() {
            for extra in [b"".to_vec(), b"x".to_vec()] {
                let mut v = base.clone();
                v.insert(i, extra);
                variants.push(v);
            }
        }
        // Every bit of every byte.
        for i in 0..base.len() {
            for j in 0..base[i].len() {
                for bit in 0..8 {
                    let mut v = base.clone();
                    v[i][j] ^= 1 << bit;
                    variants.push(v);
                }
            }
        }
        // Moved boundaries: same bytes, split differently.
        variants.push(vec![
            b"firstsecond".to_vec(),
            b"".to_vec(),
            b"".to_vec(),
            b"fourth entry".to_vec(),
        ]);
        variants.push(vec![
            b"firs".to_vec(),
            b"tsecond".to_vec(),
            b"".to_vec(),
            b"fourth entry".to_vec(),
        ]);
        for v in &variants {
            assert!(
                !verify_chain(b"journal 1", v.iter().map(|e| e.as_slice()), &good),
                "{v:?}"
            );
        }
        // The context matters too.
        assert!(!verify_chain(b"journal 2", entries.iter().copied(), &good));
        assert!(!verify_chain(b"", std::iter::empty(), &good));
        assert!(verify_chain(
            b"journal 1",
            std::iter::empty(),
            &ChainHash::genesis(b"journal 1")
        ));
    }

    #[test]
    fn hex_round_trips() {
        let h = ChainHash::genesis(b"x").next(b"y");
        assert_eq!(ChainHash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(ChainHash::from_hex(&h.to_hex().to_uppercase()), Ok(h));
        assert!(ChainHash::from_hex("00").is_err());
        assert_eq!(ChainHash::from_bytes(*h.as_bytes()), h);
        assert_eq!(format!("{h:?}"), format!("ChainHash({})", h.to_hex()));
    }
}
