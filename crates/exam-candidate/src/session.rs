//! The candidate's side of the LAN protocol as a state machine without IO: what to send, what to
//! journal, what to show. The shell feeds it UI [`Command`]s, [`SiteMsg`]s and link changes,
//! then drains [`Session::poll_transmit`] (messages for the site, in order) and
//! [`Session::poll_event`], and calls [`Session::handle_timeout`] at [`Session::poll_timeout`].
//! Time comes in from outside; the journal is whatever [`JournalStorage`] it is given.
//!
//! The answer stream follows the sequence protocol of `exam_protocol::lan`: nothing is sent
//! before the site's `Resumed{next_seq}` on the current connection; then the journal's changes go
//! out in number order (resends below `next_seq` first), new changes only behind them; a change
//! leaves the journal only when the site has decided it (acknowledged it, or refused it for good,
//! and then it is kept with the reason).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use exam_domain::{AdmissionNo, ItemId, MediaFile, Response};
use exam_protocol::{ClientMsg, LoginRejection, SaveRefusal, SiteMsg, SubmitReason};

use crate::journal::{Change, Journal, JournalError, JournalStorage};
use crate::model::{ClockView, Command, ExamState, Link, Phase};

/// Changes sent and not yet decided, at most: bounds what a rewind resends.
pub const SEND_WINDOW: usize = 256;
/// After a reconnect, a login refused as "connected elsewhere" is most likely this machine's own
/// old connection that the site has not yet noticed is dead: retry this often, this many times.
pub const STALE_RETRY: Duration = Duration::from_secs(2);
pub const STALE_RETRIES_MAX: u32 = 10;
/// While the attempt's allowance is used up, ask again this often (a proctor may raise it).
pub const QUOTA_RETRY: Duration = Duration::from_secs(60);

/// What happened, for headless users (the simulator, tests) and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    LinkUp,
    LinkDown,
    LoginRefused {
        reason: LoginRejection,
        message: String,
        retry_after: Duration,
    },
    Waiting,
    PaperReady,
    /// A change is durable at the site; `latency` is from the click to the acknowledgement.
    Acked {
        seq: u64,
        item: ItemId,
        response: Response,
        latency: Duration,
    },
    /// The site refused a change for good (it stays in the journal with the reason);
    /// `conflict`: because a different change is stored under its number.
    SaveRefused {
        seq: u64,
        item: ItemId,
        reason: String,
        conflict: bool,
    },
    SubmitRefused {
        reason: String,
    },
    Submitted {
        reason: SubmitReason,
    },
    /// The journal could not be written: answers are not safe on this machine.
    JournalFailed {
        message: String,
    },
}

/// Who this machine is and which site it talks to.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Shown to the proctor.
    pub machine: String,
    /// The site, as journals name it: its pinned CA fingerprint.
    pub site: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    None,
    /// The site asked to wait (busy, or the allowance is used up).
    Until(Instant),
}

/// The candidate session. See the module docs.
#[derive(Debug)]
pub struct Session<S: JournalStorage> {
    config: SessionConfig,
    /// The storage while no journal is open.
    storage: Option<S>,
    journal: Option<Journal<S>>,
    journal_name: Option<String>,
    state: ExamState,
    events: VecDeque<ClientEvent>,
    transmit: VecDeque<ClientMsg>,
    credentials: Option<(String, String)>,
    /// Log in again by ourselves after a reconnect.
    auto_login: bool,
    online: bool,
    stale_retries: u32,
    retry_login_at: Option<Instant>,
    /// `Resumed` arrived on the current connection: changes may flow.
    synced: bool,
    /// The `next_seq` of the last `Resumed`.
    floor: u64,
    /// Pending changes below this number were sent on the current connection.
    cursor: u64,
    /// The number of the next new change.
    next_local: u64,
    hold: Hold,
    /// Stored answers as the site told them, updated by acknowledgements.
    base: BTreeMap<ItemId, (u64, Response)>,
    made_at: BTreeMap<u64, Instant>,
    paper_key: Option<u64>,
    media: BTreeMap<String, MediaFile>,
    submit_wanted: bool,
    submit_sent: bool,
    journal_failed: bool,
}

