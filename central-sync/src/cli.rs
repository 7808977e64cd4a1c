//! The `central-sync` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::store::{self, Session};
use crate::time;
use crate::{content, rosters};

/// Default hours before a session's start after which its roster is frozen.
pub const DEFAULT_CUTOFF_HOURS: u32 = 48;
/// Longest cutoff that can be set: 30 days.
pub const CUTOFF_HOURS_MAX: u32 = 720;

#[derive(Parser)]
#[command(
    name = "central-sync",
    version,
    about = "考试中心 / the authority's exam service"
)]
struct Cli {
    /// Data directory of the embedded store.
    #[arg(long, global = true, default_value = "central-data")]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Exam plans: sessions and their roster cutoff.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Candidate rosters of planned sessions.
    #[command(subcommand)]
    Roster(RosterCommand),
    /// Candidate photos.
    #[command(subcommand)]
    Photos(PhotosCommand),
    /// Question content: QTI 2.1 / 3.0 packages.
    #[command(subcommand)]
    Content(ContentCommand),
}

#[derive(Subcommand)]
enum RosterCommand {
    /// Import a roster (.xlsx, .xls, .ods or .csv) into a session.
    Import {
        file: PathBuf,
        /// The session the candidates sit.
        #[arg(long)]
        session: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Write the rejected rows, with the reasons, to this .xlsx to fix and import again.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Act as if it were this time (China Standard Time), e.g. to replay an import.
        #[arg(long, hide = true)]
        now: Option<String>,
    },
    /// Write a blank roster template with filling instructions.
    Template { out: PathBuf },
}

#[derive(Subcommand)]
enum PhotosCommand {
    /// Import a .zip of photos named <ID number>.jpg or .png.
    Import {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ContentCommand {
    /// Import a QTI content package (.zip).
    Import {
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Import the items that can be imported even if others cannot.
        #[arg(long)]
        accept_problems: bool,
    },
    /// Show an imported package: sections, items, correct responses, problems.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// List imported packages.
    List,
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Add a session to the plan.
    Add {
        /// Session id, e.g. 2026-12-DYDG-01.
        id: String,
        #[arg(long)]
        title: String,
        /// Start, China Standard Time: "YYYY-MM-DD HH:MM".
        #[arg(long)]
        starts_at: String,
        /// Hours before the start after which roster changes are refused.
        #[arg(long, default_value_t = DEFAULT_CUTOFF_HOURS)]
        roster_cutoff_hours: u32,
    },
    /// List the sessions.
    List,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Warnings (e.g. a data directory others could read, now tightened) go to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("central-sync: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut conn = store::open(&cli.data)?;
    match cli.command {
        Command::Plan(PlanCommand::Add {
            id,
            title,
            starts_at,
            roster_cutoff_hours,
        }) => {
            anyhow::ensure!(
                !id.trim().is_empty()
                    && id.len() <= 64
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "场次编号只能包含字母、数字、“-”和“_”（最多 64 个） / a session id may contain only letters, digits, '-' and '_' (at most 64)"
            );
            anyhow::ensure!(
                roster_cutoff_hours <= CUTOFF_HOURS_MAX,
                "--roster-cutoff-hours must be at most {CUTOFF_HOURS_MAX}"
            );
            let s = Session {
                id,
                title,
                starts_at_unix_ms: time::parse_cst(&starts_at)?,
                roster_cutoff_hours,
            };
            anyhow::ensure!(
                store::add_session(&conn, &s)?,
                "场次 {} 已存在，未做任何修改 / session {} exists already; nothing changed",
                s.id,
                s.id
            );
            println!(
                "added session {} ({}), starts {} CST, roster frozen from {} CST",
                s.id,
                s.title,
                time::format_cst(s.starts_at_unix_ms),
                time::format_cst(s.roster_cutoff_unix_ms())
            );
            Ok(())
        }
        Command::Roster(RosterCommand::Import {
            file,
            session,
            json,
            report,
            now,
        }) => {
            let now = match now {
                Some(t) => time::parse_cst(&t)?,
                None => store::unix_ms(),
            };
            let result = rosters::import(&mut conn, &session, &file, now)?;
            if let Some(out) = &report {
                exam_content::roster::write_report_xlsx(&result, out)?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                print!("{}", rosters::roster_summary(&result));
                let n = rosters::count(&conn, &session)?;
                println!(
                    "场次 {session} 现有 {n} 名考生 / session {session} now has {n} candidates"
                );
                if let Some(out) = &report {
                    let out = out.display();
                    println!(
                        "被拒绝的行已写入 {out}，修改后可重新导入 / the rejected rows are in {out}: fix them there and import that file"
                    );
                }
            }
            Ok(())
        }
        Command::Roster(RosterCommand::Template { out }) => {
            exam_content::roster::write_template_xlsx(&out)?;
            println!("{}", out.display());
            Ok(())
        }
        Command::Photos(PhotosCommand::Import { file, json }) => {
            let bytes = read_bounded(&file, rosters::PHOTO_ARCHIVE_BYTES_MAX)?;
            let result = rosters::import_photos(&mut conn, &bytes, store::unix_ms())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                print!("{}", rosters::photo_summary(&result));
            }
            Ok(())
        }
        Command::Content(ContentCommand::Import {
            file,
            json,
            accept_problems,
        }) => {
            let bytes = read_bounded(&file, content::PACKAGE_BYTES_MAX as u64)?;
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("content");
            let imported = content::import(&mut conn, &bytes, stem, accept_problems)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&imported)?);
            } else {
                print!("{}", content::summary(&imported.report));
                if imported.added {
                    println!("imported as {}", imported.id);
                } else {
                    println!("{} was imported before; nothing changed", imported.id);
                }
            }
            Ok(())
        }
        Command::Content(ContentCommand::Show { id, json }) => {
            let report = content::show(&conn, &id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", content::summary(&report));
            }
            Ok(())
        }
        Command::Content(ContentCommand::List) => {
            for (id, title) in content::list(&conn)? {
                println!("{id}\t{title}");
            }
            Ok(())
        }
        Command::Plan(PlanCommand::List) => {
            for s in store::sessions(&conn)? {
                println!(
                    "{}\t{}\tstarts {}\troster cutoff {}",
                    s.id,
                    s.title,
                    time::format_cst(s.starts_at_unix_ms),
                    time::format_cst(s.roster_cutoff_unix_ms())
                );
            }
            Ok(())
        }
    }
}

/// Reads a whole file, refusing one larger than `max` bytes before reading it.
fn read_bounded(path: &std::path::Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
        .len();
    anyhow::ensure!(
        len <= max,
        "{} is {len} bytes; at most {max} are accepted",
        path.display()
    );
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}
