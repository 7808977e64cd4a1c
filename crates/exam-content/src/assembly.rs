//! Paper assembly: one candidate's [`Paper`] drawn from a [`TestDefinition`] (sections with a
//! pool of items, how many to draw, whether to shuffle), reproducible from a seed with
//! [`SplitMix64`].
//!
//! Invariant: every candidate of a session gets the same number of items and the same maximum
//! score. [`TestDefinition::new`] refuses a definition that cannot guarantee this (for example a
//! section that draws some of its items when those items have different weights), so
//! [`assemble`] itself cannot fail. It never draws randomness from anywhere but the seed.

use std::collections::{BTreeMap, BTreeSet};

use exam_domain::limits::{ITEMS_PER_PAPER_MAX, SECTIONS_MAX};
use exam_domain::media::image_refs;
use exam_domain::rng::SplitMix64;
use exam_domain::{Item, ItemId, MediaFile, Paper, PaperError, Section};
use serde::Serialize;

/// One item in a section's pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolItem {
    pub item: Item,
    /// Always part of the candidate's paper, whatever is drawn.
    pub required: bool,
}

/// One section's rule: draw `select` of the pool (all when `None`), then shuffle or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionRule {
    pub id: String,
    pub title: String,
    pub select: Option<u32>,
    pub shuffle: bool,
    pub pool: Vec<PoolItem>,
}

/// Why a test definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssemblyError {
    #[error("the test definition has no sections")]
    NoSections,
    #[error("the test definition has {0} sections; at most {SECTIONS_MAX} are allowed")]
    TooManySections(usize),
    #[error("section {section} has no items")]
    EmptySection { section: String },
    #[error(
        "section {section} draws {select} items but has only {pool}; lower the count or add items"
    )]
    SelectTooMany {
        section: String,
        select: u32,
        pool: usize,
    },
    #[error("section {section} draws 0 items; remove the section or draw at least one")]
    SelectZero { section: String },
    #[error(
        "section {section} has {required} required items but draws only {select}; draw at least as many as are required"
    )]
    RequiredExceedSelect {
        section: String,
        required: usize,
        select: u32,
    },
    #[error(
        "section {section} draws {select} of {pool} items whose weights differ ({weights:?}), so candidates' maximum scores could differ; give the drawable items of a section equal weights, or split the section by weight"
    )]
    UnequalWeights {
        section: String,
        select: u32,
        pool: usize,
        weights: Vec<u32>,
    },
    #[error("item {0} appears more than once in the test definition")]
    DuplicateItem(ItemId),
    #[error("a candidate's paper would have {0} items; at most {ITEMS_PER_PAPER_MAX} are allowed")]
    TooManyItems(usize),
    #[error("the items of the test definition are not valid: {0}")]
    Paper(#[from] PaperError),
}

/// A validated test definition: every paper assembled from it has [`Self::items_per_candidate`]
/// items and [`Self::max_points`] points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestDefinition {
    id: String,
    title: String,
    time_limit_secs: u32,
    sections: Vec<SectionRule>,
    items_per_candidate: usize,
    max_points: u32,
    /// Images the items show, keyed by path; a candidate's paper gets those of its items.
    #[serde(skip)]
    media: BTreeMap<String, MediaFile>,
}

impl TestDefinition {
    /// Checks that every candidate would get the same number of items and the same maximum score,
    /// and that every item is valid.
    pub fn new(
        id: impl Into<String>,
        title: impl Into<String>,
        time_limit_secs: u32,
        sections: Vec<SectionRule>,
    ) -> Result<Self, AssemblyError> {
        Self::with_media(id, title, time_limit_secs, sections, BTreeMap::new())
    }

