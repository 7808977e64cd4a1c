//! Length-limited frames on QUIC streams. A frame over the receiver's limit is refused from its
//! header, before its body is read or allocated.

use exam_protocol::frame::{FrameHeader, decode_body, encode_frame};
use exam_protocol::{FrameError, HEADER_BYTES};
use quinn::{ReadExactError, RecvStream, SendStream};
use serde::{Serialize, de::DeserializeOwned};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS settings: {0}")]
    Tls(#[from] rustls::Error),
    #[error("QUIC settings: {0}")]
    Config(String),
    #[error("could not connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    #[error("connection lost: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("read failed: {0}")]
    Read(#[from] quinn::ReadError),
    #[error("write failed: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("the stream ended in the middle of a frame")]
    Truncated,
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// The sending half of a framed stream.
#[derive(Debug)]
pub struct FramedSend {
    inner: SendStream,
    max_body_bytes: u32,
}

impl FramedSend {
    pub fn new(inner: SendStream, max_body_bytes: u32) -> Self {
        Self {
            inner,
            max_body_bytes,
        }
    }

    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), NetError> {
        let frame = encode_frame(msg, self.max_body_bytes)?;
        self.inner.write_all(&frame).await?;
        Ok(())
    }

    /// The stream underneath (to write raw bytes, e.g. in tests of malformed input).
    pub fn into_inner(self) -> SendStream {
        self.inner
    }

    /// Ends the stream cleanly after what was written.
    pub fn finish(&mut self) {
        let _ = self.inner.finish();
    }
}

/// The receiving half of a framed stream.
#[derive(Debug)]
pub struct FramedRecv {
    inner: RecvStream,
    max_body_bytes: u32,
}

impl FramedRecv {
    pub fn new(inner: RecvStream, max_body_bytes: u32) -> Self {
        Self {
            inner,
            max_body_bytes,
        }
    }

    /// The next message, or `None` when the peer finished the stream between frames.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, NetError> {
        let mut header = [0u8; HEADER_BYTES];
        match self.inner.read_exact(&mut header).await {
            Ok(()) => {}
            Err(ReadExactError::FinishedEarly(0)) => return Ok(None),
            Err(ReadExactError::FinishedEarly(_)) => return Err(NetError::Truncated),
            Err(ReadExactError::ReadError(e)) => return Err(e.into()),
        }
        let header = FrameHeader::parse(header, self.max_body_bytes)?;
        let mut body = vec![0u8; header.body_bytes as usize];
        match self.inner.read_exact(&mut body).await {
            Ok(()) => {}
            Err(ReadExactError::FinishedEarly(_)) => return Err(NetError::Truncated),
            Err(ReadExactError::ReadError(e)) => return Err(e.into()),
        }
        Ok(Some(decode_body(&body, self.max_body_bytes)?))
    }
}
