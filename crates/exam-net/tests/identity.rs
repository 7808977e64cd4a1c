//! The identity files: what the serving path reads, the sealed CA key, renewal on disk, damage,
//! and the earlier layout with a plaintext CA key.

use std::path::Path;
use std::time::{Duration, SystemTime};

use exam_crypto::Fingerprint;
use exam_crypto::passphrase::Passphrase;
use exam_net::identity::{
    self, CA_CERT_FILE, CA_KEY_FILE, IdentityError, LEGACY_CA_KEY_FILE, SERVER_CERT_VALIDITY,
    SERVER_FILE,
};
use exam_net::{RenewalState, SiteCa, SiteIdentity, renewal_due};

fn pass(s: &str) -> Passphrase {
    Passphrase::new(s.to_owned()).expect("passphrase")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_serving_path_reads_no_ca_key_and_the_ca_key_is_sealed_and_private() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let ca_dir = identity::default_ca_dir(&data);
    let made = SiteIdentity::create(
        &data,
        &ca_dir,
        "测试考点",
        &pass("a long passphrase"),
        SystemTime::now(),
    )
    .expect("create");
    assert_eq!(files_in(&data), ["ca", SERVER_FILE, CA_CERT_FILE]);
    assert_eq!(files_in(&ca_dir), [CA_KEY_FILE]);
    let sealed = std::fs::read(ca_dir.join(CA_KEY_FILE)).expect("read");
    assert!(!sealed.windows(11).any(|w| w == b"PRIVATE KEY"));
    #[cfg(unix)]
    {
        for d in [&data, &ca_dir] {
            assert_eq!(exam_fs::mode_of(d), Some(0o700), "{}", d.display());
        }
        for f in [
            data.join(CA_CERT_FILE),
            data.join(SERVER_FILE),
            ca_dir.join(CA_KEY_FILE),
        ] {
            assert_eq!(exam_fs::mode_of(&f), Some(0o600), "{}", f.display());
        }
    }

    // The CA directory taken away (to a USB stick): the server still loads.
    let stick = root.path().join("stick");
    std::fs::rename(&ca_dir, &stick).expect("move");
    let loaded = SiteIdentity::load(&data).expect("load without the CA key");
    assert_eq!(loaded.fingerprint(), made.fingerprint());
    assert_eq!(
        identity::ca_fingerprint(&data).expect("fingerprint"),
        made.fingerprint()
    );
    assert!(matches!(
        renewal_due(&loaded, SystemTime::now()),
        RenewalState::Valid { .. }
    ));

    // The CA step needs the stick and the passphrase.
    assert!(matches!(
        SiteCa::unlock(&data, &ca_dir, &pass("a long passphrase")),
        Err(IdentityError::NoCaKey { .. })
    ));
    let err = SiteCa::unlock(&data, &stick, &pass("a long passphrasE")).expect_err("wrong");
    assert!(
        matches!(err, IdentityError::WrongPassphrase { .. }),
        "{err}"
    );
    let ca = SiteCa::unlock(&data, &stick, &pass("a long passphrase")).expect("unlock");
    assert_eq!(ca.fingerprint(), made.fingerprint());
    assert!(!format!("{ca:?}").contains("PRIVATE"));
}

#[test]
fn renewal_on_disk_keeps_the_ca_and_a_running_server_can_reload_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let ca_dir = identity::default_ca_dir(&data);
    let now = SystemTime::now();
    let first = SiteIdentity::create(&data, &ca_dir, "测试考点", &pass("p4ssphrase!!"), now)
        .expect("create");
    let ca = SiteCa::unlock(&data, &ca_dir, &pass("p4ssphrase!!")).expect("unlock");
    let later = now + SERVER_CERT_VALIDITY - Duration::from_secs(5 * 86_400);
    assert!(matches!(
        renewal_due(&first, later),
        RenewalState::Soon { .. }
    ));
    let renewed = ca.renew(&data, later).expect("renew");
    assert_eq!(renewed.fingerprint(), first.fingerprint());
    assert_ne!(renewed.server_cert, first.server_cert);
    assert!(matches!(
        renewal_due(&renewed, later),
        RenewalState::Valid { .. }
    ));
    let reloaded = first.reload(&data).expect("reload");
    assert_eq!(reloaded.server_cert, renewed.server_cert);
    assert_eq!(
        files_in(&data),
        ["ca", SERVER_FILE, CA_CERT_FILE],
        "no temp files left"
    );

    // Another site's CA key does not unlock this site's CA.
    let other = root.path().join("other");
    SiteIdentity::create(
        &other,
        &identity::default_ca_dir(&other),
        "别的考点",
        &pass("p4ssphrase!!"),
        now,
    )
    .expect("other");
    let err = SiteCa::unlock(
        &data,
        &identity::default_ca_dir(&other),
        &pass("p4ssphrase!!"),
    )
    .expect_err("another CA's key");
    assert!(matches!(err, IdentityError::CaKeyMismatch { .. }), "{err}");

    // Another site's identity put in place is refused on reload: clients pin the old CA.
    for f in [CA_CERT_FILE, SERVER_FILE] {
        std::fs::copy(other.join(f), data.join(f)).expect("copy");
    }
    assert!(matches!(
        first.reload(&data),
        Err(IdentityError::CaChanged { .. })
    ));
}

