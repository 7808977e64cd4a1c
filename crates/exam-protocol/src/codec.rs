//! The one place that names the wire format: bincode 2.0.1 (pinned) through serde, standard
//! configuration (little-endian, variable-length integers), with a decode limit equal to the
//! frame limit of the direction the bytes came from, so that a hostile length inside a message
//! cannot make the decoder allocate more than a frame of that direction may hold.

use serde::{Serialize, de::DeserializeOwned};

use crate::frame::{CLIENT_FRAME_BYTES_MAX, FRAME_BYTES_MAX};

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("message could not be encoded: {0}")]
    Encode(String),
    #[error("message is malformed: {0}")]
    Decode(String),
    #[error("message has {0} bytes left over after its end")]
    Trailing(usize),
}

const SITE_LIMIT: usize = FRAME_BYTES_MAX as usize;
const CLIENT_LIMIT: usize = CLIENT_FRAME_BYTES_MAX as usize;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<SITE_LIMIT>()
}

fn client_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<CLIENT_LIMIT>()
}

/// Encodes one message body (no frame header).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(msg, config()).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes one message body; the whole slice must be consumed. Nothing inside it may claim more
/// than `limit_bytes` (the frame limit of its direction: [`CLIENT_FRAME_BYTES_MAX`] or at most
/// [`FRAME_BYTES_MAX`]).
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit_bytes: u32) -> Result<T, CodecError> {
    let decoded = if limit_bytes <= CLIENT_FRAME_BYTES_MAX {
        bincode::serde::decode_from_slice(bytes, client_config())
    } else {
        bincode::serde::decode_from_slice(bytes, config())
    };
    let (msg, used) = decoded.map_err(|e| CodecError::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::Trailing(bytes.len() - used));
    }
    Ok(msg)
}

const LARGE_LIMIT: usize = crate::central::PACKAGE_BYTES_MAX as usize;

fn large_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<LARGE_LIMIT>()
}

/// Encodes a document exchanged with central (packages, results), which may exceed a LAN frame.
pub fn encode_large<T: Serialize>(doc: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(doc, large_config())
        .map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes a document exchanged with central: the input may be at most `limit_bytes` (checked
/// first) and nothing inside may claim more than [`crate::central::PACKAGE_BYTES_MAX`]; the
/// whole slice must be consumed.
pub fn decode_large<T: DeserializeOwned>(bytes: &[u8], limit_bytes: u32) -> Result<T, CodecError> {
    if bytes.len() > limit_bytes as usize {
        return Err(CodecError::Decode(format!(
            "{} bytes, more than the {limit_bytes} allowed",
            bytes.len()
        )));
    }
    let (doc, used) = bincode::serde::decode_from_slice(bytes, large_config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::Trailing(bytes.len() - used));
    }
    Ok(doc)
}

/// The canonical bytes of an answer change: what its digest and its size are taken over.
fn change_bytes(item: &exam_domain::ItemId, response: &exam_domain::Response) -> Vec<u8> {
    // Encoding these plain values cannot fail; an empty encoding would only weaken the digest.
    bincode::serde::encode_to_vec((item, response), bincode::config::standard()).unwrap_or_default()
}

/// A 64-bit digest (FNV-1a) of an answer change and its size in bytes: how the site tells an
/// identical resend from a different change under a used number without keeping every change in
/// memory. Stable across builds (it is recomputed from stored changes at start-up).
pub fn change_digest(item: &exam_domain::ItemId, response: &exam_domain::Response) -> (u64, u64) {
    let bytes = change_bytes(item, response);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h, bytes.len() as u64)
}
