//! The commands of a site enrolled at central: `init`, `run` (the uplink agent beside the LAN
//! service), `import-package`, `release`, `packages`, `export-results`.
//!
//! `run` serves one session at a time on the LAN: the released session with the earliest start
//! that is not over (see [`choose`]). Until a paper is released it serves nothing and says so;
//! when a session is over it moves on to the next released one. If the LAN service fails, `run`
//! stops with the error.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use exam_crypto::Fingerprint;
use exam_net::{SiteIdentity, identity};

use crate::central::{self, Enrollment, session_dir};
use crate::papers::CandidatePapers;
use crate::sealing::Sealer;
use crate::uplink::{self, UplinkStatus};
use crate::writer::SealingStore;
use crate::{ca, packages, server, store};

/// How often `run` looks for a session to serve, or whether the one served is over.
const CHOOSE_EVERY: Duration = Duration::from_secs(2);
/// The name given to a site's LAN certificate authority.
const LAN_CA_NAME_MAX: usize = 64;

/// `site-server init --central …`.
pub fn init(
    data: &Path,
    central_url: &str,
    fingerprint: &str,
    site: &str,
    token: &str,
    ca_dir_arg: Option<&Path>,
    passphrase_file: Option<&Path>,
) -> anyhow::Result<()> {
    let fingerprint: Fingerprint = fingerprint.parse()?;
    let ca_dir = ca::ca_dir(data, ca_dir_arg);
    // An init that enrolled and then stopped before making the LAN CA (a full disk, a crash) is
    // finished by running it again.
    let lan_ca_missing = Enrollment::is_enrolled(data)
        && !data.join(packages::UPLINK_DB).exists()
        && [
            data.join(identity::CA_CERT_FILE),
            data.join(identity::SERVER_FILE),
            ca_dir.join(identity::CA_KEY_FILE),
        ]
        .iter()
        .all(|p| !p.exists());
    let fresh = if Enrollment::is_enrolled(data) {
        lan_ca_missing
    } else {
        central::holds_unfinished_enrolment(data)
            || matches!(store::inspect_dir(data)?, store::DirState::Empty)
    };
    anyhow::ensure!(
        fresh,
        "{} already holds a site; choose an empty directory",
        data.display()
    );
    let passphrase = ca::find_passphrase(passphrase_file, &ca_dir, ca::Prompt::New)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no CA passphrase: give --passphrase-file FILE, set {}, or run `site-server init` on a terminal to type it",
                ca::PASSPHRASE_ENV
            )
        })?;
    ca::check_new_passphrase(&passphrase)?;
    // Enrol first: a refused token leaves behind only the keys a retry sends again.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let e = if lan_ca_missing {
        let e = Enrollment::load(data)?;
        anyhow::ensure!(
            e.site_code == site,
            "{} is enrolled as site {}, not {site}; choose an empty directory",
            data.display(),
            e.site_code
        );
        println!("already enrolled; making the LAN certificate authority that is missing");
        e
    } else {
        rt.block_on(central::enroll(data, central_url, fingerprint, site, token))?
    };
    let name: String = e.site_name.chars().take(LAN_CA_NAME_MAX).collect();
    let id = SiteIdentity::create(data, &ca_dir, &name, &passphrase, SystemTime::now())?;
    drop(packages::open(data)?);
    println!(
        "enrolled site {} ({}) at {}",
        e.site_code, e.site_name, e.central_url
    );
    println!(
        "LAN fingerprint for candidate machines: {}",
        id.fingerprint()
    );
    println!(
        "start it with: site-server run --data {} (it fetches the exam packages and paper keys by itself)",
        data.display()
    );
    Ok(())
}

pub fn import_package(data: &Path, file: &Path) -> anyhow::Result<()> {
    let e = Enrollment::load(data).context("this data directory is not an enrolled site")?;
    let len = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    anyhow::ensure!(
        len <= u64::from(exam_protocol::central::PACKAGE_BYTES_MAX),
        "{} is {len} bytes, larger than any exam package",
        file.display()
    );
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut conn = packages::open(data)?;
    match packages::import(&mut conn, &e, &bytes, "file", store::unix_ms())? {
        packages::Imported::New { session, version } => {
            println!("took the package of session {session} (version {version})")
        }
        packages::Imported::Newer {
            session,
            version,
            was,
        } => println!("took version {version} of session {session} (replacing version {was})"),
        packages::Imported::AlreadyHeld { session, version } => {
            println!("version {version} of session {session} is held already; nothing changed")
        }
    }
    Ok(())
}

