//! Checks of the short texts clerks type on the command line: codes, names, reasons and who did
//! something. Each refusal says what was wrong and what to write instead.

/// Longest site or room code, in characters.
pub const CODE_CHARS_MAX: usize = 32;
/// Longest plan or session id, in characters.
pub const ID_CHARS_MAX: usize = 64;
/// Longest name of a site, a room or a person, and longest plan title, in characters.
pub const NAME_CHARS_MAX: usize = 100;
/// Longest address, certificate category or work type, in characters.
pub const TEXT_CHARS_MAX: usize = 200;
/// Longest reason (unlock, ban, disabling a room or seat, moving a seat), in characters.
pub const REASON_CHARS_MAX: usize = 500;
/// Most rooms listed in `--rooms`.
pub const ROOMS_PER_SESSION_MAX: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TextError(pub String);

/// A site or room code: letters, digits and `-`, at most [`CODE_CHARS_MAX`].
pub fn code(text: &str, what_zh: &str, what_en: &str) -> Result<String, TextError> {
    let t = text.trim();
    if t.is_empty()
        || t.chars().count() > CODE_CHARS_MAX
        || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(TextError(format!(
            "{what_zh}“{t}”不可用：只能包含字母、数字和“-”，最多 {CODE_CHARS_MAX} 个 / the {what_en} “{t}” cannot be used: write letters, digits and '-' only, at most {CODE_CHARS_MAX}"
        )));
    }
    Ok(t.to_owned())
}

/// A plan or session id: letters, digits, `-` and `_`, at most [`ID_CHARS_MAX`].
pub fn id(text: &str, what_zh: &str, what_en: &str) -> Result<String, TextError> {
    let t = text.trim();
    if t.is_empty()
        || t.chars().count() > ID_CHARS_MAX
        || !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(TextError(format!(
            "{what_zh}只能包含字母、数字、“-”和“_”（最多 {ID_CHARS_MAX} 个） / a {what_en} may contain only letters, digits, '-' and '_' (at most {ID_CHARS_MAX})"
        )));
    }
    Ok(t.to_owned())
}

/// A required free text of at most `max` characters, trimmed.
pub fn text(text: &str, max: usize, what_zh: &str, what_en: &str) -> Result<String, TextError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(TextError(format!(
            "{what_zh}不能为空，请填写 / the {what_en} is empty: write it"
        )));
    }
    if t.chars().count() > max {
        return Err(TextError(format!(
            "{what_zh}过长（最多 {max} 个字），请缩短 / the {what_en} is longer than {max} characters: shorten it"
        )));
    }
    Ok(t.to_owned())
}

/// Who did something (`--by`).
pub fn who(by: &str) -> Result<String, TextError> {
    text(by, NAME_CHARS_MAX, "操作人（--by）", "name after --by")
}

/// Why something was done (`--reason`).
pub fn reason(reason: &str) -> Result<String, TextError> {
    text(
        reason,
        REASON_CHARS_MAX,
        "原因（--reason）",
        "reason after --reason",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_ids_and_texts() {
        assert_eq!(code(" BJ-01 ", "考点代码", "site code"), Ok("BJ-01".into()));
        assert!(code("BJ_01", "考点代码", "site code").is_err());
        assert!(code(&"A".repeat(33), "考点代码", "site code").is_err());
        assert!(id("2026-12_A", "计划编号", "plan id").is_ok());
        assert!(id("计划", "计划编号", "plan id").is_err());
        assert!(who("  ").is_err());
        assert!(reason(&"很".repeat(501)).is_err());
        assert_eq!(reason(" 停电 "), Ok("停电".into()));
    }
}
