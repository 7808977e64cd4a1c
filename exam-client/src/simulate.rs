//! Simulated candidates: each logs in as a demo candidate, answers every item with random
//! responses (changing some), and submits, through the same backend a real candidate machine
//! uses. They survive the site server going away and coming back.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use exam_crypto::Fingerprint;
use exam_domain::demo::random_response;
use exam_domain::rng::SplitMix64;
use exam_domain::{CandidateItem, Response, demo};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::backend::{self, ClientConfig, ClientEvent};
use crate::model::{Command, ExamBackend, Phase};

/// Most simulated candidates in one run.
pub const SIMULATED_CANDIDATES_MAX: u32 = 10_000;

#[derive(Debug, Clone)]
pub struct SimulateConfig {
    pub server: SocketAddr,
    pub pin: Fingerprint,
    pub candidates: u32,
    /// Index (0-based) of the first demo candidate to play.
    pub first: u32,
    /// Mean pause between two answers.
    pub think: Duration,
    /// Write every acknowledged change here as a JSON line.
    pub record: Option<PathBuf>,
    /// Give up on candidates that have not submitted by then.
    pub deadline: Duration,
    pub seed: u64,
    /// Where the candidates keep their journals (a directory each), fsynced like a real
    /// machine's; `None` keeps them in memory.
    pub journal_dir: Option<PathBuf>,
    /// The candidates' `(admission number, ID number)`, played from `first`; `None` plays the
    /// demo roster.
    pub credentials: Option<Arc<Vec<(String, String)>>>,
}

/// Most lines of a credentials file.
pub const CREDENTIALS_MAX: usize = 100_000;

/// Reads `admission number,ID number` lines (a header line and blank lines are skipped).
pub fn read_credentials(path: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (n == 0 && !line.starts_with(|c: char| c.is_ascii_digit())) {
            continue;
        }
        let mut parts = line.split(',').map(str::trim);
        match (parts.next(), parts.next()) {
            (Some(a), Some(i)) if !a.is_empty() && !i.is_empty() => {
                out.push((a.to_owned(), i.to_owned()))
            }
            _ => anyhow::bail!(
                "{} line {}: expected “admission number,ID number”",
                path.display(),
                n + 1
            ),
        }
        anyhow::ensure!(
            out.len() <= CREDENTIALS_MAX,
            "{} has more than {CREDENTIALS_MAX} lines",
            path.display()
        );
    }
    Ok(out)
}

/// One acknowledged change, as `--record` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RecordedAnswer {
    pub admission_no: String,
    pub item_id: String,
    pub seq: u64,
    pub response: Response,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct SimulateReport {
    pub candidates: u32,
    pub submitted: u32,
    pub acknowledged: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Save latencies (click to acknowledgement), sorted.
    pub latencies: Vec<Duration>,
    /// From the start until the last candidate had its paper: the login burst.
    pub login_burst: Duration,
    /// By then half of the candidates had their paper.
    pub paper_p50: Duration,
    /// The longest latency of a save clicked during the login burst.
    pub max_during_burst: Duration,
    /// Latencies of saves clicked after the login burst, sorted.
    pub after_burst: Vec<Duration>,
}

impl SimulateReport {
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    /// The summary line, always the last line `simulate` prints.
    pub fn summary(&self) -> String {
        format!(
            "simulate: {} candidates, {} submitted, {} answers acknowledged, {} errors",
            self.candidates, self.submitted, self.acknowledged, self.errors
        )
    }

    /// Throughput and latency figures.
    pub fn figures(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        format!(
            "saves acknowledged per second: {:.0}; save latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; elapsed {:.1} s",
            self.acknowledged as f64 / secs,
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
            self.latencies
                .last()
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3,
            secs
        ) + &format!(
            "\nlogin burst {:.1} s (half the papers delivered by {:.1} s; max save latency during it {:.1} ms); after it: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.login_burst.as_secs_f64(),
            self.paper_p50.as_secs_f64(),
            self.max_during_burst.as_secs_f64() * 1e3,
            percentile(&self.after_burst, 0.50).as_secs_f64() * 1e3,
            percentile(&self.after_burst, 0.99).as_secs_f64() * 1e3,
            self.after_burst
                .last()
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3,
        )
    }
}

