//! `exam-content`: formats from the outside world, in and out. IMS QTI 2.1/3.0 content packages
//! ([`qti`]), paper assembly from a test definition ([`assembly`]), roster spreadsheets
//! ([`roster`]) and candidate photo archives ([`photos`]); every archive is read through
//! [`archive`], which bounds sizes and entry counts and refuses unsafe paths.
//!
//! This crate must never touch the network, and never panics on input: malformed files give
//! errors (or per-item, per-row reports) that say what is wrong and what to do.

pub mod archive;
pub mod assembly;
pub mod photos;
pub mod qti;
pub mod roster;
