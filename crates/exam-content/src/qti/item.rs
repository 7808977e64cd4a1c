//! Reading one `assessmentItem` (QTI 2.1) or `qti-assessment-item` (QTI 3.0) into an
//! [`ImportedItem`]: response declarations, the body flattened to text, the four supported
//! interactions, the scoring rule and the media the item shows.

use std::collections::BTreeMap;

use super::package::{FileSource, MemFiles, ReadFault, mime_for, parent_dir, resolve_href};
use super::xml::{self, Element, Node};
use super::{
    CHOICES_PER_INTERACTION_MAX, Choice, INTERACTIONS_PER_ITEM_MAX, ImportReport, ImportedItem,
    Interaction, ItemType, MAP_ENTRIES_MAX, MEDIA_BYTES_MAX, MEDIA_TOTAL_BYTES_MAX, MapEntry,
    Mapping, Media, Problem, ProblemKind, QtiError, QtiVersion, ResponseDeclaration, Scoring,
    TEXT_BYTES_MAX, XML_FILE_BYTES_MAX,
};

/// Imports one item file on its own. `file_name` names it in problems and is the base for
/// relative media paths; `base_dir_files` holds the files next to it (keyed by path relative to
/// the item's directory, e.g. `images/sign.png`). The item's key is the file stem.
pub fn import_item_xml(
    file_name: &str,
    xml: &[u8],
    base_dir_files: &BTreeMap<String, Vec<u8>>,
) -> Result<ImportReport, QtiError> {
    if xml.len() as u64 > XML_FILE_BYTES_MAX {
        return Err(QtiError::FileTooLarge {
            file: file_name.to_owned(),
        });
    }
    let file = file_name.rsplit('/').next().unwrap_or(file_name).to_owned();
    let mut files = MemFiles::new(base_dir_files);
    let mut report = ImportReport::default();
    let key = file_stem(&file);
    if let Some(item) = parse_item(&file, &key, xml, &mut files, &mut report) {
        report.items.push(item);
    }
    Ok(report)
}

pub(crate) fn file_stem(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_owned(),
        _ => name.to_owned(),
    }
}

pub(crate) fn version_of(root: &Element) -> Option<QtiVersion> {
    let ns = root.namespace.as_deref()?;
    if ns.contains("imsqtiasi_v3p0") {
        Some(QtiVersion::V3p0)
    } else if ns.contains("imsqti_v2p1") || ns.contains("imsqti_v2p2") || ns.contains("imsqti_v2p0")
    {
        Some(QtiVersion::V2p1)
    } else {
        None
    }
}

/// Parses one item; on failure records a problem and returns `None`. Media are added to
/// `report.media`.
pub(crate) fn parse_item(
    file: &str,
    key: &str,
    bytes: &[u8],
    files: &mut dyn FileSource,
    report: &mut ImportReport,
) -> Option<ImportedItem> {
    let problem = |kind: ProblemKind, message: String| Problem {
        file: file.to_owned(),
        item: Some(key.to_owned()),
        kind,
        message,
    };
    let root = match xml::parse(bytes) {
        Ok(r) => r,
        Err(e) => {
            report.push_problem(problem(ProblemKind::MalformedXml, e.to_string()));
            return None;
        }
    };
    if root.name != "assessmentItem" {
        report.push_problem(problem(
            ProblemKind::NotAnItem,
            format!(
                "the root element is <{}>, not an assessment item",
                root.name
            ),
        ));
        return None;
    }
    let Some(version) = version_of(&root) else {
        report.push_problem(problem(
            ProblemKind::NotAnItem,
            format!(
                "namespace {:?} is neither QTI 2.1 (imsqti_v2p1) nor QTI 3.0 (imsqtiasi_v3p0)",
                root.namespace.as_deref().unwrap_or("(none)")
            ),
        ));
        return None;
    };
    match build_item(file, key, &root, version, files, report) {
        Ok(item) => Some(item),
        Err((kind, message)) => {
            report.push_problem(problem(kind, message));
            None
        }
    }
}

