//! The tokio shell around the engine: accepts QUIC connections, feeds the engine, carries out its
//! outputs, hands store operations to the writer thread, and keeps the status file current.
//!
//! Nothing here waits on the disk or on a slow machine inside the event loop: frames go to
//! bounded per-connection queues (a machine that stops reading is disconnected), store batches go
//! to the writer only when it has room (meanwhile they wait here, and past
//! [`STORE_BACKLOG_OPS_MAX`] the site stops taking answers), and the status file and the disk
//! check run on the blocking pool.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use exam_crypto::Fingerprint;
use exam_domain::Paper;
use exam_net::{FramedRecv, NetError, SiteIdentity, server_endpoint};
use exam_protocol::frame::{CLIENT_FRAME_BYTES_MAX, FRAME_BYTES_MAX, encode_frame};
use exam_protocol::{ALPN_CANDIDATE, ClientMsg, SiteMsg};
use exam_site_core::{
    ConnId, Engine, Input, MonoMs, Output, Request, SessionConfig, StartRule, StoreOp,
};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::ca::CertRenewer;
use crate::limits::*;
use crate::papers::CandidatePapers;
use crate::status::{AckLatency, Status};
use crate::store;
use crate::writer::{self, Commit, WriterReport, WriterStats};

/// QUIC close codes the site uses.
mod close_code {
    pub const MALFORMED: u32 = 1;
    pub const SLOW: u32 = 2;
    pub const ENGINE: u32 = 3;
    pub const SHUTDOWN: u32 = 4;
    pub const LIMIT: u32 = 5;
}

enum Event {
    Opened {
        conn: ConnId,
        out: mpsc::Sender<Bytes>,
        quic: quinn::Connection,
        peer: IpAddr,
    },
    Message {
        conn: ConnId,
        req: Request,
    },
    Closed {
        conn: ConnId,
    },
    /// The connection task ended (whether or not it ever opened): its address slot is free.
    Ended {
        peer: IpAddr,
    },
}

/// A site server running in this process.
pub struct RunningSite {
    pub addr: SocketAddr,
    pub fingerprint: Fingerprint,
    control: mpsc::Sender<Input>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<WriterStats>>,
}

impl RunningSite {
    /// Sends a proctor or schedule command to the engine.
    pub async fn control(&self, input: Input) -> anyhow::Result<()> {
        self.control
            .send(input)
            .await
            .map_err(|_| anyhow::anyhow!("the site server has stopped"))
    }

    /// Stops accepting, closes connections and waits until every queued change is committed.
    pub async fn stop(mut self) -> anyhow::Result<WriterStats> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await.context("site server task")?
    }

    /// Waits until the server stops by itself (it only does on an error).
    pub async fn wait(&mut self) -> anyhow::Result<WriterStats> {
        (&mut self.task).await.context("site server task")?
    }
}