impl<S: JournalStorage> Session<S> {
    pub fn new(config: SessionConfig, storage: S) -> Self {
        Self {
            config,
            storage: Some(storage),
            journal: None,
            journal_name: None,
            state: ExamState::default(),
            events: VecDeque::new(),
            transmit: VecDeque::new(),
            credentials: None,
            auto_login: false,
            online: false,
            stale_retries: 0,
            retry_login_at: None,
            synced: false,
            floor: 1,
            cursor: 1,
            next_local: 1,
            hold: Hold::None,
            base: BTreeMap::new(),
            made_at: BTreeMap::new(),
            paper_key: None,
            media: BTreeMap::new(),
            submit_wanted: false,
            submit_sent: false,
            journal_failed: false,
        }
    }

    /// What the UI shows.
    pub fn state(&self) -> &ExamState {
        &self.state
    }

    /// The open journal, if a candidate has logged in.
    pub fn journal(&self) -> Option<&Journal<S>> {
        self.journal.as_ref()
    }

    /// The open journal's name.
    pub fn journal_name(&self) -> Option<&str> {
        self.journal_name.as_deref()
    }

    /// The journal storage (whether or not a journal is open).
    pub fn storage_mut(&mut self) -> Option<&mut S> {
        match &mut self.journal {
            Some(j) => Some(j.storage_mut()),
            None => self.storage.as_mut(),
        }
    }

    /// Gives the storage back, closing the journal (a machine shutting down or crashing).
    pub fn into_storage(self) -> Option<S> {
        match self.journal {
            Some(j) => Some(j.into_storage()),
            None => self.storage,
        }
    }

