//! Central's key material, in `<data>/keys` (`0700`, every file `0600`), made once by
//! `central-sync init` and never overwritten:
//!
//! - `tls-ca.crt.pem` / `tls-ca.key.pem`: central's own TLS certificate authority. Sites pin its
//!   SHA-256 fingerprint; it issues central's server certificate and every enrolled site's client
//!   certificate (mutual TLS).
//! - `tls-server.pem`: the server certificate (for [`CENTRAL_SERVER_NAME`]) and its key, valid
//!   [`SERVER_CERT_VALIDITY`], renewed by the server itself when less than [`RENEW_BEFORE`] is left.
//! - `package-signing.key`: the Ed25519 key that signs exam packages (PKCS#8).
//! - `result-encryption.key`: the X25519 key sealed results are encrypted to (HPKE).
//!
//! Losing `keys/` means re-enrolling every site and re-issuing every package: back it up.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use exam_crypto::Fingerprint;
use exam_crypto::seal::RecipientKey;
use exam_crypto::sign::SigningKey;
use exam_protocol::central::CENTRAL_SERVER_NAME;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

pub const KEYS_DIR: &str = "keys";
const CA_CERT: &str = "tls-ca.crt.pem";
const CA_KEY: &str = "tls-ca.key.pem";
const SERVER: &str = "tls-server.pem";
const SIGNING: &str = "package-signing.key";
const ENCRYPTION: &str = "result-encryption.key";
/// Largest key file read.
const KEY_FILE_BYTES_MAX: u64 = 64 * 1024;

/// How long central's own server certificate lasts.
pub const SERVER_CERT_VALIDITY: Duration = Duration::from_secs(365 * 86_400);
/// Renew the server certificate when less than this is left.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);
/// How long a site's client certificate lasts (a site re-enrolls after this).
pub const SITE_CERT_VALIDITY: Duration = Duration::from_secs(2 * 365 * 86_400);
/// Certificates are valid from a day before they are issued (clocks differ).
const BACKDATE: Duration = Duration::from_secs(86_400);
/// Longest site certificate request accepted.
pub const CSR_PEM_BYTES_MAX: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "central has no keys in {0}: run `central-sync init` once (keep a backup of that directory)"
    )]
    Missing(PathBuf),
    #[error("central's keys exist already in {0}: they are never overwritten")]
    Exists(PathBuf),
    #[error(
        "{path} is damaged ({why}); restore central's keys directory from backup — new keys would mean re-enrolling every site"
    )]
    Corrupt { path: PathBuf, why: String },
    #[error("could not read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Private(#[from] exam_fs::PrivateFsError),
    #[error("could not make a certificate: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("{0}")]
    Crypto(#[from] exam_crypto::CryptoError),
    #[error(
        "the site's certificate request is not valid ({0}); run `site-server init` again to make a new one"
    )]
    BadRequest(String),
}

/// Everything central signs, decrypts and serves TLS with.
pub struct CentralKeys {
    ca_cert: CertificateDer<'static>,
    ca_key: KeyPair,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivatePkcs8KeyDer<'static>,
    pub signing: SigningKey,
    pub encryption: RecipientKey,
}

