//! The site's TLS identity: a site CA that candidate machines pin by fingerprint, and a
//! short-lived server certificate it signs.
//!
//! What the running server reads, in the data directory (written atomically, mode `0600`):
//!
//! - `site-ca.crt.pem`: the CA certificate (public; its SHA-256 is what clients pin);
//! - `server.pem`: the server certificate and its private key, in one file so a renewal replaces
//!   both at once.
//!
//! The CA private key is used only to issue ("the CA step": creating a site, renewing the server
//! certificate) and is kept apart, sealed under an operator's passphrase (Argon2id + AES-256-GCM,
//! [`exam_crypto::passphrase`]): `site-ca.key.enc` in the CA directory, by default
//! `<data>/ca` (mode `0700`), which can live on a USB stick kept offline. Renewals keep the CA,
//! so the fingerprint clients pin never changes.
//!
//! A damaged or partial identity is reported, never regenerated. A data directory of the earlier
//! layout (the CA key in plaintext beside the server key) is refused until
//! [`secure_legacy_ca`] has sealed its key.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use exam_crypto::Fingerprint;
use exam_crypto::passphrase::{self, Passphrase, SealError};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject};
use zeroize::Zeroizing;

use crate::SITE_SERVER_NAME;

/// The CA certificate, in the data directory.
pub const CA_CERT_FILE: &str = "site-ca.crt.pem";
/// The server certificate followed by its private key, in the data directory.
pub const SERVER_FILE: &str = "server.pem";
/// The default CA directory, inside the data directory.
pub const CA_DIR: &str = "ca";
/// The sealed CA private key, in the CA directory.
pub const CA_KEY_FILE: &str = "site-ca.key.enc";
/// The earlier layout's plaintext CA key, in the data directory.
pub const LEGACY_CA_KEY_FILE: &str = "site-ca.key.pem";
/// The earlier layout's server certificate and key, in the data directory.
const LEGACY_SERVER_FILES: [&str; 2] = ["server.crt.pem", "server.key.pem"];

const DAY: Duration = Duration::from_secs(86_400);
/// How long a new server certificate is valid.
pub const SERVER_CERT_VALIDITY: Duration = Duration::from_secs(30 * 86_400);
/// A new server certificate is valid from this long before it is issued, so a candidate machine
/// whose clock is somewhat behind the server's accepts it.
pub const SERVER_CERT_BACKDATE: Duration = DAY;
/// A server certificate with less than this left is due for renewal.
pub const RENEW_BEFORE: Duration = Duration::from_secs(10 * 86_400);
/// How often a running server should call [`renewal_due`].
pub const RENEWAL_CHECK_INTERVAL: Duration = Duration::from_secs(3_600);
/// Largest identity file read (certificates and keys are a few hundred bytes).
pub const IDENTITY_FILE_BYTES_MAX: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("could not read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Private(#[from] exam_fs::PrivateFsError),
    #[error(
        "{path} is damaged or not a certificate/key this site made ({why}); restore it from backup — deleting it would give the site a new identity that no client trusts"
    )]
    Corrupt { path: PathBuf, why: String },
    #[error(
        "the data directory has only part of the site identity ({missing} is missing); restore it from backup"
    )]
    Partial { missing: PathBuf },
    #[error(
        "no site identity in {dir}: make the site there first (`site-server demo --data {dir}` for a demo) or restore its data directory from backup"
    )]
    Missing { dir: PathBuf },
    #[error(
        "{path} exists already: a site identity is never overwritten; choose an empty directory"
    )]
    Exists { path: PathBuf },
    #[error(
        "{path} holds the site CA private key unencrypted (made by an earlier site-server); run `site-server secure-ca --data {dir}` once to seal it under a passphrase — the server does not start until then",
        dir = path.parent().unwrap_or(Path::new(".")).display()
    )]
    PlaintextCaKey { path: PathBuf },
    #[error(
        "the site CA key is not in {dir}: give the CA directory (e.g. the USB stick holding {CA_KEY_FILE}) with --ca-dir"
    )]
    NoCaKey { dir: PathBuf },
    #[error(
        "the passphrase does not open {path}: check it (it is case-sensitive) and that this is the site's own CA directory"
    )]
    WrongPassphrase { path: PathBuf },
    #[error(
        "{path} is the key of another CA, not of this site's CA ({fingerprint}); use the CA directory that belongs to this site"
    )]
    CaKeyMismatch {
        path: PathBuf,
        fingerprint: Fingerprint,
    },
    #[error(
        "the site CA in {dir} changed (was {was}, now {now}); candidate machines pin the old one: restore the site's own CA certificate"
    )]
    CaChanged {
        dir: PathBuf,
        was: Fingerprint,
        now: Fingerprint,
    },
    #[error("could not seal or open {path}: {source}")]
    Seal { path: PathBuf, source: SealError },
    #[error("could not create the site certificates: {0}")]
    Generate(#[from] rcgen::Error),
}

