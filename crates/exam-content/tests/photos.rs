//! Photo archives against the sample roster.

use std::io::{Cursor, Write};
use std::path::PathBuf;

use exam_content::photos::{self, PhotoError, PhotoFault, PhotoFormat};
use exam_content::roster::{self, NoneKnown};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(name);
    std::fs::read(path).expect("fixture present")
}

fn roster_ids() -> Vec<String> {
    let report = roster::read(
        &fixture("roster-sample.xlsx"),
        roster::Format::Xlsx,
        &NoneKnown,
    )
    .expect("roster");
    report
        .accepted
        .into_iter()
        .map(|a| a.entry.id_number)
        .collect()
}

/// A zip of `(name, bytes)` entries.
fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("entry");
        w.write_all(bytes).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

#[test]
fn sample_photos_match_the_sample_roster() {
    let ids = roster_ids();
    let report = photos::import(&fixture("photos-sample.zip"), &ids).expect("archive reads");
    assert!(report.rejected.is_empty(), "{:#?}", report.rejected);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
    assert!(report.without_photo.is_empty());
    assert_eq!(report.accepted.len(), 120);
    assert_eq!(report.counts.files, 120);
    for id in &ids {
        let photo = report.accepted.get(id).expect("one photo per candidate");
        assert_eq!((photo.width, photo.height), (295, 413));
        assert_eq!(photo.format, PhotoFormat::Jpeg);
        assert!(photo.bytes.starts_with(&[0xFF, 0xD8]));
    }
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["counts"]["accepted"], 120);
}

#[test]
fn faults_in_an_archive_are_reported_per_file() {
    let ids = roster_ids();
    let sample = fixture("photos-sample.zip");
    let mut archive = exam_content::archive::Archive::new(Cursor::new(sample)).expect("zip");
    let first = format!("{}.jpg", ids[0]);
    let jpeg = archive
        .read(&first, 10_000_000)
        .expect("read")
        .expect("present");
    // The candidate with an X in the number, named with a lower-case x, in a folder, as PNG.
    let with_x = ids
        .iter()
        .skip(5)
        .find(|i| i.ends_with('X'))
        .expect("an X number")
        .clone();
    let entries = vec![
        (first.as_str().to_owned(), jpeg.clone()),
        (format!("照片/{}.PNG", with_x.to_lowercase()), png(295, 413)),
        (format!("{}.jpeg", ids[2]), png(300, 400)),
        ("110101202311012176.jpg".to_owned(), jpeg.clone()),
        ("名单说明.docx".to_owned(), b"PK not really".to_vec()),
        (format!("{}.jpg", ids[3]), b"GIF89a not a jpeg".to_vec()),
        ("张三.jpg".to_owned(), jpeg.clone()),
        (format!("dup/{}.jpg", ids[0]), jpeg.clone()),
        (
            format!("{}.jpg", ids[4]),
            vec![0u8; photos::PHOTO_BYTES_MAX as usize + 1],
        ),
    ];
    let entries: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    let report = photos::import(&zip_of(&entries), &ids).expect("archive reads");

    assert_eq!(report.accepted.len(), 3, "{:#?}", report.rejected);
    assert!(report.accepted.contains_key(&ids[0]));
    assert_eq!(
        report.accepted.get(&with_x).map(|p| p.format),
        Some(PhotoFormat::Png)
    );
    assert_eq!(
        report.accepted.get(&ids[2]).map(|p| (p.width, p.height)),
        Some((300, 400))
    );
    // The 300×400 photo: a size warning and an extension/content warning.
    let warned: Vec<&str> = report.warnings.iter().map(|w| w.file.as_str()).collect();
    assert_eq!(warned, vec![format!("{}.jpeg", ids[2]); 2]);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.message.contains("300×400"))
    );

    let fault_of = |file: &str| {
        report
            .rejected
            .iter()
            .find(|r| r.file == file)
            .map(|r| r.fault.clone())
            .unwrap_or_else(|| panic!("{file} not rejected: {:#?}", report.rejected))
    };
    assert!(matches!(
        fault_of("110101202311012176.jpg"),
        PhotoFault::NoCandidate { .. }
    ));
    assert_eq!(fault_of("名单说明.docx"), PhotoFault::NotAPhoto);
    assert_eq!(fault_of(&format!("{}.jpg", ids[3])), PhotoFault::BadFormat);
    assert!(matches!(fault_of("张三.jpg"), PhotoFault::BadName { .. }));
    assert!(matches!(
        fault_of(&format!("dup/{}.jpg", ids[0])),
        PhotoFault::Duplicate { .. }
    ));
    assert!(matches!(
        fault_of(&format!("{}.jpg", ids[4])),
        PhotoFault::TooBig { .. }
    ));
    assert_eq!(report.rejected.len(), 6);
    for r in &report.rejected {
        assert!(r.reason.contains("/ "), "bilingual: {}", r.reason);
    }
    // Everyone else has no photo.
    assert_eq!(report.without_photo.len(), 120 - 3);
    assert!(report.without_photo.contains(&ids[3]));
}

#[test]
fn bad_archives_are_errors() {
    let ids = roster_ids();
    assert!(matches!(photos::import(b"", &ids), Err(PhotoError::Empty)));
    assert!(matches!(
        photos::import(b"not a zip at all", &ids),
        Err(PhotoError::Archive(_))
    ));
    let evil = zip_of(&[("../escape.jpg", png(10, 10))]);
    assert!(matches!(
        photos::import(&evil, &ids),
        Err(PhotoError::Archive(_))
    ));
    let sample = fixture("photos-sample.zip");
    assert!(photos::import(&sample[..sample.len() / 2], &ids).is_err());
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = photos::import(&bytes, ["110101202311012176"]);
        }

        #[test]
        fn random_photo_content_never_panics(content in proptest::collection::vec(any::<u8>(), 0..512), png_magic in any::<bool>()) {
            let mut bytes = if png_magic { b"\x89PNG\r\n\x1a\n".to_vec() } else { vec![0xFF, 0xD8, 0xFF] };
            bytes.extend_from_slice(&content);
            let zip = zip_of(&[("110101202311012176.jpg", bytes)]);
            let report = photos::import(&zip, ["110101202311012176"]).expect("zip reads");
            prop_assert_eq!(report.accepted.len() + report.rejected.len(), 1);
        }
    }
}
