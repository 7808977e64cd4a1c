//! Export of a [`Paper`] as a QTI 2.1 content package: `imsmanifest.xml`, one
//! `items/<id>.xml` per item and `tests/test.xml` with the sections, weights and the time limit.
//! [`super::import_package`] followed by [`super::to_paper`] gives the same paper back.
//!
//! Mapping: true/false → a two-choice `choiceInteraction` reading 正确/错误; single and multiple
//! choice → `choiceInteraction` with `match_correct` (all-or-nothing); fill-in → one
//! `textEntryInteraction` per `____` with a mapping of every accepted answer; short answer →
//! `extendedTextInteraction` with the reference in a scorer `rubricBlock` and no response
//! processing (scored by a person). Lines of a text become `<br/>`-separated lines.

use std::io::{Cursor, Write};

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
    let mut files: Vec<(String, String)> = Vec::new();
    for item in paper.items() {
        files.push((item_path(item), item_xml(item)));
    }
    files.push(("tests/test.xml".into(), test_xml(paper)));
    files.insert(0, ("imsmanifest.xml".into(), manifest_xml(paper)));
    write_zip(&files).unwrap_or_default()
}

fn write_zip(files: &[(String, String)]) -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in files {
        zip.start_file(name.as_str(), options)?;
        zip.write_all(content.as_bytes())?;
    }
    Ok(zip.finish()?.into_inner())
}

fn item_path(item: &Item) -> String {
    format!("items/{}.xml", item.id)
}

/// A text as XHTML lines: escaped, lines joined with `<br/>`.
fn lines(text: &str) -> String {
    text.lines().map(escape).collect::<Vec<_>>().join("<br/>")
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
        s.push_str(&format!(
            "    <resource identifier=\"{}\" type=\"imsqti_item_xmlv2p1\" href=\"{path}\"><file href=\"{path}\"/></resource>\n",
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
                        out.push_str(&format!("<textEntryInteraction responseIdentifier=\"{}\" expectedLength=\"20\"/>", rid(n)));
                        n += 1;
                    }
                    out.push_str(&escape(part));
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

fn blank_declaration(rid: &str, blank: &Blank) -> String {
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
