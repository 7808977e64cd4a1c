//! Framing: `length: u32 BE | version: u16 BE | body`. The length counts the body only and is
//! checked against the receiver's limit before anything is allocated.

use serde::{Serialize, de::DeserializeOwned};

use crate::PROTOCOL_VERSION;
use crate::codec::{self, CodecError};

/// Bytes of a frame header.
pub const HEADER_BYTES: usize = 6;
/// Largest frame body anyone may send (a paper with its media fits well below this).
pub const FRAME_BYTES_MAX: u32 = 8 * 1024 * 1024;
/// Largest frame body a candidate machine may send to the site (an essay answer fits easily).
pub const CLIENT_FRAME_BYTES_MAX: u32 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes is over the limit of {max} bytes")]
    TooLarge { len: u32, max: u32 },
    #[error(
        "peer speaks protocol version {0}, this program speaks {PROTOCOL_VERSION}: update the older side"
    )]
    Version(u16),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub body_bytes: u32,
}

impl FrameHeader {
    /// Parses a header and checks the version and the receiver's size limit.
    pub fn parse(header: [u8; HEADER_BYTES], max_body_bytes: u32) -> Result<Self, FrameError> {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let version = u16::from_be_bytes([header[4], header[5]]);
        if version != PROTOCOL_VERSION {
            return Err(FrameError::Version(version));
        }
        if len > max_body_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: max_body_bytes,
            });
        }
        Ok(Self { body_bytes: len })
    }
}

