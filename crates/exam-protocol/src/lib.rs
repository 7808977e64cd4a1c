//! `exam-protocol`: the messages candidate machines and the site exchange on the LAN, the site ↔
//! central API types and documents ([`central`]), the one codec, and framing with size limits.
//!
//! Read [`lan::ClientMsg`] and [`lan::SiteMsg`] first, then [`frame`]. Only [`codec`] knows the
//! wire format (bincode 2.0.1 through serde); golden-bytes tests pin it so it can be swapped.
//!
//! This crate must never do IO: it turns messages into bytes and bytes into messages, nothing else.

pub mod central;
pub mod codec;
pub mod frame;
pub mod lan;

pub use codec::CodecError;
pub use frame::{FrameError, FrameHeader, HEADER_BYTES};
pub use lan::*;

/// The LAN protocol version carried in every frame header. A peer speaking another version is
/// refused with a message saying which side to update. Version 2: fill-in blanks carry their
/// options (choice blanks) and a candidate paper carries its images. Version 3: contiguous
/// answer sequence numbers with `Resumed{next_seq}`, typed save refusals, images apart from the
/// paper.
pub const PROTOCOL_VERSION: u16 = 3;

/// ALPN id of the candidate LAN protocol.
pub const ALPN_CANDIDATE: &[u8] = b"exam-site-candidate/1";
