//! The built-in demo site: a sample low-voltage electrician theory paper and generated candidates.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;
use exam_domain::{AttemptId, Paper, demo};
use exam_site_core::CandidateRecord;

use crate::ca;
use crate::store::{self, DirState, NewSession};

/// The sample paper shipped inside the binary, as a QTI 2.1 content package.
const DEMO_PACKAGE: &[u8] = include_bytes!("../demo/dygz-theory-qti21.zip");
/// The demo site's name.
pub const DEMO_SITE_NAME: &str = "演示考点";
/// Most demo candidates.
pub const DEMO_CANDIDATES_MAX: u32 = 10_000;
/// Longest wait before a demo session starts: one day.
pub const DEMO_START_IN_SECS_MAX: u64 = 86_400;

/// The demo paper, imported from its QTI package; any problem the importer reports is an error.
pub fn paper() -> anyhow::Result<Paper> {
    let report = exam_content::qti::import_package(DEMO_PACKAGE)
        .context("the built-in demo package is malformed")?;
    let (paper, problems) =
        exam_content::qti::to_paper(&report).context("the built-in demo package is not a paper")?;
    if let Some(p) = report.problems.iter().chain(&problems).next() {
        anyhow::bail!("the built-in demo package has a problem: {p}");
    }
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

/// Makes a demo site in `dir` unless one is there already, which is then resumed: its data are
/// untouched, but a plaintext CA key left by an earlier site-server is sealed under a demo
/// passphrase and a server certificate that is due is renewed.
///
/// A new demo's CA key is sealed under a random passphrase kept in `<dir>/ca/DEMO-ONLY-passphrase`
/// so the demo renews its own certificate; a real site never stores its passphrase.
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
            let session = store::load_session(&conn)?;
            let now = SystemTime::now();
            // A demo made by an earlier site-server kept its CA key in plaintext: seal it under a
            // demo passphrase. Any other site's admin chooses the passphrase (`secure-ca`).
            if session.site_name == DEMO_SITE_NAME
                && dir.join(exam_net::identity::LEGACY_CA_KEY_FILE).exists()
            {
                ca::secure_demo_ca(dir, now)?;
            }
            let renewer = ca::CertRenewer::new(dir, None, None)?;
            ca::prepare_to_serve(dir, &renewer, now)?;
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
                        photo: demo_photo(attempt as u32),
                        attempt: AttemptId(attempt),
                        seed,
                        items: None,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            // Identity first: a crash in between leaves a directory the next run reports, not resets.
            ca::create_demo_identity(dir, DEMO_SITE_NAME, SystemTime::now())?;
            let mut conn = store::open_writer(dir, true)?;
            store::create_session(
                &mut conn,
                &NewSession {
                    site_name: DEMO_SITE_NAME,
                    title: &paper.title,
                    paper: &paper,
                    grace_secs,
                    starts_at_unix_ms: Some(store::unix_ms() + (start_in_secs * 1000) as i64),
                    candidates: roster,
                    central: None,
                },
            )?;
            Ok(Prepared::Created)
        }
    }
}

/// A stand-in ID photo for a demo candidate: 295×413 (the small one-inch size), red background,
/// a plain silhouette with a shirt colour that varies by candidate. PNG, a few kilobytes.
pub fn demo_photo(index: u32) -> Option<Vec<u8>> {
    const W: u32 = 295;
    const H: u32 = 413;
    const SHIRTS: [[u8; 3]; 5] = [
        [40, 60, 110],
        [60, 60, 66],
        [235, 235, 240],
        [30, 90, 80],
        [90, 50, 40],
    ];
    let shirt = SHIRTS[(index as usize) % SHIRTS.len()];
    let img = image::RgbImage::from_fn(W, H, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let head = ((fx - 147.0) / 62.0).powi(2) + ((fy - 165.0) / 78.0).powi(2) <= 1.0;
        let hair =
            ((fx - 147.0) / 66.0).powi(2) + ((fy - 140.0) / 62.0).powi(2) <= 1.0 && fy < 150.0;
        let neck = (fx - 147.0).abs() < 26.0 && (225.0..290.0).contains(&fy);
        let shoulders =
            fy >= 280.0 && ((fx - 147.0) / 150.0).powi(2) + ((fy - 430.0) / 150.0).powi(2) <= 1.0;
        image::Rgb(if hair {
            [35, 30, 30]
        } else if head || neck {
            [232, 196, 170]
        } else if shoulders {
            shirt
        } else {
            [200, 32, 40]
        })
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).ok()?;
    Some(out.into_inner())
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

    #[test]
    fn demo_photos_are_small_pngs_of_the_standard_size() {
        let png = super::demo_photo(3).expect("encodes");
        assert!(png.len() < exam_protocol::PHOTO_BYTES_MAX);
        let img = image::load_from_memory(&png).expect("decodes");
        assert_eq!((img.width(), img.height()), (295, 413));
    }
}
