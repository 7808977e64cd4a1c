//! What the candidate UI shows and what it can ask for: [`ExamState`] (a snapshot the session
//! keeps current) and [`Command`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use exam_domain::{CandidatePaper, ItemId, Response};
use exam_protocol::{CandidateCard, SubmitReason};

/// A request from the UI to the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Login {
        admission_no: String,
        id_number: String,
    },
    Save {
        item: ItemId,
        response: Response,
    },
    Submit,
}

/// The link to the site server as the candidate should understand it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// First connection not made yet.
    Connecting,
    Online,
    /// The site went away; answers keep going into the local journal.
    Reconnecting {
        tries: u32,
    },
}

/// Where the candidate is in the exam.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Login form. `busy` while a login is on its way; `error` is the last refusal, ready to show.
    LoggedOut {
        busy: bool,
        error: Option<String>,
    },
    /// Logged in, the session has not started (or the paper is on its way).
    Waiting {
        starts_in: Option<Duration>,
        at: Instant,
    },
    Exam,
    /// Submitted (by the candidate, at time-up or by a proctor).
    Done {
        reason: SubmitReason,
    },
}

/// Remaining time as last told by the site, and when we were told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockView {
    pub remaining: Duration,
    pub running: bool,
    pub paused_reason: Option<String>,
    pub at: Instant,
}

impl ClockView {
    /// Remaining time now, counting down locally between the site's updates.
    pub fn remaining_at(&self, now: Instant) -> Duration {
        if self.running {
            self.remaining
                .saturating_sub(now.saturating_duration_since(self.at))
        } else {
            self.remaining
        }
    }
}

/// Everything the UI draws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExamState {
    pub link: Link,
    pub phase: Phase,
    /// Shared: its photo is not copied each time the state is published.
    pub candidate: Option<Arc<CandidateCard>>,
    pub session_title: String,
    pub paper: Option<Arc<CandidatePaper>>,
    /// The candidate's current answers (acknowledged or still in the journal). Shared, so that
    /// publishing the state to the screen after every message copies no answers.
    pub answers: Arc<BTreeMap<ItemId, Response>>,
    /// Changes written to the local journal and not yet acknowledged by the site.
    pub unacked: usize,
    pub clock: Option<ClockView>,
    /// A submit was asked for and not yet confirmed.
    pub submitting: bool,
    /// A message for the candidate that is not tied to a form (e.g. a refused submit).
    pub notice: Option<String>,
}

impl Default for ExamState {
    fn default() -> Self {
        Self {
            link: Link::Connecting,
            phase: Phase::LoggedOut {
                busy: false,
                error: None,
            },
            candidate: None,
            session_title: String::new(),
            paper: None,
            answers: Arc::default(),
            unacked: 0,
            clock: None,
            submitting: false,
            notice: None,
        }
    }
}

impl ExamState {
    /// Items with no answer, as 1-based numbers in the candidate's order.
    pub fn unanswered_numbers(&self) -> Vec<usize> {
        let Some(paper) = &self.paper else {
            return Vec::new();
        };
        paper
            .items()
            .enumerate()
            .filter(|(_, item)| {
                !self
                    .answers
                    .get(&item.id)
                    .is_some_and(Response::is_answered)
            })
            .map(|(i, _)| i + 1)
            .collect()
    }
}
