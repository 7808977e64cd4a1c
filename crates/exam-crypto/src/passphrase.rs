//! Secrets kept at rest under an operator's passphrase (the site CA key): the passphrase is
//! stretched with Argon2id (explicit parameters, stored in the sealed data so they can be raised
//! later) into an AES-256-GCM key.
//!
//! Sealed layout (all integers big-endian):
//!
//! ```text
//! magic "EXSEAL01" | memory_kib u32 | iterations u32 | lanes u32 | salt [16] | nonce [12] | ciphertext ‖ tag [16]
//! ```
//!
//! Everything before the ciphertext is authenticated as associated data.

use std::fmt;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::stretch::{self, Cost};

/// Argon2id memory per stretching, in KiB: 64 MiB (RFC 9106, second recommended option).
pub const ARGON2_MEMORY_KIB: u32 = 64 * 1024;
/// Argon2id passes over the memory.
pub const ARGON2_ITERATIONS: u32 = 3;
/// Argon2id lanes (computed one after the other here; they set the memory layout).
pub const ARGON2_LANES: u32 = 4;
/// Most memory a sealed file may ask for, in KiB (1 GiB): a larger figure is damage, not a
/// setting, and must not make the program allocate it.
pub const ARGON2_MEMORY_KIB_MAX: u32 = 1024 * 1024;
/// Most passes a sealed file may ask for.
pub const ARGON2_ITERATIONS_MAX: u32 = 64;
/// Most lanes a sealed file may ask for.
pub const ARGON2_LANES_MAX: u32 = 64;
/// Salt length, bytes.
pub const SALT_BYTES: usize = 16;
/// Longest passphrase, bytes.
pub const PASSPHRASE_BYTES_MAX: usize = 1024;
/// Random bytes in a generated passphrase (shown as twice as many hex digits).
pub const RANDOM_PASSPHRASE_BYTES: usize = 32;

const MAGIC: &[u8; 8] = b"EXSEAL01";
const TAG_BYTES: usize = 16;
const HEADER_BYTES: usize = MAGIC.len() + 3 * 4 + SALT_BYTES + NONCE_LEN;

/// An operator's passphrase. Not `Clone`, not printable, wiped from memory when dropped.
pub struct Passphrase(Zeroizing<String>);

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// Why a text cannot be a passphrase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassphraseError {
    #[error("the passphrase is empty; type one (or put it in the passphrase file)")]
    Empty,
    #[error(
        "the passphrase is longer than {PASSPHRASE_BYTES_MAX} bytes; check that the right file was given"
    )]
    TooLong,
}

impl Passphrase {
    /// Takes `text` as it is (no trimming): empty and overlong texts are refused.
    pub fn new(text: String) -> Result<Self, PassphraseError> {
        let text = Zeroizing::new(text);
        if text.is_empty() {
            return Err(PassphraseError::Empty);
        }
        if text.len() > PASSPHRASE_BYTES_MAX {
            return Err(PassphraseError::TooLong);
        }
        Ok(Self(text))
    }

    /// A passphrase of [`RANDOM_PASSPHRASE_BYTES`] random bytes in hex, from the OS generator.
    pub fn random() -> Result<Self, SealError> {
        let bytes = random_array::<RANDOM_PASSPHRASE_BYTES>()?;
        Ok(Self(Zeroizing::new(hex::encode(bytes))))
    }

    /// The text, for writing it where the operator asked (e.g. a demo site's passphrase file).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its length in characters.
    pub fn chars(&self) -> usize {
        self.0.chars().count()
    }
}

/// Bytes that were sealed: not `Clone`, not printable, wiped from memory when dropped.
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the system random generator failed; check the operating system")]
    Random,
    #[error("the sealed data is damaged or was not made by this program ({0})")]
    Malformed(&'static str),
    #[error("the passphrase does not open it (wrong passphrase, or the file was altered)")]
    WrongPassphrase,
    #[error("the passphrase could not be stretched ({0}); the machine may be short of memory")]
    Stretch(String),
}

fn random_array<const N: usize>() -> Result<[u8; N], SealError> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| SealError::Random)?;
    Ok(out)
}

/// The most a sealed header may ask for.
const COST_MAX: Cost = Cost {
    memory_kib: ARGON2_MEMORY_KIB_MAX,
    iterations: ARGON2_ITERATIONS_MAX,
    lanes: ARGON2_LANES_MAX,
};

