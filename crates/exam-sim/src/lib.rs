//! `exam-sim`: a seeded simulator of a whole exam site, both parties of the LAN protocol at once
//! and without any IO: the real site engine (`exam-site-core`) over a store double that commits
//! in order and loses what was not committed when the site crashes, and real candidate sessions
//! (`exam-candidate`) over journals that lose or tear unsynced bytes when a machine crashes,
//! joined by links that delay, duplicate, cut connections part-way through and let an old
//! connection's last messages arrive after the new one's; the site restarts, its disk fills up,
//! candidates move machines and come back. Everything — faults, timing, answers — is drawn from
//! one seed, so a failing seed replays exactly ([`run_seed`] with `trace` on shows every step).
//!
//! After every step it checks: every change a candidate was told is stored is in the store with
//! that content; no `(attempt, seq)` is stored twice or overwritten; an attempt's remaining time
//! never grows except by an adjustment the engine logged (or a restart restoring its checkpoint);
//! the engine's clock never goes back. At the end, with faults over: every candidate handed in and
//! every journal on a machine that is still there is empty (each change was stored or refused
//! for good, none dropped).
//!
//! It must never use real time, real randomness or IO: the same seed always gives the same run.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use exam_candidate::model::{Command, Phase};
use exam_candidate::{ClientEvent, MemStorage, Session, SessionConfig};
use exam_domain::demo::{self, random_response};
use exam_domain::rng::SplitMix64;
use exam_domain::{AttemptId, ItemId, Paper, Response};
use exam_protocol::{ClientMsg, SiteMsg, SubmitReason};
use exam_site_core::{
    CandidateRecord, ConnId, Engine, Input, MonoMs, Output, Request, Restored, RestoredAttempt,
    RestoredChange, SessionConfig as SiteConfig, StartRule, StoreOp,
};

/// How one simulated run goes; [`SimConfig::from_seed`] draws one from a seed.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub candidates: usize,
    /// Spare machines candidates can move to.
    pub spares: usize,
    /// Paper time limit.
    pub time_limit_ms: u64,
    /// Faults happen until this time; then the site is left to finish.
    pub faults_until_ms: u64,
    /// The run ends (and the final checks run) at this time at the latest.
    pub end_ms: u64,
    /// Per-step probabilities, in parts per million.
    pub p_cut_ppm: u64,
    pub p_client_crash_ppm: u64,
    pub p_site_crash_ppm: u64,
    pub p_disk_trouble_ppm: u64,
    pub p_move_ppm: u64,
    pub p_dup_ppm: u64,
    /// Most one-way delay of a message.
    pub delay_ms_max: u64,
    /// How long the site may take to notice a cut connection.
    pub notice_ms_max: u64,
}

impl SimConfig {
    pub fn from_seed(seed: u64) -> Self {
        let mut r = SplitMix64::new(seed ^ 0x5eed_c0f1);
        let heavy = r.below(4) == 0;
        Self {
            candidates: 1 + r.below(5) as usize,
            spares: 1 + r.below(2) as usize,
            time_limit_ms: 30_000 + r.below(30_000),
            faults_until_ms: 40_000 + r.below(20_000),
            end_ms: 400_000,
            p_cut_ppm: if heavy {
                20_000
            } else {
                2_000 + r.below(6_000)
            },
            p_client_crash_ppm: if heavy { 8_000 } else { r.below(3_000) },
            p_site_crash_ppm: if heavy { 4_000 } else { r.below(1_500) },
            p_disk_trouble_ppm: r.below(2_000),
            p_move_ppm: r.below(2_000),
            p_dup_ppm: r.below(50_000),
            delay_ms_max: 1 + r.below(if heavy { 400 } else { 60 }),
            notice_ms_max: 100 + r.below(8_000),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    pub steps: u64,
    pub acked: u64,
    pub refused: u64,
    pub site_crashes: u64,
    pub client_crashes: u64,
    pub cuts: u64,
    pub moves: u64,
    pub submitted: u64,
}

/// A broken invariant: the seed reproduces it.
#[derive(Debug, Clone)]
pub struct SimFailure {
    pub seed: u64,
    pub at_ms: u64,
    pub message: String,
    /// The last steps (all of them when tracing).
    pub trace: String,
}

impl std::fmt::Display for SimFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} failed at {} ms: {}",
            self.seed, self.at_ms, self.message
        )
    }
}

/// Runs one seed with its drawn configuration.
pub fn run_seed(seed: u64, trace: bool) -> Result<SimStats, Box<SimFailure>> {
    run(seed, SimConfig::from_seed(seed), trace)
}

