//! Benchmarks of sealed results (figures for BENCHMARKS.md):
//!
//! 1. **Central ingest**: sealed results verified (HPKE open, site signature, roster, hash
//!    chain), scored and stored, per second, in batches as the uplink sends them.
//! 2. **Delivery over a slow uplink**: every result delivered by the site's uplink agent through
//!    a relay that limits each direction to `RATE` bit/s with `DELAY` ms one-way delay, against
//!    the line time of their bytes; then delivered again to show nothing is stored twice.
//!
//! `cargo run --release -p central-sync --example bench_results -- [SESSIONS] [RATE_MBIT] [DELAY_MS]`
//! (defaults 17 sessions × the 120-candidate sample roster = 2,040 results, 10 Mbit/s, 50 ms).
//! Everything runs on loopback in a temporary directory.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use central_sync::keys::CentralKeys;
use central_sync::plans::{self, NewPlan, NewSession, PlanType};
use central_sync::{content, enroll, packages, results, rosters, sites, store};
use exam_domain::rng::SplitMix64;
use exam_site_core::StoreOp;
use site_server::central::Enrollment;
use site_server::writer::Commit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn fixture(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(rel)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sessions: usize = args.first().map_or(Ok(17), |a| a.parse())?;
    let rate_mbit: f64 = args.get(1).map_or(Ok(10.0), |a| a.parse())?;
    let delay_ms: u64 = args.get(2).map_or(Ok(50), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let central_dir = dir.path().join("central");
    let site_dir = dir.path().join("site");

    // Central: a site, a room, the sample content, SESSIONS sessions of the sample roster.
    let planned = exam_domain::cst::parse_cst("2026-11-20 10:00")?;
    let now = store::unix_ms();
    let keys = CentralKeys::init(&central_dir, std::time::SystemTime::now())?;
    let mut conn = store::open(&central_dir)?;
    sites::add_at(&conn, "TY", "太原考点", None, planned)?;
    sites::add_room(&conn, "TY", "A", "A", 150, planned)?;
    let zip = std::fs::read(fixture("qti21-sample.zip"))?;
    let content_id = content::import(&mut conn, &zip, "sample", false)?.id;
    plans::create(
        &mut conn,
        &NewPlan {
            id: "P1".into(),
            plan_type: PlanType::NewCertificateOffline,
            category: "安全生产管理人员".into(),
            work_type: "主要负责人".into(),
            title: "bench".into(),
            content_id,
            pass_mark_percent: 60,
        },
        "bench",
        planned,
    )?;
    let first_start = now - 3_600_000;
    for i in 0..sessions {
        let id = format!("S{i:02}");
        plans::add_session(
            &mut conn,
            &NewSession {
                plan_id: "P1".into(),
                session_id: id.clone(),
                site_code: "TY".into(),
                rooms: vec!["A".into()],
                starts_at_unix_ms: first_start + i as i64 * 2 * 3_600_000,
                duration_min: 90,
                latest_login_min: 15,
                roster_cutoff_hours: 48,
            },
            "bench",
            planned,
        )?;
        rosters::import(
            &mut conn,
            &id,
            &fixture("roster-sample.xlsx"),
            planned,
            "bench",
        )?;
    }
    plans::submit(&mut conn, "P1", "bench", planned)?;
    plans::approve(&mut conn, "P1", "bench", planned)?;
    let token = enroll::issue_token(&mut conn, "TY", 1, now)?;
    drop(conn);

    // The site enrols over the real API and seals every candidate's result.
    let central = central_sync::api::start(&central_dir, "127.0.0.1:0".parse()?).await?;
    let e = site_server::central::enroll(
        &site_dir,
        &format!("https://{}", central.addr),
        central.fingerprint,
        "TY",
        &token,
    )
    .await?;
    let t = Instant::now();
    let sealed = tokio::task::spawn_blocking({
        let (central_dir, site_dir, e) = (central_dir.clone(), site_dir.clone(), e.clone());
        move || seal_everything(&central_dir, &site_dir, &e, sessions)
    })
    .await??;
    let bytes: usize = site_server::uplink::all_outbox(&site_dir)?
        .iter()
        .map(|o| o.bytes.len())
        .sum();
    println!(
        "sealed {sealed} results at the site in {:.2} s ({:.0}/s); {} bytes, {:.1} KiB each",
        t.elapsed().as_secs_f64(),
        sealed as f64 / t.elapsed().as_secs_f64(),
        bytes,
        bytes as f64 / sealed as f64 / 1024.0
    );

    // 1. Ingest, in-process, in batches of up to 500 as the uplink sends them.
    let outbox = site_server::uplink::all_outbox(&site_dir)?;
    {
        let ingest_dir = dir.path().join("central-copy");
        copy_store(&central_dir, &ingest_dir)?;
        let keys = CentralKeys::load(&ingest_dir, std::time::SystemTime::now())?;
        let mut conn = store::open(&ingest_dir)?;
        let t = Instant::now();
        let mut accepted = 0;
        for chunk in outbox.chunks(exam_protocol::central::RESULT_BATCH_COUNT_MAX) {
            let items: Vec<&[u8]> = chunk.iter().map(|o| o.bytes.as_slice()).collect();
            for r in results::ingest_batch(&mut conn, &keys, &items, Some("TY"), "bench", now)? {
                accepted += usize::from(r.is_ok());
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "central ingest: {accepted} of {} results verified, scored and stored in {s:.2} s: {:.0} results/s",
            outbox.len(),
            accepted as f64 / s
        );
        anyhow::ensure!(accepted == outbox.len(), "some results were refused");
    }
    drop(keys);

    // 2. Delivery through a slow link.
    let relay = TcpListener::bind("127.0.0.1:0").await?;
    let relay_addr = relay.local_addr()?;
    let rate = rate_mbit * 1_000_000.0 / 8.0;
    let target = central.addr;
    // One link: each direction's line is shared by every connection over it.
    let up = Arc::new(tokio::sync::Mutex::new(tokio::time::Instant::now()));
    let down = Arc::new(tokio::sync::Mutex::new(tokio::time::Instant::now()));
    tokio::spawn(async move {
        while let Ok((client, _)) = relay.accept().await {
            let (up, down) = (up.clone(), down.clone());
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(target).await {
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let delay = Duration::from_millis(delay_ms);
                    tokio::join!(
                        pipe(cr, sw, rate, delay, up),
                        pipe(sr, cw, rate, delay, down)
                    );
                }
            });
        }
    });
    let mut e_slow = e.clone();
    e_slow.central_url = format!("https://{relay_addr}");
    let client = site_server::central::enrolled_client(&site_dir, &e_slow)?;
    let t = Instant::now();
    site_server::uplink::deliver(&site_dir, &e_slow, &client).await?;
    let took = t.elapsed().as_secs_f64();
    let line = bytes as f64 / rate;
    let received = received(&central_dir)?;
    println!(
        "delivery over {rate_mbit} Mbit/s with {delay_ms} ms delay: {received} results ({bytes} bytes) in {took:.2} s; line time of their bytes {line:.2} s: {:.2}× the line time",
        took / line
    );
    anyhow::ensure!(received == sealed, "{received} of {sealed} received");
    // Exactly once: forget the receipts and deliver everything again.
    rusqlite::Connection::open(site_dir.join(site_server::packages::UPLINK_DB))?
        .execute("DELETE FROM delivered", [])?;
    site_server::uplink::deliver(&site_dir, &e_slow, &client).await?;
    println!(
        "delivered again: central holds {} results (duplicates acknowledged, none stored twice)",
        received_count(&central_dir)?
    );
    central.stop().await;
    Ok(())
}

