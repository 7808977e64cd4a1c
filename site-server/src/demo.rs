//! The built-in demo site: a sample low-voltage electrician theory paper and generated candidates.

use std::path::Path;

use anyhow::Context;
use exam_domain::{AttemptId, Paper, demo};
use exam_site_core::CandidateRecord;

use crate::store::{self, DirState, NewSession};

/// The sample paper shipped inside the binary.
const DEMO_PAPER: &str = include_str!("../demo/paper.json");
/// Most demo candidates.
pub const DEMO_CANDIDATES_MAX: u32 = 10_000;
/// Longest wait before a demo session starts: one day.
pub const DEMO_START_IN_SECS_MAX: u64 = 86_400;

pub fn paper() -> anyhow::Result<Paper> {
    let paper: Paper =
        serde_json::from_str(DEMO_PAPER).context("the built-in demo paper is malformed")?;
    paper
        .validate()
        .context("the built-in demo paper is invalid")?;
    Ok(paper)
}

/// What `prepare` did.
pub enum Prepared {
    Created,
    Resumed,
}

/// Makes a demo site in `dir` unless one is there already (which is then resumed untouched).
pub fn prepare(
    dir: &Path,
    candidates: u32,
    start_in_secs: u64,
    grace_secs: u32,
) -> anyhow::Result<Prepared> {
    match store::inspect_dir(dir)? {
        DirState::Site => {
            // Check it opens cleanly; the server opens it again.
            let conn = store::open_writer(dir, false)?;
            store::load_session(&conn)?;
            exam_net::SiteIdentity::load(dir)?;
            Ok(Prepared::Resumed)
        }
        DirState::Empty => {
            anyhow::ensure!(
                (1..=DEMO_CANDIDATES_MAX).contains(&candidates),
                "--candidates must be between 1 and {DEMO_CANDIDATES_MAX}"
            );
            anyhow::ensure!(
                start_in_secs <= DEMO_START_IN_SECS_MAX,
                "--start-in must be at most {DEMO_START_IN_SECS_MAX} seconds"
            );
            let paper = paper()?;
            let roster = demo::roster(candidates)
                .into_iter()
                .zip(1..)
                .map(|(c, attempt)| {
                    let seed = exam_crypto::random_u64()
                        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
                    Ok(CandidateRecord {
                        admission_no: c.admission_no,
                        id_number: c.id_number,
                        name: c.name,
                        seat: c.seat,
                        photo: None,
                        attempt: AttemptId(attempt),
                        seed,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            // Identity first: a crash in between leaves a directory the next run reports, not resets.
            exam_net::SiteIdentity::load_or_create(dir, "演示考点")?;
            let mut conn = store::open_writer(dir, true)?;
            store::create_session(
                &mut conn,
                &NewSession {
                    site_name: "演示考点",
                    title: &paper.title,
                    paper: &paper,
                    grace_secs,
                    starts_at_unix_ms: Some(store::unix_ms() + (start_in_secs * 1000) as i64),
                    candidates: roster,
                },
            )?;
            Ok(Prepared::Created)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_paper_has_every_type_and_at_least_60_items() {
        let paper = super::paper().expect("valid");
        assert!(paper.items().count() >= 60);
        let kinds: std::collections::HashSet<_> = paper
            .items()
            .map(|i| std::mem::discriminant(&i.kind))
            .collect();
        assert_eq!(kinds.len(), 5);
    }
}