/// Runs seeds `first..first + count`, stopping at the first failure.
pub fn run_range(first: u64, count: u64) -> Result<SimStats, Box<SimFailure>> {
    let mut total = SimStats::default();
    for seed in first..first.saturating_add(count) {
        let s = run_seed(seed, false)?;
        total.steps += s.steps;
        total.acked += s.acked;
        total.refused += s.refused;
        total.site_crashes += s.site_crashes;
        total.client_crashes += s.client_crashes;
        total.cuts += s.cuts;
        total.moves += s.moves;
        total.submitted += s.submitted;
    }
    Ok(total)
}

/// Runs one seed with a given configuration.
pub fn run(seed: u64, config: SimConfig, trace: bool) -> Result<SimStats, Box<SimFailure>> {
    let mut world = World::new(seed, config, trace);
    match world.run() {
        Ok(()) => {
            if trace {
                print!("{}", world.trace_text());
            }
            Ok(world.stats)
        }
        Err(message) => Err(Box::new(SimFailure {
            seed,
            at_ms: world.now,
            message,
            trace: world.trace_text(),
        })),
    }
}

// ---------------------------------------------------------------------------------------------
// The store double.

#[derive(Debug, Clone, Default)]
struct AttemptRow {
    started: bool,
    remaining_ms: u64,
    running: bool,
    submitted: Option<SubmitReason>,
}

#[derive(Debug, Default)]
struct Store {
    answers: BTreeMap<(u64, u64), (ItemId, Response, Option<String>)>,
    attempts: BTreeMap<u64, AttemptRow>,
    session_started: bool,
    paused: bool,
    /// Asked for and not yet committed, in order.
    queued: VecDeque<StoreOp>,
    /// Commits fail (a full disk) while set.
    failing: bool,
}

impl Store {
    fn apply(&mut self, op: &StoreOp) -> Result<(), String> {
        match op {
            StoreOp::Answer {
                attempt,
                seq,
                item,
                response,
                refused,
            } => {
                let key = (attempt.0, *seq);
                if let Some(old) = self.answers.get(&key) {
                    return Err(format!(
                        "attempt {} seq {seq} stored twice: {old:?} then {:?}",
                        attempt.0,
                        (item, response, refused)
                    ));
                }
                self.answers
                    .insert(key, (item.clone(), response.clone(), refused.clone()));
            }
            StoreOp::Clock {
                attempt,
                remaining_ms,
                running,
            } => {
                let a = self.attempts.entry(attempt.0).or_default();
                a.started = true;
                a.remaining_ms = *remaining_ms;
                a.running = *running;
            }
            StoreOp::Submit {
                attempt,
                reason,
                remaining_ms,
            } => {
                let a = self.attempts.entry(attempt.0).or_default();
                a.started = true;
                a.running = false;
                a.remaining_ms = *remaining_ms;
                a.submitted = Some(*reason);
            }
            StoreOp::SessionStarted { .. } => self.session_started = true,
            StoreOp::SessionPaused { paused, .. } => self.paused = *paused,
            StoreOp::TimeLog { .. } | StoreOp::Alarm { .. } => {}
        }
        Ok(())
    }

