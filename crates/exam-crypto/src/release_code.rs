//! The offline release code: 130 random bits that the authority reads to a site over the phone
//! when an exam may start, and that unwrap the paper key the site already holds.
//!
//! A code is 26 characters of Crockford's base32 (`0-9`, `A-Z` without `I`, `L`, `O`, `U`),
//! 5 bits each, shown in groups of 5-5-5-5-6 ([`RELEASE_CODE_GROUPS`]):
//!
//! ```text
//! ABCDE-FGHJK-MNPQR-STVWX-YZ0123
//! ```
//!
//! Typing it back ([`ReleaseCode::parse`]) ignores case, spaces and dashes, and reads the
//! confusable `I` and `L` as `1` and `O` as `0`.
//!
//! Wrapping ([`wrap_paper_key`]): the code's 26 characters (upper case, no dashes) are stretched
//! with Argon2id into an AES-256-GCM key, which encrypts the 32-byte paper key. The session id is
//! bound as associated data, so a code and blob made for one session open nothing in another.
//! Blob layout ([`WrappedKey::to_bytes`], all integers big-endian, [`WRAPPED_KEY_BYTES`] in all):
//!
//! ```text
//! magic "EXWRAP01" | memory_kib u32 | iterations u32 | lanes u32 | salt [16] | nonce [12] | ciphertext [32] ‖ tag [16]
//! ```
//!
//! Associated data: everything before the ciphertext (the 44-byte header), then the session id's
//! UTF-8 bytes. The Argon2id figures are stored so they can be raised later, and are bounded when
//! read ([`ARGON2_MEMORY_KIB_MAX`] …) so that a damaged blob cannot make us allocate a lot.

use std::fmt;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::paper::{PAPER_KEY_BYTES, PaperKey};
use crate::stretch::{self, Cost};

/// Random bits in a release code.
pub const RELEASE_CODE_BITS: usize = 130;
/// Characters in a release code (5 bits each).
pub const RELEASE_CODE_CHARS: usize = RELEASE_CODE_BITS / BITS_PER_CHAR;
/// How [`ReleaseCode::reveal`] groups the characters, separated by dashes.
pub const RELEASE_CODE_GROUPS: [usize; 5] = [5, 5, 5, 5, 6];
/// Crockford's base32 alphabet, value order.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Argon2id memory per stretching, in KiB: 64 MiB, as for passphrases.
pub const ARGON2_MEMORY_KIB: u32 = crate::passphrase::ARGON2_MEMORY_KIB;
/// Argon2id passes over the memory.
pub const ARGON2_ITERATIONS: u32 = crate::passphrase::ARGON2_ITERATIONS;
/// Argon2id lanes.
pub const ARGON2_LANES: u32 = crate::passphrase::ARGON2_LANES;
/// Most memory a wrapped key may ask for, in KiB (256 MiB, four times what we write): a site
/// machine must not be made to allocate more by a damaged blob.
pub const ARGON2_MEMORY_KIB_MAX: u32 = 256 * 1024;
/// Most passes a wrapped key may ask for.
pub const ARGON2_ITERATIONS_MAX: u32 = 16;
/// Most lanes a wrapped key may ask for.
pub const ARGON2_LANES_MAX: u32 = 16;
/// Salt length, bytes.
pub const SALT_BYTES: usize = 16;
/// Longest session id, bytes.
pub const SESSION_ID_BYTES_MAX: usize = 256;
/// Length of a wrapped key, bytes.
pub const WRAPPED_KEY_BYTES: usize = HEADER_BYTES + PAPER_KEY_BYTES + TAG_BYTES;

const BITS_PER_CHAR: usize = 5;
const RANDOM_BYTES: usize = RELEASE_CODE_BITS.div_ceil(8);
const MAGIC: &[u8; 8] = b"EXWRAP01";
const TAG_BYTES: usize = 16;
const HEADER_BYTES: usize = MAGIC.len() + 3 * 4 + SALT_BYTES + NONCE_LEN;