/// The `p` quantile of `sorted`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[derive(Default)]
struct Outcome {
    submitted: bool,
    errors: u64,
    /// (when the change was clicked, its latency).
    latencies: Vec<(Instant, Duration)>,
    acknowledged: u64,
    paper_at: Option<Instant>,
}

/// Runs the simulation to the end (every candidate submitted, or the deadline).
pub async fn run(config: SimulateConfig) -> anyhow::Result<SimulateReport> {
    anyhow::ensure!(
        (1..=SIMULATED_CANDIDATES_MAX).contains(&config.candidates),
        "--candidates must be between 1 and {SIMULATED_CANDIDATES_MAX}"
    );
    // One socket for every simulated machine: give it the buffers of a site's socket.
    let endpoint = exam_net::shared_client_endpoint(
        config.server,
        exam_net::client_config(config.pin, exam_protocol::ALPN_CANDIDATE)?,
        exam_net::endpoint::SITE_SOCKET_BUFFER_BYTES,
    )?;
    let (rec_tx, mut rec_rx) = mpsc::unbounded_channel::<RecordedAnswer>();
    let recorder = match config.record.clone() {
        Some(path) => {
            let file = std::fs::File::create(&path)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            Some(tokio::task::spawn_blocking(
                move || -> std::io::Result<()> {
                    let mut out = std::io::BufWriter::new(file);
                    while let Some(r) = rec_rx.blocking_recv() {
                        serde_json::to_writer(&mut out, &r)?;
                        out.write_all(b"\n")?;
                    }
                    out.flush()
                },
            ))
        }
        None => None,
    };
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + config.deadline;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..config.candidates {
        let index = config.first + i;
        let endpoint = endpoint.clone();
        let cfg = config.clone();
        let rec = config.record.as_ref().map(|_| rec_tx.clone());
        tasks.spawn(async move { candidate(index, cfg, endpoint, rec, deadline).await });
    }
    drop(rec_tx);
    let mut report = SimulateReport {
        candidates: config.candidates,
        ..Default::default()
    };
    let mut clicks = Vec::new();
    let mut burst_end = started;
    let mut papers = Vec::new();
    while let Some(res) = tasks.join_next().await {
        match res {
            Ok(o) => {
                report.submitted += u32::from(o.submitted);
                report.errors += o.errors;
                report.acknowledged += o.acknowledged;
                burst_end = burst_end.max(o.paper_at.unwrap_or(burst_end));
                papers.extend(o.paper_at.map(|t| t - started));
                clicks.extend(o.latencies);
            }
            Err(_) => report.errors += 1,
        }
    }
    report.elapsed = started.elapsed();
    report.login_burst = burst_end - started;
    papers.sort_unstable();
    report.paper_p50 = percentile(&papers, 0.5);
    for (clicked, latency) in clicks {
        report.latencies.push(latency);
        if clicked < burst_end {
            report.max_during_burst = report.max_during_burst.max(latency);
        } else {
            report.after_burst.push(latency);
        }
    }
    report.latencies.sort_unstable();
    report.after_burst.sort_unstable();
    if let Some(r) = recorder {
        r.await??;
    }
    endpoint.close(0u32.into(), b"done");
    Ok(report)
}

