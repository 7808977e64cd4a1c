//! QUIC endpoints and transport settings for the LAN.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use exam_crypto::Fingerprint;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{
    ClientConfig, Endpoint, EndpointConfig, IdleTimeout, ServerConfig, TokioRuntime,
    TransportConfig, VarInt,
};
use rustls::crypto::CryptoProvider;

use crate::framed::NetError;
use crate::identity::SiteIdentity;
use crate::pin::PinnedCaVerifier;

/// A connection silent for this long is dead (a machine switched off, a cable pulled, a server
/// killed): short, so candidates find a restarted server quickly; keep-alives run on quinn's own
/// task, so a busy UI does not trip it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(6);
/// Clients send a keep-alive this often so an idle candidate is not taken for a dead one.
pub const KEEP_ALIVE: Duration = Duration::from_millis(1500);
/// Bidirectional streams a candidate machine may open: the one its messages travel on.
pub const STREAMS_PER_CONNECTION_MAX: u32 = 1;
/// Bytes the site lets a candidate machine have in flight on its stream and its connection:
/// a few client frames.
pub const SITE_RECEIVE_WINDOW_BYTES: u32 = 4 * exam_protocol::frame::CLIENT_FRAME_BYTES_MAX;
/// Bytes a candidate machine lets the site have in flight: a whole paper frame and more.
pub const CLIENT_RECEIVE_WINDOW_BYTES: u32 = 2 * exam_protocol::frame::FRAME_BYTES_MAX;
/// The site's UDP socket buffers: room for every machine of a large room to send its first
/// packet (1,200 bytes, padded) at the same moment. The kernel's default (about 208 KiB) drops
/// most of a 1,000-machine login burst, and each dropped handshake packet costs its machine a
/// retransmission timeout of a second or more. Linux grants at most `net.core.rmem_max`.
pub const SITE_SOCKET_BUFFER_BYTES: usize = 4 * 1024 * 1024;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Transport settings: short idle timeout, bounded windows, one stream, no datagrams.
fn transport(
    keep_alive: Option<Duration>,
    receive_window: u32,
    incoming_streams: u32,
) -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    t.max_idle_timeout(IdleTimeout::try_from(IDLE_TIMEOUT).ok());
    t.keep_alive_interval(keep_alive);
    t.max_concurrent_bidi_streams(VarInt::from_u32(incoming_streams));
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    t.stream_receive_window(VarInt::from_u32(receive_window));
    t.receive_window(VarInt::from_u32(receive_window));
    t.send_window(u64::from(CLIENT_RECEIVE_WINDOW_BYTES));
    t.datagram_receive_buffer_size(None);
    t.datagram_send_buffer_size(0);
    // Segmentation offload batches up to ten packets per send: a gain for bulk transfers, which
    // the LAN does not have (small messages, one paper per candidate), paid for with a transmit
    // buffer of ten packets kept per connection (about 13 KiB of the site's memory per machine).
    t.enable_segmentation_offload(false);
    Arc::new(t)
}

/// The site server's endpoint, serving `alpn` with the site identity.
pub fn server_endpoint(
    addr: SocketAddr,
    identity: &SiteIdentity,
    alpn: &[u8],
) -> Result<Endpoint, NetError> {
    let socket = udp_socket(addr, Some(SITE_SOCKET_BUFFER_BYTES))?;
    Ok(Endpoint::new(
        EndpointConfig::default(),
        Some(server_config(identity, alpn)?),
        socket,
        Arc::new(TokioRuntime),
    )?)
}

