//! Export of a [`Paper`] as a QTI 2.1 content package: `imsmanifest.xml`, one
//! `items/<id>.xml` per item and `tests/test.xml` with the sections, weights and the time limit.
//! [`super::import_package`] followed by [`super::to_paper`] gives the same paper back.
//!
//! Mapping: true/false → a two-choice `choiceInteraction` reading 正确/错误; single and multiple
//! choice → `choiceInteraction` with `match_correct` (all-or-nothing); fill-in → one
//! `textEntryInteraction` per typed `____` with a mapping of every accepted answer, and one
//! `inlineChoiceInteraction` per choice blank with its key mapped to 1; short answer →
//! `extendedTextInteraction` with the reference in a scorer `rubricBlock` and no response
//! processing (scored by a person). Lines of a text become `<br/>`-separated lines; each
//! `[img:PATH]` marker becomes an `<img>` and the file is written at `PATH` in the package.
//!
//! The import puts a marker on a line with the text around it separated by one space, so a
//! paper round-trips exactly when its markers stand alone on a line or between spaces.

use std::io::{Cursor, Write};

use exam_domain::media::{Segment, image_refs, segments};
use exam_domain::{Blank, Item, ItemKind, Paper};
use zip::write::SimpleFileOptions;

use super::xml::escape;

const NS: &str = r#"xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.imsglobal.org/xsd/imsqti_v2p1 http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_v2p1.xsd""#;
const MATCH_CORRECT: &str = "http://www.imsglobal.org/question/qti_v2p1/rptemplates/match_correct";
const MAP_RESPONSE: &str = "http://www.imsglobal.org/question/qti_v2p1/rptemplates/map_response";
/// Identifiers of the true/false choices.
const TRUE_ID: &str = "T";
const FALSE_ID: &str = "F";

/// The package's zip bytes. Writing to memory cannot fail short of running out of memory, so
/// this returns bytes, not a `Result`; a zip-writer fault would give an empty vector.
pub fn export_package(paper: &Paper) -> Vec<u8> {
    let mut files: Vec<(String, &[u8])> = Vec::new();
    let manifest = manifest_xml(paper);
    let items: Vec<(String, String)> = paper
        .items()
        .map(|item| (item_path(item), item_xml(item)))
        .collect();
    let test = test_xml(paper);
    files.push(("imsmanifest.xml".into(), manifest.as_bytes()));
    for (path, xml) in &items {
        files.push((path.clone(), xml.as_bytes()));
    }
    files.push(("tests/test.xml".into(), test.as_bytes()));
    for (path, file) in &paper.media {
        // A path that would replace one of the package's own files is not written (a valid
        // paper's media paths end in an image extension, so this does not happen).
        if !files.iter().any(|(p, _)| p == path) {
            files.push((path.clone(), &file.bytes));
        }
    }
    write_zip(&files).unwrap_or_default()
}

fn write_zip(files: &[(String, &[u8])]) -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in files {
        zip.start_file(name.as_str(), options)?;
        zip.write_all(content)?;
    }
    Ok(zip.finish()?.into_inner())
}

fn item_path(item: &Item) -> String {
    format!("items/{}.xml", item.id)
}

/// A text as XHTML lines: escaped, images as `<img>`, lines joined with `<br/>`.
fn lines(text: &str) -> String {
    text.lines().map(inline).collect::<Vec<_>>().join("<br/>")
}

/// One line of text: escaped, each `[img:PATH]` marker as an `<img>` (items sit in `items/`).
fn inline(text: &str) -> String {
    segments(text)
        .into_iter()
        .map(|s| match s {
            Segment::Text(t) => escape(t),
            Segment::Image(path) => {
                format!("<img src=\"../{}\" alt=\"\"/>", escape(&href(path)))
            }
        })
        .collect()
}

/// A media path as an href: the characters the import reads specially are percent-encoded.
fn href(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => out.push_str("%25"),
            '#' => out.push_str("%23"),
            '?' => out.push_str("%3F"),
            ' ' => out.push_str("%20"),
            c => out.push(c),
        }
    }
    out
}

