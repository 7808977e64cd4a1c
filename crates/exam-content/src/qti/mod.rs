//! IMS QTI 2.1 and 3.0 content: import of content packages and single files into a rich model
//! ([`ImportReport`], [`ImportedItem`], [`ImportedTest`]), conversion of that model to the
//! platform's [`Paper`](exam_domain::Paper) ([`to_paper`]) and to an assembly rule set
//! ([`to_test_definition`]), and export of a `Paper` as a QTI 2.1 package ([`export_package`]).
//!
//! Read first: [`import_package`], [`ImportReport`], [`Problem`], [`to_paper`].
//!
//! One parser reads both versions: QTI 3.0's `qti-` prefixed kebab-case names are normalised to
//! the 2.1 camelCase names ([`xml::normalise_name`]). Supported interactions: choice, text entry,
//! extended text and inline choice. Anything else (another interaction, custom response
//! processing that is not a recognised equivalent of a standard template, a missing file,
//! malformed XML) becomes a [`Problem`] naming the file and the item; the rest is imported.
//!
//! Invariants: nothing is dropped silently (every item of the package is either in
//! [`ImportReport::items`] or named by a [`Problem`]); input never causes a panic; every size
//! is bounded by a named limit below; zip packages are read only through
//! [`crate::archive::Archive`].

mod export;
mod item;
mod package;
mod paper;
mod test;
pub mod xml;

use std::collections::BTreeMap;

use serde::Serialize;

pub use export::export_package;
pub use item::import_item_xml;
pub use package::{import_package, import_test_xml};
pub use paper::{DEFAULT_TIME_LIMIT_SECS, ToPaperError, to_paper, to_test_definition};
pub use test::parse_test_xml;

use crate::archive::ArchiveError;

/// Largest package accepted, as zip bytes.
pub const PACKAGE_BYTES_MAX: usize = 512 * 1024 * 1024;
/// Largest single XML file (manifest, test or item).
pub const XML_FILE_BYTES_MAX: u64 = 8 * 1024 * 1024;
/// Most items in one package (and item references in one test).
pub const ITEMS_PER_PACKAGE_MAX: usize = 5_000;
/// Largest media file referenced by an item.
pub const MEDIA_BYTES_MAX: u64 = 32 * 1024 * 1024;
/// Most media bytes kept for one package in total.
pub const MEDIA_TOTAL_BYTES_MAX: u64 = 512 * 1024 * 1024;
/// Longest flattened text of one item body, prompt, choice or rubric, in bytes.
pub const TEXT_BYTES_MAX: usize = 64 * 1024;
/// Most interactions in one item.
pub const INTERACTIONS_PER_ITEM_MAX: usize = 50;
/// Most choices of one interaction.
pub const CHOICES_PER_INTERACTION_MAX: usize = 100;
/// Most map entries of one mapping and values of one correct response.
pub const MAP_ENTRIES_MAX: usize = 1_000;
/// Deepest nesting of assessment sections.
pub const SECTION_DEPTH_MAX: usize = 16;
/// Most problems recorded for one import (further ones are summarised in one last problem).
pub const PROBLEMS_MAX: usize = 10_000;

/// A package-level failure: nothing could be imported.
#[derive(Debug, thiserror::Error)]
pub enum QtiError {
    #[error("the package is {0} bytes; at most {PACKAGE_BYTES_MAX} are accepted")]
    PackageTooLarge(usize),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(
        "the package has no imsmanifest.xml at its top level; export it again as an IMS content package"
    )]
    NoManifest,
    #[error("imsmanifest.xml cannot be read: {0}")]
    Manifest(String),
    #[error(
        "the package lists {0} items; at most {ITEMS_PER_PACKAGE_MAX} are accepted per package"
    )]
    TooManyItems(usize),
    #[error("{file}: {message}")]
    Test { file: String, message: String },
    #[error("{file} is larger than {XML_FILE_BYTES_MAX} bytes")]
    FileTooLarge { file: String },
}

/// Which QTI version a file was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QtiVersion {
    V2p1,
    V3p0,
}