    fn restored(&self, candidates: &[CandidateRecord]) -> Restored {
        let mut attempts: BTreeMap<u64, RestoredAttempt> = self
            .attempts
            .iter()
            .map(|(id, a)| {
                (
                    *id,
                    RestoredAttempt {
                        started: a.started,
                        remaining_ms: a.remaining_ms,
                        stopped: !a.running,
                        submitted: a.submitted,
                        changes: Vec::new(),
                    },
                )
            })
            .collect();
        for ((attempt, seq), (item, response, refused)) in &self.answers {
            attempts
                .entry(*attempt)
                .or_default()
                .changes
                .push(RestoredChange {
                    seq: *seq,
                    item: item.clone(),
                    response: response.clone(),
                    refused: refused.clone(),
                });
        }
        Restored {
            candidates: candidates.to_vec(),
            attempts: attempts
                .into_iter()
                .map(|(id, a)| (AttemptId(id), a))
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Links and machines.

#[derive(Debug)]
struct Link {
    conn: ConnId,
    machine: usize,
    up: VecDeque<(u64, ClientMsg)>,
    down: VecDeque<(u64, SiteMsg)>,
    /// The machine still uses it.
    client_alive: bool,
    /// The site has not yet been told it is gone.
    site_alive: bool,
    /// When the site will be told.
    site_notice_at: Option<u64>,
}

#[derive(Debug)]
struct Machine {
    name: String,
    ip: Option<IpAddr>,
    /// The candidate (index) using it, if any.
    candidate: Option<usize>,
    session: Option<Session<MemStorage>>,
    /// The storage while the machine is down.
    disk: Option<MemStorage>,
    link: Option<usize>,
    next_connect_at: u64,
    tries: u32,
    ever_connected: bool,
    restart_at: Option<u64>,
    /// A candidate who moved away and is moved back here when the machine restarts.
    returning: Option<usize>,
    next_action_at: u64,
    login_at: u64,
    submit_at: u64,
}

struct SiteState {
    engine: Engine,
    origin: u64,
    last_mono: MonoMs,
}

struct World {
    cfg: SimConfig,
    rng: SplitMix64,
    now: u64,
    base: Instant,
    paper: Arc<Paper>,
    roster: Vec<demo::DemoCandidate>,
    records: Vec<CandidateRecord>,
    store: Store,
    site: Option<SiteState>,
    site_restart_at: u64,
    links: Vec<Link>,
    machines: Vec<Machine>,
    next_conn: u64,
    /// Every change a candidate was told is durable: (attempt, seq) → content.
    acked: BTreeMap<(u64, u64), (ItemId, Response)>,
    /// Attempts that have been on more than one machine (only they may see conflicts).
    moved: std::collections::BTreeSet<u64>,
    /// Per attempt: remaining time last seen and time given back since.
    clock_seen: BTreeMap<u64, (u64, u64)>,
    stats: SimStats,
    /// A broken invariant found where it could not be returned at once.
    violation: Option<String>,
    trace: bool,
    log: VecDeque<String>,
}

const TRACE_TAIL: usize = 200;

impl World {
    fn new(seed: u64, cfg: SimConfig, trace: bool) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut paper = demo::small_paper();
        paper.time_limit_secs = 60;
        let roster = demo::roster(cfg.candidates as u32);
        let records = roster
            .iter()
            .enumerate()
            .map(|(i, c)| CandidateRecord {
                admission_no: c.admission_no.clone(),
                id_number: c.id_number.clone(),
                name: c.name.clone(),
                seat: c.seat.clone(),
                photo: None,
                attempt: AttemptId(i as u64 + 1),
                seed: rng.next_u64(),
                items: None,
            })
            .collect();
        let mut machines = Vec::new();
        for i in 0..cfg.candidates + cfg.spares {
            let candidate = (i < cfg.candidates).then_some(i);
            let login_at = rng.below(3_000);
            machines.push(Machine {
                name: format!("PC-{i:02}"),
                // Some machines get a new address on every connection (no takeover for them).
                ip: (rng.below(4) != 0).then(|| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8))),
                candidate,
                session: None,
                disk: Some(MemStorage::new()),
                link: None,
                next_connect_at: rng.below(2_000),
                tries: 0,
                ever_connected: false,
                restart_at: None,
                returning: None,
                next_action_at: 0,
                login_at,
                submit_at: 20_000 + rng.below(60_000),
            });
        }
        let mut w = Self {
            cfg,
            rng,
            now: 0,
            base: Instant::now(),
            paper: Arc::new(paper),
            roster,
            records,
            store: Store::default(),
            site: None,
            site_restart_at: 0,
            links: Vec::new(),
            machines,
            next_conn: 1,
            acked: BTreeMap::new(),
            moved: std::collections::BTreeSet::new(),
            clock_seen: BTreeMap::new(),
            stats: SimStats::default(),
            violation: None,
            trace,
            log: VecDeque::new(),
        };
        w.paper = Arc::new({
            let mut p = (*w.paper).clone();
            p.time_limit_secs = (w.cfg.time_limit_ms / 1000).max(1) as u32;
            p
        });
        for m in 0..w.machines.len() {
            w.boot_machine(m);
        }
        w.start_site();
        w
    }

    fn note(&mut self, text: impl FnOnce() -> String) {
        if self.trace {
            let line = format!("{:>8} ms  {}", self.now, text());
            self.log.push_back(line);
        }
        if self.log.len() > TRACE_TAIL && !self.trace {
            self.log.pop_front();
        }
    }

    fn trace_text(&self) -> String {
        let mut s = String::new();
        for l in &self.log {
            let _ = writeln!(s, "{l}");
        }
        s
    }

    fn instant(&self) -> Instant {
        self.base + Duration::from_millis(self.now)
    }

    fn chance(&mut self, ppm: u64) -> bool {
        self.rng.below(1_000_000) < ppm
    }

    // --- the site ---

    fn start_site(&mut self) {
        let start = if self.store.session_started {
            StartRule::Started
        } else {
            StartRule::At(MonoMs(2_000u64.saturating_sub(self.now)))
        };
        let config = SiteConfig {
            site_name: "模拟考点".into(),
            title: "模拟场次".into(),
            paper: self.paper.clone(),
            start,
            grace_ms: 10_000,
            checkpoint_ms: 5_000,
            clock_push_ms: 15_000,
        };
        let restored = self.store.restored(&self.records);
        let mut engine = Engine::new(config, restored, MonoMs(0));
        if self.store.paused {
            engine.handle(
                MonoMs(0),
                Input::PauseSession {
                    by: "system".into(),
                    reason: "paused before the restart".into(),
                },
            );
        }
        // The remaining time each attempt restarts with is its new baseline.
        for r in &self.records {
            let remaining = match self.store.attempts.get(&r.attempt.0) {
                Some(a) if a.started => a.remaining_ms,
                _ => self.cfg.time_limit_ms / 1000 * 1000,
            };
            self.clock_seen.insert(r.attempt.0, (remaining, 0));
        }
        self.site = Some(SiteState {
            engine,
            origin: self.now,
            last_mono: MonoMs(0),
        });
        self.note(|| "site started".into());
    }