type Fault = (ProblemKind, String);

fn build_item(
    file: &str,
    key: &str,
    root: &Element,
    version: QtiVersion,
    files: &mut dyn FileSource,
    report: &mut ImportReport,
) -> Result<ImportedItem, Fault> {
    let responses = root
        .children_named("responseDeclaration")
        .map(parse_response)
        .collect::<Result<Vec<_>, _>>()?;
    let outcomes: BTreeMap<String, f64> = root
        .children_named("outcomeDeclaration")
        .filter_map(|o| {
            let id = o.attr("identifier")?;
            let v = o
                .child("defaultValue")?
                .child("value")?
                .text()
                .trim()
                .parse::<f64>()
                .ok()?;
            Some((id.to_owned(), v))
        })
        .collect();

    let mut walk = BodyWalk::new(parent_dir(file));
    if let Some(body) = root.child("itemBody") {
        walk.walk(body);
    }
    let body_text = walk.buf.finish();
    if walk.too_long {
        return Err((
            ProblemKind::TooLarge,
            format!("a text of the item is longer than {TEXT_BYTES_MAX} bytes"),
        ));
    }
    if !walk.unsupported.is_empty() {
        walk.unsupported.dedup();
        return Err((
            ProblemKind::UnsupportedInteraction,
            format!(
                "uses {}, which the importer does not support (only choice, text entry, extended text and inline choice)",
                walk.unsupported.join(", ")
            ),
        ));
    }
    let interactions = walk.interactions;
    if interactions.is_empty() {
        return Err((
            ProblemKind::NoInteraction,
            "the item has no interaction: there is nothing for a candidate to answer".into(),
        ));
    }
    if interactions.len() > INTERACTIONS_PER_ITEM_MAX {
        return Err((
            ProblemKind::TooLarge,
            format!("more than {INTERACTIONS_PER_ITEM_MAX} interactions"),
        ));
    }

    let scoring = classify_scoring(root.child("responseProcessing"), &outcomes)
        .map_err(|m| (ProblemKind::CustomResponseProcessing, m))?;
    let all_extended = interactions
        .iter()
        .all(|i| matches!(i, Interaction::ExtendedText { .. }));
    let scoring = match scoring {
        Scoring::Unspecified if all_extended => Scoring::ByPerson,
        s => s,
    };

    for interaction in &interactions {
        let rid = interaction.response_identifier();
        let Some(decl) = responses.iter().find(|r| r.identifier == rid) else {
            return Err((
                ProblemKind::Structure,
                format!(
                    "an interaction answers response {rid:?}, which has no responseDeclaration"
                ),
            ));
        };
        check_correct(interaction, decl, &scoring)?;
    }

    // Media: every referenced file must be in the package.
    let mut media = Vec::new();
    for href in &walk.media_refs {
        let path = resolve_href(&walk.dir, href)
            .map_err(|why| (ProblemKind::UnsafePath, format!("media {href:?}: {why}")))?;
        if !report.media.contains_key(&path) {
            let bytes = match files.read(&path, MEDIA_BYTES_MAX) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    return Err((
                        ProblemKind::MissingFile,
                        format!("shows {href:?}, but {path} is not in the package"),
                    ));
                }
                Err(ReadFault::TooLarge) => {
                    return Err((
                        ProblemKind::TooLarge,
                        format!("{path} is larger than {MEDIA_BYTES_MAX} bytes"),
                    ));
                }
                Err(ReadFault::Other(why)) => {
                    return Err((
                        ProblemKind::MissingFile,
                        format!("{path} cannot be read: {why}"),
                    ));
                }
            };
            let total: usize = report.media.values().map(|m| m.bytes_len).sum();
            if (total + bytes.len()) as u64 > MEDIA_TOTAL_BYTES_MAX {
                return Err((
                    ProblemKind::TooLarge,
                    format!("media in the package exceed {MEDIA_TOTAL_BYTES_MAX} bytes"),
                ));
            }
            report.media.insert(
                path.clone(),
                Media {
                    path: path.clone(),
                    mime: mime_for(&path).to_owned(),
                    bytes_len: bytes.len(),
                    bytes,
                },
            );
        }
        if !media.contains(&path) {
            media.push(path);
        }
    }

    let item_type = item_type(&interactions);
    Ok(ImportedItem {
        key: key.to_owned(),
        identifier: root.attr("identifier").unwrap_or_default().to_owned(),
        title: root.attr("title").unwrap_or_default().to_owned(),
        file: file.to_owned(),
        version,
        item_type,
        body_text,
        interactions,
        responses,
        scoring,
        scorer_rubric: (!walk.rubric.is_empty()).then(|| walk.rubric.join("\n")),
        max_score: outcomes.get("MAXSCORE").copied(),
        media,
    })
}

