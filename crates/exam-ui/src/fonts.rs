//! Finding and installing a CJK font. egui's built-in fonts have no Chinese glyphs, so every
//! application calls [`install_cjk_font`] once at start-up.
//!
//! The search: the path in [`FONT_ENV_VAR`] (`/path/to/font.ttc[:face-index]`) when it is set, and
//! only that; otherwise the first usable file of [`KNOWN_CJK_FONTS`]. The font goes first in the
//! proportional and monospace families. A bold face found next to it (Noto Sans CJK Bold or
//! Medium) becomes the [`bold_family`]; without one, that family falls back to the regular face, so
//! it is always safe to use.
//!
//! This is the only module of `exam-ui` that touches the disk: it reads one or two font files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use egui::{FontData, FontDefinitions, FontFamily};

/// Environment variable that names the font to use: `/path/to/font.ttc` or `/path/to/font.ttc:2`.
pub const FONT_ENV_VAR: &str = "EXAM_CJK_FONT";
/// Largest font file we agree to read (Noto Serif CJK, the largest common one, is 27 MB).
pub const FONT_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// What to tell an administrator when no font is found.
pub const INSTALL_HINT: &str = "apt-get install fonts-noto-cjk";

const REGULAR_NAME: &str = "exam-cjk";
const BOLD_NAME: &str = "exam-cjk-bold";
const BOLD_FAMILY: &str = "exam-bold";

/// A font file and the face to use inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontSource {
    pub path: PathBuf,
    /// Face index inside a `.ttc` collection; `0` for a plain `.ttf`/`.otf`.
    pub index: u32,
}

impl fmt::Display for FontSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (face {})", self.path.display(), self.index)
    }
}

/// A known system font location and its Simplified Chinese face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownFont {
    pub path: &'static str,
    pub index: u32,
    /// A bold companion of the same design, used for headings when present.
    pub bold: Option<(&'static str, u32)>,
}

/// Where Debian/Ubuntu packages put CJK fonts, best first. In the Noto CJK collections face 2
/// is Simplified Chinese (0 Japanese, 1 Korean, 3 Traditional Chinese, 4 Hong Kong).
pub const KNOWN_CJK_FONTS: &[KnownFont] = &[
    KnownFont {
        path: "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        index: 2,
        bold: Some(("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2)),
    },
    KnownFont {
        path: "/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc",
        index: 2,
        bold: Some(("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2)),
    },
    KnownFont {
        path: "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
        index: 2,
        bold: None,
    },
    KnownFont {
        path: "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        index: 0,
        bold: None,
    },
    KnownFont {
        path: "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
        index: 0,
        bold: None,
    },
    KnownFont {
        path: "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
        index: 0,
        bold: None,
    },
];

/// Why no CJK font could be installed. Every message says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FontError {
    /// No known font file exists and no override is set.
    NotFound { searched: Vec<PathBuf> },
    /// A font file exists but could not be used.
    Unusable {
        source: FontSource,
        problem: FontProblem,
    },
}

/// What is wrong with one font file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FontProblem {
    Unreadable(String),
    TooLarge { bytes: u64 },
    NotAFont,
    NoSuchFace { faces: u32 },
}

impl fmt::Display for FontProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FontProblem::Unreadable(e) => write!(f, "cannot be read: {e}"),
            FontProblem::TooLarge { bytes } => {
                write!(
                    f,
                    "is {bytes} bytes, larger than the {FONT_FILE_BYTES_MAX} bytes allowed"
                )
            }
            FontProblem::NotAFont => f.write_str("is not a TrueType/OpenType font or collection"),
            FontProblem::NoSuchFace { faces } => {
                write!(f, "has only {faces} face(s); pick an index below {faces}")
            }
        }
    }
}

impl fmt::Display for FontError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FontError::NotFound { searched } => {
                write!(f, "no Chinese font found (searched ")?;
                for (i, p) in searched.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{}", p.display())?;
                }
                write!(
                    f,
                    "); install one with `{INSTALL_HINT}` or set {FONT_ENV_VAR}=/path/font.ttc:index"
                )
            }
            FontError::Unusable { source, problem } => write!(
                f,
                "the font {source} {problem}; fix {FONT_ENV_VAR} or install one with `{INSTALL_HINT}`"
            ),
        }
    }
}

