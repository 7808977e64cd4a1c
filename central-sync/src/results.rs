//! Sealed results in: verified, stored exactly once, scored.
//!
//! A result is accepted when it decrypts with central's key (HPKE, the clear routing fields bound
//! as associated data), its signature is the enrolled site's, its body names the same bundle,
//! site and session as its routing fields, the candidate is on that session's roster with the
//! paper seed central gave them, and the hash chain over its changes matches its head. The
//! bundle id is the primary key: the same bytes again are a duplicate (acknowledged, not stored
//! twice); different bytes under an accepted id raise an alarm and are refused. Every refusal is
//! logged with its reason.
//!
//! Scoring reproduces the candidate's paper from the plan's content and the paper seed and scores
//! each objective item; short answers wait for a marker ([`crate::marking`]).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use exam_crypto::chain::ChainHash;
use exam_crypto::seal::Sealed;
use exam_crypto::sign::{PublicKey, Signature};
use exam_domain::score::{ItemScore, score_item};
use exam_domain::{Paper, Response};
use exam_protocol::central::{
    self, RESULT_CHAIN_CONTEXT, RESULT_FORMAT, RESULT_HPKE_INFO, RESULT_SIGNING_CONTEXT,
    ReceiptOutcome, ResultBody, ResultChange, ResultReceipt, Signed,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::keys::CentralKeys;
use crate::plans;

/// Why a sealed result was refused.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("成绩包无法读取 / the sealed result is malformed: {0}")]
    Malformed(String),
    #[error("成绩包来自未注册的考点 {0} / the result names site {0}, which is not enrolled")]
    UnknownSite(String),
    #[error(
        "成绩包属于考点 {named}，却由考点 {sender} 发送 / the result belongs to site {named} but was sent by site {sender}"
    )]
    WrongSender { named: String, sender: String },
    #[error(
        "成绩包无法解密或已被改动 / the sealed result does not decrypt: it was altered, or sealed for another authority"
    )]
    Undecryptable,
    #[error(
        "成绩包签名无效（伪造或被改动） / the result's signature is not the site's: forged or altered"
    )]
    BadSignature,
    #[error(
        "成绩包内容与其标识不符 / the result's content does not match its routing fields ({0})"
    )]
    Mismatch(String),
    #[error(
        "考生 {0} 不在该场次该考点的名单中 / candidate {0} is not on this session's roster at this site"
    )]
    NotOnRoster(String),
    #[error(
        "答题记录的哈希链不符 / the change log's hash chain does not match its head: the log was altered"
    )]
    ChainBroken,
    #[error(
        "标识 {0} 已有另一份不同的成绩，已报警 / a different result was accepted under id {0} before: refused and an alarm raised"
    )]
    Conflict(String),
    #[error(
        "成绩包暂不能核对，稍后重试 / the result cannot be checked now ({0}); the site retries"
    )]
    NotNow(String),
    #[error("{0}")]
    Internal(String),
}

