//! Results sealed to the authority: HPKE (RFC 9180) in base mode with
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-256-GCM (suite ids 0x0020, 0x0001, 0x0002),
//! through the `hpke` crate.
//!
//! Central keeps a [`RecipientKey`]; sites hold its [`RecipientPublic`] and [`seal_to`] it.
//! Each seal makes a fresh ephemeral key (its public half is [`Sealed::enc`]) and encrypts one
//! message (sequence number 0). `info` names the purpose and is bound into the key schedule;
//! `aad` is authenticated but not encrypted; [`open`] needs both again, byte for byte.
//! Plaintexts are at most [`SEALED_PLAINTEXT_BYTES_MAX`], checked on both sides.
//!
//! Layout of [`Sealed::to_bytes`]:
//!
//! ```text
//! enc [32] | ciphertext [same length as the plaintext] ‖ tag [16]
//! ```

use std::convert::Infallible;
use std::fmt;

use hpke::aead::{AeadTag, AesGcm256};
use hpke::inout::InOutBuf;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::rand_core::{CryptoRng, TryCryptoRng, TryRng};
use hpke::{Deserializable, HpkeError, Kem as _, OpModeR, OpModeS, Serializable};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::CryptoError;

type Kem = X25519HkdfSha256;
type Kdf = HkdfSha256;
type Aead = AesGcm256;
type PrivateKey = <Kem as hpke::Kem>::PrivateKey;
type EncappedKey = <Kem as hpke::Kem>::EncappedKey;

/// Bytes in a recipient key, secret or public (X25519).
pub const RECIPIENT_KEY_BYTES: usize = 32;
/// Bytes of the encapsulated key at the start of a sealed message.
pub const ENC_BYTES: usize = 32;
/// Bytes of the AEAD tag at the end of the ciphertext.
pub const TAG_BYTES: usize = 16;
/// Largest plaintext that may be sealed or opened: 40 MiB (a result with an attempt's every
/// change: up to 16 MiB of answers, twice over, and its bookkeeping).
pub const SEALED_PLAINTEXT_BYTES_MAX: usize = 40 * 1024 * 1024;

/// Central's secret key. Not `Clone`, prints as `<redacted>` (with its public key), wiped from
/// memory when dropped.
///
/// Any 32 bytes are a key: X25519 clamps them when used (RFC 7748), and [`RecipientKey::to_bytes`]
/// gives back the bytes exactly as they came.
pub struct RecipientKey {
    secret: Zeroizing<[u8; RECIPIENT_KEY_BYTES]>,
    public: RecipientPublic,
}

impl fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RecipientKey(<redacted>, public {})",
            self.public.to_hex()
        )
    }
}

impl RecipientKey {
    /// A new key from the operating system's random generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut secret = Zeroizing::new([0u8; RECIPIENT_KEY_BYTES]);
        *secret = crate::random_array()?;
        Self::from_secret(secret)
    }

    /// A key from its 32 bytes (as [`RecipientKey::to_bytes`] gave them).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut secret = Zeroizing::new([0u8; RECIPIENT_KEY_BYTES]);
        *secret = crate::key_array(bytes)?;
        Self::from_secret(secret)
    }

    fn from_secret(secret: Zeroizing<[u8; RECIPIENT_KEY_BYTES]>) -> Result<Self, CryptoError> {
        let private = hpke_private(&secret)?;
        let public = RecipientPublic::from_bytes(&Kem::sk_to_pk(&private).to_bytes())?;
        Ok(Self { secret, public })
    }

    /// The secret bytes, for storing at rest (sealed under a passphrase).
    pub fn to_bytes(&self) -> Zeroizing<[u8; RECIPIENT_KEY_BYTES]> {
        Zeroizing::new(*self.secret)
    }

    pub fn public(&self) -> RecipientPublic {
        self.public
    }
}

/// The hpke crate's key (zeroized on drop by x25519-dalek).
fn hpke_private(secret: &[u8; RECIPIENT_KEY_BYTES]) -> Result<PrivateKey, CryptoError> {
    PrivateKey::from_bytes(secret).map_err(|_| CryptoError::BadKey("X25519 secret key"))
}

/// Central's public key: 32 bytes, shown and typed as 64 hex digits. Any 32 bytes are taken; a
/// low-order point is refused when sealing to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecipientPublic([u8; RECIPIENT_KEY_BYTES]);