impl std::error::Error for FontError {}

/// Parses the value of [`FONT_ENV_VAR`]: a path, optionally followed by `:index`. A suffix that is
/// not a number is part of the path.
pub fn parse_override(value: &str) -> FontSource {
    if let Some((path, index)) = value.rsplit_once(':')
        && let Ok(index) = index.trim().parse::<u32>()
        && !path.is_empty()
    {
        return FontSource {
            path: PathBuf::from(path),
            index,
        };
    }
    FontSource {
        path: PathBuf::from(value),
        index: 0,
    }
}

/// Checks the header of a font file: a single TrueType/OpenType font (only face 0) or a `ttcf`
/// collection holding face `index`. egui would otherwise fail on the first glyph.
pub fn check_font_bytes(bytes: &[u8], index: u32) -> Result<(), FontProblem> {
    let Some(tag) = bytes.get(0..4) else {
        return Err(FontProblem::NotAFont);
    };
    match tag {
        b"ttcf" => {
            let Some(count) = bytes.get(8..12) else {
                return Err(FontProblem::NotAFont);
            };
            let faces = u32::from_be_bytes([count[0], count[1], count[2], count[3]]);
            if index < faces {
                Ok(())
            } else {
                Err(FontProblem::NoSuchFace { faces })
            }
        }
        [0, 1, 0, 0] | b"OTTO" | b"true" => {
            if index == 0 {
                Ok(())
            } else {
                Err(FontProblem::NoSuchFace { faces: 1 })
            }
        }
        _ => Err(FontProblem::NotAFont),
    }
}

/// Reads and checks one font file.
pub fn load_font(source: &FontSource) -> Result<FontData, FontError> {
    let unusable = |problem| FontError::Unusable {
        source: source.clone(),
        problem,
    };
    let bytes_len = std::fs::metadata(&source.path)
        .map_err(|e| unusable(FontProblem::Unreadable(e.to_string())))?
        .len();
    if bytes_len > FONT_FILE_BYTES_MAX {
        return Err(unusable(FontProblem::TooLarge { bytes: bytes_len }));
    }
    let bytes = std::fs::read(&source.path)
        .map_err(|e| unusable(FontProblem::Unreadable(e.to_string())))?;
    check_font_bytes(&bytes, source.index).map_err(unusable)?;
    Ok(FontData::from_blob(Arc::new(bytes), source.index))
}

/// A font ready to install: the regular face and, when found, a bold one.
pub struct CjkFonts {
    pub regular: (FontSource, FontData),
    pub bold: Option<(FontSource, FontData)>,
}

impl fmt::Debug for CjkFonts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CjkFonts")
            .field("regular", &self.regular.0)
            .field("bold", &self.bold.as_ref().map(|b| &b.0))
            .finish()
    }
}

/// Finds a CJK font: the [`FONT_ENV_VAR`] override if set, else the first usable known one.
pub fn find_cjk_fonts() -> Result<CjkFonts, FontError> {
    if let Ok(value) = std::env::var(FONT_ENV_VAR)
        && !value.trim().is_empty()
    {
        let source = parse_override(value.trim());
        let data = load_font(&source)?;
        return Ok(CjkFonts {
            regular: (source, data),
            bold: None,
        });
    }
    find_known(KNOWN_CJK_FONTS)
}

fn find_known(known: &[KnownFont]) -> Result<CjkFonts, FontError> {
    let mut first_problem = None;
    for font in known {
        if !Path::new(font.path).exists() {
            continue;
        }
        let source = FontSource {
            path: PathBuf::from(font.path),
            index: font.index,
        };
        match load_font(&source) {
            Ok(data) => {
                let bold = font.bold.and_then(|(path, index)| {
                    let source = FontSource {
                        path: PathBuf::from(path),
                        index,
                    };
                    load_font(&source).ok().map(|data| (source, data))
                });
                return Ok(CjkFonts {
                    regular: (source, data),
                    bold,
                });
            }
            Err(e) => {
                first_problem.get_or_insert(e);
            }
        }
    }
    Err(first_problem.unwrap_or_else(|| FontError::NotFound {
        searched: known.iter().map(|f| PathBuf::from(f.path)).collect(),
    }))
}

