//! The uplink agent inside `site-server run` of an enrolled site. Every round it
//!
//! 1. asks central which packages it has for this site and fetches those newer than the ones held
//!    (each verified before it is kept),
//! 2. asks for the paper key of every held, unreleased session whose release time has come, and
//!    releases it,
//! 3. delivers every sealed result not yet delivered, in batches, and records central's receipts.
//!
//! A round that fails (uplink down, central away) is retried with exponential back-off up to
//! [`BACKOFF_MAX`] with ±20 % jitter, so a room of sites does not return in step. Delivery state
//! is kept in `uplink.db`, so a restart resumes where it was; a result delivered twice is
//! acknowledged by central as a duplicate. Progress goes to `uplink.json`, which
//! `site-server status` shows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use exam_crypto::paper::PaperKey;
use exam_protocol::central::{
    self, BatchReceipt, KeyRelease, PackageList, RESULT_BATCH_BYTES_MAX, RESULT_BATCH_COUNT_MAX,
};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::central::{Enrollment, enrolled_client, refusal};
use crate::{packages, store};

pub const UPLINK_STATUS_FILE: &str = "uplink.json";
/// Longest a package download may take (a large roster with photos over a slow uplink).
pub const PACKAGE_CALL_TIMEOUT: Duration = Duration::from_secs(3_600);
/// Results in one delivery batch (central takes up to `RESULT_BATCH_COUNT_MAX`).
pub const DELIVERY_BATCH_RESULTS: usize = 25;
/// Batches on their way at once.
pub const DELIVERY_IN_FLIGHT: usize = 8;
const _: () = assert!(DELIVERY_BATCH_RESULTS <= RESULT_BATCH_COUNT_MAX);
/// Longest wait between rounds after failures.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What the agent last did, for `site-server status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UplinkStatus {
    pub updated_unix_ms: i64,
    pub last_contact_unix_ms: Option<i64>,
    pub last_error: Option<String>,
    /// `(session, version, released)`.
    pub packages: Vec<(String, u64, bool)>,
    pub sealed: u64,
    pub delivered: u64,
    pub waiting: u64,
    pub refused: u64,
}

