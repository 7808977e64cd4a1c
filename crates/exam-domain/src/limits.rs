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