/// What the running server needs: the CA certificate, the server certificate it signed and the
/// server key. (Never the CA key.)
pub struct SiteIdentity {
    pub ca_cert: CertificateDer<'static>,
    pub server_cert: CertificateDer<'static>,
    server_key: PrivatePkcs8KeyDer<'static>,
    server_not_after: SystemTime,
}

impl std::fmt::Debug for SiteIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteIdentity")
            .field("ca_fingerprint", &self.fingerprint())
            .field("server_not_after", &self.server_not_after)
            .finish_non_exhaustive()
    }
}

/// Where a CA directory is by default: `<data>/ca`.
pub fn default_ca_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(CA_DIR)
}

impl SiteIdentity {
    /// Makes a new site identity: a CA whose key is sealed under `passphrase` in `ca_dir`
    /// (created `0700`), its certificate and a server certificate valid from `now` in `data_dir`.
    /// Refuses to overwrite any identity file.
    pub fn create(
        data_dir: &Path,
        ca_dir: &Path,
        site_name: &str,
        passphrase: &Passphrase,
        now: SystemTime,
    ) -> Result<Self, IdentityError> {
        let ca_key_path = ca_dir.join(CA_KEY_FILE);
        for path in [
            data_dir.join(CA_CERT_FILE),
            data_dir.join(SERVER_FILE),
            data_dir.join(LEGACY_CA_KEY_FILE),
            ca_key_path.clone(),
        ] {
            if path.exists() {
                return Err(IdentityError::Exists { path });
            }
        }
        exam_fs::ensure_private_dir(data_dir)?;
        exam_fs::ensure_private_dir(ca_dir)?;
        let (ca, ca_pem) = SiteCa::generate_with_pem(site_name)?;
        // The key first: a CA certificate is never left without its key.
        ca.seal_into(&ca_key_path, passphrase)?;
        exam_fs::write_private_atomic(&data_dir.join(CA_CERT_FILE), ca_pem.as_bytes())?;
        ca.renew(data_dir, now)
    }

    /// Loads the identity the server serves with from `data_dir`: the CA certificate, the server
    /// certificate and its key, checked to belong together. Never reads the CA key; refuses a
    /// directory that still holds it in plaintext.
    pub fn load(data_dir: &Path) -> Result<Self, IdentityError> {
        let legacy = data_dir.join(LEGACY_CA_KEY_FILE);
        if legacy.exists() {
            return Err(IdentityError::PlaintextCaKey { path: legacy });
        }
        let ca_path = data_dir.join(CA_CERT_FILE);
        let server_path = data_dir.join(SERVER_FILE);
        match (ca_path.exists(), server_path.exists()) {
            (false, false) => {
                return Err(IdentityError::Missing {
                    dir: data_dir.to_path_buf(),
                });
            }
            (false, true) => return Err(IdentityError::Partial { missing: ca_path }),
            (true, false) => {
                return Err(IdentityError::Partial {
                    missing: server_path,
                });
            }
            (true, true) => {}
        }
        let ca_pem = read_bounded(&ca_path)?;
        let ca_cert = CertificateDer::from_pem_slice(&ca_pem).map_err(|e| corrupt(&ca_path, e))?;
        let server_pem = Zeroizing::new(read_bounded(&server_path)?);
        let server_cert =
            CertificateDer::from_pem_slice(&server_pem).map_err(|e| corrupt(&server_path, e))?;
        let server_key = PrivatePkcs8KeyDer::from_pem_slice(&server_pem)
            .map_err(|e| corrupt(&server_path, e))?;
        Self::checked(ca_cert, server_cert, server_key, &ca_path, &server_path)
    }

