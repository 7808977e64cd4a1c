//! `exam-candidate`: the candidate machine's side of the LAN protocol, without IO. [`Session`]
//! is the state machine (login, paper, answer changes and their journal, resend order, automatic
//! re-login, submit); [`journal`] is the journal's record format and the [`JournalStorage`] trait
//! it is kept behind (a file in `exam-client`, memory in tests and the simulator); [`model`] is
//! what the UI reads and sends.
//!
//! It must never do IO itself, read a clock or draw randomness, never send a change before it is
//! journaled, never send a change before the site said where to resume on the current
//! connection, and never drop a change the site has not decided. Read [`Session`] first.

pub mod journal;
pub mod model;
pub mod session;

pub use journal::{Journal, JournalError, JournalStorage, MemStorage};
pub use session::{ClientEvent, Session, SessionConfig, journal_name, login_message};