impl UplinkStatus {
    pub fn read(home: &Path) -> Option<Self> {
        let bytes = std::fs::read(home.join(UPLINK_STATUS_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Counts of sealed results: in every session's outbox, and how central took them.
pub fn outbox_counts(home: &Path) -> anyhow::Result<(u64, u64, u64, u64)> {
    let conn = packages::open(home)?;
    let (mut sealed, mut delivered, mut refused) = (0u64, 0u64, 0u64);
    for store_dir in session_stores(home) {
        for id in store::outbox_ids(&store::open_reader(&store_dir)?)? {
            sealed += 1;
            match receipt(&conn, &id)?.as_deref() {
                Some(o) if o.starts_with("refused") => refused += 1,
                Some(_) => delivered += 1,
                None => {}
            }
        }
    }
    Ok((sealed, delivered, sealed - delivered - refused, refused))
}

/// How central took a result, if it answered.
fn receipt(uplink: &rusqlite::Connection, bundle_id: &str) -> rusqlite::Result<Option<String>> {
    rusqlite::OptionalExtension::optional(uplink.query_row(
        "SELECT outcome FROM delivered WHERE bundle_id = ?1",
        [bundle_id],
        |r| r.get(0),
    ))
}

/// The session stores under `home`, by session id.
fn session_stores(home: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(home.join("sessions")) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
                && p.join(store::DB_FILE).exists()
        })
        .collect();
    dirs.sort();
    dirs
}

/// Every sealed result of every session store under `home`.
pub fn all_outbox(home: &Path) -> anyhow::Result<Vec<store::OutboxEntry>> {
    let mut out = Vec::new();
    for d in session_stores(home) {
        out.extend(store::outbox(&store::open_reader(&d)?)?);
    }
    Ok(out)
}

/// The sealed results central has not answered for; only their bytes are read.
fn undelivered(home: &Path) -> anyhow::Result<Vec<store::OutboxEntry>> {
    let conn = packages::open(home)?;
    let mut out = Vec::new();
    for d in session_stores(home) {
        let s = store::open_reader(&d)?;
        for id in store::outbox_ids(&s)? {
            if receipt(&conn, &id)?.is_none() {
                out.push(store::outbox_entry(&s, &id)?);
            }
        }
    }
    Ok(out)
}

/// Runs rounds until `shutdown` turns true.
pub async fn run(
    home: PathBuf,
    e: Enrollment,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut client = None;
    let mut failures = 0u32;
    let mut status = UplinkStatus::default();
    loop {
        if client.is_none() {
            client = enrolled_client(&home, &e)
                .inspect_err(|err| {
                    tracing::error!(error = %format!("{err:#}"), "the uplink cannot make its client")
                })
                .ok();
        }
        let outcome = match &client {
            Some(c) => round(&home, &e, c).await,
            None => Err(anyhow::anyhow!(
                "the site's client certificate cannot be read (see the log)"
            )),
        };
        let now = store::unix_ms();
        match outcome {
            Ok(()) => {
                failures = 0;
                status.last_contact_unix_ms = Some(now);
                status.last_error = None;
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                let text = format!("{err:#}");
                tracing::warn!(error = %text, failures, "uplink round failed; will retry");
                status.last_error = Some(text);
            }
        }
        let home2 = home.clone();
        if let Ok(Ok((counts, held))) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let counts = outbox_counts(&home2)?;
            let conn = packages::open(&home2)?;
            Ok((counts, packages::held(&conn)?))
        })
        .await
        {
            (
                status.sealed,
                status.delivered,
                status.waiting,
                status.refused,
            ) = counts;
            status.packages = held
                .into_iter()
                .map(|h| (h.session_id, h.version, h.released))
                .collect();
        }
        status.updated_unix_ms = now;
        if let Ok(bytes) = serde_json::to_vec_pretty(&status) {
            let path = home.join(UPLINK_STATUS_FILE);
            let _ =
                tokio::task::spawn_blocking(move || exam_fs::write_private_atomic(&path, &bytes))
                    .await;
        }
        let delay = if failures == 0 {
            every
        } else {
            every.saturating_mul(1 << failures.min(10)).min(BACKOFF_MAX)
        };
        let jitter = exam_crypto::random_u64().unwrap_or(0) % 41; // 0..=40 → ±20 %
        let delay = delay.mul_f64(0.8 + jitter as f64 / 100.0);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("uplink task")?
}

/// One round: packages and keys, then results (delivered even when the first part failed).
pub async fn round(home: &Path, e: &Enrollment, client: &reqwest::Client) -> anyhow::Result<()> {
    let pulled = pull(home, e, client).await;
    let delivered = deliver(home, e, client).await;
    pulled.and(delivered)
}

/// Fetches newer packages and the paper keys whose time has come.
async fn pull(home: &Path, e: &Enrollment, client: &reqwest::Client) -> anyhow::Result<()> {
    // Keys first: a package that cannot be fetched must not hold up the start of another session.
    let keys = fetch_keys(home, e, client).await;
    let packages = fetch_packages(home, e, client).await;
    keys.and(packages)
}

/// Fetches the packages newer than those held; one that fails does not stop the others.
async fn fetch_packages(
    home: &Path,
    e: &Enrollment,
    client: &reqwest::Client,
) -> anyhow::Result<()> {
    let url = &e.central_url;
    let resp = client
        .get(format!("{url}/api/v1/packages"))
        .send()
        .await
        .with_context(|| format!("cannot reach central at {url}"))?;
    if !resp.status().is_success() {
        return Err(refusal(resp)
            .await
            .context("central refused the package list"));
    }
    let list: PackageList = resp
        .json()
        .await
        .context("central's package list is malformed")?;
    let h = home.to_path_buf();
    let held = blocking(move || {
        let conn = packages::open(&h)?;
        packages::held(&conn)
    })
    .await?;
    let mut trouble = None;
    for entry in &list.packages {
        let mine = held.iter().find(|x| x.session_id == entry.session_id);
        if mine.is_some_and(|m| m.version >= entry.version || m.released) {
            continue;
        }
        if let Err(err) = fetch_package(home, e, client, &entry.session_id).await {
            tracing::error!(session = %entry.session_id, error = %format!("{err:#}"), "a package could not be taken");
            trouble = Some(err);
        }
    }
    trouble.map_or(Ok(()), Err)
}

async fn fetch_package(
    home: &Path,
    e: &Enrollment,
    client: &reqwest::Client,
    session: &str,
) -> anyhow::Result<()> {
    let resp = client
        .get(format!("{}/api/v1/packages/{session}", e.central_url))
        .timeout(PACKAGE_CALL_TIMEOUT)
        .send()
        .await?;
    if !resp.status().is_success() {
        return Err(refusal(resp).await.context("central refused a package"));
    }
    let bytes = resp.bytes().await?.to_vec();
    let (h, ee) = (home.to_path_buf(), e.clone());
    let imported = blocking(move || {
        let mut conn = packages::open(&h)?;
        packages::import(&mut conn, &ee, &bytes, "uplink", store::unix_ms())
    })
    .await?;
    tracing::info!(?imported, "package taken");
    Ok(())
}

/// Fetches the paper keys whose release time has come.
async fn fetch_keys(home: &Path, e: &Enrollment, client: &reqwest::Client) -> anyhow::Result<()> {
    let url = &e.central_url;
    let h = home.to_path_buf();
    let held = blocking(move || {
        let conn = packages::open(&h)?;
        packages::held(&conn)
    })
    .await?;
    let now = store::unix_ms();
    for h in held
        .iter()
        .filter(|h| !h.released && h.release_at_unix_ms <= now)
    {
        let resp = client
            .get(format!("{url}/api/v1/sessions/{}/key", h.session_id))
            .send()
            .await?;
        if resp.status() == StatusCode::TOO_EARLY {
            continue;
        }
        if !resp.status().is_success() {
            return Err(refusal(resp).await.context("central refused the paper key"));
        }
        let release: KeyRelease = resp.json().await?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(release.paper_key_hex.trim(), &mut key)
            .context("central sent a malformed paper key")?;
        let key = PaperKey::from_bytes(key);
        let (hh, ee, session) = (home.to_path_buf(), e.clone(), h.session_id.clone());
        blocking(move || {
            let mut conn = packages::open(&hh)?;
            packages::release_with_key(&mut conn, &hh, &ee, &session, &key, "online")
        })
        .await?;
    }
    Ok(())
}

/// Delivers every sealed result central has not acknowledged, in batches.
pub async fn deliver(home: &Path, e: &Enrollment, client: &reqwest::Client) -> anyhow::Result<()> {
    let h = home.to_path_buf();
    let waiting = blocking(move || undelivered(&h)).await?;
    // A result too large for a batch goes alone; one central cannot take does not hold up the
    // others.
    let room = RESULT_BATCH_BYTES_MAX as usize - 1024;
    let (large, small): (Vec<_>, Vec<_>) =
        waiting.into_iter().partition(|r| r.bytes.len() + 16 > room);
    let mut trouble = None;
    for entry in large {
        if let Err(err) = send_one(home, e, client, entry).await {
            trouble = Some(err);
        }
    }
    // Batches of up to DELIVERY_BATCH_RESULTS, DELIVERY_IN_FLIGHT at once: the next uploads
    // while central checks the last, so a slow link is kept busy.
    let mut batches: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0usize;
    for entry in small {
        if !batch.is_empty()
            && (batch.len() >= DELIVERY_BATCH_RESULTS || bytes + entry.bytes.len() + 16 > room)
        {
            batches.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += entry.bytes.len() + 16;
        batch.push(entry.bytes);
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    let mut in_flight = tokio::task::JoinSet::new();
    for batch in batches {
        while in_flight.len() >= DELIVERY_IN_FLIGHT {
            if let Some(Ok(Err(err))) = in_flight.join_next().await {
                trouble = Some(err);
            }
        }
        let (h, ee, c) = (home.to_path_buf(), e.clone(), client.clone());
        in_flight.spawn(async move { send_batch(&h, &ee, &c, batch).await });
    }
    while let Some(done) = in_flight.join_next().await {
        if let Ok(Err(err)) = done {
            trouble = Some(err);
        }
    }
    trouble.map_or(Ok(()), Err)
}

/// Sends one large result by itself; a refusal central says is final is recorded, like a
/// batch's.
async fn send_one(
    home: &Path,
    e: &Enrollment,
    client: &reqwest::Client,
    entry: store::OutboxEntry,
) -> anyhow::Result<()> {
    let resp = client
        .post(format!("{}/api/v1/results", e.central_url))
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(entry.bytes)
        .send()
        .await
        .context("cannot deliver a result to central")?;
    let status = resp.status();
    let receipt = if status.is_success() {
        let r: exam_protocol::central::ResultReceipt = resp.json().await?;
        BatchReceipt {
            bundle_id: r.bundle_id,
            outcome: Some(r.outcome),
            error: None,
            permanent: false,
        }
    } else {
        let err = refusal(resp).await;
        // Client errors other than "who are you" and "too many" will not change on retry.
        let permanent = status.is_client_error()
            && !matches!(
                status,
                StatusCode::UNAUTHORIZED
                    | StatusCode::FORBIDDEN
                    | StatusCode::REQUEST_TIMEOUT
                    | StatusCode::TOO_MANY_REQUESTS
            );
        if !permanent {
            return Err(err.context(format!("central could not take {} now", entry.bundle_id)));
        }
        BatchReceipt {
            bundle_id: entry.bundle_id,
            outcome: None,
            error: Some(format!("{err:#}")),
            permanent: true,
        }
    };
    record(home, vec![receipt]).await
}

async fn send_batch(
    home: &Path,
    e: &Enrollment,
    client: &reqwest::Client,
    batch: Vec<Vec<u8>>,
) -> anyhow::Result<()> {
    let body = central::encode_batch(&batch)?;
    let resp = client
        .post(format!("{}/api/v1/results/batch", e.central_url))
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(body)
        .send()
        .await
        .context("cannot deliver results to central")?;
    if !resp.status().is_success() {
        return Err(refusal(resp).await.context("central refused the results"));
    }
    let receipts: Vec<BatchReceipt> = resp
        .json()
        .await
        .context("central's receipts are malformed")?;
    record(home, receipts).await
}

/// Keeps central's receipts: delivered (accepted or duplicate) or refused for good.
async fn record(home: &Path, receipts: Vec<BatchReceipt>) -> anyhow::Result<()> {
    let h = home.to_path_buf();
    blocking(move || {
        let mut conn = packages::open(&h)?;
        let tx = conn.transaction()?;
        let now = store::unix_ms();
        for r in &receipts {
            let outcome = match (&r.outcome, &r.error) {
                (Some(o), _) => format!("{o:?}").to_lowercase(),
                (None, Some(err)) if r.permanent => {
                    tracing::error!(bundle = %r.bundle_id, error = %err, "central refused a sealed result for good");
                    format!("refused: {err}")
                }
                (None, err) => {
                    tracing::warn!(bundle = %r.bundle_id, error = ?err, "central could not take a result now; will retry");
                    continue;
                }
            };
            tx.execute(
                "INSERT OR REPLACE INTO delivered (bundle_id, outcome, at_unix_ms) VALUES (?1, ?2, ?3)",
                rusqlite::params![r.bundle_id, outcome, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    })
    .await
}
