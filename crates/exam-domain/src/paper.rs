//! Papers as authored ([`Paper`]: sections of weighted items with their answer keys) and as one
//! candidate sees them ([`CandidatePaper`]: their own order, no answer keys).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::{ItemId, OptionId};
use crate::limits::{
    BLANKS_PER_ITEM_MAX, ITEM_WEIGHT_MAX, ITEMS_PER_PAPER_MAX, MEDIA_FILES_MAX,
    OPTIONS_PER_ITEM_MAX, PAPER_MEDIA_BYTES_MAX, PROMPT_BYTES_MAX, SECTIONS_MAX,
    TIME_LIMIT_SECS_MAX,
};
use crate::media::{MediaFile, check_media, image_refs};

/// A paper as the authority authored it, answer keys included. Never sent to a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paper {
    pub id: String,
    pub title: String,
    pub time_limit_secs: u32,
    pub sections: Vec<Section>,
    /// Images the items show (`[img:PATH]` in a prompt or option text), keyed by `PATH`.
    #[serde(default)]
    pub media: BTreeMap<String, MediaFile>,
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
    /// Typed blank: every accepted spelling, compared after trimming and ignoring ASCII case and
    /// full-width forms. Choice blank: the id of the correct option (exactly one).
    pub accepted: Vec<String>,
    /// Empty: the candidate types the answer. Otherwise the candidate picks one of these (an
    /// inline choice, shown as a drop-down) and the answer is the option's id.
    #[serde(default)]
    pub choices: Vec<ChoiceOption>,
}

/// What a candidate's machine receives for one blank: its options if it is a choice blank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlankBody {
    /// Empty for a typed blank.
    pub choices: Vec<ChoiceOption>,
}

impl BlankBody {
    pub fn is_choice(&self) -> bool {
        !self.choices.is_empty()
    }
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
    FillIn { blanks: Vec<BlankBody> },
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
                blanks: blanks
                    .iter()
                    .map(|b| BlankBody {
                        choices: b.choices.clone(),
                    })
                    .collect(),
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
    /// The images its items show, and no others.
    #[serde(default)]
    pub media: BTreeMap<String, MediaFile>,
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

impl CandidateItem {
    /// Every text the candidate sees: the prompt and each option's text.
    pub fn texts(&self) -> Vec<&str> {
        let mut texts = vec![self.prompt.as_str()];
        match &self.body {
            ItemBody::SingleChoice { options } | ItemBody::MultipleChoice { options } => {
                texts.extend(options.iter().map(|o| o.text.as_str()));
            }
            ItemBody::FillIn { blanks } => {
                texts.extend(
                    blanks
                        .iter()
                        .flat_map(|b| b.choices.iter().map(|o| o.text.as_str())),
                );
            }
            ItemBody::TrueFalse | ItemBody::ShortAnswer => {}
        }
        texts
    }
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
    #[error("image {path}: {problem}")]
    Media { path: String, problem: String },
    #[error(
        "the paper has {files} images of {bytes} bytes; at most {MEDIA_FILES_MAX} images of {PAPER_MEDIA_BYTES_MAX} bytes in total are allowed"
    )]
    TooMuchMedia { files: usize, bytes: usize },
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

    /// Checks every limit, that every key refers to an existing option and that every image an
    /// item shows is in [`Paper::media`].
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
        let bytes: usize = self.media.values().map(|m| m.bytes.len()).sum();
        if self.media.len() > MEDIA_FILES_MAX || bytes > PAPER_MEDIA_BYTES_MAX {
            return Err(PaperError::TooMuchMedia {
                files: self.media.len(),
                bytes,
            });
        }
        for (path, file) in &self.media {
            check_media(path, file).map_err(|problem| PaperError::Media {
                path: path.clone(),
                problem,
            })?;
        }
        let mut seen = BTreeSet::new();
        for item in self.items() {
            if !seen.insert(&item.id) {
                return Err(PaperError::DuplicateItem(item.id.clone()));
            }
            item.validate(&self.media)
                .map_err(|problem| PaperError::Item {
                    item: item.id.clone(),
                    problem,
                })?;
        }
        Ok(())
    }
}

impl Item {
    /// Every text the candidate sees: the prompt and each option's text.
    pub fn texts(&self) -> Vec<&str> {
        let mut texts = vec![self.prompt.as_str()];
        match &self.kind {
            ItemKind::SingleChoice { options, .. } | ItemKind::MultipleChoice { options, .. } => {
                texts.extend(options.iter().map(|o| o.text.as_str()));
            }
            ItemKind::FillIn { blanks } => {
                texts.extend(
                    blanks
                        .iter()
                        .flat_map(|b| b.choices.iter().map(|o| o.text.as_str())),
                );
            }
            ItemKind::TrueFalse { .. } | ItemKind::ShortAnswer { .. } => {}
        }
        texts
    }

