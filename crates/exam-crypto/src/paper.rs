//! A paper's content encryption: a [`PaperKey`] (32 random bytes, AES-256-GCM) seals the paper
//! with a fresh random nonce each time.
//!
//! Sealed layout:
//!
//! ```text
//! nonce [12] | ciphertext [same length as the plaintext] | tag [16]
//! ```
//!
//! The associated data (`aad`) is not stored: the caller passes the same bytes to
//! [`PaperKey::open`] (e.g. the session and paper ids), so content moved to another session or
//! paper does not open. Plaintexts are at most [`PAPER_BYTES_MAX`], checked on both sides.
//! Random 96-bit nonces are safe for far more seals per key than a paper will see (NIST SP
//! 800-38D allows 2^32).

use std::fmt;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::CryptoError;

/// Bytes in a paper key (an AES-256 key).
pub const PAPER_KEY_BYTES: usize = 32;
/// Bytes of the nonce at the start of sealed content.
pub const NONCE_BYTES: usize = NONCE_LEN;
/// Bytes of the tag at the end of sealed content.
pub const TAG_BYTES: usize = 16;
/// Sealed content is this much longer than its plaintext.
pub const SEALED_OVERHEAD_BYTES: usize = NONCE_BYTES + TAG_BYTES;
/// Largest paper plaintext: 256 MiB.
pub const PAPER_BYTES_MAX: usize = 256 * 1024 * 1024;

/// A paper's AES-256-GCM key. Not `Clone`, prints as `<redacted>`, wiped from memory when
/// dropped.
pub struct PaperKey(Zeroizing<[u8; PAPER_KEY_BYTES]>);

impl fmt::Debug for PaperKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PaperKey(<redacted>)")
    }
}