public_key_32!(RecipientPublic);

/// A sealed message: the encapsulated key and the ciphertext with its tag.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub enc: [u8; ENC_BYTES],
    /// Ciphertext ‖ tag: the plaintext's length plus [`TAG_BYTES`].
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Sealed(enc {}, {} bytes of ciphertext)",
            hex::encode(self.enc),
            self.ciphertext.len()
        )
    }
}

impl Sealed {
    /// `enc ‖ ciphertext ‖ tag`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENC_BYTES + self.ciphertext.len());
        out.extend_from_slice(&self.enc);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Reads what [`Sealed::to_bytes`] wrote, refusing what is too short for an `enc` and a tag
    /// or too long for [`SEALED_PLAINTEXT_BYTES_MAX`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() < ENC_BYTES + TAG_BYTES {
            return Err(CryptoError::Malformed(
                "sealed message shorter than its key and tag",
            ));
        }
        let (enc, ciphertext) = bytes.split_at(ENC_BYTES);
        crate::check_len(
            "the sealed message",
            ciphertext.len() - TAG_BYTES,
            SEALED_PLAINTEXT_BYTES_MAX,
        )?;
        Ok(Self {
            enc: crate::key_array(enc).map_err(|_| CryptoError::Malformed("enc"))?,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

/// The operating system's generator for the hpke crate, which wants an infallible one: a failure
/// is remembered, and the caller throws away what was made with it.
struct SystemRng {
    failed: bool,
}

impl TryRng for SystemRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if SystemRandom::new().fill(dst).is_err() {
            self.failed = true;
            dst.fill(0);
        }
        Ok(())
    }
}

impl TryCryptoRng for SystemRng {}

/// Seals `plaintext` (at most [`SEALED_PLAINTEXT_BYTES_MAX`]) to `recipient`, binding `info` and
/// `aad`, with a fresh ephemeral key from the operating system's generator.
pub fn seal_to(
    recipient: &RecipientPublic,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Sealed, CryptoError> {
    let mut rng = SystemRng { failed: false };
    let sealed = seal_with_rng(recipient, info, aad, plaintext, &mut rng);
    if rng.failed {
        return Err(CryptoError::Random);
    }
    sealed
}

fn seal_with_rng(
    recipient: &RecipientPublic,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut impl CryptoRng,
) -> Result<Sealed, CryptoError> {
    crate::check_len(
        "the plaintext to seal",
        plaintext.len(),
        SEALED_PLAINTEXT_BYTES_MAX,
    )?;
    let public = <Kem as hpke::Kem>::PublicKey::from_bytes(&recipient.0)
        .map_err(|_| CryptoError::BadKey("X25519 public key"))?;
    // Encrypted in place; wiped if sealing stops half way.
    let mut buffer = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_BYTES));
    buffer.extend_from_slice(plaintext);
    let (enc, tag) = hpke::single_shot_seal_inout_detached_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &public,
        info,
        InOutBuf::from(buffer.as_mut_slice()),
        aad,
        rng,
    )
    .map_err(|e| match e {
        HpkeError::EncapError => {
            CryptoError::BadKey("the recipient's public key is a low-order point")
        }
        _ => CryptoError::InvalidArgument("HPKE refused to seal these inputs"),
    })?;
    buffer.extend_from_slice(&tag.to_bytes());
    Ok(Sealed {
        enc: crate::key_array(&enc.to_bytes()).map_err(|_| CryptoError::Malformed("enc"))?,
        ciphertext: std::mem::take(&mut *buffer),
    })
}

