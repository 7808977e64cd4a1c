//! What the site and the authority (central-sync) exchange over HTTPS: the JSON bodies of the
//! API, and the two binary documents that travel by the API or on a USB stick: the **exam
//! package** (central → site, signed by central, the paper inside encrypted) and the **sealed
//! result** (site → central, signed by the site, encrypted to central).
//!
//! Both binary documents are `magic ‖ codec body`; the body holds the signed bytes and the
//! signature, so a verifier checks the signature over exactly the bytes it then decodes.
//! Signatures are made with a context string ([`PACKAGE_SIGNING_CONTEXT`],
//! [`RESULT_SIGNING_CONTEXT`]), so one kind can never be taken for the other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the site ↔ central API (the path prefix is `/api/v1`).
pub const CENTRAL_API_VERSION: u32 = 1;
/// The name central's server certificate carries and sites verify, whatever address they dial
/// (the certificate authority is pinned by fingerprint).
pub const CENTRAL_SERVER_NAME: &str = "exam-central";

/// First bytes of an exam package file.
pub const PACKAGE_MAGIC: &[u8; 8] = b"EXPKG01\n";
/// First bytes of a sealed result file.
pub const RESULT_MAGIC: &[u8; 8] = b"EXRES01\n";
/// Format version inside a package body.
pub const PACKAGE_FORMAT: u32 = 1;
/// Format version inside a result.
pub const RESULT_FORMAT: u32 = 1;
/// Largest exam package: a roster of photos and a content package with images.
pub const PACKAGE_BYTES_MAX: u32 = 256 * 1024 * 1024;
/// Largest sealed result: 40 MiB, room for an attempt at the site's limits (every change of up
/// to 16 MiB of answers, the final answers again, and the log); site-server checks this at
/// compile time against its engine's limits.
pub const RESULT_BYTES_MAX: u32 = 40 * 1024 * 1024;
/// Largest batch of sealed results in one request (`POST /api/v1/results/batch`).
pub const RESULT_BATCH_BYTES_MAX: u32 = 8 * 1024 * 1024;
/// Most sealed results in one batch.
pub const RESULT_BATCH_COUNT_MAX: usize = 500;
/// Largest JSON body of the API (enrolment, lists, key release).
pub const API_JSON_BYTES_MAX: usize = 256 * 1024;
/// Context of central's package signatures.
pub const PACKAGE_SIGNING_CONTEXT: &str = "exam-package-v1";
/// Context of a site's result signatures.
pub const RESULT_SIGNING_CONTEXT: &str = "exam-result-v1";
/// HPKE `info` of a sealed result.
pub const RESULT_HPKE_INFO: &[u8] = b"exam-result-v1";
/// Context of the hash chain over an attempt's answer changes.
pub const RESULT_CHAIN_CONTEXT: &str = "exam-result-changes-v1";

/// `POST /api/v1/enroll`: a site enrolls once with the one-time token central gave its admin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub site_code: String,
    pub token: String,
    /// The site's TLS client key as a PKCS#10 request (PEM): central issues the certificate.
    pub csr_pem: String,
    /// The site's Ed25519 result-signing key (hex).
    pub signing_public_hex: String,
}

/// What an enrolled site keeps: its client certificate and central's keys, which it pins.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub site_code: String,
    pub site_name: String,
    pub client_cert_pem: String,
    /// Central's Ed25519 package-signing key (hex).
    pub central_signing_public_hex: String,
    /// Central's X25519 result-encryption key (hex).
    pub central_encryption_public_hex: String,
}

/// `GET /api/v1/packages`: the packages central holds for the calling site.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageList {
    pub packages: Vec<PackageListEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PackageListEntry {
    pub session_id: String,
    pub version: u64,
    pub bytes: u64,
}

/// `GET /api/v1/sessions/{id}/key`: the paper key, once central releases it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRelease {
    pub session_id: String,
    /// The AES-256 paper key (hex). Only ever sent over the enrolled site's mutual TLS.
    pub paper_key_hex: String,
}

/// `POST /api/v1/results`: how central took a sealed result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResultReceipt {
    pub bundle_id: String,
    pub outcome: ReceiptOutcome,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptOutcome {
    /// Verified and stored now.
    Accepted,
    /// The same bundle was accepted before; nothing stored twice.
    Duplicate,
}

/// How central took one result of a batch: a receipt, or why not. `permanent` refusals will not
/// change on retry (forged, altered, not on the roster); others (central busy) may.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchReceipt {
    pub bundle_id: String,
    pub outcome: Option<ReceiptOutcome>,
    pub error: Option<String>,
    pub permanent: bool,
}

/// Encodes a batch of sealed result files for `POST /api/v1/results/batch`.
pub fn encode_batch(results: &[Vec<u8>]) -> Result<Vec<u8>, DocError> {
    encode_body(&results)
}

