//! End-to-end tests of the whole platform live in `tests/`: a real site server on loopback, many
//! headless candidates, faults injected. This library holds what they share: [`Relay`], a UDP
//! relay between candidate machines and the site that can go dark and add latency, so a test can
//! play a flaky LAN on loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;

/// Largest UDP datagram relayed.
const DATAGRAM_BYTES_MAX: usize = 65_535;

/// How the relay treats datagrams right now.
#[derive(Debug, Default)]
pub struct LinkState {
    /// Drop everything, both ways.
    dark: AtomicBool,
    /// Delay every datagram by this many milliseconds, each way.
    latency_ms: AtomicU64,
    /// Datagrams dropped while dark, for the test to see the fault happened.
    pub dropped: AtomicU64,
}

/// A UDP relay on 127.0.0.1: machines connect to [`Relay::addr`], the relay forwards to the site
/// through one upstream socket per machine and back.
pub struct Relay {
    pub addr: SocketAddr,
    pub state: Arc<LinkState>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(site: SocketAddr) -> std::io::Result<Self> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = front.local_addr()?;
        let state = Arc::new(LinkState::default());
        let task = tokio::spawn(relay(front, site, state.clone()));
        Ok(Self { addr, state, task })
    }

    pub fn set_dark(&self, dark: bool) {
        self.state.dark.store(dark, Ordering::SeqCst);
    }

    pub fn set_latency(&self, latency: Duration) {
        self.state
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(front: Arc<UdpSocket>, site: SocketAddr, state: Arc<LinkState>) {
    let mut upstreams: BTreeMap<SocketAddr, Arc<UdpSocket>> = BTreeMap::new();
    let mut buf = vec![0u8; DATAGRAM_BYTES_MAX];
    loop {
        let Ok((n, from)) = front.recv_from(&mut buf).await else {
            return;
        };
        let up = match upstreams.get(&from) {
            Some(u) => u.clone(),
            None => {
                let Ok(u) = UdpSocket::bind("127.0.0.1:0").await else {
                    continue;
                };
                let u = Arc::new(u);
                upstreams.insert(from, u.clone());
                // Site → machine for this machine.
                let (u2, front2, state2) = (u.clone(), front.clone(), state.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; DATAGRAM_BYTES_MAX];
                    loop {
                        let Ok((n, _)) = u2.recv_from(&mut buf).await else {
                            return;
                        };
                        forward(&front2, from, buf[..n].to_vec(), &state2);
                    }
                });
                u
            }
        };
        forward(&up, site, buf[..n].to_vec(), &state);
    }
}

/// Sends a datagram on, after the current latency, unless the link is dark.
fn forward(socket: &Arc<UdpSocket>, to: SocketAddr, bytes: Vec<u8>, state: &Arc<LinkState>) {
    if state.dark.load(Ordering::SeqCst) {
        state.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let latency = state.latency_ms.load(Ordering::SeqCst);
    if latency == 0 {
        let _ = socket.try_send_to(&bytes, to);
        return;
    }
    let socket = socket.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(latency)).await;
        let _ = socket.send_to(&bytes, to).await;
    });
}