fn parse_f64(s: Option<&str>) -> Option<f64> {
    s.and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

fn parse_response(e: &Element) -> Result<ResponseDeclaration, Fault> {
    let identifier = e.attr("identifier").unwrap_or_default().to_owned();
    let correct: Vec<String> = e
        .child("correctResponse")
        .map(|c| {
            c.children_named("value")
                .map(|v| v.text().trim().to_owned())
                .collect()
        })
        .unwrap_or_default();
    if correct.len() > MAP_ENTRIES_MAX {
        return Err((
            ProblemKind::TooLarge,
            format!("response {identifier}: more than {MAP_ENTRIES_MAX} correct values"),
        ));
    }
    let mapping = match e.child("mapping") {
        None => None,
        Some(m) => {
            let entries: Vec<MapEntry> = m
                .children_named("mapEntry")
                .map(|me| MapEntry {
                    key: me.attr("mapKey").unwrap_or_default().trim().to_owned(),
                    value: parse_f64(me.attr("mappedValue")).unwrap_or(0.0),
                    case_sensitive: me.attr("caseSensitive").is_none_or(|v| v.trim() != "false"),
                })
                .collect();
            if entries.len() > MAP_ENTRIES_MAX {
                return Err((
                    ProblemKind::TooLarge,
                    format!("response {identifier}: more than {MAP_ENTRIES_MAX} map entries"),
                ));
            }
            Some(Mapping {
                default_value: parse_f64(m.attr("defaultValue")).unwrap_or(0.0),
                lower_bound: parse_f64(m.attr("lowerBound")),
                upper_bound: parse_f64(m.attr("upperBound")),
                entries,
            })
        }
    };
    Ok(ResponseDeclaration {
        cardinality: e.attr("cardinality").unwrap_or("single").to_owned(),
        base_type: e.attr("baseType").unwrap_or_default().to_owned(),
        identifier,
        correct,
        mapping,
    })
}

fn check_correct(
    interaction: &Interaction,
    decl: &ResponseDeclaration,
    scoring: &Scoring,
) -> Result<(), Fault> {
    let rid = &decl.identifier;
    match interaction {
        Interaction::Choice { choices, .. } | Interaction::InlineChoice { choices, .. } => {
            let keys: Vec<&String> = if decl.correct.is_empty() {
                // A mapping alone can name the right choices (positive values).
                decl.mapping
                    .iter()
                    .flat_map(|m| m.entries.iter().filter(|e| e.value > 0.0).map(|e| &e.key))
                    .collect()
            } else {
                decl.correct.iter().collect()
            };
            if keys.is_empty() {
                return Err((
                    ProblemKind::MissingCorrectResponse,
                    format!("response {rid} declares no correct choice"),
                ));
            }
            if let Some(bad) = keys
                .iter()
                .find(|k| !choices.iter().any(|c| c.identifier == ***k))
            {
                return Err((
                    ProblemKind::MissingCorrectResponse,
                    format!("the correct response {bad:?} of {rid} is not one of the choices"),
                ));
            }
            Ok(())
        }
        Interaction::TextEntry { .. } => {
            let mapped = decl
                .mapping
                .as_ref()
                .is_some_and(|m| m.entries.iter().any(|e| e.value > 0.0));
            let usable = match scoring {
                Scoring::MapResponse { .. } => mapped || !decl.correct.is_empty(),
                _ => !decl.correct.is_empty() || mapped,
            };
            if usable {
                Ok(())
            } else {
                Err((
                    ProblemKind::MissingCorrectResponse,
                    format!("text entry {rid} has no correct response and no mapping"),
                ))
            }
        }
        Interaction::ExtendedText { .. } => Ok(()),
    }
}

fn item_type(interactions: &[Interaction]) -> ItemType {
    let all = |f: fn(&Interaction) -> bool| interactions.iter().all(f);
    match interactions {
        [
            Interaction::Choice {
                max_choices: 1,
                choices,
                ..
            },
        ] => {
            if true_false_choices(choices).is_some() {
                ItemType::TrueFalse
            } else {
                ItemType::SingleChoice
            }
        }
        [Interaction::Choice { .. }] => ItemType::MultipleChoice,
        [Interaction::ExtendedText { .. }] => ItemType::ShortAnswer,
        _ if all(|i| matches!(i, Interaction::TextEntry { .. })) => ItemType::FillIn,
        _ if all(|i| matches!(i, Interaction::InlineChoice { .. })) => ItemType::InlineChoice,
        _ => ItemType::Composite,
    }
}

/// For a two-option choice reading 正确/错误 (对/错, True/False), the identifier of the "true"
/// choice and of the "false" choice.
pub(crate) fn true_false_choices(choices: &[Choice]) -> Option<(&str, &str)> {
    let [a, b] = choices else { return None };
    let is_true = |t: &str| matches!(t.trim().to_lowercase().as_str(), "正确" | "对" | "true");
    let is_false = |t: &str| matches!(t.trim().to_lowercase().as_str(), "错误" | "错" | "false");
    if is_true(&a.text) && is_false(&b.text) {
        Some((&a.identifier, &b.identifier))
    } else if is_false(&a.text) && is_true(&b.text) {
        Some((&b.identifier, &a.identifier))
    } else {
        None
    }
}

/// Classifies response processing. Custom processing is accepted when it is an equivalent of a
/// standard template: per-response `match`/`correct` conditions setting `SCORE` (to a number,
/// to `MAXSCORE`, or adding to `SCORE`), or `SCORE` set to a sum of `mapResponse`s; settings of
/// other outcomes (feedback) are ignored.
fn classify_scoring(
    rp: Option<&Element>,
    outcomes: &BTreeMap<String, f64>,
) -> Result<Scoring, String> {
    let Some(rp) = rp else {
        return Ok(Scoring::Unspecified);
    };
    if let Some(template) = rp.attr("template") {
        let name = template
            .trim()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        let name = name.strip_suffix(".xml").unwrap_or(name);
        return match name {
            "match_correct" => Ok(Scoring::MatchCorrect { template: true }),
            "map_response" => Ok(Scoring::MapResponse { template: true }),
            _ => Err(format!(
                "response processing template {template:?} is not supported (only match_correct and map_response)"
            )),
        };
    }
    if rp.elements().next().is_none() {
        return Ok(Scoring::Unspecified);
    }
    let mut points: BTreeMap<String, f64> = BTreeMap::new();
    let mut mapped = false;
    let mut score_set = false;
    for stmt in rp.elements() {
        match stmt.name.as_str() {
            "setOutcomeValue" if stmt.attr("identifier") != Some("SCORE") => {}
            "setOutcomeValue" => {
                let Some(expr) = stmt.elements().next() else {
                    return Err(unsupported(stmt));
                };
                if score_set || !map_response_sum(expr) {
                    return Err(
                        "custom response processing sets SCORE in a way the importer cannot follow"
                            .into(),
                    );
                }
                mapped = true;
                score_set = true;
            }
            "responseCondition" => {
                if mapped {
                    return Err(unsupported(stmt));
                }
                let (response, value) =
                    match_condition(stmt, outcomes, score_set).ok_or_else(|| unsupported(stmt))?;
                if let Some(response) = response {
                    *points.entry(response).or_insert(0.0) += value;
                    score_set = true;
                }
            }
            _ => return Err(unsupported(stmt)),
        }
    }
    Ok(if mapped {
        Scoring::MapResponse { template: false }
    } else if points.len() == 1 {
        Scoring::MatchCorrect { template: false }
    } else if points.is_empty() {
        Scoring::Unspecified
    } else {
        Scoring::MatchCorrectEach { points }
    })
}

fn unsupported(e: &Element) -> String {
    format!(
        "custom response processing (<{}>) is not one of the forms the importer understands (match_correct, map_response or their equivalents)",
        e.name
    )
}

fn map_response_sum(expr: &Element) -> bool {
    match expr.name.as_str() {
        "mapResponse" => expr.attr("identifier").is_some(),
        "sum" => {
            expr.elements().next().is_some()
                && expr
                    .elements()
                    .all(|e| e.name == "mapResponse" && e.attr("identifier").is_some())
        }
        _ => false,
    }
}

/// `responseCondition { responseIf { match(variable R, correct R), setOutcomeValue SCORE … }
/// [responseElse { … SCORE := 0 … }] }` → `(Some(R), points)`; a condition touching only other
/// outcomes → `(None, 0)`.
fn match_condition(
    cond: &Element,
    outcomes: &BTreeMap<String, f64>,
    score_set: bool,
) -> Option<(Option<String>, f64)> {
    let mut parts = cond.elements();
    let branch = parts.next().filter(|e| e.name == "responseIf")?;
    let mut else_branch = None;
    for rest in parts {
        if rest.name != "responseElse" || else_branch.is_some() {
            return None;
        }
        else_branch = Some(rest);
    }
    let mut stmts = branch.elements();
    let test = stmts.next()?;
    let response = match_correct_test(test)?;
    let mut value = None;
    for s in stmts {
        if s.name != "setOutcomeValue" {
            return None;
        }
        if s.attr("identifier") != Some("SCORE") {
            continue;
        }
        if value.is_some() {
            return None;
        }
        value = Some(score_value(s.elements().next()?, outcomes, score_set)?);
    }
    if let Some(e) = else_branch {
        for s in e.elements() {
            if s.name != "setOutcomeValue" {
                return None;
            }
            if s.attr("identifier") == Some("SCORE") {
                let zero = s
                    .elements()
                    .next()
                    .filter(|v| v.name == "baseValue")?
                    .text()
                    .trim()
                    .parse::<f64>()
                    .ok()?;
                if zero != 0.0 || score_set {
                    return None;
                }
            }
        }
    }
    Some(match value {
        Some(v) => (Some(response), v),
        None => (None, 0.0),
    })
}

fn match_correct_test(test: &Element) -> Option<String> {
    if test.name != "match" {
        return None;
    }
    let mut var = None;
    let mut correct = None;
    for e in test.elements() {
        match e.name.as_str() {
            "variable" => var = e.attr("identifier"),
            "correct" => correct = e.attr("identifier"),
            _ => return None,
        }
    }
    match (var, correct) {
        (Some(v), Some(c)) if v == c => Some(v.to_owned()),
        _ => None,
    }
}

/// `baseValue n`, `variable MAXSCORE` (its declared default), or `sum(variable SCORE, baseValue n)`
/// (only after an earlier condition set SCORE).
fn score_value(expr: &Element, outcomes: &BTreeMap<String, f64>, score_set: bool) -> Option<f64> {
    match expr.name.as_str() {
        "baseValue" if !score_set => expr
            .text()
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite()),
        "variable" if !score_set => outcomes.get(expr.attr("identifier")?).copied(),
        "sum" if score_set => {
            let mut adds_score = false;
            let mut value = None;
            for e in expr.elements() {
                match e.name.as_str() {
                    "variable" if e.attr("identifier") == Some("SCORE") && !adds_score => {
                        adds_score = true
                    }
                    "baseValue" if value.is_none() => {
                        value = e
                            .text()
                            .trim()
                            .parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite())
                    }
                    _ => return None,
                }
            }
            if adds_score { value } else { None }
        }
        _ => None,
    }
}

