//! The `central-sync` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::plans::{self, DEFAULT_CUTOFF_HOURS, NewPlan, NewSession, PASS_MARK_DEFAULT, PlanType};
use crate::time;
use crate::{blacklist, commands, content, rosters, sites, store};

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
    /// Act as if it were this time (China Standard Time), e.g. to replay an import.
    #[arg(long, global = true, hide = true)]
    now: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Exam sites (考点) and their rooms (考场).
    #[command(subcommand)]
    Site(SiteCommand),
    /// Exam plans: type, category, content, sessions; submit, approve, unlock; seats.
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
    /// People barred from exams for a penalty period (黑名单).
    #[command(subcommand)]
    Blacklist(BlacklistCommand),
    /// Make central's keys (once): its TLS CA, the package-signing and result-encryption keys.
    Init,
    /// Print the fingerprint sites pin (`site-server init --central-fingerprint`).
    Fingerprint {
        /// The operator's certificate chain `serve` is given, if any.
        #[arg(long)]
        tls_cert: Option<PathBuf>,
    },
    /// Serve the site API over HTTPS.
    Serve {
        #[arg(long, default_value = DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        /// Serve the operator's certificate chain (PEM, server certificate first, the CA sites
        /// pin last) instead of central's own; client certificates are still central's.
        #[arg(long)]
        tls_cert: Option<PathBuf>,
        /// The key of --tls-cert (PEM).
        #[arg(long)]
        tls_key: Option<PathBuf>,
    },
    /// Sessions: the offline release code.
    #[command(subcommand)]
    Session(SessionKeyCommand),
    /// Exam packages for USB sticks.
    #[command(subcommand)]
    Package(PackageCommand),
    /// Sealed results: import from USB, status, export.
    #[command(subcommand)]
    Results(ResultsCommand),
}

/// Where `serve` listens by default.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8443";

#[derive(Subcommand)]
enum SessionKeyCommand {
    /// Show the release code a site types when its uplink is down (logged).
    ReleaseCode {
        id: String,
        /// Who reads it out.
        #[arg(long)]
        by: String,
    },
}