/// What kind of fault a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A file is not well-formed XML or not in a supported encoding.
    MalformedXml,
    /// A file named by the manifest, the test or an item is not in the package.
    MissingFile,
    /// A path is absolute, leaves the package with `..`, or points outside it (a URL).
    UnsafePath,
    /// A file is larger than a named limit, or there are too many of something.
    TooLarge,
    /// The manifest or the test has something the importer cannot follow.
    Structure,
    /// The file is not a QTI assessment item (wrong root element or namespace).
    NotAnItem,
    /// The item uses an interaction other than choice, text entry, extended text, inline choice.
    UnsupportedInteraction,
    /// The item has no interaction: there is nothing to answer.
    NoInteraction,
    /// Response processing that is neither a standard template nor a recognised equivalent.
    CustomResponseProcessing,
    /// An interaction has no usable correct response.
    MissingCorrectResponse,
    /// `to_paper`: the item is in the paper, but something about it could not be carried over.
    Approximated,
    /// `to_paper`: the item could not be put into the paper at all.
    NotRepresentable,
    /// `to_paper`: a rule of the test (selection, ordering, time limit) the paper cannot hold.
    TestRule,
}

impl ProblemKind {
    /// Whether the item named by the problem was left out (as opposed to kept with a caveat).
    pub fn drops_item(self) -> bool {
        !matches!(self, ProblemKind::Approximated | ProblemKind::TestRule)
    }
}

/// One thing the importer could not take, or took only in part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Path of the file inside the package (or the file name given for a single file).
    pub file: String,
    /// The item's key ([`ImportedItem::key`]) or test-ref identifier, when one is known.
    pub item: Option<String>,
    pub kind: ProblemKind,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.item {
            Some(item) => write!(f, "{} ({item}): {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// The result of an import: what was understood, and every problem found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// The assessment test of the package, if it has one.
    pub test: Option<ImportedTest>,
    /// Every item that was imported, in manifest (or test) order.
    pub items: Vec<ImportedItem>,
    /// Media files referenced by the items, keyed by their path in the package.
    pub media: BTreeMap<String, Media>,
    pub problems: Vec<Problem>,
}

impl ImportReport {
    pub fn item(&self, key: &str) -> Option<&ImportedItem> {
        self.items.iter().find(|i| i.key == key)
    }

    pub(crate) fn push_problem(&mut self, p: Problem) {
        push_bounded(&mut self.problems, p);
    }
}

pub(crate) fn push_bounded(problems: &mut Vec<Problem>, p: Problem) {
    if problems.len() < PROBLEMS_MAX {
        problems.push(p);
    } else if problems.len() == PROBLEMS_MAX {
        problems.push(Problem {
            file: p.file,
            item: None,
            kind: ProblemKind::TooLarge,
            message: format!("more than {PROBLEMS_MAX} problems; the rest are not listed"),
        });
    }
}

/// A media file (image, audio, video) kept with the import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Media {
    pub path: String,
    pub mime: String,
    pub bytes_len: usize,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// An assessment test: its parts, sections and the rules for drawing items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportedTest {
    pub identifier: String,
    pub title: String,
    pub file: String,
    pub version: QtiVersion,
    /// `timeLimits maxTime` of the test (or, if the test has none, of its only test part).
    pub time_limit_secs: Option<u32>,
    pub parts: Vec<ImportedTestPart>,
}

impl ImportedTest {
    /// Top-level sections of every test part, in order.
    pub fn sections(&self) -> impl Iterator<Item = &ImportedSection> {
        self.parts.iter().flat_map(|p| p.sections.iter())
    }

