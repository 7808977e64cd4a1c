//! The candidate backend, usable without a window: connects to the site with the CA pinned, logs
//! in, receives the paper, journals and sends answer changes, follows the clock, submits, and
//! reconnects by itself with backoff. It keeps an [`ExamState`] current for the UI and emits
//! [`ClientEvent`]s for headless users (the simulator, tests).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exam_crypto::Fingerprint;
use exam_domain::rng::SplitMix64;
use exam_domain::{ItemId, Response};
use exam_net::{FramedRecv, FramedSend, NetError, SITE_SERVER_NAME};
use exam_protocol::frame::{CLIENT_FRAME_BYTES_MAX, FRAME_BYTES_MAX};
use exam_protocol::{ALPN_CANDIDATE, ClientMsg, LoginRejection, SiteMsg, SubmitReason};
use tokio::sync::mpsc;

use crate::journal::{Change, Journal, JournalError};
use crate::model::{ClockView, Command, ExamBackend, ExamState, Link, Phase};

/// Commands queued from the UI, at most.
pub const COMMAND_QUEUE_MAX: usize = 4_096;
/// Messages queued from the site, at most.
pub const INBOUND_QUEUE_MAX: usize = 1_024;
/// Give up a connection attempt after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnect backoff bounds.
pub const BACKOFF_MIN: Duration = Duration::from_millis(200);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// After a reconnect, a login refused as "connected elsewhere" is most likely our own old
/// connection that the site has not yet noticed is dead: retry this often, this many times.
const STALE_RETRY: Duration = Duration::from_secs(2);
const STALE_RETRIES_MAX: u32 = 10;

/// What happened, for headless users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    LinkUp,
    LinkDown,
    LoginRefused {
        reason: LoginRejection,
        message: String,
        retry_after: Duration,
    },
    Waiting,
    PaperReady,
    /// A change is durable at the site; `latency` is from the click to the acknowledgement.
    Acked {
        seq: u64,
        item: ItemId,
        response: Response,
        latency: Duration,
    },
    SaveRejected {
        seq: u64,
        reason: String,
    },
    SubmitRefused {
        reason: String,
    },
    Submitted {
        reason: SubmitReason,
    },
    /// The journal could not be written: answers are not safe on this machine.
    JournalFailed {
        message: String,
    },
}

/// How to reach the site and where to keep the journal.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub server: SocketAddr,
    pub pin: Fingerprint,
    /// Shown to the proctor.
    pub machine: String,
    /// `None`: keep the journal in memory (simulated candidates).
    pub journal_dir: Option<PathBuf>,
}

/// A QUIC endpoint for talking to the site at `server`, trusting only the CA pinned by `pin`.
/// One endpoint serves any number of candidates (the simulator shares one).
pub fn endpoint(server: SocketAddr, pin: Fingerprint) -> Result<quinn::Endpoint, NetError> {
    exam_net::client_endpoint(server, exam_net::client_config(pin, ALPN_CANDIDATE)?)
}

/// The UI's handle on a running backend.
#[derive(Clone)]
pub struct RemoteBackend {
    state: Arc<Mutex<ExamState>>,
    commands: mpsc::Sender<Command>,
}

impl ExamBackend for RemoteBackend {
    fn state(&self) -> ExamState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn send(&self, command: Command) {
        if self.commands.try_send(command).is_err()
            && let Ok(mut s) = self.state.lock()
        {
            s.notice = Some("系统繁忙，请稍候再试 / the app is busy, try again in a moment".into());
        }
    }
}

/// Starts a backend on the current tokio runtime. `repaint` is called after every state change.
pub fn spawn(
    config: ClientConfig,
    endpoint: quinn::Endpoint,
    repaint: Arc<dyn Fn() + Send + Sync>,
    events: Option<mpsc::UnboundedSender<ClientEvent>>,
) -> RemoteBackend {
    let state = Arc::new(Mutex::new(ExamState::default()));
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE_MAX);
    let core = Core {
        config,
        endpoint,
        state: state.clone(),
        repaint,
        events,
        commands: rx,
        journal: None,
        credentials: None,
        clicked_at: Default::default(),
        auto_login: false,
        stale_retries: 0,
    };
    tokio::spawn(core.run());
    RemoteBackend {
        state,
        commands: tx,
    }
}

enum Ended {
    /// The UI went away: stop.
    Quit,
    /// The connection is gone (or the wait is over): go on.
    Continue,
}

struct Core {
    config: ClientConfig,
    endpoint: quinn::Endpoint,
    state: Arc<Mutex<ExamState>>,
    repaint: Arc<dyn Fn() + Send + Sync>,
    events: Option<mpsc::UnboundedSender<ClientEvent>>,
    commands: mpsc::Receiver<Command>,
    journal: Option<Journal>,
    credentials: Option<(String, String)>,
    /// When each pending change was made, to measure save latency.
    clicked_at: std::collections::BTreeMap<u64, Instant>,
    /// Log in again by ourselves after a reconnect.
    auto_login: bool,
    stale_retries: u32,
}

