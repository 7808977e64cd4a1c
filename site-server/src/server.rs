//! The tokio shell around the engine: accepts QUIC connections, feeds the engine, carries out its
//! outputs, and hands store operations to the writer thread.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use exam_crypto::Fingerprint;
use exam_net::{FramedRecv, FramedSend, NetError, SiteIdentity, server_endpoint};
use exam_protocol::frame::{CLIENT_FRAME_BYTES_MAX, FRAME_BYTES_MAX};
use exam_protocol::{ALPN_CANDIDATE, ClientMsg, SiteMsg};
use exam_site_core::{ConnId, Engine, Input, MonoMs, Output, SessionConfig, StartRule};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::store;
use crate::writer::{self, WriterStats};

/// Candidate connections served at once; more are refused at the door.
pub const CONNECTIONS_MAX: usize = 2_000;
/// Messages queued for one candidate machine; a machine that falls this far behind is disconnected.
pub const OUTBOUND_QUEUE_MAX: usize = 256;
/// Events queued from all connections to the engine.
pub const EVENT_QUEUE_MAX: usize = 8_192;
/// A new connection must open its stream within this time.
pub const STREAM_OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often running clocks are persisted.
pub const CHECKPOINT_MS: u64 = 5_000;
/// How often connected candidates get a fresh clock reading.
pub const CLOCK_PUSH_MS: u64 = 30_000;

/// QUIC close codes the site uses.
mod close_code {
    pub const MALFORMED: u32 = 1;
    pub const SLOW: u32 = 2;
    pub const ENGINE: u32 = 3;
    pub const SHUTDOWN: u32 = 4;
}

