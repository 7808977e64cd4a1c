//! Exam packages: per site and session, what the site needs to run the exam with the uplink down.
//!
//! A package holds the session (times, rooms, seated roster with photos and paper seeds), the
//! blacklist, and the QTI content encrypted under the session's **paper key** (AES-256-GCM, one
//! key per session, made when its first package is built). It also holds the paper key wrapped
//! under the session's **release code** (Argon2id), so a site whose uplink is down can open the
//! paper with a code read over the phone. Central signs the whole (Ed25519, context
//! [`PACKAGE_SIGNING_CONTEXT`]).
//!
//! Packages are built when a site asks for its list, for every approved session of the site;
//! a package is rebuilt with the next version whenever what it says changed (the roster after an
//! unlock, the blacklist). The paper key is released online from [`KEY_RELEASE_BEFORE_MS`]
//! before the start.

use axum::http::StatusCode;
use exam_crypto::paper::PaperKey;
use exam_crypto::release_code::{ReleaseCode, wrap_paper_key};
use exam_protocol::central::{
    self, BannedPerson, KeyRelease, PACKAGE_FORMAT, PACKAGE_SIGNING_CONTEXT, PackageBody,
    PackageCandidate, PackageList, PackageListEntry, PackageRoom, Signed,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::api::Refusal;
use crate::keys::CentralKeys;
use crate::plans::{self, SessionForSite};

/// How long before the start central releases the paper key online: 30 minutes.
pub const KEY_RELEASE_BEFORE_MS: i64 = 30 * 60 * 1000;
/// A package stays valid this long after its session's end: one day.
pub const PACKAGE_VALID_AFTER_END_MS: i64 = 24 * 3_600_000;

/// The session's paper key and release code, made on first use.
fn session_key(
    conn: &Connection,
    session_id: &str,
    now_unix_ms: i64,
) -> anyhow::Result<(PaperKey, Vec<u8>)> {
    let row: Option<(Vec<u8>, Vec<u8>)> = conn
        .query_row(
            "SELECT paper_key, wrapped_key FROM session_keys WHERE session_id = ?1",
            [session_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((key, wrapped)) = row {
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| anyhow::anyhow!("the stored paper key of {session_id} is damaged"))?;
        return Ok((PaperKey::from_bytes(key), wrapped));
    }
    let key = PaperKey::generate()?;
    let code = ReleaseCode::generate()?;
    let wrapped = wrap_paper_key(&code, session_id, &key)?.to_bytes();
    conn.execute(
        "INSERT INTO session_keys (session_id, paper_key, release_code, wrapped_key, created_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            session_id,
            key.expose_bytes().as_slice(),
            code.reveal().as_str(),
            wrapped,
            now_unix_ms
        ],
    )?;
    Ok((key, wrapped))
}

/// The release code of a session (for `central-sync session release-code`), logged.
pub fn release_code(
    conn: &mut Connection,
    session_id: &str,
    by: &str,
    now_unix_ms: i64,
) -> anyhow::Result<String> {
    let tx = conn.transaction()?;
    plans::session_for_site(&tx, session_id)?;
    session_key(&tx, session_id, now_unix_ms)?;
    let code: String = tx.query_row(
        "SELECT release_code FROM session_keys WHERE session_id = ?1",
        [session_id],
        |r| r.get(0),
    )?;
    crate::store::audit(&tx, by, "release-code shown", session_id, "")?;
    tx.commit()?;
    Ok(code)
}

fn build_body(
    conn: &Connection,
    s: &SessionForSite,
    version: u64,
    now_unix_ms: i64,
) -> anyhow::Result<PackageBody> {
    let (key, wrapped) = session_key(conn, &s.session_id, now_unix_ms)?;
    let content: Vec<u8> = conn
        .query_row(
            "SELECT package FROM content WHERE id = ?1",
            [&s.content_id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| anyhow::anyhow!("the content {} of the plan is missing", s.content_id))?;
    let sealed_content = key.seal(&central::paper_aad(&s.session_id), &content)?;
    let end = s.starts_at_unix_ms + i64::from(s.duration_min) * 60_000;
    Ok(PackageBody {
        format: PACKAGE_FORMAT,
        site_code: s.site_code.clone(),
        session_id: s.session_id.clone(),
        plan_id: s.plan_id.clone(),
        version,
        created_unix_ms: now_unix_ms,
        expires_unix_ms: end + PACKAGE_VALID_AFTER_END_MS,
        title: s.title.clone(),
        starts_at_unix_ms: s.starts_at_unix_ms,
        duration_min: s.duration_min,
        latest_login_min: s.latest_login_min,
        pass_mark_percent: s.pass_mark_percent,
        release_at_unix_ms: s.starts_at_unix_ms - KEY_RELEASE_BEFORE_MS,
        rooms: s
            .rooms
            .iter()
            .map(|r| PackageRoom {
                code: r.code.clone(),
                name: r.name.clone(),
                capacity: r.capacity,
            })
            .collect(),
        candidates: s
            .candidates
            .iter()
            .map(|c| PackageCandidate {
                admission_no: c.admission_no.clone(),
                id_number: c.id_number.clone(),
                name: c.name.clone(),
                room: c.room.clone(),
                seat: c.seat,
                photo: c.photo.clone(),
                paper_seed: c.paper_seed,
            })
            .collect(),
        banned: banned_on_roster(conn, s, now_unix_ms)?
            .into_iter()
            .map(|(id_number, until_unix_ms, reason)| BannedPerson {
                id_number,
                until_unix_ms,
                reason,
            })
            .collect(),
        sealed_content,
        wrapped_key: wrapped,
    })
}

/// The bans in force of people on the session's roster: a site learns nothing about anyone else,
/// and a ban of someone else does not make a new package version.
fn banned_on_roster(
    conn: &Connection,
    s: &SessionForSite,
    now_unix_ms: i64,
) -> anyhow::Result<Vec<(String, i64, String)>> {
    let roster: std::collections::BTreeSet<&str> =
        s.candidates.iter().map(|c| c.id_number.as_str()).collect();
    Ok(crate::blacklist::active_at(conn, now_unix_ms)?
        .into_iter()
        .filter(|(id, _, _)| roster.contains(id.as_str()))
        .collect())
}

/// Signs a package body into the file a site takes.
pub fn sign(keys: &CentralKeys, body: &PackageBody) -> anyhow::Result<Vec<u8>> {
    let signed = central::encode_body(body)?;
    let signature = keys
        .signing
        .sign_with_context(PACKAGE_SIGNING_CONTEXT, &signed)?;
    Ok(central::encode_package(&Signed {
        signed,
        signature: signature.to_bytes().to_vec(),
    })?)
}

/// The current package of a session (built or rebuilt if what it says changed), returned as
/// `(version, bytes)`.
pub fn current(
    conn: &mut Connection,
    keys: &CentralKeys,
    session_id: &str,
    now_unix_ms: i64,
) -> anyhow::Result<(u64, Vec<u8>)> {
    let tx = conn.transaction()?;
    let s = plans::session_for_site(&tx, session_id)?;
    let banned = banned_on_roster(&tx, &s, now_unix_ms)?;
    // What the package says, apart from when it was built: a change makes a new version.
    let input = serde_json::to_vec(&(&s, &banned))?;
    let digest = exam_crypto::Fingerprint::of(&input).to_string();
    let held: Option<(u64, String, Vec<u8>)> = tx
        .query_row(
            "SELECT version, input_sha256, bytes FROM packages WHERE session_id = ?1",
            [session_id],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((version, d, bytes)) = &held
        && *d == digest
    {
        return Ok((*version, bytes.clone()));
    }
    let version = held.map_or(1, |(v, _, _)| v + 1);
    let bytes = sign(keys, &build_body(&tx, &s, version, now_unix_ms)?)?;
    tx.execute(
        "INSERT INTO packages (session_id, site_code, version, input_sha256, bytes, created_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(session_id) DO UPDATE SET site_code = excluded.site_code, version = excluded.version, input_sha256 = excluded.input_sha256, bytes = excluded.bytes, created_at_unix_ms = excluded.created_at_unix_ms",
        params![session_id, s.site_code, version as i64, digest, bytes, now_unix_ms],
    )?;
    crate::store::audit(
        &tx,
        "central",
        "package built",
        session_id,
        &format!("version {version} for site {}", s.site_code),
    )?;
    tx.commit()?;
    Ok((version, bytes))
}

/// The packages of every approved session of `site` (built when missing or out of date).
pub fn list_for_site(
    conn: &mut Connection,
    keys: &CentralKeys,
    site: &str,
    now_unix_ms: i64,
) -> Result<PackageList, Refusal> {
    let sessions = plans::approved_sessions_for_site(conn, site).map_err(Refusal::internal)?;
    let mut packages = Vec::new();
    for session_id in sessions {
        let (version, bytes) =
            current(conn, keys, &session_id, now_unix_ms).map_err(Refusal::internal)?;
        packages.push(PackageListEntry {
            session_id,
            version,
            bytes: bytes.len() as u64,
        });
    }
    Ok(PackageList { packages })
}

/// The stored package of `session` for `site`.
pub fn stored(conn: &Connection, site: &str, session: &str) -> Result<Vec<u8>, Refusal> {
    conn.query_row(
        "SELECT bytes FROM packages WHERE session_id = ?1 AND site_code = ?2",
        params![session, site],
        |r| r.get(0),
    )
    .optional()
    .map_err(Refusal::internal)?
    .ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            format!(
                "没有本考点场次 {session} 的试卷包 / no package of session {session} for this site"
            ),
        )
    })
}

