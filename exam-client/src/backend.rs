//! The candidate backend: a thin shell around `exam_candidate::Session`, usable without a window.
//!
//! Two parts, so that neither the disk nor the network ever blocks the other or the UI:
//! - the **driver**, a thread of its own, owns the session and its journal (every change is
//!   fsynced there, never on an async worker); it takes UI commands, site messages and link
//!   changes from one channel, waits until the session's next timeout, hands what the session
//!   wants to send to the current connection, and keeps the UI's [`ExamState`] current;
//! - the **link**, a tokio task, connects to the site with the CA pinned (with backoff and
//!   jitter), opens the one stream, forwards what arrives to the driver and writes what the
//!   driver sends.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exam_candidate::{MemStorage, Session, SessionConfig};
use exam_crypto::Fingerprint;
use exam_domain::rng::SplitMix64;
use exam_net::{FramedRecv, FramedSend, NetError, SITE_SERVER_NAME};
use exam_protocol::frame::{CLIENT_FRAME_BYTES_MAX, FRAME_BYTES_MAX};
use exam_protocol::{ALPN_CANDIDATE, ClientMsg, SiteMsg};
use tokio::sync::{mpsc, watch};

pub use exam_candidate::session::{ClientEvent, login_message};

use crate::journal::{ClientStorage, FileStorage};
use crate::model::{Command, ExamBackend, ExamState};

/// Inputs queued for the driver, at most (commands, site messages, link changes).
pub const DRIVER_QUEUE_MAX: usize = 4_096;
/// Messages queued for the site on one connection; a connection this far behind is dropped and
/// the session resynchronises on the next one.
pub const OUTBOUND_QUEUE_MAX: usize = 1_024;
/// Give up a connection attempt after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnect backoff bounds.
pub const BACKOFF_MIN: Duration = Duration::from_millis(200);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How to reach the site and where to keep the journal.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub server: SocketAddr,
    pub pin: Fingerprint,
    /// Shown to the proctor.
    pub machine: String,
    /// `None`: keep the journal in memory (simulated candidates that want no disk).
    pub journal_dir: Option<PathBuf>,
}

/// A QUIC endpoint for talking to the site at `server`, trusting only the CA pinned by `pin`.
/// One endpoint serves any number of candidates.
pub fn endpoint(server: SocketAddr, pin: Fingerprint) -> Result<quinn::Endpoint, NetError> {
    exam_net::client_endpoint(server, exam_net::client_config(pin, ALPN_CANDIDATE)?)
}

enum DriverInput {
    Command(Command),
    LinkUp {
        epoch: u64,
        out: mpsc::Sender<ClientMsg>,
    },
    Site {
        epoch: u64,
        msg: SiteMsg,
    },
    LinkDown {
        epoch: u64,
        tries: u32,
    },
    Retrying {
        tries: u32,
        ever_connected: bool,
    },
    Quit,
}

/// Stops the backend when the last handle on it goes.
struct QuitOnDrop(std_mpsc::SyncSender<DriverInput>);

impl Drop for QuitOnDrop {
    fn drop(&mut self) {
        let _ = self.0.try_send(DriverInput::Quit);
    }
}

/// The UI's handle on a running backend.
#[derive(Clone)]
pub struct RemoteBackend {
    state: Arc<Mutex<ExamState>>,
    inputs: std_mpsc::SyncSender<DriverInput>,
    _quit: Arc<QuitOnDrop>,
}

impl ExamBackend for RemoteBackend {
    fn state(&self) -> ExamState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn send(&self, command: Command) {
        if self.inputs.try_send(DriverInput::Command(command)).is_err()
            && let Ok(mut s) = self.state.lock()
        {
            s.notice = Some("系统繁忙，请稍候再试 / the app is busy, try again in a moment".into());
        }
    }
}

