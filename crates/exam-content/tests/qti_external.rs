//! Every file in `shared/fixtures/qti-external/` is accepted or reported as its README says.

use std::collections::BTreeMap;

use exam_content::qti::{
    self, ImportReport, Interaction, ItemType, ProblemKind, Scoring, SectionPart,
};
use exam_domain::ItemKind;

fn dir() -> String {
    format!(
        "{}/../../../shared/fixtures/qti-external",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn read(path: &str) -> Vec<u8> {
    let full = format!("{}/{path}", dir());
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {full}: {e}"))
}

/// The `images/` folder next to the IMS example items, keyed relative to the items.
fn ims_images() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let images = format!("{}/qti21/ims-examples/images", dir());
    for entry in std::fs::read_dir(&images).expect("images dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        files.insert(
            format!("images/{name}"),
            std::fs::read(entry.path()).expect("image"),
        );
    }
    files
}

fn ims_item(name: &str) -> ImportReport {
    qti::import_item_xml(
        name,
        &read(&format!("qti21/ims-examples/{name}")),
        &ims_images(),
    )
    .expect("imports")
}

fn accepted(name: &str) -> ImportReport {
    let report = ims_item(name);
    assert!(report.problems.is_empty(), "{name}: {:#?}", report.problems);
    assert_eq!(report.items.len(), 1, "{name}");
    report
}

#[test]
fn ims_choice() {
    let report = accepted("choice.xml");
    let item = &report.items[0];
    assert_eq!(
        (item.identifier.as_str(), item.item_type),
        ("choice", ItemType::SingleChoice)
    );
    assert_eq!(item.responses[0].correct, ["ChoiceA"]);
    assert_eq!(item.scoring, Scoring::MatchCorrect { template: true });
    let Interaction::Choice {
        max_choices,
        shuffle,
        choices,
        ..
    } = &item.interactions[0]
    else {
        panic!("choice")
    };
    assert_eq!((*max_choices, *shuffle, choices.len()), (1, false, 3));
    assert_eq!(item.media, ["images/sign.png"]);
    assert_eq!(report.media["images/sign.png"].mime, "image/png");
    // The image travels with the paper, shown where the marker stands.
    let (paper, problems) = qti::to_paper(&report).expect("converts");
    assert!(
        paper
            .items()
            .next()
            .expect("item")
            .prompt
            .contains("[img:images/sign.png]"),
        "{paper:#?}"
    );
    assert_eq!(paper.media["images/sign.png"].mime, "image/png");
    assert_eq!(
        paper.media["images/sign.png"].bytes,
        report.media["images/sign.png"].bytes
    );
    assert!(
        !problems.iter().any(|p| p.message.contains("sign.png")),
        "{problems:#?}"
    );
}

#[test]
fn ims_choice_fixed() {
    let report = accepted("choice_fixed.xml");
    let item = &report.items[0];
    let Interaction::Choice {
        shuffle, choices, ..
    } = &item.interactions[0]
    else {
        panic!("choice")
    };
    assert!(*shuffle);
    assert_eq!(choices.len(), 4);
    assert_eq!(
        choices
            .iter()
            .filter(|c| c.fixed)
            .map(|c| c.identifier.as_str())
            .collect::<Vec<_>>(),
        ["ChoiceD"]
    );
    assert_eq!(choices.last().map(|c| c.fixed), Some(true));
    // The paper keeps the item but says that the fixed position is lost.
    let (paper, problems) = qti::to_paper(&report).expect("converts");
    assert_eq!(paper.items().count(), 1);
    assert!(
        problems
            .iter()
            .any(|p| p.kind == ProblemKind::Approximated && p.message.contains("ChoiceD"))
    );
}

#[test]
fn ims_choice_multiple() {
    let report = accepted("choice_multiple.xml");
    let item = &report.items[0];
    assert_eq!(item.item_type, ItemType::MultipleChoice);
    assert_eq!(item.responses[0].correct, ["H", "O"]);
    assert_eq!(item.scoring, Scoring::MapResponse { template: true });
    let m = item.responses[0].mapping.as_ref().expect("mapping");
    assert_eq!(
        (m.default_value, m.lower_bound, m.upper_bound),
        (-2.0, Some(0.0), Some(2.0))
    );
    let entries: Vec<(&str, f64)> = m
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.value))
        .collect();
    assert_eq!(entries, [("H", 1.0), ("O", 1.0), ("Cl", -1.0)]);
    let Interaction::Choice {
        max_choices,
        choices,
        ..
    } = &item.interactions[0]
    else {
        panic!("choice")
    };
    assert_eq!((*max_choices, choices.len()), (0, 6));
}

