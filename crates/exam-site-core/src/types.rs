//! Inputs, outputs and configuration of the engine.

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
}

/// The persisted state of an attempt, loaded at start-up.
#[derive(Debug, Clone, Default)]
pub struct RestoredAttempt {
    pub started: bool,
    pub remaining_ms: u64,
    pub stopped: bool,
    pub submitted: Option<SubmitReason>,
    /// Every stored answer change, any order.
    pub answers: Vec<(ItemId, u64, Response)>,
}

/// Everything the engine needs from the store at start-up.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    pub candidates: Vec<CandidateRecord>,
    /// Persisted attempt states, by attempt; attempts absent here have not started.
    pub attempts: Vec<(AttemptId, RestoredAttempt)>,
}

/// Requests from outside the engine.
#[derive(Debug, Clone)]
pub enum Input {
    Connected {
        conn: ConnId,
    },
    Message {
        conn: ConnId,
        msg: ClientMsg,
    },
    Disconnected {
        conn: ConnId,
    },
    /// A [`StoreOp`] the engine asked for is now durable.
    Committed(StoreOp),
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
        }
    }
}

/// A change the shell must make durable. The shell hands each back as [`Input::Committed`] after
/// its transaction committed, in the order it was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    Answer {
        attempt: AttemptId,
        seq: u64,
        item: ItemId,
        response: Response,
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
}

/// What the engine wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send {
        conn: ConnId,
        msg: SiteMsg,
    },
    /// Close the connection after sending what is queued; `reason` goes to the log.
    Close {
        conn: ConnId,
        reason: String,
    },
    Persist(StoreOp),
}

/// Login throttling: after this many wrong tries, each further try waits longer.
pub const LOGIN_FREE_TRIES: u32 = 3;
/// Longest wait imposed after wrong tries.
pub const LOGIN_BACKOFF_MS_MAX: u64 = 60_000;
/// Most connections the engine tracks at once; the shell refuses more before they get here.
pub const CONNECTIONS_MAX: usize = 4_096;
