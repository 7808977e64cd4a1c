//! A real QUIC connection on loopback: pinning, framing and certificate renewal.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use exam_crypto::Fingerprint;
use exam_net::identity::{RENEW_BEFORE, SERVER_CERT_VALIDITY};
use exam_net::{
    FramedRecv, FramedSend, NetError, RenewalState, SITE_SERVER_NAME, SiteCa, SiteIdentity,
    client_config, client_endpoint, renewal_due, server_config, server_endpoint,
};
use exam_protocol::frame::{CLIENT_FRAME_BYTES_MAX, FRAME_BYTES_MAX};
use exam_protocol::{ALPN_CANDIDATE, ClientMsg, SiteMsg};

async fn echo_server(identity: &SiteIdentity) -> (quinn::Endpoint, SocketAddr) {
    let ep = server_endpoint(
        "127.0.0.1:0".parse().expect("addr"),
        identity,
        ALPN_CANDIDATE,
    )
    .expect("server");
    let addr = ep.local_addr().expect("addr");
    let server = ep.clone();
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                let Ok((send, recv)) = conn.accept_bi().await else {
                    return;
                };
                let mut send = FramedSend::new(send, FRAME_BYTES_MAX);
                let mut recv = FramedRecv::new(recv, CLIENT_FRAME_BYTES_MAX);
                loop {
                    match recv.recv::<ClientMsg>().await {
                        Ok(Some(ClientMsg::Ping { nonce })) => {
                            if send.send(&SiteMsg::Pong { nonce }).await.is_err() {
                                return;
                            }
                        }
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => {
                            conn.close(1u32.into(), b"bad frame");
                            return;
                        }
                    }
                }
            });
        }
    });
    (ep, addr)
}

#[tokio::test]
async fn pinned_client_talks_to_its_site_and_refuses_another() {
    let identity = SiteIdentity::generate("测试考点").expect("identity");
    let (_server, addr) = echo_server(&identity).await;

    let client = client_endpoint(
        addr,
        client_config(identity.fingerprint(), ALPN_CANDIDATE).expect("config"),
    )
    .expect("client");
    let conn = client
        .connect(addr, SITE_SERVER_NAME)
        .expect("connect")
        .await
        .expect("handshake");
    let (send, recv) = conn.open_bi().await.expect("stream");
    let mut send = FramedSend::new(send, CLIENT_FRAME_BYTES_MAX);
    let mut recv = FramedRecv::new(recv, FRAME_BYTES_MAX);
    send.send(&ClientMsg::Ping { nonce: 42 })
        .await
        .expect("send");
    assert_eq!(
        recv.recv::<SiteMsg>().await.expect("recv"),
        Some(SiteMsg::Pong { nonce: 42 })
    );

    // A client pinned to another CA refuses the handshake.
    let other = SiteIdentity::generate("别的考点")
        .expect("identity")
        .fingerprint();
    let client = client_endpoint(addr, client_config(other, ALPN_CANDIDATE).expect("config"))
        .expect("client");
    let refused = client
        .connect(addr, SITE_SERVER_NAME)
        .expect("connect")
        .await;
    assert!(refused.is_err(), "handshake with an unpinned CA must fail");
}

#[tokio::test]
async fn an_oversized_frame_is_refused_from_its_header() {
    let identity = SiteIdentity::generate("测试考点").expect("identity");
    let (_server, addr) = echo_server(&identity).await;
    let client = client_endpoint(
        addr,
        client_config(identity.fingerprint(), ALPN_CANDIDATE).expect("config"),
    )
    .expect("client");
    let conn = client
        .connect(addr, SITE_SERVER_NAME)
        .expect("connect")
        .await
        .expect("handshake");
    let (mut send, recv) = conn.open_bi().await.expect("stream");
    // A header announcing 1 GiB: the server must close without waiting for the body.
    let mut header = (1u32 << 30).to_be_bytes().to_vec();
    header.extend_from_slice(&exam_protocol::PROTOCOL_VERSION.to_be_bytes());
    send.write_all(&header).await.expect("write");
    let mut recv = FramedRecv::new(recv, FRAME_BYTES_MAX);
    let res = recv.recv::<SiteMsg>().await;
    assert!(
        matches!(
            res,
            Err(NetError::Read(_)) | Err(NetError::Connection(_)) | Ok(None)
        ),
        "{res:?}"
    );
    assert_eq!(
        conn.closed().await,
        quinn::ConnectionError::ApplicationClosed(quinn::ApplicationClose {
            error_code: 1u32.into(),
            reason: "bad frame".into()
        })
    );
}

/// Connects a client pinned to `pin` and returns the server certificate it was shown.
async fn handshake(
    addr: SocketAddr,
    pin: Fingerprint,
) -> Result<rustls::pki_types::CertificateDer<'static>, quinn::ConnectionError> {
    let client =
        client_endpoint(addr, client_config(pin, ALPN_CANDIDATE).expect("config")).expect("client");
    let conn = client
        .connect(addr, SITE_SERVER_NAME)
        .expect("connect")
        .await?;
    let certs = conn
        .peer_identity()
        .and_then(|id| {
            id.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .expect("certificates");
    Ok(certs.first().expect("server certificate").clone())
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart_and_keeps_the_pin() {
    let ca = SiteCa::generate("测试考点").expect("ca");
    let now = SystemTime::now();
    let first = ca.issue(now).expect("issue");
    let (server, addr) = echo_server(&first).await;
    let pin = ca.fingerprint();
    assert_eq!(
        handshake(addr, pin).await.expect("first"),
        first.server_cert
    );

    // Renewed from the same CA: a client pinning the old fingerprint accepts it.
    let renewed = ca.issue(now).expect("renew");
    assert_ne!(renewed.server_cert, first.server_cert);
    assert_eq!(renewed.fingerprint(), pin);
    server.set_server_config(Some(
        server_config(&renewed, ALPN_CANDIDATE).expect("config"),
    ));
    assert_eq!(
        handshake(addr, pin).await.expect("renewed"),
        renewed.server_cert
    );

    // An expired certificate is refused.
    let expired = ca
        .issue(now - SERVER_CERT_VALIDITY - Duration::from_secs(86_400))
        .expect("old");
    assert!(matches!(
        renewal_due(&expired, now),
        RenewalState::Expired { .. }
    ));
    server.set_server_config(Some(
        server_config(&expired, ALPN_CANDIDATE).expect("config"),
    ));
    let refused = handshake(addr, pin).await;
    assert!(refused.is_err(), "an expired certificate must be refused");
}

#[test]
fn server_certificates_are_short_lived_and_renewal_comes_due() {
    let ca = SiteCa::generate("测试考点").expect("ca");
    let now = SystemTime::now();
    let id = ca.issue(now).expect("issue");
    let left = id.server_not_after().duration_since(now).expect("future");
    assert!(
        left <= SERVER_CERT_VALIDITY && left + Duration::from_secs(2) >= SERVER_CERT_VALIDITY,
        "{left:?}"
    );
    assert!(matches!(renewal_due(&id, now), RenewalState::Valid { .. }));
    let later = now + SERVER_CERT_VALIDITY - RENEW_BEFORE + Duration::from_secs(60);
    assert!(matches!(renewal_due(&id, later), RenewalState::Soon { .. }));
    let after = now + SERVER_CERT_VALIDITY + Duration::from_secs(60);
    assert!(matches!(
        renewal_due(&id, after),
        RenewalState::Expired { .. }
    ));
}