async fn candidate(
    index: u32,
    cfg: SimulateConfig,
    endpoint: quinn::Endpoint,
    record: Option<mpsc::UnboundedSender<RecordedAnswer>>,
    deadline: tokio::time::Instant,
) -> Outcome {
    let (admission_no, id_number) = match &cfg.credentials {
        Some(list) => match list.get(index as usize) {
            Some(c) => c.clone(),
            None => {
                return Outcome {
                    errors: 1,
                    ..Default::default()
                };
            }
        },
        None => {
            let who = demo::candidate(index);
            (
                who.admission_no.to_string(),
                who.id_number.as_str().to_owned(),
            )
        }
    };
    let (ev_tx, mut events) = mpsc::unbounded_channel();
    let client = backend::spawn(
        ClientConfig {
            server: cfg.server,
            pin: cfg.pin,
            machine: format!("sim-{index}"),
            journal_dir: cfg
                .journal_dir
                .as_ref()
                .map(|d| d.join(format!("sim-{index}"))),
        },
        endpoint,
        Arc::new(|| {}),
        Some(ev_tx),
    );
    let mut rng = SplitMix64::new(cfg.seed ^ (u64::from(index) << 20));
    let mut out = Outcome {
        submitted: false,
        errors: 0,
        latencies: Vec::new(),
        acknowledged: 0,
        paper_at: None,
    };
    let login = || Command::Login {
        admission_no: admission_no.clone(),
        id_number: id_number.clone(),
    };
    let mut plan: Vec<CandidateItem> = Vec::new();
    let mut next = 0usize;
    let mut submit_sent = false;
    // Nothing to do until the paper arrives (logins happen on each LinkUp while logged out).
    let mut next_action = deadline;
    loop {
        let wake = next_action.min(deadline);
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                match ev {
                    ClientEvent::LinkUp => {
                        if matches!(client.state().phase, Phase::LoggedOut { .. }) {
                            client.send(login());
                        }
                    }
                    ClientEvent::LoginRefused { retry_after, .. } => {
                        out.errors += 1;
                        tracing::warn!(candidate = %admission_no, "login refused");
                        if retry_after.is_zero() {
                            break;
                        }
                        tokio::time::sleep(retry_after).await;
                        client.send(login());
                    }
                    ClientEvent::PaperReady => {
                        if plan.is_empty() && let Some(p) = client.state().paper {
                            out.paper_at = Some(Instant::now());
                            plan = p.items().cloned().collect();
                            next_action = tokio::time::Instant::now() + think(&mut rng, cfg.think);
                        }
                    }
                    ClientEvent::Acked { seq, item, response, latency } => {
                        out.acknowledged += 1;
                        let now = Instant::now();
                        out.latencies.push((now.checked_sub(latency).unwrap_or(now), latency));
                        if let Some(r) = &record {
                            let _ = r.send(RecordedAnswer { admission_no: admission_no.clone(), item_id: item.to_string(), seq, response });
                        }
                    }
                    ClientEvent::SaveRefused { .. } | ClientEvent::JournalFailed { .. } => out.errors += 1,
                    ClientEvent::SubmitRefused { .. } => {
                        submit_sent = false;
                        next_action = tokio::time::Instant::now() + Duration::from_millis(500);
                    }
                    ClientEvent::Submitted { .. } => {
                        out.submitted = true;
                        break;
                    }
                    ClientEvent::LinkDown | ClientEvent::Waiting => {}
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(candidate = %admission_no, "deadline reached before submitting");
                    out.errors += 1;
                    break;
                }
                if plan.is_empty() {
                    next_action = deadline;
                    continue;
                }
                if next < plan.len() {
                    // Answer the next item; now and then go back and change an earlier one.
                    let pick = if next > 0 && rng.below(5) == 0 { rng.below(next as u64) as usize } else { let n = next; next += 1; n };
                    if let Some(item) = plan.get(pick) {
                        client.send(Command::Save { item: item.id.clone(), response: random_response(item, &mut rng) });
                    }
                    next_action = tokio::time::Instant::now() + think(&mut rng, cfg.think);
                } else if !submit_sent && client.state().unacked == 0 {
                    client.send(Command::Submit);
                    submit_sent = true;
                    next_action = deadline;
                } else {
                    next_action = tokio::time::Instant::now() + Duration::from_millis(50);
                }
            }
        }
    }
    drop(client);
    out
}

fn think(rng: &mut SplitMix64, mean: Duration) -> Duration {
    let ms = mean.as_millis() as u64;
    if ms == 0 {
        Duration::ZERO
    } else {
        Duration::from_millis(rng.below(2 * ms + 1))
    }
}