/// Encodes a message into a whole frame, refusing one over `max_body_bytes`.
pub fn encode_frame<T: Serialize>(msg: &T, max_body_bytes: u32) -> Result<Vec<u8>, FrameError> {
    let body = codec::encode(msg)?;
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    if len > max_body_bytes {
        return Err(FrameError::TooLarge {
            len,
            max: max_body_bytes,
        });
    }
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a frame body received under a limit of `max_body_bytes`: the body must fit the limit
/// and nothing inside it may claim more.
pub fn decode_body<T: DeserializeOwned>(body: &[u8], max_body_bytes: u32) -> Result<T, FrameError> {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    if len > max_body_bytes {
        return Err(FrameError::TooLarge {
            len,
            max: max_body_bytes,
        });
    }
    Ok(codec::decode(body, max_body_bytes)?)
}

/// Decodes the first frame of `buf`: `Ok(None)` while `buf` holds less than a whole frame,
/// otherwise the message and the bytes it took. What a stream reader does, without the stream.
pub fn decode_frame<T: DeserializeOwned>(
    buf: &[u8],
    max_body_bytes: u32,
) -> Result<Option<(T, usize)>, FrameError> {
    let Some(header) = buf.get(..HEADER_BYTES) else {
        return Ok(None);
    };
    let mut h = [0u8; HEADER_BYTES];
    h.copy_from_slice(header);
    let header = FrameHeader::parse(h, max_body_bytes)?;
    let end = HEADER_BYTES + header.body_bytes as usize;
    let Some(body) = buf.get(HEADER_BYTES..end) else {
        return Ok(None);
    };
    Ok(Some((decode_body(body, max_body_bytes)?, end)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lan::{ClientMsg, SaveRefusal, SiteMsg};
    use exam_domain::{ItemId, OptionId, Response};

    fn split(frame: &[u8]) -> ([u8; HEADER_BYTES], &[u8]) {
        let mut h = [0u8; HEADER_BYTES];
        h.copy_from_slice(&frame[..HEADER_BYTES]);
        (h, &frame[HEADER_BYTES..])
    }

    #[test]
    fn golden_bytes_pin_the_wire_format() {
        let msg = ClientMsg::SaveAnswer {
            seq: 300,
            item: ItemId::parse("dx-001").expect("valid"),
            response: Response::Choices([OptionId::parse("B").expect("valid")].into()),
        };
        let frame = encode_frame(&msg, CLIENT_FRAME_BYTES_MAX).expect("encodes");
        assert_eq!(
            hex(&frame),
            "0000000f0003 02 fb2c01 06 64782d303031 01 01 01 42".replace(' ', ""),
            "the wire format changed: bump PROTOCOL_VERSION and update this test on purpose"
        );
        let (h, body) = split(&frame);
        assert_eq!(
            FrameHeader::parse(h, CLIENT_FRAME_BYTES_MAX)
                .expect("ok")
                .body_bytes,
            15
        );
        assert_eq!(
            decode_body::<ClientMsg>(body, CLIENT_FRAME_BYTES_MAX).expect("decodes"),
            msg
        );
        let ack = encode_frame(&SiteMsg::Ack { seq: 7 }, FRAME_BYTES_MAX).expect("encodes");
        assert_eq!(hex(&ack), "000000020003 07 07".replace(' ', ""));
        let refused = SiteMsg::SaveRefused {
            seq: 9,
            refusal: SaveRefusal::OutOfOrder { expected: 4 },
        };
        let frame = encode_frame(&refused, FRAME_BYTES_MAX).expect("encodes");
        assert_eq!(hex(&frame), "000000040003 08 09 02 04".replace(' ', ""));
        let resumed = SiteMsg::Resumed {
            answers: vec![],
            next_seq: 301,
        };
        let frame = encode_frame(&resumed, FRAME_BYTES_MAX).expect("encodes");
        assert_eq!(hex(&frame), "000000050003 06 00 fb2d01".replace(' ', ""));
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn images_cross_the_wire_as_raw_bytes() {
        let png = vec![0x89u8; 5000];
        let msg = SiteMsg::Media {
            files: [(
                "img/a.png".to_owned(),
                exam_domain::MediaFile {
                    mime: "image/png".into(),
                    bytes: png,
                },
            )]
            .into(),
        };
        let frame = encode_frame(&msg, FRAME_BYTES_MAX).expect("encodes");
        assert!(
            frame.len() < 5000 + 100,
            "bytes are not inflated: {}",
            frame.len()
        );
        let (h, body) = split(&frame);
        FrameHeader::parse(h, FRAME_BYTES_MAX).expect("header");
        assert_eq!(
            decode_body::<SiteMsg>(body, FRAME_BYTES_MAX).expect("decodes"),
            msg
        );
    }

    #[test]
    fn oversized_and_foreign_frames_are_refused_before_allocation() {
        let mut h = [0u8; HEADER_BYTES];
        h[..4].copy_from_slice(&(CLIENT_FRAME_BYTES_MAX + 1).to_be_bytes());
        h[4..].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        assert!(matches!(
            FrameHeader::parse(h, CLIENT_FRAME_BYTES_MAX),
            Err(FrameError::TooLarge { .. })
        ));
        h[4..].copy_from_slice(&9u16.to_be_bytes());
        assert!(matches!(
            FrameHeader::parse(h, CLIENT_FRAME_BYTES_MAX),
            Err(FrameError::Version(9))
        ));
    }

    #[test]
    fn the_decoder_limit_is_the_frame_limit_of_the_direction() {
        // 60,000 empty blanks fit in a client frame but would make the decoder allocate
        // 60,000 strings: the client limit refuses that, the site's larger one would not.
        let blanks = ClientMsg::SaveAnswer {
            seq: 1,
            item: ItemId::parse("a").expect("id"),
            response: Response::Blanks(vec![String::new(); 60_000]),
        };
        let body = crate::codec::encode(&blanks).expect("encodes");
        assert!(body.len() < CLIENT_FRAME_BYTES_MAX as usize);
        assert!(matches!(
            decode_body::<ClientMsg>(&body, CLIENT_FRAME_BYTES_MAX),
            Err(FrameError::Codec(CodecError::Decode(_)))
        ));
        assert_eq!(
            decode_body::<ClientMsg>(&body, FRAME_BYTES_MAX).expect("decodes"),
            blanks
        );
        // A body longer than the limit is refused whatever it holds.
        let long = vec![0u8; CLIENT_FRAME_BYTES_MAX as usize + 1];
        assert!(matches!(
            decode_body::<ClientMsg>(&long, CLIENT_FRAME_BYTES_MAX),
            Err(FrameError::TooLarge { .. })
        ));
        // The largest essay a client frame can carry decodes.
        let essay = ClientMsg::SaveAnswer {
            seq: 1,
            item: ItemId::parse("a").expect("id"),
            response: Response::Essay("字".repeat(20_000)),
        };
        let frame = encode_frame(&essay, CLIENT_FRAME_BYTES_MAX).expect("fits");
        let (msg, used) = decode_frame::<ClientMsg>(&frame, CLIENT_FRAME_BYTES_MAX)
            .expect("ok")
            .expect("whole");
        assert_eq!((msg, used), (essay, frame.len()));
        assert!(
            decode_frame::<ClientMsg>(&frame[..frame.len() - 1], CLIENT_FRAME_BYTES_MAX)
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn garbage_bodies_are_errors_not_panics() {
        for body in [
            &[][..],
            &[0xff; 3][..],
            &[2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f][..],
        ] {
            assert!(decode_body::<ClientMsg>(body, CLIENT_FRAME_BYTES_MAX).is_err());
        }
        // A body that claims an item id of 2^40 bytes must fail without trying to allocate it.
        let huge = [2u8, 1, 0xfd, 0, 0, 0, 0, 0, 1, 0, 0];
        assert!(decode_body::<ClientMsg>(&huge, CLIENT_FRAME_BYTES_MAX).is_err());
        // Trailing bytes are refused.
        let mut ok = encode_frame(&ClientMsg::Ping { nonce: 1 }, 100).expect("encodes");
        ok.push(0);
        assert!(decode_body::<ClientMsg>(&ok[HEADER_BYTES..], CLIENT_FRAME_BYTES_MAX).is_err());
    }
}
