//! Exam packages at the site: verified, kept sealed, and opened at key release.
//!
//! A package is taken (pulled from central, or `site-server import-package` from a USB stick)
//! only if central's signature is good, it is for this site, it has not expired, and it is newer
//! than the one held; otherwise it is refused with the reason and nothing changes. It is kept as
//! received in `uplink.db`: the paper inside stays encrypted, on disk and in memory, until the
//! paper key is released — online from central, or with the session's release code typed in
//! (`site-server release`), which allows [`RELEASE_TRIES_MAX`] wrong codes before a wait of
//! [`RELEASE_LOCKOUT_MS`].
//!
//! Release opens the content, assembles nothing yet (each candidate's paper is assembled from
//! it when they log in) and creates the session's own store in `sessions/<id>/`, whole or not
//! at all (it is built in a temporary directory and renamed).

use std::path::Path;

use anyhow::Context;
use exam_crypto::paper::PaperKey;
use exam_crypto::release_code::{ReleaseCode, WrappedKey, unwrap_paper_key};
use exam_domain::{AdmissionNo, AttemptId, IdNumber};
use exam_protocol::central::{self, PACKAGE_FORMAT, PACKAGE_SIGNING_CONTEXT, PackageBody};
use exam_site_core::CandidateRecord;
use rusqlite::{Connection, OptionalExtension, params};

use crate::central::{Enrollment, session_dir};
use crate::papers::CandidatePapers;
use crate::store::{self, CentralSession, NewSession};

pub const UPLINK_DB: &str = "uplink.db";
/// Wrong release codes allowed before a wait.
pub const RELEASE_TRIES_MAX: u32 = 5;
/// The wait after too many wrong codes: 15 minutes.
pub const RELEASE_LOCKOUT_MS: i64 = 15 * 60 * 1000;
/// Seconds a candidate may be disconnected before their clock stops, in sessions from central.
pub const CENTRAL_GRACE_SECS: u32 = 60;
/// Longest session id accepted (it names a directory).
const SESSION_ID_MAX: usize = 64;

const SCHEMA: exam_sqlite::Schema = exam_sqlite::Schema {
    application_id: 0x4558_5355, // "EXSU"
    migrations: &["CREATE TABLE packages (
             session_id TEXT PRIMARY KEY,
             version INTEGER NOT NULL,
             title TEXT NOT NULL,
             starts_at_unix_ms INTEGER NOT NULL,
             duration_min INTEGER NOT NULL,
             release_at_unix_ms INTEGER NOT NULL,
             bytes BLOB NOT NULL,
             source TEXT NOT NULL,
             received_at_unix_ms INTEGER NOT NULL,
             released_at_unix_ms INTEGER,
             released_how TEXT
         );
         CREATE TABLE release_tries (
             session_id TEXT PRIMARY KEY,
             failures INTEGER NOT NULL,
             locked_until_unix_ms INTEGER NOT NULL
         );
         CREATE TABLE delivered (
             bundle_id TEXT PRIMARY KEY,
             outcome TEXT NOT NULL,
             at_unix_ms INTEGER NOT NULL
         );
         CREATE TABLE log (
             id INTEGER PRIMARY KEY,
             at_unix_ms INTEGER NOT NULL,
             event TEXT NOT NULL,
             detail TEXT NOT NULL
         );"],
};

/// Opens (creating) the site's `uplink.db`.
pub fn open(home: &Path) -> anyhow::Result<Connection> {
    exam_fs::ensure_private_dir(home)?;
    Ok(exam_sqlite::open_writer(&home.join(UPLINK_DB), &SCHEMA)?)
}

pub fn log(conn: &Connection, event: &str, detail: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO log (at_unix_ms, event, detail) VALUES (?1, ?2, ?3)",
        params![store::unix_ms(), event, detail],
    )?;
    Ok(())
}

fn valid_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= SESSION_ID_MAX
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// What a package says, once its signature is checked to be central's.
fn signed_body(bytes: &[u8], e: &Enrollment) -> anyhow::Result<PackageBody> {
    let signed = central::decode_package(bytes)?;
    let signature = exam_crypto::sign::Signature::from_bytes(&signed.signature)
        .map_err(|_| anyhow::anyhow!("试卷包签名无效 / the package's signature is malformed: it was altered; get it again from the exam centre"))?;
    e.central_signing()?
        .verify_with_context(PACKAGE_SIGNING_CONTEXT, &signed.signed, &signature)
        .map_err(|_| anyhow::anyhow!("试卷包签名无效 / the package is not signed by this site's exam centre (altered, or from another authority): it was refused; get it again from the exam centre"))?;
    Ok(central::decode_package_body(&signed.signed)?)
}

