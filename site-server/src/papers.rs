//! Where a session's candidate papers come from: one fixed paper for every candidate (the demo),
//! or a test definition from central's content, from which each candidate's paper is assembled
//! with their own seed (items drawn per section, then ordered) — the same draw central repeats
//! to score them.

use std::collections::BTreeSet;
use std::sync::Arc;

use exam_content::assembly::{TestDefinition, assemble};
use exam_domain::{ItemId, Paper};

/// A session's papers.
pub struct CandidatePapers {
    /// Every item any candidate can get: what the engine checks answers against.
    union: Arc<Paper>,
    definition: Option<TestDefinition>,
}

impl std::fmt::Debug for CandidatePapers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandidatePapers")
            .field("paper", &self.union.id)
            .field("assembled", &self.definition.is_some())
            .finish()
    }
}

impl CandidatePapers {
    /// Every candidate gets `paper` (in their own order).
    pub fn fixed(paper: Paper) -> Self {
        Self {
            union: Arc::new(paper),
            definition: None,
        }
    }

    /// Papers assembled from the QTI content package `zip`: the engine knows every item of every
    /// pool; each candidate gets the items their seed draws.
    pub fn from_content(zip: &[u8]) -> anyhow::Result<Self> {
        let report = exam_content::qti::import_package(zip)
            .map_err(|e| anyhow::anyhow!("the session's content cannot be read: {e}"))?;
        let (union, _) = exam_content::qti::to_paper(&report)
            .map_err(|e| anyhow::anyhow!("the session's content is not a paper: {e}"))?;
        union
            .validate()
            .map_err(|e| anyhow::anyhow!("the session's content is not a valid paper: {e}"))?;
        let (definition, _) = exam_content::qti::to_test_definition(&report)
            .map_err(|e| anyhow::anyhow!("the session's content is not a test definition: {e}"))?;
        Ok(Self {
            union: Arc::new(union),
            definition: Some(definition),
        })
    }

    /// Every item a candidate of the session may answer.
    pub fn union(&self) -> &Arc<Paper> {
        &self.union
    }

    /// The paper of the candidate with this seed (before their own ordering).
    pub fn for_seed(&self, seed: u64) -> Arc<Paper> {
        match &self.definition {
            Some(def) => Arc::new(assemble(def, seed)),
            None => self.union.clone(),
        }
    }

    /// The items of `paper` (one candidate's, from [`Self::for_seed`]) when that is not every
    /// item of the session.
    pub fn items_in(&self, paper: &Paper) -> Option<Arc<BTreeSet<ItemId>>> {
        let items: BTreeSet<ItemId> = paper.items().map(|i| i.id.clone()).collect();
        (items.len() < self.union.items().count()).then(|| Arc::new(items))
    }
}
