//! The engine: attempts, their clocks, logins and answer acknowledgement.
//!
//! The answer sequence protocol (see `exam_protocol::lan`) lives in [`Engine::save`] and
//! [`Engine::committed`]. Its invariant: an `(attempt, seq)` is decided once — stored or refused
//! for good — and every later message under that number is answered from that decision (an
//! identical resend is acknowledged, a different change is refused as a conflict); an `Ack` goes
//! to a connection only for changes that connection sent, after their commit.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use exam_domain::{AdmissionNo, AttemptId, IdNumber, ItemBody, ItemId, Response};
use exam_protocol::codec::change_digest;
use exam_protocol::{
    CandidateCard, LoginRejection, SaveRefusal, SavedAnswer, SiteMsg, SubmitReason,
};

use crate::types::*;

const SYSTEM: &str = "system";

/// What the site decided for one sequence number of an attempt.
#[derive(Debug, Clone, Copy)]
struct Decided {
    digest: u64,
    refused: bool,
    committed: bool,
}

/// A token bucket: how many answer changes an attempt may send now.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens_milli: u64,
    at: MonoMs,
}

impl Bucket {
    fn full(now: MonoMs) -> Self {
        Self {
            tokens_milli: u64::from(SAVE_BURST) * 1000,
            at: now,
        }
    }

    /// Takes one token, or says how long until one is there.
    fn take(&mut self, now: MonoMs) -> Result<(), u64> {
        let refill = now.since(self.at).saturating_mul(u64::from(SAVES_PER_SEC));
        self.tokens_milli = self
            .tokens_milli
            .saturating_add(refill)
            .min(u64::from(SAVE_BURST) * 1000);
        self.at = now;
        if self.tokens_milli >= 1000 {
            self.tokens_milli -= 1000;
            Ok(())
        } else {
            let missing = 1000 - self.tokens_milli;
            Err(missing.div_ceil(u64::from(SAVES_PER_SEC).max(1)))
        }
    }
}

#[derive(Debug)]
struct Attempt {
    candidate: AdmissionNo,
    seed: u64,
    started: bool,
    submitted: Option<SubmitReason>,
    /// Set once the submit is durable and the candidate has been told.
    submit_durable: bool,
    /// Remaining time as of `mark` (when running) or frozen (when stopped).
    remaining_ms: u64,
    running: bool,
    mark: MonoMs,
    conn: Option<ConnId>,
    /// When the connection went, and the remaining time at that moment.
    disconnected: Option<(MonoMs, u64)>,
    /// The latest stored change of each item, with its number.
    answers: BTreeMap<ItemId, (u64, Response)>,
    /// What was decided under each number: index `seq - 1`. `next_seq` is its length + 1.
    decided: Vec<Decided>,
    /// Why each refused number was refused.
    refusals: BTreeMap<u64, String>,
    /// Highest number whose decision is durable (decisions commit in order).
    committed_seq: u64,
    /// The `next_seq` the current connection was given: it owns the numbers from there on.
    /// `u64::MAX` until it has been given one (then nothing is acknowledged to it).
    conn_floor: u64,
    /// Resends from the current connection under numbers decided but not yet durable: answered
    /// when the decision commits (`true`: identical, `false`: a different change, a conflict).
    claims: BTreeMap<u64, bool>,
    bytes_used: u64,
    bucket: Bucket,
    /// The quota alarm was raised (once per run).
    quota_alarmed: bool,
    last_checkpoint: MonoMs,
}

impl Attempt {
    fn remaining_at(&self, now: MonoMs) -> u64 {
        if self.running {
            self.remaining_ms.saturating_sub(now.since(self.mark))
        } else {
            self.remaining_ms
        }
    }

    fn next_seq(&self) -> u64 {
        self.decided.len() as u64 + 1
    }

    fn decided(&self, seq: u64) -> Option<&Decided> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.decided.get(i)
    }

    fn decided_mut(&mut self, seq: u64) -> Option<&mut Decided> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.decided.get_mut(i)
    }
}

