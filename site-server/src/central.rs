//! The site's link to the authority: enrolment (`site-server init --central …`), the files it
//! leaves in the site's data directory, and the HTTPS client every later call uses (mutual TLS,
//! central's CA pinned by fingerprint).
//!
//! Files (all `0600`): `central.json` (central's address and fingerprint, the site code, central's
//! pinned public keys), `central-client.pem` (the site's TLS client certificate and key),
//! `site-signing.key` (the Ed25519 key results are signed with); while an enrolment waits for
//! central's answer, `enroll-pending.json` (its keys, so that a retry after a lost answer sends
//! the same ones and central answers it again).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use exam_crypto::Fingerprint;
use exam_crypto::seal::RecipientPublic;
use exam_crypto::sign::{PublicKey, SigningKey};
use exam_protocol::central::{
    API_JSON_BYTES_MAX, ApiError, CENTRAL_SERVER_NAME, EnrollRequest, EnrollResponse,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub const CENTRAL_FILE: &str = "central.json";
pub const CLIENT_FILE: &str = "central-client.pem";
pub const SIGNING_FILE: &str = "site-signing.key";
/// The keys of an enrolment that has not got central's answer yet; removed once enrolled.
pub const PENDING_FILE: &str = "enroll-pending.json";
/// Longest a call to central may take (package downloads get `uplink::PACKAGE_CALL_TIMEOUT`).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Time to connect to central.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest central address accepted.
const URL_BYTES_MAX: usize = 512;
const FILE_BYTES_MAX: u64 = 64 * 1024;

/// What enrolment left: where central is and what this site pins.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Enrollment {
    pub central_url: String,
    pub central_fingerprint: String,
    pub site_code: String,
    pub site_name: String,
    pub central_signing_public_hex: String,
    pub central_encryption_public_hex: String,
}

impl Enrollment {
    pub fn is_enrolled(dir: &Path) -> bool {
        dir.join(CENTRAL_FILE).exists()
    }

    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(CENTRAL_FILE);
        let bytes = read_small(&path)?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is damaged; restore it from backup", path.display()))
    }

    pub fn central_signing(&self) -> anyhow::Result<PublicKey> {
        PublicKey::from_hex(&self.central_signing_public_hex)
            .context("central's signing key in central.json is damaged")
    }

    pub fn central_encryption(&self) -> anyhow::Result<RecipientPublic> {
        RecipientPublic::from_hex(&self.central_encryption_public_hex)
            .context("central's encryption key in central.json is damaged")
    }
}

fn read_small(path: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    anyhow::ensure!(
        len <= FILE_BYTES_MAX,
        "{} is {len} bytes: damaged",
        path.display()
    );
    exam_fs::tighten_file(path)?;
    Ok(Zeroizing::new(std::fs::read(path).with_context(|| {
        format!("cannot read {}", path.display())
    })?))
}

/// The site's result-signing key.
pub fn signing_key(dir: &Path) -> anyhow::Result<SigningKey> {
    let path = dir.join(SIGNING_FILE);
    SigningKey::from_pkcs8(&read_small(&path)?)
        .with_context(|| format!("{} is damaged; restore it from backup", path.display()))
}

/// The HTTPS client for central: central's CA pinned, the site's client certificate (when
/// enrolled) presented.
pub fn client(
    pin: Fingerprint,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> anyhow::Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(exam_net::pin::PinnedCaVerifier::for_name(
            pin,
            provider,
            CENTRAL_SERVER_NAME,
        )));
    let mut tls = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .http1_only()
        .no_proxy()
        .build()?)
}

/// The client of an enrolled site.
pub fn enrolled_client(dir: &Path, e: &Enrollment) -> anyhow::Result<reqwest::Client> {
    let path = dir.join(CLIENT_FILE);
    let pem = read_small(&path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is damaged", path.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .with_context(|| format!("{} is damaged", path.display()))?;
    let pin: Fingerprint = e
        .central_fingerprint
        .parse()
        .context("central's fingerprint in central.json is damaged")?;
    client(pin, Some((chain, key)))
}

/// Turns a refusal from central into an error with its message.
pub async fn refusal(resp: reqwest::Response) -> anyhow::Error {
    let status = resp.status();
    match resp.bytes().await {
        Ok(b) if b.len() <= API_JSON_BYTES_MAX => match serde_json::from_slice::<ApiError>(&b) {
            Ok(e) => anyhow::anyhow!("{} ({status})", e.error),
            Err(_) => anyhow::anyhow!("central answered {status}"),
        },
        _ => anyhow::anyhow!("central answered {status}"),
    }
}

/// The base address of central, checked: `https://host[:port]` with no path.
pub fn check_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    anyhow::ensure!(
        url.len() <= URL_BYTES_MAX && url.starts_with("https://") && url.len() > 8,
        "--central must be central's address starting with https://, e.g. https://exam-centre.example:8443"
    );
    reqwest::Url::parse(url).with_context(|| format!("“{url}” is not an address"))?;
    Ok(url.to_owned())
}

