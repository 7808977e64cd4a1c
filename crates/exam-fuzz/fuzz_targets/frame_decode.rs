//! The LAN frame decoder over arbitrary bytes, in both directions and with the limits the real
//! receivers use: the site reads `ClientMsg` frames under `CLIENT_FRAME_BYTES_MAX`
//! (`site-server`), a candidate machine reads `SiteMsg` frames under `FRAME_BYTES_MAX`
//! (`exam-client`). The input is read as a stream of frames and, whole, as one frame body.
//!
//! Checked: nothing panics; the header verdict is exactly "version 3 and length within the
//! limit"; `decode_frame` agrees with `FrameHeader::parse` + `decode_body`; whatever decodes
//! re-encodes under the same limit and decodes back to an equal message, and that encoding is
//! stable; a client message that decodes under the client limit decodes the same under the
//! larger one; a body longer than the limit, or a header claiming one, is refused as too large.
#![no_main]

use std::fmt::Debug;
use std::sync::{Mutex, OnceLock};

use exam_protocol::frame::{
    CLIENT_FRAME_BYTES_MAX, FRAME_BYTES_MAX, decode_body, decode_frame, encode_frame,
};
use exam_protocol::{ClientMsg, FrameError, FrameHeader, HEADER_BYTES, PROTOCOL_VERSION, SiteMsg};
use libfuzzer_sys::fuzz_target;
use serde::{Serialize, de::DeserializeOwned};

fuzz_target!(|data: &[u8]| {
    direction::<ClientMsg>(data, CLIENT_FRAME_BYTES_MAX);
    direction::<SiteMsg>(data, FRAME_BYTES_MAX);
    if let Ok(msg) = decode_body::<ClientMsg>(data, CLIENT_FRAME_BYTES_MAX) {
        let wider = decode_body::<ClientMsg>(data, FRAME_BYTES_MAX)
            .expect("a client message within the client limit decodes under the site limit");
        assert_eq!(wider, msg);
    }
});

fn direction<T>(data: &[u8], limit: u32)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    // The whole input as one body.
    if let Ok(msg) = decode_body::<T>(data, limit) {
        round_trip(&msg, limit);
    }
    // The input as a stream of frames, the way a reader takes them off a connection.
    let mut rest = data;
    while let Some((msg, used)) = one_frame::<T>(rest, limit) {
        round_trip(&msg, limit);
        rest = &rest[used..];
    }
    too_large::<T>(data, limit);
}

/// The first frame of `buf`, checking `decode_frame` against the header and body decoders.
fn one_frame<T>(buf: &[u8], limit: u32) -> Option<(T, usize)>
where
    T: DeserializeOwned + PartialEq + Debug,
{
    let decoded = decode_frame::<T>(buf, limit);
    let Some(header) = buf.get(..HEADER_BYTES) else {
        assert!(
            matches!(decoded, Ok(None)),
            "a partial header is not a frame"
        );
        return None;
    };
    let header: [u8; HEADER_BYTES] = header.try_into().expect("six bytes");
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let version = u16::from_be_bytes([header[4], header[5]]);
    match (FrameHeader::parse(header, limit), decoded) {
        (Err(FrameError::Version(v)), Err(FrameError::Version(w))) => {
            assert!(v == version && w == version && version != PROTOCOL_VERSION);
            None
        }
        (
            Err(FrameError::TooLarge { len: l, max }),
            Err(FrameError::TooLarge { len: m, max: n }),
        ) => {
            assert!(version == PROTOCOL_VERSION && len > limit);
            assert!(l == len && m == len && max == limit && n == limit);
            None
        }
        (Ok(h), decoded) => {
            assert!(version == PROTOCOL_VERSION && len <= limit && h.body_bytes == len);
            let end = HEADER_BYTES + len as usize;
            match (buf.get(HEADER_BYTES..end), decoded) {
                (None, Ok(None)) => None,
                (Some(body), Ok(Some((msg, used)))) => {
                    assert_eq!(used, end);
                    let again = decode_body::<T>(body, limit).expect("decode_frame took it");
                    assert_eq!(again, msg);
                    Some((msg, used))
                }
                (Some(body), Err(FrameError::Codec(_))) => {
                    assert!(decode_body::<T>(body, limit).is_err());
                    None
                }
                (body, other) => panic!(
                    "decode_frame gave {other:?} for a valid header and {:?} body bytes",
                    body.map(<[u8]>::len)
                ),
            }
        }
        (parsed, decoded) => {
            panic!("FrameHeader::parse gave {parsed:?} but decode_frame gave {decoded:?}")
        }
    }
}

/// A decoded message re-encodes under the limit it was read with, decodes back to itself, and
/// its encoding is a fixed point.
fn round_trip<T>(msg: &T, limit: u32)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let frame = encode_frame(msg, limit).expect("a message read under a limit re-encodes under it");
    let (back, used) = decode_frame::<T>(&frame, limit)
        .expect("a re-encoded message decodes")
        .expect("a whole frame");
    assert_eq!(used, frame.len());
    assert_eq!(&back, msg);
    let frame2 = encode_frame(&back, limit).expect("encodes again");
    assert_eq!(frame2, frame, "the encoding of a decoded message is stable");
}

/// A body one byte over the limit (starting with the input) is refused before decoding; so is a
/// header claiming more than the limit, however few bytes follow it.
fn too_large<T>(data: &[u8], limit: u32)
where
    T: DeserializeOwned + Debug,
{
    let over = oversized_body(limit);
    let mut body = over.lock().unwrap_or_else(|e| e.into_inner());
    let n = data.len().min(body.len());
    body[..n].copy_from_slice(&data[..n]);
    let refused = decode_body::<T>(&body, limit);
    body[..n].fill(0);
    assert!(
        matches!(refused, Err(FrameError::TooLarge { len, max }) if len == limit + 1 && max == limit),
        "{refused:?}"
    );
    drop(body);

    let claim = data
        .get(..4)
        .map_or(0, |b| u32::from_be_bytes(b.try_into().expect("four bytes")));
    let len = limit.saturating_add(1).saturating_add(claim % 1024);
    let mut frame = Vec::with_capacity(HEADER_BYTES + data.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    frame.extend_from_slice(data);
    let refused = decode_frame::<T>(&frame, limit);
    assert!(
        matches!(refused, Err(FrameError::TooLarge { len: l, max }) if l == len && max == limit),
        "{refused:?}"
    );
}

/// A zeroed buffer of `limit + 1` bytes per limit, allocated once (the site limit is 8 MiB).
fn oversized_body(limit: u32) -> &'static Mutex<Vec<u8>> {
    static CLIENT: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    static SITE: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    let cell = if limit == CLIENT_FRAME_BYTES_MAX {
        &CLIENT
    } else {
        &SITE
    };
    cell.get_or_init(|| Mutex::new(vec![0; limit as usize + 1]))
}
