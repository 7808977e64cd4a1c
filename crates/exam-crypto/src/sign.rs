//! Ed25519 signatures (RFC 8032, through `ring`): [`SigningKey`] (secret), [`PublicKey`]
//! (32 bytes, shown as 64 hex digits) and [`Signature`] (64 bytes).
//!
//! Domain separation: what a key signs for one purpose must never verify for another (a
//! package signature taken for a result signature). [`SigningKey::sign_with_context`] signs
//!
//! ```text
//! context (UTF-8, non-empty, no NUL byte) ‖ 0x00 ‖ message
//! ```
//!
//! and [`PublicKey::verify_with_context`] checks the same bytes. Since a context has no NUL, the
//! first NUL ends it, so a (context, message) pair has exactly one encoding: no message under one
//! context is the encoding of a message under another. Use the named contexts
//! ([`PACKAGE_CONTEXT`], [`RESULT_CONTEXT`]) or add one here. A key that signs with contexts
//! should never sign through the plain [`SigningKey::sign`], whose message could be made to look
//! like `context ‖ 0x00 ‖ …`.
//!
//! Stored at rest, a signing key is PKCS#8 v2 (RFC 5958, with its public key), as `ring` makes
//! and reads it; seal it with [`crate::passphrase`] before it reaches a disk.

use std::fmt;

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::CryptoError;

/// Bytes in a public key.
pub const PUBLIC_KEY_BYTES: usize = 32;
/// Bytes in a signature.
pub const SIGNATURE_BYTES: usize = 64;
/// Longest signing context, bytes.
pub const CONTEXT_BYTES_MAX: usize = 64;

/// The context for signing an exam package (papers, settings) at central.
pub const PACKAGE_CONTEXT: &str = "exam-package-v1";
/// The context for signing a site's results.
pub const RESULT_CONTEXT: &str = "exam-result-v1";

/// An Ed25519 signing key. Not `Clone`, prints as `<redacted>` (with its public key), and its
/// PKCS#8 bytes are wiped from memory when dropped.
pub struct SigningKey {
    pkcs8: Zeroizing<Vec<u8>>,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(<redacted>, public {})", self.public.to_hex())
    }
}

impl SigningKey {
    /// A new key from the operating system's random generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let rng = ring::rand::SystemRandom::new();
        let document = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| CryptoError::Random)?;
        Self::from_pkcs8(document.as_ref())
    }

    /// A key from PKCS#8 v2 bytes (as [`SigningKey::to_pkcs8`] gives them); the public key inside
    /// must match the private key.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|_| CryptoError::BadKey("not an Ed25519 PKCS#8 v2 key"))?;
        let public = PublicKey::from_bytes(pair.public_key().as_ref())?;
        Ok(Self {
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            public,
        })
    }

    /// The PKCS#8 v2 bytes, for storing at rest (sealed under a passphrase).
    pub fn to_pkcs8(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.pkcs8.to_vec())
    }

    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// Signs `msg` as it is. Prefer [`SigningKey::sign_with_context`].
    pub fn sign(&self, msg: &[u8]) -> Signature {
        // The bytes were accepted by `from_pkcs8` when the key was made; ring keeps no wipeable
        // copy, so the pair is rebuilt for each signature and dropped at once.
        match Ed25519KeyPair::from_pkcs8(&self.pkcs8) {
            Ok(pair) => {
                let mut out = [0u8; SIGNATURE_BYTES];
                out.copy_from_slice(pair.sign(msg).as_ref());
                Signature(out)
            }
            // Unreachable: the same bytes parsed in `from_pkcs8`. Should it happen, an all-zero
            // signature never verifies (its R has order 4; no key that ring made can match it),
            // so the failure shows at verification instead of passing for a good signature.
            Err(_) => Signature([0u8; SIGNATURE_BYTES]),
        }
    }

    /// Signs `context ‖ 0x00 ‖ msg` (see the module documentation). Refuses an empty context,
    /// one with a NUL byte, or one over [`CONTEXT_BYTES_MAX`].
    pub fn sign_with_context(
        &self,
        context: &'static str,
        msg: &[u8],
    ) -> Result<Signature, CryptoError> {
        Ok(self.sign(&with_context(context, msg)?))
    }
}

/// `context ‖ 0x00 ‖ msg`, after checking the context.
fn with_context(context: &'static str, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if context.is_empty() || context.len() > CONTEXT_BYTES_MAX || context.contains('\0') {
        return Err(CryptoError::InvalidArgument(
            "a signing context must be 1 to 64 bytes without a NUL",
        ));
    }
    let mut out = Vec::with_capacity(context.len() + 1 + msg.len());
    out.extend_from_slice(context.as_bytes());
    out.push(0);
    out.extend_from_slice(msg);
    Ok(out)
}

/// An Ed25519 public key: 32 bytes, shown and typed as 64 hex digits. Any 32 bytes are taken;
/// bytes that are not a point on the curve never verify.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; PUBLIC_KEY_BYTES]);

public_key_32!(PublicKey);

