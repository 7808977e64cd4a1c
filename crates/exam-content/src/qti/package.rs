//! IMS content packages: the manifest, resolving paths inside the package, and the order in
//! which tests and items are imported. Zips are read only through [`Archive`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;

use super::item::{file_stem, parse_item};
use super::test::parse_test;
use super::xml::{self, Element};
use super::{
    ITEMS_PER_PACKAGE_MAX, ImportReport, ImportedTest, PACKAGE_BYTES_MAX, Problem, ProblemKind,
    QtiError, SectionPart, XML_FILE_BYTES_MAX,
};
use crate::archive::{Archive, ArchiveError, normalise};

pub(crate) enum ReadFault {
    TooLarge,
    Other(String),
}

/// Where files of a package come from: a zip, or files handed over in memory.
pub(crate) trait FileSource {
    fn contains(&self, path: &str) -> bool;
    fn read(&mut self, path: &str, max: u64) -> Result<Option<Vec<u8>>, ReadFault>;
}

impl<R: std::io::Read + std::io::Seek> FileSource for Archive<R> {
    fn contains(&self, path: &str) -> bool {
        Archive::contains(self, path)
    }

    fn read(&mut self, path: &str, max: u64) -> Result<Option<Vec<u8>>, ReadFault> {
        Archive::read(self, path, max).map_err(|e| match e {
            ArchiveError::EntryTooLarge { .. } | ArchiveError::TotalTooLarge => ReadFault::TooLarge,
            other => ReadFault::Other(other.to_string()),
        })
    }
}

/// Files handed over in memory, keyed by normalised path.
pub(crate) struct MemFiles<'a> {
    files: BTreeMap<String, &'a [u8]>,
}

impl<'a> MemFiles<'a> {
    pub(crate) fn new(files: &'a BTreeMap<String, Vec<u8>>) -> Self {
        Self {
            files: files
                .iter()
                .filter_map(|(k, v)| Some((normalise(k).ok()?, v.as_slice())))
                .collect(),
        }
    }
}

impl FileSource for MemFiles<'_> {
    fn contains(&self, path: &str) -> bool {
        normalise(path).is_ok_and(|p| self.files.contains_key(&p))
    }

    fn read(&mut self, path: &str, max: u64) -> Result<Option<Vec<u8>>, ReadFault> {
        let Ok(p) = normalise(path) else {
            return Ok(None);
        };
        match self.files.get(&p) {
            None => Ok(None),
            Some(b) if b.len() as u64 > max => Err(ReadFault::TooLarge),
            Some(b) => Ok(Some(b.to_vec())),
        }
    }
}

/// The directory part of a path in the package (`items/a.xml` → `items`, `a.xml` → ``).
pub(crate) fn parent_dir(path: &str) -> String {
    path.rsplit_once('/')
        .map(|(d, _)| d.to_owned())
        .unwrap_or_default()
}

/// Resolves `href` relative to `dir` inside the package. Refuses URLs, absolute paths and paths
/// that leave the package.
pub(crate) fn resolve_href(dir: &str, href: &str) -> Result<String, String> {
    let href = href.trim();
    let lower = href.to_ascii_lowercase();
    if lower.contains("://")
        || lower.starts_with("data:")
        || lower.starts_with("mailto:")
        || href.starts_with("//")
    {
        return Err("is outside the package (a URL); the package must contain the file".into());
    }
    let href = href.split(['#', '?']).next().unwrap_or_default();
    let href = percent_decode(href).replace('\\', "/");
    if href.starts_with('/') {
        return Err("is an absolute path".into());
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    for seg in href.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("leaves the package with ..".into());
                }
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return Err("is empty".into());
    }
    let joined = parts.join("/");
    normalise(&joined).map_err(|e| e.to_string())
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(hex), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// MIME type from the file extension.
pub(crate) fn mime_for(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" | "oga" => "audio/ogg",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => "application/octet-stream",
    }
}

struct Resource {
    identifier: String,
    kind: ResourceKind,
    href: Option<String>,
}

#[derive(PartialEq, Eq)]
enum ResourceKind {
    Item,
    Test,
    Other,
}

fn resources(manifest: &Element) -> Vec<Resource> {
    manifest
        .children_named("resources")
        .flat_map(|r| r.children_named("resource"))
        .map(|r| {
            let t = r.attr("type").unwrap_or_default();
            let kind = if t.starts_with("imsqti_item_xml") {
                ResourceKind::Item
            } else if t.starts_with("imsqti_test_xml") {
                ResourceKind::Test
            } else {
                ResourceKind::Other
            };
            let href = r.attr("href").map(str::to_owned).or_else(|| {
                r.child("file")
                    .and_then(|f| f.attr("href"))
                    .map(str::to_owned)
            });
            Resource {
                identifier: r.attr("identifier").unwrap_or_default().to_owned(),
                kind,
                href,
            }
        })
        .collect()
}