/// Plain-text builder: XML whitespace runs collapse to one space; blocks end lines.
#[derive(Default)]
struct TextBuf {
    lines: Vec<String>,
    cur: String,
    space: bool,
    bytes: usize,
    overflow: bool,
}

impl TextBuf {
    fn text(&mut self, s: &str) {
        for c in s.chars() {
            if matches!(c, ' ' | '\t' | '\n' | '\r') {
                self.space = true;
                continue;
            }
            if self.space && !self.cur.is_empty() {
                self.cur.push(' ');
            }
            self.space = false;
            self.bytes += c.len_utf8();
            if self.bytes > TEXT_BYTES_MAX {
                self.overflow = true;
                return;
            }
            self.cur.push(c);
        }
    }

    fn newline(&mut self) {
        let line = self.cur.trim_end();
        if !line.is_empty() {
            self.lines.push(line.to_owned());
        }
        self.cur.clear();
        self.space = false;
    }

    fn finish(mut self) -> String {
        self.newline();
        self.lines.join("\n")
    }
}

const BLOCKS: &[&str] = &[
    "p",
    "div",
    "blockquote",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "tr",
    "thead",
    "tbody",
    "tfoot",
    "caption",
    "pre",
    "hr",
    "address",
    "section",
    "article",
    "aside",
    "header",
    "footer",
    "nav",
    "figure",
    "figcaption",
    "contentBody",
    "prompt",
];
const SKIPPED: &[&str] = &[
    "feedbackBlock",
    "feedbackInline",
    "modalFeedback",
    "templateBlock",
    "templateInline",
    "printedVariable",
    "stylesheet",
    "catalogInfo",
    "companionMaterialsInfo",
];

