//! The `site-server` command line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use clap::{Parser, Subcommand};
use exam_domain::demo;

use crate::demo::Prepared;
use crate::{ca, server, store};

/// The default LAN port (UDP).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:7443";
/// Longest wait between uplink rounds that can be set: an hour.
pub const UPLINK_EVERY_SECS_MAX: u64 = 3_600;
/// Most seconds a candidate's connection may be gone before their clock stops.
pub const GRACE_SECS_MAX: u32 = 600;

#[derive(Parser)]
#[command(name = "site-server", version, about = "考点服务器 / exam site server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a demo site with a sample electrician exam (resumes if DIR already holds one).
    Demo {
        /// Data directory [default: ~/.local/share/exam-site/demo].
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Number of sample candidates (new demo only).
        #[arg(long, default_value_t = 200)]
        candidates: u32,
        /// Seconds until the session starts (new demo only).
        #[arg(long, default_value_t = 60)]
        start_in: u64,
        /// Seconds a candidate may be disconnected before their clock stops (new demo only).
        #[arg(long, default_value_t = 30)]
        grace_secs: u32,
    },
    /// Run the site stored in DIR (serves with the server certificate; never reads the CA key
    /// unless it was given the passphrase to renew a certificate that is due).
    Run {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Where the CA directory is, if not DIR/ca.
        #[arg(long)]
        ca_dir: Option<PathBuf>,
        /// A file holding the CA passphrase, so the server renews its certificate by itself
        /// (also read from the environment variable EXAM_SITE_CA_PASSPHRASE).
        #[arg(long)]
        ca_passphrase_file: Option<PathBuf>,
        /// Seconds between uplink rounds of an enrolled site (packages, keys, results).
        #[arg(long, default_value_t = 30)]
        uplink_every_secs: u64,
    },
    /// Print the site CA fingerprint that candidate machines pin.
    Fingerprint {
        #[arg(long)]
        data: PathBuf,
    },
    /// The CA step: issue a new server certificate (valid 30 days) from the site CA, keeping the
    /// CA and so the fingerprint clients pin.
    RenewCert {
        #[arg(long)]
        data: PathBuf,
        /// Where the CA directory is (e.g. a USB stick), if not DIR/ca.
        #[arg(long)]
        ca_dir: Option<PathBuf>,
        /// A file holding the CA passphrase [default: EXAM_SITE_CA_PASSPHRASE, else asked on the
        /// terminal].
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Once, for a data directory made by an earlier site-server: seal its plaintext CA key
    /// under a new passphrase in the CA directory and issue a short-lived server certificate.
    SecureCa {
        #[arg(long)]
        data: PathBuf,
        /// Where to put the CA directory, if not DIR/ca.
        #[arg(long)]
        ca_dir: Option<PathBuf>,
        /// A file holding the new passphrase [default: EXAM_SITE_CA_PASSPHRASE, else asked twice
        /// on the terminal].
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Make an enrolled site in DIR: the LAN certificate authority (its key sealed under a
    /// passphrase), the site's signing and TLS keys, and enrolment at central with the one-time
    /// token the exam centre gave. If it fails part-way (the uplink, a lost answer), run the
    /// same command again: it sends the same keys and central answers it once more.
    Init {
        #[arg(long)]
        data: PathBuf,
        /// Central's address, e.g. https://exam-centre.example:8443
        #[arg(long)]
        central: String,
        /// Central's fingerprint, as `central-sync fingerprint` prints it.
        #[arg(long)]
        central_fingerprint: String,
        /// This site's code at central.
        #[arg(long)]
        site: String,
        /// The one-time enrolment token.
        #[arg(long)]
        token: String,
        /// Where to put the CA directory, if not DIR/ca.
        #[arg(long)]
        ca_dir: Option<PathBuf>,
        /// A file holding the new CA passphrase [default: EXAM_SITE_CA_PASSPHRASE, else asked
        /// twice on the terminal].
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Take an exam package from a file (e.g. a USB stick) when the uplink cannot fetch it.
    ImportPackage {
        file: PathBuf,
        #[arg(long)]
        data: PathBuf,
    },
    /// Open a session's paper with the release code the exam centre reads over the phone.
    Release {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        session: String,
        /// The release code (spaces and dashes optional).
        #[arg(long)]
        code: String,
    },
    /// List the packages held and whether each session's paper is released.
    Packages {
        #[arg(long)]
        data: PathBuf,
    },
    /// Write every sealed result to DIR (for a USB stick when the uplink is down for days):
    /// nothing there is readable without the exam centre's key.
    ExportResults {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print every stored answer change as one JSON object per line.
    ExportAnswers {
        #[arg(long)]
        data: PathBuf,
    },
    /// Show whether the site server in DIR is running and taking answers (exit 0: yes; 3: it
    /// runs but is degraded; 4: it is not running).
    Status {
        #[arg(long)]
        data: PathBuf,
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Status { data, json } = &cli.command {
        return status(data, *json);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("site-server: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

fn default_demo_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("exam-site/demo")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo {
            data,
            listen,
            candidates,
            start_in,
            grace_secs,
        } => {
            anyhow::ensure!(
                (5..=GRACE_SECS_MAX).contains(&grace_secs),
                "--grace-secs must be between 5 and {GRACE_SECS_MAX}"
            );
            let data = data.unwrap_or_else(default_demo_dir);
            let prepared = crate::demo::prepare(&data, candidates, start_in, grace_secs)?;
            let renewer = ca::CertRenewer::new(&data, None, None)?;
            serve(&data, listen, Some(prepared), renewer)
        }
        Command::Run {
            data,
            listen,
            ca_dir,
            ca_passphrase_file,
            uplink_every_secs,
        } if crate::central::Enrollment::is_enrolled(&data) => {
            anyhow::ensure!(
                (1..=UPLINK_EVERY_SECS_MAX).contains(&uplink_every_secs),
                "--uplink-every-secs must be between 1 and {UPLINK_EVERY_SECS_MAX}"
            );
            crate::enrolled::serve(
                &data,
                listen,
                ca_dir.as_deref(),
                ca_passphrase_file.as_deref(),
                std::time::Duration::from_secs(uplink_every_secs),
            )
        }
        Command::Run {
            data,
            listen,
            ca_dir,
            ca_passphrase_file,
            ..
        } => {
            // The store first: its problems are the ones to report first.
            drop(store::open_writer(&data, false)?);
            let renewer =
                ca::CertRenewer::new(&data, ca_dir.as_deref(), ca_passphrase_file.as_deref())?;
            ca::prepare_to_serve(&data, &renewer, SystemTime::now())?;
            serve(&data, listen, None, renewer)
        }
        Command::Fingerprint { data } => {
            if !crate::central::Enrollment::is_enrolled(&data)
                && let store::DirState::Empty = store::inspect_dir(&data)?
            {
                anyhow::bail!(store::StoreError::NoSite { dir: data });
            }
            let fingerprint = exam_net::identity::ca_fingerprint(&data)
                .with_context(|| format!("no site identity in {}", data.display()))?;
            println!("{fingerprint}");
            Ok(())
        }
        Command::RenewCert {
            data,
            ca_dir,
            passphrase_file,
        } => {
            let id = ca::renew_cert(
                &data,
                ca_dir.as_deref(),
                passphrase_file.as_deref(),
                SystemTime::now(),
            )?;
            println!(
                "new server certificate for the site CA {}; {}",
                id.fingerprint(),
                ca::describe(&exam_net::renewal_due(&id, SystemTime::now()))
            );
            println!("restart a running site-server to serve it now");
            Ok(())
        }
        Command::SecureCa {
            data,
            ca_dir,
            passphrase_file,
        } => {
            let id = ca::secure_ca(
                &data,
                ca_dir.as_deref(),
                passphrase_file.as_deref(),
                SystemTime::now(),
            )?;
            let ca_dir = ca::ca_dir(&data, ca_dir.as_deref());
            println!(
                "the site CA key is sealed in {}; the plaintext key was removed; fingerprint unchanged: {}",
                ca_dir.join(exam_net::identity::CA_KEY_FILE).display(),
                id.fingerprint()
            );
            println!(
                "keep the passphrase safe: it is needed to renew the server certificate every {} days",
                exam_net::identity::SERVER_CERT_VALIDITY.as_secs() / 86_400
            );
            Ok(())
        }
        Command::Init {
            data,
            central,
            central_fingerprint,
            site,
            token,
            ca_dir,
            passphrase_file,
        } => crate::enrolled::init(
            &data,
            &central,
            &central_fingerprint,
            &site,
            &token,
            ca_dir.as_deref(),
            passphrase_file.as_deref(),
        ),
        Command::ImportPackage { file, data } => crate::enrolled::import_package(&data, &file),
        Command::Release {
            data,
            session,
            code,
        } => crate::enrolled::release(&data, &session, &code),
        Command::Packages { data } => crate::enrolled::list_packages(&data),
        Command::ExportResults { data, out } => crate::enrolled::export_results(&data, &out),
        Command::ExportAnswers { data } => export_answers(&data),
        Command::Status { data, json } => {
            status(&data, json);
            Ok(())
        }
    }
}

/// `site-server status`: what the running server last wrote about itself.
fn status(data: &Path, json: bool) -> ExitCode {
    let s = match crate::status::Status::read(data) {
        Ok(s) => s,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && crate::central::Enrollment::is_enrolled(data) =>
        {
            println!("state: not serving a session yet (waiting for a released paper)");
            match crate::uplink::UplinkStatus::read(data) {
                Some(u) if !json => crate::enrolled::print_uplink(&u),
                Some(u) => println!("{}", serde_json::to_string_pretty(&u).unwrap_or_default()),
                None => println!("uplink: no report yet (is `site-server run` running?)"),
            }
            return ExitCode::from(4);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "site-server: no status in {}: the server has never run there (start it with `site-server run --data {}`)",
                data.display(),
                data.display()
            );
            return ExitCode::from(4);
        }
        Err(e) => {
            eprintln!(
                "site-server: cannot read the status in {}: {e}",
                data.display()
            );
            return ExitCode::from(4);
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    } else {
        let age_s = (store::unix_ms() - s.updated_unix_ms).max(0) / 1000;
        let state = if !s.is_live() {
            if s.stopped {
                "stopped".to_owned()
            } else {
                format!("NOT RUNNING (last seen {age_s} s ago)")
            }
        } else if let Some(why) = &s.degraded {
            format!("DEGRADED — not taking answers: {why}")
        } else {
            "running, taking answers".to_owned()
        };
        println!("state: {state}");
        println!("pid: {}", s.pid);
        println!(
            "session: {}",
            if s.session_started {
                "started"
            } else {
                "not started"
            }
        );
        println!(
            "connections: {} ({} candidates logged in)",
            s.connections, s.logged_in
        );
        println!(
            "store: {} commits, {} failed, {} changes waiting to be written",
            s.commits, s.failed_commits, s.store_backlog_ops
        );
        if let Some(e) = &s.last_error {
            println!("last store error: {e}");
        }
        match &s.ack_latency {
            Some(a) => println!(
                "saves acknowledged: {} since start; just now {} in {} s, arrival to acknowledgement p50 {} ms, p99 {} ms, max {} ms",
                s.saves_acknowledged,
                a.count,
                crate::limits::STATUS_EVERY.as_secs(),
                a.p50_ms,
                a.p99_ms,
                a.max_ms
            ),
            None => println!("saves acknowledged: {} since start", s.saves_acknowledged),
        }
        if let Some(free) = s.disk_free_bytes {
            let warn = if free < crate::limits::DISK_WARN_FREE_BYTES {
                " — LOW: free space now"
            } else {
                ""
            };
            println!("disk free: {} MiB{warn}", free / (1024 * 1024));
        }
        if s.alarms > 0 {
            println!("alarms since start: {} (see the log)", s.alarms);
        }
        if let Some(u) = crate::uplink::UplinkStatus::read(data) {
            crate::enrolled::print_uplink(&u);
            crate::enrolled::print_kept_out(data);
        }
    }
    if !s.is_live() {
        ExitCode::from(4)
    } else if s.degraded.is_some() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

fn serve(
    data: &Path,
    listen: SocketAddr,
    demo: Option<Prepared>,
    renewer: ca::CertRenewer,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut site = server::start_with(data, listen, Some(renewer)).await?;
        let conn = store::open_reader(data)?;
        let session = store::load_session(&conn)?;
        let count: i64 = conn.query_row("SELECT count(*) FROM candidates", [], |r| r.get(0))?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "site-server: {} — {}",
            session.site_name, session.title
        )?;
        match demo {
            Some(Prepared::Created) => writeln!(
                out,
                "data: {} (new demo, {count} candidates)",
                data.display()
            )?,
            Some(Prepared::Resumed) => writeln!(
                out,
                "data: {} (resumed; --candidates and --start-in apply to a new demo only)",
                data.display()
            )?,
            None => writeln!(out, "data: {} ({count} candidates)", data.display())?,
        }
        writeln!(out, "listening on {}", site.addr)?;
        writeln!(out, "fingerprint {}", site.fingerprint)?;
        if session.started {
            writeln!(out, "session: started")?;
        } else if let Some(at) = session.starts_at_unix_ms {
            writeln!(
                out,
                "session: starts in {} s",
                ((at - store::unix_ms()).max(0) + 999) / 1000
            )?;
        }
        if demo.is_some() {
            writeln!(
                out,
                "sample candidates (admission no / ID number / name / seat):"
            )?;
            for c in demo::roster(count.clamp(0, 3) as u32) {
                writeln!(
                    out,
                    "  {}  {}  {}  {}",
                    c.admission_no,
                    c.id_number.as_str(),
                    c.name,
                    c.seat
                )?;
            }
            let host = if site.addr.ip().is_unspecified() {
                format!("127.0.0.1:{}", site.addr.port())
            } else {
                site.addr.to_string()
            };
            writeln!(
                out,
                "attach a candidate machine: exam-client --server {host} --ca-fingerprint {}",
                site.fingerprint
            )?;
            writeln!(
                out,
                "(from another machine use this server's LAN address instead of 127.0.0.1)"
            )?;
        }
        writeln!(out, "press Ctrl-C to stop")?;
        out.flush()?;
        drop(out);
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                r?;
                eprintln!("site-server: stopping (committing queued answers)…");
                site.stop().await?;
            }
            r = site.wait() => { r?; }
        }
        Ok(())
    })
}

fn export_answers(data: &Path) -> anyhow::Result<()> {
    let conn = store::open_reader(data)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = store::for_each_answer(&conn, |a| {
        let line = serde_json::to_string(&a).map_err(std::io::Error::other)?;
        writeln!(out, "{line}")
    })
    .and_then(|_| {
        out.flush().map_err(|source| store::StoreError::Io {
            path: "<stdout>".into(),
            source,
        })
    });
    match written {
        // The reader went away (e.g. `| head`): not an error.
        Err(store::StoreError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(())
        }
        other => Ok(other.map(|_| ())?),
    }
}

/// An error and its causes on one line, leaving out causes whose text the previous message
/// already contains.
pub fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}
