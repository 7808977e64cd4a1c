//! The site CA and the server certificate it signs, created on first start and kept as PEM files
//! in the site's data directory.

use std::fs;
use std::path::{Path, PathBuf};

use exam_crypto::Fingerprint;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject};

use crate::SITE_SERVER_NAME;

const CA_CERT: &str = "site-ca.crt.pem";
const CA_KEY: &str = "site-ca.key.pem";
const SERVER_CERT: &str = "server.crt.pem";
const SERVER_KEY: &str = "server.key.pem";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("could not read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is damaged or not a certificate/key this site made ({why}); restore it from backup — deleting it would give the site a new identity that no client trusts"
    )]
    Corrupt { path: PathBuf, why: String },
    #[error(
        "the data directory has only part of the site identity ({missing} is missing); restore it from backup"
    )]
    Partial { missing: PathBuf },
    #[error("could not create the site certificates: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The site CA certificate, the server certificate it signed and the server key.
pub struct SiteIdentity {
    pub ca_cert: CertificateDer<'static>,
    pub server_cert: CertificateDer<'static>,
    server_key: PrivatePkcs8KeyDer<'static>,
}

impl std::fmt::Debug for SiteIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteIdentity")
            .field("ca_fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl SiteIdentity {
    /// Loads the identity from `dir`, creating it there if none of its files exist yet.
    pub fn load_or_create(dir: &Path, site_name: &str) -> Result<Self, IdentityError> {
        let paths = [CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY].map(|f| dir.join(f));
        if paths.iter().all(|p| !p.exists()) {
            fs::create_dir_all(dir).map_err(|source| IdentityError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            let pems = Pems::generate(site_name)?;
            for (name, text) in [
                (CA_CERT, &pems.ca_cert),
                (CA_KEY, &pems.ca_key),
                (SERVER_CERT, &pems.server_cert),
                (SERVER_KEY, &pems.server_key),
            ] {
                write_private(&dir.join(name), text)?;
            }
        } else if let Some(missing) = paths.iter().find(|p| !p.exists()) {
            return Err(IdentityError::Partial {
                missing: missing.clone(),
            });
        }
        Self::load(dir)
    }

    /// Loads an existing identity; never creates one.
    pub fn load(dir: &Path) -> Result<Self, IdentityError> {
        let read = |name: &str| -> Result<(PathBuf, Vec<u8>), IdentityError> {
            let path = dir.join(name);
            let bytes = fs::read(&path).map_err(|source| IdentityError::Io {
                path: path.clone(),
                source,
            })?;
            Ok((path, bytes))
        };
        let (p1, ca_cert) = read(CA_CERT)?;
        let (p2, server_cert) = read(SERVER_CERT)?;
        let (p3, server_key) = read(SERVER_KEY)?;
        let (p4, ca_key) = read(CA_KEY)?;
        let ca_key = String::from_utf8(ca_key).map_err(|e| corrupt(&p4, e))?;
        KeyPair::from_pem(&ca_key).map_err(|e| corrupt(&p4, e))?;
        Ok(Self {
            ca_cert: CertificateDer::from_pem_slice(&ca_cert).map_err(|e| corrupt(&p1, e))?,
            server_cert: CertificateDer::from_pem_slice(&server_cert)
                .map_err(|e| corrupt(&p2, e))?,
            server_key: PrivatePkcs8KeyDer::from_pem_slice(&server_key)
                .map_err(|e| corrupt(&p3, e))?,
        })
    }

    /// A fresh identity in memory, for tests and throw-away servers.
    pub fn generate(site_name: &str) -> Result<Self, IdentityError> {
        let pems = Pems::generate(site_name)?;
        let here = Path::new("(generated)");
        Ok(Self {
            ca_cert: CertificateDer::from_pem_slice(pems.ca_cert.as_bytes())
                .map_err(|e| corrupt(here, e))?,
            server_cert: CertificateDer::from_pem_slice(pems.server_cert.as_bytes())
                .map_err(|e| corrupt(here, e))?,
            server_key: PrivatePkcs8KeyDer::from_pem_slice(pems.server_key.as_bytes())
                .map_err(|e| corrupt(here, e))?,
        })
    }

    /// The SHA-256 fingerprint of the CA certificate: what clients pin.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.ca_cert)
    }

    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.server_key.clone_key())
    }
}

fn corrupt(path: &Path, why: impl std::fmt::Display) -> IdentityError {
    IdentityError::Corrupt {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// Writes a file readable by its owner only, atomically (temp file, fsync, rename).
fn write_private(path: &Path, text: &str) -> Result<(), IdentityError> {
    use std::io::Write;
    let io = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

struct Pems {
    ca_cert: String,
    ca_key: String,
    server_cert: String,
    server_key: String,
}

impl Pems {
    fn generate(site_name: &str) -> Result<Self, IdentityError> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name
            .push(DnType::CommonName, format!("{site_name} site CA"));
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key)?;
        let server_key = KeyPair::generate()?;
        let mut server = CertificateParams::new(vec![SITE_SERVER_NAME.to_owned()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, format!("{site_name} site server"));
        let server_cert = server.signed_by(&server_key, &Issuer::new(ca, &ca_key))?;
        Ok(Self {
            ca_cert: ca_cert.pem(),
            ca_key: ca_key.serialize_pem(),
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
        })
    }
}
