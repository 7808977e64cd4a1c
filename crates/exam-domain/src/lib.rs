//! `exam-domain`: the value types every part of the exam-site platform shares.
//!
//! Ids and bounded values are newtypes built by fallible constructors ([`AdmissionNo`],
//! [`IdNumber`], [`ItemId`]); papers and items ([`Paper`], [`Item`]); what a candidate sends
//! ([`Response`]); the images a paper shows ([`media`]); what a candidate sees ([`CandidatePaper`], built by [`shuffle::candidate_paper`]);
//! and scoring ([`score::score_item`]). Every named limit lives in [`limits`].
//!
//! This crate is pure: it must never do IO, read a clock, draw randomness from the OS or depend on
//! tokio, quinn, rusqlite, egui or ring. Randomness comes in as a seed.

pub mod cst;
pub mod demo;
pub mod ids;
pub mod limits;
pub mod media;
pub mod paper;
pub mod response;
pub mod rng;
pub mod score;
pub mod shuffle;

pub use ids::{AdmissionNo, AttemptId, IdError, IdNumber, ItemId, OptionId};
pub use media::MediaFile;
pub use paper::{
    AnswerKey, Blank, BlankBody, CandidateItem, CandidatePaper, CandidateSection, ChoiceOption,
    Item, ItemBody, ItemKind, Paper, PaperError, Section,
};
pub use response::{Response, ResponseError};