    /// Loads the identity again from `data_dir` (e.g. after `renew-cert` wrote a new server
    /// certificate), refusing one whose CA is not this identity's: clients pin it.
    pub fn reload(&self, data_dir: &Path) -> Result<Self, IdentityError> {
        let new = Self::load(data_dir)?;
        if new.fingerprint() != self.fingerprint() {
            return Err(IdentityError::CaChanged {
                dir: data_dir.to_path_buf(),
                was: self.fingerprint(),
                now: new.fingerprint(),
            });
        }
        Ok(new)
    }

    /// A fresh identity in memory, for tests and throw-away servers.
    pub fn generate(site_name: &str) -> Result<Self, IdentityError> {
        SiteCa::generate(site_name)?.issue(SystemTime::now())
    }

    fn checked(
        ca_cert: CertificateDer<'static>,
        server_cert: CertificateDer<'static>,
        server_key: PrivatePkcs8KeyDer<'static>,
        ca_path: &Path,
        server_path: &Path,
    ) -> Result<Self, IdentityError> {
        let (_, ca) =
            x509_parser::parse_x509_certificate(&ca_cert).map_err(|e| corrupt(ca_path, e))?;
        let (_, server) = x509_parser::parse_x509_certificate(&server_cert)
            .map_err(|e| corrupt(server_path, e))?;
        server
            .verify_signature(Some(ca.public_key()))
            .map_err(|e| {
                corrupt(
                    server_path,
                    format!("the server certificate was not issued by this site's CA: {e}"),
                )
            })?;
        let key = KeyPair::try_from(&server_key).map_err(|e| corrupt(server_path, e))?;
        if key.public_key_raw() != server.public_key().subject_public_key.data.as_ref() {
            return Err(corrupt(
                server_path,
                "the server key does not belong to the server certificate",
            ));
        }
        let server_not_after = unix_to_system(server.validity().not_after.timestamp());
        Ok(Self {
            ca_cert,
            server_cert,
            server_key,
            server_not_after,
        })
    }

    /// The SHA-256 fingerprint of the CA certificate: what clients pin.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.ca_cert)
    }

    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.server_key.clone_key())
    }

    /// When the server certificate stops being accepted.
    pub fn server_not_after(&self) -> SystemTime {
        self.server_not_after
    }
}

/// How soon the server certificate needs renewing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalState {
    /// More than [`RENEW_BEFORE`] left.
    Valid { expires_in: Duration },
    /// Less than [`RENEW_BEFORE`] left: renew now; clients still accept it.
    Soon { expires_in: Duration },
    /// Expired: clients refuse the server until it is renewed.
    Expired { since: Duration },
}

/// Whether `identity`'s server certificate is due for renewal at `now`.
pub fn renewal_due(identity: &SiteIdentity, now: SystemTime) -> RenewalState {
    match identity.server_not_after.duration_since(now) {
        Ok(left) if left > RENEW_BEFORE => RenewalState::Valid { expires_in: left },
        Ok(left) if !left.is_zero() => RenewalState::Soon { expires_in: left },
        Ok(_) => RenewalState::Expired {
            since: Duration::ZERO,
        },
        Err(past) => RenewalState::Expired {
            since: past.duration(),
        },
    }
}

/// The site CA with its key unlocked: used only to issue server certificates, then dropped.
/// Not `Clone`; its `Debug` shows the fingerprint only.
pub struct SiteCa {
    cert: CertificateDer<'static>,
    key: KeyPair,
}

