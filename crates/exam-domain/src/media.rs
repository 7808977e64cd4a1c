//! Images shown with items. A paper carries each file once in [`crate::Paper::media`], keyed by a
//! path; a prompt or option text shows it where the marker `[img:PATH]` stands
//! ([`segments`] splits a text at its markers).

use serde::{Deserialize, Serialize};

use crate::limits::{MEDIA_BYTES_MAX, MEDIA_MIME_TYPES, MEDIA_PATH_BYTES_MAX};

/// Start of an image marker; the marker ends at the next `]`.
pub const IMG_MARKER: &str = "[img:";

/// One image file of a paper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaFile {
    /// One of [`MEDIA_MIME_TYPES`].
    pub mime: String,
    /// Base64 text in JSON (what site.db and exports hold), raw bytes in binary formats (the LAN).
    #[serde(with = "bytes_as_base64")]
    pub bytes: Vec<u8>,
}

/// Image bytes as base64 in human-readable formats (a JSON array of numbers would be 3–4 times
/// the file), as plain bytes otherwise.
mod bytes_as_base64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&STANDARD.encode(bytes))
        } else {
            s.serialize_bytes(bytes)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            STANDARD.decode(text.as_bytes()).map_err(D::Error::custom)
        } else {
            <Vec<u8>>::deserialize(d)
        }
    }
}

/// A piece of a prompt or option text: plain text, or the path of an image shown there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    Image(&'a str),
}

/// Splits `text` at its `[img:PATH]` markers. An unterminated marker, an empty path or one
/// spanning lines is plain text.
pub fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut plain_from = 0;
    let mut offset = 0;
    while let Some(at) = rest.find(IMG_MARKER) {
        let after = &rest[at + IMG_MARKER.len()..];
        let path = after.find(']').map(|end| &after[..end]);
        match path {
            Some(path) if !path.trim().is_empty() && !path.contains(['\n', '[']) => {
                let start = offset + at;
                if start > plain_from {
                    out.push(Segment::Text(&text[plain_from..start]));
                }
                out.push(Segment::Image(path));
                let consumed = at + IMG_MARKER.len() + path.len() + 1;
                offset += consumed;
                plain_from = offset;
                rest = &rest[consumed..];
            }
            _ => {
                let skip = at + IMG_MARKER.len();
                offset += skip;
                rest = &rest[skip..];
            }
        }
    }
    if plain_from < text.len() {
        out.push(Segment::Text(&text[plain_from..]));
    }
    out
}

/// Paths of the images `text` shows, in order.
pub fn image_refs(text: &str) -> impl Iterator<Item = &str> {
    segments(text).into_iter().filter_map(|s| match s {
        Segment::Image(p) => Some(p),
        Segment::Text(_) => None,
    })
}

/// The marker that shows the image at `path`.
pub fn img_marker(path: &str) -> String {
    format!("{IMG_MARKER}{path}]")
}

/// Checks one media entry: a relative path of plain segments whose extension fits the type, an
/// image type the candidate's machine can show, the file's signature and its size.
pub fn check_media(path: &str, file: &MediaFile) -> Result<(), String> {
    if path.is_empty()
        || path.len() > MEDIA_PATH_BYTES_MAX
        || path.starts_with('/')
        || path.contains(['\\', '[', ']', '\n', '\r', '\t', '?', '#'])
        || path.chars().any(char::is_control)
        || path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.trim() != s)
    {
        return Err(format!(
            "the path is not a plain relative path of at most {MEDIA_PATH_BYTES_MAX} bytes"
        ));
    }
    if !MEDIA_MIME_TYPES.contains(&file.mime.as_str()) {
        return Err(format!(
            "its type {} is not one of {}",
            file.mime,
            MEDIA_MIME_TYPES.join(", ")
        ));
    }
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let (ext_ok, magic_ok) = match file.mime.as_str() {
        "image/png" => (ext == "png", file.bytes.starts_with(b"\x89PNG\r\n\x1a\n")),
        "image/jpeg" => (
            ext == "jpg" || ext == "jpeg",
            file.bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        ),
        _ => (false, false),
    };
    if !ext_ok {
        return Err(format!(
            "its file name does not end in the extension of {}",
            file.mime
        ));
    }
    if !magic_ok {
        return Err(format!("its bytes are not a {} file", file.mime));
    }
    if file.bytes.len() > MEDIA_BYTES_MAX {
        return Err(format!(
            "it has {} bytes; at most {MEDIA_BYTES_MAX} are allowed",
            file.bytes.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_bytes_are_base64_in_json() {
        let m = MediaFile {
            mime: "image/png".into(),
            bytes: vec![0x89, b'P', b'N', b'G', 0, 255],
        };
        let json = serde_json::to_string(&m).expect("json");
        assert_eq!(json, r#"{"mime":"image/png","bytes":"iVBORwD/"}"#);
        assert_eq!(serde_json::from_str::<MediaFile>(&json).expect("back"), m);
        assert!(serde_json::from_str::<MediaFile>(r#"{"mime":"image/png","bytes":"*"}"#).is_err());
    }

    #[test]
    fn markers_split_the_text() {
        assert_eq!(
            segments("看图[img:a/b.png]回答\n[img:c.jpg]"),
            vec![
                Segment::Text("看图"),
                Segment::Image("a/b.png"),
                Segment::Text("回答\n"),
                Segment::Image("c.jpg"),
            ]
        );
        assert_eq!(
            segments("[img:] [img:x"),
            vec![Segment::Text("[img:] [img:x")]
        );
        assert_eq!(segments(""), vec![]);
        assert_eq!(image_refs("a [img:p.png] b").collect::<Vec<_>>(), ["p.png"]);
    }

    #[test]
    fn media_entries_are_checked() {
        let png = MediaFile {
            mime: "image/png".into(),
            bytes: b"\x89PNG\r\n\x1a\nrest".to_vec(),
        };
        assert_eq!(check_media("items/images/a.png", &png), Ok(()));
        assert!(check_media("../a.png", &png).is_err());
        assert!(check_media("/a.png", &png).is_err());
        assert!(check_media("a.jpg", &png).is_err());
        let fake = MediaFile {
            mime: "image/png".into(),
            bytes: b"GIF89a".to_vec(),
        };
        assert!(check_media("a.png", &fake).is_err());
        let svg = MediaFile {
            mime: "image/svg+xml".into(),
            bytes: b"<svg/>".to_vec(),
        };
        assert!(check_media("a.svg", &svg).is_err());
    }
}