/// Binds the site's LAN endpoint on `listen` with the identity in `data_dir`.
pub fn bind(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<quinn::Endpoint> {
    let identity = SiteIdentity::load(data_dir)
        .with_context(|| format!("site identity in {}", data_dir.display()))?;
    server_endpoint(listen, &identity, ALPN_CANDIDATE)
        .with_context(|| format!("could not open the LAN port {listen}"))
}

/// Starts the site in `data_dir` (which must hold a site) listening on `listen`.
pub async fn start(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<RunningSite> {
    start_with(data_dir, listen, None).await
}

/// [`start`], renewing the server certificate while it runs when `renewer` can.
pub async fn start_with(
    data_dir: &Path,
    listen: SocketAddr,
    renewer: Option<CertRenewer>,
) -> anyhow::Result<RunningSite> {
    let store = store::open_writer(data_dir, false)?;
    let endpoint = bind(data_dir, listen)?;
    start_on(data_dir, endpoint, Box::new(store), renewer).await
}

/// Starts the site in `data_dir` on an endpoint and a store given from outside (tests bind the
/// endpoint first, or wrap the store to inject faults). The returned site stops on
/// [`RunningSite::stop`].
pub async fn start_on(
    data_dir: &Path,
    endpoint: quinn::Endpoint,
    store: Box<dyn Commit>,
    renewer: Option<CertRenewer>,
) -> anyhow::Result<RunningSite> {
    start_in(data_dir, data_dir, endpoint, store, renewer).await
}

/// [`start_on`] for a site whose identity and status live in `home` and whose session store is in
/// `store_dir` (an enrolled site keeps one store per session from central).
pub async fn start_in(
    home: &Path,
    store_dir: &Path,
    endpoint: quinn::Endpoint,
    store: Box<dyn Commit>,
    renewer: Option<CertRenewer>,
) -> anyhow::Result<RunningSite> {
    let data_dir = home;
    let identity = SiteIdentity::load(data_dir)
        .with_context(|| format!("site identity in {}", data_dir.display()))?;
    let (engine, papers) = open_engine(store_dir)?;
    let addr = endpoint.local_addr()?;
    let (control_tx, control_rx) = mpsc::channel(64);
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let data = data_dir.to_path_buf();
    let fingerprint = identity.fingerprint();
    let renewal = renewer.map(|r| (Arc::new(r), identity));
    let task = tokio::spawn(async move {
        run(
            data,
            engine,
            papers,
            endpoint,
            store,
            renewal,
            control_rx,
            async {
                let _ = shutdown_rx.await;
            },
        )
        .await
    });
    tracing::info!(%addr, %fingerprint, "site server listening");
    Ok(RunningSite {
        addr,
        fingerprint,
        control: control_tx,
        shutdown: Some(shutdown_tx),
        task,
    })
}

/// Builds the engine and the candidates' papers from the store in `store_dir`.
pub fn open_engine(store_dir: &Path) -> anyhow::Result<(Engine, Arc<CandidatePapers>)> {
    let conn = store::open_reader(store_dir)?;
    let session = store::load_session(&conn)?;
    let mut restored = store::load_restored(&conn)?;
    let content = store::content_zip(&conn)?;
    drop(conn);
    let start = if session.started {
        StartRule::Started
    } else if let Some(at) = session.starts_at_unix_ms {
        let wait_ms = (at - store::unix_ms()).max(0) as u64;
        StartRule::At(MonoMs(wait_ms))
    } else {
        StartRule::Manual
    };
    let papers = Arc::new(match content {
        Some(zip) => CandidatePapers::from_content(&zip)?,
        None => CandidatePapers::fixed(session.paper),
    });
    let config = SessionConfig {
        site_name: session.site_name.clone(),
        title: session.title.clone(),
        paper: papers.union().clone(),
        start,
        grace_ms: u64::from(session.grace_secs) * 1000,
        checkpoint_ms: CHECKPOINT_MS,
        clock_push_ms: CLOCK_PUSH_MS,
    };
    // Refuse to start rather than leave a candidate without a paper: each candidate's paper and
    // its images must fit in a frame. When all the session's images fit in one, every
    // candidate's do; otherwise each set of images is checked once.
    let all_images_fit = PaperFrames::media_frame(papers.union()).is_ok();
    let mut image_sets_checked = BTreeSet::new();
    for c in &mut restored.candidates {
        let paper = papers.for_seed(c.seed);
        c.items = papers.items_in(&paper);
        let names: Vec<String> = paper.media.keys().cloned().collect();
        let cannot = |e: anyhow::Error| {
            anyhow::anyhow!(
                "the paper of candidate {} cannot be sent ({e}); make the session's images smaller or fewer",
                c.admission_no
            )
        };
        PaperFrames::paper_frame(&paper, c.seed, 0).map_err(cannot)?;
        if !all_images_fit && image_sets_checked.insert(names) {
            PaperFrames::media_frame(&paper).map_err(cannot)?;
        }
    }
    let mut engine = Engine::new(config, restored, MonoMs(0));
    if session.paused {
        engine.handle(
            MonoMs(0),
            Input::PauseSession {
                by: "system".into(),
                reason: "暂停中（服务器重启前已暂停）".into(),
            },
        );
    }
    Ok((engine, papers))
}

/// Candidate papers and their images, encoded once and shared by every send.
#[derive(Default)]
struct PaperFrames {
    /// Each recent order's paper frame and the names of the images it shows.
    papers: BTreeMap<u64, (Bytes, Vec<String>)>,
    order: VecDeque<u64>,
    /// Image frames by the images they hold: candidates of one fixed paper share a frame; a
    /// paper drawn from a pool gets only its own images, never the rest of the pool's.
    media: BTreeMap<Vec<String>, Bytes>,
    media_order: VecDeque<Vec<String>>,
}

impl PaperFrames {
    fn paper_frame(paper: &Paper, seed: u64, key: u64) -> anyhow::Result<Bytes> {
        let p = exam_domain::shuffle::candidate_order(paper, seed);
        Ok(Bytes::from(encode_frame(
            &SiteMsg::Paper { key, paper: p },
            FRAME_BYTES_MAX,
        )?))
    }

    fn media_frame(paper: &Paper) -> anyhow::Result<Bytes> {
        let files = exam_domain::shuffle::paper_media(paper);
        Ok(Bytes::from(encode_frame(
            &SiteMsg::Media { files },
            FRAME_BYTES_MAX,
        )?))
    }

    /// The images frame and the paper frame of the candidate with this seed.
    fn frames(
        &mut self,
        papers: &CandidatePapers,
        seed: u64,
        key: u64,
    ) -> anyhow::Result<(Bytes, Bytes)> {
        let mut assembled = None;
        let (paper_frame, names) = match self.papers.get(&seed) {
            Some(cached) => cached.clone(),
            None => {
                let paper = papers.for_seed(seed);
                let frame = Self::paper_frame(&paper, seed, key)?;
                let names: Vec<String> = paper.media.keys().cloned().collect();
                if self.order.len() >= PAPER_FRAMES_CACHED_MAX
                    && let Some(old) = self.order.pop_front()
                {
                    self.papers.remove(&old);
                }
                self.order.push_back(seed);
                self.papers.insert(seed, (frame.clone(), names.clone()));
                assembled = Some(paper);
                (frame, names)
            }
        };
        if let Some(media) = self.media.get(&names).cloned() {
            // Least recently used goes first.
            self.media_order.retain(|n| *n != names);
            self.media_order.push_back(names);
            return Ok((media, paper_frame));
        }
        let paper = assembled.unwrap_or_else(|| papers.for_seed(seed));
        let media = Self::media_frame(&paper)?;
        if self.media_order.len() >= MEDIA_FRAMES_CACHED_MAX
            && let Some(old) = self.media_order.pop_front()
        {
            self.media.remove(&old);
        }
        self.media_order.push_back(names.clone());
        self.media.insert(names, media.clone());
        Ok((media, paper_frame))
    }
}

struct ConnHandle {
    out: mpsc::Sender<Bytes>,
    quic: quinn::Connection,
    opened: Instant,
    /// When each of its saves not yet answered arrived, in number order.
    arrivals: VecDeque<(u64, Instant)>,
}

struct Shell {
    engine: Engine,
    papers: Arc<CandidatePapers>,
    frames: PaperFrames,
    origin: Instant,
    conns: BTreeMap<ConnId, ConnHandle>,
    per_address: BTreeMap<IpAddr, usize>,
    next_conn: u64,
    data_dir: PathBuf,
    /// Batches not yet handed to the writer.
    to_writer: VecDeque<Vec<StoreOp>>,
    /// Operations asked for and not yet committed.
    uncommitted_ops: usize,
    writer_failing: Option<String>,
    /// What the engine was last told about the store.
    told_trouble: Option<String>,
    status: Status,
    /// Acknowledgement latencies (ms) since the status was last filled in.
    ack_ms: Vec<u32>,
}

/// The event loop. Returns when `shutdown` resolves (after committing what is queued) or on an
/// error of its own.
#[allow(clippy::too_many_arguments)]
async fn run(
    data_dir: PathBuf,
    engine: Engine,
    papers: Arc<CandidatePapers>,
    endpoint: quinn::Endpoint,
    store: Box<dyn Commit>,
    renewal: Option<(Arc<CertRenewer>, SiteIdentity)>,
    mut control: mpsc::Receiver<Input>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<WriterStats> {
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let (writer, writer_thread) =
        writer::spawn(store, reports_tx).context("could not start the store writer")?;
    let (events_tx, mut events) = mpsc::channel::<Event>(EVENT_QUEUE_MAX);
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES_MAX));
    let mut shell = Shell {
        engine,
        papers,
        frames: PaperFrames::default(),
        origin: Instant::now(),
        conns: BTreeMap::new(),
        per_address: BTreeMap::new(),
        next_conn: 0,
        data_dir: data_dir.clone(),
        to_writer: VecDeque::new(),
        uncommitted_ops: 0,
        writer_failing: None,
        told_trouble: None,
        status: Status::new(&data_dir),
        ack_ms: Vec::new(),
    };
    let mut status_tick = tokio::time::interval(STATUS_EVERY);
    status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut status_write: Option<tokio::task::JoinHandle<Option<u64>>> = None;
    let mut renew_tick = tokio::time::interval(exam_net::identity::RENEWAL_CHECK_INTERVAL);
    renew_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    renew_tick.reset();
    let (renewer, mut serving) = match renewal {
        Some((r, id)) => (Some(r), Some(id)),
        None => (None, None),
    };
    let mut renewing: Option<tokio::task::JoinHandle<(SiteIdentity, Option<SiteIdentity>)>> = None;
    tokio::pin!(shutdown);
    shell.flush();
    loop {
        let deadline = shell
            .engine
            .poll_timeout()
            .map(|t| shell.origin + Duration::from_millis(t.0));
        let writer_wants = !shell.to_writer.is_empty();
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            Some(report) = reports.recv() => shell.writer_report(report),
            permit = writer.reserve(), if writer_wants => {
                let Ok(permit) = permit else {
                    anyhow::bail!("the store writer stopped");
                };
                let mut batch = Vec::new();
                while let Some(b) = shell.to_writer.pop_front() {
                    batch.extend(b);
                    if batch.len() >= GROUP_COMMIT_OPS_MAX {
                        break;
                    }
                }
                permit.send(batch);
            }
            Some(ev) = events.recv() => {
                shell.event(ev);
                for _ in 0..EVENT_QUEUE_MAX {
                    match events.try_recv() {
                        Ok(ev) => shell.event(ev),
                        Err(_) => break,
                    }
                }
            }
            Some(input) = control.recv() => {
                let now = shell.now();
                shell.engine.handle(now, input);
            }
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                shell.accept(incoming, &permits, &handshakes, &events_tx);
            }
            _ = sleep_until(deadline) => {
                let now = shell.now();
                shell.engine.handle_timeout(now);
            }
            _ = renew_tick.tick(), if renewer.is_some() => {
                if let Some(h) = renewing.take_if(|h| h.is_finished())
                    && let Ok((current, renewed)) = h.await
                {
                    serving = Some(current);
                    if let Some(new) = renewed {
                        match exam_net::server_config(&new, ALPN_CANDIDATE) {
                            Ok(config) => {
                                endpoint.set_server_config(Some(config));
                                tracing::info!("serving the renewed server certificate to new connections");
                                serving = Some(new);
                            }
                            Err(e) => tracing::error!(error = %e, "the renewed certificate cannot be served; keeping the old one"),
                        }
                    }
                }
                if renewing.is_none()
                    && let (Some(r), Some(current)) = (renewer.clone(), serving.take())
                {
                    renewing = Some(tokio::task::spawn_blocking(move || {
                        let renewed = r.check(&current, std::time::SystemTime::now());
                        let renewed = renewed.unwrap_or_else(|e| {
                            tracing::error!(error = %e, "could not check or renew the server certificate");
                            None
                        });
                        (current, renewed)
                    }));
                }
            }
            _ = status_tick.tick() => {
                shell.login_deadlines();
                if let Some(h) = status_write.take_if(|h| h.is_finished())
                    && let Ok(free) = h.await
                {
                    shell.status.disk_free_bytes = free;
                }
                if status_write.is_none() {
                    shell.fill_status();
                    let s = shell.status.clone();
                    status_write = Some(tokio::task::spawn_blocking(move || s.write_and_check_disk()));
                }
            }
        }
        shell.store_trouble();
        shell.flush();
    }
    tracing::info!(data = %shell.data_dir.display(), "site server stopping; committing what is queued");
    endpoint.close(
        close_code::SHUTDOWN.into(),
        "site server is shutting down".as_bytes(),
    );
    shell.conns.clear();
    // Let the connections drain so the port is free for a restart.
    let _ = tokio::time::timeout(Duration::from_secs(3), endpoint.wait_idle()).await;
    drop(endpoint);
    while let Some(batch) = shell.to_writer.pop_front() {
        if writer.send(batch).await.is_err() {
            break;
        }
    }
    drop(writer);
    let stats = tokio::task::spawn_blocking(move || writer_thread.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the store writer thread panicked"))?;
    shell.status.stopped = true;
    shell.fill_status();
    let s = shell.status.clone();
    let _ = tokio::task::spawn_blocking(move || s.write_and_check_disk()).await;
    tracing::info!(
        commits = stats.commits,
        ops = stats.ops,
        "store writer finished"
    );
    Ok(stats)
}