const COST: Cost = Cost {
    memory_kib: ARGON2_MEMORY_KIB,
    iterations: ARGON2_ITERATIONS,
    lanes: ARGON2_LANES,
};
const COST_MAX: Cost = Cost {
    memory_kib: ARGON2_MEMORY_KIB_MAX,
    iterations: ARGON2_ITERATIONS_MAX,
    lanes: ARGON2_LANES_MAX,
};

/// A release code. Not `Clone`, prints as `<redacted>`, wiped from memory when dropped; shown
/// only through [`ReleaseCode::reveal`].
pub struct ReleaseCode(Zeroizing<[u8; RELEASE_CODE_CHARS]>);

impl fmt::Debug for ReleaseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReleaseCode(<redacted>)")
    }
}

impl ReleaseCode {
    /// A new code: [`RELEASE_CODE_BITS`] bits from the operating system's random generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut random = Zeroizing::new([0u8; RANDOM_BYTES]);
        *random = crate::random_array()?;
        let mut chars = Zeroizing::new([0u8; RELEASE_CODE_CHARS]);
        for (i, c) in chars.iter_mut().enumerate() {
            // Bits i*5 .. i*5+5, most significant first.
            let mut value = 0usize;
            for bit in i * BITS_PER_CHAR..(i + 1) * BITS_PER_CHAR {
                let set = (random[bit / 8] >> (7 - bit % 8)) & 1;
                value = (value << 1) | usize::from(set);
            }
            *c = ALPHABET[value];
        }
        Ok(Self(chars))
    }

    /// Reads a typed code: case, spaces and dashes do not matter, `I`/`L` read as `1` and `O` as
    /// `0`. Anything else outside the alphabet, or a count other than [`RELEASE_CODE_CHARS`], is
    /// refused with a message that says so.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let mut chars = Zeroizing::new([0u8; RELEASE_CODE_CHARS]);
        let mut count = 0usize;
        for typed in text.chars() {
            if typed.is_whitespace() || matches!(typed, '-' | '‐' | '‑' | '–' | '—') {
                continue;
            }
            let c = match typed.to_ascii_uppercase() {
                'I' | 'L' => b'1',
                'O' => b'0',
                other => match u8::try_from(other) {
                    Ok(b) if ALPHABET.contains(&b) => b,
                    _ => {
                        return Err(CryptoError::BadReleaseCode {
                            found: format!(
                                "character {} is not one of them (U and symbols never appear in a code)",
                                count + 1
                            ),
                        });
                    }
                },
            };
            if let Some(slot) = chars.get_mut(count) {
                *slot = c;
            }
            count += 1;
        }
        if count != RELEASE_CODE_CHARS {
            return Err(CryptoError::BadReleaseCode {
                found: format!("{count} were given"),
            });
        }
        Ok(Self(chars))
    }

    /// The code as it is read out: upper case, in groups of [`RELEASE_CODE_GROUPS`] joined by
    /// dashes. Wiped from memory when dropped.
    pub fn reveal(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(
            RELEASE_CODE_CHARS + RELEASE_CODE_GROUPS.len(),
        ));
        let mut start = 0;
        for (i, len) in RELEASE_CODE_GROUPS.iter().enumerate() {
            if i > 0 {
                out.push('-');
            }
            for &b in &self.0[start..start + len] {
                out.push(char::from(b));
            }
            start += len;
        }
        out
    }
}

/// A paper key wrapped under a release code and a session id (layout in the module
/// documentation). Not secret: useless without the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    cost: Cost,
    salt: [u8; SALT_BYTES],
    nonce: [u8; NONCE_LEN],
    sealed: [u8; PAPER_KEY_BYTES + TAG_BYTES],
}

