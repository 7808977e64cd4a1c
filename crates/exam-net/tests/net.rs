//! A real QUIC connection on loopback: pinning, framing and the identity files.

use std::net::SocketAddr;

use exam_crypto::Fingerprint;
use exam_net::{
    FramedRecv, FramedSend, NetError, SITE_SERVER_NAME, SiteIdentity, client_config,
    client_endpoint, server_endpoint,
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

#[test]
fn identity_is_created_once_and_damage_is_reported_not_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = SiteIdentity::load_or_create(dir.path(), "测试考点").expect("create");
    let again = SiteIdentity::load_or_create(dir.path(), "测试考点").expect("load");
    assert_eq!(
        first.fingerprint(),
        again.fingerprint(),
        "a second start keeps the identity"
    );
    assert_ne!(first.fingerprint(), Fingerprint::of(b""));

    std::fs::write(dir.path().join("server.crt.pem"), "not a certificate").expect("write");
    let err = SiteIdentity::load_or_create(dir.path(), "测试考点").expect_err("damaged");
    assert!(err.to_string().contains("server.crt.pem"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("server.crt.pem")).expect("read"),
        "not a certificate"
    );

    std::fs::remove_file(dir.path().join("server.crt.pem")).expect("rm");
    let err = SiteIdentity::load_or_create(dir.path(), "测试考点").expect_err("partial");
    assert!(err.to_string().contains("missing"), "{err}");
}
