//! The one place that names the wire format: bincode 2.0.1 (pinned) through serde, standard
//! configuration (little-endian, variable-length integers), with a decode limit so that a
//! hostile length inside a message cannot make the decoder allocate more than a frame may hold.

use serde::{Serialize, de::DeserializeOwned};

use crate::frame::FRAME_BYTES_MAX;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("message could not be encoded: {0}")]
    Encode(String),
    #[error("message is malformed: {0}")]
    Decode(String),
    #[error("message has {0} bytes left over after its end")]
    Trailing(usize),
}

const LIMIT: usize = FRAME_BYTES_MAX as usize;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<LIMIT>()
}

/// Encodes one message body (no frame header).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(msg, config()).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes one message body; the whole slice must be consumed.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (msg, used) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::Trailing(bytes.len() - used));
    }
    Ok(msg)
}
