//! Every named limit of the domain. Anything a person or a machine sends is bounded by one of these.

/// Longest admission number, in characters.
pub const ADMISSION_NO_CHARS_MAX: usize = 32;
/// Longest item or option id, in bytes.
pub const ITEM_ID_BYTES_MAX: usize = 64;
/// Most sections in one paper.
pub const SECTIONS_MAX: usize = 50;
/// Most items in one paper.
pub const ITEMS_PER_PAPER_MAX: usize = 1_000;
/// Most options of one choice item.
pub const OPTIONS_PER_ITEM_MAX: usize = 12;
/// Most blanks of one fill-in item.
pub const BLANKS_PER_ITEM_MAX: usize = 10;
/// Longest prompt or option text, in bytes.
pub const PROMPT_BYTES_MAX: usize = 16 * 1024;
/// Longest text of one fill-in blank answer, in characters.
pub const BLANK_ANSWER_CHARS_MAX: usize = 200;
/// Longest short-answer response, in characters.
pub const ESSAY_CHARS_MAX: usize = 5_000;
/// Longest paper time limit: 8 hours.
pub const TIME_LIMIT_SECS_MAX: u32 = 8 * 3600;
/// Highest weight of one item, in points.
pub const ITEM_WEIGHT_MAX: u32 = 100;
/// Largest image file of a paper, in bytes.
pub const MEDIA_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Most image bytes of one paper in total. A candidate's paper, images included, travels in one
/// frame of at most 8 MiB (`exam_protocol::frame::FRAME_BYTES_MAX`); this leaves room for the text.
pub const PAPER_MEDIA_BYTES_MAX: usize = 6 * 1024 * 1024;
/// Most image files of one paper.
pub const MEDIA_FILES_MAX: usize = 200;
/// Longest media path, in bytes.
pub const MEDIA_PATH_BYTES_MAX: usize = 256;
/// Image types a paper may carry: the ones the candidate's machine decodes.
pub const MEDIA_MIME_TYPES: &[&str] = &["image/png", "image/jpeg"];
