//! Export → import → `to_paper` gives the same paper; malformed input gives errors or problems,
//! never a panic.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

use exam_content::archive::ArchiveError;
use exam_content::qti::{self, ProblemKind, QtiError};
use exam_domain::Paper;
use proptest::prelude::*;

fn round_trip(paper: &Paper) {
    let bytes = qti::export_package(paper);
    let report = qti::import_package(&bytes).expect("the export imports");
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    let (back, problems) = qti::to_paper(&report).expect("converts back");
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(&back, paper);
}

#[test]
fn small_paper_round_trips() {
    round_trip(&exam_domain::demo::small_paper());
}

/// The demo site's package (QTI is its source): it imports without a single problem, has every
/// item type, and exports back to the same paper.
#[test]
fn demo_package_imports_cleanly_and_round_trips() {
    let path = format!(
        "{}/../../site-server/demo/dygz-theory-qti21.zip",
        env!("CARGO_MANIFEST_DIR")
    );
    let report = exam_content::qti::import_package(&std::fs::read(&path).expect("demo package"))
        .expect("imports");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let (paper, problems) = exam_content::qti::to_paper(&report).expect("converts");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(paper.items().count(), 70);
    assert_eq!(paper.sections.len(), 5);
    round_trip(&paper);
}

#[test]
fn multi_line_prompts_and_several_blanks_round_trip() {
    let mut paper = exam_domain::demo::small_paper();
    let item = paper.sections[1].items.first_mut().expect("fill-in");
    item.prompt = "第一行 <a & b>\n安全电压为____V，频率为____Hz".into();
    item.kind = exam_domain::ItemKind::FillIn {
        blanks: vec![
            exam_domain::Blank {
                accepted: vec!["36".into(), "36V".into()],
                choices: vec![],
            },
            exam_domain::Blank {
                accepted: vec!["50".into()],
                choices: vec![],
            },
        ],
    };
    round_trip(&paper);
}

/// A fill-in item mixing a typed blank and an inline choice under an image, and a choice item
/// whose prompt and one option show images: export writes `inlineChoiceInteraction` and `<img>`
/// plus the files, and the import gives the same paper back.
#[test]
fn inline_choice_blanks_and_images_round_trip() {
    use exam_domain::{Blank, ChoiceOption, ItemKind, MediaFile, OptionId};
    let png = |tag: u8| MediaFile {
        mime: "image/png".into(),
        bytes: [b"\x89PNG\r\n\x1a\n".as_slice(), &[tag; 16]].concat(),
    };
    let opt = |id: &str, text: &str| ChoiceOption {
        id: OptionId::parse(id).expect("valid"),
        text: text.into(),
    };
    let mut paper = exam_domain::demo::small_paper();
    paper
        .media
        .insert("items/images/circuit diagram.png".into(), png(1));
    paper.media.insert(
        "media/sign.jpg".into(),
        MediaFile {
            mime: "image/jpeg".into(),
            bytes: vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10],
        },
    );
    let fill_in = paper.sections[1].items.first_mut().expect("fill-in");
    fill_in.prompt =
        "如图：\n[img:items/images/circuit diagram.png]\n安全电压为____V，由____供电 & 接地".into();
    fill_in.kind = ItemKind::FillIn {
        blanks: vec![
            Blank {
                accepted: vec!["36".into()],
                choices: vec![],
            },
            Blank {
                accepted: vec!["Y".into()],
                choices: vec![
                    opt("G", "发电机 <A>"),
                    opt("L", "蓄电池"),
                    opt("Y", "安全隔离变压器"),
                ],
            },
        ],
    };
    let single = paper.sections[0].items.get_mut(1).expect("single choice");
    single.prompt = "下图标志的含义是 [img:media/sign.jpg] ？".into();
    let ItemKind::SingleChoice { options, .. } = &mut single.kind else {
        panic!("single choice")
    };
    options[0].text = "[img:items/images/circuit diagram.png]".into();
    paper.validate().expect("valid");
    round_trip(&paper);

    // The package holds the files and the interaction.
    let bytes = qti::export_package(&paper);
    let report = qti::import_package(&bytes).expect("imports");
    assert_eq!(report.media.len(), 2);
    let item = report.item("fi1").expect("fi1");
    assert_eq!(item.item_type, qti::ItemType::Composite);
    assert!(matches!(
        item.interactions[1],
        qti::Interaction::InlineChoice { .. }
    ));
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start");
        zip.write_all(content).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

const MANIFEST: &[u8] = br#"<manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1"><resources>
<resource identifier="I1" type="imsqti_item_xmlv2p1" href="i1.xml"/>
<resource identifier="I2" type="imsqti_item_xmlv2p1" href="i2.xml"/>
<resource identifier="I3" type="imsqti_item_xmlv2p1" href="missing.xml"/>
</resources></manifest>"#;

#[test]
fn garbage_and_truncated_zips_are_errors() {
    assert!(matches!(
        qti::import_package(b"not a zip at all"),
        Err(QtiError::Archive(ArchiveError::NotZip(_)))
    ));
    assert!(qti::import_package(&[]).is_err());
    let good = qti::export_package(&exam_domain::demo::small_paper());
    for cut in [10, good.len() / 2, good.len() - 10] {
        assert!(qti::import_package(&good[..cut]).is_err(), "cut at {cut}");
    }
    let no_manifest = zip_of(&[("a.xml", b"<a/>")]);
    assert!(matches!(
        qti::import_package(&no_manifest),
        Err(QtiError::NoManifest)
    ));
    let broken_manifest = zip_of(&[("imsmanifest.xml", b"<manifest><resources>")]);
    assert!(matches!(
        qti::import_package(&broken_manifest),
        Err(QtiError::Manifest(_))
    ));
}