pub fn release(data: &Path, session: &str, code: &str) -> anyhow::Result<()> {
    let e = Enrollment::load(data).context("this data directory is not an enrolled site")?;
    let mut conn = packages::open(data)?;
    packages::release_with_code(&mut conn, data, &e, session, code, store::unix_ms())?;
    println!(
        "试卷已启封 / the paper of session {session} is released; a running site-server starts serving it within seconds"
    );
    Ok(())
}

pub fn list_packages(data: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        Enrollment::is_enrolled(data),
        "{} is not an enrolled site",
        data.display()
    );
    let conn = packages::open(data)?;
    let held = packages::held(&conn)?;
    if held.is_empty() {
        println!("no packages yet");
    }
    for h in held {
        println!(
            "{}\tversion {}\tstarts {}\t{}\t{}",
            h.session_id,
            h.version,
            exam_domain::cst::format_cst(h.starts_at_unix_ms),
            if h.released {
                "released".to_owned()
            } else {
                format!(
                    "sealed (key from {})",
                    exam_domain::cst::format_cst(h.release_at_unix_ms)
                )
            },
            h.title
        );
    }
    Ok(())
}

/// File name of a sealed result: its bundle id with `/` as `_`.
pub fn result_file_name(bundle_id: &str) -> String {
    let safe: String = bundle_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.exres")
}

pub fn export_results(data: &Path, out: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        Enrollment::is_enrolled(data),
        "{} is not an enrolled site",
        data.display()
    );
    let entries = uplink::all_outbox(data)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for entry in &entries {
        let path = out.join(result_file_name(&entry.bundle_id));
        exam_fs::write_private_atomic(&path, &entry.bytes)?;
    }
    println!(
        "wrote {} sealed results to {} (readable only by the exam centre); take them with `central-sync results import DIR`",
        entries.len(),
        out.display()
    );
    Ok(())
}

pub fn print_uplink(u: &UplinkStatus) {
    let ago = |t: i64| (store::unix_ms() - t).max(0) / 1000;
    match u.last_contact_unix_ms {
        Some(t) => println!("uplink: last reached central {} s ago", ago(t)),
        None => println!("uplink: has not reached central yet"),
    }
    if let Some(e) = &u.last_error {
        println!("uplink error: {e}");
    }
    for (session, version, released) in &u.packages {
        println!(
            "package: {session} version {version}, {}",
            if *released { "released" } else { "sealed" }
        );
    }
    println!(
        "results: {} sealed, {} delivered, {} waiting, {} refused",
        u.sealed, u.delivered, u.waiting, u.refused
    );
}

/// Candidates kept out of a released session (banned at its start), from the site's log.
pub fn print_kept_out(data: &Path) {
    let Ok(conn) = packages::open(data) else {
        return;
    };
    let Ok(mut stmt) = conn.prepare("SELECT detail FROM log WHERE event = 'banned' ORDER BY id")
    else {
        return;
    };
    if let Ok(rows) = stmt.query_map([], |r| r.get::<_, String>(0)) {
        for detail in rows.flatten() {
            println!("kept out: {detail}");
        }
    }
}