struct BodyWalk {
    dir: String,
    buf: TextBuf,
    interactions: Vec<Interaction>,
    unsupported: Vec<String>,
    media_refs: Vec<String>,
    rubric: Vec<String>,
    too_long: bool,
}

impl BodyWalk {
    fn new(dir: String) -> Self {
        Self {
            dir,
            buf: TextBuf::default(),
            interactions: Vec::new(),
            unsupported: Vec::new(),
            media_refs: Vec::new(),
            rubric: Vec::new(),
            too_long: false,
        }
    }

    fn walk(&mut self, e: &Element) {
        for n in &e.children {
            match n {
                Node::Text(t) => self.buf.text(t),
                Node::Element(c) => self.element(c),
            }
        }
        if self.buf.overflow {
            self.too_long = true;
        }
    }

    /// Flattens one element into its own text (choices, prompts, rubrics).
    fn flatten(&mut self, e: &Element) -> String {
        let saved = std::mem::take(&mut self.buf);
        self.walk(e);
        let inner = std::mem::replace(&mut self.buf, saved);
        if inner.overflow {
            self.too_long = true;
        }
        inner.finish()
    }

    fn media_marker(&mut self, kind: &str, href: Option<&str>) {
        let Some(href) = href.map(str::trim).filter(|h| !h.is_empty()) else {
            return;
        };
        let shown = resolve_href(&self.dir, href).unwrap_or_else(|_| href.to_owned());
        self.buf.text(&format!(" [{kind}:{shown}] "));
        self.media_refs.push(href.to_owned());
    }