    fn validate(&self, media: &BTreeMap<String, MediaFile>) -> Result<(), String> {
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
        let kind: Result<(), String> = match &self.kind {
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
                for (k, blank) in blanks.iter().enumerate() {
                    let number = k + 1;
                    if blank.choices.is_empty() {
                        if blank.accepted.iter().all(|a| a.trim().is_empty()) {
                            return Err(format!("blank {number} has no accepted answer"));
                        }
                        continue;
                    }
                    check_options(&blank.choices).map_err(|e| format!("blank {number}: {e}"))?;
                    if blank
                        .choices
                        .iter()
                        .any(|o| o.text.trim().is_empty() || o.text.contains('\n'))
                    {
                        return Err(format!(
                            "blank {number}: an option is empty or has more than one line"
                        ));
                    }
                    match blank.accepted.as_slice() {
                        [id] if blank.choices.iter().any(|o| o.id.as_str() == id) => {}
                        _ => {
                            return Err(format!(
                                "blank {number}: the key must be exactly one of its options"
                            ));
                        }
                    }
                }
                Ok(())
            }
            ItemKind::ShortAnswer { .. } => Ok(()),
        };
        kind?;
        for text in self.texts() {
            if let Some(path) = image_refs(text).find(|p| !media.contains_key(*p)) {
                return Err(format!(
                    "it shows image {path}, which the paper does not carry"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo;
    use crate::shuffle::candidate_paper;

    fn opt(id: &str, text: &str) -> ChoiceOption {
        ChoiceOption {
            id: OptionId::parse(id).expect("valid"),
            text: text.into(),
        }
    }

    fn png() -> MediaFile {
        MediaFile {
            mime: "image/png".into(),
            bytes: b"\x89PNG\r\n\x1a\n....".to_vec(),
        }
    }

    /// The small paper with its fill-in item turned into a typed and a choice blank under an image.
    fn paper_with_inline_choice_and_image() -> Paper {
        let mut paper = demo::small_paper();
        let item = &mut paper.sections[1].items[0];
        item.prompt = "[img:images/a.png]\n电压____V，选____".into();
        item.kind = ItemKind::FillIn {
            blanks: vec![
                Blank {
                    accepted: vec!["36".into()],
                    choices: vec![],
                },
                Blank {
                    accepted: vec!["Y".into()],
                    choices: vec![opt("G", "甲"), opt("L", "乙"), opt("Y", "丙")],
                },
            ],
        };
        paper.media.insert("images/a.png".into(), png());
        paper.media.insert("images/unused.png".into(), png());
        paper
    }

    #[test]
    fn images_and_choice_blanks_are_validated() {
        let paper = paper_with_inline_choice_and_image();
        assert_eq!(paper.validate(), Ok(()));

        let mut missing = paper.clone();
        missing.media.remove("images/a.png");
        assert!(
            matches!(missing.validate(), Err(PaperError::Item { problem, .. }) if problem.contains("images/a.png"))
        );

        let mut gif = paper.clone();
        gif.media.insert(
            "images/a.gif".into(),
            MediaFile {
                mime: "image/gif".into(),
                bytes: b"GIF89a".to_vec(),
            },
        );
        assert!(matches!(gif.validate(), Err(PaperError::Media { .. })));

        let mut bad_key = paper.clone();
        if let ItemKind::FillIn { blanks } = &mut bad_key.sections[1].items[0].kind {
            blanks[1].accepted = vec!["Q".into()];
        }
        assert!(matches!(bad_key.validate(), Err(PaperError::Item { .. })));

        let mut big = paper;
        let mut bytes = png().bytes;
        bytes.resize(crate::limits::MEDIA_BYTES_MAX, 0);
        for n in 0..4 {
            big.media.insert(
                format!("images/big{n}.png"),
                MediaFile {
                    mime: "image/png".into(),
                    bytes: bytes.clone(),
                },
            );
        }
        assert!(matches!(
            big.validate(),
            Err(PaperError::TooMuchMedia { .. })
        ));
    }

    #[test]
    fn the_candidate_paper_carries_options_of_choice_blanks_and_only_shown_images() {
        let paper = paper_with_inline_choice_and_image();
        let candidate = candidate_paper(&paper, 7);
        assert_eq!(candidate.media.keys().collect::<Vec<_>>(), ["images/a.png"]);
        let item = candidate
            .items()
            .find(|i| i.id.as_str() == "fi1")
            .expect("fill-in");
        let ItemBody::FillIn { blanks } = &item.body else {
            panic!("fill-in")
        };
        assert!(!blanks[0].is_choice());
        let mut ids: Vec<&str> = blanks[1].choices.iter().map(|o| o.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["G", "L", "Y"]);
    }

    #[test]
    fn papers_stored_before_media_and_choice_blanks_still_load() {
        let mut old = serde_json::to_value(demo::small_paper()).expect("json");
        old.as_object_mut().expect("object").remove("media");
        let fill_in = &mut old["sections"][1]["items"][0]["kind"]["blanks"][0];
        fill_in.as_object_mut().expect("blank").remove("choices");
        let paper: Paper = serde_json::from_value(old).expect("loads");
        assert_eq!(paper, demo::small_paper());
    }
}
