//! One candidate's order: items shuffled within each section and options within each choice
//! item (and of each choice blank), reproducible from the seed kept with the attempt. Sections keep their authored order;
//! true/false items have no options to shuffle.

use std::collections::BTreeMap;

use crate::media::{MediaFile, image_refs};
use crate::paper::{CandidateItem, CandidatePaper, CandidateSection, ItemBody, Paper};
use crate::rng::SplitMix64;

/// Builds the paper one candidate sees. The same `(paper, seed)` always gives the same result.
pub fn candidate_paper(paper: &Paper, seed: u64) -> CandidatePaper {
    CandidatePaper {
        media: paper_media(paper),
        ..candidate_order(paper, seed)
    }
}

/// The images a candidate's paper shows: every one its items refer to (every item is on every
/// paper, so the set does not depend on the order).
pub fn paper_media(paper: &Paper) -> BTreeMap<String, MediaFile> {
    paper
        .items()
        .flat_map(|item| item.texts())
        .flat_map(image_refs)
        .filter_map(|path| Some((path.to_owned(), paper.media.get(path)?.clone())))
        .collect()
}

/// [`candidate_paper`] without its images, which a site sends once in a frame of their own.
pub fn candidate_order(paper: &Paper, seed: u64) -> CandidatePaper {
    let root = SplitMix64::new(seed);
    let sections = paper
        .sections
        .iter()
        .map(|section| {
            let mut items: Vec<CandidateItem> = section
                .items
                .iter()
                .map(|item| {
                    let mut body = item.body();
                    match &mut body {
                        ItemBody::SingleChoice { options }
                        | ItemBody::MultipleChoice { options } => {
                            root.fork(&format!("options/{}", item.id)).shuffle(options);
                        }
                        ItemBody::FillIn { blanks } => {
                            for (k, blank) in blanks.iter_mut().enumerate() {
                                if blank.is_choice() {
                                    root.fork(&format!("options/{}/{}", item.id, k + 1))
                                        .shuffle(&mut blank.choices);
                                }
                            }
                        }
                        ItemBody::TrueFalse | ItemBody::ShortAnswer => {}
                    }
                    CandidateItem {
                        id: item.id.clone(),
                        weight: item.weight,
                        prompt: item.prompt.clone(),
                        body,
                    }
                })
                .collect();
            root.fork(&format!("section/{}", section.id))
                .shuffle(&mut items);
            CandidateSection {
                title: section.title.clone(),
                items,
            }
        })
        .collect();
    CandidatePaper {
        paper_id: paper.id.clone(),
        title: paper.title.clone(),
        time_limit_secs: paper.time_limit_secs,
        sections,
        media: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo;

    #[test]
    fn same_seed_same_order_other_seed_other_order() {
        let paper = demo::small_paper();
        let a = candidate_paper(&paper, 42);
        assert_eq!(a, candidate_paper(&paper, 42));
        assert_ne!(a, candidate_paper(&paper, 43));
        // Nothing is lost or added: same items, same options.
        let mut ids: Vec<_> = a.items().map(|i| i.id.clone()).collect();
        ids.sort();
        let mut authored: Vec<_> = paper.items().map(|i| i.id.clone()).collect();
        authored.sort();
        assert_eq!(ids, authored);
        assert_eq!(a.sections.len(), paper.sections.len());
    }
}