/// Which released session to serve now: the earliest that is not over. A session is over when
/// none of its started attempts is still open and either everyone has handed in or its planned
/// end has passed (absentees do not hold up the next session). A session with a candidate still
/// working is never over, whatever the wall clock says.
fn choose(data: &Path) -> anyhow::Result<Option<String>> {
    let conn = packages::open(data)?;
    let now = store::unix_ms();
    for h in packages::held(&conn)?.into_iter().filter(|h| h.released) {
        let dir = session_dir(data, &h.session_id);
        let s = store::open_reader(&dir)?;
        let (working, not_started): (i64, i64) = s.query_row(
            "SELECT count(*) FILTER (WHERE started = 1 AND submitted IS NULL),
                    count(*) FILTER (WHERE started = 0 AND submitted IS NULL)
             FROM attempts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let planned_end = h.starts_at_unix_ms + i64::from(h.duration_min) * 60_000;
        if working > 0 || (not_started > 0 && now <= planned_end) {
            return Ok(Some(h.session_id));
        }
    }
    Ok(None)
}

fn sealer(data: &Path, e: &Enrollment, store_dir: &Path) -> anyhow::Result<Sealer> {
    let conn = store::open_reader(store_dir)?;
    let (session_id, site_code, package_version) = store::central_session(&conn)?
        .ok_or_else(|| anyhow::anyhow!("{} is not a session from central", store_dir.display()))?;
    let zip = store::content_zip(&conn)?
        .ok_or_else(|| anyhow::anyhow!("the content of session {session_id} is missing"))?;
    Ok(Sealer {
        site_code,
        session_id,
        package_version,
        signing: central::signing_key(data)?,
        central: e.central_encryption()?,
        papers: Arc::new(CandidatePapers::from_content(&zip)?),
    })
}

/// `site-server run` of an enrolled site: [`run_site`] until Ctrl-C.
pub fn serve(
    data: &Path,
    listen: SocketAddr,
    ca_dir: Option<&Path>,
    passphrase_file: Option<&Path>,
    uplink_every: Duration,
) -> anyhow::Result<()> {
    let e = Enrollment::load(data)?;
    let renewer = ca::CertRenewer::new(data, ca_dir, passphrase_file)?;
    ca::prepare_to_serve(data, &renewer, SystemTime::now())?;
    drop(renewer);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut out = std::io::stdout().lock();
        writeln!(out, "site-server: {} ({})", e.site_name, e.site_code)?;
        writeln!(out, "central: {}", e.central_url)?;
        writeln!(
            out,
            "LAN: {listen}, fingerprint {}",
            exam_net::identity::ca_fingerprint(data)?
        )?;
        writeln!(out, "press Ctrl-C to stop")?;
        out.flush()?;
        drop(out);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (serving_tx, mut serving_rx) = tokio::sync::mpsc::unbounded_channel();
        let site = tokio::spawn(run_site(
            data.to_path_buf(),
            listen,
            ca_dir.map(Path::to_path_buf),
            passphrase_file.map(Path::to_path_buf),
            uplink_every,
            stop_rx,
            serving_tx,
        ));
        let printer = tokio::spawn(async move {
            while let Some(s) = serving_rx.recv().await {
                match s {
                    Serving::Waiting => println!(
                        "waiting for a released paper (the uplink fetches packages and keys; or `site-server release`)"
                    ),
                    Serving::Session { id, addr } => println!("serving session {id} on {addr}"),
                    Serving::Over { id } => println!("session {id} is over"),
                }
            }
        });
        tokio::pin!(site);
        let result = tokio::select! {
            r = tokio::signal::ctrl_c() => {
                r?;
                eprintln!("site-server: stopping (committing queued answers)…");
                let _ = stop_tx.send(true);
                (&mut site).await.context("site task")?
            }
            r = &mut site => r.context("site task")?,
        };
        let _ = stop_tx.send(true);
        let _ = printer.await;
        result
    })
}

/// What [`run_site`] is doing, for whoever shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serving {
    /// No released session to serve yet.
    Waiting,
    Session {
        id: String,
        addr: SocketAddr,
    },
    Over {
        id: String,
    },
}

/// An enrolled site running: the uplink agent, and the LAN service of the session to serve now,
/// until `shutdown` turns true (queued answers are committed first).
pub async fn run_site(
    data: std::path::PathBuf,
    listen: SocketAddr,
    ca_dir: Option<std::path::PathBuf>,
    passphrase_file: Option<std::path::PathBuf>,
    uplink_every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    report: tokio::sync::mpsc::UnboundedSender<Serving>,
) -> anyhow::Result<()> {
    let e = Enrollment::load(&data)?;
    let agent = tokio::spawn(uplink::run(
        data.clone(),
        e.clone(),
        uplink_every,
        shutdown.clone(),
    ));
    let mut waiting_said = false;
    let result: anyhow::Result<()> = 'outer: loop {
        if *shutdown.borrow() {
            break Ok(());
        }
        let d = data.clone();
        let current = tokio::task::spawn_blocking(move || choose(&d)).await??;
        let Some(session) = current else {
            if !waiting_said {
                let _ = report.send(Serving::Waiting);
                waiting_said = true;
            }
            tokio::select! {
                _ = shutdown.changed() => continue,
                _ = tokio::time::sleep(CHOOSE_EVERY) => continue,
            }
        };
        waiting_said = false;
        let store_dir = session_dir(&data, &session);
        let sealer = sealer(&data, &e, &store_dir)?;
        let conn = store::open_writer(&store_dir, false)?;
        let endpoint = server::bind(&data, listen)?;
        let renewer = ca::CertRenewer::new(&data, ca_dir.as_deref(), passphrase_file.as_deref())?;
        let mut site = server::start_in(
            &data,
            &store_dir,
            endpoint,
            Box::new(SealingStore { conn, sealer }),
            Some(renewer),
        )
        .await?;
        let _ = report.send(Serving::Session {
            id: session.clone(),
            addr: site.addr,
        });
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        site.stop().await?;
                        break 'outer Ok(());
                    }
                }
                r = site.wait() => { r?; break 'outer Ok(()); }
                _ = tokio::time::sleep(CHOOSE_EVERY) => {
                    let d = data.clone();
                    let next = tokio::task::spawn_blocking(move || choose(&d)).await??;
                    if next.as_deref() != Some(session.as_str()) {
                        site.stop().await?;
                        let _ = report.send(Serving::Over { id: session.clone() });
                        break;
                    }
                }
            }
        }
    };
    let _ = agent.await;
    result
}
