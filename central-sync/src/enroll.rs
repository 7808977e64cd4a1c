//! Site enrolment: central gives a site's admin a one-time token that expires
//! ([`ENROLL_TOKEN_VALIDITY_HOURS`] by default); `site-server init --central …` sends it with a
//! certificate request and the site's result-signing key; central issues the site's client
//! certificate and answers with its own public keys, which the site pins. A later enrolment of
//! the same site (a new token) replaces its certificate and key: the old ones stop working.
//!
//! Tokens are stored only as SHA-256 digests; a token is used once. The one repeat answered is
//! of the same enrolment whose answer never reached the site (a weak uplink): the same token
//! with a request for the same TLS key and the same signing key, before the token expires,
//! while they are still the site's and before the site has ever called with the certificate it
//! got. It gets a new certificate for the same key, which replaces the unused one; the keys stay.
//! A certificate is signed only once every check has passed.

use axum::http::StatusCode;
use exam_crypto::Fingerprint;
use exam_crypto::sign::PublicKey;
use exam_protocol::central::{EnrollRequest, EnrollResponse};
use rusqlite::{Connection, OptionalExtension, params};

use crate::api::Refusal;
use crate::keys::{CentralKeys, SiteRequest};

/// Default hours an enrolment token stays valid.
pub const ENROLL_TOKEN_VALIDITY_HOURS: u32 = 72;
/// Longest validity that can be asked for: 30 days.
pub const ENROLL_TOKEN_VALIDITY_HOURS_MAX: u32 = 720;
/// Random bytes in a token (shown as hex, in groups).
const TOKEN_BYTES: usize = 16;
/// Longest token text accepted.
const TOKEN_TEXT_MAX: usize = 128;

fn token_digest(token: &str) -> String {
    let cleaned: String = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Fingerprint::of(cleaned.as_bytes()).to_string()
}

/// Issues a new one-time token for `site_code`, valid `hours`. Earlier unused tokens of the site
/// stop working.
pub fn issue_token(
    conn: &mut Connection,
    site_code: &str,
    hours: u32,
    now_unix_ms: i64,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        (1..=ENROLL_TOKEN_VALIDITY_HOURS_MAX).contains(&hours),
        "--valid-hours must be between 1 and {ENROLL_TOKEN_VALIDITY_HOURS_MAX}"
    );
    anyhow::ensure!(
        site_name(conn, site_code)?.is_some(),
        "没有考点 {site_code} / no site {site_code}: add it with `central-sync site add` (see `central-sync site list`)"
    );
    let mut raw = [0u8; TOKEN_BYTES];
    for chunk in raw.chunks_mut(8) {
        let r = exam_crypto::random_u64()
            .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
        chunk.copy_from_slice(&r.to_le_bytes()[..chunk.len()]);
    }
    let hex = hex::encode(raw);
    let token = hex
        .as_bytes()
        .chunks(8)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-");
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM enroll_tokens WHERE site_code = ?1 AND used_at_unix_ms IS NULL",
        [site_code],
    )?;
    tx.execute(
        "INSERT INTO enroll_tokens (token_sha256, site_code, expires_at_unix_ms) VALUES (?1, ?2, ?3)",
        params![
            token_digest(&token),
            site_code,
            now_unix_ms + i64::from(hours) * 3_600_000
        ],
    )?;
    crate::store::audit(
        &tx,
        "central",
        "enroll-token",
        site_code,
        &format!("valid {hours} h"),
    )?;
    tx.commit()?;
    Ok(token)
}

fn site_name(conn: &Connection, code: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT name FROM sites WHERE code = ?1", [code], |r| {
        r.get(0)
    })
    .optional()
}