#[derive(Debug, Default)]
struct Conn {
    attempt: Option<AttemptId>,
    machine: Option<String>,
    peer: Option<IpAddr>,
    /// The paper key the machine said it holds (or was sent on this connection).
    held_paper: Option<u64>,
    /// `Resumed` was sent on this connection.
    resumed: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct Throttle {
    failures: u32,
    blocked_until: MonoMs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ThrottleKey {
    Conn(ConnId),
    Candidate(AttemptId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SessionState {
    NotStarted,
    Running,
    Paused { reason: String },
}

/// The site engine for one exam session. See the crate docs for how to drive it.
#[derive(Debug)]
pub struct Engine {
    config: SessionConfig,
    bodies: BTreeMap<ItemId, ItemBody>,
    /// Digest of the session paper: part of every paper key.
    paper_digest: u64,
    candidates: BTreeMap<AdmissionNo, CandidateRecord>,
    attempts: BTreeMap<AttemptId, Attempt>,
    conns: BTreeMap<ConnId, Conn>,
    throttles: BTreeMap<ThrottleKey, Throttle>,
    session: SessionState,
    /// `Some(why)` while the store cannot commit.
    store_trouble: Option<String>,
    next_clock_push: MonoMs,
    outputs: VecDeque<Output>,
}

impl Engine {
    /// Builds the engine from the session settings and what the store holds. Attempts that were
    /// running when the site stopped continue from their last checkpoint, as if their candidates
    /// had just disconnected.
    pub fn new(config: SessionConfig, restored: Restored, now: MonoMs) -> Self {
        let bodies = config
            .paper
            .items()
            .map(|i| (i.id.clone(), i.body()))
            .collect();
        let paper_digest = {
            let bytes = exam_protocol::codec::encode(&*config.paper).unwrap_or_default();
            fnv(&bytes)
        };
        let mut states: BTreeMap<AttemptId, RestoredAttempt> =
            restored.attempts.into_iter().collect();
        let mut attempts = BTreeMap::new();
        let mut candidates = BTreeMap::new();
        let mut outputs = VecDeque::new();
        for c in restored.candidates {
            let r = states.remove(&c.attempt).unwrap_or_default();
            let (decided, refusals, answers, bytes_used, gaps) = restore_changes(r.changes);
            if gaps > 0 {
                outputs.push_back(Output::Persist(StoreOp::Alarm {
                    attempt: Some(c.attempt),
                    kind: AlarmKind::StoreGap,
                    detail: format!(
                        "{gaps} answer change numbers are missing from the store; resends under them are refused"
                    ),
                }));
            }
            let running = r.started && !r.stopped && r.submitted.is_none();
            let remaining_ms = if r.started {
                r.remaining_ms
            } else {
                u64::from(config.paper.time_limit_secs) * 1000
            };
            if running {
                outputs.push_back(Output::Persist(StoreOp::TimeLog {
                    attempt: c.attempt,
                    event: TimeEvent::Restored,
                    remaining_ms,
                    given_back_ms: 0,
                    by: SYSTEM.into(),
                    reason: "site server restarted; clock continues from its last checkpoint"
                        .into(),
                }));
            }
            let committed_seq = decided.len() as u64;
            attempts.insert(
                c.attempt,
                Attempt {
                    candidate: c.admission_no.clone(),
                    seed: c.seed,
                    started: r.started,
                    submitted: r.submitted,
                    submit_durable: r.submitted.is_some(),
                    remaining_ms,
                    running,
                    mark: now,
                    conn: None,
                    disconnected: running.then_some((now, remaining_ms)),
                    answers,
                    decided,
                    refusals,
                    committed_seq,
                    conn_floor: committed_seq + 1,
                    claims: BTreeMap::new(),
                    bytes_used,
                    bucket: Bucket::full(now),
                    quota_alarmed: false,
                    last_checkpoint: now,
                },
            );
            candidates.insert(c.admission_no.clone(), c);
        }
        let session = if config.start == StartRule::Started {
            SessionState::Running
        } else {
            SessionState::NotStarted
        };
        let next_clock_push = now.plus(config.clock_push_ms);
        Self {
            config,
            bodies,
            paper_digest,
            candidates,
            attempts,
            conns: BTreeMap::new(),
            throttles: BTreeMap::new(),
            session,
            store_trouble: None,
            next_clock_push,
            outputs,
        }
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Engine::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<MonoMs> {
        let mut next = Some(self.next_clock_push);
        let mut consider = |t: MonoMs| {
            next = Some(next.map_or(t, |n: MonoMs| n.min(t)));
        };
        if let (SessionState::NotStarted, StartRule::At(t)) = (&self.session, self.config.start) {
            consider(t);
        }
        for a in self.attempts.values().filter(|a| a.running) {
            consider(a.mark.plus(a.remaining_ms));
            consider(a.last_checkpoint.plus(self.config.checkpoint_ms));
            if let Some((at, _)) = a.disconnected {
                consider(at.plus(self.config.grace_ms));
            }
        }
        next
    }

    /// Whether the session has started.
    pub fn session_started(&self) -> bool {
        self.session != SessionState::NotStarted
    }

    /// Remaining time of an attempt at `now`, for observers and tests.
    pub fn remaining_ms(&self, attempt: AttemptId, now: MonoMs) -> Option<u64> {
        self.attempts.get(&attempt).map(|a| a.remaining_at(now))
    }

    /// Whether an attempt's clock is running.
    pub fn is_running(&self, attempt: AttemptId) -> bool {
        self.attempts.get(&attempt).is_some_and(|a| a.running)
    }

    /// How an attempt was submitted, if it was.
    pub fn submitted(&self, attempt: AttemptId) -> Option<SubmitReason> {
        self.attempts.get(&attempt).and_then(|a| a.submitted)
    }

    /// The sequence number the site expects next from an attempt.
    pub fn next_seq(&self, attempt: AttemptId) -> Option<u64> {
        self.attempts.get(&attempt).map(Attempt::next_seq)
    }

    /// Whether a connection has logged in.
    pub fn is_logged_in(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.attempt.is_some())
    }

    /// Number of candidates connected and logged in.
    pub fn connected_candidates(&self) -> usize {
        self.conns.values().filter(|c| c.attempt.is_some()).count()
    }

    /// Why the store cannot commit, while it cannot.
    pub fn store_trouble(&self) -> Option<&str> {
        self.store_trouble.as_deref()
    }

    /// Acts on expired timers: scheduled start, time-up, grace expiry, checkpoints, clock pushes.
    pub fn handle_timeout(&mut self, now: MonoMs) {
        if let (SessionState::NotStarted, StartRule::At(t)) = (&self.session, self.config.start)
            && now >= t
        {
            self.start_session(now, SYSTEM.into());
        }
        let ids = self.attempt_ids(|a| a.running);
        for id in ids {
            self.attempt_timers(id, now);
        }
        if now >= self.next_clock_push {
            self.next_clock_push = now.plus(self.config.clock_push_ms);
            let connected =
                self.attempt_ids(|a| a.conn.is_some() && a.started && a.submitted.is_none());
            for id in connected {
                self.push_clock(id, now, None);
            }
        }
    }

    fn attempt_timers(&mut self, id: AttemptId, now: MonoMs) {
        let grace_ms = self.config.grace_ms;
        let checkpoint_ms = self.config.checkpoint_ms;
        let store_ok = self.store_trouble.is_none();
        let Some(a) = self.attempts.get_mut(&id) else {
            return;
        };
        if !a.running {
            return;
        }
        if a.remaining_at(now) == 0 {
            self.submit(id, now, SubmitReason::TimeUp);
            return;
        }
        if let Some((at, remaining_then)) = a.disconnected
            && now >= at.plus(grace_ms)
        {
            // Stop the clock and give back everything since the disconnect.
            let given_back_ms = remaining_then.saturating_sub(a.remaining_at(now));
            let reason = format!(
                "connection lost for more than {} s; clock stopped until the candidate is back",
                grace_ms / 1000
            );
            self.change_clock(
                id,
                now,
                remaining_then,
                false,
                TimeEvent::GraceExpired,
                given_back_ms,
                SYSTEM,
                &reason,
            );
            return;
        }
        if now >= a.last_checkpoint.plus(checkpoint_ms) && store_ok {
            a.last_checkpoint = now;
            let remaining_ms = a.remaining_at(now);
            self.outputs.push_back(Output::Persist(StoreOp::Clock {
                attempt: id,
                remaining_ms,
                running: true,
            }));
        }
    }

    /// Handles one input.
    pub fn handle(&mut self, now: MonoMs, input: Input) {
        match input {
            Input::Connected { conn, peer } => {
                if self.conns.len() >= CONNECTIONS_MAX {
                    self.outputs.push_back(Output::Close {
                        conn,
                        reason: "too many connections".into(),
                    });
                    return;
                }
                self.conns.insert(
                    conn,
                    Conn {
                        peer,
                        ..Conn::default()
                    },
                );
                self.send(
                    conn,
                    SiteMsg::Welcome {
                        site_name: self.config.site_name.clone(),
                    },
                );
            }
            Input::Disconnected { conn } => self.disconnected(conn, now),
            Input::Request { conn, req } => self.request(conn, req, now),
            Input::Committed(op) => self.committed(op),
            Input::StoreTrouble(why) => self.store_trouble_changed(now, why),
            Input::StartSession { by } => {
                if self.session == SessionState::NotStarted {
                    self.start_session(now, by);
                }
            }
            Input::PauseSession { by, reason } => self.pause_session(now, by, reason),
            Input::ResumeSession { by } => self.resume_session(now, by),
        }
    }

    fn send(&mut self, conn: ConnId, msg: SiteMsg) {
        self.outputs.push_back(Output::Send { conn, msg });
    }

    fn request(&mut self, conn: ConnId, req: Request, now: MonoMs) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match req {
            Request::Hello { machine } => c.machine = Some(machine),
            Request::Ping { nonce } => self.send(conn, SiteMsg::Pong { nonce }),
            Request::Login {
                admission_no,
                id_number,
                held_paper,
            } => {
                c.held_paper = held_paper;
                self.login(conn, &admission_no, &id_number, now);
            }
            Request::Save {
                seq,
                item,
                response,
            } => self.save(conn, seq, item, response, now),
            Request::Submit { last_seq } => self.candidate_submit(conn, last_seq, now),
        }
    }

    fn candidate_submit(&mut self, conn: ConnId, last_seq: u64, now: MonoMs) {
        let Some(id) = self.conns.get(&conn).and_then(|c| c.attempt) else {
            return self.send(
                conn,
                SiteMsg::SubmitRefused {
                    reason: "请先登录 / log in first".into(),
                },
            );
        };
        let Some(a) = self.attempts.get(&id) else {
            return;
        };
        if a.submitted.is_some() {
            if a.submit_durable {
                let reason = a.submitted.unwrap_or(SubmitReason::Candidate);
                self.send(conn, SiteMsg::Submitted { reason });
            }
            return;
        }
        if !a.started {
            return self.send(
                conn,
                SiteMsg::SubmitRefused {
                    reason: "考试尚未开始 / the exam has not started".into(),
                },
            );
        }
        if last_seq >= a.next_seq() {
            return self.send(
                conn,
                SiteMsg::SubmitRefused {
                    reason: "仍有答案未送达，请稍候再交卷 / some answers have not arrived yet; try again in a moment".into(),
                },
            );
        }
        self.submit(id, now, SubmitReason::Candidate);
    }

    fn login(&mut self, conn: ConnId, admission_no: &str, id_number: &str, now: MonoMs) {
        if self.conns.get(&conn).is_some_and(|c| c.attempt.is_some()) {
            return;
        }
        let attempt_of = |adm: &str, candidates: &BTreeMap<AdmissionNo, CandidateRecord>| {
            AdmissionNo::parse(adm)
                .ok()
                .and_then(|a| candidates.get(&a))
                .map(|c| c.attempt)
        };
        let target = attempt_of(admission_no, &self.candidates);
        let keys: Vec<ThrottleKey> = [
            Some(ThrottleKey::Conn(conn)),
            target.map(ThrottleKey::Candidate),
        ]
        .into_iter()
        .flatten()
        .collect();
        let blocked_until = keys
            .iter()
            .filter_map(|k| self.throttles.get(k))
            .map(|t| t.blocked_until)
            .max();
        if let Some(until) = blocked_until
            && until > now
        {
            return self.send(
                conn,
                SiteMsg::LoginRejected {
                    reason: LoginRejection::TooManyTries,
                    retry_after_ms: until.since(now),
                },
            );
        }
        let matched = AdmissionNo::parse(admission_no).ok().and_then(|adm| {
            let c = self.candidates.get(&adm)?;
            let id = IdNumber::parse(id_number).ok()?;
            (c.id_number == id).then_some(c.attempt)
        });
        let Some(id) = matched else {
            let mut wait = 0;
            for k in keys {
                let t = self.throttles.entry(k).or_default();
                t.failures = t.failures.saturating_add(1);
                if t.failures >= LOGIN_FREE_TRIES {
                    let backoff = (1000u64 << (t.failures - LOGIN_FREE_TRIES).min(6))
                        .min(LOGIN_BACKOFF_MS_MAX);
                    t.blocked_until = now.plus(backoff);
                    wait = wait.max(backoff);
                }
            }
            let reason = if AdmissionNo::parse(admission_no).is_err() {
                LoginRejection::Malformed
            } else {
                LoginRejection::WrongCredentials
            };
            return self.send(
                conn,
                SiteMsg::LoginRejected {
                    reason,
                    retry_after_ms: wait,
                },
            );
        };
        let Some(a) = self.attempts.get(&id) else {
            return;
        };
        if let Some(other) = a.conn
            && other != conn
        {
            // The same machine coming back before the site noticed its old connection is dead
            // (same machine name, same address) takes over; any other machine needs a proctor.
            let same_machine = match (self.conns.get(&other), self.conns.get(&conn)) {
                (Some(old), Some(new)) => {
                    old.machine.is_some()
                        && old.machine == new.machine
                        && old.peer.is_some()
                        && old.peer == new.peer
                }
                _ => false,
            };
            if !same_machine {
                return self.send(
                    conn,
                    SiteMsg::LoginRejected {
                        reason: LoginRejection::ConnectedElsewhere,
                        retry_after_ms: 0,
                    },
                );
            }
            self.outputs.push_back(Output::Close {
                conn: other,
                reason: "replaced by a new connection from the same machine".into(),
            });
            self.disconnected(other, now);
        }
        self.throttles.remove(&ThrottleKey::Conn(conn));
        self.throttles.remove(&ThrottleKey::Candidate(id));
        if let Some(c) = self.conns.get_mut(&conn) {
            c.attempt = Some(id);
        }
        let Some(a) = self.attempts.get(&id) else {
            return;
        };
        let card = self.candidates.get(&a.candidate).map(|c| CandidateCard {
            admission_no: c.admission_no.to_string(),
            name: c.name.clone(),
            id_number_masked: c.id_number.masked(),
            seat: c.seat.clone(),
            photo: c.photo.clone(),
        });
        let Some(card) = card else { return };
        self.send(
            conn,
            SiteMsg::LoggedIn {
                candidate: card,
                session_title: self.config.title.clone(),
                attempt: id.0,
            },
        );
        if let Some(a) = self.attempts.get_mut(&id) {
            a.conn = Some(conn);
            // Nothing is acknowledged to this connection before it is told where to resume.
            a.conn_floor = u64::MAX;
            a.claims.clear();
        }
        self.candidate_back(id, now);
    }

    /// The candidate of `id` is connected: bring them to where their attempt is.
    fn candidate_back(&mut self, id: AttemptId, now: MonoMs) {
        let Some(a) = self.attempts.get_mut(&id) else {
            return;
        };
        let Some(conn) = a.conn else { return };
        if let Some(reason) = a.submitted {
            if a.submit_durable {
                self.send(conn, SiteMsg::Submitted { reason });
                self.resume_answers(id, conn);
            }
            return;
        }
        match &self.session {
            SessionState::NotStarted => {
                let starts_in_ms = match self.config.start {
                    StartRule::At(t) => Some(t.since(now)),
                    _ => None,
                };
                self.send(conn, SiteMsg::Waiting { starts_in_ms });
                return;
            }
            SessionState::Running | SessionState::Paused { .. } => {}
        }
        let may_run = self.session == SessionState::Running && self.store_trouble.is_none();
        let remaining_ms = a.remaining_ms;
        if !a.started {
            a.started = true;
            self.change_clock(
                id,
                now,
                remaining_ms,
                may_run,
                TimeEvent::Started,
                0,
                SYSTEM,
                "paper delivered",
            );
        } else {
            a.disconnected = None;
            if !a.running && may_run {
                self.change_clock(
                    id,
                    now,
                    remaining_ms,
                    true,
                    TimeEvent::Resumed,
                    0,
                    SYSTEM,
                    "candidate reconnected",
                );
            }
        }
        let Some(a) = self.attempts.get(&id) else {
            return;
        };
        let key = fnv(&[self.paper_digest.to_le_bytes(), a.seed.to_le_bytes()].concat());
        let seed = a.seed;
        let held = self.conns.get_mut(&conn).map(|c| {
            let held = c.held_paper == Some(key);
            c.held_paper = Some(key);
            held
        });
        if held == Some(false) {
            self.outputs
                .push_back(Output::SendPaper { conn, seed, key });
        }
        self.resume_answers(id, conn);
        self.push_clock(id, now, None);
    }

    /// Tells the connection where the attempt stands and which number comes next: from here on
    /// the connection owns the numbers. Sent after a hand-in too, so that a machine still holding
    /// changes can send them (they are refused, and kept, as arriving after the hand-in).
    fn resume_answers(&mut self, id: AttemptId, conn: ConnId) {
        let Some(a) = self.attempts.get_mut(&id) else {
            return;
        };
        let next_seq = a.next_seq();
        a.conn_floor = next_seq;
        a.claims.clear();
        let answers = a
            .answers
            .iter()
            .map(|(item, (seq, response))| SavedAnswer {
                item: item.clone(),
                seq: *seq,
                response: response.clone(),
            })
            .collect();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.resumed = true;
        }
        self.send(conn, SiteMsg::Resumed { answers, next_seq });
    }

    /// Ids of the attempts for which `pred` holds, in id order.
    fn attempt_ids(&self, pred: impl Fn(&Attempt) -> bool) -> Vec<AttemptId> {
        self.attempts
            .iter()
            .filter(|(_, a)| pred(a))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Sets an attempt's clock as of `now`, persists it and logs the change with who and why.
    #[allow(clippy::too_many_arguments)]
    fn change_clock(
        &mut self,
        id: AttemptId,
        now: MonoMs,
        remaining_ms: u64,
        running: bool,
        event: TimeEvent,
        given_back_ms: u64,
        by: &str,
        reason: &str,
    ) {
        let Some(a) = self.attempts.get_mut(&id) else {
            return;
        };
        a.running = running;
        a.remaining_ms = remaining_ms;
        a.mark = now;
        a.last_checkpoint = now;
        self.outputs.push_back(Output::Persist(StoreOp::Clock {
            attempt: id,
            remaining_ms,
            running,
        }));
        self.outputs.push_back(Output::Persist(StoreOp::TimeLog {
            attempt: id,
            event,
            remaining_ms,
            given_back_ms,
            by: by.to_owned(),
            reason: reason.to_owned(),
        }));
    }

    fn push_clock(&mut self, id: AttemptId, now: MonoMs, reason: Option<String>) {
        let Some(a) = self.attempts.get(&id) else {
            return;
        };
        let Some(conn) = a.conn else { return };
        let paused_reason = match (&self.session, a.running, reason) {
            (_, true, _) => None,
            (_, false, Some(r)) => Some(r),
            (SessionState::Paused { reason }, false, None) => Some(reason.clone()),
            (_, false, None) => None,
        };
        let msg = SiteMsg::Clock {
            remaining_ms: a.remaining_at(now),
            running: a.running,
            paused_reason,
        };
        self.send(conn, msg);
    }

    /// One answer change from a connection: see the module docs for the rules.
    fn save(&mut self, conn: ConnId, seq: u64, item: ItemId, response: Response, now: MonoMs) {
        let refuse = |refusal: SaveRefusal| Output::Send {
            conn,
            msg: SiteMsg::SaveRefused { seq, refusal },
        };
        let Some(id) = self.conns.get(&conn).and_then(|c| c.attempt) else {
            return self.outputs.push_back(refuse(SaveRefusal::NotLoggedIn));
        };
        let trouble = self.store_trouble.clone();
        let Some(a) = self.attempts.get_mut(&id) else {
            return;
        };
        if let Err(wait_ms) = a.bucket.take(now) {
            return self.outputs.push_back(refuse(SaveRefusal::Busy {
                retry_after_ms: wait_ms,
                reason: "答案提交过快 / too many changes at once".into(),
            }));
        }
        let next_seq = a.next_seq();
        if seq > next_seq {
            return self
                .outputs
                .push_back(refuse(SaveRefusal::OutOfOrder { expected: next_seq }));
        }
        let (digest, bytes) = change_digest(&item, &response);
        if let Some(d) = a.decided(seq).copied() {
            // A resend under a used number: answered from what was decided, once that is durable
            // (a decision lost in a crash is no decision: the resend is then decided afresh).
            let identical = d.digest == digest;
            if !d.committed {
                if !identical || seq < a.conn_floor {
                    a.claims.insert(seq, identical);
                }
                return;
            }
            if !identical {
                self.conflict(id, conn, seq, &item);
                return;
            }
            let msg = if d.refused {
                SiteMsg::SaveRefused {
                    seq,
                    refusal: SaveRefusal::Invalid {
                        reason: a.refusals.get(&seq).cloned().unwrap_or_default(),
                    },
                }
            } else {
                SiteMsg::Ack { seq }
            };
            return self.send(conn, msg);
        }
        // seq == next_seq: decide it.
        if let Some(why) = trouble {
            return self.outputs.push_back(refuse(SaveRefusal::Busy {
                retry_after_ms: STORE_TROUBLE_RETRY_MS,
                reason: format!("考点服务器存储故障，答案暂存在本机 / the site cannot store answers right now ({why}); they are kept on this machine"),
            }));
        }
        let over = if seq > CHANGES_PER_ATTEMPT_MAX {
            Some(format!("{CHANGES_PER_ATTEMPT_MAX} changes"))
        } else if a.bytes_used.saturating_add(bytes) > ANSWER_BYTES_PER_ATTEMPT_MAX {
            Some(format!("{ANSWER_BYTES_PER_ATTEMPT_MAX} bytes of answers"))
        } else {
            None
        };
        if let Some(what) = over {
            let reason = format!(
                "本场考试的答案修改次数已达上限，请举手示意监考员 / this exam's allowance of answer changes ({what}) is used up: raise your hand for the proctor"
            );
            if !a.quota_alarmed {
                a.quota_alarmed = true;
                let detail = format!("candidate {} reached the allowance of {what}", a.candidate);
                self.outputs.push_back(Output::Persist(StoreOp::Alarm {
                    attempt: Some(id),
                    kind: AlarmKind::Quota,
                    detail,
                }));
            }
            return self
                .outputs
                .push_back(refuse(SaveRefusal::QuotaExceeded { reason }));
        }
        let problem = if a.submitted.is_some() {
            Some("已交卷，不能再修改答案 / the paper has been handed in".to_owned())
        } else if !a.started {
            Some("考试尚未开始 / the exam has not started".to_owned())
        } else {
            let own = self
                .candidates
                .get(&a.candidate)
                .and_then(|c| c.items.as_ref())
                .is_none_or(|items| items.contains(&item));
            match self.bodies.get(&item).filter(|_| own) {
                None => Some(format!(
                    "试卷中没有第 {item} 题 / no item {item} in this paper"
                )),
                Some(body) => response.check(body).err().map(|e| e.to_string()),
            }
        };
        a.decided.push(Decided {
            digest,
            refused: problem.is_some(),
            committed: false,
        });
        a.bytes_used = a.bytes_used.saturating_add(bytes);
        match &problem {
            Some(reason) => {
                a.refusals.insert(seq, reason.clone());
            }
            None => {
                a.answers.insert(item.clone(), (seq, response.clone()));
            }
        }
        self.outputs.push_back(Output::Persist(StoreOp::Answer {
            attempt: id,
            seq,
            item,
            response,
            refused: problem,
        }));
    }

    /// A different change under a durably used number: refused, and an alarm for the operator.
    fn conflict(&mut self, id: AttemptId, conn: ConnId, seq: u64, item: &dyn std::fmt::Display) {
        let candidate = self
            .attempts
            .get(&id)
            .map(|a| a.candidate.to_string())
            .unwrap_or_default();
        self.send(
            conn,
            SiteMsg::SaveRefused {
                seq,
                refusal: SaveRefusal::Conflict,
            },
        );
        self.outputs.push_back(Output::Persist(StoreOp::Alarm {
            attempt: Some(id),
            kind: AlarmKind::SeqConflict,
            detail: format!(
                "candidate {candidate} sent a change under number {seq} (item {item}) that differs from the one stored; refused"
            ),
        }));
    }

    fn committed(&mut self, op: StoreOp) {
        match op {
            StoreOp::Answer {
                attempt,
                seq,
                item,
                refused,
                ..
            } => {
                let Some(a) = self.attempts.get_mut(&attempt) else {
                    return;
                };
                if let Some(d) = a.decided_mut(seq) {
                    d.committed = true;
                }
                a.committed_seq = a.committed_seq.max(seq);
                let Some(conn) = a.conn else { return };
                // Only the connection that sent the change (it owns numbers from its floor on)
                // or that resent it hears about it.
                let claim = a.claims.remove(&seq);
                let owned = seq >= a.conn_floor;
                if owned || claim == Some(true) {
                    let msg = match refused {
                        Some(reason) => SiteMsg::SaveRefused {
                            seq,
                            refusal: SaveRefusal::Invalid { reason },
                        },
                        None => SiteMsg::Ack { seq },
                    };
                    self.send(conn, msg);
                }
                if claim == Some(false) {
                    self.conflict(attempt, conn, seq, &item);
                }
            }
            StoreOp::Submit {
                attempt, reason, ..
            } => {
                let Some(a) = self.attempts.get_mut(&attempt) else {
                    return;
                };
                a.submit_durable = true;
                if let Some(conn) = a.conn {
                    self.send(conn, SiteMsg::Submitted { reason });
                    if self.conns.get(&conn).is_some_and(|c| !c.resumed) {
                        self.resume_answers(attempt, conn);
                    }
                }
            }
            StoreOp::Clock { .. }
            | StoreOp::TimeLog { .. }
            | StoreOp::SessionStarted { .. }
            | StoreOp::SessionPaused { .. }
            | StoreOp::Alarm { .. } => {}
        }
    }

    fn submit(&mut self, id: AttemptId, now: MonoMs, reason: SubmitReason) {
        let Some(a) = self.attempts.get_mut(&id) else {
            return;
        };
        if a.submitted.is_some() {
            return;
        }
        let remaining_ms = a.remaining_at(now);
        a.remaining_ms = remaining_ms;
        a.running = false;
        a.disconnected = None;
        a.submitted = Some(reason);
        self.outputs.push_back(Output::Persist(StoreOp::Submit {
            attempt: id,
            reason,
            remaining_ms,
        }));
    }

    fn disconnected(&mut self, conn: ConnId, now: MonoMs) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        self.throttles.remove(&ThrottleKey::Conn(conn));
        let Some(id) = c.attempt else { return };
        let Some(a) = self.attempts.get_mut(&id) else {
            return;
        };
        if a.conn != Some(conn) {
            return;
        }
        a.conn = None;
        a.claims.clear();
        if a.running {
            let remaining = a.remaining_at(now);
            a.disconnected = Some((now, remaining));
            a.last_checkpoint = now;
            self.outputs.push_back(Output::Persist(StoreOp::Clock {
                attempt: id,
                remaining_ms: remaining,
                running: true,
            }));
        }
    }

    fn start_session(&mut self, now: MonoMs, by: String) {
        self.session = SessionState::Running;
        self.outputs
            .push_back(Output::Persist(StoreOp::SessionStarted { by }));
        let waiting = self.attempt_ids(|a| a.conn.is_some() && a.submitted.is_none());
        for id in waiting {
            self.candidate_back(id, now);
        }
    }

    fn pause_session(&mut self, now: MonoMs, by: String, reason: String) {
        if self.session != SessionState::Running {
            return;
        }
        self.session = SessionState::Paused {
            reason: reason.clone(),
        };
        self.outputs
            .push_back(Output::Persist(StoreOp::SessionPaused {
                by: by.clone(),
                reason: reason.clone(),
                paused: true,
            }));
        self.stop_clocks(now, TimeEvent::SessionPaused, &by, &reason);
    }

    fn resume_session(&mut self, now: MonoMs, by: String) {
        if !matches!(self.session, SessionState::Paused { .. }) {
            return;
        }
        self.session = SessionState::Running;
        self.outputs
            .push_back(Output::Persist(StoreOp::SessionPaused {
                by: by.clone(),
                reason: String::new(),
                paused: false,
            }));
        self.restart_clocks(now, TimeEvent::SessionResumed, &by, "session resumed");
    }

    /// The store cannot commit (or can again). While it cannot, the site is down for answers:
    /// every clock stops, and the time is given back as for a pause.
    fn store_trouble_changed(&mut self, now: MonoMs, why: Option<String>) {
        match (&self.store_trouble, why) {
            (None, Some(why)) => {
                let reason = format!(
                    "考点服务器存储故障，计时暂停 / the site cannot store answers ({why}); clocks stopped"
                );
                self.store_trouble = Some(why);
                self.stop_clocks(now, TimeEvent::StoreTrouble, SYSTEM, &reason);
            }
            (Some(_), None) => {
                self.store_trouble = None;
                self.restart_clocks(
                    now,
                    TimeEvent::StoreRecovered,
                    SYSTEM,
                    "site storage works again",
                );
            }
            (Some(_), Some(why)) => self.store_trouble = Some(why),
            (None, None) => {}
        }
    }

    /// Whether clocks may run: the session runs and the store works.
    fn clocks_may_run(&self) -> bool {
        self.session == SessionState::Running && self.store_trouble.is_none()
    }

    /// Stops every running clock as of `now`; a disconnected candidate's as of the disconnect
    /// (the time since is given back). Each stop is logged with who and why.
    fn stop_clocks(&mut self, now: MonoMs, event: TimeEvent, by: &str, reason: &str) {
        let ids = self.attempt_ids(|a| a.running);
        for id in ids {
            let Some(a) = self.attempts.get_mut(&id) else {
                continue;
            };
            let mut remaining = a.remaining_at(now);
            let mut given_back = 0;
            if let Some((_, remaining_then)) = a.disconnected.take() {
                given_back = remaining_then.saturating_sub(remaining);
                remaining = remaining_then;
            }
            self.change_clock(id, now, remaining, false, event, given_back, by, reason);
            self.push_clock(id, now, Some(reason.to_owned()));
        }
    }

    /// Starts again the stopped clocks of connected candidates, when clocks may run.
    fn restart_clocks(&mut self, now: MonoMs, event: TimeEvent, by: &str, reason: &str) {
        if !self.clocks_may_run() {
            return;
        }
        let ids = self
            .attempt_ids(|a| a.started && a.submitted.is_none() && a.conn.is_some() && !a.running);
        for id in ids {
            let Some(a) = self.attempts.get_mut(&id) else {
                continue;
            };
            let remaining_ms = a.remaining_ms;
            self.change_clock(id, now, remaining_ms, true, event, 0, by, reason);
            self.push_clock(id, now, None);
        }
    }
}

/// FNV-1a over bytes: paper keys.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

type RestoredParts = (
    Vec<Decided>,
    BTreeMap<u64, String>,
    BTreeMap<ItemId, (u64, Response)>,
    u64,
    u64,
);

/// Rebuilds an attempt's decisions from its stored changes. Numbers missing from the store
/// (which commits in order, so this means damage) are kept as used, with a digest no change has,
/// so any resend under them is refused as a conflict.
fn restore_changes(mut changes: Vec<RestoredChange>) -> RestoredParts {
    changes.sort_by_key(|c| c.seq);
    changes.dedup_by_key(|c| c.seq);
    let mut decided = Vec::with_capacity(changes.len());
    let mut refusals = BTreeMap::new();
    let mut answers = BTreeMap::new();
    let mut bytes_used = 0u64;
    let mut gaps = 0u64;
    for c in changes {
        let Some(index) = c.seq.checked_sub(1).and_then(|i| usize::try_from(i).ok()) else {
            continue;
        };
        if index > CHANGES_PER_ATTEMPT_MAX as usize * 2 {
            break;
        }
        while decided.len() < index {
            gaps += 1;
            decided.push(Decided {
                digest: 0,
                refused: true,
                committed: true,
            });
        }
        let (digest, bytes) = change_digest(&c.item, &c.response);
        bytes_used = bytes_used.saturating_add(bytes);
        decided.push(Decided {
            digest,
            refused: c.refused.is_some(),
            committed: true,
        });
        match c.refused {
            Some(reason) => {
                refusals.insert(c.seq, reason);
            }
            None => {
                answers.insert(c.item, (c.seq, c.response));
            }
        }
    }
    (decided, refusals, answers, bytes_used, gaps)
}