/// `site-server init --central …`: makes the site's keys (or takes those of an earlier try that
/// got no answer, [`PENDING_FILE`]), enrolls at central with the one-time token and keeps what
/// central answered. Until central accepts, only the pending keys are written.
pub async fn enroll(
    dir: &Path,
    central_url: &str,
    fingerprint: Fingerprint,
    site_code: &str,
    token: &str,
) -> anyhow::Result<Enrollment> {
    let url = check_url(central_url)?;
    // The client and signing files of a try that stopped before `central.json` are written
    // again; without the pending keys they belong to a finished enrolment.
    let unfinished = dir.join(PENDING_FILE).exists();
    for f in [CENTRAL_FILE, CLIENT_FILE, SIGNING_FILE] {
        anyhow::ensure!(
            !dir.join(f).exists() || (unfinished && f != CENTRAL_FILE),
            "{} is enrolled already ({} exists); a site enrolls once — to enroll again, use a new data directory",
            dir.display(),
            f
        );
    }
    let (tls_key, signing) = pending_keys(dir, site_code)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("exam site {site_code}"));
    let csr = params.serialize_request(&tls_key)?;
    let req = EnrollRequest {
        site_code: site_code.to_owned(),
        token: token.to_owned(),
        csr_pem: csr.pem()?,
        signing_public_hex: signing.public().to_hex(),
    };
    let http = client(fingerprint, None)?;
    let resp = http
        .post(format!("{url}/api/v1/enroll"))
        .json(&req)
        .send()
        .await
        .with_context(|| {
            format!("cannot reach central at {url}: check the address and the uplink")
        })?;
    if !resp.status().is_success() {
        return Err(refusal(resp).await.context("central refused the enrolment"));
    }
    let answer: EnrollResponse = resp.json().await.context("central's answer is malformed")?;
    anyhow::ensure!(
        answer.site_code == site_code,
        "central enrolled another site ({}); nothing was kept",
        answer.site_code
    );
    let e = Enrollment {
        central_url: url,
        central_fingerprint: fingerprint.to_string(),
        site_code: answer.site_code,
        site_name: answer.site_name,
        central_signing_public_hex: answer.central_signing_public_hex,
        central_encryption_public_hex: answer.central_encryption_public_hex,
    };
    e.central_signing()?;
    e.central_encryption()?;
    exam_fs::ensure_private_dir(dir)?;
    exam_fs::write_private_atomic(&dir.join(SIGNING_FILE), &signing.to_pkcs8())?;
    let client_pem = Zeroizing::new(format!(
        "{}{}",
        answer.client_cert_pem,
        tls_key.serialize_pem().as_str()
    ));
    exam_fs::write_private_atomic(&dir.join(CLIENT_FILE), client_pem.as_bytes())?;
    // Last: its presence is what makes the directory an enrolled site.
    exam_fs::write_private_atomic(&dir.join(CENTRAL_FILE), &serde_json::to_vec_pretty(&e)?)?;
    if let Err(err) = std::fs::remove_file(dir.join(PENDING_FILE)) {
        tracing::warn!(%err, "the enrolment's pending keys could not be removed; delete {PENDING_FILE}");
    }
    Ok(e)
}

/// The keys of an enrolment under way, as written to [`PENDING_FILE`].
#[derive(Serialize, Deserialize)]
struct PendingKeys {
    site_code: String,
    tls_key_pem: String,
    signing_pkcs8_hex: String,
}

/// The keys this enrolment sends: those of an earlier try for the same site that got no answer
/// (central answers the same enrolment again), otherwise new ones, written down before they
/// are sent.
fn pending_keys(dir: &Path, site_code: &str) -> anyhow::Result<(rcgen::KeyPair, SigningKey)> {
    let path = dir.join(PENDING_FILE);
    if path.exists() {
        let damaged = || {
            format!(
                "{} is damaged: delete it and ask the exam centre for a new token",
                path.display()
            )
        };
        let p: PendingKeys = serde_json::from_slice(&read_small(&path)?).with_context(damaged)?;
        if p.site_code == site_code {
            let tls = rcgen::KeyPair::from_pem(&p.tls_key_pem).with_context(damaged)?;
            let pkcs8 = Zeroizing::new(hex::decode(&p.signing_pkcs8_hex).with_context(damaged)?);
            let signing = SigningKey::from_pkcs8(&pkcs8).with_context(damaged)?;
            return Ok((tls, signing));
        }
    }
    let tls = rcgen::KeyPair::generate()?;
    let signing = SigningKey::generate()?;
    let pending = PendingKeys {
        site_code: site_code.to_owned(),
        tls_key_pem: tls.serialize_pem(),
        signing_pkcs8_hex: hex::encode(signing.to_pkcs8()),
    };
    let json = Zeroizing::new(serde_json::to_vec(&pending)?);
    drop(Zeroizing::new(pending.tls_key_pem));
    drop(Zeroizing::new(pending.signing_pkcs8_hex));
    exam_fs::ensure_private_dir(dir)?;
    exam_fs::write_private_atomic(&path, &json)?;
    Ok((tls, signing))
}

/// Whether `dir` holds nothing but an enrolment that has not finished: its pending keys, and
/// perhaps the files of a try that stopped before `central.json` was written.
pub fn holds_unfinished_enrolment(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        let names: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        names.iter().any(|n| n == PENDING_FILE)
            && names.iter().all(|n| {
                [PENDING_FILE, CLIENT_FILE, SIGNING_FILE]
                    .iter()
                    .any(|f| n == f)
            })
    })
}

/// Where an enrolled site keeps the store of one session.
pub fn session_dir(home: &Path, session_id: &str) -> PathBuf {
    home.join("sessions").join(session_id)
}
