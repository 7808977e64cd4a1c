//! `exam-sim`: runs the seeded simulator over a range of seeds and prints the first failing seed,
//! or replays one seed with its trace.
//!
//! ```text
//! exam-sim [--from SEED] [--seeds N]     # seeds SEED..SEED+N (default 0..1000)
//! exam-sim --replay SEED                 # one seed, every step printed
//! ```

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut from = 0u64;
    let mut count = 1_000u64;
    let mut replay = None;
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match (args[i].as_str(), value) {
            ("--from", Some(v)) => from = v,
            ("--seeds", Some(v)) => count = v,
            ("--replay", Some(v)) => replay = Some(v),
            _ => {
                eprintln!("usage: exam-sim [--from SEED] [--seeds N] | --replay SEED");
                return ExitCode::from(2);
            }
        }
        i += 2;
    }
    if let Some(seed) = replay {
        return match exam_sim::run_seed(seed, true) {
            Ok(stats) => {
                println!("seed {seed} passed: {stats:?}");
                ExitCode::SUCCESS
            }
            Err(f) => {
                print!("{}", f.trace);
                println!("{f}");
                ExitCode::FAILURE
            }
        };
    }
    let started = Instant::now();
    let mut total = exam_sim::SimStats::default();
    let mut done = 0u64;
    // In chunks, so progress shows on long runs.
    let chunk = 1_000u64;
    while done < count {
        let n = chunk.min(count - done);
        match exam_sim::run_range(from + done, n) {
            Ok(s) => {
                total.steps += s.steps;
                total.acked += s.acked;
                total.refused += s.refused;
                total.site_crashes += s.site_crashes;
                total.client_crashes += s.client_crashes;
                total.cuts += s.cuts;
                total.moves += s.moves;
            }
            Err(f) => {
                print!("{}", f.trace);
                println!("{f}");
                println!("replay it with: exam-sim --replay {}", f.seed);
                return ExitCode::FAILURE;
            }
        }
        done += n;
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{done}/{count} seeds passed in {secs:.1} s ({:.0} seeds/s)",
            done as f64 / secs.max(1e-9)
        );
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{count} seeds ({from}..{}) passed in {secs:.1} s, {:.0} seeds/s: {} steps, {} changes acknowledged, {} refused, {} site crashes, {} machine crashes, {} connections cut, {} moves",
        from + count,
        count as f64 / secs.max(1e-9),
        total.steps,
        total.acked,
        total.refused,
        total.site_crashes,
        total.client_crashes,
        total.cuts,
        total.moves
    );
    ExitCode::SUCCESS
}