impl WrappedKey {
    fn header(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        let (magic, rest) = out.split_at_mut(MAGIC.len());
        magic.copy_from_slice(MAGIC);
        let (cost, rest) = rest.split_at_mut(12);
        cost.copy_from_slice(&self.cost.to_be_bytes());
        let (salt, nonce) = rest.split_at_mut(SALT_BYTES);
        salt.copy_from_slice(&self.salt);
        nonce.copy_from_slice(&self.nonce);
        out
    }

    /// The [`WRAPPED_KEY_BYTES`] bytes of the documented layout.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRAPPED_KEY_BYTES);
        out.extend_from_slice(&self.header());
        out.extend_from_slice(&self.sealed);
        out
    }

    /// Reads what [`WrappedKey::to_bytes`] wrote, refusing a wrong length, an unknown format or
    /// Argon2id figures outside the named bounds before any work.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != WRAPPED_KEY_BYTES {
            return Err(CryptoError::Malformed("a wrapped key is 96 bytes"));
        }
        let (magic, rest) = bytes.split_at(MAGIC.len());
        if magic != MAGIC {
            return Err(CryptoError::Malformed("not a wrapped paper key"));
        }
        let (cost, rest) = rest.split_at(12);
        let cost: &[u8; 12] = cost
            .try_into()
            .map_err(|_| CryptoError::Malformed("header"))?;
        let cost = Cost::from_be_bytes(cost);
        // Argon2 itself needs at least one pass, one lane and 8 KiB per lane.
        let least = cost.iterations >= 1
            && cost.lanes >= 1
            && u64::from(cost.memory_kib) >= 8 * u64::from(cost.lanes);
        if !least || !cost.within(&COST_MAX) {
            return Err(CryptoError::Malformed("key-stretching cost out of range"));
        }
        let (salt, rest) = rest.split_at(SALT_BYTES);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let malformed = |_| CryptoError::Malformed("wrapped key layout");
        Ok(Self {
            cost,
            salt: salt.try_into().map_err(malformed)?,
            nonce: nonce.try_into().map_err(malformed)?,
            sealed: sealed.try_into().map_err(malformed)?,
        })
    }
}

fn check_session_id(session_id: &str) -> Result<(), CryptoError> {
    if session_id.is_empty() {
        return Err(CryptoError::InvalidArgument(
            "the session id to bind a release code to is empty",
        ));
    }
    crate::check_len("the session id", session_id.len(), SESSION_ID_BYTES_MAX)
}

/// The header then the session id: the associated data of the wrapped key.
fn associated_data(wrapped: &WrappedKey, session_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_BYTES + session_id.len());
    aad.extend_from_slice(&wrapped.header());
    aad.extend_from_slice(session_id.as_bytes());
    aad
}

fn stretch_code(code: &ReleaseCode, salt: &[u8], cost: &Cost) -> Result<LessSafeKey, CryptoError> {
    let key = stretch::argon2id(code.0.as_slice(), salt, cost).map_err(CryptoError::Stretch)?;
    let unbound = UnboundKey::new(&AES_256_GCM, key.as_ref())
        .map_err(|_| CryptoError::BadKey("AES-256-GCM key"))?;
    Ok(LessSafeKey::new(unbound))
}

/// Wraps `key` under `code` for `session_id` (1 to [`SESSION_ID_BYTES_MAX`] bytes), with a fresh
/// salt and nonce and the Argon2id figures [`ARGON2_MEMORY_KIB`], [`ARGON2_ITERATIONS`],
/// [`ARGON2_LANES`].
pub fn wrap_paper_key(
    code: &ReleaseCode,
    session_id: &str,
    key: &PaperKey,
) -> Result<WrappedKey, CryptoError> {
    wrap_with_cost(code, session_id, key, COST)
}

