//! Text answers being typed. A keystroke must not become a `Save`: the text lives here and is
//! sent when the field loses focus, when the candidate navigates or opens the submit dialog, or
//! after [`SAVE_AFTER_IDLE_SECS`] without typing, and only if it differs from the saved answer.
//!
//! Time is egui's input time in seconds, passed in, so the rules are testable without a clock.

use std::collections::BTreeMap;

use exam_domain::{CandidateItem, ItemBody, ItemId, Response};

/// Typing pause after which a changed text is saved.
pub(crate) const SAVE_AFTER_IDLE_SECS: f64 = 1.5;

/// The texts of one fill-in or short-answer item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Draft {
    /// One text per blank; one text for a short answer.
    pub(crate) texts: Vec<String>,
    essay: bool,
    /// Time of the last edit not yet handed to the backend.
    edited_at: Option<f64>,
}

impl Draft {
    /// A draft for `item` holding what is saved, or `None` for items that take no text.
    fn from_saved(item: &CandidateItem, saved: Option<&Response>) -> Option<Draft> {
        match &item.body {
            ItemBody::FillIn { blanks } => {
                let n = blanks.len();
                let mut texts = match saved {
                    Some(Response::Blanks(b)) => b.clone(),
                    _ => Vec::new(),
                };
                texts.resize(n, String::new());
                Some(Draft {
                    texts,
                    essay: false,
                    edited_at: None,
                })
            }
            ItemBody::ShortAnswer => {
                let text = match saved {
                    Some(Response::Essay(t)) => t.clone(),
                    _ => String::new(),
                };
                Some(Draft {
                    texts: vec![text],
                    essay: true,
                    edited_at: None,
                })
            }
            ItemBody::TrueFalse
            | ItemBody::SingleChoice { .. }
            | ItemBody::MultipleChoice { .. } => None,
        }
    }

    fn response(&self) -> Response {
        if self.essay {
            Response::Essay(self.texts.first().cloned().unwrap_or_default())
        } else {
            Response::Blanks(self.texts.clone())
        }
    }

    pub(crate) fn is_answered(&self) -> bool {
        self.response().is_answered()
    }

    pub(crate) fn is_dirty(&self) -> bool {
        self.edited_at.is_some()
    }
}

/// Every text draft of the paper, by item.
#[derive(Debug, Default)]
pub(crate) struct Drafts {
    by_item: BTreeMap<ItemId, Draft>,
}

impl Drafts {
    /// The draft of `item`, created from (or, when nothing is pending, refreshed from) `saved`.
    pub(crate) fn draft_mut(
        &mut self,
        item: &CandidateItem,
        saved: Option<&Response>,
    ) -> Option<&mut Draft> {
        let fresh = Draft::from_saved(item, saved)?;
        let draft = self
            .by_item
            .entry(item.id.clone())
            .or_insert_with(|| fresh.clone());
        if !draft.is_dirty() && *draft != fresh {
            *draft = fresh;
        }
        Some(draft)
    }

    pub(crate) fn draft(&self, item: &ItemId) -> Option<&Draft> {
        self.by_item.get(item)
    }

    /// Notes that the candidate changed `item`'s text at `now`.
    pub(crate) fn edited(&mut self, item: &ItemId, now: f64) {
        if let Some(d) = self.by_item.get_mut(item) {
            d.edited_at = Some(now);
        }
    }

    /// Seconds until the next idle save is due, if any edit is pending.
    pub(crate) fn next_due_in(&self, now: f64) -> Option<f64> {
        self.by_item
            .values()
            .filter_map(|d| d.edited_at)
            .map(|t| (t + SAVE_AFTER_IDLE_SECS - now).max(0.0))
            .reduce(f64::min)
    }

    /// Takes `item`'s pending text as a response to save, if it differs from `saved`.
    pub(crate) fn take(&mut self, item: &ItemId, saved: Option<&Response>) -> Option<Response> {
        let draft = self.by_item.get_mut(item)?;
        draft.edited_at.take()?;
        let response = draft.response();
        let unchanged = match saved {
            Some(s) => *s == response,
            None => !response.is_answered(),
        };
        (!unchanged).then_some(response)
    }

    /// Items whose last edit is at least [`SAVE_AFTER_IDLE_SECS`] old.
    pub(crate) fn idle(&self, now: f64) -> Vec<ItemId> {
        self.by_item
            .iter()
            .filter(|(_, d)| d.edited_at.is_some_and(|t| now - t >= SAVE_AFTER_IDLE_SECS))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Items with an edit not yet handed to the backend.
    pub(crate) fn dirty(&self) -> Vec<ItemId> {
        self.by_item
            .iter()
            .filter(|(_, d)| d.is_dirty())
            .map(|(id, _)| id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn essay_item() -> CandidateItem {
        CandidateItem {
            id: ItemId::parse("sa1").expect("valid id"),
            weight: 5,
            prompt: "简述".into(),
            body: ItemBody::ShortAnswer,
        }
    }

    #[test]
    fn typing_is_saved_once_after_a_pause_and_only_if_changed() {
        let item = essay_item();
        let mut drafts = Drafts::default();
        let d = drafts.draft_mut(&item, None).expect("text item");
        d.texts[0].push_str("接地");
        drafts.edited(&item.id, 10.0);
        assert!(drafts.idle(11.0).is_empty());
        assert_eq!(drafts.next_due_in(11.0), Some(0.5));
        assert_eq!(drafts.idle(11.5), vec![item.id.clone()]);
        assert_eq!(
            drafts.take(&item.id, None),
            Some(Response::Essay("接地".into()))
        );
        // Nothing pending any more.
        assert_eq!(drafts.take(&item.id, None), None);
        assert!(drafts.dirty().is_empty());

        // An edit back to the saved text sends nothing.
        let saved = Response::Essay("接地".into());
        drafts.edited(&item.id, 20.0);
        assert_eq!(drafts.take(&item.id, Some(&saved)), None);
    }

    #[test]
    fn a_clean_draft_follows_the_saved_answer() {
        let item = essay_item();
        let mut drafts = Drafts::default();
        drafts.draft_mut(&item, None);
        let restored = Response::Essay("从服务器恢复".into());
        let d = drafts.draft_mut(&item, Some(&restored)).expect("text item");
        assert_eq!(d.texts, vec!["从服务器恢复".to_owned()]);
        // A dirty one is not overwritten.
        d.texts[0] = "正在输入".into();
        drafts.edited(&item.id, 1.0);
        let d = drafts.draft_mut(&item, Some(&restored)).expect("text item");
        assert_eq!(d.texts, vec!["正在输入".to_owned()]);
    }
}
