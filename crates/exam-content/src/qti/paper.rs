//! From the rich import model to the platform's [`Paper`] ([`to_paper`]) and to an assembly
//! rule set ([`to_test_definition`]). Whatever the domain model cannot hold is listed per item as
//! a [`Problem`]: [`ProblemKind::Approximated`] when the item is kept with a caveat,
//! [`ProblemKind::NotRepresentable`] when it is left out, [`ProblemKind::TestRule`] for test
//! rules (selection, ordering, time limits) a `Paper` has no place for.
//!
//! Inline choices become choice blanks of a fill-in item (text entries and inline choices may be
//! mixed). PNG and JPEG images within the paper's limits travel in [`Paper::media`] and are shown
//! where an `[img:PATH]` marker stands (`<object>` markers of such images become `[img:PATH]`);
//! any other media file is named by an [`ProblemKind::Approximated`] problem and its place is
//! marked `[media:PATH]` in the text.

use std::collections::{BTreeMap, BTreeSet};

use exam_domain::limits::{
    BLANKS_PER_ITEM_MAX, ITEM_ID_BYTES_MAX, ITEM_WEIGHT_MAX, MEDIA_FILES_MAX, OPTIONS_PER_ITEM_MAX,
    PAPER_MEDIA_BYTES_MAX, PROMPT_BYTES_MAX,
};
use exam_domain::media::{check_media, img_marker};
use exam_domain::{
    Blank, ChoiceOption, Item, ItemId, ItemKind, MediaFile, OptionId, Paper, PaperError, Section,
};

use super::item::true_false_choices;
use super::{
    ImportReport, ImportedItem, ImportedSection, Interaction, ItemType, Problem, ProblemKind,
    Scoring, SectionPart, push_bounded,
};
use crate::assembly::{AssemblyError, PoolItem, SectionRule, TestDefinition};

