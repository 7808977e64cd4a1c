//! Reading an `assessmentTest` (QTI 2.1) or `qti-assessment-test` (QTI 3.0): test parts, nested
//! sections, `selection`, `ordering`, item references with their weights, and `timeLimits`.

use std::collections::BTreeMap;

use super::item::version_of;
use super::xml::{self, Element};
use super::{
    ITEMS_PER_PACKAGE_MAX, ImportedSection, ImportedTest, ImportedTestPart, ItemRef, QtiError,
    SECTION_DEPTH_MAX, SectionPart, Selection, XML_FILE_BYTES_MAX,
};

/// Parses a test file for its structure only: item references are not followed.
pub fn parse_test_xml(file_name: &str, xml: &[u8]) -> Result<ImportedTest, QtiError> {
    if xml.len() as u64 > XML_FILE_BYTES_MAX {
        return Err(QtiError::FileTooLarge {
            file: file_name.to_owned(),
        });
    }
    let fail = |message: String| QtiError::Test {
        file: file_name.to_owned(),
        message,
    };
    let root = xml::parse(xml).map_err(|e| fail(e.to_string()))?;
    parse_test(file_name, &root).map_err(fail)
}

pub(crate) fn parse_test(file: &str, root: &Element) -> Result<ImportedTest, String> {
    if root.name != "assessmentTest" {
        return Err(format!(
            "the root element is <{}>, not an assessment test",
            root.name
        ));
    }
    let version = version_of(root).ok_or_else(|| {
        format!(
            "namespace {:?} is neither QTI 2.1 nor QTI 3.0",
            root.namespace.as_deref().unwrap_or("(none)")
        )
    })?;
    let mut refs = 0usize;
    let mut parts = Vec::new();
    for part in root.children_named("testPart") {
        let mut sections = Vec::new();
        for s in part.children_named("assessmentSection") {
            sections.push(parse_section(s, 1, &mut refs)?);
        }
        parts.push((
            ImportedTestPart {
                identifier: part.attr("identifier").unwrap_or_default().to_owned(),
                sections,
            },
            time_limit(part),
        ));
    }
    if parts.is_empty() {
        return Err("the test has no testPart".into());
    }
    let only_part_limit = match parts.as_slice() {
        [(_, t)] => *t,
        _ => None,
    };
    let time_limit_secs = time_limit(root).or(only_part_limit);
    Ok(ImportedTest {
        identifier: root.attr("identifier").unwrap_or_default().to_owned(),
        title: root.attr("title").unwrap_or_default().to_owned(),
        file: file.to_owned(),
        version,
        time_limit_secs,
        parts: parts.into_iter().map(|(p, _)| p).collect(),
    })
}

fn time_limit(e: &Element) -> Option<u32> {
    let secs = e
        .child("timeLimits")?
        .attr("maxTime")?
        .trim()
        .parse::<f64>()
        .ok()?;
    (secs.is_finite() && secs > 0.0 && secs <= f64::from(u32::MAX)).then(|| secs.round() as u32)
}

fn flag(e: &Element, name: &str, default: bool) -> bool {
    match e.attr(name).map(str::trim) {
        Some("true" | "1") => true,
        Some("false" | "0") => false,
        _ => default,
    }
}

fn parse_section(s: &Element, depth: usize, refs: &mut usize) -> Result<ImportedSection, String> {
    let identifier = s.attr("identifier").unwrap_or_default().to_owned();
    if depth > SECTION_DEPTH_MAX {
        return Err(format!(
            "section {identifier} is nested deeper than {SECTION_DEPTH_MAX} levels"
        ));
    }
    let selection = match s.child("selection") {
        None => None,
        Some(sel) => {
            let select = sel
                .attr("select")
                .and_then(|v| v.trim().parse::<u32>().ok())
                .ok_or_else(|| {
                    format!("section {identifier}: selection has no valid select count")
                })?;
            Some(Selection {
                select,
                with_replacement: flag(sel, "withReplacement", false),
            })
        }
    };
    let mut children = Vec::new();
    let mut item_count = 0;
    for c in s.elements() {
        match c.name.as_str() {
            "assessmentItemRef" => {
                *refs += 1;
                if *refs > ITEMS_PER_PACKAGE_MAX {
                    return Err(format!(
                        "the test references more than {ITEMS_PER_PACKAGE_MAX} items"
                    ));
                }
                item_count += 1;
                children.push(SectionPart::Item(parse_ref(c)?));
            }
            "assessmentSection" => {
                children.push(SectionPart::Section(parse_section(c, depth + 1, refs)?))
            }
            "assessmentSectionRef" => {
                return Err(format!(
                    "section {identifier} includes another file through assessmentSectionRef, which is not supported; inline the section"
                ));
            }
            _ => {}
        }
    }
    Ok(ImportedSection {
        title: s.attr("title").unwrap_or_default().to_owned(),
        visible: flag(s, "visible", true),
        required: flag(s, "required", false),
        selection,
        shuffle: s
            .child("ordering")
            .is_some_and(|o| flag(o, "shuffle", false)),
        time_limit_secs: time_limit(s),
        item_count,
        children,
        identifier,
    })
}

fn parse_ref(r: &Element) -> Result<ItemRef, String> {
    let identifier = r.attr("identifier").unwrap_or_default().to_owned();
    let href = r.attr("href").map(str::trim).unwrap_or_default().to_owned();
    if identifier.is_empty() || href.is_empty() {
        return Err("an assessmentItemRef has no identifier or no href".into());
    }
    let mut weights = BTreeMap::new();
    for w in r.children_named("weight") {
        let value = w
            .attr("value")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("item ref {identifier}: a weight has no numeric value"))?;
        weights.insert(w.attr("identifier").unwrap_or("W").to_owned(), value);
    }
    Ok(ItemRef {
        required: flag(r, "required", false),
        fixed: flag(r, "fixed", false),
        identifier,
        href,
        path: None,
        weights,
    })
}
