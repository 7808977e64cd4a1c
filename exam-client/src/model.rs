//! What the candidate UI shows and what it can ask for: [`ExamState`] (a snapshot the backend
//! keeps current) and [`Command`] (both from `exam-candidate`). The UI only ever reads the one
//! and sends the other, through [`ExamBackend`], so it can be tested against a fake backend.

pub use exam_candidate::model::*;

/// The UI's view of a backend: the real one talks to the site; tests use a fake.
pub trait ExamBackend {
    /// The current state (cheap: a clone of a small struct plus the paper).
    fn state(&self) -> ExamState;
    /// Queue a command. Never blocks.
    fn send(&self, command: Command);
}