/// Time limit used when the test declares none (a [`ProblemKind::TestRule`] problem says so).
pub const DEFAULT_TIME_LIMIT_SECS: u32 = 3600;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToPaperError {
    #[error("no item of the import can be put into a paper; see the problems listed by the import")]
    NoItems,
    #[error("the converted paper is not valid: {0}")]
    Paper(#[from] PaperError),
    #[error("the test's rules cannot be used for assembly: {0}")]
    Assembly(#[from] AssemblyError),
    #[error("section {section}: {message}")]
    Section { section: String, message: String },
}

/// Converts an import into a `Paper`: with a test, one paper section per top-level test section
/// (nested sections merged into it) holding **every** item of the section's pool (selection is
/// not applied: see [`to_test_definition`]); without a test, one section of all items. Returns
/// the paper and what could not be carried over; problems the import already listed are not
/// repeated.
pub fn to_paper(report: &ImportReport) -> Result<(Paper, Vec<Problem>), ToPaperError> {
    let mut problems = Vec::new();
    let (layout, time_limit_secs, id, title) = layout(report, &mut problems);
    let (items, media) = convert_all(report, &layout, &mut problems);
    let mut sections = Vec::new();
    for s in layout.sections {
        let section_items: Vec<Item> = s
            .keys
            .iter()
            .filter_map(|k| items.get(k).map(|(i, _)| i.clone()))
            .collect();
        if section_items.is_empty() {
            push_bounded(
                &mut problems,
                Problem {
                    file: layout.file.clone(),
                    item: None,
                    kind: ProblemKind::TestRule,
                    message: format!(
                        "section {} has no item the paper can hold; it is left out",
                        s.id
                    ),
                },
            );
            continue;
        }
        sections.push(Section {
            id: s.id,
            title: s.title,
            items: section_items,
        });
    }
    if sections.is_empty() {
        return Err(ToPaperError::NoItems);
    }
    let paper = Paper {
        id,
        title,
        time_limit_secs,
        sections,
        media,
    };
    paper.validate()?;
    Ok((paper, problems))
}

/// Converts an import with a test into a [`TestDefinition`] for [`crate::assembly::assemble`]:
/// per top-level section its pool, `selection select` and `ordering shuffle`; `required` item
/// refs stay required. Refuses `withReplacement` and selection in nested sections.
pub fn to_test_definition(
    report: &ImportReport,
) -> Result<(TestDefinition, Vec<Problem>), ToPaperError> {
    let mut problems = Vec::new();
    let (layout, time_limit_secs, id, title) = layout(report, &mut problems);
    let (items, media) = convert_all(report, &layout, &mut problems);
    let mut rules = Vec::new();
    for s in layout.sections {
        if s.with_replacement {
            return Err(ToPaperError::Section {
                section: s.id,
                message: "selection withReplacement would give a candidate the same item twice; it is not supported".into(),
            });
        }
        if s.nested_selection {
            return Err(ToPaperError::Section {
                section: s.id,
                message: "selection inside nested sections is not supported; flatten the section"
                    .into(),
            });
        }
        let pool: Vec<PoolItem> = s
            .keys
            .iter()
            .filter_map(|k| {
                items.get(k).map(|(item, required)| PoolItem {
                    item: item.clone(),
                    required: *required,
                })
            })
            .collect();
        if pool.is_empty() {
            continue;
        }
        if s.keys.len() != pool.len() && s.select.is_some() {
            push_bounded(
                &mut problems,
                Problem {
                    file: layout.file.clone(),
                    item: None,
                    kind: ProblemKind::TestRule,
                    message: format!(
                        "section {} draws from {} items instead of {} because some could not be converted",
                        s.id,
                        pool.len(),
                        s.keys.len()
                    ),
                },
            );
        }
        rules.push(SectionRule {
            id: s.id,
            title: s.title,
            select: s.select,
            shuffle: s.shuffle,
            pool,
        });
    }
    if rules.is_empty() {
        return Err(ToPaperError::NoItems);
    }
    Ok((
        TestDefinition::with_media(id, title, time_limit_secs, rules, media)?,
        problems,
    ))
}

struct LayoutSection {
    id: String,
    title: String,
    select: Option<u32>,
    with_replacement: bool,
    nested_selection: bool,
    shuffle: bool,
    keys: Vec<String>,
}

struct Layout {
    file: String,
    sections: Vec<LayoutSection>,
    /// Item key → (weight from the test, required).
    refs: BTreeMap<String, (f64, bool)>,
}

fn layout(report: &ImportReport, problems: &mut Vec<Problem>) -> (Layout, u32, String, String) {
    let rule = |file: &str, message: String| Problem {
        file: file.to_owned(),
        item: None,
        kind: ProblemKind::TestRule,
        message,
    };
    let Some(test) = &report.test else {
        let file = report
            .items
            .first()
            .map(|i| i.file.clone())
            .unwrap_or_default();
        push_bounded(
            problems,
            rule(
                &file,
                format!(
                    "there is no assessment test: all items are put into one section and the time limit is {DEFAULT_TIME_LIMIT_SECS} s; set the real time limit"
                ),
            ),
        );
        let keys = report.items.iter().map(|i| i.key.clone()).collect();
        let id = report
            .items
            .first()
            .map(|i| i.key.clone())
            .unwrap_or_else(|| "qti-import".into());
        let title = report
            .items
            .first()
            .map(|i| i.title.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| id.clone());
        let layout = Layout {
            file,
            sections: vec![LayoutSection {
                id: "S1".into(),
                title: title.clone(),
                select: None,
                with_replacement: false,
                nested_selection: false,
                shuffle: true,
                keys,
            }],
            refs: BTreeMap::new(),
        };
        return (layout, DEFAULT_TIME_LIMIT_SECS, id, title);
    };
    let file = test.file.clone();
    let time_limit_secs = test.time_limit_secs.unwrap_or_else(|| {
        push_bounded(problems, rule(&file, format!(
            "the test has no timeLimits maxTime; the paper uses {DEFAULT_TIME_LIMIT_SECS} s: set the real time limit"
        )));
        DEFAULT_TIME_LIMIT_SECS
    });
    let mut refs = BTreeMap::new();
    let mut sections = Vec::new();
    for s in test.sections() {
        let mut nested_selection = false;
        note_nested(s, &file, problems, &mut nested_selection, true);
        if let Some(sel) = s.selection {
            push_bounded(
                problems,
                rule(
                    &file,
                    format!(
                        "section {} draws {} of its {} items for each candidate{}; the paper lists them all: use to_test_definition and assembly::assemble for candidates' papers",
                        s.identifier,
                        sel.select,
                        s.item_refs().len(),
                        if sel.with_replacement {
                            " with replacement"
                        } else {
                            ""
                        }
                    ),
                ),
            );
        }
        if !s.shuffle {
            push_bounded(
                problems,
                rule(
                    &file,
                    format!(
                        "section {} keeps its items in order (no ordering shuffle), but the platform shuffles items within each section for every candidate",
                        s.identifier
                    ),
                ),
            );
        }
        if let Some(t) = s.time_limit_secs {
            push_bounded(
                problems,
                rule(
                    &file,
                    format!(
                        "section {} has its own time limit ({t} s), which a paper cannot hold; only the test's time limit applies",
                        s.identifier
                    ),
                ),
            );
        }
        let keys: Vec<String> = s.item_refs().iter().map(|r| r.identifier.clone()).collect();
        for r in s.item_refs() {
            refs.insert(r.identifier.clone(), (r.weight(), r.required));
        }
        sections.push(LayoutSection {
            id: s.identifier.clone(),
            title: if s.title.is_empty() {
                s.identifier.clone()
            } else {
                s.title.clone()
            },
            select: s.selection.map(|x| x.select),
            with_replacement: s.selection.is_some_and(|x| x.with_replacement),
            nested_selection,
            shuffle: s.shuffle,
            keys,
        });
    }
    let id = if test.identifier.is_empty() {
        "qti-import".to_owned()
    } else {
        test.identifier.clone()
    };
    let title = if test.title.is_empty() {
        id.clone()
    } else {
        test.title.clone()
    };
    (
        Layout {
            file,
            sections,
            refs,
        },
        time_limit_secs,
        id,
        title,
    )
}

fn note_nested(
    s: &ImportedSection,
    file: &str,
    problems: &mut Vec<Problem>,
    nested_selection: &mut bool,
    top: bool,
) {
    for c in &s.children {
        if let SectionPart::Section(sub) = c {
            if sub.selection.is_some() || (!top && s.selection.is_some()) {
                *nested_selection = true;
            }
            if s.selection.is_some() {
                *nested_selection = true;
            }
            push_bounded(
                problems,
                Problem {
                    file: file.to_owned(),
                    item: None,
                    kind: ProblemKind::TestRule,
                    message: format!(
                        "sub-section {} of section {} is merged into it (a paper has one level of sections)",
                        sub.identifier, s.identifier
                    ),
                },
            );
            note_nested(sub, file, problems, nested_selection, false);
        }
    }
}

type Media = BTreeMap<String, MediaFile>;

/// Converts every item the layout uses (and reports the ones it does not use), with the images
/// they show.
fn convert_all(
    report: &ImportReport,
    layout: &Layout,
    problems: &mut Vec<Problem>,
) -> (BTreeMap<String, (Item, bool)>, Media) {
    let used: BTreeSet<&str> = layout
        .sections
        .iter()
        .flat_map(|s| s.keys.iter().map(String::as_str))
        .collect();
    let mut out = BTreeMap::new();
    let mut media = Media::new();
    let mut ids = BTreeSet::new();
    for item in &report.items {
        if !used.contains(item.key.as_str()) {
            push_bounded(problems, Problem {
                file: item.file.clone(),
                item: Some(item.key.clone()),
                kind: ProblemKind::TestRule,
                message: "the item is in the package but not used by the test; it is not in the paper".into(),
            });
            continue;
        }
        let (weight, required) = layout
            .refs
            .get(&item.key)
            .copied()
            .unwrap_or((item.max_score.unwrap_or(1.0), false));
        let mut notes = Vec::new();
        match convert(item, weight, &mut notes) {
            Ok(mut converted) => {
                if !ids.insert(converted.id.clone()) {
                    notes.push((
                        ProblemKind::NotRepresentable,
                        format!("its id {} is already used by another item", converted.id),
                    ));
                } else {
                    carry_media(report, item, &mut converted, &mut media, &mut notes);
                    out.insert(item.key.clone(), (converted, required));
                }
            }
            Err(message) => notes.push((ProblemKind::NotRepresentable, message)),
        }
        for (kind, message) in notes {
            push_bounded(
                problems,
                Problem {
                    file: item.file.clone(),
                    item: Some(item.key.clone()),
                    kind,
                    message,
                },
            );
        }
    }
    (out, media)
}

type Notes = Vec<(ProblemKind, String)>;

/// Puts the images `item` shows into `media` (PNG or JPEG within the paper's limits) and marks
/// them `[img:PATH]` in `converted`'s texts; any other media file is marked `[media:PATH]` and
/// named in a note.
fn carry_media(
    report: &ImportReport,
    item: &ImportedItem,
    converted: &mut Item,
    media: &mut Media,
    notes: &mut Notes,
) {
    let mut left = Vec::new();
    for path in &item.media {
        let usable = if media.contains_key(path) {
            Ok(())
        } else {
            match report.media.get(path) {
                None => Err("it was not imported".to_owned()),
                Some(m) => {
                    let file = MediaFile {
                        mime: m.mime.clone(),
                        bytes: m.bytes.clone(),
                    };
                    let total: usize = media.values().map(|f| f.bytes.len()).sum();
                    check_media(path, &file).and_then(|()| {
                        if media.len() >= MEDIA_FILES_MAX
                            || total + file.bytes.len() > PAPER_MEDIA_BYTES_MAX
                        {
                            Err(format!(
                                "the paper's images would exceed {MEDIA_FILES_MAX} files or {PAPER_MEDIA_BYTES_MAX} bytes"
                            ))
                        } else {
                            media.insert(path.clone(), file);
                            Ok(())
                        }
                    })
                }
            }
        };
        let to = match &usable {
            Ok(()) => img_marker(path),
            Err(_) => format!("[media:{path}]"),
        };
        let rewrite = |text: &mut String| {
            for kind in ["img", "object"] {
                let from = format!("[{kind}:{path}]");
                if text.contains(&from) {
                    *text = text.replace(&from, &to);
                }
            }
        };
        rewrite(&mut converted.prompt);
        match &mut converted.kind {
            ItemKind::SingleChoice { options, .. } | ItemKind::MultipleChoice { options, .. } => {
                options.iter_mut().for_each(|o| rewrite(&mut o.text));
            }
            ItemKind::FillIn { blanks } => blanks
                .iter_mut()
                .flat_map(|b| b.choices.iter_mut())
                .for_each(|o| rewrite(&mut o.text)),
            ItemKind::TrueFalse { .. } | ItemKind::ShortAnswer { .. } => {}
        }
        if let Err(why) = usable {
            left.push(format!("{path} ({why})"));
        }
    }
    if !left.is_empty() {
        notes.push((
            ProblemKind::Approximated,
            format!(
                "it shows {}, which a paper cannot carry (only PNG and JPEG images within the limits): the text marks each place as [media:path] and the files are kept in ImportReport::media",
                left.join(", ")
            ),
        ));
    }
}

fn item_id(key: &str, notes: &mut Notes) -> Result<ItemId, String> {
    if let Ok(id) = ItemId::parse(key) {
        return Ok(id);
    }
    let cleaned: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(ITEM_ID_BYTES_MAX)
        .collect();
    let id = ItemId::parse(&cleaned).map_err(|e| format!("no usable item id from {key:?}: {e}"))?;
    notes.push((
        ProblemKind::Approximated,
        format!("its key {key:?} is not a valid item id; the paper uses {id}"),
    ));
    Ok(id)
}

fn join_text(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn convert(item: &ImportedItem, weight: f64, notes: &mut Notes) -> Result<Item, String> {
    let id = item_id(&item.key, notes)?;
    if weight.fract() != 0.0 || weight < 1.0 || weight > f64::from(ITEM_WEIGHT_MAX) {
        return Err(format!(
            "its weight {weight} is not a whole number of points from 1 to {ITEM_WEIGHT_MAX}"
        ));
    }
    let weight = weight as u32;
    let (prompt, kind) = match (item.item_type, item.interactions.as_slice()) {
        (
            ItemType::TrueFalse | ItemType::SingleChoice | ItemType::MultipleChoice,
            [
                choice @ Interaction::Choice {
                    prompt,
                    choices,
                    shuffle,
                    max_choices,
                    ..
                },
            ],
        ) => {
            let correct = correct_choices(item, choice);
            let text = join_text(&[&item.body_text, prompt]);
            let kind = if item.item_type == ItemType::TrueFalse {
                let (true_id, _) = true_false_choices(choices)
                    .ok_or("the true/false choices were not recognised")?;
                let [c] = correct.as_slice() else {
                    return Err("a true/false item needs exactly one correct choice".into());
                };
                choice_scoring_notes(item, choice, notes);
                ItemKind::TrueFalse {
                    correct: c == true_id,
                }
            } else {
                if choices.len() < 2 || choices.len() > OPTIONS_PER_ITEM_MAX {
                    return Err(format!(
                        "{} choices; the platform takes 2 to {OPTIONS_PER_ITEM_MAX}",
                        choices.len()
                    ));
                }
                let options = choices
                    .iter()
                    .map(|c| {
                        let id = OptionId::parse(&c.identifier)
                            .map_err(|e| format!("choice id {:?}: {e}", c.identifier))?;
                        Ok(ChoiceOption {
                            id,
                            text: c.text.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                if !shuffle {
                    notes.push((ProblemKind::Approximated, "its choices are in a fixed order (shuffle=false), but the platform shuffles options for every candidate".into()));
                } else if choices.iter().any(|c| c.fixed) {
                    let fixed: Vec<&str> = choices
                        .iter()
                        .filter(|c| c.fixed)
                        .map(|c| c.identifier.as_str())
                        .collect();
                    notes.push((ProblemKind::Approximated, format!("choice(s) {} are fixed in place, but the platform shuffles all options", fixed.join(", "))));
                }
                if choices.iter().any(|c| c.text.trim().is_empty()) {
                    notes.push((ProblemKind::Approximated, "a choice has no text".into()));
                }
                choice_scoring_notes(item, choice, notes);
                let to_id = |c: &String| {
                    OptionId::parse(c).map_err(|e| format!("correct choice {c:?}: {e}"))
                };
                if item.item_type == ItemType::SingleChoice {
                    let [c] = correct.as_slice() else {
                        return Err(format!(
                            "a single-choice item needs exactly one correct choice, it has {}",
                            correct.len()
                        ));
                    };
                    ItemKind::SingleChoice {
                        options,
                        correct: to_id(c)?,
                    }
                } else {
                    if *max_choices != 0 && (*max_choices as usize) < choices.len() {
                        notes.push((ProblemKind::Approximated, format!("at most {max_choices} choices may be selected in QTI; the platform does not limit the number")));
                    }
                    let correct = correct
                        .iter()
                        .map(to_id)
                        .collect::<Result<BTreeSet<_>, _>>()?;
                    ItemKind::MultipleChoice { options, correct }
                }
            };
            (text, kind)
        }
        (ItemType::FillIn | ItemType::InlineChoice | ItemType::Composite, interactions)
            if interactions.iter().all(|i| {
                matches!(
                    i,
                    Interaction::TextEntry { .. } | Interaction::InlineChoice { .. }
                )
            }) =>
        {
            if interactions.len() > BLANKS_PER_ITEM_MAX {
                return Err(format!(
                    "{} blanks; the platform takes at most {BLANKS_PER_ITEM_MAX}",
                    interactions.len()
                ));
            }
            let mut blanks = Vec::new();
            for i in interactions {
                blanks.push(match i {
                    Interaction::InlineChoice { .. } => choice_blank(item, i, notes)?,
                    _ => Blank {
                        accepted: accepted_answers(item, i, notes)?,
                        choices: Vec::new(),
                    },
                });
            }
            let text = item.body_text.clone();
            if text.matches("____").count() != blanks.len() {
                return Err(format!(
                    "the text already contains \"____\", so its {} blank(s) cannot be marked unambiguously",
                    blanks.len()
                ));
            }
            (text, ItemKind::FillIn { blanks })
        }
        (ItemType::ShortAnswer, [Interaction::ExtendedText { prompt, .. }]) => {
            if item.scoring != Scoring::ByPerson {
                notes.push((ProblemKind::Approximated, "it declares automatic scoring for extended text; the platform has a person score it".into()));
            }
            let reference = item.scorer_rubric.clone().unwrap_or_default();
            (
                join_text(&[&item.body_text, prompt]),
                ItemKind::ShortAnswer { reference },
            )
        }
        _ => {
            return Err("it combines several kinds of interaction in one item, which the platform's paper model cannot hold; it is left out".into());
        }
    };
    if prompt.trim().is_empty() {
        return Err("it has no text to show".into());
    }
    if prompt.len() > PROMPT_BYTES_MAX {
        return Err(format!("its text is longer than {PROMPT_BYTES_MAX} bytes"));
    }
    Ok(Item {
        id,
        weight,
        prompt,
        kind,
    })
}

/// An inline choice as a choice blank: its options and the one correct option's id.
fn choice_blank(
    item: &ImportedItem,
    interaction: &Interaction,
    notes: &mut Notes,
) -> Result<Blank, String> {
    let Interaction::InlineChoice {
        response,
        shuffle,
        choices,
    } = interaction
    else {
        return Err("an inline choice was expected".into());
    };

    let correct = correct_choices(item, interaction);
    let mut options: Vec<ChoiceOption> = Vec::new();
    for c in choices {
        let id = OptionId::parse(&c.identifier)
            .map_err(|e| format!("inline choice id {:?}: {e}", c.identifier))?;
        // An empty choice is a "nothing chosen yet" placeholder: a blank without a choice is
        // unanswered on the platform.
        if c.text.trim().is_empty() && !correct.contains(&c.identifier) {
            notes.push((
                ProblemKind::Approximated,
                format!("inline choice {response}: the empty choice {id} is left out (a blank with nothing chosen is unanswered)"),
            ));
            continue;
        }
        if options.iter().any(|o| o.id == id) {
            return Err(format!(
                "inline choice {response}: two choices share the id {id}"
            ));
        }
        if c.text.trim().is_empty() || c.text.contains('\n') {
            return Err(format!(
                "inline choice {response}: choice {id} is empty or has more than one line"
            ));
        }
        options.push(ChoiceOption {
            id,
            text: c.text.clone(),
        });
    }
    if options.len() < 2 || options.len() > OPTIONS_PER_ITEM_MAX {
        return Err(format!(
            "inline choice {response} has {} choices; the platform takes 2 to {OPTIONS_PER_ITEM_MAX}",
            options.len()
        ));
    }
    let [key] = correct.as_slice() else {
        return Err(format!(
            "inline choice {response} needs exactly one correct choice, it has {}",
            correct.len()
        ));
    };
    if !shuffle {
        notes.push((ProblemKind::Approximated, format!("the choices of inline choice {response} are in a fixed order (shuffle=false), but the platform shuffles options for every candidate")));
    } else if choices.iter().any(|c| c.fixed) {
        notes.push((
            ProblemKind::Approximated,
            format!(
                "inline choice {response} has choices fixed in place, but the platform shuffles all options"
            ),
        ));
    }
    if !matches!(item.scoring, Scoring::MatchCorrectEach { .. }) {
        choice_scoring_notes(item, interaction, notes);
    }
    Ok(Blank {
        accepted: vec![key.clone()],
        choices: options,
    })
}

fn correct_choices(item: &ImportedItem, choice: &Interaction) -> Vec<String> {
    let declared = item.correct_for(choice);
    if !declared.is_empty() {
        return declared.to_vec();
    }
    item.response(choice.response_identifier())
        .and_then(|r| r.mapping.as_ref())
        .map(|m| {
            m.entries
                .iter()
                .filter(|e| e.value > 0.0)
                .map(|e| e.key.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn choice_scoring_notes(item: &ImportedItem, choice: &Interaction, notes: &mut Notes) {
    match &item.scoring {
        Scoring::MatchCorrect { .. } | Scoring::ByPerson => {}
        Scoring::Unspecified => notes.push((ProblemKind::Approximated, "it has no response processing; the platform scores it as matching the correct response".into())),
        Scoring::MatchCorrectEach { .. } => notes.push((ProblemKind::Approximated, "its custom scoring per response is scored all-or-nothing".into())),
        Scoring::MapResponse { .. } => {
            let Some(mapping) = item.response(choice.response_identifier()).and_then(|r| r.mapping.as_ref()) else { return };
            let correct = correct_choices(item, choice);
            let single = matches!(
                choice,
                Interaction::Choice { max_choices: 1, .. } | Interaction::InlineChoice { .. }
            );
            let top = mapping.entries.iter().map(|e| e.value).fold(f64::MIN, f64::max);
            // A single choice whose mapping gives the top value to the correct choice and nothing
            // to the others is all-or-nothing already.
            let equivalent = single
                && mapping.entries.iter().all(|e| if correct.contains(&e.key) { e.value == top } else { e.value <= 0.0 })
                && mapping.default_value <= 0.0
                && mapping.lower_bound.is_none_or(|l| l >= 0.0);
            if !equivalent {
                let entries: Vec<String> = mapping.entries.iter().map(|e| format!("{}={}", e.key, e.value)).collect();
                notes.push((
                    ProblemKind::Approximated,
                    format!(
                        "it gives partial credit by map_response ({}; default {}{}{}), but the platform scores choices all-or-nothing",
                        entries.join(", "),
                        mapping.default_value,
                        mapping.lower_bound.map(|l| format!(", lower bound {l}")).unwrap_or_default(),
                        mapping.upper_bound.map(|u| format!(", upper bound {u}")).unwrap_or_default(),
                    ),
                ));
            }
        }
    }
}

/// Accepted answers of one blank: the correct response, plus mapped keys worth full marks; keys
/// worth part of the marks are reported, since a blank is right or wrong on the platform.
fn accepted_answers(
    item: &ImportedItem,
    interaction: &Interaction,
    notes: &mut Notes,
) -> Result<Vec<String>, String> {
    let rid = interaction.response_identifier();
    let decl = item
        .response(rid)
        .ok_or_else(|| format!("response {rid} is not declared"))?;
    let mut accepted: Vec<String> = Vec::new();
    let push = |s: &str, acc: &mut Vec<String>| {
        if !s.trim().is_empty() && !acc.iter().any(|a| a == s) {
            acc.push(s.to_owned());
        }
    };
    for c in &decl.correct {
        push(c, &mut accepted);
    }
    if let (Scoring::MapResponse { .. } | Scoring::Unspecified, Some(m)) =
        (&item.scoring, &decl.mapping)
    {
        let top = m.entries.iter().map(|e| e.value).fold(0.0_f64, f64::max);
        for e in &m.entries {
            if e.value > 0.0 && e.value == top {
                push(&e.key, &mut accepted);
            } else if e.value > 0.0 && !accepted.contains(&e.key) {
                notes.push((
                    ProblemKind::Approximated,
                    format!("blank {rid}: {:?} earns {} of {top} in QTI; the platform has no partial credit for a blank", e.key, e.value),
                ));
            }
        }
    }
    if accepted.is_empty() {
        return Err(format!("blank {rid} has no accepted answer"));
    }
    Ok(accepted)
}