fn received(central: &Path) -> anyhow::Result<usize> {
    received_count(central)
}

fn received_count(central: &Path) -> anyhow::Result<usize> {
    let conn = store::open(central)?;
    Ok(conn.query_row("SELECT count(*) FROM results", [], |r| r.get::<_, i64>(0))? as usize)
}

/// A copy of central's data directory (keys and store) for the in-process ingest figure.
fn copy_store(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to.join(central_sync::keys::KEYS_DIR))?;
    for entry in std::fs::read_dir(from.join(central_sync::keys::KEYS_DIR))? {
        let entry = entry?;
        std::fs::copy(
            entry.path(),
            to.join(central_sync::keys::KEYS_DIR)
                .join(entry.file_name()),
        )?;
    }
    let conn = store::open(from)?;
    conn.execute(
        "VACUUM INTO ?1",
        [to.join(store::DB_FILE).to_string_lossy().as_ref()],
    )?;
    Ok(())
}

/// Takes every session's package, releases it with the key from central's store, and submits
/// every candidate with answers to every item of their paper: the results land in the outboxes.
fn seal_everything(
    central: &Path,
    site: &Path,
    e: &Enrollment,
    sessions: usize,
) -> anyhow::Result<usize> {
    let keys = CentralKeys::load(central, std::time::SystemTime::now())?;
    let mut cconn = store::open(central)?;
    let mut uconn = site_server::packages::open(site)?;
    let mut sealed = 0;
    for i in 0..sessions {
        let id = format!("S{i:02}");
        let (_, bytes) = packages::current(&mut cconn, &keys, &id, store::unix_ms())?;
        site_server::packages::import(&mut uconn, e, &bytes, "bench", store::unix_ms())?;
        let key: Vec<u8> = cconn.query_row(
            "SELECT paper_key FROM session_keys WHERE session_id = ?1",
            [&id],
            |r| r.get(0),
        )?;
        let key = exam_crypto::paper::PaperKey::from_bytes(key.as_slice().try_into()?);
        site_server::packages::release_with_key(&mut uconn, site, e, &id, &key, "bench")?;
        let store_dir = site_server::central::session_dir(site, &id);
        let sconn = site_server::store::open_writer(&store_dir, false)?;
        let zip =
            site_server::store::content_zip(&sconn)?.ok_or_else(|| anyhow::anyhow!("content"))?;
        let papers = Arc::new(site_server::papers::CandidatePapers::from_content(&zip)?);
        let restored = site_server::store::load_restored(&sconn)?;
        let mut commit = site_server::writer::SealingStore {
            conn: sconn,
            sealer: site_server::sealing::Sealer {
                site_code: e.site_code.clone(),
                session_id: id.clone(),
                package_version: 1,
                signing: site_server::central::signing_key(site)?,
                central: e.central_encryption()?,
                papers: papers.clone(),
            },
        };
        for c in &restored.candidates {
            let paper = exam_domain::shuffle::candidate_order(&papers.for_seed(c.seed), c.seed);
            let mut rng = SplitMix64::new(c.seed);
            let mut ops = Vec::new();
            for (seq, item) in paper.sections.iter().flat_map(|s| &s.items).enumerate() {
                ops.push(StoreOp::Answer {
                    attempt: c.attempt,
                    seq: seq as u64 + 1,
                    item: item.id.clone(),
                    response: exam_domain::demo::random_response(item, &mut rng),
                    refused: None,
                });
            }
            ops.push(StoreOp::Submit {
                attempt: c.attempt,
                reason: exam_protocol::SubmitReason::Candidate,
                remaining_ms: 60_000,
            });
            commit.commit(&ops).map_err(|e| anyhow::anyhow!(e))?;
            sealed += 1;
        }
    }
    Ok(sealed)
}

/// Copies one direction, at most `rate` bytes per second on a line shared with the other
/// connections (`line`: when it is next free), each chunk delivered `delay` after it was sent
/// (a link's propagation delay; chunks keep their order).
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    rate: f64,
    delay: Duration,
    line: Arc<tokio::sync::Mutex<tokio::time::Instant>>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Serialisation at the line rate: the chunk leaves when the shared line is free.
            let next_free = {
                let mut free = line.lock().await;
                let start = (*free).max(tokio::time::Instant::now());
                *free = start + Duration::from_secs_f64(n as f64 / rate);
                *free
            };
            tokio::time::sleep_until(next_free).await;
            if tx.send((next_free + delay, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