/// A UDP socket bound to `addr`, with receive and send buffers of `buffer_bytes` where the
/// system allows it (it warns once when it grants less), or the system's default.
fn udp_socket(
    addr: SocketAddr,
    buffer_bytes: Option<usize>,
) -> Result<std::net::UdpSocket, NetError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(buffer_bytes) = buffer_bytes {
        buffers(&socket, buffer_bytes);
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

fn buffers(socket: &socket2::Socket, buffer_bytes: usize) {
    // Best effort: a smaller buffer still works, it only drops more packets in a burst.
    let _ = socket.set_recv_buffer_size(buffer_bytes);
    let _ = socket.set_send_buffer_size(buffer_bytes);
    let reported = socket.recv_buffer_size().unwrap_or(0);
    // Linux reports twice what it grants (the doubling covers its bookkeeping).
    let granted = if cfg!(target_os = "linux") {
        reported / 2
    } else {
        reported
    };
    if granted < buffer_bytes {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!(
                wanted = buffer_bytes,
                granted,
                "the system grants a smaller UDP receive buffer than wanted; a burst of logins may \
                 lose packets and take longer. Raise it with: sysctl -w net.core.rmem_max={buffer_bytes}"
            );
        });
    }
}

/// Server settings serving `alpn` with `identity`. A running endpoint switches to a renewed
/// certificate with `endpoint.set_server_config(Some(server_config(&renewed, alpn)?))`: new
/// connections get the new certificate, open ones carry on.
pub fn server_config(identity: &SiteIdentity, alpn: &[u8]) -> Result<ServerConfig, NetError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(
            vec![identity.server_cert.clone(), identity.ca_cert.clone()],
            identity.server_key(),
        )?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| NetError::Config(e.to_string()))?;
    let mut config = ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport(
        None,
        SITE_RECEIVE_WINDOW_BYTES,
        STREAMS_PER_CONNECTION_MAX,
    ));
    Ok(config)
}

/// Client settings that trust only the site CA with fingerprint `pin`.
pub fn client_config(pin: Fingerprint, alpn: &[u8]) -> Result<ClientConfig, NetError> {
    let provider = provider();
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCaVerifier::new(pin, provider)))
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| NetError::Config(e.to_string()))?;
    let mut config = ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport(Some(KEEP_ALIVE), CLIENT_RECEIVE_WINDOW_BYTES, 0));
    Ok(config)
}

/// A client endpoint on an ephemeral port of the right address family for `server` (the
/// system's default socket buffers: one machine's traffic fits).
pub fn client_endpoint(server: SocketAddr, config: ClientConfig) -> Result<Endpoint, NetError> {
    client_endpoint_with(server, config, None)
}

/// A client endpoint whose socket buffers hold `buffer_bytes`: for one process that plays many
/// candidate machines (a simulation) over one socket.
pub fn shared_client_endpoint(
    server: SocketAddr,
    config: ClientConfig,
    buffer_bytes: usize,
) -> Result<Endpoint, NetError> {
    client_endpoint_with(server, config, Some(buffer_bytes))
}

fn client_endpoint_with(
    server: SocketAddr,
    config: ClientConfig,
    buffer_bytes: Option<usize>,
) -> Result<Endpoint, NetError> {
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = udp_socket(bind, buffer_bytes)?;
    let mut endpoint = Endpoint::new(
        EndpointConfig::default(),
        None,
        socket,
        Arc::new(TokioRuntime),
    )?;
    endpoint.set_default_client_config(config);
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_socket_gets_the_buffer_it_asks_for_as_far_as_the_system_allows() {
        let socket = udp_socket(
            (Ipv4Addr::LOCALHOST, 0).into(),
            Some(SITE_SOCKET_BUFFER_BYTES),
        )
        .expect("bind");
        let reported = socket2::SockRef::from(&socket)
            .recv_buffer_size()
            .expect("buffer size");
        // Linux grants at most net.core.rmem_max and reports twice what it grants.
        let allowed = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(0);
        assert!(
            reported / 2 >= SITE_SOCKET_BUFFER_BYTES.min(allowed),
            "asked for {SITE_SOCKET_BUFFER_BYTES} bytes, the system allows {allowed}, got {}",
            reported / 2
        );
    }
}