/// The site whose current client certificate has this fingerprint; its first call is noted
/// (from then on its enrolment is never answered again).
pub fn site_calling(
    conn: &Connection,
    fp: &Fingerprint,
    now_unix_ms: i64,
) -> rusqlite::Result<Option<String>> {
    let row: Option<(String, Option<i64>)> = conn
        .query_row(
            "SELECT site_code, first_call_at_unix_ms FROM site_keys WHERE cert_sha256 = ?1",
            [fp.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((site, first_call)) = row else {
        return Ok(None);
    };
    if first_call.is_none() {
        conn.execute(
            "UPDATE site_keys SET first_call_at_unix_ms = ?2 WHERE cert_sha256 = ?1",
            params![fp.to_string(), now_unix_ms],
        )?;
    }
    Ok(Some(site))
}

/// The result-signing keys of a site: the current one first, then those of earlier enrolments
/// (results sealed before it enrolled again still verify).
pub fn site_signing_keys(conn: &Connection, site: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT signing_public FROM site_keys WHERE site_code = ?1
         UNION ALL
         SELECT signing_public FROM site_keys_before WHERE site_code = ?1",
    )?;
    let rows = stmt.query_map([site], |r| r.get(0))?;
    rows.collect()
}

/// Enrols a site: checks the token, issues the certificate, records the keys — all or nothing.
pub fn enroll(
    conn: &mut Connection,
    keys: &CentralKeys,
    req: &EnrollRequest,
    now_unix_ms: i64,
) -> Result<EnrollResponse, Refusal> {
    let refuse = |m: &str| Refusal::new(StatusCode::FORBIDDEN, m);
    if req.token.len() > TOKEN_TEXT_MAX || req.site_code.len() > 64 {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "注册信息过长 / the enrolment request is too long",
        ));
    }
    let signing = PublicKey::from_hex(&req.signing_public_hex).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("考点签名公钥无效 / the site's signing key is not valid: {e}"),
        )
    })?;
    let tx = conn.transaction().map_err(Refusal::internal)?;
    type TokenRow = (String, i64, Option<i64>, Option<String>);
    let row: Option<TokenRow> = tx
        .query_row(
            "SELECT site_code, expires_at_unix_ms, used_at_unix_ms, used_by_key_sha256 FROM enroll_tokens WHERE token_sha256 = ?1",
            [token_digest(&req.token)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(Refusal::internal)?;
    let Some((site, expires, used, used_by_key)) = row else {
        return Err(refuse(
            "注册码不正确 / this enrolment token is not known: check it, or ask the exam centre for a new one (`central-sync site token CODE`)",
        ));
    };
    if site != req.site_code {
        return Err(refuse(
            "注册码与考点编号不符 / this token was issued for another site: check the site code",
        ));
    }
    let site_name = site_name(&tx, &site)
        .map_err(Refusal::internal)?
        .ok_or_else(|| refuse("考点已不存在 / the site no longer exists at central"))?;
    let request = SiteRequest::parse(&req.csr_pem)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let key_sha256 = request.key_sha256().to_string();
    let repeat = used.is_some();
    if repeat {
        let current: Option<(String, Option<i64>)> = tx
            .query_row(
                "SELECT signing_public, first_call_at_unix_ms FROM site_keys WHERE site_code = ?1",
                [&site],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(Refusal::internal)?;
        let same_enrolment = used_by_key.as_deref() == Some(key_sha256.as_str())
            && current == Some((signing.to_hex(), None));
        if !same_enrolment {
            return Err(refuse(
                "注册码已使用过 / this token was used already: ask the exam centre for a new one",
            ));
        }
    }
    if now_unix_ms >= expires {
        return Err(refuse(
            "注册码已过期 / this token has expired: ask the exam centre for a new one",
        ));
    }
    let issued = keys
        .issue_site_cert(request, &site, std::time::SystemTime::now())
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    tx.execute(
        "UPDATE enroll_tokens SET used_at_unix_ms = COALESCE(used_at_unix_ms, ?1), used_by_key_sha256 = ?3 WHERE token_sha256 = ?2",
        params![now_unix_ms, token_digest(&req.token), key_sha256],
    )
    .map_err(Refusal::internal)?;
    if !repeat {
        tx.execute(
            "INSERT INTO site_keys_before (site_code, signing_public, enrolled_at_unix_ms, replaced_at_unix_ms)
             SELECT site_code, signing_public, enrolled_at_unix_ms, ?2 FROM site_keys WHERE site_code = ?1",
            params![site, now_unix_ms],
        )
        .map_err(Refusal::internal)?;
    }
    let cert_fp = issued.cert_sha256;
    tx.execute(
        "INSERT INTO site_keys (site_code, cert_sha256, signing_public, enrolled_at_unix_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(site_code) DO UPDATE SET cert_sha256 = excluded.cert_sha256, signing_public = excluded.signing_public, enrolled_at_unix_ms = excluded.enrolled_at_unix_ms, first_call_at_unix_ms = NULL",
        params![site, cert_fp.to_string(), signing.to_hex(), now_unix_ms],
    )
    .map_err(Refusal::internal)?;
    let detail = if repeat {
        format!("certificate {cert_fp} for the same keys again (the site had no answer)")
    } else {
        format!("certificate {cert_fp}")
    };
    crate::store::audit(&tx, "site", "enrolled", &site, &detail).map_err(Refusal::internal)?;
    tx.commit().map_err(Refusal::internal)?;
    tracing::info!(site = %site, repeat, "site enrolled");
    Ok(EnrollResponse {
        site_code: site,
        site_name,
        client_cert_pem: issued.pem,
        central_signing_public_hex: keys.signing.public().to_hex(),
        central_encryption_public_hex: keys.encryption.public().to_hex(),
    })
}