impl Shell {
    fn now(&self) -> MonoMs {
        MonoMs(self.origin.elapsed().as_millis() as u64)
    }

    fn accept(
        &mut self,
        incoming: quinn::Incoming,
        permits: &Arc<Semaphore>,
        handshakes: &Arc<Semaphore>,
        events: &mpsc::Sender<Event>,
    ) {
        if !incoming.remote_address_validated() {
            // A stateless retry proves the address before the site keeps any state for it.
            if let Err(e) = incoming.retry() {
                tracing::debug!(error = %e, "retry failed");
            }
            return;
        }
        let peer = incoming.remote_address().ip();
        let on_address = self.per_address.get(&peer).copied().unwrap_or(0);
        // Loopback is this machine itself (demos, simulations, tests): no LAN machine can use it.
        if on_address >= CONNECTIONS_PER_ADDRESS_MAX && !peer.is_loopback() {
            tracing::warn!(%peer, max = CONNECTIONS_PER_ADDRESS_MAX, "refusing a connection: too many from one address");
            incoming.refuse();
            return;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(
                max = CONNECTIONS_MAX,
                "refusing a connection: too many candidate machines connected or connecting"
            );
            incoming.refuse();
            return;
        };
        *self.per_address.entry(peer).or_default() += 1;
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let events = events.clone();
        let handshakes = handshakes.clone();
        tokio::spawn(async move {
            // A burst of logins queues here rather than being refused into the machines' back-off.
            match tokio::time::timeout(HANDSHAKE_QUEUE_WAIT, handshakes.acquire_owned()).await {
                Ok(Ok(handshake)) => connection(incoming, conn, events.clone(), handshake).await,
                _ => {
                    tracing::warn!(
                        handshakes = HANDSHAKES_MAX,
                        wait_secs = HANDSHAKE_QUEUE_WAIT.as_secs(),
                        "refusing a connection: no handshake slot in time"
                    );
                    incoming.refuse();
                }
            }
            drop(permit);
            let _ = events.send(Event::Ended { peer }).await;
        });
    }

