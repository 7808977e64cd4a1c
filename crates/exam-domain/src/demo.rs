//! Deterministic sample data for the demo site and for simulated candidates: a roster that the
//! demo server seeds and `exam-client simulate` logs in with, and a small paper for tests.

use std::collections::BTreeSet;

use crate::ids::{AdmissionNo, IdNumber, ItemId, OptionId};
use crate::paper::{Blank, CandidateItem, ChoiceOption, Item, ItemBody, ItemKind, Paper, Section};
use crate::response::Response;
use crate::rng::SplitMix64;

/// One demo candidate's credentials and seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCandidate {
    pub admission_no: AdmissionNo,
    pub id_number: IdNumber,
    pub name: String,
    pub seat: String,
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "建国", "志强", "海燕",
];

/// The `index`-th demo candidate (0-based). Admission numbers run `2026110001`, `2026110002`, …;
/// seats fill rooms of 50 as `A-01` … `A-50`, `B-01`, …
pub fn candidate(index: u32) -> DemoCandidate {
    let n = index + 1;
    let admission_no =
        AdmissionNo::parse(&format!("20261{n:05}")).expect("demo admission numbers are valid");
    // Birth dates spread over 1966-1999, the 17th digit odd for men (even index) and even for women.
    let year = 1966 + (index * 7) % 34;
    let month = 1 + (index * 5) % 12;
    let day = 1 + (index * 11) % 28;
    let seq = (index % 500) * 2 + u32::from(index.is_multiple_of(2));
    let first17 = format!("110105{year:04}{month:02}{day:02}{seq:03}");
    let id_number = IdNumber::with_check_char(&first17).expect("demo ID numbers are valid");
    let name = format!(
        "{}{}",
        SURNAMES[(index as usize) % SURNAMES.len()],
        GIVEN[(index as usize / SURNAMES.len() + index as usize) % GIVEN.len()]
    );
    let room = char::from(b'A' + ((index / 50) % 26) as u8);
    let seat = format!("{room}-{:02}", index % 50 + 1);
    DemoCandidate {
        admission_no,
        id_number,
        name,
        seat,
    }
}

/// The first `count` demo candidates.
pub fn roster(count: u32) -> Vec<DemoCandidate> {
    (0..count).map(candidate).collect()
}

/// A five-item paper with one item of each type, for tests.
pub fn small_paper() -> Paper {
    let id = |s: &str| ItemId::parse(s).expect("valid");
    let opt = |s: &str| OptionId::parse(s).expect("valid");
    let options = |n: usize| -> Vec<ChoiceOption> {
        ["A", "B", "C", "D", "E"][..n]
            .iter()
            .map(|o| ChoiceOption {
                id: opt(o),
                text: format!("选项{o}"),
            })
            .collect()
    };
    Paper {
        id: "small".into(),
        title: "测试卷".into(),
        time_limit_secs: 600,
        sections: vec![
            Section {
                id: "S1".into(),
                title: "一、客观题".into(),
                items: vec![
                    Item {
                        id: id("tf1"),
                        weight: 1,
                        prompt: "判断".into(),
                        kind: ItemKind::TrueFalse { correct: true },
                    },
                    Item {
                        id: id("sc1"),
                        weight: 1,
                        prompt: "单选".into(),
                        kind: ItemKind::SingleChoice {
                            options: options(4),
                            correct: opt("B"),
                        },
                    },
                    Item {
                        id: id("mc1"),
                        weight: 2,
                        prompt: "多选".into(),
                        kind: ItemKind::MultipleChoice {
                            options: options(5),
                            correct: BTreeSet::from([opt("A"), opt("C")]),
                        },
                    },
                ],
            },
            Section {
                id: "S2".into(),
                title: "二、主观题".into(),
                items: vec![
                    Item {
                        id: id("fi1"),
                        weight: 2,
                        prompt: "安全电压为____V".into(),
                        kind: ItemKind::FillIn {
                            blanks: vec![Blank {
                                accepted: vec!["36".into()],
                                choices: vec![],
                            }],
                        },
                    },
                    Item {
                        id: id("sa1"),
                        weight: 5,
                        prompt: "简述".into(),
                        kind: ItemKind::ShortAnswer {
                            reference: "要点".into(),
                        },
                    },
                ],
            },
        ],
        media: Default::default(),
    }
}

/// A random but valid response for an item.
pub fn random_response(item: &CandidateItem, rng: &mut SplitMix64) -> Response {
    match &item.body {
        ItemBody::TrueFalse => Response::TrueFalse(rng.below(2) == 1),
        ItemBody::SingleChoice { options } => {
            let i = rng.below(options.len().max(1) as u64) as usize;
            Response::Choices(options.get(i).map(|o| o.id.clone()).into_iter().collect())
        }
        ItemBody::MultipleChoice { options } => {
            let mut chosen: BTreeSet<_> = options
                .iter()
                .filter(|_| rng.below(2) == 1)
                .map(|o| o.id.clone())
                .collect();
            if chosen.is_empty()
                && let Some(o) = options.first()
            {
                chosen.insert(o.id.clone());
            }
            Response::Choices(chosen)
        }
        ItemBody::FillIn { blanks } => Response::Blanks(
            blanks
                .iter()
                .map(|blank| {
                    if blank.is_choice() {
                        let i = rng.below(blank.choices.len() as u64) as usize;
                        blank
                            .choices
                            .get(i)
                            .map(|o| o.id.to_string())
                            .unwrap_or_default()
                    } else {
                        format!("{}", rng.below(100))
                    }
                })
                .collect(),
        ),
        ItemBody::ShortAnswer => {
            Response::Essay(format!("模拟考生作答，编号 {}。", rng.below(1_000_000)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_roster_is_valid_and_unique() {
        let r = roster(1000);
        let adm: BTreeSet<_> = r.iter().map(|c| c.admission_no.clone()).collect();
        let ids: BTreeSet<_> = r.iter().map(|c| c.id_number.clone()).collect();
        assert_eq!(adm.len(), 1000);
        assert_eq!(ids.len(), 1000);
        assert_eq!(r[0].admission_no.as_str(), "2026100001");
        assert!(r[0].id_number.is_male());
        assert!(!r[1].id_number.is_male());
        assert_eq!(r[49].seat, "A-50");
        assert_eq!(r[50].seat, "B-01");
    }

    #[test]
    fn small_paper_is_valid() {
        small_paper().validate().expect("valid");
    }
}
