//! Assembly: reproducible from a seed, and every candidate gets the same number of items and the
//! same maximum score; definitions that cannot guarantee that are refused with the reason.

use std::collections::BTreeSet;

use exam_content::assembly::{self, AssemblyError, PoolItem, SectionRule, TestDefinition};
use exam_content::qti;
use exam_domain::{Item, ItemId, ItemKind};

fn sample_definition() -> TestDefinition {
    let bytes = std::fs::read(format!(
        "{}/../../../shared/fixtures/qti21-sample.zip",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let report = qti::import_package(&bytes).expect("imports");
    let (definition, _problems) = qti::to_test_definition(&report).expect("a valid definition");
    definition
}

fn item(id: &str, weight: u32) -> Item {
    Item {
        id: ItemId::parse(id).expect("id"),
        weight,
        prompt: "题目".into(),
        kind: ItemKind::TrueFalse { correct: true },
    }
}

fn section(id: &str, select: Option<u32>, pool: Vec<(Item, bool)>) -> SectionRule {
    SectionRule {
        id: id.into(),
        title: id.into(),
        select,
        shuffle: true,
        pool: pool
            .into_iter()
            .map(|(item, required)| PoolItem { item, required })
            .collect(),
    }
}

#[test]
fn sample_definition_has_fixed_counts_and_maximum() {
    let def = sample_definition();
    assert_eq!(def.items_per_candidate(), 10 + 8 + 4 + 2 + 2);
    assert_eq!(def.max_points(), 10 + 16 + 12 + 4 + 20);
    assert_eq!(def.time_limit_secs(), 5400);
}

#[test]
fn same_seed_same_paper_other_seed_other_paper() {
    let def = sample_definition();
    let a = assembly::assemble(&def, 42);
    assert_eq!(a, assembly::assemble(&def, 42));
    assert_ne!(a, assembly::assemble(&def, 43));
}

#[test]
fn every_seed_gives_equal_counts_and_maximum() {
    let def = sample_definition();
    let bank: BTreeSet<ItemId> = def
        .sections()
        .iter()
        .flat_map(|s| s.pool.iter().map(|p| p.item.id.clone()))
        .collect();
    let mut drawn_sets = BTreeSet::new();
    for seed in 0..200u64 {
        let paper = assembly::assemble(&def, seed.wrapping_mul(0x9E37_79B9));
        paper.validate().expect("valid");
        assert_eq!(
            paper
                .sections
                .iter()
                .map(|s| s.items.len())
                .collect::<Vec<_>>(),
            [10, 8, 4, 2, 2]
        );
        assert_eq!(paper.max_points(), def.max_points());
        let ids: BTreeSet<ItemId> = paper.items().map(|i| i.id.clone()).collect();
        assert_eq!(ids.len(), 26);
        assert!(ids.is_subset(&bank));
        drawn_sets.insert(ids);
    }
    assert!(drawn_sets.len() > 20, "selection varies between candidates");
}

#[test]
fn required_items_are_always_drawn() {
    let def = TestDefinition::new(
        "t",
        "t",
        600,
        vec![section(
            "A",
            Some(2),
            vec![
                (item("a1", 1), true),
                (item("a2", 1), false),
                (item("a3", 1), false),
                (item("a4", 1), false),
            ],
        )],
    )
    .expect("valid");
    for seed in 0..50 {
        let paper = assembly::assemble(&def, seed);
        assert_eq!(paper.items().count(), 2);
        assert!(paper.items().any(|i| i.id.as_str() == "a1"));
    }
}

#[test]
fn unequal_weights_in_a_drawn_section_are_refused() {
    let err = TestDefinition::new(
        "t",
        "t",
        600,
        vec![section(
            "A",
            Some(1),
            vec![(item("a1", 1), false), (item("a2", 2), false)],
        )],
    )
    .expect_err("max scores could differ");
    assert_eq!(
        err,
        AssemblyError::UnequalWeights {
            section: "A".into(),
            select: 1,
            pool: 2,
            weights: vec![1, 2]
        }
    );
    assert!(err.to_string().contains("maximum scores could differ"));
    // Drawing all of them, or weights differing only among required items, is fine.
    TestDefinition::new(
        "t",
        "t",
        600,
        vec![section(
            "A",
            Some(2),
            vec![(item("a1", 1), false), (item("a2", 2), false)],
        )],
    )
    .expect("all drawn");
    TestDefinition::new(
        "t",
        "t",
        600,
        vec![section(
            "A",
            Some(2),
            vec![
                (item("a1", 5), true),
                (item("a2", 1), false),
                (item("a3", 1), false),
            ],
        )],
    )
    .expect("required item has its own weight");
}

#[test]
fn impossible_definitions_are_refused() {
    let pool = || vec![(item("a1", 1), false), (item("a2", 1), false)];
    assert!(matches!(
        TestDefinition::new("t", "t", 600, vec![section("A", Some(3), pool())]),
        Err(AssemblyError::SelectTooMany {
            select: 3,
            pool: 2,
            ..
        })
    ));
    assert!(matches!(
        TestDefinition::new("t", "t", 600, vec![section("A", Some(0), pool())]),
        Err(AssemblyError::SelectZero { .. })
    ));
    assert!(matches!(
        TestDefinition::new(
            "t",
            "t",
            600,
            vec![section(
                "A",
                Some(1),
                vec![(item("a1", 1), true), (item("a2", 1), true)]
            )]
        ),
        Err(AssemblyError::RequiredExceedSelect {
            required: 2,
            select: 1,
            ..
        })
    ));
    assert!(matches!(
        TestDefinition::new(
            "t",
            "t",
            600,
            vec![section("A", None, pool()), section("B", None, pool())]
        ),
        Err(AssemblyError::DuplicateItem(_))
    ));
    assert!(matches!(
        TestDefinition::new("t", "t", 600, vec![]),
        Err(AssemblyError::NoSections)
    ));
    assert!(matches!(
        TestDefinition::new("t", "t", 10, vec![section("A", None, pool())]),
        Err(AssemblyError::Paper(_))
    ));
}