/// Opens what [`seal_to`] sealed to `key`'s public key with the same `info` and `aad`. The
/// plaintext is wiped from memory when dropped.
pub fn open(
    key: &RecipientKey,
    info: &[u8],
    aad: &[u8],
    sealed: &Sealed,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let Some(body_len) = sealed.ciphertext.len().checked_sub(TAG_BYTES) else {
        return Err(CryptoError::Malformed("ciphertext shorter than its tag"));
    };
    crate::check_len("the sealed message", body_len, SEALED_PLAINTEXT_BYTES_MAX)?;
    let (body, tag) = sealed.ciphertext.split_at(body_len);
    let tag = AeadTag::<Aead>::from_bytes(tag).map_err(|_| CryptoError::Malformed("tag"))?;
    let enc = EncappedKey::from_bytes(&sealed.enc).map_err(|_| CryptoError::Malformed("enc"))?;
    let private = hpke_private(&key.secret)?;
    let mut buffer = Zeroizing::new(body.to_vec());
    hpke::single_shot_open_inout_detached::<Aead, Kdf, Kem>(
        &OpModeR::Base,
        &private,
        &enc,
        info,
        InOutBuf::from(buffer.as_mut_slice()),
        aad,
        &tag,
    )
    .map_err(|_| CryptoError::DecryptionFailed)?;
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    /// Gives exactly the 32 bytes it holds, once (the ephemeral key's input keying material).
    struct FixedIkm(Option<[u8; 32]>);

    impl TryRng for FixedIkm {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            panic!("hpke asked for a u32")
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            panic!("hpke asked for a u64")
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            dst.copy_from_slice(&self.0.take().expect("one request for the ikm"));
            Ok(())
        }
    }

    impl TryCryptoRng for FixedIkm {}

    // RFC 9180's published vectors for DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM,
    // base mode (the test-vectors.json the RFC points to, as carried by BoringSSL's
    // hpke_test_vectors.txt): the first encryption (sequence 0, what `seal_to` makes).
    const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
    const SK_RM: &str = "497b4502664cfea5d5af0b39934dac72242a74f8480451e1aee7d6a53320333d";
    const PK_RM: &str = "430f4b9859665145a6b1ba274024487bd66f03a2dd577d7753c68d7d7d00c00c";
    const SK_EM: &str = "179d4b53b6365c45b600c4163b61d95cbc2f4d9e36f1695558dce265ab8bab11";
    const PK_EM: &str = "6c93e09869df3402d7bf231bf540fadd35cd56be14f97178f0954db94b7fc256";
    const AAD_0: &str = "436f756e742d30";
    const CT_0: &str = "e5d84cd531cfb583096e7cfa9641bd3079cf3a91cda813c52deb5f512be9931980a41de125a925cdad859d5b7a";
    const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";

    #[test]
    fn opens_the_rfc9180_aes_256_gcm_vector() {
        let key = RecipientKey::from_bytes(&unhex(SK_RM)).expect("skRm");
        assert_eq!(key.public().to_hex(), PK_RM);
        assert_eq!(key.to_bytes().as_slice(), unhex(SK_RM).as_slice());
        let ephemeral = RecipientKey::from_bytes(&unhex(SK_EM)).expect("skEm");
        assert_eq!(ephemeral.public().to_hex(), PK_EM);
        let sealed = Sealed {
            enc: crate::key_array(&unhex(PK_EM)).expect("enc"),
            ciphertext: unhex(CT_0),
        };
        let plain = open(&key, &unhex(INFO), &unhex(AAD_0), &sealed).expect("open");
        assert_eq!(*plain, unhex(PT));
    }

    #[test]
    fn the_ephemeral_key_is_derived_as_rfc9180_says() {
        // RFC 9180 appendix A.1.1: DeriveKeyPair(ikmE) gives pkEm (the KEM is the same for our
        // suite; only the AEAD differs, so the ciphertext is ours to check by opening it).
        let ikm_e: [u8; 32] = crate::key_array(&unhex(
            "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
        ))
        .expect("ikmE");
        let sk_r = unhex("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8");
        let key = RecipientKey::from_bytes(&sk_r).expect("skRm");
        assert_eq!(
            key.public().to_hex(),
            "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d"
        );
        let sealed = seal_with_rng(
            &key.public(),
            &unhex(INFO),
            &unhex(AAD_0),
            &unhex(PT),
            &mut FixedIkm(Some(ikm_e)),
        )
        .expect("seal");
        assert_eq!(
            hex::encode(sealed.enc),
            "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431"
        );
        assert_eq!(sealed.ciphertext.len(), unhex(PT).len() + TAG_BYTES);
        let plain = open(&key, &unhex(INFO), &unhex(AAD_0), &sealed).expect("open");
        assert_eq!(*plain, unhex(PT));
    }

    #[test]
    fn round_trip_with_fresh_ephemeral_keys() {
        let key = RecipientKey::generate().expect("key");
        let a = seal_to(&key.public(), b"exam-results-v1", b"site 7", b"answers").expect("seal");
        let b = seal_to(&key.public(), b"exam-results-v1", b"site 7", b"answers").expect("seal");
        assert_ne!(a.enc, b.enc);
        assert_ne!(a.ciphertext, b.ciphertext);
        for s in [&a, &b] {
            assert_eq!(
                open(&key, b"exam-results-v1", b"site 7", s)
                    .expect("open")
                    .as_slice(),
                b"answers"
            );
        }
        let empty = seal_to(&key.public(), b"", b"", b"").expect("seal");
        assert!(open(&key, b"", b"", &empty).expect("open").is_empty());
        let again = RecipientKey::from_bytes(key.to_bytes().as_slice()).expect("bytes");
        assert_eq!(again.public(), key.public());
        assert_eq!(Sealed::from_bytes(&a.to_bytes()), Ok(a.clone()));
    }

    #[test]
    fn wrong_key_info_aad_or_any_flipped_bit_is_rejected() {
        let key = RecipientKey::generate().expect("key");
        let (info, aad) = (
            b"exam-results-v1".as_slice(),
            b"site 7 session 3".as_slice(),
        );
        let sealed = seal_to(&key.public(), info, aad, b"the results").expect("seal");
        let fails = |k: &RecipientKey, i: &[u8], a: &[u8], s: &Sealed| {
            assert_eq!(open(k, i, a, s), Err(CryptoError::DecryptionFailed));
        };
        fails(&RecipientKey::generate().expect("key"), info, aad, &sealed);
        fails(&key, b"exam-results-v2", aad, &sealed);
        fails(&key, info, b"site 7 session 4", &sealed);
        for i in 0..ENC_BYTES {
            for bit in [i % 8, 7] {
                let mut bad = sealed.clone();
                bad.enc[i] ^= 1 << bit;
                fails(&key, info, aad, &bad);
            }
        }
        for i in 0..sealed.ciphertext.len() {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= 1 << (i % 8);
            fails(&key, info, aad, &bad);
        }
        for i in 0..aad.len() {
            let mut bad = aad.to_vec();
            bad[i] ^= 1 << (i % 8);
            fails(&key, info, &bad, &sealed);
        }
        for i in 0..info.len() {
            let mut bad = info.to_vec();
            bad[i] ^= 1 << (i % 8);
            fails(&key, &bad, aad, &sealed);
        }
        let mut short = sealed.clone();
        short.ciphertext.truncate(TAG_BYTES - 1);
        assert!(matches!(
            open(&key, info, aad, &short),
            Err(CryptoError::Malformed(_))
        ));
        assert!(matches!(
            Sealed::from_bytes(&sealed.to_bytes()[..ENC_BYTES + TAG_BYTES - 1]),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn sizes_over_the_limit_and_low_order_keys_are_refused() {
        let key = RecipientKey::generate().expect("key");
        let big = vec![0u8; SEALED_PLAINTEXT_BYTES_MAX + 1];
        assert!(matches!(
            seal_to(&key.public(), b"", b"", &big),
            Err(CryptoError::TooLarge { .. })
        ));
        let sealed = Sealed {
            enc: [9; ENC_BYTES],
            ciphertext: vec![0u8; SEALED_PLAINTEXT_BYTES_MAX + TAG_BYTES + 1],
        };
        assert!(matches!(
            open(&key, b"", b"", &sealed),
            Err(CryptoError::TooLarge { .. })
        ));
        assert!(matches!(
            Sealed::from_bytes(&sealed.to_bytes()),
            Err(CryptoError::TooLarge { .. })
        ));
        // The all-zero point has order 1: the shared secret would be zero.
        let zero = RecipientPublic::from_bytes(&[0u8; 32]).expect("32 bytes");
        assert!(matches!(
            seal_to(&zero, b"", b"", b"x"),
            Err(CryptoError::BadKey(_))
        ));
    }

    #[test]
    fn keys_show_as_hex_and_secrets_never_print() {
        let key = RecipientKey::from_bytes(&[0x5a; 32]).expect("key");
        let public = key.public();
        assert_eq!(RecipientPublic::from_hex(&public.to_hex()), Ok(public));
        assert!(RecipientPublic::from_hex("00").is_err());
        assert!(RecipientKey::from_bytes(&[0u8; 31]).is_err());
        assert_eq!(
            public.fingerprint(),
            crate::Fingerprint::of(public.as_bytes())
        );
        let shown = format!("{key:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains("5a5a"));
        assert_eq!(
            format!("{public:?}"),
            format!("RecipientPublic({})", public.to_hex())
        );
    }
}