/// Decodes a batch: at most [`RESULT_BATCH_BYTES_MAX`] bytes and [`RESULT_BATCH_COUNT_MAX`] results.
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<Vec<u8>>, DocError> {
    if bytes.len() > RESULT_BATCH_BYTES_MAX as usize {
        return Err(DocError::TooLarge {
            what: "a batch of results",
            len: bytes.len(),
            max: RESULT_BATCH_BYTES_MAX,
        });
    }
    let batch: Vec<Vec<u8>> =
        crate::codec::decode_large(bytes, RESULT_BATCH_BYTES_MAX).map_err(|e| {
            DocError::Malformed {
                what: "a batch of results",
                why: e.to_string(),
            }
        })?;
    if batch.len() > RESULT_BATCH_COUNT_MAX {
        return Err(DocError::Malformed {
            what: "a batch of results",
            why: format!("{} results, at most {RESULT_BATCH_COUNT_MAX}", batch.len()),
        });
    }
    Ok(batch)
}

/// The JSON body of every refusal: a message for a person, bilingual.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}

/// A signed document: `signed` is the codec encoding of the body; `signature` is over it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signed {
    pub signed: Vec<u8>,
    pub signature: Vec<u8>,
}

/// What a package tells the site, signed by central.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PackageBody {
    pub format: u32,
    pub site_code: String,
    pub session_id: String,
    pub plan_id: String,
    /// Grows with every change central makes to the session; a site keeps the newest.
    pub version: u64,
    pub created_unix_ms: i64,
    /// After this the package is refused (the session is over).
    pub expires_unix_ms: i64,
    pub title: String,
    pub starts_at_unix_ms: i64,
    pub duration_min: u32,
    pub latest_login_min: u32,
    pub pass_mark_percent: u32,
    /// When central releases the paper key online.
    pub release_at_unix_ms: i64,
    pub rooms: Vec<PackageRoom>,
    pub candidates: Vec<PackageCandidate>,
    /// People banned from sitting exams, with the end of the ban.
    pub banned: Vec<BannedPerson>,
    /// The QTI content package, encrypted under the session's paper key
    /// (`nonce ‖ ciphertext ‖ tag`, associated data [`paper_aad`]).
    pub sealed_content: Vec<u8>,
    /// The paper key wrapped under the session's release code (read over the phone when the
    /// uplink is down).
    pub wrapped_key: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PackageRoom {
    pub code: String,
    pub name: String,
    pub capacity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PackageCandidate {
    pub admission_no: String,
    pub id_number: String,
    pub name: String,
    pub room: String,
    pub seat: u32,
    pub photo: Option<Vec<u8>>,
    /// Seed of this candidate's paper: item draw and order (central reproduces it to score).
    pub paper_seed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BannedPerson {
    pub id_number: String,
    pub until_unix_ms: i64,
    pub reason: String,
}

/// The associated data of a session's sealed content: the session and its site.
pub fn paper_aad(session_id: &str) -> Vec<u8> {
    format!("exam-paper-v1\0{session_id}").into_bytes()
}

/// One attempt's result as the site seals it at submission.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResultBody {
    pub format: u32,
    /// `site/session/admission` (unique per attempt): the idempotency key at central.
    pub bundle_id: String,
    pub site_code: String,
    pub session_id: String,
    pub package_version: u64,
    pub admission_no: String,
    pub id_number: String,
    pub submitted_reason: String,
    pub submitted_at_unix_ms: i64,
    pub remaining_ms: u64,
    /// The seed the candidate's paper and order came from.
    pub paper_seed: u64,
    /// Item ids in the order the candidate saw them, each with its options' order.
    pub item_order: Vec<(String, Vec<String>)>,
    /// The last stored response of every answered item (JSON of `exam_domain::Response`).
    pub final_answers: Vec<(String, String)>,
    /// Every stored or refused change in sequence order.
    pub changes: Vec<ResultChange>,
    /// Head of the hash chain over `changes` (context [`RESULT_CHAIN_CONTEXT`]).
    pub chain_head_hex: String,
    pub time_log: Vec<ResultTimeEntry>,
    /// Check-in references (the proctor issue fills these).
    pub check_in: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResultChange {
    pub seq: u64,
    pub item: String,
    /// JSON of `exam_domain::Response`.
    pub response: String,
    pub saved_at_unix_ms: i64,
    pub refused: Option<String>,
}

impl ResultChange {
    /// The bytes the hash chain takes for this change.
    pub fn chain_bytes(&self) -> Vec<u8> {
        format!(
            "{}\0{}\0{}\0{}\0{}",
            self.seq,
            self.item,
            self.response,
            self.saved_at_unix_ms,
            self.refused.as_deref().unwrap_or("")
        )
        .into_bytes()
    }

    /// The answer each item was left with: its last change the site stored (a refused change
    /// changed nothing). What a result's final answers must be.
    pub fn last_answers(changes: &[ResultChange]) -> BTreeMap<&str, &str> {
        changes
            .iter()
            .filter(|c| c.refused.is_none())
            .map(|c| (c.item.as_str(), c.response.as_str()))
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResultTimeEntry {
    pub at_unix_ms: i64,
    pub event: String,
    pub remaining_ms: u64,
    pub given_back_ms: u64,
    pub by: String,
    pub reason: String,
}

/// The sealed result as it travels: the routing fields in the clear (central needs them to find
/// the site's key and to refuse a replay before decrypting), the signed body encrypted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealedResult {
    pub format: u32,
    pub bundle_id: String,
    pub site_code: String,
    pub session_id: String,
    /// HPKE encapsulated key.
    pub enc: Vec<u8>,
    /// HPKE ciphertext of the codec encoding of [`Signed`] over [`ResultBody`]; the associated
    /// data is [`result_aad`].
    pub ciphertext: Vec<u8>,
}

/// The associated data binding a sealed result's clear routing fields to its ciphertext.
pub fn result_aad(bundle_id: &str, site_code: &str, session_id: &str) -> Vec<u8> {
    format!("exam-result-v1\0{bundle_id}\0{site_code}\0{session_id}").into_bytes()
}

/// The id of an attempt's result.
pub fn bundle_id(site_code: &str, session_id: &str, admission_no: &str) -> String {
    format!("{site_code}/{session_id}/{admission_no}")
}

/// Errors of the document encodings.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("this is not {what} (wrong file?): it does not start with the expected marker")]
    Magic { what: &'static str },
    #[error("{what} is {len} bytes; at most {max} are accepted")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: u32,
    },
    #[error("{what} is damaged: {why}")]
    Malformed { what: &'static str, why: String },
}

fn encode_doc<T: Serialize>(magic: &[u8; 8], doc: &T) -> Result<Vec<u8>, DocError> {
    let mut out = magic.to_vec();
    out.extend(
        crate::codec::encode_large(doc).map_err(|e| DocError::Malformed {
            what: "document",
            why: e.to_string(),
        })?,
    );
    Ok(out)
}

fn decode_doc<T: serde::de::DeserializeOwned>(
    magic: &[u8; 8],
    what: &'static str,
    max: u32,
    bytes: &[u8],
) -> Result<T, DocError> {
    if bytes.len() > max as usize {
        return Err(DocError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    let body = bytes
        .strip_prefix(magic.as_slice())
        .ok_or(DocError::Magic { what })?;
    crate::codec::decode_large(body, max).map_err(|e| DocError::Malformed {
        what,
        why: e.to_string(),
    })
}

/// A package file: [`PACKAGE_MAGIC`] ‖ [`Signed`] over [`PackageBody`].
pub fn encode_package(signed: &Signed) -> Result<Vec<u8>, DocError> {
    encode_doc(PACKAGE_MAGIC, signed)
}

pub fn decode_package(bytes: &[u8]) -> Result<Signed, DocError> {
    decode_doc(PACKAGE_MAGIC, "an exam package", PACKAGE_BYTES_MAX, bytes)
}

/// The body inside a package's signed bytes (after the signature was checked).
pub fn decode_package_body(signed: &[u8]) -> Result<PackageBody, DocError> {
    crate::codec::decode_large(signed, PACKAGE_BYTES_MAX).map_err(|e| DocError::Malformed {
        what: "an exam package",
        why: e.to_string(),
    })
}

/// A result file: [`RESULT_MAGIC`] ‖ [`SealedResult`].
pub fn encode_result(sealed: &SealedResult) -> Result<Vec<u8>, DocError> {
    encode_doc(RESULT_MAGIC, sealed)
}

pub fn decode_result(bytes: &[u8]) -> Result<SealedResult, DocError> {
    decode_doc(RESULT_MAGIC, "a sealed result", RESULT_BYTES_MAX, bytes)
}

/// Encodes any body for signing (packages, results, the signed envelope inside a result).
pub fn encode_body<T: Serialize>(body: &T) -> Result<Vec<u8>, DocError> {
    crate::codec::encode_large(body).map_err(|e| DocError::Malformed {
        what: "document",
        why: e.to_string(),
    })
}

/// Decodes a result's signed envelope or body.
pub fn decode_result_part<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DocError> {
    crate::codec::decode_large(bytes, RESULT_BYTES_MAX).map_err(|e| DocError::Malformed {
        what: "a sealed result",
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_and_refuse_the_wrong_kind() {
        let signed = Signed {
            signed: vec![1, 2, 3],
            signature: vec![9; 64],
        };
        let pkg = encode_package(&signed).expect("encodes");
        let back = decode_package(&pkg).expect("decodes");
        assert_eq!(back.signed, signed.signed);
        assert!(matches!(decode_result(&pkg), Err(DocError::Magic { .. })));
        let mut cut = pkg.clone();
        cut.truncate(pkg.len() - 3);
        assert!(matches!(
            decode_package(&cut),
            Err(DocError::Malformed { .. })
        ));
        let mut long = pkg.clone();
        long.push(0);
        assert!(decode_package(&long).is_err(), "trailing bytes refused");
    }

    #[test]
    fn chain_bytes_separate_fields() {
        let a = ResultChange {
            seq: 1,
            item: "q1".into(),
            response: "x".into(),
            saved_at_unix_ms: 5,
            refused: None,
        };
        let mut b = a.clone();
        b.item = "q1x".into();
        b.response = String::new();
        assert_ne!(a.chain_bytes(), b.chain_bytes());
    }
}
