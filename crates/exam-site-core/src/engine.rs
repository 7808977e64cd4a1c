//! The engine: attempts, their clocks, logins and answer acknowledgement.

use std::collections::{BTreeMap, VecDeque};

use exam_domain::shuffle::candidate_paper;
use exam_domain::{AdmissionNo, AttemptId, IdNumber, ItemBody, ItemId, Response};
use exam_protocol::{CandidateCard, ClientMsg, LoginRejection, SavedAnswer, SiteMsg, SubmitReason};

use crate::types::*;

const SYSTEM: &str = "system";

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
    answers: BTreeMap<ItemId, (u64, Response)>,
    applied_seq: u64,
    committed_seq: u64,
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
}

#[derive(Debug, Default)]
struct Conn {
    attempt: Option<AttemptId>,
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
    candidates: BTreeMap<AdmissionNo, CandidateRecord>,
    attempts: BTreeMap<AttemptId, Attempt>,
    conns: BTreeMap<ConnId, Conn>,
    throttles: BTreeMap<ThrottleKey, Throttle>,
    session: SessionState,
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
        let mut states: BTreeMap<AttemptId, RestoredAttempt> =
            restored.attempts.into_iter().collect();
        let mut attempts = BTreeMap::new();
        let mut candidates = BTreeMap::new();
        let mut outputs = VecDeque::new();
        for c in restored.candidates {
            let r = states.remove(&c.attempt).unwrap_or_default();
            let mut answers: BTreeMap<ItemId, (u64, Response)> = BTreeMap::new();
            let mut applied_seq = 0;
            for (item, seq, response) in r.answers {
                applied_seq = applied_seq.max(seq);
                match answers.get(&item) {
                    Some((s, _)) if *s > seq => {}
                    _ => {
                        answers.insert(item, (seq, response));
                    }
                }
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
                    applied_seq,
                    committed_seq: applied_seq,
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
            candidates,
            attempts,
            conns: BTreeMap::new(),
            throttles: BTreeMap::new(),
            session,
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

    /// Number of candidates connected and logged in.
    pub fn connected_candidates(&self) -> usize {
        self.conns.values().filter(|c| c.attempt.is_some()).count()
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
        if now >= a.last_checkpoint.plus(checkpoint_ms) {
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
            Input::Connected { conn } => {
                if self.conns.len() >= CONNECTIONS_MAX {
                    self.outputs.push_back(Output::Close {
                        conn,
                        reason: "too many connections".into(),
                    });
                    return;
                }
                self.conns.insert(conn, Conn::default());
                self.send(
                    conn,
                    SiteMsg::Welcome {
                        site_name: self.config.site_name.clone(),
                    },
                );
            }
            Input::Disconnected { conn } => self.disconnected(conn, now),
            Input::Message { conn, msg } => self.message(conn, msg, now),
            Input::Committed(op) => self.committed(op),
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

    fn message(&mut self, conn: ConnId, msg: ClientMsg, now: MonoMs) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        match msg {
            ClientMsg::Hello { .. } => {}
            ClientMsg::Ping { nonce } => self.send(conn, SiteMsg::Pong { nonce }),
            ClientMsg::Login {
                admission_no,
                id_number,
            } => self.login(conn, &admission_no, &id_number, now),
            ClientMsg::SaveAnswer {
                seq,
                item,
                response,
            } => self.save(conn, seq, item, response),
            ClientMsg::Submit { last_seq } => {
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
                if last_seq > a.applied_seq {
                    return self.send(conn, SiteMsg::SubmitRefused {
                        reason: "仍有答案未送达，请稍候再交卷 / some answers have not arrived yet; try again in a moment".into(),
                    });
                }
                self.submit(id, now, SubmitReason::Candidate);
            }
        }
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
                t.failures += 1;
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
            return self.send(
                conn,
                SiteMsg::LoginRejected {
                    reason: LoginRejection::ConnectedElsewhere,
                    retry_after_ms: 0,
                },
            );
        }
        self.throttles.remove(&ThrottleKey::Conn(conn));
        self.throttles.remove(&ThrottleKey::Candidate(id));
        if let Some(c) = self.conns.get_mut(&conn) {
            c.attempt = Some(id);
        }
        let card = {
            let c = &self.candidates[&a.candidate];
            CandidateCard {
                admission_no: c.admission_no.to_string(),
                name: c.name.clone(),
                id_number_masked: c.id_number.masked(),
                seat: c.seat.clone(),
                photo: c.photo.clone(),
            }
        };
        self.send(
            conn,
            SiteMsg::LoggedIn {
                candidate: card,
                session_title: self.config.title.clone(),
            },
        );
        if let Some(a) = self.attempts.get_mut(&id) {
            a.conn = Some(conn);
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
        let paused = matches!(self.session, SessionState::Paused { .. });
        let remaining_ms = a.remaining_ms;
        if !a.started {
            a.started = true;
            self.change_clock(
                id,
                now,
                remaining_ms,
                !paused,
                TimeEvent::Started,
                0,
                SYSTEM,
                "paper delivered",
            );
        } else {
            a.disconnected = None;
            if !a.running && !paused {
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
        let paper = candidate_paper(&self.config.paper, a.seed);
        let answers = a
            .answers
            .iter()
            .map(|(item, (seq, response))| SavedAnswer {
                item: item.clone(),
                seq: *seq,
                response: response.clone(),
            })
            .collect();
        let committed_seq = a.committed_seq;
        self.send(
            conn,
            SiteMsg::Paper {
                paper,
                answers,
                committed_seq,
            },
        );
        self.push_clock(id, now, None);
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

    fn save(&mut self, conn: ConnId, seq: u64, item: ItemId, response: Response) {
        let Some(id) = self.conns.get(&conn).and_then(|c| c.attempt) else {
            return self.send(
                conn,
                SiteMsg::SaveRejected {
                    seq,
                    reason: "请先登录 / log in first".into(),
                },
            );
        };
        let Some(a) = self.attempts.get_mut(&id) else {
            return;
        };
        if seq <= a.applied_seq {
            // Already applied: acknowledge again if durable, otherwise the commit will.
            if seq <= a.committed_seq {
                let committed = a.committed_seq;
                self.send(conn, SiteMsg::Ack { seq: committed });
            }
            return;
        }
        let problem = if a.submitted.is_some() {
            Some("已交卷，不能再修改答案 / the paper has been handed in".to_owned())
        } else if !a.started {
            Some("考试尚未开始 / the exam has not started".to_owned())
        } else {
            match self.bodies.get(&item) {
                None => Some(format!(
                    "试卷中没有第 {item} 题 / no item {item} in this paper"
                )),
                Some(body) => response.check(body).err().map(|e| e.to_string()),
            }
        };
        a.applied_seq = seq;
        if let Some(reason) = problem {
            return self.send(conn, SiteMsg::SaveRejected { seq, reason });
        }
        a.answers.insert(item.clone(), (seq, response.clone()));
        self.outputs.push_back(Output::Persist(StoreOp::Answer {
            attempt: id,
            seq,
            item,
            response,
        }));
    }

    fn committed(&mut self, op: StoreOp) {
        match op {
            StoreOp::Answer { attempt, seq, .. } => {
                let Some(a) = self.attempts.get_mut(&attempt) else {
                    return;
                };
                a.committed_seq = a.committed_seq.max(seq);
                if let Some(conn) = a.conn {
                    self.send(conn, SiteMsg::Ack { seq });
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
                }
            }
            StoreOp::Clock { .. }
            | StoreOp::TimeLog { .. }
            | StoreOp::SessionStarted { .. }
            | StoreOp::SessionPaused { .. } => {}
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
        let ids = self.attempt_ids(|a| a.running);
        for id in ids {
            let Some(a) = self.attempts.get_mut(&id) else {
                continue;
            };
            let mut remaining = a.remaining_at(now);
            let mut given_back = 0;
            if let Some((_, remaining_then)) = a.disconnected.take() {
                // Already gone: their clock stops as of the disconnect.
                given_back = remaining_then.saturating_sub(remaining);
                remaining = remaining_then;
            }
            self.change_clock(
                id,
                now,
                remaining,
                false,
                TimeEvent::SessionPaused,
                given_back,
                &by,
                &reason,
            );
            self.push_clock(id, now, Some(reason.clone()));
        }
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
        let ids = self.attempt_ids(|a| a.started && a.submitted.is_none() && a.conn.is_some());
        for id in ids {
            let Some(a) = self.attempts.get_mut(&id) else {
                continue;
            };
            let remaining_ms = a.remaining_ms;
            self.change_clock(
                id,
                now,
                remaining_ms,
                true,
                TimeEvent::SessionResumed,
                0,
                &by,
                "session resumed",
            );
            self.push_clock(id, now, None);
        }
    }
}