/// Checks a package's signature, site and expiry; returns what it says.
pub fn verify(bytes: &[u8], e: &Enrollment, now_unix_ms: i64) -> anyhow::Result<PackageBody> {
    let body = signed_body(bytes, e)?;
    anyhow::ensure!(
        body.format == PACKAGE_FORMAT,
        "the package has format {} and this site-server reads {PACKAGE_FORMAT}: update site-server",
        body.format
    );
    anyhow::ensure!(
        body.site_code == e.site_code,
        "该试卷包属于考点 {}，本考点为 {} / the package is for site {}, this is site {}: it was refused",
        body.site_code,
        e.site_code,
        body.site_code,
        e.site_code
    );
    anyhow::ensure!(
        valid_session_id(&body.session_id),
        "the package names a session id that is not valid"
    );
    anyhow::ensure!(
        now_unix_ms < body.expires_unix_ms,
        "试卷包已过期 / the package of session {} expired at {}: it was refused",
        body.session_id,
        exam_domain::cst::format_cst(body.expires_unix_ms)
    );
    Ok(body)
}

/// What [`import`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Imported {
    New {
        session: String,
        version: u64,
    },
    Newer {
        session: String,
        version: u64,
        was: u64,
    },
    AlreadyHeld {
        session: String,
        version: u64,
    },
}

/// Takes a package (verified first); refuses one older than the one held, or one for a session
/// already released here.
pub fn import(
    conn: &mut Connection,
    e: &Enrollment,
    bytes: &[u8],
    source: &str,
    now_unix_ms: i64,
) -> anyhow::Result<Imported> {
    let body = verify(bytes, e, now_unix_ms)?;
    let tx = conn.transaction()?;
    let held: Option<(u64, Option<i64>)> = tx
        .query_row(
            "SELECT version, released_at_unix_ms FROM packages WHERE session_id = ?1",
            [&body.session_id],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
        )
        .optional()?;
    let outcome = match held {
        Some((v, _)) if v == body.version => {
            return Ok(Imported::AlreadyHeld {
                session: body.session_id,
                version: v,
            });
        }
        Some((v, _)) if v > body.version => anyhow::bail!(
            "该试卷包（第 {} 版）比本考点已有的（第 {v} 版）旧 / this package of session {} is version {}, older than version {v} held here: it was refused",
            body.version,
            body.session_id,
            body.version
        ),
        Some((v, Some(_))) => anyhow::bail!(
            "场次 {} 的试卷已在本考点启封，新版本（第 {} 版）不能再替换 / the paper of session {} was already released here (version {v}); version {} cannot replace it: contact the exam centre",
            body.session_id,
            body.version,
            body.session_id,
            body.version
        ),
        Some((v, None)) => Imported::Newer {
            session: body.session_id.clone(),
            version: body.version,
            was: v,
        },
        None => Imported::New {
            session: body.session_id.clone(),
            version: body.version,
        },
    };
    tx.execute(
        "INSERT INTO packages (session_id, version, title, starts_at_unix_ms, duration_min, release_at_unix_ms, bytes, source, received_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(session_id) DO UPDATE SET version = excluded.version, title = excluded.title, starts_at_unix_ms = excluded.starts_at_unix_ms, duration_min = excluded.duration_min, release_at_unix_ms = excluded.release_at_unix_ms, bytes = excluded.bytes, source = excluded.source, received_at_unix_ms = excluded.received_at_unix_ms",
        params![
            body.session_id,
            body.version as i64,
            body.title,
            body.starts_at_unix_ms,
            body.duration_min,
            body.release_at_unix_ms,
            bytes,
            source,
            now_unix_ms
        ],
    )?;
    log(
        &tx,
        "package",
        &format!(
            "session {} version {} from {source}",
            body.session_id, body.version
        ),
    )?;
    tx.commit()?;
    Ok(outcome)
}