/// The paper key of `session` for `site`, from [`KEY_RELEASE_BEFORE_MS`] before its start.
pub fn release_key(
    conn: &mut Connection,
    site: &str,
    session: &str,
    now_unix_ms: i64,
) -> Result<KeyRelease, Refusal> {
    let s = plans::session_for_site(conn, session)
        .map_err(|e| Refusal::new(StatusCode::NOT_FOUND, e.to_string()))?;
    if s.site_code != site {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!("场次 {session} 不在本考点 / session {session} is not held at this site"),
        ));
    }
    let release_at = s.starts_at_unix_ms - KEY_RELEASE_BEFORE_MS;
    if now_unix_ms < release_at {
        return Err(Refusal::new(
            StatusCode::TOO_EARLY,
            format!(
                "试卷密钥将于 {} 发放 / the paper key is released at {} (China Standard Time)",
                crate::time::format_cst(release_at),
                crate::time::format_cst(release_at)
            ),
        ));
    }
    let (key, _) = session_key(conn, session, now_unix_ms).map_err(Refusal::internal)?;
    crate::store::audit(conn, site, "paper key released", session, "online")
        .map_err(Refusal::internal)?;
    Ok(KeyRelease {
        session_id: session.to_owned(),
        paper_key_hex: hex::encode(key.expose_bytes()),
    })
}