impl std::fmt::Debug for SiteCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteCa")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl SiteCa {
    /// A new CA in memory. Its certificate has rcgen's long default validity: clients pin it by
    /// fingerprint, and it must outlive every server certificate it signs.
    pub fn generate(site_name: &str) -> Result<Self, IdentityError> {
        Ok(Self::generate_with_pem(site_name)?.0)
    }

    fn generate_with_pem(site_name: &str) -> Result<(Self, String), IdentityError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{site_name}{CA_CN_SUFFIX}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        Ok((
            Self {
                cert: cert.der().clone(),
                key,
            },
            cert.pem(),
        ))
    }

    /// Unlocks the CA of the site in `data_dir` with its key sealed in `ca_dir`.
    pub fn unlock(
        data_dir: &Path,
        ca_dir: &Path,
        passphrase: &Passphrase,
    ) -> Result<Self, IdentityError> {
        let cert = read_ca_cert(data_dir)?;
        let path = ca_dir.join(CA_KEY_FILE);
        if !path.exists() {
            return Err(IdentityError::NoCaKey {
                dir: ca_dir.to_path_buf(),
            });
        }
        exam_fs::tighten_file(&path)?;
        let sealed = read_bounded(&path)?;
        let der = passphrase::open(passphrase, &sealed).map_err(|source| match source {
            SealError::WrongPassphrase => IdentityError::WrongPassphrase { path: path.clone() },
            source => IdentityError::Seal {
                path: path.clone(),
                source,
            },
        })?;
        let key = KeyPair::try_from(der.expose()).map_err(|e| corrupt(&path, e))?;
        Self::matching(cert, key, &path)
    }

    fn matching(
        cert: CertificateDer<'static>,
        key: KeyPair,
        key_path: &Path,
    ) -> Result<Self, IdentityError> {
        let (_, x509) = x509_parser::parse_x509_certificate(&cert)
            .map_err(|e| corrupt(Path::new(CA_CERT_FILE), e))?;
        if key.public_key_raw() != x509.public_key().subject_public_key.data.as_ref() {
            return Err(IdentityError::CaKeyMismatch {
                path: key_path.to_path_buf(),
                fingerprint: Fingerprint::of(&cert),
            });
        }
        Ok(Self { cert, key })
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.cert)
    }

    /// A new server key and a certificate for it valid from `now - SERVER_CERT_BACKDATE` to
    /// `now + SERVER_CERT_VALIDITY`, in memory.
    pub fn issue(&self, now: SystemTime) -> Result<SiteIdentity, IdentityError> {
        let (cert_pem, key_pem) = self.issue_pem(now)?;
        let here = Path::new("(issued)");
        SiteIdentity::checked(
            self.cert.clone(),
            CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| corrupt(here, e))?,
            PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| corrupt(here, e))?,
            here,
            here,
        )
    }

    /// Issues a new server certificate valid from `now` and writes it with its key to
    /// `data_dir/server.pem`, atomically; returns the identity the server should now serve.
    pub fn renew(&self, data_dir: &Path, now: SystemTime) -> Result<SiteIdentity, IdentityError> {
        let (cert_pem, key_pem) = self.issue_pem(now)?;
        let text = Zeroizing::new(format!("{cert_pem}{}", key_pem.as_str()));
        exam_fs::write_private_atomic(&data_dir.join(SERVER_FILE), text.as_bytes())?;
        let identity = SiteIdentity::load(data_dir)?;
        if identity.fingerprint() != self.fingerprint() {
            return Err(IdentityError::CaKeyMismatch {
                path: data_dir.join(CA_CERT_FILE),
                fingerprint: identity.fingerprint(),
            });
        }
        Ok(identity)
    }

    fn issue_pem(&self, now: SystemTime) -> Result<(String, Zeroizing<String>), IdentityError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![SITE_SERVER_NAME.to_owned()])?;
        let site = self.site_name();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{site} site server"));
        params.not_before = (now - SERVER_CERT_BACKDATE).into();
        params.not_after = (now + SERVER_CERT_VALIDITY).into();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_ca_cert_der(&self.cert, &self.key)?;
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), Zeroizing::new(key.serialize_pem())))
    }

    /// The site name in the CA's common name.
    fn site_name(&self) -> String {
        x509_parser::parse_x509_certificate(&self.cert)
            .ok()
            .and_then(|(_, c)| {
                c.subject()
                    .iter_common_name()
                    .next()
                    .and_then(|cn| cn.as_str().ok())
                    .map(|cn| cn.strip_suffix(CA_CN_SUFFIX).unwrap_or(cn).to_owned())
            })
            .unwrap_or_else(|| SITE_SERVER_NAME.to_owned())
    }

    fn seal_into(&self, path: &Path, passphrase: &Passphrase) -> Result<(), IdentityError> {
        let der = Zeroizing::new(self.key.serialize_der());
        let sealed = passphrase::seal(passphrase, &der).map_err(|source| IdentityError::Seal {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(exam_fs::write_private_atomic(path, &sealed)?)
    }
}

const CA_CN_SUFFIX: &str = " site CA";

/// Seals the plaintext CA key of an earlier-layout data directory under `passphrase` into
/// `ca_dir`, issues a new short-lived server certificate, and only then removes the plaintext
/// CA key and the old server files. The CA, and so the fingerprint, stay the same. Safe to run
/// again after an interruption.
pub fn secure_legacy_ca(
    data_dir: &Path,
    ca_dir: &Path,
    passphrase: &Passphrase,
    now: SystemTime,
) -> Result<SiteIdentity, IdentityError> {
    let legacy = data_dir.join(LEGACY_CA_KEY_FILE);
    if !legacy.exists() {
        return Err(IdentityError::Missing {
            dir: data_dir.to_path_buf(),
        });
    }
    let cert = read_ca_cert(data_dir)?;
    let pem = Zeroizing::new(read_bounded(&legacy)?);
    let text = std::str::from_utf8(&pem).map_err(|e| corrupt(&legacy, e))?;
    let key = KeyPair::from_pem(text).map_err(|e| corrupt(&legacy, e))?;
    let ca = SiteCa::matching(cert, key, &legacy)?;
    exam_fs::ensure_private_dir(ca_dir)?;
    ca.seal_into(&ca_dir.join(CA_KEY_FILE), passphrase)?;
    // Check the sealed key opens before the plaintext goes.
    let reopened = SiteCa::unlock(data_dir, ca_dir, passphrase)?;
    // The server certificate is issued before the plaintext key is removed, so `load` (which
    // refuses while the plaintext key is there) sees a complete directory afterwards.
    let (cert_pem, key_pem) = reopened.issue_pem(now)?;
    let text = Zeroizing::new(format!("{cert_pem}{}", key_pem.as_str()));
    exam_fs::write_private_atomic(&data_dir.join(SERVER_FILE), text.as_bytes())?;
    for name in LEGACY_SERVER_FILES {
        exam_fs::remove_secret_file(&data_dir.join(name))?;
    }
    exam_fs::remove_secret_file(&legacy)?;
    SiteIdentity::load(data_dir)
}

/// The fingerprint of the site CA in `data_dir`, reading only its certificate.
pub fn ca_fingerprint(data_dir: &Path) -> Result<Fingerprint, IdentityError> {
    Ok(Fingerprint::of(&read_ca_cert(data_dir)?))
}

fn read_ca_cert(data_dir: &Path) -> Result<CertificateDer<'static>, IdentityError> {
    let path = data_dir.join(CA_CERT_FILE);
    if !path.exists() {
        return Err(IdentityError::Missing {
            dir: data_dir.to_path_buf(),
        });
    }
    let pem = read_bounded(&path)?;
    CertificateDer::from_pem_slice(&pem).map_err(|e| corrupt(&path, e))
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = fs::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    f.take(IDENTITY_FILE_BYTES_MAX + 1)
        .read_to_end(&mut out)
        .map_err(io)?;
    if out.len() as u64 > IDENTITY_FILE_BYTES_MAX {
        return Err(corrupt(
            path,
            format!("larger than {IDENTITY_FILE_BYTES_MAX} bytes"),
        ));
    }
    Ok(out)
}

fn unix_to_system(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

fn corrupt(path: &Path, why: impl std::fmt::Display) -> IdentityError {
    IdentityError::Corrupt {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}
