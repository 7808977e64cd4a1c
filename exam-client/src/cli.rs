//! The `exam-client` command line: the kiosk window, or `simulate`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use exam_crypto::Fingerprint;

use crate::backend::{self, ClientConfig};
use crate::simulate::{self, SimulateConfig};

#[derive(Parser)]
#[command(
    name = "exam-client",
    version,
    about = "考生客户端 / candidate exam client",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    window: WindowArgs,
}

#[derive(Args)]
struct Site {
    /// The site server's address, e.g. 192.168.10.2:7443.
    #[arg(long)]
    server: SocketAddr,
    /// The site CA fingerprint, as printed by `site-server fingerprint`.
    #[arg(long = "ca-fingerprint")]
    ca_fingerprint: Fingerprint,
}

/// The window's options (`--server` and `--ca-fingerprint` are required without a subcommand).
#[derive(Args)]
struct WindowArgs {
    /// The site server's address, e.g. 192.168.10.2:7443.
    #[arg(long)]
    server: Option<SocketAddr>,
    /// The site CA fingerprint, as printed by `site-server fingerprint`.
    #[arg(long = "ca-fingerprint")]
    ca_fingerprint: Option<Fingerprint>,
    /// Interface language.
    #[arg(long, value_enum, default_value_t = LangArg::Zh)]
    lang: LangArg,
    /// Where unacknowledged answers are kept [default: ~/.local/share/exam-client/journal].
    #[arg(long)]
    journal_dir: Option<PathBuf>,
    /// A normal window instead of full screen (for trying it out).
    #[arg(long)]
    windowed: bool,
    /// This machine's name on the proctor's seat map [default: the host name].
    #[arg(long)]
    machine: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LangArg {
    Zh,
    En,
}

#[derive(Subcommand)]
enum Command {
    /// Simulated candidates: log in, answer everything at random, change some answers, submit.
    Simulate {
        #[command(flatten)]
        site: Site,
        /// How many candidates.
        #[arg(long)]
        candidates: u32,
        /// First demo candidate to play (0-based).
        #[arg(long, default_value_t = 0)]
        first: u32,
        /// Mean pause between answers, in milliseconds.
        #[arg(long, default_value_t = 300)]
        think_ms: u64,
        /// Write every acknowledged change to FILE as JSON lines.
        #[arg(long)]
        record: Option<PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3600)]
        deadline_secs: u64,
        /// Seed of the random answers.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where the simulated machines keep their journals (fsynced, one directory each)
        /// [default: a new temporary directory, removed afterwards].
        #[arg(long)]
        journal_dir: Option<PathBuf>,
        /// Keep the journals in memory instead (no disk, no fsync).
        #[arg(long, conflicts_with = "journal_dir")]
        memory_journal: bool,
        /// Play these candidates instead of the demo roster: a file of
        /// “admission number,ID number” lines.
        #[arg(long)]
        credentials: Option<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match (cli.command, cli.window) {
        (
            Some(Command::Simulate {
                site,
                candidates,
                first,
                think_ms,
                record,
                deadline_secs,
                seed,
                journal_dir,
                memory_journal,
                credentials,
            }),
            _,
        ) => {
            let temp = (!memory_journal && journal_dir.is_none())
                .then(|| tempfile::Builder::new().prefix("exam-simulate-").tempdir())
                .transpose();
            let credentials = credentials
                .map(|p| simulate::read_credentials(&p).map(std::sync::Arc::new))
                .transpose();
            match temp
                .map_err(anyhow::Error::from)
                .and_then(|t| Ok((t, credentials?)))
            {
                Ok((temp, credentials)) => run_simulate(SimulateConfig {
                    credentials,
                    server: site.server,
                    pin: site.ca_fingerprint,
                    candidates,
                    first,
                    think: Duration::from_millis(think_ms),
                    record,
                    deadline: Duration::from_secs(deadline_secs),
                    seed,
                    journal_dir: journal_dir
                        .or_else(|| temp.as_ref().map(|t| t.path().to_path_buf())),
                }),
                Err(e) => Err(e.context("cannot start the simulation")),
            }
        }
        (None, w) => match (w.server, w.ca_fingerprint) {
            (Some(server), Some(pin)) => run_window(w, server, pin),
            _ => Err(anyhow::anyhow!(
                "give --server ADDR and --ca-fingerprint FP (the site admin has both: `site-server fingerprint`)"
            )),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exam-client: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_simulate(config: SimulateConfig) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(simulate::run(config))?;
    println!("{}", report.figures());
    println!("{}", report.summary());
    anyhow::ensure!(
        report.errors == 0 && report.submitted == report.candidates,
        "not every candidate submitted cleanly"
    );
    Ok(())
}

fn default_journal_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("exam-client/journal")
}

fn run_window(args: WindowArgs, server: SocketAddr, pin: Fingerprint) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let machine = args.machine.unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "candidate-pc".into())
    });
    let journal_dir = args.journal_dir.unwrap_or_else(default_journal_dir);
    let endpoint = {
        let _guard = rt.enter();
        backend::endpoint(server, pin).context("could not open a network socket")?
    };
    let repaint = crate::repaint::RepaintHandle::default();
    let backend = {
        let _guard = rt.enter();
        backend::spawn(
            ClientConfig {
                server,
                pin,
                machine,
                journal_dir: Some(journal_dir),
            },
            endpoint,
            Arc::new({
                let repaint = repaint.clone();
                move || repaint.request()
            }),
            None,
        )
    };
    let lang = match args.lang {
        LangArg::Zh => exam_ui::Lang::Zh,
        LangArg::En => exam_ui::Lang::En,
    };
    crate::app::run_window(backend, lang, !args.windowed, repaint)
        .map_err(|e| anyhow::anyhow!("the window could not be opened: {e}"))?;
    drop(rt);
    Ok(())
}