/// Starts a backend: the driver thread and, on the current tokio runtime, the link task.
/// `repaint` is called after every state change; `events` gets what happens, for headless users.
pub fn spawn(
    config: ClientConfig,
    endpoint: quinn::Endpoint,
    repaint: Arc<dyn Fn() + Send + Sync>,
    events: Option<mpsc::UnboundedSender<ClientEvent>>,
) -> RemoteBackend {
    let state = Arc::new(Mutex::new(ExamState::default()));
    let (tx, rx) = std_mpsc::sync_channel(DRIVER_QUEUE_MAX);
    let (stop_tx, stop_rx) = watch::channel(false);
    let storage = match &config.journal_dir {
        Some(dir) => ClientStorage::File(FileStorage::new(dir)),
        None => ClientStorage::Memory(MemStorage::new()),
    };
    let session = Session::new(
        SessionConfig {
            machine: config.machine.clone(),
            site: config.pin.to_string(),
        },
        storage,
    );
    let driver = Driver {
        session,
        state: state.clone(),
        repaint,
        events,
        out: None,
        epoch: 0,
        stop: stop_tx,
    };
    let spawned = std::thread::Builder::new()
        .name(format!("candidate-{}", config.machine))
        .spawn(move || driver.run(rx));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the candidate driver thread");
    }
    tokio::spawn(link(config, endpoint, tx.clone(), stop_rx));
    RemoteBackend {
        state,
        inputs: tx.clone(),
        _quit: Arc::new(QuitOnDrop(tx)),
    }
}

struct Driver {
    session: Session<ClientStorage>,
    state: Arc<Mutex<ExamState>>,
    repaint: Arc<dyn Fn() + Send + Sync>,
    events: Option<mpsc::UnboundedSender<ClientEvent>>,
    out: Option<mpsc::Sender<ClientMsg>>,
    epoch: u64,
    stop: watch::Sender<bool>,
}