#[test]
fn ims_text_entry() {
    let report = accepted("text_entry.xml");
    let item = &report.items[0];
    assert_eq!(item.item_type, ItemType::FillIn);
    assert_eq!(item.responses[0].correct, ["York"]);
    assert!(
        item.body_text.contains("sun of ____;"),
        "{}",
        item.body_text
    );
    let (paper, problems) = qti::to_paper(&report).expect("converts");
    let Some(ItemKind::FillIn { blanks }) = paper.items().next().map(|i| i.kind.clone()) else {
        panic!("fill-in")
    };
    assert_eq!(blanks[0].accepted, ["York"]);
    // `york` = 0.5 cannot be partial credit on the platform: said so.
    assert!(
        problems
            .iter()
            .any(|p| p.kind == ProblemKind::Approximated && p.message.contains("\"york\""))
    );
}

#[test]
fn ims_extended_text() {
    let report = accepted("extended_text.xml");
    let item = &report.items[0];
    assert_eq!(item.item_type, ItemType::ShortAnswer);
    assert_eq!(item.scoring, Scoring::ByPerson);
    assert!(item.responses[0].correct.is_empty());
    assert_eq!(item.media, ["images/postcard.png"]);
    // The object's text fallback stays in the text after the marker.
    assert!(
        item.body_text
            .contains("[object:images/postcard.png]\nHere is a postcard of my town."),
        "{}",
        item.body_text
    );
}

#[test]
fn ims_inline_choice() {
    let report = accepted("inline_choice.xml");
    let item = &report.items[0];
    assert_eq!(item.item_type, ItemType::InlineChoice);
    assert_eq!(item.responses[0].correct, ["Y"]);
    let Interaction::InlineChoice {
        choices, shuffle, ..
    } = &item.interactions[0]
    else {
        panic!("inline")
    };
    assert!(!shuffle);
    assert_eq!(
        choices.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
        ["Gloucester", "Lancaster", "York"]
    );
    // Inline choice is a choice blank of a fill-in item: the options and the key (Y) travel.
    let (paper, problems) = qti::to_paper(&report).expect("converts");
    let item = paper.items().next().expect("the item");
    assert!(item.prompt.contains("sun of ____;"), "{}", item.prompt);
    let ItemKind::FillIn { blanks } = &item.kind else {
        panic!("fill-in")
    };
    assert_eq!(blanks.len(), 1);
    assert_eq!(blanks[0].accepted, ["Y"]);
    assert_eq!(
        blanks[0]
            .choices
            .iter()
            .map(|o| (o.id.as_str(), o.text.as_str()))
            .collect::<Vec<_>>(),
        [("G", "Gloucester"), ("L", "Lancaster"), ("Y", "York")]
    );
    // Only the fixed order (shuffle="false") cannot be kept: the platform shuffles options.
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems
            .iter()
            .any(|p| p.kind == ProblemKind::Approximated && p.message.contains("fixed order"))
    );
    assert!(
        problems
            .iter()
            .all(|p| p.kind != ProblemKind::NotRepresentable)
    );
}

#[test]
fn ims_unsupported_interactions_are_reported() {
    for (file, interaction) in [
        ("order.xml", "orderInteraction"),
        ("graphic_gap_match.xml", "graphicGapMatchInteraction"),
    ] {
        let report = ims_item(file);
        assert!(report.items.is_empty(), "{file}");
        assert_eq!(report.problems.len(), 1, "{file}: {:#?}", report.problems);
        let p = &report.problems[0];
        assert_eq!(
            (p.file.as_str(), p.kind),
            (file, ProblemKind::UnsupportedInteraction)
        );
        assert!(p.message.contains(interaction), "{}", p.message);
        assert!(p.item.is_some());
    }
}

#[test]
fn golden_test_structure_parses() {
    let test = qti::parse_test_xml(
        "golden.xml",
        &read("qti21/tests/golden_required_items_and_sections.xml"),
    )
    .expect("parses");
    assert_eq!(test.identifier, "RTEST-12");
    let sections: Vec<_> = test.sections().collect();
    assert_eq!(sections.len(), 2);
    let a = sections[0];
    assert_eq!(
        (
            a.identifier.as_str(),
            a.selection.map(|s| s.select),
            a.shuffle,
            a.item_count
        ),
        ("sectionA", Some(2), false, 3)
    );
    let required: Vec<&str> = a
        .item_refs()
        .iter()
        .filter(|r| r.required)
        .map(|r| r.identifier.as_str())
        .collect();
    assert_eq!(required, ["item034"]);
    let b = sections[1];
    assert_eq!(
        (
            b.identifier.as_str(),
            b.selection.map(|s| s.select),
            b.shuffle,
            b.item_count
        ),
        ("sectionB", Some(2), true, 3)
    );
    let Some(SectionPart::Section(b1)) = b.children.last() else {
        panic!("sub-section")
    };
    assert_eq!(
        (
            b1.identifier.as_str(),
            b1.visible,
            b1.required,
            b1.item_count
        ),
        ("sectionB1", false, true, 3)
    );
    assert_eq!(test.item_refs().len(), 9);
}