    fn mono(&mut self) -> Result<MonoMs, String> {
        let Some(site) = &mut self.site else {
            return Err("no site".into());
        };
        let m = MonoMs(self.now - site.origin);
        if m < site.last_mono {
            return Err(format!(
                "engine clock went back from {:?} to {m:?}",
                site.last_mono
            ));
        }
        site.last_mono = m;
        Ok(m)
    }

    fn site_input(&mut self, input: Input) -> Result<(), String> {
        let now = self.mono()?;
        if let Some(site) = &mut self.site {
            site.engine.handle(now, input);
        }
        self.drain_site()
    }

    fn drain_site(&mut self) -> Result<(), String> {
        loop {
            let Some(out) = self.site.as_mut().and_then(|s| s.engine.poll_output()) else {
                return Ok(());
            };
            match out {
                Output::Send { conn, msg } => self.send_to_client(conn, msg),
                Output::SendPaper { conn, seed, key } => {
                    let mut paper = exam_domain::shuffle::candidate_paper(&self.paper, seed);
                    let files = std::mem::take(&mut paper.media);
                    self.send_to_client(conn, SiteMsg::Media { files });
                    self.send_to_client(conn, SiteMsg::Paper { key, paper });
                }
                Output::Close { conn, reason } => {
                    self.note(|| format!("site closes conn {}: {reason}", conn.0));
                    if let Some(l) = self.links.iter().position(|l| l.conn == conn) {
                        self.cut(l, true);
                    }
                }
                Output::Persist(op) => {
                    if let StoreOp::TimeLog {
                        attempt,
                        given_back_ms,
                        ..
                    } = &op
                        && let Some(seen) = self.clock_seen.get_mut(&attempt.0)
                    {
                        seen.1 += given_back_ms;
                    }
                    self.store.queued.push_back(op);
                }
            }
        }
    }

    fn send_to_client(&mut self, conn: ConnId, msg: SiteMsg) {
        let Some(l) = self.links.iter().position(|l| l.conn == conn) else {
            return;
        };
        if !self.links[l].client_alive {
            return;
        }
        let delay = self.rng.below(self.cfg.delay_ms_max + 1);
        let dup = matches!(msg, SiteMsg::Ack { .. }) && self.chance(self.cfg.p_dup_ppm);
        let last = self.links[l].down.back().map_or(0, |(t, _)| *t);
        let at = (self.now + delay).max(last);
        if dup {
            self.links[l].down.push_back((at, msg.clone()));
        }
        self.links[l].down.push_back((at, msg));
    }

    /// The writer: commits a batch of what is queued, in order, and tells the engine.
    fn commit(&mut self) -> Result<(), String> {
        if self.site.is_none() || self.store.failing || self.store.queued.is_empty() {
            return Ok(());
        }
        let n = 1 + self.rng.below(self.store.queued.len() as u64) as usize;
        let batch: Vec<StoreOp> = self.store.queued.drain(..n).collect();
        for op in &batch {
            self.store.apply(op)?;
        }
        for op in batch {
            self.site_input(Input::Committed(op))?;
        }
        Ok(())
    }

    fn crash_site(&mut self) {
        self.stats.site_crashes += 1;
        self.note(|| "SITE CRASH".into());
        self.site = None;
        self.store.queued.clear();
        for l in 0..self.links.len() {
            self.links[l].site_alive = false;
            self.links[l].site_notice_at = None;
            self.links[l].up.clear();
            if self.links[l].client_alive {
                self.cut(l, false);
            }
        }
        self.site_restart_at = self.now + 200 + self.rng.below(5_000);
    }

    // --- links ---

    /// Cuts a link: each direction delivers a prefix of what is in flight; the machine notices at
    /// once, the site later (or now, when it closed the link itself).
    fn cut(&mut self, l: usize, site_closed: bool) {
        self.stats.cuts += 1;
        let keep_up = self.rng.below(self.links[l].up.len() as u64 + 1) as usize;
        let keep_down = self.rng.below(self.links[l].down.len() as u64 + 1) as usize;
        let link = &mut self.links[l];
        link.up.truncate(keep_up);
        link.down.truncate(keep_down);
        let was_client_alive = link.client_alive;
        link.client_alive = false;
        // What the machine had not read yet is lost with the connection.
        link.down.clear();
        if link.site_alive && link.site_notice_at.is_none() {
            let last_up = link.up.back().map_or(0, |(t, _)| *t);
            let notice = if site_closed {
                self.now
            } else {
                self.now + self.rng.below(self.cfg.notice_ms_max + 1)
            };
            self.links[l].site_notice_at = Some(notice.max(last_up));
        }
        let m = self.links[l].machine;
        let conn = self.links[l].conn.0;
        self.note(|| format!("cut conn {conn} (machine {m})"));
        if was_client_alive && self.machines[m].link == Some(l) {
            self.machines[m].link = None;
            let now = self.instant();
            let tries = self.machines[m].tries;
            if let Some(s) = &mut self.machines[m].session {
                s.link_down(now, tries);
            }
            self.machines[m].next_connect_at = self.now + 50 + self.rng.below(1_500);
            self.drain_machine(m);
        }
    }