    fn element(&mut self, c: &Element) {
        let name = c.name.as_str();
        match name {
            "br" => self.buf.newline(),
            "img" => self.media_marker("img", c.attr("src")),
            "object" => {
                self.media_marker("object", c.attr("data"));
                self.walk(c);
            }
            "audio" | "video" => {
                let src = c
                    .attr("src")
                    .or_else(|| c.child("source").and_then(|s| s.attr("src")));
                self.media_marker(name, src);
            }
            "choiceInteraction" => {
                self.buf.newline();
                let prompt = c
                    .child("prompt")
                    .map(|p| self.flatten(p))
                    .unwrap_or_default();
                let choices = self.choices(c, "simpleChoice");
                self.interactions.push(Interaction::Choice {
                    response: c.attr("responseIdentifier").unwrap_or_default().to_owned(),
                    prompt,
                    max_choices: c
                        .attr("maxChoices")
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(1),
                    min_choices: c
                        .attr("minChoices")
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0),
                    shuffle: c.attr("shuffle").is_some_and(|v| v.trim() == "true"),
                    choices,
                });
            }
            "extendedTextInteraction" => {
                self.buf.newline();
                let prompt = c
                    .child("prompt")
                    .map(|p| self.flatten(p))
                    .unwrap_or_default();
                self.interactions.push(Interaction::ExtendedText {
                    response: c.attr("responseIdentifier").unwrap_or_default().to_owned(),
                    prompt,
                    expected_length: c.attr("expectedLength").and_then(|v| v.trim().parse().ok()),
                });
            }
            "textEntryInteraction" => {
                self.buf.text("____");
                self.interactions.push(Interaction::TextEntry {
                    response: c.attr("responseIdentifier").unwrap_or_default().to_owned(),
                    expected_length: c.attr("expectedLength").and_then(|v| v.trim().parse().ok()),
                });
            }
            "inlineChoiceInteraction" => {
                self.buf.text("____");
                let choices = self.choices(c, "inlineChoice");
                self.interactions.push(Interaction::InlineChoice {
                    response: c.attr("responseIdentifier").unwrap_or_default().to_owned(),
                    shuffle: c.attr("shuffle").is_some_and(|v| v.trim() == "true"),
                    choices,
                });
            }
            "rubricBlock" => {
                let view = c.attr("view").unwrap_or_default();
                if view.split_whitespace().any(|v| v == "candidate") || view.is_empty() {
                    self.buf.newline();
                    self.walk(c);
                    self.buf.newline();
                } else if view.split_whitespace().any(|v| v == "scorer") {
                    let text = self.flatten(c);
                    if !text.is_empty() {
                        self.rubric.push(text);
                    }
                }
            }
            _ if SKIPPED.contains(&name) => {}
            _ if name.ends_with("Interaction") || name == "positionObjectStage" => {
                self.unsupported.push(name.to_owned());
            }
            _ if BLOCKS.contains(&name) => {
                self.buf.newline();
                self.walk(c);
                self.buf.newline();
            }
            _ => self.walk(c),
        }
    }

    fn choices(&mut self, interaction: &Element, tag: &str) -> Vec<Choice> {
        let mut out = Vec::new();
        for ch in interaction.children_named(tag) {
            if out.len() >= CHOICES_PER_INTERACTION_MAX {
                self.too_long = true;
                break;
            }
            let text = self.flatten(ch);
            out.push(Choice {
                identifier: ch.attr("identifier").unwrap_or_default().to_owned(),
                text,
                fixed: ch.attr("fixed").is_some_and(|v| v.trim() == "true"),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_flattened() {
        let root = xml::parse(
            b"<itemBody><p>Now is <b>the</b>\n  winter<br/>of <textEntryInteraction responseIdentifier='R'/>;</p><div>x</div></itemBody>",
        )
        .expect("parses");
        let mut w = BodyWalk::new(String::new());
        w.walk(&root);
        assert_eq!(w.buf.finish(), "Now is the winter\nof ____;\nx");
        assert_eq!(w.interactions.len(), 1);
    }
}