#[test]
fn golden_test_as_a_bank_reports_nine_missing_items() {
    let report = qti::import_test_xml(
        "golden.xml",
        &read("qti21/tests/golden_required_items_and_sections.xml"),
        &BTreeMap::new(),
    )
    .expect("imports");
    assert!(report.items.is_empty());
    assert!(report.test.is_some());
    let missing: Vec<&str> = report
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::MissingFile)
        .filter_map(|p| p.item.as_deref())
        .collect();
    assert_eq!(
        missing,
        [
            "item034", "item160", "item063", "item434", "item065", "item365", "item347", "item653",
            "item656"
        ]
    );
    assert_eq!(report.problems.len(), 9);
    assert!(report.problems.iter().all(|p| {
        p.message
            .contains(&format!("{}.xml", p.item.as_deref().unwrap_or("?")))
    }));
}

#[test]
fn qtiworks_package_is_accepted() {
    let report =
        qti::import_package(&read("qti21/packages/WebDeveloperTest1.zip")).expect("imports");
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    let keys: Vec<&str> = report.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        (1..=9).map(|n| format!("question{n}")).collect::<Vec<_>>()
    );
    let test = report.test.as_ref().expect("test");
    assert_eq!(
        (
            test.identifier.as_str(),
            test.sections().count(),
            test.item_refs().len()
        ),
        ("TEST", 1, 9)
    );
    let correct = |k: &str| {
        report
            .item(k)
            .expect(k)
            .responses
            .iter()
            .map(|r| r.correct.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(correct("question1"), [["ChoiceC"]]);
    assert_eq!(correct("question4"), [["ChoiceD"]]);
    assert_eq!(correct("question5"), [["ChoiceB", "ChoiceE"]]);
    assert_eq!(correct("question7"), [["ChoiceA"]]);
    assert_eq!(correct("question8"), [["ChoiceB"], ["Choice2"]]);
    assert_eq!(correct("question9"), [["ChoiceA", "ChoiceB"]]);
    let q4 = report.item("question4").expect("q4");
    assert_eq!(q4.media, ["directory.jpg"]);
    assert_eq!(report.media["directory.jpg"].mime, "image/jpeg");
    // Escaped HTML in choices is text, not markup.
    let Interaction::Choice { choices, .. } = &q4.interactions[0] else {
        panic!("choice")
    };
    assert_eq!(choices[3].text, "<img src = \"images/myimage.jpg\" />");
    let q8 = report.item("question8").expect("q8");
    assert_eq!(q8.item_type, ItemType::InlineChoice);
    let Scoring::MatchCorrectEach { points } = &q8.scoring else {
        panic!("{:?}", q8.scoring)
    };
    assert_eq!(
        points
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        [("RESPONSE1", 1.0), ("RESPONSE2", 1.0)]
    );
    assert_eq!(
        report.item("question5").expect("q5").item_type,
        ItemType::MultipleChoice
    );
    let Interaction::Choice { prompt, .. } = &report.item("question9").expect("q9").interactions[0]
    else {
        panic!("choice")
    };
    assert!(prompt.contains("aren\u{2019}t able"), "{prompt}");

    // The paper takes all nine items: question8's two inline choices are choice blanks (their
    // empty placeholder choices are left out, which is said).
    let (paper, problems) = qti::to_paper(&report).expect("converts");
    assert_eq!(paper.items().count(), 9);
    assert!(
        !problems.iter().any(|p| p.kind.drops_item()),
        "{problems:#?}"
    );
    let q8 = paper
        .items()
        .find(|i| i.id.as_str() == "question8")
        .expect("q8");
    let ItemKind::FillIn { blanks } = &q8.kind else {
        panic!("fill-in")
    };
    let keys: Vec<&str> = blanks.iter().map(|b| b.accepted[0].as_str()).collect();
    assert_eq!(keys, ["ChoiceB", "Choice2"]);
    assert_eq!((blanks[0].choices.len(), blanks[1].choices.len()), (2, 3));
    assert_eq!(
        problems
            .iter()
            .filter(|p| p.item.as_deref() == Some("question8") && p.message.contains("empty choice"))
            .count(),
        2
    );
}

#[test]
fn kennisnet_single_items() {
    let report = qti::import_item_xml(
        "match-correct-template.xml",
        &read("qti30/kennisnet/match-correct-template.xml"),
        &BTreeMap::new(),
    )
    .expect("imports");
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    let item = &report.items[0];
    assert_eq!(
        (item.version, item.item_type),
        (qti::QtiVersion::V3p0, ItemType::FillIn)
    );
    assert_eq!(item.responses[0].correct, ["Test"]);
    assert_eq!(item.scoring, Scoring::MatchCorrect { template: true });
    assert_eq!(item.body_text, "____");
    assert_eq!(item.max_score, Some(1.0));

    let report = qti::import_item_xml(
        "gap-match-no-processing.xml",
        &read("qti30/kennisnet/gap-match-no-processing.xml"),
        &BTreeMap::new(),
    )
    .expect("imports");
    assert!(report.items.is_empty());
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].kind, ProblemKind::UnsupportedInteraction);
    assert!(report.problems[0].message.contains("matchInteraction"));
}