impl std::fmt::Debug for CentralKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CentralKeys")
            .field("tls_ca", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

fn corrupt(path: &Path, why: impl std::fmt::Display) -> KeyError {
    KeyError::Corrupt {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let len = std::fs::metadata(path)
        .map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if len > KEY_FILE_BYTES_MAX {
        return Err(corrupt(path, format!("{len} bytes, too large for a key")));
    }
    exam_fs::tighten_file(path)?;
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// A site's client certificate, as issued.
#[derive(Debug)]
pub struct IssuedCert {
    pub pem: String,
    pub cert_sha256: Fingerprint,
}

/// An enrolling site's certificate request, read and its signature checked.
pub struct SiteRequest(CertificateSigningRequestParams);

impl SiteRequest {
    pub fn parse(csr_pem: &str) -> Result<Self, KeyError> {
        if csr_pem.len() > CSR_PEM_BYTES_MAX {
            return Err(KeyError::BadRequest(format!(
                "more than {CSR_PEM_BYTES_MAX} bytes"
            )));
        }
        CertificateSigningRequestParams::from_pem(csr_pem)
            .map(Self)
            .map_err(|e| KeyError::BadRequest(e.to_string()))
    }

    /// SHA-256 of the requested public key (the same for every certificate of one key).
    pub fn key_sha256(&self) -> Fingerprint {
        Fingerprint::of(rcgen::PublicKeyData::der_bytes(&self.0.public_key))
    }
}

impl CentralKeys {
    /// Makes central's keys in `<data>/keys`; refuses if any exists.
    pub fn init(data: &Path, now: SystemTime) -> Result<Self, KeyError> {
        let dir = data.join(KEYS_DIR);
        for f in [CA_CERT, CA_KEY, SERVER, SIGNING, ENCRYPTION] {
            if dir.join(f).exists() {
                return Err(KeyError::Exists(dir));
            }
        }
        exam_fs::ensure_private_dir(data)?;
        exam_fs::ensure_private_dir(&dir)?;
        let ca_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "exam authority central CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = (now - BACKDATE).into();
        params.not_after = (now + Duration::from_secs(20 * 365 * 86_400)).into();
        let ca = params.self_signed(&ca_key)?;
        let signing = SigningKey::generate()?;
        let encryption = RecipientKey::generate()?;
        // Keys first: a certificate is never left without its key.
        exam_fs::write_private_atomic(
            &dir.join(CA_KEY),
            Zeroizing::new(ca_key.serialize_pem()).as_bytes(),
        )?;
        exam_fs::write_private_atomic(&dir.join(SIGNING), &signing.to_pkcs8())?;
        exam_fs::write_private_atomic(&dir.join(ENCRYPTION), encryption.to_bytes().as_slice())?;
        exam_fs::write_private_atomic(&dir.join(CA_CERT), ca.pem().as_bytes())?;
        let keys = Self {
            ca_cert: ca.der().clone(),
            ca_key,
            server_chain: Vec::new(),
            server_key: PrivatePkcs8KeyDer::from(Vec::new()),
            signing,
            encryption,
        };
        keys.renew_server(&dir, now)
    }

    /// Loads central's keys, renewing the server certificate when it is due.
    pub fn load(data: &Path, now: SystemTime) -> Result<Self, KeyError> {
        let dir = data.join(KEYS_DIR);
        if !dir.join(CA_CERT).exists() {
            return Err(KeyError::Missing(dir));
        }
        let ca_path = dir.join(CA_CERT);
        let ca_cert =
            CertificateDer::from_pem_slice(&read(&ca_path)?).map_err(|e| corrupt(&ca_path, e))?;
        let key_path = dir.join(CA_KEY);
        let ca_key_pem = read(&key_path)?;
        let ca_key =
            KeyPair::from_pem(std::str::from_utf8(&ca_key_pem).map_err(|e| corrupt(&key_path, e))?)
                .map_err(|e| corrupt(&key_path, e))?;
        let (_, parsed) =
            x509_parser::parse_x509_certificate(&ca_cert).map_err(|e| corrupt(&ca_path, e))?;
        if parsed.public_key().subject_public_key.data.as_ref() != ca_key.public_key_raw() {
            return Err(corrupt(&key_path, "the key does not belong to the CA"));
        }
        let sign_path = dir.join(SIGNING);
        let signing =
            SigningKey::from_pkcs8(&read(&sign_path)?).map_err(|e| corrupt(&sign_path, e))?;
        let enc_path = dir.join(ENCRYPTION);
        let enc_bytes = read(&enc_path)?;
        let enc: [u8; 32] = enc_bytes
            .as_slice()
            .try_into()
            .map_err(|_| corrupt(&enc_path, "not 32 bytes"))?;
        let encryption = RecipientKey::from_bytes(&enc).map_err(|e| corrupt(&enc_path, e))?;
        let mut keys = Self {
            ca_cert,
            ca_key,
            server_chain: Vec::new(),
            server_key: PrivatePkcs8KeyDer::from(Vec::new()),
            signing,
            encryption,
        };
        let server_path = dir.join(SERVER);
        let due = match std::fs::metadata(&server_path) {
            Ok(_) => {
                let pem = read(&server_path)?;
                let cert =
                    CertificateDer::from_pem_slice(&pem).map_err(|e| corrupt(&server_path, e))?;
                let key = PrivatePkcs8KeyDer::from_pem_slice(&pem)
                    .map_err(|e| corrupt(&server_path, e))?;
                let (_, c) = x509_parser::parse_x509_certificate(&cert)
                    .map_err(|e| corrupt(&server_path, e))?;
                let not_after = c.validity().not_after.timestamp();
                keys.server_chain = vec![cert.clone(), keys.ca_cert.clone()];
                keys.server_key = key;
                let now_s = now
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                not_after - now_s < RENEW_BEFORE.as_secs() as i64
            }
            Err(_) => true,
        };
        if due {
            keys = keys.renew_server(&dir, now)?;
            tracing::info!("central's server certificate was renewed");
        }
        Ok(keys)
    }

    fn renew_server(mut self, dir: &Path, now: SystemTime) -> Result<Self, KeyError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![CENTRAL_SERVER_NAME.to_owned()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "exam authority central");
        params.not_before = (now - BACKDATE).into();
        params.not_after = (now + SERVER_CERT_VALIDITY).into();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_ca_cert_der(&self.ca_cert, &self.ca_key)?;
        let cert = params.signed_by(&key, &issuer)?;
        let text = Zeroizing::new(format!("{}{}", cert.pem(), key.serialize_pem().as_str()));
        exam_fs::write_private_atomic(&dir.join(SERVER), text.as_bytes())?;
        self.server_chain = vec![cert.der().clone(), self.ca_cert.clone()];
        self.server_key = PrivatePkcs8KeyDer::from(key.serialize_der());
        Ok(self)
    }

    /// What sites pin: the SHA-256 of central's CA certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.ca_cert)
    }

    /// Issues an enrolling site's client certificate from its request: the subject is the site
    /// code whatever the request asked; the key is the request's.
    pub fn issue_site_cert(
        &self,
        request: SiteRequest,
        site_code: &str,
        now: SystemTime,
    ) -> Result<IssuedCert, KeyError> {
        let mut csr = request.0;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("exam site {site_code}"));
        params.not_before = (now - BACKDATE).into();
        params.not_after = (now + SITE_CERT_VALIDITY).into();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        csr.params = params;
        let issuer = Issuer::from_ca_cert_der(&self.ca_cert, &self.ca_key)?;
        let cert = csr.signed_by(&issuer)?;
        Ok(IssuedCert {
            pem: cert.pem(),
            cert_sha256: Fingerprint::of(cert.der()),
        })
    }

    /// The TLS configuration of the API: central's server certificate (or the operator's, when
    /// given); a client certificate is asked for and, when sent, must be one central issued
    /// (enrolment itself comes without).
    pub fn server_config(
        &self,
        operator: Option<&OperatorCert>,
    ) -> Result<rustls::ServerConfig, KeyError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_cert.clone())
            .map_err(|e| corrupt(Path::new(CA_CERT), e))?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.into(),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .map_err(|e| corrupt(Path::new(CA_CERT), e))?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| corrupt(Path::new(SERVER), e))?
            .with_client_cert_verifier(verifier);
        let mut config = match operator {
            Some(op) => config
                .with_single_cert(op.chain.clone(), op.key.clone_key())
                .map_err(|e| corrupt(&op.path, e))?,
            None => config
                .with_single_cert(
                    self.server_chain.clone(),
                    PrivateKeyDer::Pkcs8(self.server_key.clone_key()),
                )
                .map_err(|e| corrupt(Path::new(SERVER), e))?,
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// An operator's own server certificate for the API (e.g. one their organisation issued for
/// the host name sites dial): the chain, leaf first, up to and including the CA that sites pin.
pub struct OperatorCert {
    path: PathBuf,
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for OperatorCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorCert")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl OperatorCert {
    fn read_chain(cert: &Path) -> Result<Vec<CertificateDer<'static>>, KeyError> {
        let pem = read(cert)?;
        let chain = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| corrupt(cert, e))?;
        if chain.len() < 2 {
            return Err(corrupt(
                cert,
                "it must hold the whole chain, the server certificate first and the CA sites pin last",
            ));
        }
        Ok(chain)
    }

    /// What sites pin for the chain in `cert`: the SHA-256 of its last certificate.
    pub fn chain_fingerprint(cert: &Path) -> Result<Fingerprint, KeyError> {
        let chain = Self::read_chain(cert)?;
        Ok(chain
            .last()
            .map(|c| Fingerprint::of(c))
            .unwrap_or_else(|| Fingerprint::of(&[])))
    }

    /// Reads the chain from `cert` and its key from `key` (PEM).
    pub fn load(cert: &Path, key: &Path) -> Result<Self, KeyError> {
        let chain = Self::read_chain(cert)?;
        let key_pem = read(key)?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| corrupt(key, e))?;
        Ok(Self {
            path: cert.to_path_buf(),
            chain,
            key: key_der,
        })
    }

    /// What sites pin: the SHA-256 of the last certificate of the chain.
    pub fn fingerprint(&self) -> Fingerprint {
        self.chain
            .last()
            .map(|c| Fingerprint::of(c))
            .unwrap_or_else(|| Fingerprint::of(&[]))
    }
}
