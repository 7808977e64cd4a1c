//! Inputs, outputs and configuration of the engine.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use exam_domain::{AdmissionNo, AttemptId, IdNumber, ItemId, Paper, Response};
use exam_protocol::{ClientMsg, SiteMsg, SubmitReason};

/// Monotonic milliseconds since some fixed origin chosen by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MonoMs(pub u64);

impl MonoMs {
    pub fn plus(self, ms: u64) -> MonoMs {
        MonoMs(self.0.saturating_add(ms))
    }
    pub fn since(self, earlier: MonoMs) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// One connection of a candidate machine, numbered by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// When the session starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartRule {
    /// At this moment (a schedule).
    At(MonoMs),
    /// When a proctor starts it ([`Input::StartSession`]).
    Manual,
    /// It has already started (restored).
    Started,
}

/// Settings of one exam session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub site_name: String,
    pub title: String,
    pub paper: Arc<Paper>,
    pub start: StartRule,
    /// A candidate whose connection is gone longer than this gets their clock stopped and the whole
    /// time since the disconnect given back.
    pub grace_ms: u64,
    /// How often running clocks are persisted (a restart gives back at most this much).
    pub checkpoint_ms: u64,
    /// How often connected candidates get a fresh `Clock`.
    pub clock_push_ms: u64,
}

/// A candidate of the session as the store knows them.
#[derive(Debug, Clone)]
pub struct CandidateRecord {
    pub admission_no: AdmissionNo,
    pub id_number: IdNumber,
    pub name: String,
    pub seat: String,
    pub photo: Option<Vec<u8>>,
    pub attempt: AttemptId,
    /// Seed of this candidate's item and option order.
    pub seed: u64,
    /// The items of this candidate's own paper, when it holds fewer than the session's paper
    /// (papers drawn from a pool): an answer to any other item is refused. `None`: all of them.
    pub items: Option<Arc<BTreeSet<ItemId>>>,
}

/// The persisted state of an attempt, loaded at start-up.
#[derive(Debug, Clone, Default)]
pub struct RestoredAttempt {
    pub started: bool,
    pub remaining_ms: u64,
    pub stopped: bool,
    pub submitted: Option<SubmitReason>,
    /// Every stored answer change, stored or refused, any order.
    pub changes: Vec<RestoredChange>,
}

/// One decided answer change as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredChange {
    pub seq: u64,
    pub item: ItemId,
    pub response: Response,
    /// `Some(reason)` when the change was refused for good (its number is used up).
    pub refused: Option<String>,
}

/// Everything the engine needs from the store at start-up.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    pub candidates: Vec<CandidateRecord>,
    /// Persisted attempt states, by attempt; attempts absent here have not started.
    pub attempts: Vec<(AttemptId, RestoredAttempt)>,
}

/// What a candidate machine asked for, checked at the boundary: a wire message that breaks a
/// rule of the protocol never reaches the engine (the shell closes that connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Hello {
        machine: String,
    },
    Login {
        admission_no: String,
        id_number: String,
        held_paper: Option<u64>,
    },
    Save {
        seq: u64,
        item: ItemId,
        response: Response,
    },
    Submit {
        last_seq: u64,
    },
    Ping {
        nonce: u64,
    },
}

/// Why a wire message was not a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("machine name longer than {MACHINE_NAME_BYTES_MAX} bytes")]
    MachineName,
    #[error("login field longer than {LOGIN_FIELD_BYTES_MAX} bytes")]
    LoginField,
    #[error("answer change numbered 0 (numbers start at 1)")]
    SeqZero,
}

impl TryFrom<ClientMsg> for Request {
    type Error = RequestError;

    fn try_from(msg: ClientMsg) -> Result<Self, Self::Error> {
        Ok(match msg {
            ClientMsg::Hello { machine } => {
                if machine.len() > MACHINE_NAME_BYTES_MAX {
                    return Err(RequestError::MachineName);
                }
                Request::Hello { machine }
            }
            ClientMsg::Login {
                admission_no,
                id_number,
                held_paper,
            } => {
                if admission_no.len() > LOGIN_FIELD_BYTES_MAX
                    || id_number.len() > LOGIN_FIELD_BYTES_MAX
                {
                    return Err(RequestError::LoginField);
                }
                Request::Login {
                    admission_no,
                    id_number,
                    held_paper,
                }
            }
            ClientMsg::SaveAnswer {
                seq,
                item,
                response,
            } => {
                if seq == 0 {
                    return Err(RequestError::SeqZero);
                }
                Request::Save {
                    seq,
                    item,
                    response,
                }
            }
            ClientMsg::Submit { last_seq } => Request::Submit { last_seq },
            ClientMsg::Ping { nonce } => Request::Ping { nonce },
        })
    }
}