impl Driver {
    fn run(mut self, inputs: std_mpsc::Receiver<DriverInput>) {
        loop {
            let input = match self.session.poll_timeout() {
                Some(t) => {
                    let wait = t.saturating_duration_since(Instant::now());
                    match inputs.recv_timeout(wait) {
                        Ok(i) => Some(i),
                        Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
                None => match inputs.recv() {
                    Ok(i) => Some(i),
                    Err(_) => break,
                },
            };
            let now = Instant::now();
            match input {
                None => self.session.handle_timeout(now),
                Some(DriverInput::Quit) => break,
                Some(DriverInput::Command(c)) => self.session.command(now, c),
                Some(DriverInput::LinkUp { epoch, out }) => {
                    self.epoch = epoch;
                    self.out = Some(out);
                    self.session.link_up(now);
                }
                Some(DriverInput::Site { epoch, msg }) => {
                    if epoch == self.epoch && self.out.is_some() {
                        self.session.handle(now, msg);
                    }
                }
                Some(DriverInput::LinkDown { epoch, tries }) => {
                    if epoch == self.epoch {
                        self.out = None;
                        self.session.link_down(now, tries);
                    }
                }
                Some(DriverInput::Retrying {
                    tries,
                    ever_connected,
                }) => self.session.link_retrying(tries, ever_connected),
            }
            // Everything queued meanwhile, before the (comparatively costly) state copy.
            while let Ok(more) = inputs.try_recv() {
                let now = Instant::now();
                match more {
                    DriverInput::Quit => {
                        let _ = self.stop.send(true);
                        return;
                    }
                    DriverInput::Command(c) => self.session.command(now, c),
                    DriverInput::Site { epoch, msg } => {
                        if epoch == self.epoch && self.out.is_some() {
                            self.session.handle(now, msg);
                        }
                    }
                    DriverInput::LinkUp { epoch, out } => {
                        self.epoch = epoch;
                        self.out = Some(out);
                        self.session.link_up(now);
                    }
                    DriverInput::LinkDown { epoch, tries } => {
                        if epoch == self.epoch {
                            self.out = None;
                            self.session.link_down(now, tries);
                        }
                    }
                    DriverInput::Retrying {
                        tries,
                        ever_connected,
                    } => self.session.link_retrying(tries, ever_connected),
                }
                self.transmit();
            }
            self.transmit();
            self.publish();
        }
        let _ = self.stop.send(true);
    }

    fn transmit(&mut self) {
        while let Some(msg) = self.session.poll_transmit() {
            let Some(out) = &self.out else { continue };
            if out.try_send(msg).is_err() {
                // The connection is stuck: drop it; the next one resynchronises.
                tracing::warn!("the connection to the site is not keeping up; reconnecting");
                self.out = None;
                self.session.link_down(Instant::now(), 0);
            }
        }
    }

    /// The state first, then the events: whoever reacts to an event sees the state after it.
    fn publish(&mut self) {
        if let Ok(mut s) = self.state.lock() {
            s.clone_from(self.session.state());
        }
        while let Some(e) = self.session.poll_event() {
            if let Some(tx) = &self.events {
                let _ = tx.send(e);
            }
        }
        (self.repaint)();
    }
}

/// Connects, keeps one connection at a time, and reports it to the driver.
async fn link(
    config: ClientConfig,
    endpoint: quinn::Endpoint,
    driver: std_mpsc::SyncSender<DriverInput>,
    mut stop: watch::Receiver<bool>,
) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut rng = SplitMix64::new(seed ^ u64::from(config.server.port()));
    let mut tries: u32 = 0;
    let mut ever_connected = false;
    let mut epoch = 0u64;
    loop {
        if *stop.borrow() {
            return;
        }
        match connect(&config, &endpoint).await {
            Ok((conn, send, recv)) => {
                tries = 0;
                ever_connected = true;
                epoch += 1;
                let (out_tx, out_rx) = mpsc::channel(OUTBOUND_QUEUE_MAX);
                if !to_driver(&driver, DriverInput::LinkUp { epoch, out: out_tx }).await {
                    return;
                }
                let stopped = tokio::select! {
                    _ = carry(epoch, send, recv, out_rx, &driver) => false,
                    _ = stop.changed() => true,
                };
                conn.close(0u32.into(), b"bye");
                if stopped || !to_driver(&driver, DriverInput::LinkDown { epoch, tries: 0 }).await {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "connect failed");
                tries = tries.saturating_add(1);
                let retrying = DriverInput::Retrying {
                    tries,
                    ever_connected,
                };
                if !to_driver(&driver, retrying).await {
                    return;
                }
            }
        }
        let base = BACKOFF_MIN
            .saturating_mul(1 << tries.min(5))
            .min(BACKOFF_MAX);
        let jitter = Duration::from_millis(rng.below(base.as_millis() as u64 / 2 + 1));
        tokio::select! {
            _ = tokio::time::sleep(base / 2 + jitter) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Hands an input to the driver without blocking the async worker; false once the driver is gone.
async fn to_driver(driver: &std_mpsc::SyncSender<DriverInput>, input: DriverInput) -> bool {
    let mut input = input;
    loop {
        match driver.try_send(input) {
            Ok(()) => return true,
            Err(std_mpsc::TrySendError::Disconnected(_)) => return false,
            Err(std_mpsc::TrySendError::Full(back)) => {
                input = back;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
}

async fn connect(
    config: &ClientConfig,
    endpoint: &quinn::Endpoint,
) -> Result<(quinn::Connection, FramedSend, FramedRecv), NetError> {
    let connecting = endpoint.connect(config.server, SITE_SERVER_NAME)?;
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

/// One connection's life: what the driver sends goes out, what arrives goes to the driver.
/// Returns when either direction fails or the driver drops the connection.
async fn carry(
    epoch: u64,
    mut send: FramedSend,
    mut recv: FramedRecv,
    mut out: mpsc::Receiver<ClientMsg>,
    driver: &std_mpsc::SyncSender<DriverInput>,
) {
    let writer = async {
        while let Some(msg) = out.recv().await {
            if let Err(e) = send.send(&msg).await {
                tracing::debug!(error = %e, "send failed");
                return;
            }
        }
    };
    // Reading is not cancel-safe, but it only ever stops for good here.
    let reader = async {
        loop {
            match recv.recv::<SiteMsg>().await {
                Ok(Some(msg)) => {
                    if !to_driver(driver, DriverInput::Site { epoch, msg }).await {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "connection lost");
                    return;
                }
            }
        }
    };
    tokio::select! {
        _ = writer => {}
        _ = reader => {}
    }
}
