//! Results sealed at submission, in the submission's own transaction.
//!
//! When the writer commits an attempt's submission (by the candidate, time-up or a proctor) for a
//! session that came from central, the [`Sealer`] builds the attempt's result from what the same
//! transaction sees (final answers, the candidate's item and option order, every change in
//! sequence order with a hash chain, the time log), signs it with the site key, encrypts it to
//! central (HPKE) and writes it to the `outbox` table. The submission and its sealed result
//! commit together or not at all, so no submitted attempt is ever without its result.

use std::sync::Arc;

use exam_crypto::chain::ChainHash;
use exam_crypto::seal::RecipientPublic;
use exam_crypto::sign::SigningKey;
use exam_domain::{AttemptId, ItemBody, Paper};
use exam_protocol::central::{
    self, RESULT_CHAIN_CONTEXT, RESULT_FORMAT, RESULT_HPKE_INFO, RESULT_SIGNING_CONTEXT,
    ResultBody, ResultChange, ResultTimeEntry, SealedResult, Signed,
};
use rusqlite::{Connection, params};

use crate::papers::CandidatePapers;

// An attempt within the engine's limits always seals into a result central takes: its changes'
// answers, the final answers (at most as many bytes again), and up to 256 bytes of bookkeeping
// per change, with room for the rest.
const _: () = assert!(
    2 * exam_site_core::limits::ANSWER_BYTES_PER_ATTEMPT_MAX
        + 256 * exam_site_core::limits::CHANGES_PER_ATTEMPT_MAX
        + 1024 * 1024
        <= exam_protocol::central::RESULT_BYTES_MAX as u64
);
const _: () = assert!(
    exam_protocol::central::RESULT_BYTES_MAX as usize
        <= exam_crypto::seal::SEALED_PLAINTEXT_BYTES_MAX
);

/// What sealing needs: who the site is, its key, central's key, and the session's papers.
pub struct Sealer {
    pub site_code: String,
    pub session_id: String,
    pub package_version: u64,
    pub signing: SigningKey,
    pub central: RecipientPublic,
    pub papers: Arc<CandidatePapers>,
}

fn conv(e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

impl Sealer {
    /// Seals `attempt`'s result inside `tx` (which already holds its submission) into the outbox.
    pub fn seal_into(
        &self,
        tx: &Connection,
        attempt: AttemptId,
        reason: &str,
        remaining_ms: u64,
        now_unix_ms: i64,
    ) -> rusqlite::Result<()> {
        let body = self.body(tx, attempt, reason, remaining_ms, now_unix_ms)?;
        let bytes = self.seal(&body).map_err(conv)?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO outbox (bundle_id, attempt_id, bytes, sealed_at_unix_ms) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![body.bundle_id, attempt.0 as i64, bytes, now_unix_ms])?;
        Ok(())
    }

    fn body(
        &self,
        tx: &Connection,
        attempt: AttemptId,
        reason: &str,
        remaining_ms: u64,
        now_unix_ms: i64,
    ) -> rusqlite::Result<ResultBody> {
        let a = attempt.0 as i64;
        let (admission_no, id_number, seed): (String, String, i64) = tx.query_row(
            "SELECT admission_no, id_number, seed FROM candidates WHERE attempt_id = ?1",
            [a],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let seed = seed as u64;
        let mut changes = Vec::new();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT seq, item_id, response, saved_at_unix_ms, refused FROM answer_changes WHERE attempt_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([a], |r| {
                Ok(ResultChange {
                    seq: r.get::<_, i64>(0)? as u64,
                    item: r.get(1)?,
                    response: r.get(2)?,
                    saved_at_unix_ms: r.get(3)?,
                    refused: r.get(4)?,
                })
            })?;
            for row in rows {
                changes.push(row?);
            }
        }
        let mut head = ChainHash::genesis(RESULT_CHAIN_CONTEXT.as_bytes());
        for c in &changes {
            head = head.next(&c.chain_bytes());
        }
        let final_answers = ResultChange::last_answers(&changes)
            .into_iter()
            .map(|(i, r)| (i.to_owned(), r.to_owned()))
            .collect();
        let mut time_log = Vec::new();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT at_unix_ms, event, remaining_ms, given_back_ms, by_whom, reason FROM time_log WHERE attempt_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([a], |r| {
                Ok(ResultTimeEntry {
                    at_unix_ms: r.get(0)?,
                    event: r.get(1)?,
                    remaining_ms: r.get::<_, i64>(2)? as u64,
                    given_back_ms: r.get::<_, i64>(3)? as u64,
                    by: r.get(4)?,
                    reason: r.get(5)?,
                })
            })?;
            for row in rows {
                time_log.push(row?);
            }
        }
        Ok(ResultBody {
            format: RESULT_FORMAT,
            bundle_id: central::bundle_id(&self.site_code, &self.session_id, &admission_no),
            site_code: self.site_code.clone(),
            session_id: self.session_id.clone(),
            package_version: self.package_version,
            admission_no,
            id_number,
            submitted_reason: reason.to_owned(),
            submitted_at_unix_ms: now_unix_ms,
            remaining_ms,
            paper_seed: seed,
            item_order: item_order(&self.papers.for_seed(seed), seed),
            final_answers,
            changes,
            chain_head_hex: head.to_hex(),
            time_log,
            check_in: Vec::new(),
        })
    }

    /// Signs and encrypts a result into the file central takes.
    pub fn seal(&self, body: &ResultBody) -> Result<Vec<u8>, SealError> {
        seal_result(&self.signing, &self.central, body)
    }
}

/// Signs `body` with `signing` and encrypts it to central's key `to` (HPKE, the routing fields bound as
/// associated data): the file central takes.
pub fn seal_result(
    signing: &SigningKey,
    to: &RecipientPublic,
    body: &ResultBody,
) -> Result<Vec<u8>, SealError> {
    let signed = central::encode_body(body)?;
    let signature = signing.sign_with_context(RESULT_SIGNING_CONTEXT, &signed)?;
    let envelope = central::encode_body(&Signed {
        signed,
        signature: signature.to_bytes().to_vec(),
    })?;
    let sealed = exam_crypto::seal::seal_to(
        to,
        RESULT_HPKE_INFO,
        &central::result_aad(&body.bundle_id, &body.site_code, &body.session_id),
        &envelope,
    )?;
    Ok(central::encode_result(&SealedResult {
        format: RESULT_FORMAT,
        bundle_id: body.bundle_id.clone(),
        site_code: body.site_code.clone(),
        session_id: body.session_id.clone(),
        enc: sealed.enc.to_vec(),
        ciphertext: sealed.ciphertext,
    })?)
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("could not encode the result: {0}")]
    Doc(#[from] central::DocError),
    #[error("could not seal the result: {0}")]
    Crypto(#[from] exam_crypto::CryptoError),
}

/// Item ids in the order the candidate saw them, with their options' order.
fn item_order(paper: &Paper, seed: u64) -> Vec<(String, Vec<String>)> {
    exam_domain::shuffle::candidate_order(paper, seed)
        .sections
        .iter()
        .flat_map(|s| s.items.iter())
        .map(|i| {
            let options = match &i.body {
                ItemBody::SingleChoice { options } | ItemBody::MultipleChoice { options } => {
                    options.iter().map(|o| o.id.as_str().to_owned()).collect()
                }
                _ => Vec::new(),
            };
            (i.id.as_str().to_owned(), options)
        })
        .collect()
}