    fn deliver_to_site(&mut self) -> Result<(), String> {
        if self.site.is_none() {
            return Ok(());
        }
        loop {
            // The earliest due message or notice across links (ties by link order).
            let mut best: Option<(u64, usize, bool)> = None;
            for (i, l) in self.links.iter().enumerate() {
                if !l.site_alive {
                    continue;
                }
                if let Some((t, _)) = l.up.front()
                    && *t <= self.now
                    && best.is_none_or(|(bt, _, _)| *t < bt)
                {
                    best = Some((*t, i, false));
                }
                if l.up.is_empty()
                    && let Some(t) = l.site_notice_at
                    && t <= self.now
                    && best.is_none_or(|(bt, _, _)| t < bt)
                {
                    best = Some((t, i, true));
                }
            }
            let Some((_, i, notice)) = best else {
                return Ok(());
            };
            let conn = self.links[i].conn;
            if notice {
                self.links[i].site_alive = false;
                self.note(|| format!("site: conn {} disconnected", conn.0));
                self.site_input(Input::Disconnected { conn })?;
                continue;
            }
            let Some((_, msg)) = self.links[i].up.pop_front() else {
                continue;
            };
            self.note(|| format!("site <- conn {}: {}", conn.0, short_client(&msg)));
            match Request::try_from(msg) {
                Ok(req) => self.site_input(Input::Request { conn, req })?,
                Err(e) => return Err(format!("the client sent an invalid request: {e}")),
            }
        }
    }

    fn deliver_to_machine(&mut self, m: usize) {
        let Some(l) = self.machines[m].link else {
            return;
        };
        loop {
            let due = self.links[l]
                .down
                .front()
                .is_some_and(|(t, _)| *t <= self.now);
            if !due {
                break;
            }
            let Some((_, msg)) = self.links[l].down.pop_front() else {
                break;
            };
            let text = short_site(&msg);
            self.note(|| format!("machine {m} <- {text}"));
            let now = self.instant();
            if let Some(s) = &mut self.machines[m].session {
                s.handle(now, msg);
            }
            self.drain_machine(m);
            if self.machines[m].link != Some(l) {
                break;
            }
        }
    }

    // --- machines ---

    fn boot_machine(&mut self, m: usize) {
        let Some(disk) = self.machines[m].disk.take() else {
            return;
        };
        let config = SessionConfig {
            machine: self.machines[m].name.clone(),
            site: "5ea7c0de".into(),
        };
        self.machines[m].session = Some(Session::new(config, disk));
        self.machines[m].link = None;
        self.machines[m].restart_at = None;
        self.machines[m].ever_connected = false;
        self.machines[m].tries = 0;
    }

    fn crash_machine(&mut self, m: usize, tear_in_write: bool) {
        self.stats.client_crashes += 1;
        self.note(|| {
            format!(
                "MACHINE {m} CRASH{}",
                if tear_in_write { " mid-write" } else { "" }
            )
        });
        if let Some(l) = self.machines[m].link.take() {
            self.cut(l, false);
        }
        let Some(session) = self.machines[m].session.take() else {
            return;
        };
        // What the journal had made durable (every change record is synced, except the one
        // whose write the crash tore).
        let name = session.journal_name().map(str::to_owned);
        let mut durable: Vec<exam_candidate::journal::Change> = session
            .journal()
            .map(|j| j.state().pending.values().cloned().collect())
            .unwrap_or_default();
        if tear_in_write {
            durable.pop();
        }
        let Some(mut disk) = session.into_storage() else {
            return;
        };
        let salt = self.rng.next_u64();
        let mut tear = SplitMix64::new(salt);
        disk.crash(|n| tear.below(n as u64 + 1) as usize);
        if let Some(name) = name {
            let (reopened, _) = exam_candidate::Journal::open(disk.clone(), &name);
            let pending = &reopened.state().pending;
            if let Some(lost) = durable.iter().find(|c| pending.get(&c.seq) != Some(c)) {
                self.violation.get_or_insert(format!(
                    "machine {m}'s journal lost a durably written change in a crash: {lost:?}"
                ));
            }
        }
        self.machines[m].disk = Some(disk);
        self.machines[m].restart_at = Some(self.now + 500 + self.rng.below(8_000));
    }

