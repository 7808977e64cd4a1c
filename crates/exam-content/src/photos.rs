//! Candidate photo archives: a zip of `<ID number>.jpg|.jpeg|.png` files (any folder, any
//! letter case), matched against the roster's ID numbers.
//!
//! Read first: [`import`], [`PhotoReport`]. The zip is read through [`crate::archive`] (bounded,
//! unsafe paths refused); each photo is checked by its content (decoded with `image`, never
//! trusted from the name), at most [`PHOTO_BYTES_MAX`]; the expected size is
//! [`EXPECTED_WIDTH`]×[`EXPECTED_HEIGHT`] (other sizes are accepted with a warning). Nothing
//! here panics on input.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;

use serde::Serialize;

use crate::archive::{Archive, ArchiveError};
use crate::roster::normalise_id_text;

/// Largest photo, in bytes.
pub const PHOTO_BYTES_MAX: u64 = 5 * 1024 * 1024;
/// Largest photo archive, in bytes.
pub const ARCHIVE_BYTES_MAX: u64 = 1024 * 1024 * 1024;
/// The one-inch standard photo, in pixels.
pub const EXPECTED_WIDTH: u32 = 295;
pub const EXPECTED_HEIGHT: u32 = 413;
/// Largest width or height decoded; anything bigger is refused unread.
pub const DIMENSION_MAX: u32 = 4_000;

/// Why a whole archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error(
        "照片压缩包为空，请选择正确的 .zip 文件 / the photo archive is empty: choose the right .zip file"
    )]
    Empty,
    #[error(
        "照片压缩包过大（{bytes} 字节，最多 {max} 字节），请分成几个压缩包导入 / the photo archive is too large ({bytes} bytes, at most {max}): split it into several archives"
    )]
    TooLarge { bytes: u64, max: u64 },
    #[error(
        "照片压缩包无法读取或不安全，已拒绝；请重新打包为普通 .zip 文件 / the photo archive is unreadable or unsafe and was refused: pack the photos again as a plain .zip ({0})"
    )]
    Archive(#[from] ArchiveError),
}

/// A photo matched to a candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Photo {
    /// Normalised ID number of the candidate.
    pub id_number: String,
    /// The path inside the zip.
    pub file: String,
    pub format: PhotoFormat,
    pub width: u32,
    pub height: u32,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoFormat {
    Jpeg,
    Png,
}

/// An accepted photo that is not quite right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhotoWarning {
    pub file: String,
    pub message: String,
}