/// A held package.
#[derive(Debug, Clone)]
pub struct Held {
    pub session_id: String,
    pub version: u64,
    pub released: bool,
    pub release_at_unix_ms: i64,
    pub starts_at_unix_ms: i64,
    pub duration_min: u32,
    pub title: String,
}

/// Every held package, by start (from what was recorded when it was verified and taken; the
/// package itself is verified again whenever it is opened).
pub fn held(conn: &Connection) -> anyhow::Result<Vec<Held>> {
    let mut stmt = conn.prepare(
        "SELECT session_id, version, released_at_unix_ms, release_at_unix_ms, starts_at_unix_ms, duration_min, title FROM packages ORDER BY starts_at_unix_ms, session_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Held {
            session_id: r.get(0)?,
            version: r.get::<_, i64>(1)? as u64,
            released: r.get::<_, Option<i64>>(2)?.is_some(),
            release_at_unix_ms: r.get(3)?,
            starts_at_unix_ms: r.get(4)?,
            duration_min: r.get(5)?,
            title: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn held_body(conn: &Connection, e: &Enrollment, session: &str) -> anyhow::Result<PackageBody> {
    let bytes: Vec<u8> = conn
        .query_row(
            "SELECT bytes FROM packages WHERE session_id = ?1",
            [session],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "本考点没有场次 {session} 的试卷包 / this site holds no package of session {session}: wait for the uplink to fetch it, or import it from USB (`site-server import-package`)"
            )
        })?;
    signed_body(&bytes, e)
        .with_context(|| format!("the held package of {session} was damaged or altered on disk"))
}

/// Opens session `session`'s paper with `key` and creates its store. `how` says who released it.
pub fn release_with_key(
    conn: &mut Connection,
    home: &Path,
    e: &Enrollment,
    session: &str,
    key: &PaperKey,
    how: &str,
) -> anyhow::Result<()> {
    let body = held_body(conn, e, session)?;
    let dir = session_dir(home, session);
    if dir.join(store::DB_FILE).exists() {
        // Released before (a crash may have come between the store and this record).
        conn.execute(
            "UPDATE packages SET released_at_unix_ms = ?1, released_how = ?2 WHERE session_id = ?3 AND released_at_unix_ms IS NULL",
            params![store::unix_ms(), how, session],
        )?;
        return Ok(());
    }
    let content = key
        .open(&central::paper_aad(session), &body.sealed_content)
        .map_err(|_| {
            anyhow::anyhow!(
                "试卷密钥不能打开场次 {session} 的试卷 / the paper key does not open the paper of session {session}: it is the key of another session or the package was altered"
            )
        })?;
    let papers = CandidatePapers::from_content(&content)?;
    let banned: Vec<&central::BannedPerson> = body
        .banned
        .iter()
        .filter(|b| b.until_unix_ms > body.starts_at_unix_ms)
        .collect();
    let mut candidates = Vec::new();
    let mut excluded = Vec::new();
    for (c, attempt) in body.candidates.iter().zip(1u64..) {
        if let Some(b) = banned.iter().find(|b| b.id_number == c.id_number) {
            excluded.push(format!(
                "{} {}: banned until {} ({})",
                c.admission_no,
                c.name,
                exam_domain::cst::format_cst(b.until_unix_ms),
                b.reason
            ));
            continue;
        }
        candidates.push(CandidateRecord {
            admission_no: AdmissionNo::parse(&c.admission_no)
                .with_context(|| format!("admission number {} in the package", c.admission_no))?,
            id_number: IdNumber::parse(&c.id_number)
                .with_context(|| format!("ID number of {} in the package", c.admission_no))?,
            name: c.name.clone(),
            seat: format!("{}-{:03}", c.room, c.seat),
            photo: c.photo.clone(),
            attempt: AttemptId(attempt),
            seed: c.paper_seed,
            items: None,
        });
    }
    let sessions = home.join("sessions");
    exam_fs::ensure_private_dir(&sessions)?;
    let tmp = sessions.join(format!(".{session}.partial"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .with_context(|| format!("cannot remove the unfinished {}", tmp.display()))?;
    }
    {
        let mut sconn = store::open_writer(&tmp, true)?;
        store::create_session(
            &mut sconn,
            &NewSession {
                site_name: &e.site_name,
                title: &body.title,
                paper: papers.union(),
                grace_secs: CENTRAL_GRACE_SECS,
                starts_at_unix_ms: Some(body.starts_at_unix_ms),
                candidates,
                central: Some(CentralSession {
                    session_id: session,
                    site_code: &e.site_code,
                    package_version: body.version,
                    content_zip: &content,
                }),
            },
        )?;
    }
    std::fs::rename(&tmp, &dir).with_context(|| format!("cannot create {}", dir.display()))?;
    exam_fs::sync_parent(&dir)?;
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE packages SET released_at_unix_ms = ?1, released_how = ?2 WHERE session_id = ?3",
        params![store::unix_ms(), how, session],
    )?;
    log(&tx, "released", &format!("session {session} ({how})"))?;
    for x in &excluded {
        log(
            &tx,
            "banned",
            &format!("session {session}: {x} — cannot log in"),
        )?;
        tracing::warn!(session, "banned candidate excluded: {x}");
    }
    tx.commit()?;
    tracing::info!(session, how, "paper released");
    Ok(())
}