impl Rejection {
    /// Whether sending the same bytes again can never succeed.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Rejection::NotNow(_) | Rejection::Internal(_))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::Malformed(_) | Rejection::Mismatch(_) | Rejection::ChainBroken => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Rejection::UnknownSite(_) | Rejection::WrongSender { .. } => StatusCode::FORBIDDEN,
            Rejection::Undecryptable | Rejection::BadSignature => StatusCode::UNPROCESSABLE_ENTITY,
            Rejection::NotOnRoster(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Rejection::Conflict(_) => StatusCode::CONFLICT,
            Rejection::NotNow(_) => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn internal(e: impl std::fmt::Display) -> Rejection {
    Rejection::Internal(e.to_string())
}

/// Takes one sealed result (`bytes` as sent). `sender` is the enrolled site that sent it over the
/// API (None for a USB import). Refusals are logged in `result_rejections`.
pub fn ingest(
    conn: &mut Connection,
    keys: &CentralKeys,
    bytes: &[u8],
    sender: Option<&str>,
    via: &str,
    now_unix_ms: i64,
) -> Result<ResultReceipt, Rejection> {
    ingest_batch(conn, keys, &[bytes], sender, via, now_unix_ms)
        .map_err(internal)?
        .pop()
        .unwrap_or_else(|| Err(internal("no outcome")))
}

/// Takes a batch of sealed results in one transaction (each in a savepoint of its own, so one
/// refusal leaves the others): one outcome per result, in order.
pub fn ingest_batch(
    conn: &mut Connection,
    keys: &CentralKeys,
    batch: &[&[u8]],
    sender: Option<&str>,
    via: &str,
    now_unix_ms: i64,
) -> rusqlite::Result<Vec<Result<ResultReceipt, Rejection>>> {
    let mut tx = conn.transaction()?;
    let mut definitions = Definitions::default();
    let mut out = Vec::with_capacity(batch.len());
    for bytes in batch {
        let sp = tx.savepoint()?;
        let outcome = check_and_store(&sp, keys, bytes, sender, via, now_unix_ms, &mut definitions);
        if outcome.is_ok() {
            sp.commit()?;
        } else {
            drop(sp); // rolls back
        }
        if let Err(e) = &outcome {
            refused(&tx, bytes, sender, via, now_unix_ms, e)?;
        }
        out.push(outcome);
    }
    tx.commit()?;
    Ok(out)
}

/// Logs a refusal; a conflict with an accepted result also raises an alarm.
fn refused(
    conn: &Connection,
    bytes: &[u8],
    sender: Option<&str>,
    via: &str,
    now_unix_ms: i64,
    e: &Rejection,
) -> rusqlite::Result<()> {
    if !e.is_permanent() {
        return Ok(());
    }
    let id = central::decode_result(bytes)
        .map(|s| s.bundle_id)
        .unwrap_or_default();
    tracing::warn!(bundle = %id, sender = sender.unwrap_or("(file)"), reason = %e, "sealed result refused");
    if let Rejection::Conflict(bundle) = e {
        // A valid result that differs from the accepted one: the site or someone between is
        // sending two versions of one attempt. The first stays; an operator must look.
        tracing::error!(bundle = %bundle, "ALARM: a different result under an accepted id");
        conn.execute(
            "INSERT INTO alarms (at_unix_ms, kind, detail) VALUES (?1, 'result_conflict', ?2)",
            params![
                now_unix_ms,
                format!("bundle {bundle} arrived again with different content (via {via})")
            ],
        )?;
    }
    conn.execute(
        "INSERT INTO result_rejections (at_unix_ms, bundle_id, sender, via, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_unix_ms, id, sender.unwrap_or(""), via, e.to_string()],
    )?;
    Ok(())
}

/// What a batch reads once: test definitions by content id, sessions by id.
#[derive(Default)]
pub(crate) struct Definitions {
    tests: std::collections::HashMap<String, exam_content::assembly::TestDefinition>,
    sessions: std::collections::HashMap<String, std::rc::Rc<plans::SessionForSite>>,
}

impl Definitions {
    fn session(
        &mut self,
        conn: &Connection,
        id: &str,
    ) -> Result<std::rc::Rc<plans::SessionForSite>, Rejection> {
        if let Some(s) = self.sessions.get(id) {
            return Ok(s.clone());
        }
        // A session whose plan is unlocked for a correction cannot be checked now; the site
        // retries.
        let s = std::rc::Rc::new(
            plans::session_for_site(conn, id).map_err(|e| Rejection::NotNow(e.to_string()))?,
        );
        self.sessions.insert(id.to_owned(), s.clone());
        Ok(s)
    }

    /// The paper a candidate was given: the content assembled with their seed.
    pub(crate) fn paper(
        &mut self,
        conn: &Connection,
        content_id: &str,
        seed: u64,
    ) -> Result<Paper, Rejection> {
        if !self.tests.contains_key(content_id) {
            let zip: Vec<u8> = conn
                .query_row(
                    "SELECT package FROM content WHERE id = ?1",
                    [content_id],
                    |r| r.get(0),
                )
                .map_err(internal)?;
            let report = exam_content::qti::import_package(&zip).map_err(internal)?;
            let (def, _) = exam_content::qti::to_test_definition(&report).map_err(internal)?;
            self.tests.insert(content_id.to_owned(), def);
        }
        let def = self
            .tests
            .get(content_id)
            .ok_or_else(|| internal("definition"))?;
        Ok(exam_content::assembly::assemble(def, seed))
    }
}

fn check_and_store(
    conn: &Connection,
    keys: &CentralKeys,
    bytes: &[u8],
    sender: Option<&str>,
    via: &str,
    now_unix_ms: i64,
    definitions: &mut Definitions,
) -> Result<ResultReceipt, Rejection> {
    let sealed = central::decode_result(bytes).map_err(|e| Rejection::Malformed(e.to_string()))?;
    if sealed.format != RESULT_FORMAT {
        return Err(Rejection::Malformed(format!(
            "format {} (this central reads {RESULT_FORMAT})",
            sealed.format
        )));
    }
    if let Some(sender) = sender
        && sender != sealed.site_code
    {
        return Err(Rejection::WrongSender {
            named: sealed.site_code.clone(),
            sender: sender.to_owned(),
        });
    }
    let digest = exam_crypto::Fingerprint::of(bytes).to_string();
    let held: Option<String> = conn
        .query_row(
            "SELECT sealed_sha256 FROM results WHERE bundle_id = ?1",
            [&sealed.bundle_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(internal)?;
    if held.as_deref() == Some(digest.as_str()) {
        return Ok(ResultReceipt {
            bundle_id: sealed.bundle_id,
            outcome: ReceiptOutcome::Duplicate,
        });
    }
    let site_keys = crate::enroll::site_signing_keys(conn, &sealed.site_code).map_err(internal)?;
    if site_keys.is_empty() {
        return Err(Rejection::UnknownSite(sealed.site_code.clone()));
    }
    let enc: [u8; 32] = sealed
        .enc
        .as_slice()
        .try_into()
        .map_err(|_| Rejection::Undecryptable)?;
    let plain = exam_crypto::seal::open(
        &keys.encryption,
        RESULT_HPKE_INFO,
        &central::result_aad(&sealed.bundle_id, &sealed.site_code, &sealed.session_id),
        &Sealed {
            enc,
            ciphertext: sealed.ciphertext.clone(),
        },
    )
    .map_err(|_| Rejection::Undecryptable)?;
    let signed: Signed =
        central::decode_result_part(&plain).map_err(|e| Rejection::Malformed(e.to_string()))?;
    let signature =
        Signature::from_bytes(&signed.signature).map_err(|_| Rejection::BadSignature)?;
    // The site's current key, or one it had before enrolling again (results sealed earlier).
    if !site_keys.iter().any(|k| {
        PublicKey::from_hex(k).is_ok_and(|k| {
            k.verify_with_context(RESULT_SIGNING_CONTEXT, &signed.signed, &signature)
                .is_ok()
        })
    }) {
        return Err(Rejection::BadSignature);
    }
    let body: ResultBody = central::decode_result_part(&signed.signed)
        .map_err(|e| Rejection::Malformed(e.to_string()))?;
    if body.bundle_id != sealed.bundle_id
        || body.site_code != sealed.site_code
        || body.session_id != sealed.session_id
        || body.bundle_id
            != central::bundle_id(&body.site_code, &body.session_id, &body.admission_no)
    {
        return Err(Rejection::Mismatch(format!(
            "bundle {} / site {} / session {}",
            body.bundle_id, body.site_code, body.session_id
        )));
    }
    let session = definitions.session(conn, &body.session_id)?;
    if session.site_code != body.site_code {
        return Err(Rejection::Mismatch(format!(
            "session {} is not held at site {}",
            body.session_id, body.site_code
        )));
    }
    let candidate = session
        .candidates
        .iter()
        .find(|c| c.admission_no == body.admission_no && c.id_number == body.id_number)
        .ok_or_else(|| Rejection::NotOnRoster(body.admission_no.clone()))?;
    if candidate.paper_seed != body.paper_seed {
        return Err(Rejection::Mismatch(
            "the paper seed is not the one central gave".into(),
        ));
    }
    let mut head = ChainHash::genesis(RESULT_CHAIN_CONTEXT.as_bytes());
    for c in &body.changes {
        head = head.next(&c.chain_bytes());
    }
    if head.to_hex() != body.chain_head_hex {
        return Err(Rejection::ChainBroken);
    }
    // What is scored must be what the chained log says: the last stored change of each item.
    let last = ResultChange::last_answers(&body.changes);
    let stated: BTreeMap<&str, &str> = body
        .final_answers
        .iter()
        .map(|(i, r)| (i.as_str(), r.as_str()))
        .collect();
    if last != stated || stated.len() != body.final_answers.len() {
        return Err(Rejection::Mismatch(
            "the final answers are not the last changes of the log, each item once".into(),
        ));
    }
    if held.is_some() {
        return Err(Rejection::Conflict(body.bundle_id));
    }
    let paper = definitions.paper(conn, &session.content_id, body.paper_seed)?;
    let score = score(&paper, &body, &BTreeMap::new(), session.pass_mark_percent);
    conn.execute(
        "INSERT INTO results (bundle_id, site_code, session_id, admission_no, id_number, sealed_sha256, sealed, body_json, submitted_reason, received_at_unix_ms, via, total_centipoints, max_centipoints, passed, needs_marking, sections_json, items_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        params![
            body.bundle_id,
            body.site_code,
            body.session_id,
            body.admission_no,
            body.id_number,
            digest,
            bytes,
            serde_json::to_string(&body).map_err(internal)?,
            body.submitted_reason,
            now_unix_ms,
            via,
            score.total_centipoints,
            score.max_centipoints,
            score.passed,
            score.needs_marking,
            serde_json::to_string(&score.sections).map_err(internal)?,
            serde_json::to_string(&score.items).map_err(internal)?,
        ],
    )
    .map_err(internal)?;
    tracing::info!(bundle = %body.bundle_id, via, "result accepted");
    Ok(ResultReceipt {
        bundle_id: body.bundle_id,
        outcome: ReceiptOutcome::Accepted,
    })
}

/// A scored result.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Score {
    pub total_centipoints: u32,
    pub max_centipoints: u32,
    pub passed: bool,
    /// Items a marker still has to score (short answers).
    pub needs_marking: u32,
    pub sections: Vec<SectionScore>,
    /// `(item, centipoints or None when a marker scores it)`.
    pub items: Vec<(String, Option<u32>)>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SectionScore {
    pub id: String,
    pub title: String,
    pub centipoints: u32,
    pub max_centipoints: u32,
}

/// Scores the objective items of `paper` from the result's final answers, and the items a marker
/// scored from `marks` (centipoints by item id).
pub fn score(
    paper: &Paper,
    body: &ResultBody,
    marks: &BTreeMap<String, u32>,
    pass_mark_percent: u32,
) -> Score {
    let answers: BTreeMap<&str, Response> = body
        .final_answers
        .iter()
        .filter_map(|(item, json)| Some((item.as_str(), serde_json::from_str(json).ok()?)))
        .collect();
    let mut out = Score {
        total_centipoints: 0,
        max_centipoints: 0,
        passed: false,
        needs_marking: 0,
        sections: Vec::new(),
        items: Vec::new(),
    };
    for section in &paper.sections {
        let mut s = SectionScore {
            id: section.id.clone(),
            title: section.title.clone(),
            centipoints: 0,
            max_centipoints: 0,
        };
        for item in &section.items {
            s.max_centipoints += item.weight * 100;
            let scored = match score_item(item, answers.get(item.id.as_str())) {
                ItemScore::NeedsMarker => marks
                    .get(item.id.as_str())
                    .map_or(ItemScore::NeedsMarker, |m| ItemScore::Centipoints(*m)),
                scored => scored,
            };
            match scored {
                ItemScore::Centipoints(c) => {
                    s.centipoints += c;
                    out.items.push((item.id.as_str().to_owned(), Some(c)));
                }
                ItemScore::NeedsMarker => {
                    out.needs_marking += 1;
                    out.items.push((item.id.as_str().to_owned(), None));
                }
            }
        }
        out.total_centipoints += s.centipoints;
        out.max_centipoints += s.max_centipoints;
        out.sections.push(s);
    }
    out.passed = out.needs_marking == 0
        && u64::from(out.total_centipoints) * 100
            >= u64::from(pass_mark_percent) * u64::from(out.max_centipoints);
    out
}
