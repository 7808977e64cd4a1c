//! The candidate LAN protocol: one bidirectional QUIC stream per connection, opened by the
//! candidate machine. The machine sends [`ClientMsg`]s, the site answers and pushes [`SiteMsg`]s.
//!
//! A connection goes: `Hello` → `Login` → (`Waiting`)* → [`SiteMsg::Media`] and
//! [`SiteMsg::Paper`] (left out when the machine already holds this attempt's paper) →
//! [`SiteMsg::Resumed`] → `SaveAnswer`s (each `Ack`ed once durable) and `Clock` pushes →
//! `Submit` → `Submitted`.
//!
//! # Answer sequence numbers
//!
//! Every answer change of an attempt carries a sequence number. Numbers are contiguous from 1
//! per attempt, whichever machine made the change. The site keeps `next_seq`, the number it
//! expects next, and tells it in [`SiteMsg::Resumed`] after every login:
//!
//! - a change with `seq == next_seq` is decided: stored (and `Ack`ed once durable) or refused
//!   for good ([`SaveRefusal::Invalid`], also durable); either way the number is used up;
//! - a change with `seq < next_seq` is a resend: acknowledged again only if it is identical to
//!   what the site holds under that number, otherwise refused ([`SaveRefusal::Conflict`]) and
//!   logged as an alarm;
//! - a change with `seq > next_seq` is refused ([`SaveRefusal::OutOfOrder`]) and not used: the
//!   machine sends again from `expected`;
//! - [`SaveRefusal::Busy`] and [`SaveRefusal::QuotaExceeded`] do not use the number either.
//!
//! After `Resumed{next_seq}` the machine sends first what its journal holds below `next_seq`
//! (resends, in order), then its changes from `next_seq` on, renumbered to be contiguous from
//! `next_seq` if they are not, and only then new changes. An [`SiteMsg::Ack`] `seq` at or above
//! the connection's `next_seq` acknowledges every change of this connection from `next_seq`
//! through `seq`; one below it acknowledges that resend only.

use serde::{Deserialize, Serialize};

use exam_domain::{CandidatePaper, ItemId, MediaFile, Response};
use std::collections::BTreeMap;

/// Candidate machine → site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// First message on a connection. `machine` names the desk machine for the proctor's map.
    Hello {
        machine: String,
    },
    /// `held_paper`: the [`SiteMsg::Paper`] `key` of the paper this machine already holds, so the
    /// site sends only [`SiteMsg::Resumed`] when it is still this candidate's paper.
    Login {
        admission_no: String,
        id_number: String,
        held_paper: Option<u64>,
    },
    /// One answer change; see the module docs for how `seq` is used.
    SaveAnswer {
        seq: u64,
        item: ItemId,
        response: Response,
    },
    /// Hand in the paper. The site refuses it until every change up to `last_seq` is decided.
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
        /// The attempt's id at this site: the machine's journal is kept per attempt.
        attempt: u64,
    },
    /// The session has not started. `starts_in_ms` is `None` when a proctor starts it by hand.
    Waiting {
        starts_in_ms: Option<u64>,
    },
    /// The images the candidate's paper shows (sent before the paper, shared by all candidates
    /// whose papers show the same images).
    Media {
        files: BTreeMap<String, MediaFile>,
    },
    /// The candidate's own paper, in their order, without its images (see [`SiteMsg::Media`]).
    /// `key` names it for [`ClientMsg::Login`]'s `held_paper`.
    Paper {
        key: u64,
        paper: CandidatePaper,
    },
    /// Where the attempt stands: every answer stored for it and the sequence number the site
    /// expects next. Always the last message of a login before answers flow.
    Resumed {
        answers: Vec<SavedAnswer>,
        next_seq: u64,
    },
    /// Durable: see the module docs for which changes an `Ack` covers.
    Ack {
        seq: u64,
    },
    SaveRefused {
        seq: u64,
        refusal: SaveRefusal,
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

/// Why the site did not store an answer change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaveRefusal {
    /// The change can never be stored (no such item, wrong kind of answer, the paper was handed
    /// in). The number is used up. `reason` is for the candidate.
    Invalid { reason: String },
    /// The site holds a different change under this number (a journal left on a machine the
    /// candidate has since moved away from). Logged at the site as an alarm.
    Conflict,
    /// Not the number the site expects: send again from `expected`.
    OutOfOrder { expected: u64 },
    /// Not now (too many changes too fast, or the site's disk is in trouble): send it again after
    /// `retry_after_ms`.
    Busy { retry_after_ms: u64, reason: String },
    /// This attempt has used its allowance of changes or bytes; a proctor must look at it.
    QuotaExceeded { reason: String },
    /// The connection has not logged in (or its login was replaced).
    NotLoggedIn,
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
