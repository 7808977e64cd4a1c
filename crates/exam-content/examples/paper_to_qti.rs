//! Writes a paper (JSON, as `exam_domain::Paper` serialises) as a QTI 2.1 content package.
//! Used to make the demo package `site-server/demo/dygz-theory-qti21.zip`:
//!
//! ```sh
//! cargo run -p exam-content --example paper_to_qti -- paper.json site-server/demo/dygz-theory-qti21.zip
//! ```

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        return Err("usage: paper_to_qti PAPER.json OUT.zip".into());
    };
    let paper: exam_domain::Paper = serde_json::from_slice(&std::fs::read(input)?)?;
    paper.validate()?;
    std::fs::write(output, exam_content::qti::export_package(&paper))?;
    println!(
        "{output}: {} items in {} sections",
        paper.items().count(),
        paper.sections.len()
    );
    Ok(())
}