/// Imports a zipped IMS content package (QTI 2.1 or 3.0).
pub fn import_package(bytes: &[u8]) -> Result<ImportReport, QtiError> {
    if bytes.len() > PACKAGE_BYTES_MAX {
        return Err(QtiError::PackageTooLarge(bytes.len()));
    }
    let mut archive = Archive::new(Cursor::new(bytes))?;
    let manifest_bytes = match archive.read("imsmanifest.xml", XML_FILE_BYTES_MAX) {
        Ok(Some(b)) => b,
        Ok(None) => return Err(QtiError::NoManifest),
        Err(ArchiveError::EntryTooLarge { .. }) => {
            return Err(QtiError::FileTooLarge {
                file: "imsmanifest.xml".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let manifest = xml::parse(&manifest_bytes).map_err(|e| QtiError::Manifest(e.to_string()))?;
    if manifest.name != "manifest" {
        return Err(QtiError::Manifest(format!(
            "the root element is <{}>, not <manifest>",
            manifest.name
        )));
    }
    let resources = resources(&manifest);
    let item_count = resources
        .iter()
        .filter(|r| r.kind == ResourceKind::Item)
        .count();
    if item_count > ITEMS_PER_PACKAGE_MAX {
        return Err(QtiError::TooManyItems(item_count));
    }
    import_with(&mut archive, &resources)
}

/// Imports a test file and the items it references, read from `base_dir_files` (keyed by path
/// relative to the test's directory). Items that are not there are reported by href.
pub fn import_test_xml(
    file_name: &str,
    xml: &[u8],
    base_dir_files: &BTreeMap<String, Vec<u8>>,
) -> Result<ImportReport, QtiError> {
    let file = file_name.rsplit('/').next().unwrap_or(file_name).to_owned();
    let mut all = base_dir_files.clone();
    all.insert(file.clone(), xml.to_vec());
    let mut files_with_test = MemFiles::new(&all);
    let resources = vec![Resource {
        identifier: file_stem(&file),
        kind: ResourceKind::Test,
        href: Some(file),
    }];
    import_with(&mut files_with_test, &resources)
}

fn problem(file: &str, item: Option<&str>, kind: ProblemKind, message: String) -> Problem {
    Problem {
        file: file.to_owned(),
        item: item.map(str::to_owned),
        kind,
        message,
    }
}

fn read_xml(files: &mut dyn FileSource, path: &str) -> Result<Vec<u8>, (ProblemKind, String)> {
    match files.read(path, XML_FILE_BYTES_MAX) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err((
            ProblemKind::MissingFile,
            format!("{path} is not in the package"),
        )),
        Err(ReadFault::TooLarge) => Err((
            ProblemKind::TooLarge,
            format!("{path} is larger than {XML_FILE_BYTES_MAX} bytes"),
        )),
        Err(ReadFault::Other(why)) => Err((
            ProblemKind::MissingFile,
            format!("{path} cannot be read: {why}"),
        )),
    }
}

fn import_with(
    files: &mut dyn FileSource,
    resources: &[Resource],
) -> Result<ImportReport, QtiError> {
    let mut report = ImportReport::default();
    // Resource identifier → resolved path, for items.
    let mut item_paths: BTreeMap<&str, String> = BTreeMap::new();
    for r in resources.iter().filter(|r| r.kind == ResourceKind::Item) {
        match r.href.as_deref().map(|h| resolve_href("", h)) {
            Some(Ok(path)) => {
                item_paths.insert(&r.identifier, path);
            }
            Some(Err(why)) => report.push_problem(problem(
                "imsmanifest.xml",
                Some(&r.identifier),
                ProblemKind::UnsafePath,
                format!("resource href {why}"),
            )),
            None => report.push_problem(problem(
                "imsmanifest.xml",
                Some(&r.identifier),
                ProblemKind::Structure,
                "the item resource has no href".into(),
            )),
        }
    }

    // The test, if any (the first; others are reported).
    let mut tests = resources.iter().filter(|r| r.kind == ResourceKind::Test);
    if let Some(t) = tests.next() {
        report.test = load_test(files, t, &item_paths, &mut report.problems);
    }
    for extra in tests {
        report.push_problem(problem(
            extra.href.as_deref().unwrap_or("imsmanifest.xml"),
            None,
            ProblemKind::Structure,
            format!(
                "the package has more than one test; only the first is imported, {} is not",
                extra.identifier
            ),
        ));
    }

    // Items: those the test references, in test order, then the rest of the manifest's items.
    let mut queue: Vec<(String, String)> = Vec::new();
    let mut keys = BTreeSet::new();
    let mut paths_done = BTreeSet::new();
    if let Some(test) = &report.test {
        for r in test.item_refs() {
            if !keys.insert(r.identifier.clone()) {
                report.problems.push(problem(
                    &test.file,
                    Some(&r.identifier),
                    ProblemKind::Structure,
                    "two item references share this identifier; only the first is used".into(),
                ));
                continue;
            }
            if let Some(path) = &r.path {
                paths_done.insert(path.clone());
                queue.push((r.identifier.clone(), path.clone()));
            }
        }
    }
    for r in resources.iter().filter(|r| r.kind == ResourceKind::Item) {
        let Some(path) = item_paths.get(r.identifier.as_str()) else {
            continue;
        };
        if paths_done.contains(path) {
            continue;
        }
        let mut key = if r.identifier.is_empty() {
            file_stem(path)
        } else {
            r.identifier.clone()
        };
        if keys.contains(&key) {
            key = path.clone();
        }
        keys.insert(key.clone());
        paths_done.insert(path.clone());
        queue.push((key, path.clone()));
    }
    for (key, path) in queue {
        match read_xml(files, &path) {
            Ok(bytes) => {
                if let Some(item) = parse_item(&path, &key, &bytes, files, &mut report) {
                    report.items.push(item);
                }
            }
            Err((kind, message)) => report.push_problem(problem(&path, Some(&key), kind, message)),
        }
    }
    Ok(report)
}

fn load_test(
    files: &mut dyn FileSource,
    resource: &Resource,
    item_paths: &BTreeMap<&str, String>,
    problems: &mut Vec<Problem>,
) -> Option<ImportedTest> {
    let path = match resource.href.as_deref().map(|h| resolve_href("", h)) {
        Some(Ok(p)) => p,
        Some(Err(why)) => {
            problems.push(problem(
                "imsmanifest.xml",
                None,
                ProblemKind::UnsafePath,
                format!("test href {why}"),
            ));
            return None;
        }
        None => {
            problems.push(problem(
                "imsmanifest.xml",
                None,
                ProblemKind::Structure,
                "the test resource has no href".into(),
            ));
            return None;
        }
    };
    let bytes = match read_xml(files, &path) {
        Ok(b) => b,
        Err((kind, message)) => {
            problems.push(problem(&path, None, kind, message));
            return None;
        }
    };
    let parsed = xml::parse(&bytes)
        .map_err(|e| (ProblemKind::MalformedXml, e.to_string()))
        .and_then(|root| parse_test(&path, &root).map_err(|m| (ProblemKind::Structure, m)));
    let mut test = match parsed {
        Ok(t) => t,
        Err((kind, message)) => {
            problems.push(problem(&path, None, kind, message));
            return None;
        }
    };
    let dir = parent_dir(&path);
    for part in &mut test.parts {
        for s in &mut part.sections {
            resolve_refs(files, &path, &dir, s, item_paths, problems);
        }
    }
    Some(test)
}

/// Resolves each item ref's href: relative to the test file (as the specification says); failing
/// that, the manifest resource with the ref's identifier; failing that, from the package root
/// (some exporters write root-relative hrefs). A ref found nowhere is a missing file.
fn resolve_refs(
    files: &mut dyn FileSource,
    test_file: &str,
    dir: &str,
    section: &mut super::ImportedSection,
    item_paths: &BTreeMap<&str, String>,
    problems: &mut Vec<Problem>,
) {
    for child in &mut section.children {
        match child {
            SectionPart::Section(s) => resolve_refs(files, test_file, dir, s, item_paths, problems),
            SectionPart::Item(r) => {
                let relative = resolve_href(dir, &r.href);
                let found = match &relative {
                    Ok(p) if files.contains(p) => Some(p.clone()),
                    _ => item_paths
                        .get(r.identifier.as_str())
                        .filter(|p| files.contains(p))
                        .cloned()
                        .or_else(|| resolve_href("", &r.href).ok().filter(|p| files.contains(p))),
                };
                match (found, relative) {
                    (Some(p), _) => r.path = Some(p),
                    (None, Err(why)) => problems.push(problem(
                        test_file,
                        Some(&r.identifier),
                        ProblemKind::UnsafePath,
                        format!("item href {:?} {why}", r.href),
                    )),
                    (None, Ok(p)) => problems.push(problem(
                        test_file,
                        Some(&r.identifier),
                        ProblemKind::MissingFile,
                        format!(
                            "the test references item file {:?} ({p}), which is not in the package",
                            r.href
                        ),
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_resolve_inside_the_package_only() {
        assert_eq!(
            resolve_href("items", "images/a.png"),
            Ok("items/images/a.png".into())
        );
        assert_eq!(
            resolve_href("tests", "../items/a.xml"),
            Ok("items/a.xml".into())
        );
        assert_eq!(resolve_href("", "a%20b.png"), Ok("a b.png".into()));
        assert!(resolve_href("", "../a.png").is_err());
        assert!(resolve_href("x", "/etc/passwd").is_err());
        assert!(resolve_href("", "http://example.com/a.png").is_err());
    }
}