fn wrap_with_cost(
    code: &ReleaseCode,
    session_id: &str,
    key: &PaperKey,
    cost: Cost,
) -> Result<WrappedKey, CryptoError> {
    check_session_id(session_id)?;
    let mut wrapped = WrappedKey {
        cost,
        salt: crate::random_array()?,
        nonce: crate::random_array()?,
        sealed: [0u8; PAPER_KEY_BYTES + TAG_BYTES],
    };
    let aead = stretch_code(code, &wrapped.salt, &cost)?;
    let aad = associated_data(&wrapped, session_id);
    let mut body = Zeroizing::new(*key.expose_bytes());
    let tag = aead
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(wrapped.nonce),
            Aad::from(&aad),
            body.as_mut_slice(),
        )
        .map_err(|_| CryptoError::BadKey("AES-256-GCM sealing"))?;
    let (ct, t) = wrapped.sealed.split_at_mut(PAPER_KEY_BYTES);
    ct.copy_from_slice(body.as_slice());
    t.copy_from_slice(tag.as_ref());
    Ok(wrapped)
}

/// Unwraps the paper key that [`wrap_paper_key`] wrapped with the same code and session id.
/// A wrong code, another session's id, or an altered blob all give
/// [`CryptoError::WrongReleaseCode`] (they cannot be told apart).
pub fn unwrap_paper_key(
    code: &ReleaseCode,
    session_id: &str,
    wrapped: &WrappedKey,
) -> Result<PaperKey, CryptoError> {
    check_session_id(session_id)?;
    let aead = stretch_code(code, &wrapped.salt, &wrapped.cost)?;
    let aad = associated_data(wrapped, session_id);
    let mut body = Zeroizing::new(wrapped.sealed);
    let plain = aead
        .open_in_place(
            Nonce::assume_unique_for_key(wrapped.nonce),
            Aad::from(&aad),
            body.as_mut_slice(),
        )
        .map_err(|_| CryptoError::WrongReleaseCode)?;
    let bytes: &[u8; PAPER_KEY_BYTES] = (&*plain)
        .try_into()
        .map_err(|_| CryptoError::Malformed("wrapped key length"))?;
    Ok(PaperKey::from_bytes(*bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap figures so that tests run fast; the real ones are used once below.
    const TEST_COST: Cost = Cost {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };

    fn code() -> ReleaseCode {
        ReleaseCode::generate().expect("code")
    }

    #[test]
    fn generated_codes_are_26_alphabet_characters_in_5_5_5_5_6_groups() {
        let c = code();
        let shown = c.reveal();
        let groups: Vec<&str> = shown.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            RELEASE_CODE_GROUPS
        );
        assert!(
            shown
                .bytes()
                .filter(|b| *b != b'-')
                .all(|b| ALPHABET.contains(&b))
        );
        assert_eq!(RELEASE_CODE_CHARS, 26);
        assert_eq!(
            RELEASE_CODE_GROUPS.iter().sum::<usize>(),
            RELEASE_CODE_CHARS
        );
        assert_ne!(*code().reveal(), *shown);
        // Over 1000 codes every alphabet value appears at every position (each is missed with
        // a chance near 1e-12): no bit of the 130 is stuck, which would leave half the alphabet
        // unused at its position.
        let mut seen = [[false; 32]; RELEASE_CODE_CHARS];
        for _ in 0..1000 {
            let shown = code().reveal();
            for (pos, b) in shown.bytes().filter(|b| *b != b'-').enumerate() {
                let v = ALPHABET.iter().position(|a| *a == b).expect("alphabet");
                seen[pos][v] = true;
            }
        }
        assert!(seen.iter().flatten().all(|s| *s));
    }

    #[test]
    fn parsing_tolerates_case_spaces_dashes_and_confusables() {
        let c = ReleaseCode::parse("ABCDE-FGHJK-MNPQR-STVWX-YZ0123").expect("parse");
        assert_eq!(*c.reveal(), "ABCDE-FGHJK-MNPQR-STVWX-YZ0123");
        let typed = ReleaseCode::parse(" abcde fghjk  mnpqr stvwx yzo1 23 ").expect("parse");
        assert_eq!(*typed.reveal(), "ABCDE-FGHJK-MNPQR-STVWX-YZ0123");
        let confused = ReleaseCode::parse("0OoIiLl1A-BCDEFGHJK-MNPQRSTV").expect("parse");
        assert_eq!(*confused.reveal(), "00011-111AB-CDEFG-HJKMN-PQRSTV");
        let r = code();
        assert_eq!(
            *ReleaseCode::parse(&r.reveal())
                .expect("round trip")
                .reveal(),
            *r.reveal()
        );
        assert_eq!(
            *ReleaseCode::parse(&r.reveal().to_lowercase())
                .expect("lower")
                .reveal(),
            *r.reveal()
        );
    }

    #[test]
    fn parsing_refuses_wrong_lengths_and_characters_saying_what_is_expected() {
        for (text, says) in [
            ("ABCDE-FGHJK-MNPQR-STVWX-YZ012", "25 were given"),
            ("ABCDE-FGHJK-MNPQR-STVWX-YZ01234", "27 were given"),
            ("", "0 were given"),
            ("ABCDE-FGHJU-MNPQR-STVWX-YZ0123", "character 10"),
            ("ABCDE-FGHJK-MNPQR-STVWX-YZ012*", "character 26"),
            ("ABCDÉ-FGHJK-MNPQR-STVWX-YZ0123", "character 5"),
        ] {
            let err = ReleaseCode::parse(text).expect_err(text);
            assert!(matches!(err, CryptoError::BadReleaseCode { .. }));
            let msg = err.to_string();
            assert!(msg.contains("26 letters and digits"), "{msg}");
            assert!(msg.contains(says), "{text}: {msg}");
            assert!(!msg.contains("FGHJ"), "the code is not echoed: {msg}");
        }
    }

    #[test]
    fn codes_never_print() {
        let c = ReleaseCode::parse("ABCDE-FGHJK-MNPQR-STVWX-YZ0123").expect("parse");
        let shown = format!("{c:?}");
        assert_eq!(shown, "ReleaseCode(<redacted>)");
    }

    #[test]
    fn wraps_and_unwraps_with_the_real_cost() {
        let c = code();
        let key = PaperKey::generate().expect("key");
        let wrapped = wrap_paper_key(&c, "session-2026-06-01-A", &key).expect("wrap");
        let bytes = wrapped.to_bytes();
        assert_eq!(bytes.len(), WRAPPED_KEY_BYTES);
        assert_eq!(&bytes[..8], MAGIC);
        assert_eq!(
            bytes[8..20],
            COST.to_be_bytes(),
            "the figures are stored in the blob"
        );
        let read = WrappedKey::from_bytes(&bytes).expect("read");
        assert_eq!(read, wrapped);
        let typed = ReleaseCode::parse(&c.reveal().to_lowercase()).expect("parse");
        let unwrapped = unwrap_paper_key(&typed, "session-2026-06-01-A", &read).expect("unwrap");
        assert_eq!(unwrapped.expose_bytes(), key.expose_bytes());
    }

    #[test]
    fn a_wrong_code_another_session_or_any_flipped_bit_gives_wrong_release_code() {
        let c = code();
        let key = PaperKey::generate().expect("key");
        let wrapped = wrap_with_cost(&c, "S1", &key, TEST_COST).expect("wrap");
        assert_eq!(
            unwrap_paper_key(&c, "S1", &wrapped)
                .expect("unwrap")
                .expose_bytes(),
            key.expose_bytes()
        );
        assert!(
            !wrapped
                .to_bytes()
                .windows(8)
                .any(|w| w == &key.expose_bytes()[..8])
        );
        assert_eq!(
            unwrap_paper_key(&code(), "S1", &wrapped).map(|_| ()),
            Err(CryptoError::WrongReleaseCode)
        );
        assert_eq!(
            unwrap_paper_key(&c, "S2", &wrapped).map(|_| ()),
            Err(CryptoError::WrongReleaseCode)
        );
        // One character off (read wrongly over the phone).
        let mut shown = c.reveal().to_string();
        let first = if shown.starts_with('0') { "1" } else { "0" };
        shown.replace_range(0..1, first);
        let misread = ReleaseCode::parse(&shown).expect("parse");
        assert_eq!(
            unwrap_paper_key(&misread, "S1", &wrapped).map(|_| ()),
            Err(CryptoError::WrongReleaseCode)
        );
        // Every bit of the salt, nonce, ciphertext and tag; the figures are checked below.
        let bytes = wrapped.to_bytes();
        for i in 20..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1 << (i % 8);
            let bad = WrappedKey::from_bytes(&bad).expect("still well formed");
            assert_eq!(
                unwrap_paper_key(&c, "S1", &bad).map(|_| ()),
                Err(CryptoError::WrongReleaseCode),
                "byte {i}"
            );
        }
        // A changed figure within bounds: authenticated too.
        let mut bad = bytes.clone();
        bad[19] ^= 2; // lanes 1 -> 3
        let bad = WrappedKey::from_bytes(&bad).expect("in bounds");
        assert_eq!(
            unwrap_paper_key(&c, "S1", &bad).map(|_| ()),
            Err(CryptoError::WrongReleaseCode)
        );
    }

    #[test]
    fn damaged_blobs_are_refused_before_any_stretching() {
        let c = code();
        let key = PaperKey::generate().expect("key");
        let bytes = wrap_with_cost(&c, "S1", &key, TEST_COST)
            .expect("wrap")
            .to_bytes();
        let refuse = |b: &[u8], what: &str| {
            assert_eq!(
                WrappedKey::from_bytes(b),
                Err(CryptoError::Malformed(match what {
                    "len" => "a wrapped key is 96 bytes",
                    "magic" => "not a wrapped paper key",
                    _ => "key-stretching cost out of range",
                }))
            );
        };
        refuse(&bytes[..95], "len");
        refuse(&[bytes.as_slice(), &[0]].concat(), "len");
        let mut b = bytes.clone();
        b[0] = b'X';
        refuse(&b, "magic");
        for (at, value) in [
            (8, ARGON2_MEMORY_KIB_MAX + 1),
            (8, u32::MAX),
            (8, 7),
            (12, ARGON2_ITERATIONS_MAX + 1),
            (12, 0),
            (16, ARGON2_LANES_MAX + 1),
            (16, 0),
        ] {
            let mut b = bytes.clone();
            b[at..at + 4].copy_from_slice(&value.to_be_bytes());
            refuse(&b, "cost");
        }
        let mut b = bytes.clone();
        b[8..12].copy_from_slice(&ARGON2_MEMORY_KIB_MAX.to_be_bytes());
        assert!(
            WrappedKey::from_bytes(&b).is_ok(),
            "the maximum itself is allowed"
        );
    }

    #[test]
    fn session_ids_are_bounded() {
        let c = code();
        let key = PaperKey::generate().expect("key");
        assert!(matches!(
            wrap_with_cost(&c, "", &key, TEST_COST),
            Err(CryptoError::InvalidArgument(_))
        ));
        let long = "s".repeat(SESSION_ID_BYTES_MAX + 1);
        assert!(matches!(
            wrap_with_cost(&c, &long, &key, TEST_COST),
            Err(CryptoError::TooLarge { .. })
        ));
        let longest = "s".repeat(SESSION_ID_BYTES_MAX);
        let wrapped = wrap_with_cost(&c, &longest, &key, TEST_COST).expect("wrap");
        assert!(unwrap_paper_key(&c, &longest, &wrapped).is_ok());
        assert!(matches!(
            unwrap_paper_key(&c, "", &wrapped),
            Err(CryptoError::InvalidArgument(_))
        ));
    }
}