const KENNISNET_SINGLE: [(u32, &str); 30] = [
    (1, "choice1"),
    (2, "choice1"),
    (3, "choice4"),
    (4, "choice3"),
    (5, "choice4"),
    (6, "choice3"),
    (7, "choice4"),
    (8, "choice2"),
    (9, "choice1"),
    (10, "choice4"),
    (12, "choice3"),
    (14, "choice1"),
    (15, "choice4"),
    (16, "choice3"),
    (17, "choice2"),
    (18, "choice2"),
    (19, "choice3"),
    (20, "choice1"),
    (21, "choice1"),
    (22, "choice1"),
    (23, "choice2"),
    (24, "choice3"),
    (25, "choice1"),
    (27, "choice2"),
    (30, "choice1"),
    (31, "choice3"),
    (32, "choice2"),
    (34, "choice3"),
    (42, "choice2"),
    (43, "choice1"),
];
const KENNISNET_EXTENDED: [u32; 15] = [11, 13, 26, 28, 29, 33, 35, 36, 39, 40, 41, 44, 45, 46, 47];

#[test]
fn kennisnet_package_accepts_45_and_reports_two() {
    let report = qti::import_package(&read("qti30/kennisnet/valid-package.zip")).expect("imports");
    let reported: Vec<(&str, ProblemKind)> = report
        .problems
        .iter()
        .map(|p| (p.item.as_deref().unwrap_or(""), p.kind))
        .collect();
    assert_eq!(
        reported,
        [
            ("QUE_37_1", ProblemKind::NoInteraction),
            ("QUE_38_1", ProblemKind::NoInteraction)
        ]
    );
    assert_eq!(report.items.len(), 45);
    for (n, correct) in KENNISNET_SINGLE {
        let item = report.item(&format!("QUE_{n}_1")).expect("single choice");
        assert_eq!(item.item_type, ItemType::SingleChoice, "QUE_{n}_1");
        assert_eq!(item.responses[0].correct, [correct], "QUE_{n}_1");
        // Custom processing recognised as match-correct (SCORE := MAXSCORE).
        assert_eq!(
            item.scoring,
            Scoring::MatchCorrect { template: false },
            "QUE_{n}_1"
        );
    }
    for n in KENNISNET_EXTENDED {
        let item = report.item(&format!("QUE_{n}_1")).expect("extended text");
        assert_eq!(
            (item.item_type, &item.scoring),
            (ItemType::ShortAnswer, &Scoring::ByPerson),
            "QUE_{n}_1"
        );
        assert!(
            item.scorer_rubric.is_some(),
            "QUE_{n}_1 has a marking scheme"
        );
    }
    assert_eq!(
        report.item("QUE_1_1").expect("1").media,
        ["scru0959.jpg", "figb1699.jpg", "figa0346.jpg"]
    );
    assert_eq!(
        report.item("QUE_32_1").expect("32").media,
        [
            "scru2805.jpg",
            "figb4678.jpg",
            "figb4679.jpg",
            "figa1036.jpg"
        ]
    );
    assert_eq!(report.media.len(), 24);
    assert!(
        report
            .media
            .values()
            .all(|m| m.mime == "image/jpeg" && m.bytes.starts_with(b"\xff\xd8"))
    );
    let test = report.test.as_ref().expect("test");
    assert_eq!(
        (test.version, test.item_refs().len(), test.time_limit_secs),
        (qti::QtiVersion::V3p0, 47, None)
    );

    let (paper, problems) = qti::to_paper(&report).expect("converts");
    assert_eq!(paper.items().count(), 45);
    assert!(
        problems.iter().all(|p| !p.kind.drops_item()),
        "{problems:#?}"
    );
}