    fn event(&mut self, ev: Event) {
        let now = self.now();
        match ev {
            Event::Opened {
                conn,
                out,
                quic,
                peer,
            } => {
                self.conns.insert(
                    conn,
                    ConnHandle {
                        out,
                        quic,
                        opened: Instant::now(),
                        arrivals: VecDeque::new(),
                    },
                );
                self.engine.handle(
                    now,
                    Input::Connected {
                        conn,
                        peer: Some(peer),
                    },
                );
            }
            Event::Message { conn, req } => {
                if let Request::Save { seq, .. } = &req
                    && let Some(c) = self.conns.get_mut(&conn)
                    && c.arrivals.len() < SAVE_ARRIVALS_TRACKED_MAX
                {
                    c.arrivals.push_back((*seq, Instant::now()));
                }
                self.engine.handle(now, Input::Request { conn, req });
            }
            Event::Closed { conn } => {
                self.conns.remove(&conn);
                self.engine.handle(now, Input::Disconnected { conn });
            }
            Event::Ended { peer } => {
                if let Some(n) = self.per_address.get_mut(&peer) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.per_address.remove(&peer);
                    }
                }
            }
        }
    }

    fn writer_report(&mut self, report: WriterReport) {
        match report {
            WriterReport::Committed(ops) => {
                self.uncommitted_ops = self.uncommitted_ops.saturating_sub(ops.len());
                self.status.commits += 1;
                let now = self.now();
                for op in ops {
                    self.engine.handle(now, Input::Committed(op));
                }
            }
            WriterReport::Failing(why) => {
                self.status.failed_commits += 1;
                self.status.last_error = Some(why.clone());
                self.writer_failing = Some(why);
            }
            WriterReport::Recovered => self.writer_failing = None,
        }
    }

    /// Tells the engine when the store stops (or starts again) taking answers.
    fn store_trouble(&mut self) {
        let trouble = match &self.writer_failing {
            Some(why) => Some(format!("store commits fail: {why}")),
            None if self.uncommitted_ops > STORE_BACKLOG_OPS_MAX => Some(format!(
                "{} changes wait to be written",
                self.uncommitted_ops
            )),
            None => None,
        };
        if trouble != self.told_trouble {
            match &trouble {
                Some(why) => {
                    tracing::error!(reason = %why, "site degraded: answers are not taken until the store works (they wait on the candidate machines); clocks are stopped")
                }
                None => tracing::warn!("site recovered: answers are taken again and clocks run"),
            }
            self.told_trouble = trouble.clone();
            let now = self.now();
            self.engine.handle(now, Input::StoreTrouble(trouble));
        }
    }

    /// Closes connections that have not logged in within the deadline.
    fn login_deadlines(&mut self) {
        let late: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(id, c)| {
                c.opened.elapsed() > LOGIN_DEADLINE && !self.engine.is_logged_in(**id)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            if let Some(c) = self.conns.get(&id) {
                tracing::debug!(
                    conn = id.0,
                    "closing a connection that did not log in in time"
                );
                c.quic.close(close_code::LIMIT.into(), b"no login");
            }
        }
    }

    fn fill_status(&mut self) {
        self.status.degraded = self.told_trouble.clone();
        self.status.connections = self.conns.len();
        self.status.logged_in = self.engine.connected_candidates();
        self.status.store_backlog_ops = self.uncommitted_ops;
        self.status.session_started = self.engine.session_started();
        self.status.ack_latency = AckLatency::of(&mut self.ack_ms);
        self.ack_ms.clear();
    }

    /// The site acknowledged the saves of `conn` up to `seq`.
    fn acknowledged(&mut self, conn: ConnId, seq: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        while let Some(&(s, at)) = c.arrivals.front() {
            if s > seq {
                break;
            }
            c.arrivals.pop_front();
            self.status.saves_acknowledged += 1;
            if self.ack_ms.len() < ACK_LATENCIES_KEPT_MAX {
                self.ack_ms
                    .push(u32::try_from(at.elapsed().as_millis()).unwrap_or(u32::MAX));
            }
        }
    }

    /// The site refused the save `seq` of `conn` (saves before it may still be committing).
    fn refused(&mut self, conn: ConnId, seq: u64) {
        if let Some(c) = self.conns.get_mut(&conn)
            && let Some(i) = c.arrivals.iter().rposition(|&(s, _)| s == seq)
        {
            c.arrivals.remove(i);
        }
    }

    fn send_frame(&mut self, conn: ConnId, frame: Bytes) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.out.try_send(frame).is_err() {
            tracing::warn!(
                conn = conn.0,
                "closing connection: the candidate machine is not reading its messages"
            );
            c.quic.close(close_code::SLOW.into(), b"too slow");
        }
    }

    fn flush(&mut self) {
        let mut batch = Vec::new();
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Send { conn, msg } => {
                    if !self.conns.contains_key(&conn) {
                        continue;
                    }
                    match &msg {
                        SiteMsg::Ack { seq } => self.acknowledged(conn, *seq),
                        SiteMsg::SaveRefused { seq, .. } => self.refused(conn, *seq),
                        _ => {}
                    }
                    match encode_frame(&msg, FRAME_BYTES_MAX) {
                        Ok(f) => self.send_frame(conn, Bytes::from(f)),
                        Err(e) => {
                            tracing::error!(conn = conn.0, error = %e, "a message could not be encoded")
                        }
                    }
                }
                Output::SendPaper { conn, seed, key } => {
                    if !self.conns.contains_key(&conn) {
                        continue;
                    }
                    let papers = self.papers.clone();
                    match self.frames.frames(&papers, seed, key) {
                        Ok((media, paper)) => {
                            self.send_frame(conn, media);
                            self.send_frame(conn, paper);
                        }
                        Err(e) => {
                            tracing::error!(conn = conn.0, error = %e, "a paper could not be encoded")
                        }
                    }
                }
                Output::Close { conn, reason } => {
                    if let Some(c) = self.conns.get(&conn) {
                        tracing::info!(conn = conn.0, %reason, "closing connection");
                        c.quic.close(close_code::ENGINE.into(), reason.as_bytes());
                    }
                }
                Output::Persist(op) => {
                    if let StoreOp::Alarm {
                        attempt,
                        kind,
                        detail,
                    } = &op
                    {
                        self.status.alarms += 1;
                        tracing::warn!(attempt = attempt.map(|a| a.0), kind = kind.as_str(), %detail, "alarm");
                    }
                    batch.push(op);
                }
            }
        }
        if !batch.is_empty() {
            self.uncommitted_ops += batch.len();
            self.to_writer.push_back(batch);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// One candidate machine's connection: a single bidirectional stream it opens, which must start
/// with `Hello` within [`HELLO_DEADLINE`].
async fn connection(
    incoming: quinn::Incoming,
    conn: ConnId,
    events: mpsc::Sender<Event>,
    handshake: tokio::sync::OwnedSemaphorePermit,
) {
    let quic = match tokio::time::timeout(HELLO_DEADLINE, incoming).await {
        Ok(Ok(q)) => q,
        Ok(Err(e)) => {
            tracing::debug!(conn = conn.0, error = %e, "handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(conn = conn.0, "handshake took too long");
            return;
        }
    };
    drop(handshake);
    let remote = quic.remote_address();
    let opened = tokio::time::timeout(HELLO_DEADLINE, async {
        let (send, recv) = quic.accept_bi().await?;
        let mut framed = FramedRecv::new(recv, CLIENT_FRAME_BYTES_MAX);
        let hello = framed.recv::<ClientMsg>().await?;
        Ok::<_, NetError>((send, framed, hello))
    })
    .await;
    let (send, mut framed, hello) = match opened {
        Ok(Ok((send, framed, Some(hello @ ClientMsg::Hello { .. })))) => (send, framed, hello),
        Ok(Ok(_)) => {
            tracing::info!(conn = conn.0, %remote, "closing connection: it did not start with Hello");
            quic.close(close_code::MALFORMED.into(), b"hello first");
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(conn = conn.0, %remote, error = %e, "connection ended before it said hello");
            quic.close(close_code::MALFORMED.into(), b"no hello");
            return;
        }
        Err(_) => {
            tracing::info!(conn = conn.0, %remote, "closing connection: no Hello in time");
            quic.close(close_code::LIMIT.into(), b"no hello in time");
            return;
        }
    };
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(OUTBOUND_QUEUE_MAX);
    if events
        .send(Event::Opened {
            conn,
            out: out_tx,
            quic: quic.clone(),
            peer: remote.ip(),
        })
        .await
        .is_err()
    {
        return;
    }
    let sender = tokio::spawn(async move {
        let mut send = send;
        while let Some(frame) = out_rx.recv().await {
            if let Err(e) = send.write_chunk(frame).await {
                tracing::debug!(conn = conn.0, error = %e, "send failed");
                break;
            }
        }
    });
    let mut next = Some(hello);
    loop {
        let msg = match next.take() {
            Some(m) => Ok(Some(m)),
            None => framed.recv::<ClientMsg>().await,
        };
        match msg {
            Ok(Some(msg)) => match Request::try_from(msg) {
                Ok(req) => {
                    if events.send(Event::Message { conn, req }).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(conn = conn.0, %remote, reason = %e, "closing connection: a message broke the protocol");
                    quic.close(close_code::MALFORMED.into(), b"malformed message");
                    break;
                }
            },
            Ok(None) => {
                tracing::debug!(conn = conn.0, %remote, "stream finished by the candidate machine");
                break;
            }
            Err(NetError::Frame(e)) => {
                tracing::warn!(conn = conn.0, %remote, reason = %e, "closing connection: malformed or oversized frame");
                quic.close(close_code::MALFORMED.into(), b"malformed frame");
                break;
            }
            Err(NetError::Truncated) => {
                tracing::warn!(conn = conn.0, %remote, "closing connection: stream ended inside a frame");
                quic.close(close_code::MALFORMED.into(), b"truncated frame");
                break;
            }
            Err(e) => {
                tracing::debug!(conn = conn.0, %remote, error = %e, "connection lost");
                break;
            }
        }
    }
    let _ = events.send(Event::Closed { conn }).await;
    sender.abort();
}

// The layers agree on their limits; checked when the crate is built.
const _: () = {
    // One connection count for the engine and the shell.
    assert!(CONNECTIONS_MAX == exam_site_core::limits::CONNECTIONS_MAX);
    // A candidate's largest answer fits a client frame.
    assert!(exam_domain::limits::ESSAY_CHARS_MAX * 4 + 1024 < CLIENT_FRAME_BYTES_MAX as usize);
    // The engine's allowance fits in what the store may be behind before it degrades.
    assert!(STORE_BACKLOG_OPS_MAX > GROUP_COMMIT_OPS_MAX);
    // A whole paper's images fit in one frame with room for text.
    assert!(exam_domain::limits::PAPER_MEDIA_BYTES_MAX < FRAME_BYTES_MAX as usize);
    // Every handshake slot can become a connection.
    assert!(HANDSHAKES_MAX <= CONNECTIONS_MAX);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_frame_fits_a_journal_record_on_the_machine() {
        const { assert!(CLIENT_FRAME_BYTES_MAX < exam_candidate::journal::RECORD_BYTES_MAX) }
    }

    /// Papers drawn from a pool: a candidate gets their own items and only their own images,
    /// never the rest of the pool's (the sample draws 8 of 10 single-choice items, one of which
    /// shows a picture).
    #[test]
    fn a_candidate_gets_only_the_images_of_their_own_paper() {
        let zip = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/qti21-sample.zip"),
        )
        .expect("the sample QTI package");
        let papers = CandidatePapers::from_content(&zip).expect("papers");
        let pool: Vec<_> = papers.union().items().map(|i| i.id.clone()).collect();
        let mut frames = PaperFrames::default();
        let (mut with_image, mut without) = (0, 0);
        for seed in 0..40u64 {
            let items = papers
                .items_in(&papers.for_seed(seed))
                .expect("drawn from a pool");
            assert!(
                items.len() < pool.len(),
                "{} of {}",
                items.len(),
                pool.len()
            );
            let (media, _) = frames.frames(&papers, seed, 0).expect("frames");
            let Ok(Some((SiteMsg::Media { files }, _))) =
                exam_protocol::frame::decode_frame(&media, FRAME_BYTES_MAX)
            else {
                panic!("an images frame");
            };
            let shows_image = items.iter().any(|i| i.as_str() == "QS004");
            assert_eq!(
                !files.is_empty(),
                shows_image,
                "seed {seed}: {:?}",
                files.keys()
            );
            if shows_image {
                with_image += 1;
            } else {
                without += 1;
            }
        }
        assert!(with_image > 0 && without > 0, "{with_image} / {without}");
        assert!(frames.media.len() <= MEDIA_FRAMES_CACHED_MAX);
    }
}