#[derive(Subcommand)]
enum PackageCommand {
    /// Write the current package of a session to a file for the site's USB stick.
    Export {
        session: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ResultsCommand {
    /// Take the sealed results a site wrote with `site-server export-results`.
    Import { dir: PathBuf },
    /// Which results of a session arrived and which are missing.
    Status {
        session: String,
        #[arg(long)]
        json: bool,
    },
    /// Write a session's results to an .xlsx workbook.
    Export {
        session: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// The answers of a session a marker scores (short answers), by admission number.
    Marking {
        session: String,
        /// Those marked already too.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Score one answer: `results mark S1 A0001 Q7 7.5 --by 王老师` (a new mark replaces the old).
    Mark {
        session: String,
        admission_no: String,
        item: String,
        /// Points, e.g. 7 or 7.5 (at most the item's worth).
        points: String,
        /// The marker's name (kept in the audit log).
        #[arg(long)]
        by: String,
    },
}

#[derive(Subcommand)]
enum SiteCommand {
    /// Register a site; prints a one-time enrolment token for its admin.
    Add {
        /// Site code: letters, digits and '-', at most 32.
        code: String,
        name: String,
        #[arg(long)]
        address: Option<String>,
        /// Hours the enrolment token stays valid.
        #[arg(long, default_value_t = crate::enroll::ENROLL_TOKEN_VALIDITY_HOURS)]
        token_hours: u32,
    },
    /// A new one-time enrolment token for a site (earlier unused ones stop working).
    Token {
        code: String,
        #[arg(long, default_value_t = crate::enroll::ENROLL_TOKEN_VALIDITY_HOURS)]
        valid_hours: u32,
    },
    /// Rooms of a site.
    #[command(subcommand)]
    Room(RoomCommand),
    /// List the sites with their rooms.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a site: rooms, capacities, disabled rooms and seats.
    Show {
        code: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RoomCommand {
    /// Add a room to a site.
    Add {
        site: String,
        /// Room code: letters, digits and '-', at most 32.
        code: String,
        #[arg(long)]
        name: String,
        /// Seats, numbered 1..=capacity (at most 500).
        #[arg(long)]
        capacity: u32,
    },
    /// Disable a room: it gets no new seats (rooms are never deleted).
    Disable {
        site: String,
        room: String,
        #[arg(long)]
        reason: String,
    },
    /// Disable a broken seat: seating skips it.
    SeatDisable {
        site: String,
        room: String,
        seat: u32,
        #[arg(long)]
        reason: String,
    },
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
        /// Who imports (for the plan's log); default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Remove one candidate from a session's roster (draft plan, before the cutoff).
    Remove {
        session: String,
        id_number: String,
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
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
enum BlacklistCommand {
    /// Ban a person through a day (inclusive).
    Add {
        id_number: String,
        #[arg(long)]
        reason: String,
        /// Last day of the ban, YYYY-MM-DD.
        #[arg(long)]
        until: String,
        #[arg(long)]
        by: String,
    },
    /// List the bans in force (with --all, every ban ever added, lifted ones included).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Lift a ban in force.
    Lift {
        id_number: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
    },
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Create a draft plan.
    Create {
        /// Plan id, e.g. 2026-12-TZZY-DY.
        id: String,
        /// Plan type (the Chinese names work too: 继续教育在线考试, 新取证在线考试, 新取证线下考试, 复审/换证).
        #[arg(long = "type", value_enum)]
        plan_type: PlanType,
        /// Certificate category, e.g. 特种作业 or 安全生产管理人员.
        #[arg(long)]
        category: String,
        /// Work type, e.g. 低压电工作业.
        #[arg(long)]
        work_type: String,
        #[arg(long)]
        title: String,
        /// Id of an imported content package (see `content list`).
        #[arg(long)]
        content: String,
        /// Pass mark in percent of the maximum score.
        #[arg(long, default_value_t = PASS_MARK_DEFAULT)]
        pass_mark: u32,
        /// Who creates it (for the plan's log); default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Sessions of a plan.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Submit a draft plan for approval (locks it).
    Submit {
        id: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Approve a submitted plan: gives admission numbers, seats and paper seeds.
    Approve {
        id: String,
        #[arg(long)]
        by: String,
    },
    /// Send a submitted or approved plan back to draft so it can change.
    Unlock {
        id: String,
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
    },
    /// Show a plan: state, sessions, counts, the log.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// List the plans and their sessions.
    List,
    /// List the seats of a session.
    Seats {
        session: String,
        #[arg(long)]
        json: bool,
    },
    /// Seats of a session.
    #[command(subcommand)]
    Seat(SeatCommand),
    /// Replaced by `plan create` and `plan session add`.
    #[command(hide = true)]
    Add {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum SessionCommand {
    /// Add a session to a draft plan (a session of the legacy plan with that id is moved in).
    Add {
        plan: String,
        /// Session id, e.g. 2026-12-DYDG-01.
        session: String,
        /// The site's code.
        #[arg(long)]
        site: String,
        /// The site's rooms, in seating order: R1,R2.
        #[arg(long, value_delimiter = ',')]
        rooms: Vec<String>,
        /// Start, China Standard Time: "YYYY-MM-DD HH:MM".
        #[arg(long)]
        starts_at: String,
        /// Minutes, 10 to 600.
        #[arg(long)]
        duration_min: u32,
        /// Minutes after the start a candidate may still log in, 0 to the duration.
        #[arg(long)]
        latest_login_min: u32,
        /// Hours before the start after which roster changes are refused.
        #[arg(long, default_value_t = DEFAULT_CUTOFF_HOURS)]
        roster_cutoff_hours: u32,
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Subcommand)]
enum SeatCommand {
    /// Move one candidate to another seat by hand (draft plans only: unlock an approved one).
    Move {
        session: String,
        id_number: String,
        #[arg(long)]
        room: String,
        #[arg(long)]
        seat: u32,
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
    },
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
    quiet_when_output_is_cut();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("central-sync: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Who runs the command when `--by` is not given: the login name.
fn operator(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let now = match &cli.now {
        Some(t) => time::parse_cst(t)?,
        None => store::unix_ms(),
    };
    if let Command::Plan(PlanCommand::Add { .. }) = cli.command {
        anyhow::bail!(
            "`plan add` 已由新命令取代：先用 `central-sync plan create` 建立计划，再用 `central-sync plan session add` 添加场次 / `plan add` was replaced: create a plan with `central-sync plan create`, then add its sessions with `central-sync plan session add`"
        );
    }
    let data = cli.data.as_path();
    match cli.command {
        Command::Init => return commands::init(data),
        Command::Fingerprint { tls_cert } => {
            return commands::fingerprint(data, tls_cert.as_deref());
        }
        Command::Serve {
            listen,
            tls_cert,
            tls_key,
        } => {
            let operator = commands::operator_cert(tls_cert.as_deref(), tls_key.as_deref())?;
            return commands::serve(data, listen, operator);
        }
        Command::Session(SessionKeyCommand::ReleaseCode { id, by }) => {
            return commands::release_code(data, &id, &by);
        }
        Command::Package(PackageCommand::Export { session, out }) => {
            return commands::package_export(data, &session, &out);
        }
        Command::Results(ResultsCommand::Import { dir }) => {
            return commands::results_import(data, &dir);
        }
        Command::Results(ResultsCommand::Status { session, json }) => {
            return commands::results_status(data, &session, json);
        }
        Command::Results(ResultsCommand::Export { session, out }) => {
            return commands::results_export(data, &session, &out);
        }
        Command::Results(ResultsCommand::Marking { session, all, json }) => {
            return commands::results_marking(data, &session, all, json);
        }
        Command::Results(ResultsCommand::Mark {
            session,
            admission_no,
            item,
            points,
            by,
        }) => {
            return commands::results_mark(data, &session, &admission_no, &item, &points, &by);
        }
        _ => {}
    }
    let mut conn = store::open(&cli.data)?;
    match cli.command {
        Command::Site(cmd) => site(&mut conn, cmd, now),
        Command::Plan(cmd) => plan(&mut conn, cmd, now),
        Command::Blacklist(cmd) => blacklist_cmd(&mut conn, cmd, now),
        Command::Roster(RosterCommand::Import {
            file,
            session,
            json,
            report,
            by,
        }) => {
            let result = rosters::import(&mut conn, &session, &file, now, &operator(by))?;
            if let Some(out) = &report {
                exam_content::roster::write_report_xlsx(&result, out)?;
            }
            if json {
                print_json(&result)?;
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
        Command::Roster(RosterCommand::Remove {
            session,
            id_number,
            by,
            reason,
        }) => {
            rosters::remove(&mut conn, &session, &id_number, &by, &reason, now)?;
            let n = rosters::count(&conn, &session)?;
            println!(
                "已从场次 {session} 移出 {id_number}，现有 {n} 名考生 / removed {id_number} from session {session}, which now has {n} candidates"
            );
            Ok(())
        }
        Command::Roster(RosterCommand::Template { out }) => {
            exam_content::roster::write_template_xlsx(&out)?;
            println!("{}", out.display());
            Ok(())
        }
        Command::Photos(PhotosCommand::Import { file, json }) => {
            let bytes = read_bounded(&file, rosters::PHOTO_ARCHIVE_BYTES_MAX)?;
            let result = rosters::import_photos(&mut conn, &bytes, now)?;
            if json {
                print_json(&result)?;
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
                print_json(&imported)?;
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
                print_json(&report)?;
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
        Command::Init
        | Command::Fingerprint { .. }
        | Command::Serve { .. }
        | Command::Session(_)
        | Command::Package(_)
        | Command::Results(_) => Ok(()), // handled above
    }
}

fn site(conn: &mut rusqlite::Connection, cmd: SiteCommand, now: i64) -> anyhow::Result<()> {
    match cmd {
        SiteCommand::Add {
            code,
            name,
            address,
            token_hours,
        } => {
            let s = sites::add_at(conn, &code, &name, address.as_deref(), now)?;
            println!(
                "已登记考点 {} {} / registered site {} ({})",
                s.code, s.name, s.code, s.name
            );
            let token = crate::enroll::issue_token(conn, &s.code, token_hours, now)?;
            println!(
                "注册码（一次性，{token_hours} 小时内有效）/ one-time enrolment token, valid {token_hours} hours: {token}"
            );
        }
        SiteCommand::Token { code, valid_hours } => {
            let token = crate::enroll::issue_token(conn, &code, valid_hours, now)?;
            println!("{token}");
            eprintln!(
                "one-time enrolment token for site {code}, valid {valid_hours} hours: give it to the site's admin for `site-server init --site {code} --token …`"
            );
        }
        SiteCommand::Room(RoomCommand::Add {
            site,
            code,
            name,
            capacity,
        }) => {
            let r = sites::add_room(conn, &site, &code, &name, capacity, now)?;
            println!(
                "考点 {site} 已添加考场 {}（{} 个座位） / added room {} with {} seats to site {site}",
                r.code, r.capacity, r.code, r.capacity
            );
        }
        SiteCommand::Room(RoomCommand::Disable { site, room, reason }) => {
            sites::disable_room(conn, &site, &room, &reason, now)?;
            println!(
                "考场 {site}/{room} 已停用，不再安排座位 / room {site}/{room} is disabled: it gets no new seats"
            );
        }
        SiteCommand::Room(RoomCommand::SeatDisable {
            site,
            room,
            seat,
            reason,
        }) => {
            let r = sites::disable_seat(conn, &site, &room, seat, &reason, now)?;
            println!(
                "考场 {site}/{room} 的 {seat} 号座位已停用，可用座位 {} 个 / seat {seat} of room {site}/{room} is disabled; {} seats usable",
                r.usable_seats().len(),
                r.usable_seats().len()
            );
        }
        SiteCommand::List { json } => {
            let all = sites::list(conn)?;
            if json {
                print_json(&all)?;
            } else {
                for d in &all {
                    print!("{}", sites::summary(d));
                }
            }
        }
        SiteCommand::Show { code, json } => {
            let d = sites::show(conn, &code)?;
            if json {
                print_json(&d)?;
            } else {
                print!("{}", sites::summary(&d));
            }
        }
    }
    Ok(())
}

fn plan(conn: &mut rusqlite::Connection, cmd: PlanCommand, now: i64) -> anyhow::Result<()> {
    match cmd {
        PlanCommand::Create {
            id,
            plan_type,
            category,
            work_type,
            title,
            content,
            pass_mark,
            by,
        } => {
            let p = plans::create(
                conn,
                &NewPlan {
                    id,
                    plan_type,
                    category,
                    work_type,
                    title,
                    content_id: content,
                    pass_mark_percent: pass_mark,
                },
                &operator(by),
                now,
            )?;
            println!(
                "已建立计划 {}（{}，草稿） / created plan {} ({}, draft)",
                p.id,
                plan_type.chinese(),
                p.id,
                plan_type.as_str()
            );
        }
        PlanCommand::Session(SessionCommand::Add {
            plan,
            session,
            site,
            rooms,
            starts_at,
            duration_min,
            latest_login_min,
            roster_cutoff_hours,
            by,
        }) => {
            let s = plans::add_session(
                conn,
                &NewSession {
                    plan_id: plan,
                    session_id: session,
                    site_code: site,
                    rooms,
                    starts_at_unix_ms: time::parse_cst(&starts_at)?,
                    duration_min,
                    latest_login_min,
                    roster_cutoff_hours,
                },
                &operator(by),
                now,
            )?;
            println!(
                "added session {} (no. {}) to plan {}, starts {} CST, roster frozen from {} CST",
                s.id,
                s.seq,
                s.plan_id,
                time::format_cst(s.starts_at_unix_ms),
                time::format_cst(s.roster_cutoff_unix_ms())
            );
        }
        PlanCommand::Submit { id, by } => {
            plans::submit(conn, &id, &operator(by), now)?;
            println!(
                "计划 {id} 已提交，等待审批，已锁定 / plan {id} is submitted for approval and locked"
            );
        }
        PlanCommand::Approve { id, by } => {
            let a = plans::approve(conn, &id, &by, now)?;
            println!("计划 {id} 已审批 / plan {id} is approved");
            for (s, n, new) in &a.sessions {
                println!(
                    "  场次 / session {s}: {n} 名考生已安排座位，其中新安排 {new} 名 / {n} candidates seated, {new} newly"
                );
            }
        }
        PlanCommand::Unlock { id, by, reason } => {
            plans::unlock(conn, &id, &by, &reason, now)?;
            println!("计划 {id} 已解锁，回到草稿状态 / plan {id} is unlocked and back to draft");
        }
        PlanCommand::Show { id, json } => {
            let d = plans::show(conn, &id)?;
            if json {
                print_json(&d)?;
            } else {
                print!("{}", plans::summary(&d));
            }
        }
        PlanCommand::List => {
            for p in plans::list(conn)? {
                println!(
                    "{}\t{}\t{}\t{}",
                    p.id,
                    p.state.as_str(),
                    p.plan_type.map_or("legacy", PlanType::as_str),
                    p.title
                );
                for s in store::plan_sessions(conn, &p.id)? {
                    println!(
                        "  {}\t{}\tstarts {}\troster cutoff {}",
                        s.id,
                        s.site_code.as_deref().unwrap_or("-"),
                        time::format_cst(s.starts_at_unix_ms),
                        time::format_cst(s.roster_cutoff_unix_ms())
                    );
                }
            }
        }
        PlanCommand::Seats { session, json } => {
            let rows = plans::seats(conn, &session)?;
            if json {
                print_json(&rows)?;
            } else {
                for r in &rows {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        r.room.as_deref().unwrap_or("-"),
                        r.seat.map_or("-".into(), |s| s.to_string()),
                        r.admission_no.as_deref().unwrap_or("-"),
                        r.id_number,
                        r.name
                    );
                }
            }
        }
        PlanCommand::Seat(SeatCommand::Move {
            session,
            id_number,
            room,
            seat,
            by,
            reason,
        }) => {
            let r = plans::move_seat(conn, &session, &id_number, &room, seat, &by, &reason, now)?;
            println!(
                "{} {} 已调到考场 {room} 的 {seat} 号座位 / moved to seat {seat} of room {room}",
                r.id_number, r.name
            );
        }
        PlanCommand::Add { .. } => unreachable!("handled before the store is opened"),
    }
    Ok(())
}

fn blacklist_cmd(
    conn: &mut rusqlite::Connection,
    cmd: BlacklistCommand,
    now: i64,
) -> anyhow::Result<()> {
    match cmd {
        BlacklistCommand::Add {
            id_number,
            reason,
            until,
            by,
        } => {
            let b = blacklist::add(conn, &id_number, &reason, &until, &by, now)?;
            println!(
                "{} 已列入黑名单，禁考至 {} / {} is banned until {}",
                b.id_number, b.until_date, b.id_number, b.until_date
            );
            let seated = blacklist::seated_in_approved(conn, &b)?;
            for (plan, session) in seated {
                println!(
                    "注意：此人在已审批计划 {plan} 的场次 {session} 中；请解锁计划并移出此人后重新审批 / note: this person is in session {session} of the approved plan {plan}: unlock the plan, remove them and approve again"
                );
            }
        }
        BlacklistCommand::List { all, json } => {
            let bans = blacklist::list(conn, now, all)?;
            if json {
                print_json(&bans)?;
            } else {
                print!("{}", blacklist::summary(&bans));
            }
        }
        BlacklistCommand::Lift {
            id_number,
            reason,
            by,
        } => {
            let b = blacklist::lift(conn, &id_number, &reason, &by, now)?;
            println!(
                "{} 的禁考已解除 / the ban of {} is lifted",
                b.id_number, b.id_number
            );
        }
    }
    Ok(())
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

/// A listing piped into `head` or `grep -q` ends when the reader stops reading: the command then
/// stops quietly with the status a shell gives such a writer (141), not with a panic from
/// `println!`.
fn quiet_when_output_is_cut() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map_or("", String::as_str);
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info)
    }));
}
