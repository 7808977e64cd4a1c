//! Exam plans (考试计划) as the authority describes them: a plan has a type, a certificate
//! category and work type, a title, the question content its papers are drawn from and a pass
//! mark; its sessions (场次) are held at a site in some of its rooms.
//!
//! States: `draft` → `submitted` → `approved`. Only a draft can change: roster imports and
//! removals, new sessions and seat moves are refused in a submitted or approved plan with a
//! message that says to unlock it (`unlock`, with who and why, back to draft). Every state
//! change and every change of a plan's sessions, rosters and seats is written to the plan's log
//! (who, when, what, why). Each command is one transaction and changes nothing when refused.
//!
//! **Approval** checks every candidate again (age rules of the category at the session's start,
//! bans in force at the start) and that each session's rooms can seat its candidates, then gives
//! each candidate who has none
//!
//! - an **admission number** (准考证号) of ten digits: the session's central-wide number (`seq`,
//!   six digits) then the candidate's number within the session (four digits, from `0001`, in
//!   seat order): `0000120007` is candidate 7 of session 12. It is unique, and stable once
//!   assigned: unlocking and approving again keeps it (a removed candidate's number is not
//!   given to anyone else while numbers are left);
//! - a **seat**: the session's free usable seats (its rooms in the order given, skipping
//!   disabled rooms and disabled seats, then by seat number) are filled by the unseated
//!   candidates in a random order drawn from a seed taken from the operating system and stored
//!   with the session (`seat_seed`). A candidate keeps a seat that is still usable;
//! - a **paper seed**: a random `u64` from the operating system, from which central reproduces
//!   the candidate's paper with [`exam_content::assembly::assemble`].
//!
//! **Seat moves** (`move_seat`) are allowed in a draft only: after approval, unlock the plan with
//! a reason, move, then submit and approve again (which keeps the moved seat). A seat may also be
//! chosen by hand before the first approval; approval keeps it.

use std::collections::{BTreeMap, BTreeSet};

use exam_content::roster::RosterEntry;
use exam_domain::rng::SplitMix64;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::check::{self, NAME_CHARS_MAX, ROOMS_PER_SESSION_MAX, TEXT_CHARS_MAX, TextError};
use crate::sites::{self, SiteError};
use crate::store::{self, LEGACY_PLAN_ID, Session, StoreError};
use crate::time::format_cst;
use crate::{blacklist, eligibility};

/// Pass mark when none is given, in percent of the maximum score.
pub const PASS_MARK_DEFAULT: u32 = 60;
/// Lowest and highest pass mark, in percent.
pub const PASS_MARK_PERCENT: std::ops::RangeInclusive<u32> = 1..=100;
/// Shortest and longest session, in minutes.
pub const DURATION_MIN: std::ops::RangeInclusive<u32> = 10..=600;
/// Default hours before a session's start after which its roster is frozen.
pub const DEFAULT_CUTOFF_HOURS: u32 = 48;
/// Longest cutoff that can be set: 30 days.
pub const CUTOFF_HOURS_MAX: u32 = 720;
/// Most candidates of one session: the four digits of an admission number.
pub const CANDIDATES_PER_SESSION_MAX: u32 = 9999;
/// Most sessions central can number: the six digits of an admission number.
pub const SESSION_SEQ_MAX: u32 = 999_999;

/// The four kinds of plan the authority runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PlanType {
    /// 继续教育在线考试
    #[value(alias = "继续教育在线考试")]
    ContinuingEducationOnline,
    /// 新取证在线考试
    #[value(alias = "新取证在线考试")]
    NewCertificateOnline,
    /// 新取证线下考试
    #[value(alias = "新取证线下考试")]
    NewCertificateOffline,
    /// 复审/换证
    #[value(alias = "复审", alias = "换证", alias = "复审/换证")]
    Renewal,
}

impl PlanType {
    pub const ALL: [PlanType; 4] = [
        PlanType::ContinuingEducationOnline,
        PlanType::NewCertificateOnline,
        PlanType::NewCertificateOffline,
        PlanType::Renewal,
    ];

    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanType::ContinuingEducationOnline => "continuing-education-online",
            PlanType::NewCertificateOnline => "new-certificate-online",
            PlanType::NewCertificateOffline => "new-certificate-offline",
            PlanType::Renewal => "renewal",
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            PlanType::ContinuingEducationOnline => "继续教育在线考试",
            PlanType::NewCertificateOnline => "新取证在线考试",
            PlanType::NewCertificateOffline => "新取证线下考试",
            PlanType::Renewal => "复审/换证",
        }
    }

    fn from_stored(s: &str) -> Option<PlanType> {
        PlanType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanState {
    Draft,
    Submitted,
    Approved,
}

impl PlanState {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanState::Draft => "draft",
            PlanState::Submitted => "submitted",
            PlanState::Approved => "approved",
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            PlanState::Draft => "草稿",
            PlanState::Submitted => "已提交",
            PlanState::Approved => "已审批",
        }
    }

    fn from_stored(s: &str) -> PlanState {
        match s {
            "submitted" => PlanState::Submitted,
            "approved" => PlanState::Approved,
            _ => PlanState::Draft,
        }
    }
}

/// A session short of seats at approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shortfall {
    pub session: String,
    pub candidates: u32,
    pub usable_seats: u32,
    pub missing: u32,
}

/// A candidate who may not sit their session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ineligible {
    pub session: String,
    pub id_number: String,
    pub name: String,
    pub reason: String,
}