#[test]
fn dot_dot_paths_are_refused() {
    let evil = zip_of(&[("imsmanifest.xml", MANIFEST), ("../evil.xml", b"<a/>")]);
    assert!(matches!(
        qti::import_package(&evil),
        Err(QtiError::Archive(ArchiveError::UnsafePath(_)))
    ));
    // An item that points outside the package is a per-item problem.
    let item = br#"<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="x">
<responseDeclaration identifier="RESPONSE" cardinality="single" baseType="string"/>
<itemBody><p><img src="../../etc/passwd"/></p><extendedTextInteraction responseIdentifier="RESPONSE"/></itemBody></assessmentItem>"#;
    let report = qti::import_item_xml("x.xml", item, &BTreeMap::new()).expect("imports");
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].kind, ProblemKind::UnsafePath);
}

#[test]
fn broken_items_are_problems_and_the_rest_imports() {
    let good = br#"<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="ok" title="ok">
<responseDeclaration identifier="RESPONSE" cardinality="single" baseType="string"/>
<itemBody><p><img src="pic.png"/></p><extendedTextInteraction responseIdentifier="RESPONSE"><prompt>Why?</prompt></extendedTextInteraction></itemBody></assessmentItem>"#;
    let broken = b"<assessmentItem xmlns=\"http://www.imsglobal.org/xsd/imsqti_v2p1\"><itemBody>";
    let package = zip_of(&[
        ("imsmanifest.xml", MANIFEST),
        ("i1.xml", good),
        ("i2.xml", broken),
    ]);
    let report = qti::import_package(&package).expect("imports");
    assert!(
        report.items.is_empty(),
        "i1's image is missing, i2 is broken"
    );
    let problems: Vec<(&str, ProblemKind)> = report
        .problems
        .iter()
        .map(|p| (p.file.as_str(), p.kind))
        .collect();
    assert_eq!(
        problems,
        [
            ("i1.xml", ProblemKind::MissingFile),
            ("i2.xml", ProblemKind::MalformedXml),
            ("missing.xml", ProblemKind::MissingFile)
        ]
    );
    assert!(report.problems[0].message.contains("pic.png"));

    let package = zip_of(&[
        ("imsmanifest.xml", MANIFEST),
        ("i1.xml", good),
        ("i2.xml", broken),
        ("pic.png", b"\x89PNG"),
    ]);
    let report = qti::import_package(&package).expect("imports");
    assert_eq!(report.items.len(), 1);
    assert_eq!(report.problems.len(), 2);
}

#[test]
fn custom_response_processing_is_reported() {
    let item = br#"<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="c">
<responseDeclaration identifier="RESPONSE" cardinality="single" baseType="identifier"><correctResponse><value>A</value></correctResponse></responseDeclaration>
<itemBody><choiceInteraction responseIdentifier="RESPONSE" maxChoices="1"><simpleChoice identifier="A">a</simpleChoice><simpleChoice identifier="B">b</simpleChoice></choiceInteraction></itemBody>
<responseProcessing><responseCondition><responseIf><gt><variable identifier="numAttempts"/><baseValue baseType="integer">1</baseValue></gt>
<setOutcomeValue identifier="SCORE"><baseValue baseType="float">1</baseValue></setOutcomeValue></responseIf></responseCondition></responseProcessing></assessmentItem>"#;
    let report = qti::import_item_xml("c.xml", item, &BTreeMap::new()).expect("imports");
    assert!(report.items.is_empty());
    assert_eq!(
        report.problems[0].kind,
        ProblemKind::CustomResponseProcessing
    );
    assert_eq!(report.problems[0].item.as_deref(), Some("c"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = qti::import_package(&bytes);
        let _ = qti::import_item_xml("x.xml", &bytes, &BTreeMap::new());
        let _ = qti::parse_test_xml("t.xml", &bytes);
    }

    #[test]
    fn damaged_items_never_panic(cut in 0usize..2000, flip in 0usize..2000, byte in any::<u8>()) {
        let xml = std::fs::read(format!("{}/../../../shared/fixtures/qti-external/qti21/ims-examples/choice_multiple.xml", env!("CARGO_MANIFEST_DIR"))).expect("fixture");
        let mut damaged = xml[..cut.min(xml.len())].to_vec();
        if let Some(b) = damaged.get_mut(flip) { *b = byte; }
        if let Ok(report) = qti::import_item_xml("x.xml", &damaged, &BTreeMap::new()) {
            prop_assert!(report.items.len() + report.problems.len() >= 1);
            let _ = qti::to_paper(&report);
        }
    }

    #[test]
    fn damaged_packages_never_panic(flip in 0usize..4000, byte in any::<u8>()) {
        let mut zip = qti::export_package(&exam_domain::demo::small_paper());
        if let Some(b) = zip.get_mut(flip) { *b = byte; }
        if let Ok(report) = qti::import_package(&zip) {
            let _ = qti::to_paper(&report);
        }
    }
}