#[test]
fn identities_are_never_overwritten_and_damage_is_reported_not_repaired() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let ca_dir = identity::default_ca_dir(&data);
    let now = SystemTime::now();
    SiteIdentity::create(&data, &ca_dir, "测试考点", &pass("p4ssphrase!!"), now).expect("create");
    assert!(matches!(
        SiteIdentity::create(&data, &ca_dir, "测试考点", &pass("p4ssphrase!!"), now),
        Err(IdentityError::Exists { .. })
    ));

    let server = data.join(SERVER_FILE);
    let good = std::fs::read(&server).expect("read");
    std::fs::write(&server, "not a certificate").expect("write");
    let err = SiteIdentity::load(&data).expect_err("damaged");
    assert!(matches!(err, IdentityError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(SERVER_FILE), "{err}");
    assert_eq!(
        std::fs::read_to_string(&server).expect("read"),
        "not a certificate"
    );

    // A server certificate from another CA.
    let foreign = root.path().join("foreign");
    SiteIdentity::create(
        &foreign,
        &identity::default_ca_dir(&foreign),
        "别的考点",
        &pass("p4ssphrase!!"),
        now,
    )
    .expect("create");
    std::fs::copy(foreign.join(SERVER_FILE), &server).expect("copy");
    let err = SiteIdentity::load(&data).expect_err("foreign");
    assert!(
        err.to_string().contains("not issued by this site's CA"),
        "{err}"
    );

    std::fs::write(&server, &good).expect("restore");
    SiteIdentity::load(&data).expect("restored");
    std::fs::remove_file(&server).expect("rm");
    let err = SiteIdentity::load(&data).expect_err("partial");
    assert!(matches!(err, IdentityError::Partial { .. }), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");

    let empty = root.path().join("empty");
    assert!(matches!(
        SiteIdentity::load(&empty),
        Err(IdentityError::Missing { .. })
    ));
}

/// Writes a data directory the way site-server wrote it before the CA key was sealed: four PEM
/// files, the CA key in plaintext. Returns the CA fingerprint.
fn write_legacy_identity(dir: &Path) -> Fingerprint {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    std::fs::create_dir_all(dir).expect("mkdir");
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.distinguished_name
        .push(DnType::CommonName, "旧考点 site CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let server_key = KeyPair::generate().expect("key");
    let server = CertificateParams::new(vec![exam_net::SITE_SERVER_NAME.to_owned()])
        .expect("params")
        .signed_by(&server_key, &Issuer::new(ca, &ca_key))
        .expect("server");
    for (name, text) in [
        ("site-ca.crt.pem", ca_cert.pem()),
        ("site-ca.key.pem", ca_key.serialize_pem()),
        ("server.crt.pem", server.pem()),
        ("server.key.pem", server_key.serialize_pem()),
    ] {
        std::fs::write(dir.join(name), text).expect("write");
    }
    Fingerprint::of(ca_cert.der())
}

#[test]
fn a_plaintext_ca_key_is_refused_until_sealed_and_the_fingerprint_survives() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let pin = write_legacy_identity(&data);
    let err = SiteIdentity::load(&data).expect_err("refused");
    assert!(matches!(err, IdentityError::PlaintextCaKey { .. }), "{err}");
    assert!(err.to_string().contains("site-server secure-ca"), "{err}");

    let ca_dir = identity::default_ca_dir(&data);
    let now = SystemTime::now();
    let id =
        identity::secure_legacy_ca(&data, &ca_dir, &pass("p4ssphrase!!"), now).expect("secure");
    assert_eq!(id.fingerprint(), pin, "clients keep their pin");
    assert_eq!(files_in(&data), ["ca", SERVER_FILE, CA_CERT_FILE]);
    assert!(!data.join(LEGACY_CA_KEY_FILE).exists());
    assert!(
        id.server_not_after() <= now + SERVER_CERT_VALIDITY,
        "the year-4096 certificate was replaced by a short-lived one"
    );
    SiteIdentity::load(&data).expect("serves now");
    let ca = SiteCa::unlock(&data, &ca_dir, &pass("p4ssphrase!!")).expect("unlock");
    assert_eq!(ca.fingerprint(), pin);

    // A plaintext key that is not this CA's is refused and nothing is removed.
    let other = root.path().join("other");
    write_legacy_identity(&other);
    std::fs::copy(other.join("site-ca.key.pem"), data.join(LEGACY_CA_KEY_FILE)).expect("copy");
    let err = identity::secure_legacy_ca(&data, &ca_dir, &pass("p4ssphrase!!"), now)
        .expect_err("mismatch");
    assert!(matches!(err, IdentityError::CaKeyMismatch { .. }), "{err}");
    assert!(data.join(LEGACY_CA_KEY_FILE).exists());
}