fn lines<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items
        .iter()
        .map(|i| format!("  - {}", f(i)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(transparent)]
    Site(#[from] SiteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("计划 {0} 已存在，未做任何修改 / plan {0} exists already; nothing changed")]
    Exists(String),
    #[error(
        "没有计划 {0}；请先用 `central-sync plan create` 建立 / no plan {0}: create it first with `central-sync plan create` (see `central-sync plan list`)"
    )]
    NoPlan(String),
    #[error(
        "没有场次 {0}；请先用 `central-sync plan session add` 建立 / no session {0}: add it first with `central-sync plan session add` (see `central-sync plan list`)"
    )]
    NoSession(String),
    #[error(
        "场次 {id} 已存在（属于计划 {plan}），未做任何修改 / session {id} exists already (in plan {plan}); nothing changed"
    )]
    SessionExists { id: String, plan: String },
    #[error(
        "没有编号为 {0} 的题库；请先用 `central-sync content import` 导入 / no content with id {0}: import it first with `central-sync content import` (see `central-sync content list`)"
    )]
    NoContent(String),
    #[error(
        "题库 {id} 不能用于组卷（{why}）；请修正题库包后重新导入 / content {id} cannot be used to assemble papers ({why}): fix the package and import it again"
    )]
    BadContent { id: String, why: String },
    #[error(
        "合格分数线 {0}% 不可用：应为 1–100 / a pass mark of {0}% cannot be used: give 1 to 100"
    )]
    PassMark(u32),
    #[error(
        "考试时长 {0} 分钟不可用：应为 10–600 分钟 / a duration of {0} minutes cannot be used: give 10 to 600"
    )]
    Duration(u32),
    #[error(
        "最晚登录时间 {latest} 分钟不可用：应在 0 到考试时长 {duration} 分钟之间 / a latest login of {latest} minutes cannot be used: give 0 to the duration, {duration}"
    )]
    LatestLogin { latest: u32, duration: u32 },
    #[error(
        "名单截止时间 {0} 小时不可用：最多 {CUTOFF_HOURS_MAX} 小时 / a roster cutoff of {0} hours cannot be used: at most {CUTOFF_HOURS_MAX}"
    )]
    Cutoff(u32),
    #[error(
        "开考时间 {0}（北京时间）已过，请填写将来的时间 / the start {0} (China Standard Time) has passed: give a time in the future"
    )]
    StartsInPast(String),
    #[error(
        "请用 --rooms 列出 1–{ROOMS_PER_SESSION_MAX} 个不重复的考场代码，用逗号分隔（如 R1,R2） / list 1 to {ROOMS_PER_SESSION_MAX} different room codes after --rooms, separated by commas (e.g. R1,R2)"
    )]
    Rooms,
    #[error(
        "考场 {site}/{room} 已停用（{reason}），不能安排考试；请选择其他考场 / room {site}/{room} is disabled ({reason}): choose another room"
    )]
    RoomDisabled {
        site: String,
        room: String,
        reason: String,
    },
    #[error(
        "考场 {room} 在该时段已被场次 {other}（{start} 开考）使用；请换考场或时间 / room {room} is used by session {other} (starting {start}) at that time: choose another room or time"
    )]
    RoomBusy {
        room: String,
        other: String,
        start: String,
    },
    #[error(
        "计划 {id} {state_zh}，已锁定，名单、场次和座位都不能修改；如确需修改，请先解锁：central-sync plan unlock {id} --by 姓名 --reason 原因 / plan {id} is {state} and locked: its rosters, sessions and seats cannot change; to change them, unlock it first with a reason: central-sync plan unlock {id} --by NAME --reason TEXT"
    )]
    Locked {
        id: String,
        state: &'static str,
        state_zh: &'static str,
    },
    #[error(
        "计划 {LEGACY_PLAN_ID} 只保存升级前建立的场次，不能提交、审批或添加新场次；请用 `central-sync plan session add 计划 场次 …` 把场次移入正式计划 / plan {LEGACY_PLAN_ID} only holds the sessions from before plans: it cannot be submitted, approved or given new sessions; move a session into a real plan with `central-sync plan session add PLAN SESSION …`"
    )]
    Legacy,
    #[error("{0}")]
    WrongState(String),
    #[error(
        "计划 {0} 还没有场次；请先用 `central-sync plan session add` 添加 / plan {0} has no session yet: add one with `central-sync plan session add`"
    )]
    NoSessions(String),
    #[error(
        "座位不足，未审批，未做任何修改；请给场次增加考场或减少考生 / not enough seats, so the plan was not approved and nothing changed: give the session more rooms or fewer candidates:\n{}",
        lines(.0, |s| format!("场次 {}：{} 名考生，{} 个可用座位，缺 {} 个座位 / session {}: {} candidates, {} usable seats: {} seats missing", s.session, s.candidates, s.usable_seats, s.missing, s.session, s.candidates, s.usable_seats, s.missing))
    )]
    SeatsShort(Vec<Shortfall>),
    #[error(
        "以下考生不能参加考试，未审批，未做任何修改；请先解锁计划，用 `central-sync roster remove` 移出这些考生后再提交审批 / these candidates may not sit, so the plan was not approved and nothing changed: unlock the plan, remove them with `central-sync roster remove`, then submit and approve again:\n{}",
        lines(.0, |c| format!("场次 / session {} {} {}: {}", c.session, c.id_number, c.name, c.reason))
    )]
    Ineligible(Vec<Ineligible>),
    #[error(
        "场次 {session} 的考生将达到 {count} 名，超过每场 {CANDIDATES_PER_SESSION_MAX} 名的上限；请拆分到几个场次 / session {session} would have {count} candidates, more than {CANDIDATES_PER_SESSION_MAX}: split them over several sessions"
    )]
    TooManyCandidates { session: String, count: u32 },
    #[error(
        "场次 {session} 所属计划 {plan} {state_zh}，未审批，不能生成考点数据；请先审批 / session {session} belongs to plan {plan}, which is {state}, not approved: approve it first"
    )]
    NotApproved {
        session: String,
        plan: String,
        state: &'static str,
        state_zh: &'static str,
    },
    #[error(
        "场次 {session} 中没有证件号码为 {id} 的考生 / session {session} has no candidate with ID number {id} (see `central-sync plan seats {session}`)"
    )]
    NoCandidate { session: String, id: String },
    #[error(
        "考场 {room} 不属于场次 {session}（该场次的考场：{rooms}） / room {room} is not a room of session {session} (its rooms: {rooms})"
    )]
    RoomNotInSession {
        session: String,
        room: String,
        rooms: String,
    },
    #[error(
        "考场 {room} 的 {seat} 号座位不能使用：{why_zh} / seat {seat} of room {room} cannot be used: {why}"
    )]
    SeatUnusable {
        room: String,
        seat: u32,
        why_zh: String,
        why: String,
    },
    #[error("{0}")]
    Inconsistent(String),
    #[error(
        "无法从操作系统取得随机数（{0}），未做任何修改 / no randomness from the operating system ({0}); nothing changed"
    )]
    Random(String),
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub id: String,
    /// `None` only for the legacy plan.
    pub plan_type: Option<PlanType>,
    pub category: String,
    pub work_type: String,
    pub title: String,
    pub content_id: Option<String>,
    pub pass_mark_percent: u32,
    pub state: PlanState,
    pub legacy: bool,
    pub created_at_unix_ms: i64,
}