/// Requests from outside the engine.
#[derive(Debug, Clone)]
pub enum Input {
    /// A candidate machine connected from `peer`.
    Connected {
        conn: ConnId,
        peer: Option<IpAddr>,
    },
    Request {
        conn: ConnId,
        req: Request,
    },
    Disconnected {
        conn: ConnId,
    },
    /// A [`StoreOp`] the engine asked for is now durable.
    Committed(StoreOp),
    /// The store cannot commit (`Some(why)`: disk full, I/O error, too far behind) or can again
    /// (`None`). While it cannot, no answer change is taken: they wait in the machines' journals.
    StoreTrouble(Option<String>),
    StartSession {
        by: String,
    },
    PauseSession {
        by: String,
        reason: String,
    },
    ResumeSession {
        by: String,
    },
}

/// Who changed a clock, and why; every adjustment is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeEvent {
    Started,
    /// The connection was gone past the grace period: clock stopped, time since the disconnect given back.
    GraceExpired,
    Resumed,
    SessionPaused,
    SessionResumed,
    /// The site restarted: the clock continues from its last checkpoint.
    Restored,
    /// The store could not commit: clocks stopped until it can.
    StoreTrouble,
    StoreRecovered,
}

impl TimeEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeEvent::Started => "started",
            TimeEvent::GraceExpired => "grace_expired",
            TimeEvent::Resumed => "resumed",
            TimeEvent::SessionPaused => "session_paused",
            TimeEvent::SessionResumed => "session_resumed",
            TimeEvent::Restored => "restored",
            TimeEvent::StoreTrouble => "store_trouble",
            TimeEvent::StoreRecovered => "store_recovered",
        }
    }
}

/// A change the shell must make durable. The shell hands each back as [`Input::Committed`] after
/// its transaction committed, in the order it was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// An answer change under its number; `refused` is `Some(reason)` when the change was refused
    /// for good (kept so the number stays used and the refusal is answered the same way again).
    Answer {
        attempt: AttemptId,
        seq: u64,
        item: ItemId,
        response: Response,
        refused: Option<String>,
    },
    /// The attempt's clock: remaining time and whether it runs.
    Clock {
        attempt: AttemptId,
        remaining_ms: u64,
        running: bool,
    },
    /// An entry of the time log: `given_back_ms` is time credited to the candidate.
    TimeLog {
        attempt: AttemptId,
        event: TimeEvent,
        remaining_ms: u64,
        given_back_ms: u64,
        by: String,
        reason: String,
    },
    Submit {
        attempt: AttemptId,
        reason: SubmitReason,
        remaining_ms: u64,
    },
    SessionStarted {
        by: String,
    },
    SessionPaused {
        by: String,
        reason: String,
        paused: bool,
    },
    /// Something an operator must look at (a change conflicting with a stored one, a machine
    /// over its allowance). The shell also logs it as a warning.
    Alarm {
        attempt: Option<AttemptId>,
        kind: AlarmKind,
        detail: String,
    },
}

/// Kinds of [`StoreOp::Alarm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmKind {
    /// A different change arrived under a number already used.
    SeqConflict,
    /// An attempt reached its allowance of changes or bytes.
    Quota,
    /// The stored changes of an attempt are not numbered contiguously.
    StoreGap,
}

impl AlarmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::SeqConflict => "seq_conflict",
            AlarmKind::Quota => "quota",
            AlarmKind::StoreGap => "store_gap",
        }
    }
}

/// What the engine wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send {
        conn: ConnId,
        msg: SiteMsg,
    },
    /// Send the candidate's paper in the order of `seed` ([`SiteMsg::Media`] then
    /// [`SiteMsg::Paper`] with `key`), built by the shell from the session paper: the shell
    /// encodes it once per order and shares the images between candidates.
    SendPaper {
        conn: ConnId,
        seed: u64,
        key: u64,
    },
    /// Close the connection after sending what is queued; `reason` goes to the log.
    Close {
        conn: ConnId,
        reason: String,
    },
    Persist(StoreOp),
}

pub use crate::limits::*;