    /// The next message for the site, in order.
    pub fn poll_transmit(&mut self) -> Option<ClientMsg> {
        if let Some(m) = self.transmit.pop_front() {
            return Some(m);
        }
        if !self.online || !self.synced || self.hold != Hold::None {
            return None;
        }
        let journal = self.journal.as_ref()?;
        let pending = &journal.state().pending;
        let in_flight = pending.range(..self.cursor).take(SEND_WINDOW).count();
        if in_flight >= SEND_WINDOW {
            return None;
        }
        let (seq, change) = pending.range(self.cursor..).next()?;
        self.cursor = seq.saturating_add(1);
        Some(ClientMsg::SaveAnswer {
            seq: *seq,
            item: change.item.clone(),
            response: change.response.clone(),
        })
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let hold = match self.hold {
            Hold::Until(t) => Some(t),
            Hold::None => None,
        };
        match (hold, self.retry_login_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Hold::Until(t) = self.hold
            && t <= now
        {
            self.hold = Hold::None;
            self.maybe_submit();
        }
        if let Some(t) = self.retry_login_at
            && t <= now
        {
            self.retry_login_at = None;
            if self.online {
                self.queue_login();
            }
        }
    }

    /// A new connection to the site is up: greet, and log in again if we were logged in.
    pub fn link_up(&mut self, _now: Instant) {
        self.online = true;
        self.synced = false;
        self.submit_sent = false;
        self.retry_login_at = None;
        self.transmit.clear();
        self.transmit.push_back(ClientMsg::Hello {
            machine: self.config.machine.clone(),
        });
        if self.auto_login {
            self.queue_login();
        }
        self.state.link = Link::Online;
        self.events.push_back(ClientEvent::LinkUp);
    }

    /// The connection is gone; `tries` reconnects have failed since.
    pub fn link_down(&mut self, _now: Instant, tries: u32) {
        let was_online = self.online;
        self.online = false;
        self.synced = false;
        self.submit_sent = false;
        self.retry_login_at = None;
        self.transmit.clear();
        self.state.link = if self.credentials.is_some() || tries > 0 || was_online {
            Link::Reconnecting { tries }
        } else {
            Link::Connecting
        };
        if let Phase::LoggedOut { busy: true, .. } = self.state.phase {
            self.state.phase = Phase::LoggedOut {
                busy: false,
                error: None,
            };
        }
        if was_online {
            self.events.push_back(ClientEvent::LinkDown);
        }
    }

    /// Notes that the link is still being looked for (for the UI).
    pub fn link_retrying(&mut self, tries: u32, ever_connected: bool) {
        if !self.online {
            self.state.link = if ever_connected {
                Link::Reconnecting { tries }
            } else {
                Link::Connecting
            };
        }
    }

    fn queue_login(&mut self) {
        if let Some((admission_no, id_number)) = self.credentials.clone() {
            self.transmit.push_back(ClientMsg::Login {
                admission_no,
                id_number,
                held_paper: self.state.paper.as_ref().and(self.paper_key),
            });
        }
    }

    /// A request from the UI.
    pub fn command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Login {
                admission_no,
                id_number,
            } => {
                if !matches!(self.state.phase, Phase::LoggedOut { .. }) {
                    return;
                }
                if !self.online {
                    self.state.phase = Phase::LoggedOut {
                        busy: false,
                        error: Some("暂时连不上考点服务器，请稍候再试或举手示意监考员 / cannot reach the site server yet; try again in a moment or raise your hand".into()),
                    };
                    return;
                }
                self.credentials =
                    Some((admission_no.trim().to_owned(), id_number.trim().to_owned()));
                self.auto_login = false;
                self.state.phase = Phase::LoggedOut {
                    busy: true,
                    error: None,
                };
                self.queue_login();
            }
            Command::Save { item, response } => self.save(now, item, response),
            Command::Submit => {
                if !matches!(self.state.phase, Phase::Exam) {
                    return;
                }
                self.state.submitting = true;
                self.state.notice = None;
                self.submit_wanted = true;
                self.maybe_submit();
            }
        }
    }

    fn save(&mut self, now: Instant, item: ItemId, response: Response) {
        if !matches!(self.state.phase, Phase::Exam) {
            return;
        }
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let Some(after) = self.next_local.checked_add(1) else {
            self.state.notice = Some(JournalError::Full.to_string());
            return;
        };
        let change = Change {
            seq: self.next_local,
            item,
            response,
        };
        match journal.record(change.clone()) {
            Ok(()) => {}
            Err(JournalError::Full) => {
                self.state.notice = Some(JournalError::Full.to_string());
                return;
            }
            Err(e) => {
                // Kept in memory and sent all the same: the site may still store it.
                self.journal_failure(e);
            }
        }
        self.next_local = after;
        self.made_at.insert(change.seq, now);
        if self.is_pending(change.seq) {
            // The newest change of all is the one shown for its item.
            Arc::make_mut(&mut self.state.answers).insert(change.item, change.response);
            self.state.unacked = self.pending_count();
            self.check_answers();
        } else {
            self.refresh_answers();
        }
    }

    fn journal_failure(&mut self, e: JournalError) {
        let message = e.to_string();
        tracing::error!(%message, "journal write failed");
        self.state.notice = Some(message.clone());
        if !self.journal_failed {
            self.journal_failed = true;
            self.events
                .push_back(ClientEvent::JournalFailed { message });
        }
    }

    /// A message from the site.
    pub fn handle(&mut self, now: Instant, msg: SiteMsg) {
        match msg {
            SiteMsg::Welcome { .. } | SiteMsg::Pong { .. } => {}
            SiteMsg::LoginRejected {
                reason,
                retry_after_ms,
            } => {
                if self.auto_login
                    && reason == LoginRejection::ConnectedElsewhere
                    && self.stale_retries < STALE_RETRIES_MAX
                {
                    self.stale_retries += 1;
                    self.retry_login_at = Some(now + STALE_RETRY);
                    return;
                }
                let retry_after = Duration::from_millis(retry_after_ms);
                let message = login_message(reason, retry_after);
                self.auto_login = false;
                self.credentials = None;
                self.state.phase = Phase::LoggedOut {
                    busy: false,
                    error: Some(message.clone()),
                };
                self.events.push_back(ClientEvent::LoginRefused {
                    reason,
                    message,
                    retry_after,
                });
            }
            SiteMsg::LoggedIn {
                candidate,
                session_title,
                attempt,
            } => {
                self.auto_login = true;
                self.stale_retries = 0;
                self.open_journal(&candidate.admission_no, attempt);
                self.state.candidate = Some(Arc::new(candidate));
                self.state.session_title = session_title;
                if matches!(self.state.phase, Phase::LoggedOut { .. }) {
                    self.state.phase = Phase::Waiting {
                        starts_in: None,
                        at: now,
                    };
                }
            }
            SiteMsg::Waiting { starts_in_ms } => {
                self.state.phase = Phase::Waiting {
                    starts_in: starts_in_ms.map(Duration::from_millis),
                    at: now,
                };
                self.events.push_back(ClientEvent::Waiting);
            }
            SiteMsg::Media { files } => self.media = files,
            SiteMsg::Paper { key, mut paper } => {
                paper.media = std::mem::take(&mut self.media);
                self.state.paper = Some(Arc::new(paper));
                self.paper_key = Some(key);
            }
            SiteMsg::Resumed { answers, next_seq } => self.resumed(answers, next_seq),
            // Answers about changes mean something only after `Resumed` on this connection.
            SiteMsg::Ack { seq } if self.synced => self.ack(now, seq),
            SiteMsg::SaveRefused { seq, refusal } if self.synced => self.refused(now, seq, refusal),
            SiteMsg::Ack { seq } | SiteMsg::SaveRefused { seq, .. } => {
                tracing::warn!(
                    seq,
                    "the site answered about a change before resuming; ignored"
                );
            }
            SiteMsg::Clock {
                remaining_ms,
                running,
                paused_reason,
            } => {
                self.state.clock = Some(ClockView {
                    remaining: Duration::from_millis(remaining_ms),
                    running,
                    paused_reason,
                    at: now,
                });
            }
            SiteMsg::Submitted { reason } => {
                self.state.phase = Phase::Done { reason };
                self.state.submitting = false;
                self.submit_wanted = false;
                if let Some(c) = &mut self.state.clock {
                    c.running = false;
                }
                self.events.push_back(ClientEvent::Submitted { reason });
            }
            SiteMsg::SubmitRefused { reason } => {
                self.state.submitting = false;
                self.submit_wanted = false;
                self.submit_sent = false;
                self.state.notice = Some(reason.clone());
                self.events.push_back(ClientEvent::SubmitRefused { reason });
            }
            SiteMsg::Goodbye { reason } => self.state.notice = Some(reason),
        }
    }

    fn open_journal(&mut self, admission_no: &str, attempt: u64) {
        let name = journal_name(&self.config.site, admission_no);
        if self.journal_name.as_deref() != Some(name.as_str()) {
            let storage = match (self.journal.take(), self.storage.take()) {
                (Some(j), _) => j.into_storage(),
                (None, Some(s)) => s,
                (None, None) => return,
            };
            let (journal, opened) = Journal::open(storage, &name);
            self.journal = Some(journal);
            self.journal_name = Some(name);
            match opened {
                Ok(scan) if scan.damaged_bytes > 0 => {
                    tracing::warn!(
                        damaged = scan.damaged_bytes,
                        "the answer journal was damaged; every readable change was kept"
                    );
                }
                Ok(_) => {}
                Err(e) => self.journal_failure(e),
            }
            self.made_at.clear();
        }
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        match journal.claim(&self.config.site, attempt) {
            Ok(0) => {}
            Ok(orphaned) => tracing::warn!(
                orphaned,
                "the journal held changes of another attempt; they were set aside"
            ),
            Err(e) => self.journal_failure(e),
        }
    }

    /// `Resumed{next_seq}`: the sync point of a connection.
    fn resumed(&mut self, answers: Vec<exam_protocol::SavedAnswer>, next_seq: u64) {
        let done = matches!(self.state.phase, Phase::Done { .. });
        if self.journal.is_none() || (self.state.paper.is_none() && !done) {
            self.paper_key = None;
            tracing::warn!(
                "the site resumed an attempt this machine holds no paper or journal for"
            );
            return;
        }
        self.base = answers
            .into_iter()
            .map(|a| (a.item, (a.seq, a.response)))
            .collect();
        self.floor = next_seq.max(1);
        self.renumber_at_or_above(self.floor);
        let pending_at_or_above = self
            .journal
            .as_ref()
            .map_or(0, |j| j.state().pending.range(self.floor..).count());
        self.next_local = self.floor.saturating_add(pending_at_or_above as u64);
        self.cursor = self
            .journal
            .as_ref()
            .and_then(|j| j.state().pending.keys().next().copied())
            .unwrap_or(self.next_local);
        self.synced = true;
        self.hold = Hold::None;
        self.refresh_answers();
        if !done {
            self.state.phase = Phase::Exam;
            self.events.push_back(ClientEvent::PaperReady);
        }
        self.maybe_submit();
    }

    /// Makes the pending changes numbered `from` or above run contiguously from `from` (the site
    /// has none of them: it expects `from` next).
    fn renumber_at_or_above(&mut self, from: u64) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let seqs: Vec<u64> = journal
            .state()
            .pending
            .range(from..)
            .map(|(s, _)| *s)
            .collect();
        let contiguous = seqs
            .iter()
            .enumerate()
            .all(|(i, s)| Some(*s) == from.checked_add(i as u64));
        if contiguous {
            return;
        }
        tracing::warn!(
            from,
            count = seqs.len(),
            "renumbering journaled changes the site has not seen"
        );
        if let Err(e) = journal.renumber_from(from) {
            self.journal_failure(e);
            return;
        }
        let times: Vec<Instant> = seqs.iter().filter_map(|s| self.made_at.remove(s)).collect();
        for (i, t) in times.into_iter().enumerate() {
            self.made_at.insert(from.saturating_add(i as u64), t);
        }
    }

    fn ack(&mut self, now: Instant, seq: u64) {
        let (from, to) = if seq >= self.floor {
            (self.floor, seq)
        } else {
            (seq, seq)
        };
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let done: Vec<Change> = journal
            .state()
            .pending
            .range(from..=to)
            .map(|(_, c)| c.clone())
            .collect();
        if done.is_empty() {
            return;
        }
        if let Err(e) = journal.acked(from, to) {
            self.journal_failure(e);
        }
        for c in done {
            let newer = self.base.get(&c.item).is_none_or(|(s, _)| *s < c.seq);
            if newer {
                self.base
                    .insert(c.item.clone(), (c.seq, c.response.clone()));
            }
            let latency = self
                .made_at
                .remove(&c.seq)
                .map(|t| now.saturating_duration_since(t))
                .unwrap_or_default();
            self.events.push_back(ClientEvent::Acked {
                seq: c.seq,
                item: c.item,
                response: c.response,
                latency,
            });
        }
        // Acknowledged changes move from the journal to the stored answers: what is shown for
        // each item (the change with the highest number) stays the same.
        self.state.unacked = self.pending_count();
        self.check_answers();
        self.maybe_submit();
    }

    fn refused(&mut self, now: Instant, seq: u64, refusal: SaveRefusal) {
        let pending = self
            .journal
            .as_ref()
            .is_some_and(|j| j.state().pending.contains_key(&seq));
        match refusal {
            SaveRefusal::Invalid { reason } => self.refused_for_good(seq, reason, false),
            SaveRefusal::Conflict => self.refused_for_good(
                seq,
                "此前在另一台机器上所作的修改未被采用 / a change made on another machine was not kept".into(),
                true,
            ),
            SaveRefusal::OutOfOrder { expected } => {
                let has_expected = self
                    .journal
                    .as_ref()
                    .is_some_and(|j| j.state().pending.contains_key(&expected));
                if !has_expected && expected < self.next_local {
                    // The site lost changes we hold as decided: renumber what it has not seen.
                    self.renumber_at_or_above(expected);
                    let count = self
                        .journal
                        .as_ref()
                        .map_or(0, |j| j.state().pending.range(expected..).count());
                    self.next_local = expected.saturating_add(count as u64);
                }
                self.cursor = self.cursor.min(expected);
            }
            SaveRefusal::Busy {
                retry_after_ms,
                reason,
            } => {
                if pending {
                    self.cursor = self.cursor.min(seq);
                    self.hold_until(now + Duration::from_millis(retry_after_ms.max(100)));
                    tracing::debug!(seq, %reason, "site busy; sending again later");
                }
            }
            SaveRefusal::QuotaExceeded { reason } => {
                if pending {
                    self.cursor = self.cursor.min(seq);
                    self.hold_until(now + QUOTA_RETRY);
                    self.state.notice = Some(reason);
                }
            }
            SaveRefusal::NotLoggedIn => {
                if pending {
                    self.cursor = self.cursor.min(seq);
                }
                if self.synced {
                    self.synced = false;
                    self.queue_login();
                }
            }
        }
    }

    fn hold_until(&mut self, t: Instant) {
        self.hold = match self.hold {
            Hold::Until(old) if old > t => Hold::Until(old),
            _ => Hold::Until(t),
        };
    }

    fn refused_for_good(&mut self, seq: u64, reason: String, conflict: bool) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let Some(change) = journal.state().pending.get(&seq).cloned() else {
            return;
        };
        if let Err(e) = journal.refused(seq, reason.clone()) {
            self.journal_failure(e);
        }
        self.made_at.remove(&seq);
        self.state.notice = Some(reason.clone());
        self.events.push_back(ClientEvent::SaveRefused {
            seq,
            item: change.item,
            reason,
            conflict,
        });
        self.refresh_answers();
        self.maybe_submit();
    }

    /// Sends the submit once every change is decided.
    fn maybe_submit(&mut self) {
        if !self.submit_wanted || self.submit_sent || !self.online || !self.synced {
            return;
        }
        let empty = self
            .journal
            .as_ref()
            .is_none_or(|j| j.state().pending.is_empty());
        if !empty {
            return;
        }
        self.submit_sent = true;
        self.transmit.push_back(ClientMsg::Submit {
            last_seq: self.next_local.saturating_sub(1),
        });
    }

    /// The answers shown: stored ones, overlaid by pending changes in number order.
    fn shown_answers(&self) -> (BTreeMap<ItemId, Response>, usize) {
        let mut shown: BTreeMap<ItemId, (u64, Response)> = self.base.clone();
        let mut unacked = 0;
        if let Some(j) = &self.journal {
            unacked = j.state().pending.len();
            for c in j.state().pending.values() {
                if shown.get(&c.item).is_none_or(|(s, _)| *s < c.seq) {
                    shown.insert(c.item.clone(), (c.seq, c.response.clone()));
                }
            }
        }
        (
            shown.into_iter().map(|(k, (_, r))| (k, r)).collect(),
            unacked,
        )
    }

    fn refresh_answers(&mut self) {
        let (answers, unacked) = self.shown_answers();
        self.state.answers = Arc::new(answers);
        self.state.unacked = unacked;
    }

    fn pending_count(&self) -> usize {
        self.journal.as_ref().map_or(0, |j| j.state().pending.len())
    }

    fn is_pending(&self, seq: u64) -> bool {
        self.journal
            .as_ref()
            .is_some_and(|j| j.state().pending.contains_key(&seq))
    }

    /// In debug builds (every test and simulator seed): the answers kept up to date change by
    /// change are the ones a full rebuild gives.
    fn check_answers(&self) {
        if cfg!(debug_assertions) {
            let (answers, unacked) = self.shown_answers();
            debug_assert_eq!(*self.state.answers, answers, "answers shown");
            debug_assert_eq!(self.state.unacked, unacked, "changes not yet acknowledged");
        }
    }
}