fn stretch_key(
    passphrase: &Passphrase,
    salt: &[u8],
    cost: &Cost,
) -> Result<LessSafeKey, SealError> {
    let key = stretch::argon2id(passphrase.expose().as_bytes(), salt, cost)
        .map_err(SealError::Stretch)?;
    let unbound = UnboundKey::new(&AES_256_GCM, key.as_ref())
        .map_err(|_| SealError::Stretch("AES-256-GCM key".into()))?;
    Ok(LessSafeKey::new(unbound))
}

/// Seals `plaintext` under `passphrase` with a fresh salt and nonce.
pub fn seal(passphrase: &Passphrase, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let cost = Cost {
        memory_kib: ARGON2_MEMORY_KIB,
        iterations: ARGON2_ITERATIONS,
        lanes: ARGON2_LANES,
    };
    let salt = random_array::<SALT_BYTES>()?;
    let nonce = random_array::<NONCE_LEN>()?;
    let mut out = Vec::with_capacity(HEADER_BYTES + plaintext.len() + TAG_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&cost.to_be_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    let key = stretch_key(passphrase, &salt, &cost)?;
    let mut body = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(&out[..]),
        &mut body,
    )
    .map_err(|_| SealError::Malformed("plaintext too long"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Opens what [`seal`] made, refusing a header that asks for more than the named maxima before
/// doing any work.
pub fn open(passphrase: &Passphrase, sealed: &[u8]) -> Result<SecretBytes, SealError> {
    if sealed.len() < HEADER_BYTES + TAG_BYTES {
        return Err(SealError::Malformed("too short"));
    }
    let (header, body) = sealed.split_at(HEADER_BYTES);
    let (magic, rest) = header.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(SealError::Malformed("unknown format"));
    }
    let (numbers, rest) = rest.split_at(3 * 4);
    let numbers: &[u8; 12] = numbers
        .try_into()
        .map_err(|_| SealError::Malformed("header"))?;
    let cost = Cost::from_be_bytes(numbers);
    if !cost.within(&COST_MAX) {
        return Err(SealError::Malformed("key-stretching cost out of range"));
    }
    let (salt, nonce) = rest.split_at(SALT_BYTES);
    let nonce =
        Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed("nonce"))?;
    let key = stretch_key(passphrase, salt, &cost)?;
    let mut body = Zeroizing::new(body.to_vec());
    let plain_len = key
        .open_in_place(nonce, Aad::from(header), body.as_mut_slice())
        .map_err(|_| SealError::WrongPassphrase)?
        .len();
    body.truncate(plain_len);
    Ok(SecretBytes(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(s.to_owned()).expect("passphrase")
    }

    #[test]
    fn seals_and_opens_and_a_wrong_passphrase_or_a_flipped_bit_fails() {
        let sealed = seal(&pass("correct horse battery"), b"the CA key").expect("seal");
        assert!(!sealed.windows(10).any(|w| w == b"the CA key"));
        let opened = open(&pass("correct horse battery"), &sealed).expect("open");
        assert_eq!(opened.expose(), b"the CA key");
        assert_eq!(
            open(&pass("correct horse batterY"), &sealed).expect_err("wrong"),
            SealError::WrongPassphrase
        );
        // A flipped bit in the salt (authenticated header) or the body.
        for i in [MAGIC.len() + 12, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(
                open(&pass("correct horse battery"), &bad).expect_err("altered"),
                SealError::WrongPassphrase
            );
        }
    }

    #[test]
    fn damaged_headers_are_refused_before_any_stretching() {
        let p = pass("x");
        assert!(matches!(open(&p, b"short"), Err(SealError::Malformed(_))));
        let mut sealed = seal(&p, b"k").expect("seal");
        // Ask for 4 TiB of memory.
        sealed[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            open(&p, &sealed).expect_err("refused"),
            SealError::Malformed("key-stretching cost out of range")
        );
        sealed[0] = b'X';
        assert_eq!(
            open(&p, &sealed).expect_err("refused"),
            SealError::Malformed("unknown format")
        );
    }

    #[test]
    fn passphrases_are_bounded_and_never_printed() {
        assert_eq!(
            Passphrase::new(String::new()).expect_err("empty"),
            PassphraseError::Empty
        );
        assert_eq!(
            Passphrase::new("x".repeat(PASSPHRASE_BYTES_MAX + 1)).expect_err("long"),
            PassphraseError::TooLong
        );
        let p = pass("hunter2 hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
        let r = Passphrase::random().expect("random");
        assert_eq!(r.chars(), 2 * RANDOM_PASSPHRASE_BYTES);
        assert_ne!(r.expose(), Passphrase::random().expect("random").expose());
        let s = open(&p, &seal(&p, b"secret").expect("seal")).expect("open");
        assert!(!format!("{s:?}").contains("secret"));
    }
}
