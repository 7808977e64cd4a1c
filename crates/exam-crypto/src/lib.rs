//! `exam-crypto`: the platform's cryptography, on `ring` (and the `hpke` crate for RFC 9180).
//!
//! It provides:
//! - [`Fingerprint`]: SHA-256 fingerprints, used to pin the site CA and to show keys;
//! - [`passphrase`]: secrets sealed at rest under an operator's passphrase (Argon2id +
//!   AES-256-GCM), used for the site CA key;
//! - [`sign`]: Ed25519 signing keys, public keys and signatures, with domain-separated
//!   signing contexts so that a package signature can never be taken for a result signature;
//! - [`paper`]: a paper's AES-256-GCM key and its sealed content (`nonce ‖ ciphertext ‖ tag`);
//! - [`release_code`]: the 26-character code read over the phone that unwraps a paper key,
//!   stretched with Argon2id and bound to one session;
//! - [`seal`]: results sealed to the authority's public key with HPKE (RFC 9180, base mode,
//!   X25519-HKDF-SHA256 / HKDF-SHA256 / AES-256-GCM);
//! - [`chain`]: a SHA-256 hash chain over a sequence of entries;
//! - [`CryptoError`]: what went wrong in any of the above (the passphrase module keeps its own
//!   [`passphrase::SealError`]).
//!
//! What it must never do: IO of any kind (files, network, clocks: callers pass bytes in and take
//! bytes out), depend on tokio, or let a secret out by accident. Secret types
//! ([`sign::SigningKey`], [`paper::PaperKey`], [`release_code::ReleaseCode`],
//! [`seal::RecipientKey`], [`passphrase::Passphrase`]) are not `Clone`, print as `<redacted>`,
//! are not serializable, and keep their bytes in memory that is wiped when dropped. (`ring`
//! does not wipe the expanded keys it builds for one operation; that is `ring`'s limit.) Every
//! size limit is a named constant, checked before any work.

/// What a 32-byte public key newtype shows of itself: its bytes, 64 hex digits (lower-case out,
/// either case in) and a SHA-256 fingerprint for comparing keys by eye.
macro_rules! public_key_32 {
    ($name:ident) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_hex())
            }
        }

        impl $name {
            /// Exactly 32 bytes.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, $crate::CryptoError> {
                Ok(Self($crate::key_array(bytes)?))
            }

            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// 64 lower-case hex digits.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Reads 64 hex digits, either case.
            pub fn from_hex(text: &str) -> Result<Self, $crate::CryptoError> {
                Ok(Self($crate::hex_array(text)?))
            }

            /// SHA-256 of the 32 bytes.
            pub fn fingerprint(&self) -> $crate::Fingerprint {
                $crate::Fingerprint::of(&self.0)
            }
        }
    };
}

pub mod chain;
pub mod paper;
pub mod passphrase;
pub mod release_code;
pub mod seal;
pub mod sign;
mod stretch;

use std::fmt;
use std::str::FromStr;

/// A SHA-256 fingerprint, shown and typed as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "“{0}” is not a fingerprint: expected 64 hex digits (colons and spaces allowed), as printed by `site-server fingerprint`"
)]
pub struct FingerprintError(String);

impl Fingerprint {
    /// The fingerprint of some bytes (e.g. a certificate in DER).
    pub fn of(bytes: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Self(out)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    /// Accepts upper or lower case, with `:` or spaces between bytes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let cleaned: String = s
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .collect();
        let mut out = [0u8; 32];
        match hex::decode_to_slice(cleaned.trim(), &mut out) {
            Ok(()) => Ok(Self(out)),
            Err(_) => Err(FingerprintError(s.chars().take(100).collect())),
        }
    }
}

/// What went wrong in [`sign`], [`paper`], [`release_code`], [`seal`] or [`chain`]. Each
/// message says what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Key bytes that cannot be a key of the expected kind (wrong length, not hex, not PKCS#8).
    #[error("the key is not valid ({0}); check that the right key file or text was given")]
    BadKey(&'static str),
    /// A signature that does not verify (or cannot be a signature at all).
    #[error(
        "the signature does not match: the data was altered, or it was signed by another key or for another purpose; do not use the data"
    )]
    BadSignature,
    /// AEAD or HPKE opening failed.
    #[error(
        "decryption failed: the data was altered or damaged, or the wrong key was used; fetch the data again or check the key"
    )]
    DecryptionFailed,
    /// The release code does not unwrap this paper key.
    #[error(
        "the release code does not unlock this paper: check the code with the authority (a mistyped code, or a code for another session)"
    )]
    WrongReleaseCode,
    /// A typed release code that cannot be one.
    #[error(
        "a release code has {expected} letters and digits (dashes and spaces do not count); {found}: read it again",
        expected = release_code::RELEASE_CODE_CHARS
    )]
    BadReleaseCode { found: String },
    /// Stored or received bytes that this program did not make, or that were damaged.
    #[error("the data is damaged or was not made by this program ({0}); fetch it again")]
    Malformed(&'static str),
    /// An input over one of the named limits.
    #[error("{what} is {len} bytes, over the limit of {max} bytes; split it or check the input")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// An argument the calling program should never pass (a bug, not a user's mistake).
    #[error("invalid argument: {0}; this is a bug in the calling program")]
    InvalidArgument(&'static str),
    /// The operating system's random generator failed.
    #[error("the system random generator failed; check the operating system")]
    Random,
    /// Argon2 refused the parameters or could not get its memory.
    #[error("the release code could not be stretched ({0}); the machine may be short of memory")]
    Stretch(String),
}

/// `N` random bytes from the operating system.
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// Checks that `len` is at most `max`.
pub(crate) fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), CryptoError> {
    if len > max {
        return Err(CryptoError::TooLarge { what, len, max });
    }
    Ok(())
}

/// Reads exactly 32 bytes of a key from a slice.
pub(crate) fn key_array(bytes: &[u8]) -> Result<[u8; 32], CryptoError> {
    bytes
        .try_into()
        .map_err(|_| CryptoError::BadKey("expected 32 bytes"))
}

/// Reads 64 hex digits (either case) as 32 bytes.
pub(crate) fn hex_array(text: &str) -> Result<[u8; 32], CryptoError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out)
        .map_err(|_| CryptoError::BadKey("expected 64 hex digits"))?;
    Ok(out)
}

/// 64 random bits from the operating system (for attempt seeds and ids), or an error if the
/// system's generator fails.
pub fn random_u64() -> Result<u64, ring::error::Unspecified> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; 8];
    SystemRandom::new().fill(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answer_and_round_trip() {
        let fp = Fingerprint::of(b"abc");
        assert_eq!(
            fp.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(fp.to_string().parse::<Fingerprint>(), Ok(fp));
        let colons = "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD";
        assert_eq!(colons.parse::<Fingerprint>(), Ok(fp));
        assert!("abc".parse::<Fingerprint>().is_err());
        assert!(format!("{fp}0").parse::<Fingerprint>().is_err());
    }
}