impl PublicKey {
    /// Checks a signature made by [`SigningKey::sign`].
    pub fn verify(&self, msg: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(msg, &signature.0)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Checks a signature made by [`SigningKey::sign_with_context`] with the same context.
    pub fn verify_with_context(
        &self,
        context: &'static str,
        msg: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        self.verify(&with_context(context, msg)?, signature)
    }
}

/// An Ed25519 signature: 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; SIGNATURE_BYTES]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

impl Signature {
    /// Exactly [`SIGNATURE_BYTES`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self(bytes.try_into().map_err(|_| {
            CryptoError::Malformed("a signature is 64 bytes")
        })?))
    }

    pub fn to_bytes(&self) -> [u8; SIGNATURE_BYTES] {
        self.0
    }

    pub fn as_bytes(&self) -> &[u8; SIGNATURE_BYTES] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        hex::decode_to_slice(s, &mut out).expect("hex");
        out
    }

    /// PKCS#8 v2 of an Ed25519 seed and its public key, as RFC 5958 lays it out (and ring
    /// writes it).
    fn pkcs8_v2(seed: &[u8; 32], public: &[u8; 32]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&unhex::<16>("3053020101300506032b657004220420"));
        out.extend_from_slice(seed);
        out.extend_from_slice(&unhex::<5>("a123032100"));
        out.extend_from_slice(public);
        out
    }

    #[test]
    fn rfc8032_test_vectors() {
        // RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte).
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ];
        for (seed, public, msg, sig) in cases {
            let key =
                SigningKey::from_pkcs8(&pkcs8_v2(&unhex(seed), &unhex(public))).expect("pkcs8");
            assert_eq!(key.public().to_hex(), public);
            let msg = hex::decode(msg).expect("hex");
            let signature = key.sign(&msg);
            assert_eq!(hex::encode(signature.to_bytes()), sig);
            key.public().verify(&msg, &signature).expect("verifies");
        }
    }

    #[test]
    fn a_mismatched_public_key_in_pkcs8_is_refused() {
        let seed = unhex::<32>("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let wrong = unhex::<32>("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
        assert!(matches!(
            SigningKey::from_pkcs8(&pkcs8_v2(&seed, &wrong)),
            Err(CryptoError::BadKey(_))
        ));
        assert!(matches!(
            SigningKey::from_pkcs8(b"not a key"),
            Err(CryptoError::BadKey(_))
        ));
    }

    #[test]
    fn generated_keys_round_trip_through_pkcs8_and_differ() {
        let key = SigningKey::generate().expect("generate");
        let again = SigningKey::from_pkcs8(&key.to_pkcs8()).expect("pkcs8");
        assert_eq!(again.public(), key.public());
        let sig = again.sign(b"hello");
        key.public().verify(b"hello", &sig).expect("verifies");
        // Ed25519 is deterministic: the same key signs the same message the same way.
        assert_eq!(sig, key.sign(b"hello"));
        assert_ne!(
            SigningKey::generate().expect("generate").public(),
            key.public()
        );
    }

    #[test]
    fn any_flipped_bit_of_signature_or_message_is_rejected() {
        let key = SigningKey::generate().expect("generate");
        let msg = b"the package manifest";
        let sig = key.sign(msg);
        for i in 0..SIGNATURE_BYTES {
            let mut bad = sig.to_bytes();
            bad[i] ^= 1 << (i % 8);
            let bad = Signature::from_bytes(&bad).expect("64 bytes");
            assert_eq!(
                key.public().verify(msg, &bad),
                Err(CryptoError::BadSignature),
                "byte {i}"
            );
        }
        for i in 0..msg.len() {
            let mut bad = msg.to_vec();
            bad[i] ^= 0x80;
            assert_eq!(
                key.public().verify(&bad, &sig),
                Err(CryptoError::BadSignature)
            );
        }
        let other = SigningKey::generate().expect("generate");
        assert_eq!(
            other.public().verify(msg, &sig),
            Err(CryptoError::BadSignature)
        );
        assert!(matches!(
            Signature::from_bytes(&[0u8; 63]),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn a_signature_for_one_context_never_verifies_for_another_or_without() {
        let key = SigningKey::generate().expect("generate");
        let public = key.public();
        let sig = key
            .sign_with_context(PACKAGE_CONTEXT, b"payload")
            .expect("sign");
        public
            .verify_with_context(PACKAGE_CONTEXT, b"payload", &sig)
            .expect("verifies");
        assert_eq!(
            public.verify_with_context(RESULT_CONTEXT, b"payload", &sig),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            public.verify(b"payload", &sig),
            Err(CryptoError::BadSignature)
        );
        // The signed bytes are exactly context ‖ 0 ‖ message.
        public
            .verify(b"exam-package-v1\0payload", &sig)
            .expect("documented layout");
        for bad in ["", "a\0b"] {
            assert!(matches!(
                key.sign_with_context(bad, b"x"),
                Err(CryptoError::InvalidArgument(_))
            ));
            assert!(matches!(
                public.verify_with_context(bad, b"x", &sig),
                Err(CryptoError::InvalidArgument(_))
            ));
        }
        let long: &'static str = Box::leak("x".repeat(CONTEXT_BYTES_MAX + 1).into_boxed_str());
        assert!(key.sign_with_context(long, b"x").is_err());
    }

    #[test]
    fn public_keys_show_as_hex_and_secrets_never_print() {
        let key = SigningKey::generate().expect("generate");
        let public = key.public();
        assert_eq!(PublicKey::from_hex(&public.to_hex()), Ok(public));
        assert_eq!(
            PublicKey::from_hex(&public.to_hex().to_uppercase()),
            Ok(public)
        );
        assert!(PublicKey::from_hex("abcd").is_err());
        assert!(PublicKey::from_bytes(&[0u8; 31]).is_err());
        assert_eq!(
            PublicKey::from_bytes(public.as_bytes()).expect("32 bytes"),
            public
        );
        assert_eq!(
            public.fingerprint(),
            crate::Fingerprint::of(public.as_bytes())
        );
        assert_eq!(
            format!("{public:?}"),
            format!("PublicKey({})", public.to_hex())
        );
        let shown = format!("{key:?}");
        assert!(shown.contains("<redacted>"));
        let pkcs8 = key.to_pkcs8();
        let seed_hex = hex::encode(&pkcs8[16..48]);
        assert!(!shown.contains(&seed_hex));
    }
}
