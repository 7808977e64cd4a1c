//! Automatic scoring of objective items. Scores are in hundredths of a point so that sums are exact.

use crate::paper::{Item, ItemKind};
use crate::response::Response;

/// The score of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemScore {
    /// Hundredths of a point.
    Centipoints(u32),
    /// A person scores it (short answers).
    NeedsMarker,
}

/// Scores one response. No response and `Cleared` score zero. Multiple choice is all-or-nothing;
/// fill-in gives each blank an equal share of the weight (a choice blank is right when the chosen
/// option id is the key, exactly).
pub fn score_item(item: &Item, response: Option<&Response>) -> ItemScore {
    let full = item.weight * 100;
    let response = match response {
        None | Some(Response::Cleared) => return ItemScore::Centipoints(0),
        Some(r) => r,
    };
    let right = match (&item.kind, response) {
        (ItemKind::TrueFalse { correct }, Response::TrueFalse(given)) => correct == given,
        (ItemKind::SingleChoice { correct, .. }, Response::Choices(given)) => {
            given.len() == 1 && given.contains(correct)
        }
        (ItemKind::MultipleChoice { correct, .. }, Response::Choices(given)) => given == correct,
        (ItemKind::FillIn { blanks }, Response::Blanks(given)) => {
            let right = blanks
                .iter()
                .zip(given)
                .filter(|(blank, text)| {
                    if blank.choices.is_empty() {
                        blank.accepted.iter().any(|a| same_answer(a, text))
                    } else {
                        blank.accepted.iter().any(|a| a == *text)
                    }
                })
                .count() as u32;
            return ItemScore::Centipoints(full * right / blanks.len().max(1) as u32);
        }
        (ItemKind::ShortAnswer { .. }, _) => return ItemScore::NeedsMarker,
        _ => false,
    };
    ItemScore::Centipoints(if right { full } else { 0 })
}

/// Fill-in comparison: trimmed, full-width forms folded to ASCII, ASCII case ignored, inner
/// spaces ignored.
pub fn same_answer(accepted: &str, given: &str) -> bool {
    fn fold(s: &str) -> String {
        s.chars()
            .filter_map(|c| {
                let c = match c {
                    '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                    '\u{3000}' => ' ',
                    c => c,
                };
                (!c.is_whitespace()).then(|| c.to_ascii_lowercase())
            })
            .collect()
    }
    let a = fold(accepted);
    !a.is_empty() && a == fold(given)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ItemId, OptionId};
    use crate::paper::{Blank, ChoiceOption};

    fn opt(id: &str) -> OptionId {
        OptionId::parse(id).expect("valid id")
    }

    fn item(kind: ItemKind, weight: u32) -> Item {
        Item {
            id: ItemId::parse("i1").expect("valid"),
            weight,
            prompt: "q".into(),
            kind,
        }
    }

    fn options() -> Vec<ChoiceOption> {
        ["A", "B", "C", "D"]
            .iter()
            .map(|i| ChoiceOption {
                id: opt(i),
                text: (*i).into(),
            })
            .collect()
    }

    #[test]
    fn multiple_choice_is_all_or_nothing() {
        let it = item(
            ItemKind::MultipleChoice {
                options: options(),
                correct: [opt("A"), opt("C")].into(),
            },
            2,
        );
        let r = |ids: &[&str]| Response::Choices(ids.iter().map(|i| opt(i)).collect());
        assert_eq!(
            score_item(&it, Some(&r(&["A", "C"]))),
            ItemScore::Centipoints(200)
        );
        assert_eq!(score_item(&it, Some(&r(&["A"]))), ItemScore::Centipoints(0));
        assert_eq!(
            score_item(&it, Some(&r(&["A", "C", "D"]))),
            ItemScore::Centipoints(0)
        );
        assert_eq!(score_item(&it, None), ItemScore::Centipoints(0));
    }

    #[test]
    fn single_choice_and_true_false() {
        let sc = item(
            ItemKind::SingleChoice {
                options: options(),
                correct: opt("B"),
            },
            1,
        );
        assert_eq!(
            score_item(&sc, Some(&Response::Choices([opt("B")].into()))),
            ItemScore::Centipoints(100)
        );
        assert_eq!(
            score_item(&sc, Some(&Response::Choices([opt("A")].into()))),
            ItemScore::Centipoints(0)
        );
        let tf = item(ItemKind::TrueFalse { correct: false }, 1);
        assert_eq!(
            score_item(&tf, Some(&Response::TrueFalse(false))),
            ItemScore::Centipoints(100)
        );
        assert_eq!(
            score_item(&tf, Some(&Response::TrueFalse(true))),
            ItemScore::Centipoints(0)
        );
        assert_eq!(
            score_item(&tf, Some(&Response::Cleared)),
            ItemScore::Centipoints(0)
        );
    }

    #[test]
    fn fill_in_shares_weight_per_blank_and_forgives_width_and_case() {
        let it = item(
            ItemKind::FillIn {
                blanks: vec![
                    Blank {
                        accepted: vec!["30".into(), "30mA".into()],
                        choices: vec![],
                    },
                    Blank {
                        accepted: vec!["0.1".into()],
                        choices: vec![],
                    },
                ],
            },
            2,
        );
        let r = |a: &str, b: &str| Response::Blanks(vec![a.into(), b.into()]);
        assert_eq!(
            score_item(&it, Some(&r("３０ MA", "0.1"))),
            ItemScore::Centipoints(200)
        );
        assert_eq!(
            score_item(&it, Some(&r("30", "1"))),
            ItemScore::Centipoints(100)
        );
        assert_eq!(score_item(&it, Some(&r("", ""))), ItemScore::Centipoints(0));
    }

    #[test]
    fn a_choice_blank_is_right_only_for_the_key_id() {
        let it = item(
            ItemKind::FillIn {
                blanks: vec![
                    Blank {
                        accepted: vec!["36".into()],
                        choices: vec![],
                    },
                    Blank {
                        accepted: vec!["Y".into()],
                        choices: options()
                            .into_iter()
                            .map(|o| ChoiceOption {
                                id: if o.id.as_str() == "D" { opt("Y") } else { o.id },
                                text: o.text,
                            })
                            .collect(),
                    },
                ],
            },
            2,
        );
        let r = |a: &str, b: &str| Response::Blanks(vec![a.into(), b.into()]);
        assert_eq!(
            score_item(&it, Some(&r("36", "Y"))),
            ItemScore::Centipoints(200)
        );
        // No folding for ids: case and width matter.
        assert_eq!(
            score_item(&it, Some(&r("36", "y"))),
            ItemScore::Centipoints(100)
        );
        assert_eq!(
            score_item(&it, Some(&r("36", "Ｙ"))),
            ItemScore::Centipoints(100)
        );
        assert_eq!(
            score_item(&it, Some(&r("", "A"))),
            ItemScore::Centipoints(0)
        );
        let body = it.body();
        assert_eq!(r("36", "Y").check(&body), Ok(()));
        assert_eq!(r("36", "").check(&body), Ok(()));
        assert_eq!(
            r("36", "Z").check(&body),
            Err(crate::ResponseError::NotAnOption { blank: 2 })
        );
    }

    #[test]
    fn short_answer_goes_to_a_person() {
        let it = item(
            ItemKind::ShortAnswer {
                reference: "r".into(),
            },
            5,
        );
        assert_eq!(
            score_item(&it, Some(&Response::Essay("x".into()))),
            ItemScore::NeedsMarker
        );
    }
}