/// The family for headings and the timer: the bold CJK face when one was found, else the regular.
pub fn bold_family() -> FontFamily {
    FontFamily::Name(BOLD_FAMILY.into())
}

/// Font definitions with the CJK font first in every family. Without a CJK font (`None`) the
/// [`bold_family`] still exists, so screens never ask for a missing family.
pub fn definitions(fonts: Option<CjkFonts>) -> FontDefinitions {
    let mut defs = FontDefinitions::default();
    let proportional = defs
        .families
        .get(&FontFamily::Proportional)
        .cloned()
        .unwrap_or_default();
    let mut bold = proportional.clone();
    if let Some(CjkFonts {
        regular,
        bold: bold_face,
    }) = fonts
    {
        defs.font_data
            .insert(REGULAR_NAME.into(), Arc::new(regular.1));
        for family in [FontFamily::Proportional, FontFamily::Monospace] {
            defs.families
                .entry(family)
                .or_default()
                .insert(0, REGULAR_NAME.into());
        }
        bold.insert(0, REGULAR_NAME.into());
        if let Some((_, data)) = bold_face {
            defs.font_data.insert(BOLD_NAME.into(), Arc::new(data));
            bold.insert(0, BOLD_NAME.into());
        }
    }
    defs.families.insert(bold_family(), bold);
    defs
}

/// Finds and installs a CJK font into `ctx`. On error the default fonts (and the
/// [`bold_family`]) are installed anyway, so the application can start and show the error.
pub fn install_cjk_font(ctx: &egui::Context) -> Result<FontSource, FontError> {
    match find_cjk_fonts() {
        Ok(fonts) => {
            let source = fonts.regular.0.clone();
            ctx.set_fonts(definitions(Some(fonts)));
            Ok(source)
        }
        Err(e) => {
            ctx.set_fonts(definitions(None));
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_with_and_without_index() {
        assert_eq!(
            parse_override("/x/NotoSansCJK-Regular.ttc:2"),
            FontSource {
                path: "/x/NotoSansCJK-Regular.ttc".into(),
                index: 2
            }
        );
        assert_eq!(
            parse_override("/x/a.ttf"),
            FontSource {
                path: "/x/a.ttf".into(),
                index: 0
            }
        );
        assert_eq!(parse_override("C:/fonts/a:b.ttf").index, 0);
    }

    #[test]
    fn font_headers_are_checked() {
        let mut ttc = b"ttcf\0\x02\0\0\0\0\0\x05".to_vec();
        ttc.extend_from_slice(&[0; 20]);
        assert_eq!(check_font_bytes(&ttc, 2), Ok(()));
        assert_eq!(
            check_font_bytes(&ttc, 5),
            Err(FontProblem::NoSuchFace { faces: 5 })
        );
        assert_eq!(check_font_bytes(b"\0\x01\0\0rest", 0), Ok(()));
        assert_eq!(
            check_font_bytes(b"\0\x01\0\0rest", 1),
            Err(FontProblem::NoSuchFace { faces: 1 })
        );
        assert_eq!(check_font_bytes(b"<html>", 0), Err(FontProblem::NotAFont));
        assert_eq!(check_font_bytes(b"tt", 0), Err(FontProblem::NotAFont));
    }

    #[test]
    fn missing_fonts_name_the_package() {
        let known = [KnownFont {
            path: "/nonexistent/font.ttc",
            index: 2,
            bold: None,
        }];
        let err = find_known(&known).expect_err("no font there");
        assert!(matches!(err, FontError::NotFound { .. }));
        assert!(
            err.to_string().contains("apt-get install fonts-noto-cjk"),
            "{err}"
        );
    }

    #[test]
    fn bold_family_always_exists() {
        let defs = definitions(None);
        assert!(defs.families.contains_key(&bold_family()));
    }
}