    fn drain_machine(&mut self, m: usize) {
        if let Err(e) = self.drain_machine_checked(m) {
            self.violation.get_or_insert(e);
        }
    }

    fn drain_machine_checked(&mut self, m: usize) -> Result<(), String> {
        let Some(s) = self.machines[m].session.as_mut() else {
            return Ok(());
        };
        let mut out = Vec::new();
        while let Some(msg) = s.poll_transmit() {
            out.push(msg);
        }
        let mut events = Vec::new();
        while let Some(e) = s.poll_event() {
            events.push(e);
        }
        if let Some(l) = self.machines[m].link {
            for msg in out {
                let delay = self.rng.below(self.cfg.delay_ms_max + 1);
                let last = self.links[l].up.back().map_or(0, |(t, _)| *t);
                let at = (self.now + delay).max(last);
                let dup =
                    matches!(msg, ClientMsg::SaveAnswer { .. }) && self.chance(self.cfg.p_dup_ppm);
                if dup {
                    self.links[l].up.push_back((at, msg.clone()));
                }
                self.links[l].up.push_back((at, msg));
            }
        }
        let attempt = self.machines[m].candidate.map(|c| c as u64 + 1);
        for e in events {
            match e {
                ClientEvent::Acked {
                    seq,
                    item,
                    response,
                    ..
                } => {
                    self.stats.acked += 1;
                    if let Some(a) = attempt {
                        self.acked.insert((a, seq), (item, response));
                    }
                }
                ClientEvent::SaveRefused { seq, conflict, .. } => {
                    self.stats.refused += 1;
                    let Some(a) = attempt else { continue };
                    // A refusal for good is a decision the site made durably.
                    if !self.store.answers.contains_key(&(a, seq)) {
                        return Err(format!(
                            "attempt {a} change {seq} was refused for good but the site stored nothing under that number"
                        ));
                    }
                    if conflict && !self.moved.contains(&a) {
                        return Err(format!(
                            "attempt {a} change {seq} was refused as a conflict though the candidate never changed machines"
                        ));
                    }
                }
                ClientEvent::LoginRefused { retry_after, .. } => {
                    self.machines[m].login_at =
                        self.now + retry_after.as_millis() as u64 + 500 + self.rng.below(2_000);
                }
                ClientEvent::PaperReady => {
                    let t = self.now + self.rng.below(1_000);
                    self.machines[m].next_action_at = self.machines[m].next_action_at.max(t);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn machine_step(&mut self, m: usize) -> Result<(), String> {
        if self.machines[m].session.is_none() {
            if self.machines[m].restart_at.is_some_and(|t| t <= self.now) {
                self.note(|| format!("machine {m} restarts"));
                self.boot_machine(m);
                self.machines[m].login_at = self.now + self.rng.below(2_000);
                if let Some(c) = self.machines[m].returning.take()
                    && let Some(current) =
                        (0..self.machines.len()).find(|x| self.machines[*x].candidate == Some(c))
                {
                    self.note(|| format!("candidate {c} moves back to machine {m}"));
                    if self.machines[current].session.is_some() {
                        self.crash_machine(current, false);
                    }
                    self.machines[current].candidate = None;
                    self.machines[m].candidate = Some(c);
                }
            }
            return Ok(());
        }
        self.deliver_to_machine(m);
        let now = self.instant();
        if let Some(s) = &mut self.machines[m].session
            && s.poll_timeout().is_some_and(|t| t <= now)
        {
            s.handle_timeout(now);
        }
        // Connect.
        if self.machines[m].link.is_none() && self.now >= self.machines[m].next_connect_at {
            if self.site.is_some() {
                let conn = ConnId(self.next_conn);
                self.next_conn += 1;
                let l = self.links.len();
                self.links.push(Link {
                    conn,
                    machine: m,
                    up: VecDeque::new(),
                    down: VecDeque::new(),
                    client_alive: true,
                    site_alive: true,
                    site_notice_at: None,
                });
                self.machines[m].link = Some(l);
                self.machines[m].tries = 0;
                self.machines[m].ever_connected = true;
                let peer = self.machines[m].ip;
                self.note(|| format!("machine {m} connects as conn {}", conn.0));
                self.site_input(Input::Connected { conn, peer })?;
                if let Some(s) = &mut self.machines[m].session {
                    s.link_up(now);
                }
            } else {
                self.machines[m].tries += 1;
                let backoff = 200u64 << self.machines[m].tries.min(5);
                self.machines[m].next_connect_at = self.now + backoff.min(5_000);
                let (tries, ever) = (self.machines[m].tries, self.machines[m].ever_connected);
                if let Some(s) = &mut self.machines[m].session {
                    s.link_retrying(tries, ever);
                }
            }
        }
        self.candidate_acts(m);
        self.drain_machine(m);
        Ok(())
    }

    /// What the person at machine `m` does now.
    fn candidate_acts(&mut self, m: usize) {
        let Some(c) = self.machines[m].candidate else {
            return;
        };
        let now = self.instant();
        let Some(s) = &self.machines[m].session else {
            return;
        };
        let phase = s.state().phase.clone();
        let online = s.state().link == exam_candidate::model::Link::Online;
        let submitting = s.state().submitting;
        let paper = s.state().paper.clone();
        match phase {
            Phase::LoggedOut { busy: false, .. }
                if online && self.now >= self.machines[m].login_at =>
            {
                let who = &self.roster[c];
                let cmd = Command::Login {
                    admission_no: who.admission_no.to_string(),
                    id_number: who.id_number.as_str().to_owned(),
                };
                self.machines[m].login_at = self.now + 3_000 + self.rng.below(3_000);
                self.note(|| format!("machine {m}: candidate {c} logs in"));
                if let Some(s) = &mut self.machines[m].session {
                    s.command(now, cmd);
                }
            }
            Phase::Exam if self.now >= self.machines[m].next_action_at => {
                self.machines[m].next_action_at = self.now + 100 + self.rng.below(1_500);
                if self.now >= self.machines[m].submit_at {
                    if !submitting {
                        self.note(|| format!("machine {m}: submit"));
                        if let Some(s) = &mut self.machines[m].session {
                            s.command(now, Command::Submit);
                        }
                    }
                    return;
                }
                let Some(paper) = paper else {
                    return;
                };
                let items: Vec<_> = paper.items().cloned().collect();
                let cmd = if self.rng.below(30) == 0 {
                    // Now and then an answer the site must refuse.
                    Command::Save {
                        item: ItemId::parse("no-such-item").unwrap_or_else(|_| items[0].id.clone()),
                        response: Response::TrueFalse(true),
                    }
                } else {
                    let pick = self.rng.below(items.len() as u64) as usize;
                    let item = &items[pick];
                    Command::Save {
                        item: item.id.clone(),
                        response: random_response(item, &mut self.rng),
                    }
                };
                if self.rng.below(200) == 0 {
                    // Power fails in the middle of the journal write.
                    let keep = self.rng.below(60) as usize;
                    if let Some(s) = &mut self.machines[m].session
                        && let Some(st) = s.storage_mut()
                    {
                        st.tear_next_append(keep);
                    }
                    if let Some(s) = &mut self.machines[m].session {
                        s.command(now, cmd);
                    }
                    self.crash_machine(m, true);
                    return;
                }
                if let Some(s) = &mut self.machines[m].session {
                    s.command(now, cmd);
                }
            }
            _ => {}
        }
    }

    // --- faults ---

    fn faults(&mut self) {
        if self.now >= self.cfg.faults_until_ms {
            if self.store.failing {
                self.store.failing = false;
                let _ = self.site_input(Input::StoreTrouble(None));
            }
            return;
        }
        if self.chance(self.cfg.p_cut_ppm) {
            let live: Vec<usize> = (0..self.links.len())
                .filter(|l| self.links[*l].client_alive)
                .collect();
            if !live.is_empty() {
                let l = live[self.rng.below(live.len() as u64) as usize];
                self.cut(l, false);
            }
        }
        if self.chance(self.cfg.p_client_crash_ppm) {
            let m = self.rng.below(self.machines.len() as u64) as usize;
            if self.machines[m].session.is_some() {
                self.crash_machine(m, false);
            }
        }
        if self.site.is_some() && self.chance(self.cfg.p_site_crash_ppm) {
            self.crash_site();
        }
        if self.site.is_some() && self.chance(self.cfg.p_disk_trouble_ppm) {
            self.store.failing = !self.store.failing;
            let why = self.store.failing.then(|| "disk full".to_owned());
            self.note(|| format!("store trouble: {why:?}"));
            let _ = self.site_input(Input::StoreTrouble(why));
        }
        if self.chance(self.cfg.p_move_ppm) {
            self.move_candidate();
        }
    }

    /// A candidate's machine dies for good; the candidate moves to a spare machine (and the dead
    /// one, with its journal, comes back later as a spare).
    fn move_candidate(&mut self) {
        let from = self.rng.below(self.machines.len() as u64) as usize;
        let Some(c) = self.machines[from].candidate else {
            return;
        };
        let Some(to) = (0..self.machines.len())
            .find(|m| self.machines[*m].candidate.is_none() && self.machines[*m].session.is_some())
        else {
            return;
        };
        self.stats.moves += 1;
        self.moved.insert(c as u64 + 1);
        self.note(|| format!("candidate {c} moves from machine {from} to {to}"));
        if self.machines[from].session.is_some() {
            self.crash_machine(from, false);
        }
        self.machines[from].candidate = None;
        self.machines[to].candidate = Some(c);
        self.machines[to].login_at = self.now + 1_000 + self.rng.below(3_000);
        // Now and then the old machine is repaired and the candidate goes back to it, with the
        // journal it left there.
        if self.rng.below(3) == 0 {
            self.machines[from].restart_at = Some(self.now + 5_000 + self.rng.below(10_000));
            self.machines[from].returning = Some(c);
        } else {
            self.machines[from].restart_at = None;
        }
    }

    // --- checks ---

    fn check(&mut self) -> Result<(), String> {
        if let Some(v) = self.violation.take() {
            return Err(v);
        }
        for ((attempt, seq), (item, response)) in &self.acked {
            match self.store.answers.get(&(*attempt, *seq)) {
                Some((i, r, None)) if i == item && r == response => {}
                other => {
                    return Err(format!(
                        "attempt {attempt} change {seq} was acknowledged as {item} = {response:?} but the store holds {other:?}"
                    ));
                }
            }
        }
        if let Some(site) = &self.site {
            let now = MonoMs(self.now - site.origin);
            for (id, seen) in self.clock_seen.iter_mut() {
                let Some(remaining) = site.engine.remaining_ms(AttemptId(*id), now) else {
                    continue;
                };
                let allowed = seen.0.saturating_add(seen.1);
                if remaining > allowed {
                    return Err(format!(
                        "attempt {id}: remaining time grew from {} to {remaining} ms with {} ms logged as given back",
                        seen.0, seen.1
                    ));
                }
                *seen = (remaining, 0);
            }
        }
        Ok(())
    }

    fn final_check(&mut self) -> Result<(), String> {
        for (i, _) in self.roster.iter().enumerate() {
            let id = i as u64 + 1;
            if self
                .store
                .attempts
                .get(&id)
                .and_then(|a| a.submitted)
                .is_none()
            {
                return Err(format!("candidate {i} never handed in"));
            }
        }
        for (m, machine) in self.machines.iter().enumerate() {
            // A machine nobody sits at keeps what its candidate left there when they moved.
            if machine.candidate.is_none() {
                continue;
            }
            let Some(s) = &machine.session else { continue };
            if let Some(j) = s.journal()
                && !j.state().pending.is_empty()
            {
                return Err(format!(
                    "machine {m} still holds {} undecided changes: {:?}",
                    j.state().pending.len(),
                    j.state().pending.keys().collect::<Vec<_>>()
                ));
            }
        }
        Ok(())
    }

    fn settled(&self) -> bool {
        let submitted = (0..self.roster.len()).all(|i| {
            self.store
                .attempts
                .get(&(i as u64 + 1))
                .is_some_and(|a| a.submitted.is_some())
        });
        let journals_empty = self.machines.iter().all(|m| {
            m.candidate.is_none()
                || (m.restart_at.is_none()
                    && m.session
                        .as_ref()
                        .is_none_or(|s| s.journal().is_none_or(|j| j.state().pending.is_empty())))
        });
        submitted && journals_empty && self.store.queued.is_empty()
    }

    fn run(&mut self) -> Result<(), String> {
        loop {
            self.stats.steps += 1;
            let dt = 1 + self.rng.below(120);
            self.now += dt;
            if self.site.is_none() && self.now >= self.site_restart_at {
                self.start_site();
                self.drain_site()?;
            }
            self.faults();
            self.deliver_to_site()?;
            if let Some(site) = &self.site {
                let due = site
                    .engine
                    .poll_timeout()
                    .is_some_and(|t| t.0 <= self.now - site.origin);
                if due {
                    let now = self.mono()?;
                    if let Some(site) = &mut self.site {
                        site.engine.handle_timeout(now);
                    }
                    self.drain_site()?;
                }
            }
            if self.rng.below(3) != 0 {
                self.commit()?;
            }
            for m in 0..self.machines.len() {
                self.machine_step(m)?;
            }
            self.check()?;
            if self.now > self.cfg.faults_until_ms && self.settled() {
                for s in self.store.attempts.values() {
                    self.stats.submitted += u64::from(s.submitted.is_some());
                }
                return self.final_check();
            }
            if self.now >= self.cfg.end_ms {
                return self
                    .final_check()
                    .and(Err("the run did not settle before its end".into()));
            }
        }
    }
}

fn short_client(m: &ClientMsg) -> String {
    match m {
        ClientMsg::SaveAnswer { seq, item, .. } => format!("save {seq} {item}"),
        ClientMsg::Login { held_paper, .. } => format!("login held={held_paper:?}"),
        other => format!("{other:?}"),
    }
}

fn short_site(m: &SiteMsg) -> String {
    match m {
        SiteMsg::Paper { key, .. } => format!("paper {key:x}"),
        SiteMsg::Media { files } => format!("media {}", files.len()),
        SiteMsg::LoggedIn { attempt, .. } => format!("logged in, attempt {attempt}"),
        SiteMsg::Resumed { next_seq, answers } => {
            format!("resumed next={next_seq} answers={}", answers.len())
        }
        other => format!("{other:?}"),
    }
}
