//! The project's own QTI 2.1 sample package (`qti21-sample.zip`): sections, item types, correct
//! responses, weights, selection counts, time limit and the image, pinned from the files.

use std::collections::BTreeSet;

use exam_content::qti::{self, ImportReport, ItemType, ProblemKind, Scoring};
use exam_domain::ItemKind;

fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../../../shared/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {full}: {e}"))
}

fn sample() -> ImportReport {
    qti::import_package(&fixture("qti21-sample.zip")).expect("the sample package imports")
}

#[test]
fn test_structure_is_read() {
    let report = sample();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    let test = report.test.as_ref().expect("the package has a test");
    assert_eq!(test.identifier, "QTEST");
    assert_eq!(test.file, "tests/paper.xml");
    assert_eq!(test.time_limit_secs, Some(5400));
    let sections: Vec<_> = test.sections().collect();
    let shape: Vec<(&str, &str, usize, Option<u32>, bool)> = sections
        .iter()
        .map(|s| {
            (
                s.identifier.as_str(),
                s.title.as_str(),
                s.item_count,
                s.selection.map(|x| x.select),
                s.shuffle,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("SJ", "一、判断题", 12, Some(10), true),
            ("SS", "二、单选题", 10, Some(8), true),
            ("SM", "三、多选题", 5, Some(4), true),
            ("SF", "四、填空题", 2, None, true),
            ("SE", "五、简答题", 2, None, true),
        ]
    );
    let weights: Vec<BTreeSet<u32>> = sections
        .iter()
        .map(|s| s.item_refs().iter().map(|r| r.weight() as u32).collect())
        .collect();
    let expected: Vec<BTreeSet<u32>> = [1, 2, 3, 2, 10]
        .iter()
        .map(|w| BTreeSet::from([*w]))
        .collect();
    assert_eq!(weights, expected);
    assert!(
        sections
            .iter()
            .all(|s| s.selection.is_none_or(|x| !x.with_replacement))
    );
}

#[test]
fn items_have_the_right_types_and_keys() {
    let report = sample();
    assert_eq!(report.items.len(), 31);
    let count = |t: ItemType| report.items.iter().filter(|i| i.item_type == t).count();
    assert_eq!(count(ItemType::TrueFalse), 12);
    assert_eq!(count(ItemType::SingleChoice), 10);
    assert_eq!(count(ItemType::MultipleChoice), 5);
    assert_eq!(count(ItemType::FillIn), 2);
    assert_eq!(count(ItemType::ShortAnswer), 2);

    let correct = |key: &str| report.item(key).expect(key).responses[0].correct.clone();
    assert_eq!(correct("QJ001"), ["C0"]);
    assert_eq!(correct("QJ003"), ["C1"]);
    assert_eq!(correct("QS002"), ["C2"]);
    assert_eq!(correct("QM001"), ["C0", "C1", "C2"]);
    assert_eq!(correct("QM003"), ["C0", "C1", "C3"]);
    assert_eq!(correct("QF002"), ["心脏"]);

    let qm1 = report.item("QM001").expect("QM001");
    assert_eq!(qm1.scoring, Scoring::MapResponse { template: true });
    let mapping = qm1.responses[0].mapping.as_ref().expect("mapping");
    assert_eq!(
        (
            mapping.lower_bound,
            mapping.upper_bound,
            mapping.default_value
        ),
        (Some(0.0), Some(3.0), 0.0)
    );
    assert_eq!(
        mapping.entries.iter().map(|e| e.value).collect::<Vec<_>>(),
        [1.0, 1.0, 1.0, -2.0]
    );
    assert_eq!(
        report.item("QS001").expect("QS001").scoring,
        Scoring::MatchCorrect { template: true }
    );
    assert_eq!(
        report.item("QE001").expect("QE001").scoring,
        Scoring::ByPerson
    );
    assert_eq!(
        report.item("QF001").expect("QF001").body_text,
        "我国规定的工频安全电压额定值最高为____V。"
    );
}

#[test]
fn the_image_is_kept_with_its_item() {
    let report = sample();
    let qs4 = report.item("QS004").expect("QS004");
    assert_eq!(qs4.media, ["items/images/circuit.png"]);
    assert_eq!(qs4.body_text, "[img:items/images/circuit.png]");
    let media = report.media.get("items/images/circuit.png").expect("kept");
    assert_eq!(media.mime, "image/png");
    assert!(media.bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(media.bytes_len, media.bytes.len());
    assert_eq!(report.media.len(), 1);
}

#[test]
fn to_paper_converts_every_item_and_names_what_it_cannot_hold() {
    let report = sample();
    let (paper, problems) = qti::to_paper(&report).expect("converts");
    assert_eq!(paper.id, "QTEST");
    assert_eq!(paper.time_limit_secs, 5400);
    assert_eq!(
        paper
            .sections
            .iter()
            .map(|s| s.items.len())
            .collect::<Vec<_>>(),
        [12, 10, 5, 2, 2]
    );
    let item = |id: &str| {
        paper
            .items()
            .find(|i| i.id.as_str() == id)
            .expect(id)
            .clone()
    };
    assert_eq!(item("QJ001").kind, ItemKind::TrueFalse { correct: true });
    assert_eq!(item("QJ003").kind, ItemKind::TrueFalse { correct: false });
    assert_eq!(
        item("QJ001").prompt,
        "低压电工作业是指对1千伏以下的低压电器设备进行安装、调试、运行操作等的作业。"
    );
    assert_eq!(
        (
            item("QJ001").weight,
            item("QS001").weight,
            item("QM001").weight,
            item("QF001").weight,
            item("QE001").weight
        ),
        (1, 2, 3, 2, 10)
    );
    let ItemKind::FillIn { blanks } = item("QF002").kind else {
        panic!("fill-in")
    };
    assert_eq!(blanks[0].accepted, ["心脏", "心脏部位"]);
    let ItemKind::MultipleChoice { correct, options } = item("QM002").kind else {
        panic!("multiple")
    };
    assert_eq!(correct.len(), 4);
    assert_eq!(options.len(), 4);
    assert!(matches!(item("QE002").kind, ItemKind::ShortAnswer { .. }));
    assert!(
        item("QS004")
            .prompt
            .contains("[img:items/images/circuit.png]")
    );

    // The image travels with the paper: same bytes, and no problem about it.
    let media = &report.media["items/images/circuit.png"];
    assert_eq!(paper.media.len(), 1);
    assert_eq!(paper.media["items/images/circuit.png"].bytes, media.bytes);
    assert_eq!(paper.media["items/images/circuit.png"].mime, "image/png");

    // Named, per item: the five partial-credit mappings; per section: three selections.
    let about = |kind: ProblemKind| {
        problems
            .iter()
            .filter(|p| p.kind == kind)
            .collect::<Vec<_>>()
    };
    let approx = about(ProblemKind::Approximated);
    assert_eq!(approx.len(), 5, "{approx:#?}");
    assert!(!approx.iter().any(|p| p.item.as_deref() == Some("QS004")));
    assert_eq!(
        approx
            .iter()
            .filter(|p| p.message.contains("partial credit"))
            .count(),
        5
    );
    assert_eq!(about(ProblemKind::TestRule).len(), 3);
    assert!(about(ProblemKind::NotRepresentable).is_empty());
}

#[test]
fn the_report_serialises_for_json_output() {
    let value = serde_json::to_value(sample()).expect("serialises");
    let section = &value["test"]["parts"][0]["sections"][0];
    assert_eq!(section["selection"]["select"], 10);
    assert_eq!(section["item_count"], 12);
    assert_eq!(section["children"][0]["weights"]["W"], 1.0);
    let first = &value["items"][0];
    assert_eq!(first["item_type"], "true_false");
    assert_eq!(first["responses"][0]["correct"][0], "C0");
    assert!(
        value["media"]["items/images/circuit.png"]
            .get("bytes")
            .is_none()
    );
}
