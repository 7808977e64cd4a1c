use exam_content::qti;
fn fx(p: &str) -> Vec<u8> { std::fs::read(format!("{}/../../../shared/fixtures/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap() }
#[test]
fn dump() {
    for p in ["qti21-sample.zip", "qti-external/qti21/packages/WebDeveloperTest1.zip", "qti-external/qti30/kennisnet/valid-package.zip"] {
        let r = qti::import_package(&fx(p)).unwrap();
        println!("=== {p}: {} items, test {:?}", r.items.len(), r.test.as_ref().map(|t| (&t.identifier, t.time_limit_secs)));
        for pr in &r.problems { println!("  P {pr} [{:?}]", pr.kind); }
        for i in r.items.iter().take(3) { println!("  I {} {:?} {:?} {:?} media={:?}\n    {:?}", i.key, i.item_type, i.scoring, i.responses.iter().map(|r| &r.correct).collect::<Vec<_>>(), i.media, i.body_text); }
        match qti::to_paper(&r) { Ok((paper, probs)) => { println!("  paper {} items {} max {}", paper.sections.len(), paper.items().count(), paper.max_points()); for pr in probs.iter().take(12) { println!("  T {pr} [{:?}]", pr.kind);} println!("  ({} to_paper problems)", probs.len()); } Err(e) => println!("  ERR {e}") }
    }
}