/// The journal's name for a candidate at a site: safe as a file name whatever the site sent.
pub fn journal_name(site: &str, admission_no: &str) -> String {
    let site: String = site
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect();
    let who = match AdmissionNo::parse(admission_no) {
        Ok(a) if a.as_str().chars().all(|c| c.is_ascii_alphanumeric()) => a.to_string(),
        _ => admission_no
            .bytes()
            .take(64)
            .map(|b| format!("{b:02x}"))
            .collect(),
    };
    format!("{site}-{who}")
}

/// What the candidate reads when a login is refused.
pub fn login_message(reason: LoginRejection, retry_after: Duration) -> String {
    match reason {
        LoginRejection::WrongCredentials if retry_after.is_zero() => {
            "准考证号或身份证号不正确，请核对准考证后重新输入 / the admission number or ID number is wrong: check your admission ticket".into()
        }
        LoginRejection::WrongCredentials | LoginRejection::TooManyTries => format!(
            "输入错误次数过多，请 {} 秒后再试；如有疑问请举手示意监考员 / too many wrong tries: wait {} s, or raise your hand",
            retry_after.as_secs().max(1),
            retry_after.as_secs().max(1)
        ),
        LoginRejection::ConnectedElsewhere => {
            "该考生已在另一台机器上登录。如需换机，请举手请监考员处理 / this candidate is logged in on another machine: ask the proctor to move you".into()
        }
        LoginRejection::Malformed => "准考证号格式不正确，请核对后重新输入 / the admission number is not valid: check it and try again".into(),
    }
}