/// Why one file of the archive was not taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PhotoFault {
    #[error(
        "不是照片文件：只接受以证件号码命名的 .jpg、.jpeg 或 .png 文件 / not a photo file: only .jpg, .jpeg or .png files named by the ID number are taken"
    )]
    NotAPhoto,
    #[error(
        "文件名“{stem}”不是有效的证件号码，请把照片命名为“证件号码.jpg” / the file name “{stem}” is not a usable ID number: name the photo <ID number>.jpg"
    )]
    BadName { stem: String },
    #[error(
        "照片超过 {max} 字节，请压缩到 5 MB 以内 / the photo is larger than {max} bytes: reduce it below 5 MB"
    )]
    TooBig { max: u64 },
    #[error(
        "文件内容不是 JPEG 或 PNG 图片（可能已损坏或只是改了扩展名），请重新导出照片 / the content is not a JPEG or PNG image (damaged, or only renamed): export the photo again"
    )]
    BadFormat,
    #[error(
        "照片尺寸 {width}×{height} 过大（最大 {DIMENSION_MAX}），请按 295×413 像素重新导出 / the photo is {width}×{height}, larger than {DIMENSION_MAX}: export it at 295×413 pixels"
    )]
    TooManyPixels { width: u32, height: u32 },
    #[error(
        "名单中没有证件号码为 {id_number} 的考生，请核对文件名或先导入名单 / no candidate with ID number {id_number} is on the roster: check the file name or import the roster first"
    )]
    NoCandidate { id_number: String },
    #[error(
        "同一考生有多张照片，已使用“{kept}” / the candidate has more than one photo; “{kept}” was used"
    )]
    Duplicate { kept: String },
    #[error("文件无法解压：{why} / the file could not be unpacked: {why}")]
    Unreadable { why: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedFile {
    pub file: String,
    pub reason: String,
    pub fault: PhotoFault,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PhotoCounts {
    pub files: usize,
    pub accepted: usize,
    pub warnings: usize,
    pub rejected: usize,
    pub without_photo: usize,
}

/// The outcome of one photo archive.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PhotoReport {
    /// By normalised ID number.
    pub accepted: BTreeMap<String, Photo>,
    pub warnings: Vec<PhotoWarning>,
    pub rejected: Vec<RejectedFile>,
    /// Roster ID numbers (normalised) with no photo in the archive, sorted.
    pub without_photo: Vec<String>,
    pub counts: PhotoCounts,
}

impl PhotoReport {
    fn reject(&mut self, file: &str, fault: PhotoFault) {
        self.rejected.push(RejectedFile {
            file: file.to_owned(),
            reason: fault.to_string(),
            fault,
        });
    }
}

/// Imports a photo archive against the roster's ID numbers (any spelling that normalises the
/// same way, e.g. a lower-case `x`).
pub fn import<I, S>(zip_bytes: &[u8], roster_ids: I) -> Result<PhotoReport, PhotoError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    if zip_bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    let bytes_len = zip_bytes.len() as u64;
    if bytes_len > ARCHIVE_BYTES_MAX {
        return Err(PhotoError::TooLarge {
            bytes: bytes_len,
            max: ARCHIVE_BYTES_MAX,
        });
    }
    let roster: BTreeSet<String> = roster_ids
        .into_iter()
        .map(|s| normalise_id_text(s.as_ref()))
        .collect();
    let mut zip = Archive::new(Cursor::new(zip_bytes))?;
    let names: Vec<String> = zip.names().map(str::to_owned).collect();
    let mut report = PhotoReport::default();
    report.counts.files = names.len();

    for name in names {
        let file_name = name.rsplit('/').next().unwrap_or(&name);
        let Some((stem, ext)) = file_name.rsplit_once('.') else {
            report.reject(&name, PhotoFault::NotAPhoto);
            continue;
        };
        if !["jpg", "jpeg", "png"].contains(&ext.to_ascii_lowercase().as_str()) {
            report.reject(&name, PhotoFault::NotAPhoto);
            continue;
        }
        let id = normalise_id_text(stem);
        if id.is_empty() || id.len() > 30 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            report.reject(
                &name,
                PhotoFault::BadName {
                    stem: stem.chars().take(60).collect(),
                },
            );
            continue;
        }
        if !roster.contains(&id) {
            report.reject(&name, PhotoFault::NoCandidate { id_number: id });
            continue;
        }
        if let Some(kept) = report.accepted.get(&id) {
            let kept = kept.file.clone();
            report.reject(&name, PhotoFault::Duplicate { kept });
            continue;
        }
        let bytes = match zip.read(&name, PHOTO_BYTES_MAX) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(ArchiveError::EntryTooLarge { .. }) => {
                report.reject(
                    &name,
                    PhotoFault::TooBig {
                        max: PHOTO_BYTES_MAX,
                    },
                );
                continue;
            }
            Err(e @ ArchiveError::TotalTooLarge) => return Err(e.into()),
            Err(e) => {
                report.reject(&name, PhotoFault::Unreadable { why: e.to_string() });
                continue;
            }
        };
        match check_image(&bytes) {
            Ok((format, width, height)) => {
                let ext_format = if ext.eq_ignore_ascii_case("png") {
                    PhotoFormat::Png
                } else {
                    PhotoFormat::Jpeg
                };
                if ext_format != format {
                    report.warnings.push(PhotoWarning {
                        file: name.clone(),
                        message: format!(
                            "文件扩展名与内容不符（实际为 {format:?}），已按内容接受 / the extension does not match the content (really {format:?}); accepted by its content"
                        ),
                    });
                }
                if (width, height) != (EXPECTED_WIDTH, EXPECTED_HEIGHT) {
                    report.warnings.push(PhotoWarning {
                        file: name.clone(),
                        message: format!(
                            "照片尺寸为 {width}×{height}，标准为 {EXPECTED_WIDTH}×{EXPECTED_HEIGHT} 像素；已接受，建议按标准尺寸重新导出 / the photo is {width}×{height}, the standard is {EXPECTED_WIDTH}×{EXPECTED_HEIGHT} pixels; accepted, but better export it at the standard size"
                        ),
                    });
                }
                report.accepted.insert(
                    id.clone(),
                    Photo {
                        id_number: id,
                        file: name,
                        format,
                        width,
                        height,
                        bytes,
                    },
                );
            }
            Err(fault) => report.reject(&name, fault),
        }
    }
    report.without_photo = roster
        .into_iter()
        .filter(|id| !report.accepted.contains_key(id))
        .collect();
    report.counts.accepted = report.accepted.len();
    report.counts.warnings = report.warnings.len();
    report.counts.rejected = report.rejected.len();
    report.counts.without_photo = report.without_photo.len();
    Ok(report)
}

/// Format and size from the content; the whole image is decoded so a truncated file is caught.
fn check_image(bytes: &[u8]) -> Result<(PhotoFormat, u32, u32), PhotoFault> {
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| PhotoFault::BadFormat)?;
    let format = match reader.format() {
        Some(image::ImageFormat::Jpeg) => PhotoFormat::Jpeg,
        Some(image::ImageFormat::Png) => PhotoFormat::Png,
        _ => return Err(PhotoFault::BadFormat),
    };
    let (width, height) = reader
        .into_dimensions()
        .map_err(|_| PhotoFault::BadFormat)?;
    if width > DIMENSION_MAX || height > DIMENSION_MAX {
        return Err(PhotoFault::TooManyPixels { width, height });
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes));
    reader.set_format(match format {
        PhotoFormat::Jpeg => image::ImageFormat::Jpeg,
        PhotoFormat::Png => image::ImageFormat::Png,
    });
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(DIMENSION_MAX);
    limits.max_image_height = Some(DIMENSION_MAX);
    limits.max_alloc = Some(128 * 1024 * 1024);
    reader.limits(limits);
    reader.decode().map_err(|_| PhotoFault::BadFormat)?;
    Ok((format, width, height))
}
