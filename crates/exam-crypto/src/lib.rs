//! `exam-crypto`: the platform's cryptography, on `ring`. So far: SHA-256 fingerprints used to
//! pin the site CA, and [`passphrase`]: secrets sealed at rest under an operator's passphrase
//! (Argon2id + AES-256-GCM), used for the site CA key. (Package signing, paper encryption and
//! result sealing come with their issues.)
//!
//! This crate must never do IO or depend on tokio; secrets it will hold must not be cloneable,
//! printable or serializable.

pub mod passphrase;

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
