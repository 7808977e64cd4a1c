//! A candidate's response to one item, checked against the item before it is accepted.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::OptionId;
use crate::limits::{BLANK_ANSWER_CHARS_MAX, ESSAY_CHARS_MAX};
use crate::paper::ItemBody;

/// What a candidate answered. `Cleared` withdraws an earlier answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    TrueFalse(bool),
    /// Single and multiple choice: the chosen option ids, in id order.
    Choices(BTreeSet<OptionId>),
    /// Fill-in: one text per blank, in blank order; for a choice blank, the chosen option's id
    /// (empty while none is chosen).
    Blanks(Vec<String>),
    Essay(String),
    Cleared,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("this kind of answer does not fit this item")]
    WrongKind,
    #[error("option {0} is not one of this item's options")]
    UnknownOption(OptionId),
    #[error("a single-choice item takes exactly one option")]
    NotSingle,
    #[error("this item has {expected} blanks, the answer has {got}")]
    BlankCount { expected: u8, got: usize },
    #[error("the answer to blank {blank} is not one of its options")]
    NotAnOption { blank: usize },
    #[error("an answer is longer than allowed ({0} characters)")]
    TooLong(usize),
}

impl Response {
    /// Checks that the response fits the item: right kind, known options, bounded text.
    pub fn check(&self, body: &ItemBody) -> Result<(), ResponseError> {
        match (self, body) {
            (Response::Cleared, _) | (Response::TrueFalse(_), ItemBody::TrueFalse) => Ok(()),
            (Response::Choices(chosen), ItemBody::SingleChoice { options })
            | (Response::Choices(chosen), ItemBody::MultipleChoice { options }) => {
                if matches!(body, ItemBody::SingleChoice { .. }) && chosen.len() != 1 {
                    return Err(ResponseError::NotSingle);
                }
                if let Some(bad) = chosen.iter().find(|c| !options.iter().any(|o| &o.id == *c)) {
                    return Err(ResponseError::UnknownOption(bad.clone()));
                }
                Ok(())
            }
            (Response::Blanks(texts), ItemBody::FillIn { blanks }) => {
                if texts.len() != blanks.len() {
                    return Err(ResponseError::BlankCount {
                        expected: u8::try_from(blanks.len()).unwrap_or(u8::MAX),
                        got: texts.len(),
                    });
                }
                if texts
                    .iter()
                    .any(|t| t.chars().count() > BLANK_ANSWER_CHARS_MAX)
                {
                    return Err(ResponseError::TooLong(BLANK_ANSWER_CHARS_MAX));
                }
                // A choice blank takes one of its option ids, or nothing yet.
                for (k, (text, blank)) in texts.iter().zip(blanks).enumerate() {
                    if blank.is_choice()
                        && !text.is_empty()
                        && !blank.choices.iter().any(|o| o.id.as_str() == text)
                    {
                        return Err(ResponseError::NotAnOption { blank: k + 1 });
                    }
                }
                Ok(())
            }
            (Response::Essay(text), ItemBody::ShortAnswer) => {
                if text.chars().count() > ESSAY_CHARS_MAX {
                    return Err(ResponseError::TooLong(ESSAY_CHARS_MAX));
                }
                Ok(())
            }
            _ => Err(ResponseError::WrongKind),
        }
    }

    /// Whether this counts as answered (for the navigation grid and the unanswered list).
    pub fn is_answered(&self) -> bool {
        match self {
            Response::TrueFalse(_) => true,
            Response::Choices(c) => !c.is_empty(),
            Response::Blanks(b) => b.iter().any(|t| !t.trim().is_empty()),
            Response::Essay(t) => !t.trim().is_empty(),
            Response::Cleared => false,
        }
    }
}