enum Event {
    Opened {
        conn: ConnId,
        out: mpsc::Sender<SiteMsg>,
        quic: quinn::Connection,
    },
    Message {
        conn: ConnId,
        msg: ClientMsg,
    },
    Closed {
        conn: ConnId,
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

/// Starts the site in `data_dir` (which must hold a site) listening on `listen`.
pub async fn start(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<RunningSite> {
    let conn = store::open_writer(data_dir, false)?;
    let identity = SiteIdentity::load(data_dir)
        .with_context(|| format!("site identity in {}", data_dir.display()))?;
    let session = store::load_session(&conn)?;
    let restored = store::load_restored(&conn)?;
    let origin = Instant::now();
    let start = if session.started {
        StartRule::Started
    } else if let Some(at) = session.starts_at_unix_ms {
        let wait_ms = (at - store::unix_ms()).max(0) as u64;
        StartRule::At(MonoMs(wait_ms))
    } else {
        StartRule::Manual
    };
    let config = SessionConfig {
        site_name: session.site_name.clone(),
        title: session.title.clone(),
        paper: Arc::new(session.paper),
        start,
        grace_ms: u64::from(session.grace_secs) * 1000,
        checkpoint_ms: CHECKPOINT_MS,
        clock_push_ms: CLOCK_PUSH_MS,
    };
    // Every candidate's paper has the same content in another order: if one does not fit in a
    // frame, none does. Refuse to start rather than leave candidates without a paper.
    if let Some(c) = restored.candidates.first() {
        let paper = exam_domain::shuffle::candidate_paper(&config.paper, c.seed);
        let msg = SiteMsg::Paper {
            paper,
            answers: Vec::new(),
            committed_seq: 0,
        };
        exam_protocol::frame::encode_frame(&msg, FRAME_BYTES_MAX).map_err(|e| {
            anyhow::anyhow!("the session's paper cannot be sent to candidates ({e}); make its images smaller or fewer")
        })?;
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
    let endpoint = server_endpoint(listen, &identity, ALPN_CANDIDATE)
        .context("could not open the LAN port")?;
    let addr = endpoint.local_addr()?;
    let (committed_tx, committed_rx) = mpsc::unbounded_channel();
    let (writer_tx, writer_thread) =
        writer::spawn(conn, committed_tx).context("could not start the store writer")?;
    let (control_tx, control_rx) = mpsc::channel(64);
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let shell = Shell {
        engine,
        origin,
        conns: BTreeMap::new(),
        writer: writer_tx,
        next_conn: 0,
        data_dir: data_dir.to_path_buf(),
    };
    let task = tokio::spawn(shell.run(
        endpoint,
        committed_rx,
        control_rx,
        shutdown_rx,
        writer_thread,
    ));
    tracing::info!(%addr, fingerprint = %identity.fingerprint(), "site server listening");
    Ok(RunningSite {
        addr,
        fingerprint: identity.fingerprint(),
        control: control_tx,
        shutdown: Some(shutdown_tx),
        task,
    })
}

struct ConnHandle {
    out: mpsc::Sender<SiteMsg>,
    quic: quinn::Connection,
}

struct Shell {
    engine: Engine,
    origin: Instant,
    conns: BTreeMap<ConnId, ConnHandle>,
    writer: mpsc::Sender<Vec<exam_site_core::StoreOp>>,
    next_conn: u64,
    data_dir: PathBuf,
}

impl Shell {
    fn now(&self) -> MonoMs {
        MonoMs(self.origin.elapsed().as_millis() as u64)
    }

    async fn run(
        mut self,
        endpoint: quinn::Endpoint,
        mut committed: mpsc::UnboundedReceiver<Vec<exam_site_core::StoreOp>>,
        mut control: mpsc::Receiver<Input>,
        mut shutdown: oneshot::Receiver<()>,
        writer_thread: std::thread::JoinHandle<WriterStats>,
    ) -> anyhow::Result<WriterStats> {
        let (events_tx, mut events) = mpsc::channel::<Event>(EVENT_QUEUE_MAX);
        let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
        self.flush().await?;
        loop {
            let deadline = self
                .engine
                .poll_timeout()
                .map(|t| self.origin + Duration::from_millis(t.0));
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(ops) = committed.recv() => {
                    let now = self.now();
                    for op in ops {
                        self.engine.handle(now, Input::Committed(op));
                    }
                }
                Some(ev) = events.recv() => {
                    self.event(ev);
                    for _ in 0..EVENT_QUEUE_MAX {
                        match events.try_recv() {
                            Ok(ev) => self.event(ev),
                            Err(_) => break,
                        }
                    }
                }
                Some(input) = control.recv() => {
                    let now = self.now();
                    self.engine.handle(now, input);
                }
                incoming = endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    match permits.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let conn = ConnId(self.next_conn);
                            self.next_conn += 1;
                            let events = events_tx.clone();
                            tokio::spawn(async move {
                                connection(incoming, conn, events).await;
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            tracing::warn!(max = CONNECTIONS_MAX, "refusing a connection: too many candidate machines connected");
                            incoming.refuse();
                        }
                    }
                }
                _ = sleep_until(deadline) => {
                    let now = self.now();
                    self.engine.handle_timeout(now);
                }
            }
            self.flush().await?;
        }
        tracing::info!(data = %self.data_dir.display(), "site server stopping; committing what is queued");
        endpoint.close(
            close_code::SHUTDOWN.into(),
            "site server is shutting down".as_bytes(),
        );
        self.conns.clear();
        // Let the connections drain so the port is free for a restart.
        let _ = tokio::time::timeout(Duration::from_secs(3), endpoint.wait_idle()).await;
        drop(endpoint);
        drop(self.writer);
        let stats = tokio::task::spawn_blocking(move || writer_thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the store writer thread panicked"))?;
        tracing::info!(
            commits = stats.commits,
            ops = stats.ops,
            "store writer finished"
        );
        Ok(stats)
    }

    fn event(&mut self, ev: Event) {
        let now = self.now();
        match ev {
            Event::Opened { conn, out, quic } => {
                self.conns.insert(conn, ConnHandle { out, quic });
                self.engine.handle(now, Input::Connected { conn });
            }
            Event::Message { conn, msg } => self.engine.handle(now, Input::Message { conn, msg }),
            Event::Closed { conn } => {
                self.conns.remove(&conn);
                self.engine.handle(now, Input::Disconnected { conn });
            }
        }
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        let mut batch = Vec::new();
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Send { conn, msg } => {
                    let Some(c) = self.conns.get(&conn) else {
                        continue;
                    };
                    if c.out.try_send(msg).is_err() {
                        tracing::warn!(
                            conn = conn.0,
                            "closing connection: the candidate machine is not reading its messages"
                        );
                        c.quic.close(close_code::SLOW.into(), b"too slow");
                    }
                }
                Output::Close { conn, reason } => {
                    if let Some(c) = self.conns.get(&conn) {
                        tracing::info!(conn = conn.0, %reason, "closing connection");
                        c.quic.close(close_code::ENGINE.into(), reason.as_bytes());
                    }
                }
                Output::Persist(op) => batch.push(op),
            }
        }
        if !batch.is_empty() {
            self.writer
                .send(batch)
                .await
                .map_err(|_| anyhow::anyhow!("the store writer stopped"))?;
        }
        Ok(())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// One candidate machine's connection: a single bidirectional stream it opens.
async fn connection(incoming: quinn::Incoming, conn: ConnId, events: mpsc::Sender<Event>) {
    let quic = match incoming.await {
        Ok(q) => q,
        Err(e) => {
            tracing::debug!(conn = conn.0, error = %e, "handshake failed");
            return;
        }
    };
    let remote = quic.remote_address();
    let (send, recv) = match tokio::time::timeout(STREAM_OPEN_TIMEOUT, quic.accept_bi()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(conn = conn.0, %remote, error = %e, "connection ended before its stream opened");
            return;
        }
        Err(_) => {
            tracing::info!(conn = conn.0, %remote, "closing connection: no stream opened in time");
            quic.close(close_code::MALFORMED.into(), b"no stream");
            return;
        }
    };
    let (out_tx, mut out_rx) = mpsc::channel::<SiteMsg>(OUTBOUND_QUEUE_MAX);
    if events
        .send(Event::Opened {
            conn,
            out: out_tx,
            quic: quic.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let sender = tokio::spawn(async move {
        let mut framed = FramedSend::new(send, FRAME_BYTES_MAX);
        while let Some(msg) = out_rx.recv().await {
            if let Err(e) = framed.send(&msg).await {
                tracing::debug!(conn = conn.0, error = %e, "send failed");
                break;
            }
        }
    });
    let mut framed = FramedRecv::new(recv, CLIENT_FRAME_BYTES_MAX);
    loop {
        match framed.recv::<ClientMsg>().await {
            Ok(Some(msg)) => {
                if events.send(Event::Message { conn, msg }).await.is_err() {
                    break;
                }
            }
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