/// `site-server release --session ID --code …`: the offline release with the code read over the
/// phone. A wrong code counts against [`RELEASE_TRIES_MAX`]; the try is counted before the
/// (slow) check so that stopping the program does not give a free try.
pub fn release_with_code(
    conn: &mut Connection,
    home: &Path,
    e: &Enrollment,
    session: &str,
    code: &str,
    now_unix_ms: i64,
) -> anyhow::Result<()> {
    let body = held_body(conn, e, session)?;
    if session_dir(home, session).join(store::DB_FILE).exists() {
        // A crash may have come before the release was recorded: record it (a running
        // site-server then serves it), and say so.
        conn.execute(
            "UPDATE packages SET released_at_unix_ms = ?1, released_how = 'release code' WHERE session_id = ?2 AND released_at_unix_ms IS NULL",
            params![now_unix_ms, session],
        )?;
        anyhow::bail!(
            "场次 {session} 的试卷已启封 / the paper of session {session} is released already"
        );
    }
    let (failures, locked_until): (u32, i64) = conn
        .query_row(
            "SELECT failures, locked_until_unix_ms FROM release_tries WHERE session_id = ?1",
            [session],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, 0));
    if now_unix_ms < locked_until {
        anyhow::bail!(
            "启封码错误次数过多，请于 {} 后再试 / too many wrong release codes: try again after {} (or wait for the uplink)",
            exam_domain::cst::format_cst(locked_until),
            exam_domain::cst::format_cst(locked_until)
        );
    }
    let code = ReleaseCode::parse(code)?;
    let failures = if locked_until != 0 { 0 } else { failures } + 1;
    let lock = if failures >= RELEASE_TRIES_MAX {
        now_unix_ms + RELEASE_LOCKOUT_MS
    } else {
        0
    };
    conn.execute(
        "INSERT INTO release_tries (session_id, failures, locked_until_unix_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT(session_id) DO UPDATE SET failures = excluded.failures, locked_until_unix_ms = excluded.locked_until_unix_ms",
        params![session, failures, lock],
    )?;
    let wrapped = WrappedKey::from_bytes(&body.wrapped_key)?;
    let key = match unwrap_paper_key(&code, session, &wrapped) {
        Ok(k) => k,
        Err(exam_crypto::CryptoError::WrongReleaseCode) => {
            log(
                conn,
                "release code wrong",
                &format!("session {session}, try {failures}"),
            )?;
            let left = RELEASE_TRIES_MAX.saturating_sub(failures);
            if left == 0 {
                anyhow::bail!(
                    "启封码不正确；错误次数已达 {RELEASE_TRIES_MAX} 次，请 {} 分钟后再试 / the release code is wrong; that was try {RELEASE_TRIES_MAX}: try again in {} minutes",
                    RELEASE_LOCKOUT_MS / 60_000,
                    RELEASE_LOCKOUT_MS / 60_000
                );
            }
            anyhow::bail!(
                "启封码不正确，还可再试 {left} 次 / the release code is wrong: check it with the exam centre ({left} tries left)"
            );
        }
        Err(other) => return Err(other.into()),
    };
    conn.execute("DELETE FROM release_tries WHERE session_id = ?1", [session])?;
    release_with_key(conn, home, e, session, &key, "release code")
}