/// One line of a plan's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    pub at_unix_ms: i64,
    pub by: String,
    pub action: String,
    pub reason: Option<String>,
    pub detail: String,
}

/// What a new plan is.
#[derive(Debug, Clone)]
pub struct NewPlan {
    pub id: String,
    pub plan_type: PlanType,
    pub category: String,
    pub work_type: String,
    pub title: String,
    pub content_id: String,
    pub pass_mark_percent: u32,
}

/// A new session of a plan (or a legacy session moved into one).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub plan_id: String,
    pub session_id: String,
    pub site_code: String,
    pub rooms: Vec<String>,
    pub starts_at_unix_ms: i64,
    pub duration_min: u32,
    pub latest_login_min: u32,
    pub roster_cutoff_hours: u32,
}

/// A session with its rooms and counts, for `plan show`.
#[derive(Debug, Clone, Serialize)]
pub struct SessionDetail {
    #[serde(flatten)]
    pub session: Session,
    pub rooms: Vec<String>,
    pub candidates: u32,
    pub seated: u32,
}

/// A plan with its sessions and log, for `plan show`.
#[derive(Debug, Clone, Serialize)]
pub struct PlanDetail {
    #[serde(flatten)]
    pub plan: Plan,
    pub sessions: Vec<SessionDetail>,
    pub log: Vec<LogEntry>,
}

/// One candidate's seat, for `plan seats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatRow {
    pub admission_no: Option<String>,
    pub id_number: String,
    pub name: String,
    pub room: Option<String>,
    pub seat: Option<u32>,
}

/// What approval did.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    pub plan_id: String,
    /// `(session, candidates, newly seated)`.
    pub sessions: Vec<(String, u32, u32)>,
}

/// Everything a site needs to hold one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionForSite {
    pub session_id: String,
    pub plan_id: String,
    pub title: String,
    pub site_code: String,
    pub site_name: String,
    pub starts_at_unix_ms: i64,
    pub duration_min: u32,
    pub latest_login_min: u32,
    pub pass_mark_percent: u32,
    pub content_id: String,
    /// The session's enabled rooms, in the order the session lists them.
    pub rooms: Vec<RoomSeats>,
    /// By admission number.
    pub candidates: Vec<SeatedCandidate>,
}

/// A room of a session: seats `1..=capacity` except `disabled_seats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomSeats {
    pub code: String,
    pub name: String,
    pub capacity: u32,
    pub disabled_seats: Vec<u32>,
}

/// A seated candidate of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatedCandidate {
    pub admission_no: String,
    pub id_number: String,
    pub name: String,
    pub room: String,
    pub seat: u32,
    pub photo: Option<Vec<u8>>,
    pub paper_seed: u64,
}

const PLAN_COLUMNS: &str = "id, plan_type, category, work_type, title, content_id, pass_mark_percent, state, legacy, created_at_unix_ms";

fn plan_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Plan> {
    Ok(Plan {
        id: r.get(0)?,
        plan_type: r
            .get::<_, Option<String>>(1)?
            .as_deref()
            .and_then(PlanType::from_stored),
        category: r.get(2)?,
        work_type: r.get(3)?,
        title: r.get(4)?,
        content_id: r.get(5)?,
        pass_mark_percent: r.get(6)?,
        state: PlanState::from_stored(&r.get::<_, String>(7)?),
        legacy: r.get(8)?,
        created_at_unix_ms: r.get(9)?,
    })
}

/// The plan `id`.
pub fn plan(conn: &Connection, id: &str) -> Result<Plan, PlanError> {
    conn.query_row(
        &format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = ?1"),
        [id],
        plan_row,
    )
    .optional()?
    .ok_or_else(|| PlanError::NoPlan(id.to_owned()))
}