impl Core {
    fn update(&self, f: impl FnOnce(&mut ExamState)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
        (self.repaint)();
    }

    fn emit(&self, e: ClientEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(e);
        }
    }

    fn phase(&self) -> Phase {
        self.state
            .lock()
            .map(|s| s.phase.clone())
            .unwrap_or(Phase::LoggedOut {
                busy: false,
                error: None,
            })
    }

    async fn run(mut self) {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut rng = SplitMix64::new(seed ^ u64::from(self.config.server.port()));
        let mut tries: u32 = 0;
        let mut ever_connected = false;
        loop {
            match self.connect().await {
                Ok((conn, send, recv)) => {
                    tries = 0;
                    ever_connected = true;
                    self.update(|s| s.link = Link::Online);
                    self.emit(ClientEvent::LinkUp);
                    let ended = self.session(send, recv).await;
                    conn.close(0u32.into(), b"bye");
                    if let Ended::Quit = ended {
                        return;
                    }
                    self.emit(ClientEvent::LinkDown);
                }
                Err(e) => tracing::debug!(error = %e, "connect failed"),
            }
            tries = tries.saturating_add(1);
            self.update(|s| {
                s.link = if ever_connected {
                    Link::Reconnecting { tries }
                } else {
                    Link::Connecting
                }
            });
            let base = BACKOFF_MIN
                .saturating_mul(1 << tries.min(5))
                .min(BACKOFF_MAX);
            let jitter = Duration::from_millis(rng.below(base.as_millis() as u64 / 2 + 1));
            if let Ended::Quit = self.offline_for(base / 2 + jitter).await {
                return;
            }
        }
    }

    async fn connect(&self) -> Result<(quinn::Connection, FramedSend, FramedRecv), NetError> {
        let connecting = self
            .endpoint
            .connect(self.config.server, SITE_SERVER_NAME)?;
        let conn = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(c) => c?,
            Err(_) => {
                return Err(NetError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                )));
            }
        };
        let (send, recv) = conn.open_bi().await?;
        Ok((
            conn,
            FramedSend::new(send, CLIENT_FRAME_BYTES_MAX),
            FramedRecv::new(recv, FRAME_BYTES_MAX),
        ))
    }

    /// Handles commands while offline for `wait`.
    async fn offline_for(&mut self, wait: Duration) -> Ended {
        let until = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return Ended::Continue,
                cmd = self.commands.recv() => {
                    let Some(cmd) = cmd else { return Ended::Quit };
                    let _ = self.command(cmd, None).await;
                }
            }
        }
    }

    /// One connection's life.
    async fn session(&mut self, mut send: FramedSend, recv: FramedRecv) -> Ended {
        // Reading is not cancel-safe, so it runs in a task of its own and hands over whole messages.
        let (in_tx, mut inbound) = mpsc::channel::<SiteMsg>(INBOUND_QUEUE_MAX);
        let reader = tokio::spawn(async move {
            let mut recv = recv;
            loop {
                match recv.recv::<SiteMsg>().await {
                    Ok(Some(msg)) => {
                        if in_tx.send(msg).await.is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "connection lost");
                        break;
                    }
                }
            }
        });
        let ended = self.session_loop(&mut send, &mut inbound).await;
        reader.abort();
        ended
    }

    async fn session_loop(
        &mut self,
        send: &mut FramedSend,
        inbound: &mut mpsc::Receiver<SiteMsg>,
    ) -> Ended {
        if send
            .send(&ClientMsg::Hello {
                machine: self.config.machine.clone(),
            })
            .await
            .is_err()
        {
            return Ended::Continue;
        }
        if self.auto_login
            && let Some((a, i)) = self.credentials.clone()
            && send
                .send(&ClientMsg::Login {
                    admission_no: a,
                    id_number: i,
                })
                .await
                .is_err()
        {
            return Ended::Continue;
        }
        let mut retry_login: Option<tokio::time::Instant> = None;
        loop {
            let retry = async {
                match retry_login {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let ok = tokio::select! {
                msg = inbound.recv() => {
                    let Some(msg) = msg else { return Ended::Continue };
                    self.site_msg(msg, send, &mut retry_login).await
                }
                cmd = self.commands.recv() => {
                    let Some(cmd) = cmd else { return Ended::Quit };
                    self.command(cmd, Some(send)).await
                }
                _ = retry => {
                    retry_login = None;
                    match self.credentials.clone() {
                        Some((a, i)) => send.send(&ClientMsg::Login { admission_no: a, id_number: i }).await.is_ok(),
                        None => true,
                    }
                }
            };
            if !ok {
                return Ended::Continue;
            }
        }
    }

    /// Carries out a UI command. `send` is `None` while offline. Returns false if the connection failed.
    async fn command(&mut self, cmd: Command, send: Option<&mut FramedSend>) -> bool {
        match cmd {
            Command::Login {
                admission_no,
                id_number,
            } => {
                if !matches!(self.phase(), Phase::LoggedOut { .. }) {
                    return true;
                }
                let Some(send) = send else {
                    self.update(|s| {
                        s.phase = Phase::LoggedOut {
                            busy: false,
                            error: Some("暂时连不上考点服务器，请稍候再试或举手示意监考员 / cannot reach the site server yet; try again in a moment or raise your hand".into()),
                        }
                    });
                    return true;
                };
                self.credentials =
                    Some((admission_no.trim().to_owned(), id_number.trim().to_owned()));
                self.auto_login = false;
                self.update(|s| {
                    s.phase = Phase::LoggedOut {
                        busy: true,
                        error: None,
                    }
                });
                send.send(&ClientMsg::Login {
                    admission_no: admission_no.trim().to_owned(),
                    id_number: id_number.trim().to_owned(),
                })
                .await
                .is_ok()
            }
            Command::Save { item, response } => {
                if !matches!(self.phase(), Phase::Exam) {
                    return true;
                }
                let Some(journal) = self.journal.as_mut() else {
                    return true;
                };
                let change = match journal.record(item.clone(), response.clone()) {
                    Ok(c) => c,
                    Err(e) => {
                        self.journal_failed(e);
                        return true;
                    }
                };
                self.clicked_at.insert(change.seq, Instant::now());
                let unacked = journal.pending_count();
                self.update(|s| {
                    s.answers.insert(item, response);
                    s.unacked = unacked;
                });
                match send {
                    Some(send) => send_change(send, &change).await,
                    None => true,
                }
            }
            Command::Submit => {
                if !matches!(self.phase(), Phase::Exam) {
                    return true;
                }
                self.update(|s| {
                    s.submitting = true;
                    s.notice = None;
                });
                match send {
                    Some(send) => self.send_submit(send).await,
                    None => true,
                }
            }
        }
    }

    async fn send_submit(&self, send: &mut FramedSend) -> bool {
        let last_seq = self.journal.as_ref().map_or(0, Journal::last_seq);
        send.send(&ClientMsg::Submit { last_seq }).await.is_ok()
    }

    fn journal_failed(&self, e: JournalError) {
        let message = e.to_string();
        tracing::error!(%message, "journal write failed");
        self.update(|s| s.notice = Some(message.clone()));
        self.emit(ClientEvent::JournalFailed { message });
    }

    async fn site_msg(
        &mut self,
        msg: SiteMsg,
        send: &mut FramedSend,
        retry_login: &mut Option<tokio::time::Instant>,
    ) -> bool {
        match msg {
            SiteMsg::Welcome { .. } | SiteMsg::Pong { .. } => true,
            SiteMsg::LoginRejected {
                reason,
                retry_after_ms,
            } => {
                if self.auto_login
                    && reason == LoginRejection::ConnectedElsewhere
                    && self.stale_retries < STALE_RETRIES_MAX
                {
                    // Probably our own previous connection, not yet known dead at the site.
                    self.stale_retries += 1;
                    *retry_login = Some(tokio::time::Instant::now() + STALE_RETRY);
                    return true;
                }
                let retry_after = Duration::from_millis(retry_after_ms);
                let message = login_message(reason, retry_after);
                self.auto_login = false;
                self.credentials = None;
                self.update(|s| {
                    s.phase = Phase::LoggedOut {
                        busy: false,
                        error: Some(message.clone()),
                    }
                });
                self.emit(ClientEvent::LoginRefused {
                    reason,
                    message,
                    retry_after,
                });
                true
            }
            SiteMsg::LoggedIn {
                candidate,
                session_title,
            } => {
                self.auto_login = true;
                self.stale_retries = 0;
                if self.journal.is_none() {
                    let journal = match &self.config.journal_dir {
                        Some(dir) => Journal::open(dir, &candidate.admission_no),
                        None => Ok(Journal::in_memory()),
                    };
                    match journal {
                        Ok(j) => self.journal = Some(j),
                        Err(e) => {
                            self.journal_failed(e);
                            self.journal = Some(Journal::in_memory());
                        }
                    }
                }
                self.update(|s| {
                    s.candidate = Some(candidate);
                    s.session_title = session_title;
                    if matches!(s.phase, Phase::LoggedOut { .. }) {
                        s.phase = Phase::Waiting {
                            starts_in: None,
                            at: Instant::now(),
                        };
                    }
                });
                true
            }
            SiteMsg::Waiting { starts_in_ms } => {
                self.update(|s| {
                    s.phase = Phase::Waiting {
                        starts_in: starts_in_ms.map(Duration::from_millis),
                        at: Instant::now(),
                    }
                });
                self.emit(ClientEvent::Waiting);
                true
            }
            SiteMsg::Paper {
                paper,
                answers,
                committed_seq,
            } => {
                let Some(journal) = self.journal.as_mut() else {
                    return true;
                };
                for c in journal.sync_with_site(committed_seq) {
                    self.clicked_at.remove(&c.seq);
                }
                let pending: Vec<Change> = journal.pending().cloned().collect();
                let unacked = pending.len();
                let submitting = self.state.lock().map(|s| s.submitting).unwrap_or(false);
                self.update(|s| {
                    s.paper = Some(Arc::new(paper));
                    s.answers = answers.into_iter().map(|a| (a.item, a.response)).collect();
                    for c in &pending {
                        s.answers.insert(c.item.clone(), c.response.clone());
                    }
                    s.unacked = unacked;
                    if !matches!(s.phase, Phase::Done { .. }) {
                        s.phase = Phase::Exam;
                    }
                });
                self.emit(ClientEvent::PaperReady);
                for c in &pending {
                    if !send_change(send, c).await {
                        return false;
                    }
                }
                if submitting {
                    return self.send_submit(send).await;
                }
                true
            }
            SiteMsg::Ack { seq } => {
                let Some(journal) = self.journal.as_mut() else {
                    return true;
                };
                let done = journal.ack(seq);
                let unacked = journal.pending_count();
                self.update(|s| s.unacked = unacked);
                for c in done {
                    let latency = self
                        .clicked_at
                        .remove(&c.seq)
                        .map(|t| t.elapsed())
                        .unwrap_or_default();
                    self.emit(ClientEvent::Acked {
                        seq: c.seq,
                        item: c.item,
                        response: c.response,
                        latency,
                    });
                }
                true
            }
            SiteMsg::SaveRejected { seq, reason } => {
                if let Some(j) = self.journal.as_mut() {
                    j.reject(seq);
                    let unacked = j.pending_count();
                    self.clicked_at.remove(&seq);
                    self.update(|s| {
                        s.unacked = unacked;
                        s.notice = Some(reason.clone());
                    });
                }
                self.emit(ClientEvent::SaveRejected { seq, reason });
                true
            }
            SiteMsg::Clock {
                remaining_ms,
                running,
                paused_reason,
            } => {
                self.update(|s| {
                    s.clock = Some(ClockView {
                        remaining: Duration::from_millis(remaining_ms),
                        running,
                        paused_reason,
                        at: Instant::now(),
                    })
                });
                true
            }
            SiteMsg::Submitted { reason } => {
                self.update(|s| {
                    s.phase = Phase::Done { reason };
                    s.submitting = false;
                    if let Some(c) = &mut s.clock {
                        c.running = false;
                    }
                });
                self.emit(ClientEvent::Submitted { reason });
                true
            }
            SiteMsg::SubmitRefused { reason } => {
                self.update(|s| {
                    s.submitting = false;
                    s.notice = Some(reason.clone());
                });
                self.emit(ClientEvent::SubmitRefused { reason });
                true
            }
            SiteMsg::Goodbye { reason } => {
                self.update(|s| s.notice = Some(reason));
                true
            }
        }
    }
}

async fn send_change(send: &mut FramedSend, c: &Change) -> bool {
    send.send(&ClientMsg::SaveAnswer {
        seq: c.seq,
        item: c.item.clone(),
        response: c.response.clone(),
    })
    .await
    .is_ok()
}

/// What the candidate reads when a login is refused.
pub fn login_message(reason: LoginRejection, retry_after: Duration) -> String {
    match reason {
        LoginRejection::WrongCredentials if retry_after.is_zero() => {
            "准考证号或身份证号不正确，请核对准考证后重新输入 / the admission number or ID number is wrong: check your admission ticket".into()
        }
        LoginRejection::WrongCredentials | LoginRejection::TooManyTries => format!(
            "输入错误次数过多，请 {} 秒后再试；如有疑问请举手示意监考员 / too many wrong tries: wait {} s, or raise your hand",
            retry_after.as_secs().max(1),
            retry_after.as_secs().max(1)
        ),
        LoginRejection::ConnectedElsewhere => {
            "该考生已在另一台机器上登录。如需换机，请举手请监考员处理 / this candidate is logged in on another machine: ask the proctor to move you".into()
        }
        LoginRejection::Malformed => "准考证号格式不正确，请核对后重新输入 / the admission number is not valid: check it and try again".into(),
    }
}
