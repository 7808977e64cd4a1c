//! Papers as authored ([`Paper`]: sections of weighted items with their answer keys) and as one
//! candidate sees them ([`CandidatePaper`]: their own order, no answer keys).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::{ItemId, OptionId};
use crate::limits::{
    BLANKS_PER_ITEM_MAX, ITEM_WEIGHT_MAX, ITEMS_PER_PAPER_MAX, OPTIONS_PER_ITEM_MAX,
    PROMPT_BYTES_MAX, SECTIONS_MAX, TIME_LIMIT_SECS_MAX,
};

/// A paper as the authority authored it, answer keys included. Never sent to a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paper {
    pub id: String,
    pub title: String,
    pub time_limit_secs: u32,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub items: Vec<Item>,
}

/// One item: what the candidate sees ([`ItemBody`] via [`Item::body`]) and the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: ItemId,
    /// Points for a fully correct response.
    pub weight: u32,
    pub prompt: String,
    pub kind: ItemKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub id: OptionId,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blank {
    /// Every accepted spelling; compared after trimming and ignoring ASCII case and full-width forms.
    pub accepted: Vec<String>,
}

/// The item types and their answer keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ItemKind {
    TrueFalse {
        correct: bool,
    },
    SingleChoice {
        options: Vec<ChoiceOption>,
        correct: OptionId,
    },
    /// Scored all-or-nothing: every correct option and no other.
    MultipleChoice {
        options: Vec<ChoiceOption>,
        correct: BTreeSet<OptionId>,
    },
    /// The prompt marks each blank with `____`.
    FillIn {
        blanks: Vec<Blank>,
    },
    /// Kept for a person to score; `reference` guides the marker.
    ShortAnswer {
        reference: String,
    },
}

/// What a candidate's machine receives for one item: no key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemBody {
    TrueFalse,
    SingleChoice { options: Vec<ChoiceOption> },
    MultipleChoice { options: Vec<ChoiceOption> },
    FillIn { blanks: u8 },
    ShortAnswer,
}

/// The answer key half of an item, used by scoring.
pub type AnswerKey = ItemKind;

impl Item {
    /// The item as a candidate may see it, options in authored order.
    pub fn body(&self) -> ItemBody {
        match &self.kind {
            ItemKind::TrueFalse { .. } => ItemBody::TrueFalse,
            ItemKind::SingleChoice { options, .. } => ItemBody::SingleChoice {
                options: options.clone(),
            },
            ItemKind::MultipleChoice { options, .. } => ItemBody::MultipleChoice {
                options: options.clone(),
            },
            ItemKind::FillIn { blanks } => ItemBody::FillIn {
                blanks: blanks.len() as u8,
            },
            ItemKind::ShortAnswer { .. } => ItemBody::ShortAnswer,
        }
    }
}

/// One candidate's paper: their own order of sections' items and options, no answer keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidatePaper {
    pub paper_id: String,
    pub title: String,
    pub time_limit_secs: u32,
    pub sections: Vec<CandidateSection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateSection {
    pub title: String,
    pub items: Vec<CandidateItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateItem {
    pub id: ItemId,
    pub weight: u32,
    pub prompt: String,
    pub body: ItemBody,
}

impl CandidatePaper {
    /// Items in the order the candidate sees them, numbered from 1 across sections.
    pub fn items(&self) -> impl Iterator<Item = &CandidateItem> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }

    pub fn item_count(&self) -> usize {
        self.sections.iter().map(|s| s.items.len()).sum()
    }
}

/// Why a paper was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaperError {
    #[error("the paper has no items")]
    Empty,
    #[error("the paper has {0} sections; at most {SECTIONS_MAX} are allowed")]
    TooManySections(usize),
    #[error("the paper has {0} items; at most {ITEMS_PER_PAPER_MAX} are allowed")]
    TooManyItems(usize),
    #[error("the time limit {0} s is not between 60 s and {TIME_LIMIT_SECS_MAX} s")]
    TimeLimit(u32),
    #[error("item {0} appears more than once")]
    DuplicateItem(ItemId),
    #[error("item {item}: {problem}")]
    Item { item: ItemId, problem: String },
}