/// Every plan, by id.
pub fn list(conn: &Connection) -> Result<Vec<Plan>, PlanError> {
    let mut stmt = conn.prepare(&format!("SELECT {PLAN_COLUMNS} FROM plans ORDER BY id"))?;
    let rows = stmt.query_map([], plan_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The session `id`.
pub fn session(conn: &Connection, id: &str) -> Result<Session, PlanError> {
    store::session(conn, id)?.ok_or_else(|| PlanError::NoSession(id.to_owned()))
}

/// Writes one line of a plan's log.
pub fn log(
    conn: &Connection,
    plan_id: &str,
    by: &str,
    action: &str,
    reason: Option<&str>,
    detail: &str,
    now_unix_ms: i64,
) -> Result<(), rusqlite::Error> {
    conn.execute(
        "INSERT INTO plan_log (plan_id, at_unix_ms, by_name, action, reason, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![plan_id, now_unix_ms, by, action, reason, detail],
    )?;
    Ok(())
}

/// A plan's log, oldest first.
pub fn plan_log(conn: &Connection, plan_id: &str) -> Result<Vec<LogEntry>, PlanError> {
    let mut stmt = conn.prepare(
        "SELECT at_unix_ms, by_name, action, reason, detail FROM plan_log WHERE plan_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([plan_id], |r| {
        Ok(LogEntry {
            at_unix_ms: r.get(0)?,
            by: r.get(1)?,
            action: r.get(2)?,
            reason: r.get(3)?,
            detail: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The plan, if it may change (a draft); else [`PlanError::Locked`].
pub fn ensure_editable(conn: &Connection, plan_id: &str) -> Result<Plan, PlanError> {
    let p = plan(conn, plan_id)?;
    if p.state != PlanState::Draft {
        return Err(PlanError::Locked {
            id: p.id,
            state: p.state.as_str(),
            state_zh: p.state.chinese(),
        });
    }
    Ok(p)
}

/// Checks that content `id` exists and yields a valid test definition.
pub fn check_content(
    conn: &Connection,
    id: &str,
) -> Result<exam_content::assembly::TestDefinition, PlanError> {
    let bytes: Vec<u8> = conn
        .query_row("SELECT package FROM content WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or_else(|| PlanError::NoContent(id.to_owned()))?;
    let bad = |why: String| PlanError::BadContent {
        id: id.to_owned(),
        why,
    };
    let report = exam_content::qti::import_package(&bytes).map_err(|e| bad(e.to_string()))?;
    let (definition, _) =
        exam_content::qti::to_test_definition(&report).map_err(|e| bad(e.to_string()))?;
    Ok(definition)
}

/// Creates a draft plan.
pub fn create(
    conn: &mut Connection,
    new: &NewPlan,
    by: &str,
    now_unix_ms: i64,
) -> Result<Plan, PlanError> {
    let id = check::id(&new.id, "计划编号", "plan id")?;
    let category = check::text(
        &new.category,
        TEXT_CHARS_MAX,
        "证书类别",
        "certificate category",
    )?;
    let work_type = check::text(&new.work_type, TEXT_CHARS_MAX, "工种/作业项目", "work type")?;
    let title = check::text(&new.title, NAME_CHARS_MAX, "计划名称", "plan title")?;
    let by = check::who(by)?;
    if !PASS_MARK_PERCENT.contains(&new.pass_mark_percent) {
        return Err(PlanError::PassMark(new.pass_mark_percent));
    }
    if id.eq_ignore_ascii_case(LEGACY_PLAN_ID) {
        return Err(PlanError::Exists(id));
    }
    let tx = conn.transaction()?;
    let definition = check_content(&tx, new.content_id.trim())?;
    let n = tx.execute(
        "INSERT OR IGNORE INTO plans (id, plan_type, category, work_type, title, content_id, pass_mark_percent, state, created_at_unix_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'draft', ?8)",
        params![
            id,
            new.plan_type.as_str(),
            category,
            work_type,
            title,
            new.content_id.trim(),
            new.pass_mark_percent,
            now_unix_ms
        ],
    )?;
    if n == 0 {
        return Err(PlanError::Exists(id));
    }
    log(
        &tx,
        &id,
        &by,
        "created",
        None,
        &format!(
            "{} / {category} / {work_type}; content {} ({} items per paper, {} points); pass mark {}%",
            new.plan_type.chinese(),
            new.content_id.trim(),
            definition.items_per_candidate(),
            definition.max_points(),
            new.pass_mark_percent
        ),
        now_unix_ms,
    )?;
    let p = plan(&tx, &id)?;
    tx.commit()?;
    Ok(p)
}

/// The rooms of a session, in its order.
pub fn session_rooms(conn: &Connection, session_id: &str) -> Result<Vec<sites::Room>, PlanError> {
    let rows: Vec<(String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT site_code, room_code FROM session_rooms WHERE session_id = ?1 ORDER BY position",
        )?;
        let rows = stmt.query_map([session_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    Ok(rows
        .iter()
        .map(|(s, r)| sites::room(conn, s, r))
        .collect::<Result<_, _>>()?)
}

/// Adds a session to a draft plan; a session of the legacy plan with that id is moved into the
/// plan instead, keeping its candidates and number.
pub fn add_session(
    conn: &mut Connection,
    new: &NewSession,
    by: &str,
    now_unix_ms: i64,
) -> Result<Session, PlanError> {
    let session_id = check::id(&new.session_id, "场次编号", "session id")?;
    let by = check::who(by)?;
    if !DURATION_MIN.contains(&new.duration_min) {
        return Err(PlanError::Duration(new.duration_min));
    }
    if new.latest_login_min > new.duration_min {
        return Err(PlanError::LatestLogin {
            latest: new.latest_login_min,
            duration: new.duration_min,
        });
    }
    if new.roster_cutoff_hours > CUTOFF_HOURS_MAX {
        return Err(PlanError::Cutoff(new.roster_cutoff_hours));
    }
    if new.starts_at_unix_ms <= now_unix_ms {
        return Err(PlanError::StartsInPast(format_cst(new.starts_at_unix_ms)));
    }
    let rooms: Vec<String> = new.rooms.iter().map(|r| r.trim().to_owned()).collect();
    let distinct: BTreeSet<&String> = rooms.iter().collect();
    if rooms.is_empty() || rooms.len() > ROOMS_PER_SESSION_MAX || distinct.len() != rooms.len() {
        return Err(PlanError::Rooms);
    }
    let tx = conn.transaction()?;
    let p = ensure_editable(&tx, &new.plan_id)?;
    if p.legacy {
        return Err(PlanError::Legacy);
    }
    let site = sites::site(&tx, new.site_code.trim())?;
    for code in &rooms {
        let r = sites::room(&tx, &site.code, code)?;
        if let Some(d) = r.disabled {
            return Err(PlanError::RoomDisabled {
                site: site.code.clone(),
                room: code.clone(),
                reason: d.reason,
            });
        }
    }
    // A room holds one session at a time.
    let end = new.starts_at_unix_ms + i64::from(new.duration_min) * 60_000;
    for code in &rooms {
        let busy: Option<(String, i64)> = tx
            .query_row(
                "SELECT s.id, s.starts_at_unix_ms FROM session_rooms r JOIN sessions s ON s.id = r.session_id
                  WHERE r.site_code = ?1 AND r.room_code = ?2 AND s.id <> ?3
                    AND s.starts_at_unix_ms < ?5 AND ?4 < s.starts_at_unix_ms + s.duration_min * 60000
                  LIMIT 1",
                params![site.code, code, session_id, new.starts_at_unix_ms, end],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((other, start)) = busy {
            return Err(PlanError::RoomBusy {
                room: format!("{}/{code}", site.code),
                other,
                start: format_cst(start),
            });
        }
    }
    let existing = match store::session(&tx, &session_id)? {
        Some(s) => Some((plan(&tx, &s.plan_id)?.legacy, s)),
        None => None,
    };
    let adopted = match existing {
        Some((true, s)) => {
            tx.execute(
                "UPDATE sessions SET plan_id = ?2, title = ?3, starts_at_unix_ms = ?4, roster_cutoff_hours = ?5,
                        site_code = ?6, duration_min = ?7, latest_login_min = ?8 WHERE id = ?1",
                params![
                    session_id,
                    p.id,
                    p.title,
                    new.starts_at_unix_ms,
                    new.roster_cutoff_hours,
                    site.code,
                    new.duration_min,
                    new.latest_login_min
                ],
            )?;
            log(
                &tx,
                &s.plan_id,
                &by,
                "session_moved",
                None,
                &format!("session {session_id} moved to plan {}", p.id),
                now_unix_ms,
            )?;
            true
        }
        Some((false, s)) => {
            return Err(PlanError::SessionExists {
                id: session_id,
                plan: s.plan_id,
            });
        }
        None => {
            let seq: u32 =
                tx.query_row("SELECT coalesce(max(seq), 0) + 1 FROM sessions", [], |r| {
                    r.get(0)
                })?;
            if seq > SESSION_SEQ_MAX {
                return Err(PlanError::Inconsistent(format!(
                    "已有 {SESSION_SEQ_MAX} 个场次，准考证号的场次编号已用完 / {SESSION_SEQ_MAX} sessions exist: admission numbers have no session number left"
                )));
            }
            tx.execute(
                "INSERT INTO sessions (id, title, starts_at_unix_ms, roster_cutoff_hours, plan_id, seq, site_code, duration_min, latest_login_min)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    session_id,
                    p.title,
                    new.starts_at_unix_ms,
                    new.roster_cutoff_hours,
                    p.id,
                    seq,
                    site.code,
                    new.duration_min,
                    new.latest_login_min
                ],
            )?;
            false
        }
    };
    for (i, code) in rooms.iter().enumerate() {
        tx.execute(
            "INSERT INTO session_rooms (session_id, position, site_code, room_code) VALUES (?1, ?2, ?3, ?4)",
            params![session_id, i as u32, site.code, code],
        )?;
    }
    let s = session(&tx, &session_id)?;
    log(
        &tx,
        &p.id,
        &by,
        if adopted {
            "session_adopted"
        } else {
            "session_added"
        },
        None,
        &format!(
            "session {session_id} (no. {}) at {} rooms {}, starts {} for {} min, latest login {} min, roster cutoff {} h{}",
            s.seq,
            site.code,
            rooms.join(","),
            format_cst(s.starts_at_unix_ms),
            new.duration_min,
            new.latest_login_min,
            new.roster_cutoff_hours,
            if adopted {
                ", moved from the legacy plan with its candidates"
            } else {
                ""
            }
        ),
        now_unix_ms,
    )?;
    tx.commit()?;
    Ok(s)
}

/// Moves `p` to `to` and logs it (action `submitted`, `approved` or `unlocked`).
fn set_state(
    conn: &Connection,
    p: &Plan,
    to: PlanState,
    by: &str,
    reason: Option<&str>,
    detail: &str,
    now_unix_ms: i64,
) -> Result<(), rusqlite::Error> {
    conn.execute(
        "UPDATE plans SET state = ?2 WHERE id = ?1",
        params![p.id, to.as_str()],
    )?;
    let action = match to {
        PlanState::Draft => "unlocked",
        PlanState::Submitted => "submitted",
        PlanState::Approved => "approved",
    };
    log(
        conn,
        &p.id,
        by,
        action,
        reason,
        &format!("{} → {}{detail}", p.state.as_str(), to.as_str()),
        now_unix_ms,
    )
}

/// Submits a draft plan for approval.
pub fn submit(
    conn: &mut Connection,
    id: &str,
    by: &str,
    now_unix_ms: i64,
) -> Result<Plan, PlanError> {
    let by = check::who(by)?;
    let tx = conn.transaction()?;
    let p = plan(&tx, id)?;
    if p.legacy {
        return Err(PlanError::Legacy);
    }
    if p.state != PlanState::Draft {
        return Err(PlanError::WrongState(format!(
            "计划 {id} {}，只有草稿可以提交 / plan {id} is {}: only a draft can be submitted",
            p.state.chinese(),
            p.state.as_str()
        )));
    }
    if store::plan_sessions(&tx, id)?.is_empty() {
        return Err(PlanError::NoSessions(id.to_owned()));
    }
    set_state(&tx, &p, PlanState::Submitted, &by, None, "", now_unix_ms)?;
    let p = plan(&tx, id)?;
    tx.commit()?;
    Ok(p)
}

/// Sends a submitted or approved plan back to draft, so it can change. Seats, admission numbers
/// and paper seeds are kept.
pub fn unlock(
    conn: &mut Connection,
    id: &str,
    by: &str,
    reason: &str,
    now_unix_ms: i64,
) -> Result<Plan, PlanError> {
    let by = check::who(by)?;
    let reason = check::reason(reason)?;
    let tx = conn.transaction()?;
    let p = plan(&tx, id)?;
    if p.state == PlanState::Draft {
        return Err(PlanError::WrongState(format!(
            "计划 {id} 是草稿，无需解锁，未做任何修改 / plan {id} is a draft already: nothing to unlock; nothing changed"
        )));
    }
    set_state(
        &tx,
        &p,
        PlanState::Draft,
        &by,
        Some(&reason),
        "",
        now_unix_ms,
    )?;
    let p = plan(&tx, id)?;
    tx.commit()?;
    Ok(p)
}

/// One stored candidate of a session.
#[derive(Debug, Clone)]
struct Candidate {
    id_number: String,
    name: String,
    entry_json: String,
    admission_no: Option<String>,
    room: Option<String>,
    seat: Option<u32>,
    paper_seed: Option<i64>,
}

fn candidates(conn: &Connection, session_id: &str) -> Result<Vec<Candidate>, rusqlite::Error> {
    let mut stmt = conn.prepare(
        "SELECT id_number, name, entry_json, admission_no, room_code, seat, paper_seed
           FROM candidates WHERE session_id = ?1 ORDER BY id_number",
    )?;
    let rows = stmt.query_map([session_id], |r| {
        Ok(Candidate {
            id_number: r.get(0)?,
            name: r.get(1)?,
            entry_json: r.get(2)?,
            admission_no: r.get(3)?,
            room: r.get(4)?,
            seat: r.get(5)?,
            paper_seed: r.get(6)?,
        })
    })?;
    rows.collect()
}

/// Why a stored candidate may not sit `session` of `plan`: the category's age rules and bans.
fn ineligibility(
    conn: &Connection,
    plan: &Plan,
    session: &Session,
    c: &Candidate,
    now_unix_ms: i64,
) -> Result<Option<String>, PlanError> {
    if let Some(ban) = blacklist::ban_at(conn, &c.id_number, session.starts_at_unix_ms)? {
        return Ok(Some(blacklist::banned_reason(&ban)));
    }
    let entry: RosterEntry = serde_json::from_str(&c.entry_json).map_err(|e| {
        PlanError::Inconsistent(format!(
            "考生 {} 的名单记录无法读取（{e}） / the roster record of {} cannot be read ({e})",
            c.id_number, c.id_number
        ))
    })?;
    Ok(eligibility::refusal(
        &entry,
        &plan.category,
        session.starts_at_unix_ms,
        now_unix_ms,
    ))
}

/// 64 random bits from the operating system.
fn os_random_u64() -> Result<u64, PlanError> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|e| PlanError::Random(e.to_string()))?;
    Ok(u64::from_le_bytes(b))
}

/// Approves a submitted plan: checks every candidate and seat, then assigns admission numbers,
/// seats and paper seeds to those who have none (see the module documentation).
pub fn approve(
    conn: &mut Connection,
    id: &str,
    by: &str,
    now_unix_ms: i64,
) -> Result<Approval, PlanError> {
    let by = check::who(by)?;
    let tx = conn.transaction()?;
    let p = plan(&tx, id)?;
    if p.legacy {
        return Err(PlanError::Legacy);
    }
    if p.state != PlanState::Submitted {
        return Err(PlanError::WrongState(format!(
            "计划 {id} {}，只有已提交的计划可以审批{} / plan {id} is {}: only a submitted plan can be approved{}",
            p.state.chinese(),
            if p.state == PlanState::Draft {
                "；请先提交：central-sync plan submit"
            } else {
                ""
            },
            p.state.as_str(),
            if p.state == PlanState::Draft {
                "; submit it first: central-sync plan submit"
            } else {
                ""
            },
        )));
    }
    let sessions = store::plan_sessions(&tx, id)?;
    if sessions.is_empty() {
        return Err(PlanError::NoSessions(id.to_owned()));
    }
    // First every check, so a refusal changes nothing.
    let mut ineligible = Vec::new();
    let mut short = Vec::new();
    let mut work = Vec::new();
    for s in &sessions {
        let cands = candidates(&tx, &s.id)?;
        let count = cands.len() as u32;
        if count > CANDIDATES_PER_SESSION_MAX {
            return Err(PlanError::TooManyCandidates {
                session: s.id.clone(),
                count,
            });
        }
        for c in &cands {
            if let Some(reason) = ineligibility(&tx, &p, s, c, now_unix_ms)? {
                ineligible.push(Ineligible {
                    session: s.id.clone(),
                    id_number: c.id_number.clone(),
                    name: c.name.clone(),
                    reason,
                });
            }
        }
        let rooms = session_rooms(&tx, &s.id)?;
        let usable: Vec<(String, u32)> = rooms
            .iter()
            .flat_map(|r| r.usable_seats().into_iter().map(|n| (r.code.clone(), n)))
            .collect();
        let usable_set: BTreeSet<(String, u32)> = usable.iter().cloned().collect();
        let (kept, unseated): (Vec<Candidate>, Vec<Candidate>) =
            cands.into_iter().partition(|c| match (&c.room, c.seat) {
                (Some(r), Some(n)) => usable_set.contains(&(r.clone(), n)),
                _ => false,
            });
        let free: Vec<(String, u32)> = {
            let taken: BTreeSet<(String, u32)> = kept
                .iter()
                .filter_map(|c| Some((c.room.clone()?, c.seat?)))
                .collect();
            usable.into_iter().filter(|s| !taken.contains(s)).collect()
        };
        if unseated.len() > free.len() {
            short.push(Shortfall {
                session: s.id.clone(),
                candidates: count,
                usable_seats: usable_set.len() as u32,
                missing: (unseated.len() - free.len()) as u32,
            });
        }
        work.push((s, rooms, kept, unseated, free));
    }
    if !ineligible.is_empty() {
        return Err(PlanError::Ineligible(ineligible));
    }
    if !short.is_empty() {
        return Err(PlanError::SeatsShort(short));
    }
    let mut report = Vec::new();
    for (s, rooms, kept, mut unseated, free) in work {
        let seed = os_random_u64()?;
        tx.execute(
            "UPDATE sessions SET seat_seed = ?2 WHERE id = ?1",
            params![s.id, seed as i64],
        )?;
        // Seats no longer usable (a room or seat disabled since) are given up first.
        for c in &unseated {
            tx.execute(
                "UPDATE candidates SET room_code = NULL, seat = NULL WHERE session_id = ?1 AND id_number = ?2",
                params![s.id, c.id_number],
            )?;
        }
        SplitMix64::new(seed).shuffle(&mut unseated);
        let newly = unseated.len() as u32;
        for (c, (room, seat)) in unseated.iter_mut().zip(free) {
            tx.execute(
                "UPDATE candidates SET room_code = ?3, seat = ?4 WHERE session_id = ?1 AND id_number = ?2",
                params![s.id, c.id_number, room, seat],
            )?;
            c.room = Some(room);
            c.seat = Some(seat);
        }
        // Admission numbers and paper seeds for those without, in seat order.
        let position: BTreeMap<&str, usize> = rooms
            .iter()
            .enumerate()
            .map(|(i, r)| (r.code.as_str(), i))
            .collect();
        let mut all: Vec<&Candidate> = kept.iter().chain(unseated.iter()).collect();
        all.sort_by_key(|c| {
            (
                c.room.as_deref().and_then(|r| position.get(r).copied()),
                c.seat,
            )
        });
        let prefix = format!("{:06}", s.seq);
        let mut used: BTreeSet<u32> = all
            .iter()
            .filter_map(|c| c.admission_no.as_deref())
            .filter_map(|a| a.strip_prefix(&prefix)?.parse().ok())
            .collect();
        // Numbers of removed candidates are not given again while higher ones are left.
        let last_given: u32 = tx.query_row(
            "SELECT last_admission FROM sessions WHERE id = ?1",
            [&s.id],
            |r| r.get(0),
        )?;
        let mut next = used.iter().max().copied().unwrap_or(0).max(last_given) + 1;
        for c in all {
            if c.admission_no.is_none() {
                if next > CANDIDATES_PER_SESSION_MAX {
                    next = (1..=CANDIDATES_PER_SESSION_MAX)
                        .find(|n| !used.contains(n))
                        .ok_or_else(|| PlanError::TooManyCandidates {
                            session: s.id.clone(),
                            count: CANDIDATES_PER_SESSION_MAX + 1,
                        })?;
                }
                let no = format!("{prefix}{next:04}");
                used.insert(next);
                next += 1;
                tx.execute(
                    "UPDATE candidates SET admission_no = ?3 WHERE session_id = ?1 AND id_number = ?2",
                    params![s.id, c.id_number, no],
                )?;
            }
            if c.paper_seed.is_none() {
                tx.execute(
                    "UPDATE candidates SET paper_seed = ?3 WHERE session_id = ?1 AND id_number = ?2",
                    params![s.id, c.id_number, os_random_u64()? as i64],
                )?;
            }
        }
        tx.execute(
            "UPDATE sessions SET last_admission = max(last_admission, ?2) WHERE id = ?1",
            params![s.id, next - 1],
        )?;
        report.push((s.id.clone(), kept.len() as u32 + newly, newly));
    }
    let detail = report
        .iter()
        .map(|(s, n, new)| format!("{s}: {n} candidates, {new} newly seated"))
        .collect::<Vec<_>>()
        .join("; ");
    set_state(
        &tx,
        &p,
        PlanState::Approved,
        &by,
        None,
        &format!("; {detail}"),
        now_unix_ms,
    )?;
    tx.commit()?;
    Ok(Approval {
        plan_id: id.to_owned(),
        sessions: report,
    })
}

/// Moves one candidate of a draft plan's session to `room`/`seat` by hand.
#[allow(clippy::too_many_arguments)]
pub fn move_seat(
    conn: &mut Connection,
    session_id: &str,
    id_number: &str,
    room: &str,
    seat: u32,
    by: &str,
    reason: &str,
    now_unix_ms: i64,
) -> Result<SeatRow, PlanError> {
    let by = check::who(by)?;
    let reason = check::reason(reason)?;
    let id_number = exam_content::roster::normalise_id_text(id_number);
    let room = room.trim();
    let tx = conn.transaction()?;
    let s = session(&tx, session_id)?;
    ensure_editable(&tx, &s.plan_id)?;
    let c = candidates(&tx, &s.id)?
        .into_iter()
        .find(|c| c.id_number == id_number)
        .ok_or_else(|| PlanError::NoCandidate {
            session: s.id.clone(),
            id: id_number.clone(),
        })?;
    let rooms = session_rooms(&tx, &s.id)?;
    let Some(r) = rooms.iter().find(|r| r.code == room) else {
        return Err(PlanError::RoomNotInSession {
            session: s.id.clone(),
            room: room.to_owned(),
            rooms: rooms
                .iter()
                .map(|r| r.code.as_str())
                .collect::<Vec<_>>()
                .join(","),
        });
    };
    let unusable = |why_zh: String, why: String| PlanError::SeatUnusable {
        room: room.to_owned(),
        seat,
        why_zh,
        why,
    };
    if seat == 0 || seat > r.capacity {
        return Err(unusable(
            format!("该考场只有 1–{} 号座位", r.capacity),
            format!("the room has seats 1 to {}", r.capacity),
        ));
    }
    if let Some(d) = &r.disabled {
        return Err(unusable(
            format!("考场已停用（{}）", d.reason),
            format!("the room is disabled ({})", d.reason),
        ));
    }
    if let Some(d) = r.disabled_seats.iter().find(|d| d.seat == seat) {
        return Err(unusable(
            format!("座位已停用（{}）", d.reason),
            format!("the seat is disabled ({})", d.reason),
        ));
    }
    let holder: Option<String> = tx
        .query_row(
            "SELECT id_number FROM candidates WHERE session_id = ?1 AND room_code = ?2 AND seat = ?3",
            params![s.id, room, seat],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(h) = holder {
        return Err(if h == c.id_number {
            unusable(
                "考生已在该座位，未做任何修改".into(),
                "the candidate sits there already; nothing changed".into(),
            )
        } else {
            unusable(
                format!("已安排考生 {h}"),
                format!("candidate {h} sits there"),
            )
        });
    }
    tx.execute(
        "UPDATE candidates SET room_code = ?3, seat = ?4 WHERE session_id = ?1 AND id_number = ?2",
        params![s.id, c.id_number, room, seat],
    )?;
    let from = match (&c.room, c.seat) {
        (Some(r), Some(n)) => format!("{r}/{n}"),
        _ => "no seat".to_owned(),
    };
    log(
        &tx,
        &s.plan_id,
        &by,
        "seat_moved",
        Some(&reason),
        &format!(
            "session {}: {} {} from {from} to {room}/{seat}",
            s.id, c.id_number, c.name
        ),
        now_unix_ms,
    )?;
    tx.commit()?;
    Ok(SeatRow {
        admission_no: c.admission_no,
        id_number: c.id_number,
        name: c.name,
        room: Some(room.to_owned()),
        seat: Some(seat),
    })
}

/// The candidates of a session with their seats: seated ones by room (session order) and seat,
/// then those without a seat by ID number.
pub fn seats(conn: &Connection, session_id: &str) -> Result<Vec<SeatRow>, PlanError> {
    let s = session(conn, session_id)?;
    let position: BTreeMap<String, usize> = session_rooms(conn, &s.id)?
        .into_iter()
        .enumerate()
        .map(|(i, r)| (r.code, i))
        .collect();
    let mut rows: Vec<SeatRow> = candidates(conn, &s.id)?
        .into_iter()
        .map(|c| SeatRow {
            admission_no: c.admission_no,
            id_number: c.id_number,
            name: c.name,
            room: c.room,
            seat: c.seat,
        })
        .collect();
    rows.sort_by_key(|r| {
        (
            r.room.as_ref().map_or(usize::MAX, |room| {
                position.get(room).copied().unwrap_or(usize::MAX - 1)
            }),
            r.seat,
        )
    });
    Ok(rows)
}

/// A plan with its sessions (rooms, counts) and log.
pub fn show(conn: &Connection, id: &str) -> Result<PlanDetail, PlanError> {
    let p = plan(conn, id)?;
    let mut sessions = Vec::new();
    for s in store::plan_sessions(conn, id)? {
        let (candidates, seated): (u32, u32) = conn.query_row(
            "SELECT count(*), count(seat) FROM candidates WHERE session_id = ?1",
            [&s.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let rooms = session_rooms(conn, &s.id)?
            .into_iter()
            .map(|r| r.code)
            .collect();
        sessions.push(SessionDetail {
            session: s,
            rooms,
            candidates,
            seated,
        });
    }
    Ok(PlanDetail {
        log: plan_log(conn, id)?,
        plan: p,
        sessions,
    })
}

/// The clerk's view of a plan.
pub fn summary(d: &PlanDetail) -> String {
    use std::fmt::Write;
    let p = &d.plan;
    let mut out = format!(
        "计划 / plan {}\t{}\n  状态 / state: {} / {}\n",
        p.id,
        p.title,
        p.state.chinese(),
        p.state.as_str()
    );
    if let Some(t) = p.plan_type {
        let _ = writeln!(
            out,
            "  类型 / type: {} / {}\n  证书类别 / category: {}\n  工种 / work type: {}\n  题库 / content: {}\n  合格线 / pass mark: {}%",
            t.chinese(),
            t.as_str(),
            p.category,
            p.work_type,
            p.content_id.as_deref().unwrap_or("-"),
            p.pass_mark_percent
        );
    } else {
        out.push_str("  升级前建立的场次 / sessions from before plans\n");
    }
    for s in &d.sessions {
        let _ = writeln!(
            out,
            "  场次 / session {} (no. {}): {} {} starts {} CST, {} min, latest login {} min, roster cutoff {} CST; {} candidates, {} seated",
            s.session.id,
            s.session.seq,
            s.session.site_code.as_deref().unwrap_or("-"),
            s.rooms.join(","),
            format_cst(s.session.starts_at_unix_ms),
            s.session.duration_min.map_or("-".into(), |m| m.to_string()),
            s.session
                .latest_login_min
                .map_or("-".into(), |m| m.to_string()),
            format_cst(s.session.roster_cutoff_unix_ms()),
            s.candidates,
            s.seated
        );
    }
    out.push_str("  记录 / log:\n");
    for l in &d.log {
        let _ = write!(
            out,
            "    {} {} {}",
            format_cst(l.at_unix_ms),
            l.by,
            l.action
        );
        if let Some(r) = &l.reason {
            let _ = write!(out, " 原因 / reason: {r}");
        }
        if !l.detail.is_empty() {
            let _ = write!(out, " — {}", l.detail);
        }
        out.push('\n');
    }
    out
}

/// Everything a site needs to hold `session_id`; refused unless its plan is approved, and while a
/// seated candidate is banned at the session's start.
pub fn session_for_site(conn: &Connection, session_id: &str) -> Result<SessionForSite, PlanError> {
    let s = session(conn, session_id)?;
    let p = plan(conn, &s.plan_id)?;
    if p.state != PlanState::Approved {
        return Err(PlanError::NotApproved {
            session: s.id,
            plan: p.id,
            state: p.state.as_str(),
            state_zh: p.state.chinese(),
        });
    }
    let incomplete = |what: &str| {
        PlanError::Inconsistent(format!(
            "场次 {} 缺少{what}，数据不一致 / session {} has no {what}: the store is inconsistent",
            s.id, s.id
        ))
    };
    let site_code = s.site_code.clone().ok_or_else(|| incomplete("site"))?;
    let site = sites::site(conn, &site_code)?;
    let rooms: Vec<RoomSeats> = session_rooms(conn, &s.id)?
        .into_iter()
        .filter(|r| r.disabled.is_none())
        .map(|r| RoomSeats {
            code: r.code,
            name: r.name,
            capacity: r.capacity,
            disabled_seats: r.disabled_seats.iter().map(|d| d.seat).collect(),
        })
        .collect();
    // A candidate banned after approval stays in the package: the package's blacklist names
    // them, and the site keeps them from logging in, saying why in its log.
    let mut seated = Vec::new();
    let mut photo = conn.prepare("SELECT bytes FROM photos WHERE id_number = ?1")?;
    for c in candidates(conn, &s.id)? {
        let (Some(admission_no), Some(room), Some(seat), Some(seed)) =
            (c.admission_no, c.room, c.seat, c.paper_seed)
        else {
            return Err(incomplete("seat of a candidate"));
        };
        seated.push(SeatedCandidate {
            admission_no,
            id_number: c.id_number.clone(),
            name: c.name,
            room,
            seat,
            photo: photo.query_row([&c.id_number], |r| r.get(0)).optional()?,
            paper_seed: seed as u64,
        });
    }
    seated.sort_by(|a, b| a.admission_no.cmp(&b.admission_no));
    Ok(SessionForSite {
        session_id: s.id.clone(),
        plan_id: p.id,
        title: p.title,
        site_code,
        site_name: site.name,
        starts_at_unix_ms: s.starts_at_unix_ms,
        duration_min: s.duration_min.ok_or_else(|| incomplete("duration"))?,
        latest_login_min: s
            .latest_login_min
            .ok_or_else(|| incomplete("latest login"))?,
        pass_mark_percent: p.pass_mark_percent,
        content_id: p.content_id.ok_or_else(|| incomplete("content"))?,
        rooms,
        candidates: seated,
    })
}

/// The ids of the sessions of approved plans held at `site_code`, by start time (past ones
/// included).
pub fn approved_sessions_for_site(
    conn: &Connection,
    site_code: &str,
) -> Result<Vec<String>, PlanError> {
    sites::site(conn, site_code)?;
    let mut stmt = conn.prepare(
        "SELECT s.id FROM sessions s JOIN plans p ON p.id = s.plan_id
          WHERE s.site_code = ?1 AND p.state = 'approved' ORDER BY s.starts_at_unix_ms, s.id",
    )?;
    let rows = stmt.query_map([site_code], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