impl PaperKey {
    /// A new key from the operating system's random generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = Zeroizing::new([0u8; PAPER_KEY_BYTES]);
        *key = crate::random_array()?;
        Ok(Self(key))
    }

    /// A key from its bytes (as unwrapped from a release-code blob). The caller's copy is theirs
    /// to wipe.
    pub fn from_bytes(bytes: [u8; PAPER_KEY_BYTES]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw key, only for wrapping it (see [`crate::release_code::wrap_paper_key`]); never
    /// print or store it as it is.
    pub fn expose_bytes(&self) -> &[u8; PAPER_KEY_BYTES] {
        &self.0
    }

    fn aead(&self) -> Result<LessSafeKey, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, self.0.as_ref())
            .map_err(|_| CryptoError::BadKey("AES-256-GCM key"))?;
        Ok(LessSafeKey::new(unbound))
    }

    /// Seals `plaintext` (at most [`PAPER_BYTES_MAX`]) with a fresh random nonce, binding `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        crate::check_len("the paper", plaintext.len(), PAPER_BYTES_MAX)?;
        let nonce = crate::random_array::<NONCE_BYTES>()?;
        self.seal_with_nonce(nonce, aad, plaintext)
    }

    fn seal_with_nonce(
        &self,
        nonce: [u8; NONCE_BYTES],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(plaintext.len() + SEALED_OVERHEAD_BYTES);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .aead()?
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[NONCE_BYTES..],
            )
            .map_err(|_| CryptoError::TooLarge {
                what: "the paper",
                len: plaintext.len(),
                max: PAPER_BYTES_MAX,
            })?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens what [`PaperKey::seal`] made with the same `aad`. The plaintext is wiped from memory
    /// when dropped.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let Some(body_len) = sealed.len().checked_sub(SEALED_OVERHEAD_BYTES) else {
            return Err(CryptoError::Malformed(
                "sealed paper shorter than its nonce and tag",
            ));
        };
        crate::check_len("the sealed paper", body_len, PAPER_BYTES_MAX)?;
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Malformed("nonce"))?;
        let mut buffer = Zeroizing::new(body.to_vec());
        let plain_len = self
            .aead()?
            .open_in_place(nonce, Aad::from(aad), buffer.as_mut_slice())
            .map_err(|_| CryptoError::DecryptionFailed)?
            .len();
        buffer.truncate(plain_len);
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_256_gcm_known_answer() {
        // The GCM specification (McGrew & Viega), test case 16: AES-256, 96-bit IV, with AAD.
        let mut k = [0u8; 32];
        hex::decode_to_slice(
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            &mut k,
        )
        .expect("hex");
        let key = PaperKey::from_bytes(k);
        let mut nonce = [0u8; 12];
        hex::decode_to_slice("cafebabefacedbaddecaf888", &mut nonce).expect("hex");
        let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").expect("hex");
        let plain = hex::decode(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        )
        .expect("hex");
        let sealed = key.seal_with_nonce(nonce, &aad, &plain).expect("seal");
        assert_eq!(
            hex::encode(&sealed),
            "cafebabefacedbaddecaf888\
             522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
             76fc6ece0f4e1768cddf8853bb2d551b"
        );
        assert_eq!(*key.open(&aad, &sealed).expect("open"), plain);
    }

    #[test]
    fn seals_with_fresh_nonces_and_opens() {
        let key = PaperKey::generate().expect("key");
        let a = key
            .seal(b"session 1 paper 2", b"question one")
            .expect("seal");
        let b = key
            .seal(b"session 1 paper 2", b"question one")
            .expect("seal");
        assert_ne!(a[..NONCE_BYTES], b[..NONCE_BYTES]);
        assert_eq!(a.len(), b"question one".len() + SEALED_OVERHEAD_BYTES);
        assert!(!a.windows(8).any(|w| w == b"question"));
        assert_eq!(
            key.open(b"session 1 paper 2", &a).expect("open").as_slice(),
            b"question one"
        );
        let empty = key.seal(b"", b"").expect("seal");
        assert!(key.open(b"", &empty).expect("open").is_empty());
        assert_ne!(
            PaperKey::generate().expect("key").expose_bytes(),
            key.expose_bytes()
        );
    }

    #[test]
    fn a_flipped_bit_anywhere_a_wrong_aad_or_a_wrong_key_is_rejected() {
        let key = PaperKey::generate().expect("key");
        let aad = b"session 1 paper 2";
        let sealed = key.seal(aad, b"the paper").expect("seal");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1 << (i % 8);
            assert_eq!(
                key.open(aad, &bad),
                Err(CryptoError::DecryptionFailed),
                "byte {i}"
            );
        }
        for i in 0..aad.len() {
            let mut bad = aad.to_vec();
            bad[i] ^= 1;
            assert_eq!(key.open(&bad, &sealed), Err(CryptoError::DecryptionFailed));
        }
        assert_eq!(
            key.open(b"session 1 paper 3", &sealed),
            Err(CryptoError::DecryptionFailed)
        );
        let other = PaperKey::generate().expect("key");
        assert_eq!(other.open(aad, &sealed), Err(CryptoError::DecryptionFailed));
        assert!(matches!(
            key.open(aad, &sealed[..SEALED_OVERHEAD_BYTES - 1]),
            Err(CryptoError::Malformed(_))
        ));
        assert_eq!(
            key.open(aad, &sealed[..sealed.len() - 1]),
            Err(CryptoError::DecryptionFailed)
        );
    }

    #[test]
    fn sizes_over_the_limit_are_refused_before_any_work() {
        let key = PaperKey::generate().expect("key");
        // Zero pages: the allocation is not touched, so this stays cheap.
        let big = vec![0u8; PAPER_BYTES_MAX + 1];
        assert_eq!(
            key.seal(b"", &big),
            Err(CryptoError::TooLarge {
                what: "the paper",
                len: PAPER_BYTES_MAX + 1,
                max: PAPER_BYTES_MAX
            })
        );
        let big_sealed = vec![0u8; PAPER_BYTES_MAX + SEALED_OVERHEAD_BYTES + 1];
        assert!(matches!(
            key.open(b"", &big_sealed),
            Err(CryptoError::TooLarge { .. })
        ));
        let msg = CryptoError::TooLarge {
            what: "the paper",
            len: PAPER_BYTES_MAX + 1,
            max: PAPER_BYTES_MAX,
        }
        .to_string();
        assert!(msg.contains("268435456"), "{msg}");
    }

    #[test]
    fn the_key_never_prints() {
        let key = PaperKey::from_bytes([0xab; 32]);
        let shown = format!("{key:?}");
        assert_eq!(shown, "PaperKey(<redacted>)");
        assert!(!shown.to_lowercase().contains("abab"));
    }
}