    /// Every item reference, depth first.
    pub fn item_refs(&self) -> Vec<&ItemRef> {
        let mut out = Vec::new();
        for s in self.sections() {
            s.collect_refs(&mut out);
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportedTestPart {
    pub identifier: String,
    pub sections: Vec<ImportedSection>,
}

/// `selection select=N withReplacement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Selection {
    pub select: u32,
    pub with_replacement: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportedSection {
    pub identifier: String,
    pub title: String,
    pub visible: bool,
    pub required: bool,
    pub selection: Option<Selection>,
    /// `ordering shuffle="true"`.
    pub shuffle: bool,
    pub time_limit_secs: Option<u32>,
    /// Item references directly in this section (not in sub-sections).
    pub item_count: usize,
    pub children: Vec<SectionPart>,
}

impl ImportedSection {
    fn collect_refs<'a>(&'a self, out: &mut Vec<&'a ItemRef>) {
        for c in &self.children {
            match c {
                SectionPart::Item(r) => out.push(r),
                SectionPart::Section(s) => s.collect_refs(out),
            }
        }
    }

    /// Every item reference below this section, depth first.
    pub fn item_refs(&self) -> Vec<&ItemRef> {
        let mut out = Vec::new();
        self.collect_refs(&mut out);
        out
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "part", rename_all = "snake_case")]
pub enum SectionPart {
    Item(ItemRef),
    Section(ImportedSection),
}

/// An `assessmentItemRef`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemRef {
    pub identifier: String,
    /// The `href` as written.
    pub href: String,
    /// Resolved path of the item file in the package, when it could be resolved.
    pub path: Option<String>,
    /// The `weight` values by identifier (usually one, `W`).
    pub weights: BTreeMap<String, f64>,
    pub required: bool,
    pub fixed: bool,
}

impl ItemRef {
    /// The item's weight: the only weight, or the one named `W`, or 1 when none is given.
    pub fn weight(&self) -> f64 {
        if self.weights.len() == 1 {
            return self.weights.values().next().copied().unwrap_or(1.0);
        }
        self.weights.get("W").copied().unwrap_or(1.0)
    }
}

/// One imported assessment item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportedItem {
    /// Unique within the import: the test's item-ref identifier, else the manifest resource
    /// identifier, else the file stem. (Item identifiers themselves often repeat across files.)
    pub key: String,
    /// The item's own `identifier`.
    pub identifier: String,
    pub title: String,
    pub file: String,
    pub version: QtiVersion,
    /// What the item is, in the platform's terms.
    pub item_type: ItemType,
    /// The body as plain text: blocks on their own lines, `____` where a text entry or inline
    /// choice sits, `[img:path]` / `[object:path]` markers where media sit; interaction prompts,
    /// choices and scorer rubrics are not included.
    pub body_text: String,
    pub interactions: Vec<Interaction>,
    pub responses: Vec<ResponseDeclaration>,
    pub scoring: Scoring,
    /// Text of `rubricBlock view="scorer"` (the marking scheme), if any.
    pub scorer_rubric: Option<String>,
    /// Declared default of a `MAXSCORE` outcome, if any.
    pub max_score: Option<f64>,
    /// Paths (in the package) of media the item shows.
    pub media: Vec<String>,
}

impl ImportedItem {
    pub fn response(&self, identifier: &str) -> Option<&ResponseDeclaration> {
        self.responses.iter().find(|r| r.identifier == identifier)
    }

    /// Correct values of the response an interaction answers.
    pub fn correct_for(&self, interaction: &Interaction) -> &[String] {
        self.response(interaction.response_identifier())
            .map(|r| r.correct.as_slice())
            .unwrap_or(&[])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemType {
    /// A two-option single choice reading 正确/错误, 对/错 or True/False.
    TrueFalse,
    SingleChoice,
    MultipleChoice,
    /// One or more text entries.
    FillIn,
    /// Extended text, scored by a person.
    ShortAnswer,
    /// One or more inline choices.
    InlineChoice,
    /// More than one kind of interaction in one item.
    Composite,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    pub identifier: String,
    /// The choice content as plain text (with media markers).
    pub text: String,
    pub fixed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "interaction", rename_all = "snake_case")]
pub enum Interaction {
    Choice {
        response: String,
        prompt: String,
        /// 0 means no limit.
        max_choices: u32,
        min_choices: u32,
        shuffle: bool,
        choices: Vec<Choice>,
    },
    TextEntry {
        response: String,
        expected_length: Option<u32>,
    },
    ExtendedText {
        response: String,
        prompt: String,
        expected_length: Option<u32>,
    },
    InlineChoice {
        response: String,
        shuffle: bool,
        choices: Vec<Choice>,
    },
}

impl Interaction {
    pub fn response_identifier(&self) -> &str {
        match self {
            Interaction::Choice { response, .. }
            | Interaction::TextEntry { response, .. }
            | Interaction::ExtendedText { response, .. }
            | Interaction::InlineChoice { response, .. } => response,
        }
    }
}

/// A `responseDeclaration`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseDeclaration {
    pub identifier: String,
    pub cardinality: String,
    pub base_type: String,
    pub correct: Vec<String>,
    pub mapping: Option<Mapping>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mapping {
    pub default_value: f64,
    pub lower_bound: Option<f64>,
    pub upper_bound: Option<f64>,
    pub entries: Vec<MapEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapEntry {
    pub key: String,
    pub value: f64,
    pub case_sensitive: bool,
}

/// How an item is scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Scoring {
    /// Full marks when every response matches its correct response (template `match_correct`,
    /// or custom processing recognised as doing the same).
    MatchCorrect { template: bool },
    /// The mapping of each response is summed (template `map_response`, or a custom
    /// `sum(mapResponse…)`).
    MapResponse { template: bool },
    /// Custom processing that gives points for each response matching its correct response.
    MatchCorrectEach { points: BTreeMap<String, f64> },
    /// No response processing and only extended text: a person scores it.
    ByPerson,
    /// No response processing although the item could be scored automatically.
    Unspecified,
}