    /// [`Self::new`] for items that show images (`[img:PATH]`, keyed by `PATH` in `media`).
    pub fn with_media(
        id: impl Into<String>,
        title: impl Into<String>,
        time_limit_secs: u32,
        sections: Vec<SectionRule>,
        media: BTreeMap<String, MediaFile>,
    ) -> Result<Self, AssemblyError> {
        let (id, title) = (id.into(), title.into());
        if sections.is_empty() {
            return Err(AssemblyError::NoSections);
        }
        if sections.len() > SECTIONS_MAX {
            return Err(AssemblyError::TooManySections(sections.len()));
        }
        let mut seen = BTreeSet::new();
        let mut items_per_candidate = 0usize;
        let mut max_points = 0u32;
        for s in &sections {
            if s.pool.is_empty() {
                return Err(AssemblyError::EmptySection {
                    section: s.id.clone(),
                });
            }
            for p in &s.pool {
                if !seen.insert(p.item.id.clone()) {
                    return Err(AssemblyError::DuplicateItem(p.item.id.clone()));
                }
            }
            let pool = s.pool.len();
            let required: Vec<&PoolItem> = s.pool.iter().filter(|p| p.required).collect();
            let (count, points) = match s.select {
                None => (pool, s.pool.iter().map(|p| p.item.weight).sum::<u32>()),
                Some(0) => {
                    return Err(AssemblyError::SelectZero {
                        section: s.id.clone(),
                    });
                }
                Some(select) => {
                    let n = select as usize;
                    if n > pool {
                        return Err(AssemblyError::SelectTooMany {
                            section: s.id.clone(),
                            select,
                            pool,
                        });
                    }
                    if required.len() > n {
                        return Err(AssemblyError::RequiredExceedSelect {
                            section: s.id.clone(),
                            required: required.len(),
                            select,
                        });
                    }
                    let drawable: BTreeSet<u32> = s
                        .pool
                        .iter()
                        .filter(|p| !p.required)
                        .map(|p| p.item.weight)
                        .collect();
                    let drawn = n - required.len();
                    if n < pool && drawn > 0 && drawable.len() > 1 {
                        return Err(AssemblyError::UnequalWeights {
                            section: s.id.clone(),
                            select,
                            pool,
                            weights: drawable.into_iter().collect(),
                        });
                    }
                    let fixed: u32 = required.iter().map(|p| p.item.weight).sum();
                    let each = drawable.first().copied().unwrap_or(0);
                    (n, fixed + each * drawn as u32)
                }
            };
            items_per_candidate += count;
            max_points += points;
        }
        if items_per_candidate > ITEMS_PER_PAPER_MAX {
            return Err(AssemblyError::TooManyItems(items_per_candidate));
        }
        // Every item, limits and time: checked once by the domain's own rules.
        Paper {
            id: id.clone(),
            title: title.clone(),
            time_limit_secs,
            sections: sections
                .iter()
                .map(|s| Section {
                    id: s.id.clone(),
                    title: s.title.clone(),
                    items: s.pool.iter().map(|p| p.item.clone()).collect(),
                })
                .collect(),
            media: media.clone(),
        }
        .validate()
        .or_else(|e| match e {
            // The whole bank may be larger than one paper; that is checked above per candidate.
            PaperError::TooManyItems(_) => Ok(()),
            e => Err(e),
        })?;
        Ok(Self {
            id,
            title,
            time_limit_secs,
            sections,
            items_per_candidate,
            max_points,
            media,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn time_limit_secs(&self) -> u32 {
        self.time_limit_secs
    }

    pub fn sections(&self) -> &[SectionRule] {
        &self.sections
    }

    /// Items on every candidate's paper.
    pub fn items_per_candidate(&self) -> usize {
        self.items_per_candidate
    }

    /// Maximum score of every candidate's paper, in points.
    pub fn max_points(&self) -> u32 {
        self.max_points
    }
}

/// One candidate's paper. The same `(definition, seed)` always gives the same paper; required
/// items are always in; the drawn items keep their authored order unless the section shuffles.
pub fn assemble(definition: &TestDefinition, seed: u64) -> Paper {
    let root = SplitMix64::new(seed);
    let sections: Vec<Section> = definition
        .sections
        .iter()
        .map(|s| {
            let mut chosen: Vec<usize> = match s.select {
                None => (0..s.pool.len()).collect(),
                Some(select) => {
                    let mut chosen: Vec<usize> = (0..s.pool.len())
                        .filter(|&i| s.pool.get(i).is_some_and(|p| p.required))
                        .collect();
                    let mut drawable: Vec<usize> =
                        (0..s.pool.len()).filter(|i| !chosen.contains(i)).collect();
                    root.fork(&format!("select/{}", s.id))
                        .shuffle(&mut drawable);
                    let wanted = (select as usize).saturating_sub(chosen.len());
                    chosen.extend(drawable.into_iter().take(wanted));
                    chosen.sort_unstable();
                    chosen
                }
            };
            if s.shuffle {
                root.fork(&format!("order/{}", s.id)).shuffle(&mut chosen);
            }
            Section {
                id: s.id.clone(),
                title: s.title.clone(),
                items: chosen
                    .iter()
                    .filter_map(|&i| s.pool.get(i))
                    .map(|p| p.item.clone())
                    .collect(),
            }
        })
        .collect();
    let media = sections
        .iter()
        .flat_map(|s| s.items.iter())
        .flat_map(|item| item.texts())
        .flat_map(image_refs)
        .filter_map(|path| Some((path.to_owned(), definition.media.get(path)?.clone())))
        .collect();
    Paper {
        id: definition.id.clone(),
        title: definition.title.clone(),
        time_limit_secs: definition.time_limit_secs,
        sections,
        media,
    }
}
