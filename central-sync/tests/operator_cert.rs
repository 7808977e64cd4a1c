//! Central can serve an operator's own certificate chain instead of its own; sites then pin the
//! operator's CA and dial the name the certificate carries. Client certificates stay central's.

use std::time::SystemTime;

use central_sync::keys::OperatorCert;
use exam_crypto::Fingerprint;

/// A CA and a server certificate for `localhost` under it, written as PEM files.
fn operator_chain(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Fingerprint) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "operator CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::from_ca_cert_der(ca_cert.der(), &ca_key).expect("issuer");
    let key = rcgen::KeyPair::generate().expect("key");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("leaf");
    let cert_path = dir.join("chain.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, format!("{}{}", leaf.pem(), ca_cert.pem())).expect("write");
    std::fs::write(&key_path, key.serialize_pem()).expect("write");
    (cert_path, key_path, Fingerprint::of(ca_cert.der()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_enrols_with_central_serving_the_operators_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central_dir = dir.path().join("central");
    let keys =
        central_sync::keys::CentralKeys::init(&central_dir, SystemTime::now()).expect("keys");
    let own = keys.fingerprint();
    drop(keys);
    let mut conn = central_sync::store::open(&central_dir).expect("store");
    let now = central_sync::store::unix_ms();
    central_sync::sites::add_at(&conn, "TY", "太原考点", None, now).expect("site");
    let token = central_sync::enroll::issue_token(&mut conn, "TY", 1, now).expect("token");
    drop(conn);
    let (cert, key, pin) = operator_chain(dir.path());
    assert_eq!(
        OperatorCert::chain_fingerprint(&cert).expect("chain"),
        pin,
        "the fingerprint printed for sites is the operator's CA"
    );
    let op = OperatorCert::load(&cert, &key).expect("operator cert");
    let central =
        central_sync::api::start_with(&central_dir, "127.0.0.1:0".parse().expect("addr"), Some(op))
            .await
            .expect("serves");
    assert_eq!(central.fingerprint, pin);
    let url = format!("https://localhost:{}", central.addr.port());

    // Pinning central's own CA fails against the operator's chain, and nothing is written.
    let wrong = dir.path().join("wrong");
    let err = site_server::central::enroll(&wrong, &url, own, "TY", &token)
        .await
        .expect_err("another CA");
    assert!(format!("{err:#}").contains("not the one pinned"), "{err:#}");
    assert!(!wrong.join(site_server::central::CENTRAL_FILE).exists());

    let site = dir.path().join("site");
    let e = site_server::central::enroll(&site, &url, pin, "TY", &token)
        .await
        .expect("enrols");
    // Mutual TLS with the client certificate central issued, through the operator's chain.
    let client = site_server::central::enrolled_client(&site, &e).expect("client");
    let resp = client
        .get(format!("{url}/api/v1/packages"))
        .send()
        .await
        .expect("reaches central");
    assert!(resp.status().is_success(), "{}", resp.status());
    central.stop().await;
}