fn manifest_xml(paper: &Paper) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<manifest xmlns=\"http://www.imsglobal.org/xsd/imscp_v1p1\" identifier=\"MANIFEST\">\n  <metadata><schema>QTIv2.1 Package</schema><schemaversion>1.0.0</schemaversion></metadata>\n  <organizations/>\n  <resources>\n",
    );
    s.push_str(&format!(
        "    <resource identifier=\"{}\" type=\"imsqti_test_xmlv2p1\" href=\"tests/test.xml\"><file href=\"tests/test.xml\"/>",
        escape(&format!("test-{}", paper.id))
    ));
    for item in paper.items() {
        s.push_str(&format!(
            "<dependency identifierref=\"{}\"/>",
            escape(item.id.as_str())
        ));
    }
    s.push_str("</resource>\n");
    for item in paper.items() {
        let path = item_path(item);
        let mut shown: Vec<&str> = item.texts().into_iter().flat_map(image_refs).collect();
        shown.sort_unstable();
        shown.dedup();
        let media: String = shown
            .iter()
            .map(|p| format!("<file href=\"{}\"/>", escape(&href(p))))
            .collect();
        s.push_str(&format!(
            "    <resource identifier=\"{}\" type=\"imsqti_item_xmlv2p1\" href=\"{path}\"><file href=\"{path}\"/>{media}</resource>\n",
            escape(item.id.as_str())
        ));
    }
    s.push_str("  </resources>\n</manifest>\n");
    s
}

fn test_xml(paper: &Paper) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<assessmentTest {NS} identifier=\"{}\" title=\"{}\">\n  <timeLimits maxTime=\"{}\"/>\n  <testPart identifier=\"P1\" navigationMode=\"nonlinear\" submissionMode=\"simultaneous\">\n",
        escape(&paper.id),
        escape(&paper.title),
        paper.time_limit_secs
    );
    for section in &paper.sections {
        s.push_str(&format!(
            "    <assessmentSection identifier=\"{}\" title=\"{}\" visible=\"true\">\n      <ordering shuffle=\"true\"/>\n",
            escape(&section.id),
            escape(&section.title)
        ));
        for item in &section.items {
            s.push_str(&format!(
                "      <assessmentItemRef identifier=\"{}\" href=\"../{}\"><weight identifier=\"W\" value=\"{}\"/></assessmentItemRef>\n",
                escape(item.id.as_str()),
                item_path(item),
                item.weight
            ));
        }
        s.push_str("    </assessmentSection>\n");
    }
    s.push_str("  </testPart>\n</assessmentTest>\n");
    s
}

