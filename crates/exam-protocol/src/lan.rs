//! The candidate LAN protocol: one bidirectional QUIC stream per connection, opened by the
//! candidate machine. The machine sends [`ClientMsg`]s, the site answers and pushes [`SiteMsg`]s.
//!
//! A session on the stream goes: `Hello` → `Login` → (`Waiting`)* → `Paper` → `SaveAnswer`s
//! (each `Ack`ed once durable) and `Clock` pushes → `Submit` → `Submitted`.

use serde::{Deserialize, Serialize};

use exam_domain::{CandidatePaper, ItemId, Response};

/// Candidate machine → site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// First message on a connection. `machine` names the desk machine for the proctor's map.
    Hello {
        machine: String,
    },
    Login {
        admission_no: String,
        id_number: String,
    },
    /// One answer change. `seq` is per attempt and strictly increasing; the site applies each
    /// `(attempt, seq)` once and acknowledges it once it is durable.
    SaveAnswer {
        seq: u64,
        item: ItemId,
        response: Response,
    },
    /// Hand in the paper. The site refuses it until every change up to `last_seq` has arrived.
    Submit {
        last_seq: u64,
    },
    Ping {
        nonce: u64,
    },
}

/// Site → candidate machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SiteMsg {
    Welcome {
        site_name: String,
    },
    LoginRejected {
        reason: LoginRejection,
        retry_after_ms: u64,
    },
    LoggedIn {
        candidate: CandidateCard,
        session_title: String,
    },
    /// The session has not started. `starts_in_ms` is `None` when a proctor starts it by hand.
    Waiting {
        starts_in_ms: Option<u64>,
    },
    /// The candidate's own paper with every answer already stored for them.
    Paper {
        paper: CandidatePaper,
        answers: Vec<SavedAnswer>,
        committed_seq: u64,
    },
    /// The change with this sequence number (and every earlier one) is durable.
    Ack {
        seq: u64,
    },
    SaveRejected {
        seq: u64,
        reason: String,
    },
    /// Remaining time as the site counts it. `running` is false while the clock is stopped.
    Clock {
        remaining_ms: u64,
        running: bool,
        paused_reason: Option<String>,
    },
    Submitted {
        reason: SubmitReason,
    },
    SubmitRefused {
        reason: String,
    },
    Pong {
        nonce: u64,
    },
    /// The site is closing this connection; `reason` is shown to the candidate.
    Goodbye {
        reason: String,
    },
}

/// Why a login was refused. The client shows a message for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginRejection {
    /// Admission number and ID number do not match a candidate of this site.
    WrongCredentials,
    /// Too many wrong tries from this machine or for this admission number; wait `retry_after_ms`.
    TooManyTries,
    /// The attempt is connected on another machine: a proctor must approve a move.
    ConnectedElsewhere,
    /// The message was malformed (e.g. an impossible admission number).
    Malformed,
}

/// Who is sitting: shown in the waiting room so the candidate can check it is them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateCard {
    pub admission_no: String,
    pub name: String,
    pub id_number_masked: String,
    pub seat: String,
    /// A JPEG or PNG photo, at most [`PHOTO_BYTES_MAX`].
    pub photo: Option<Vec<u8>>,
}

/// Largest photo carried in a [`CandidateCard`].
pub const PHOTO_BYTES_MAX: usize = 512 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAnswer {
    pub item: ItemId,
    pub seq: u64,
    pub response: Response,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubmitReason {
    Candidate,
    TimeUp,
    Proctor,
}