impl Paper {
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }

    pub fn item(&self, id: &ItemId) -> Option<&Item> {
        self.items().find(|i| &i.id == id)
    }

    /// Highest possible score, in points.
    pub fn max_points(&self) -> u32 {
        self.items().map(|i| i.weight).sum()
    }

    /// Checks every limit and that every key refers to an existing option.
    pub fn validate(&self) -> Result<(), PaperError> {
        if self.sections.len() > SECTIONS_MAX {
            return Err(PaperError::TooManySections(self.sections.len()));
        }
        let count = self.items().count();
        if count == 0 {
            return Err(PaperError::Empty);
        }
        if count > ITEMS_PER_PAPER_MAX {
            return Err(PaperError::TooManyItems(count));
        }
        if !(60..=TIME_LIMIT_SECS_MAX).contains(&self.time_limit_secs) {
            return Err(PaperError::TimeLimit(self.time_limit_secs));
        }
        let mut seen = BTreeSet::new();
        for item in self.items() {
            if !seen.insert(&item.id) {
                return Err(PaperError::DuplicateItem(item.id.clone()));
            }
            item.validate().map_err(|problem| PaperError::Item {
                item: item.id.clone(),
                problem,
            })?;
        }
        Ok(())
    }
}

impl Item {
    fn validate(&self) -> Result<(), String> {
        if self.weight == 0 || self.weight > ITEM_WEIGHT_MAX {
            return Err(format!(
                "weight {} is not between 1 and {ITEM_WEIGHT_MAX}",
                self.weight
            ));
        }
        if self.prompt.trim().is_empty() || self.prompt.len() > PROMPT_BYTES_MAX {
            return Err(format!(
                "the prompt is empty or longer than {PROMPT_BYTES_MAX} bytes"
            ));
        }
        let check_options = |options: &[ChoiceOption]| -> Result<(), String> {
            if options.len() < 2 || options.len() > OPTIONS_PER_ITEM_MAX {
                return Err(format!(
                    "{} options; 2 to {OPTIONS_PER_ITEM_MAX} are allowed",
                    options.len()
                ));
            }
            let ids: BTreeSet<_> = options.iter().map(|o| &o.id).collect();
            if ids.len() != options.len() {
                return Err("two options share an id".into());
            }
            if options.iter().any(|o| o.text.len() > PROMPT_BYTES_MAX) {
                return Err("an option text is too long".into());
            }
            Ok(())
        };
        match &self.kind {
            ItemKind::TrueFalse { .. } => Ok(()),
            ItemKind::SingleChoice { options, correct } => {
                check_options(options)?;
                if !options.iter().any(|o| &o.id == correct) {
                    return Err(format!(
                        "the correct option {correct} is not among the options"
                    ));
                }
                Ok(())
            }
            ItemKind::MultipleChoice { options, correct } => {
                check_options(options)?;
                if correct.is_empty() {
                    return Err("no correct option".into());
                }
                if let Some(c) = correct
                    .iter()
                    .find(|c| !options.iter().any(|o| &o.id == *c))
                {
                    return Err(format!("the correct option {c} is not among the options"));
                }
                Ok(())
            }
            ItemKind::FillIn { blanks } => {
                if blanks.is_empty() || blanks.len() > BLANKS_PER_ITEM_MAX {
                    return Err(format!(
                        "{} blanks; 1 to {BLANKS_PER_ITEM_MAX} are allowed",
                        blanks.len()
                    ));
                }
                if blanks
                    .iter()
                    .any(|b| b.accepted.iter().all(|a| a.trim().is_empty()))
                {
                    return Err("a blank has no accepted answer".into());
                }
                Ok(())
            }
            ItemKind::ShortAnswer { .. } => Ok(()),
        }
    }
}