fn item_xml(item: &Item) -> String {
    let id = escape(item.id.as_str());
    let mut declarations = String::new();
    let mut body = String::new();
    let mut processing = String::new();
    let choice = |max: usize, shuffle: bool, options: &[(String, String)], prompt: &str| {
        let mut b = format!(
            "    <choiceInteraction responseIdentifier=\"RESPONSE\" shuffle=\"{shuffle}\" maxChoices=\"{max}\">\n      <prompt>{}</prompt>\n",
            lines(prompt)
        );
        for (oid, text) in options {
            b.push_str(&format!(
                "      <simpleChoice identifier=\"{}\">{}</simpleChoice>\n",
                escape(oid),
                lines(text)
            ));
        }
        b.push_str("    </choiceInteraction>\n");
        b
    };
    let values = |vals: &[&str]| {
        vals.iter()
            .map(|v| format!("<value>{}</value>", escape(v)))
            .collect::<String>()
    };
    match &item.kind {
        ItemKind::TrueFalse { correct } => {
            let key = if *correct { TRUE_ID } else { FALSE_ID };
            declarations.push_str(&format!(
                "  <responseDeclaration identifier=\"RESPONSE\" cardinality=\"single\" baseType=\"identifier\"><correctResponse>{}</correctResponse></responseDeclaration>\n",
                values(&[key])
            ));
            let options = [
                (TRUE_ID.to_owned(), "正确".to_owned()),
                (FALSE_ID.to_owned(), "错误".to_owned()),
            ];
            body.push_str(&choice(1, false, &options, &item.prompt));
            processing = format!("  <responseProcessing template=\"{MATCH_CORRECT}\"/>\n");
        }
        ItemKind::SingleChoice { options, correct } => {
            declarations.push_str(&format!(
                "  <responseDeclaration identifier=\"RESPONSE\" cardinality=\"single\" baseType=\"identifier\"><correctResponse>{}</correctResponse></responseDeclaration>\n",
                values(&[correct.as_str()])
            ));
            let options: Vec<(String, String)> = options
                .iter()
                .map(|o| (o.id.to_string(), o.text.clone()))
                .collect();
            body.push_str(&choice(1, true, &options, &item.prompt));
            processing = format!("  <responseProcessing template=\"{MATCH_CORRECT}\"/>\n");
        }
        ItemKind::MultipleChoice { options, correct } => {
            let keys: Vec<&str> = correct.iter().map(|c| c.as_str()).collect();
            declarations.push_str(&format!(
                "  <responseDeclaration identifier=\"RESPONSE\" cardinality=\"multiple\" baseType=\"identifier\"><correctResponse>{}</correctResponse></responseDeclaration>\n",
                values(&keys)
            ));
            let options: Vec<(String, String)> = options
                .iter()
                .map(|o| (o.id.to_string(), o.text.clone()))
                .collect();
            body.push_str(&choice(0, true, &options, &item.prompt));
            processing = format!("  <responseProcessing template=\"{MATCH_CORRECT}\"/>\n");
        }
        ItemKind::FillIn { blanks } => {
            let rid = |n: usize| {
                if blanks.len() == 1 {
                    "RESPONSE".to_owned()
                } else {
                    format!("RESPONSE{}", n + 1)
                }
            };
            for (n, blank) in blanks.iter().enumerate() {
                declarations.push_str(&blank_declaration(&rid(n), blank));
            }
            let mut n = 0;
            let mut paragraph = Vec::new();
            for line in item.prompt.lines() {
                let mut out = String::new();
                for (i, part) in line.split("____").enumerate() {
                    if i > 0 {
                        out.push_str(&blank_interaction(&rid(n), blanks.get(n)));
                        n += 1;
                    }
                    out.push_str(&inline(part));
                }
                paragraph.push(out);
            }
            body.push_str(&format!("    <p>{}</p>\n", paragraph.join("<br/>")));
            processing = if blanks.len() == 1 {
                format!("  <responseProcessing template=\"{MAP_RESPONSE}\"/>\n")
            } else {
                let sum: String = (0..blanks.len())
                    .map(|n| format!("<mapResponse identifier=\"{}\"/>", rid(n)))
                    .collect();
                format!(
                    "  <responseProcessing><setOutcomeValue identifier=\"SCORE\"><sum>{sum}</sum></setOutcomeValue></responseProcessing>\n"
                )
            };
        }
        ItemKind::ShortAnswer { reference } => {
            declarations.push_str("  <responseDeclaration identifier=\"RESPONSE\" cardinality=\"single\" baseType=\"string\"/>\n");
            body.push_str(&format!(
                "    <extendedTextInteraction responseIdentifier=\"RESPONSE\" expectedLines=\"8\"><prompt>{}</prompt></extendedTextInteraction>\n",
                lines(&item.prompt)
            ));
            if !reference.trim().is_empty() {
                body.push_str(&format!(
                    "    <rubricBlock view=\"scorer\"><p>{}</p></rubricBlock>\n",
                    lines(reference)
                ));
            }
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<assessmentItem {NS} identifier=\"{id}\" title=\"{id}\" adaptive=\"false\" timeDependent=\"false\">\n{declarations}  <outcomeDeclaration identifier=\"SCORE\" cardinality=\"single\" baseType=\"float\"/>\n  <itemBody>\n{body}  </itemBody>\n{processing}</assessmentItem>\n"
    )
}

/// A typed blank as a text entry, a choice blank as an inline choice.
fn blank_interaction(rid: &str, blank: Option<&Blank>) -> String {
    match blank {
        Some(b) if !b.choices.is_empty() => {
            let choices: String = b
                .choices
                .iter()
                .map(|o| {
                    format!(
                        "<inlineChoice identifier=\"{}\">{}</inlineChoice>",
                        escape(o.id.as_str()),
                        escape(&o.text)
                    )
                })
                .collect();
            format!(
                "<inlineChoiceInteraction responseIdentifier=\"{rid}\" shuffle=\"true\">{choices}</inlineChoiceInteraction>"
            )
        }
        _ => format!("<textEntryInteraction responseIdentifier=\"{rid}\" expectedLength=\"20\"/>"),
    }
}

fn blank_declaration(rid: &str, blank: &Blank) -> String {
    if !blank.choices.is_empty() {
        let key = blank
            .accepted
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        return format!(
            "  <responseDeclaration identifier=\"{rid}\" cardinality=\"single\" baseType=\"identifier\"><correctResponse><value>{0}</value></correctResponse><mapping defaultValue=\"0\"><mapEntry mapKey=\"{0}\" mappedValue=\"1\"/></mapping></responseDeclaration>\n",
            escape(key)
        );
    }
    let first = blank
        .accepted
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    let entries: String = blank
        .accepted
        .iter()
        .map(|a| {
            format!(
                "<mapEntry mapKey=\"{}\" mappedValue=\"1\" caseSensitive=\"false\"/>",
                escape(a)
            )
        })
        .collect();
    format!(
        "  <responseDeclaration identifier=\"{rid}\" cardinality=\"single\" baseType=\"string\"><correctResponse><value>{}</value></correctResponse><mapping defaultValue=\"0\">{entries}</mapping></responseDeclaration>\n",
        escape(first)
    )
}
