//! `exam-content`: formats from the outside world, in and out. IMS QTI 2.1/3.0 content packages
//! ([`qti`]), paper assembly from a test definition ([`assembly`]), roster spreadsheets
//! ([`roster`]) and candidate photo archives ([`photos`]); every archive is read through
//! [`archive`], which bounds sizes and entry counts and refuses unsafe, ambiguous or duplicate
//! names. Spreadsheets are checked before calamine reads them, and calamine reads only checked
//! bytes (a rebuilt zip or compound file): see [`roster`].
//!
//! This crate must never touch the network, and never panics on input: malformed files give
//! errors (or per-item, per-row reports) that say what is wrong and what to do. `tests/bombs.rs`
//! holds a crafted hostile file for each limit; `crates/exam-fuzz` fuzzes the importers.

pub mod archive;
pub mod assembly;
pub mod photos;
pub mod qti;
pub mod roster;
