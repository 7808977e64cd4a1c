//! The command line on bad data directories (a clear message, a failure exit, nothing changed),
//! data kept private, and the CA step.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_site-server");
const PASSPHRASE_ENV: &str = "EXAM_SITE_CA_PASSPHRASE";

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove(PASSPHRASE_ENV)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_corrupt_database_stops_the_server_and_is_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("site.db"), &junk).expect("write");
    let d = dir.path().to_str().expect("utf-8");
    for args in [
        vec!["run", "--data", d, "--listen", "127.0.0.1:0"],
        vec!["demo", "--data", d, "--listen", "127.0.0.1:0"],
    ] {
        let (ok, _, err) = run(&args);
        assert!(!ok);
        assert!(
            err.contains("is not a site database") && err.contains("left untouched"),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read(dir.path().join("site.db")).expect("read"),
        junk,
        "never reset"
    );
}

#[test]
fn a_foreign_directory_or_database_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "mine").expect("write");
    let (ok, _, err) = run(&[
        "demo",
        "--data",
        dir.path().to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok);
    assert!(err.contains("not a site data directory"), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        1,
        "nothing was created"
    );

    // An SQLite database of another program.
    let other = tempfile::tempdir().expect("tempdir");
    let c = rusqlite::Connection::open(other.path().join("site.db")).expect("open");
    c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .expect("sql");
    drop(c);
    let (ok, _, err) = run(&[
        "run",
        "--data",
        other.path().to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok);
    assert!(err.contains("belongs to another program"), "{err}");
}

#[test]
fn fingerprint_prints_one_line_and_a_missing_site_is_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().join("site");
    let d = d.to_str().expect("utf-8");
    let (ok, _, err) = run(&["fingerprint", "--data", d]);
    assert!(!ok);
    assert!(err.contains("site-server demo --data"), "{err}");
    // Make a site without serving it for long: demo exits when its port is taken.
    let blocker = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let taken = blocker.local_addr().expect("addr").to_string();
    let (ok, _, err) = run(&["demo", "--data", d, "--listen", &taken, "--candidates", "3"]);
    assert!(!ok, "the port is taken");
    assert!(err.contains("could not open the LAN port"), "{err}");
    let (ok, out, _) = run(&["fingerprint", "--data", d]);
    assert!(ok);
    let line = out.strip_suffix('\n').expect("one line");
    assert!(!line.contains('\n'));
    assert_eq!(line.len(), 64);
    assert!(line.chars().all(|c| c.is_ascii_hexdigit()));
}

/// A UDP port that stays taken while the returned socket lives: `demo` and `run` then stop right
/// after preparing the data directory, at "could not open the LAN port".
fn taken_port() -> (std::net::UdpSocket, String) {
    let blocker = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = blocker.local_addr().expect("addr").to_string();
    (blocker, addr)
}

/// Makes a 3-candidate demo site in `d` without serving it.
fn make_demo(d: &str) {
    let (_blocker, taken) = taken_port();
    let (ok, _, err) = run(&["demo", "--data", d, "--listen", &taken, "--candidates", "3"]);
    assert!(!ok && err.contains("could not open the LAN port"), "{err}");
}

fn fingerprint(d: &str) -> String {
    let (ok, out, err) = run(&["fingerprint", "--data", d]);
    assert!(ok, "{err}");
    out.trim().to_owned()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Starts `site-server ARGS` under umask 000, so anything it created with a default mode would
/// be world-readable.
#[cfg(unix)]
fn spawn_with_open_umask(args: &[&str]) -> std::process::Child {
    Command::new("sh")
        .args(["-c", r#"umask 000 && exec "$0" "$@""#, BIN])
        .args(args)
        .env_remove(PASSPHRASE_ENV)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[cfg(unix)]
#[test]
fn data_dir_database_wal_shm_and_keys_are_private_from_creation() {
    use std::io::BufRead;
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("site");
    let d = data.to_str().expect("utf-8");
    let (_blocker, taken) = taken_port();
    let out =
        spawn_with_open_umask(&["demo", "--data", d, "--listen", &taken, "--candidates", "3"])
            .wait_with_output()
            .expect("demo");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not open the LAN port"), "{err}");

    // Serve it, so SQLite has its -wal and -shm files open.
    let mut server = spawn_with_open_umask(&["run", "--data", d, "--listen", "127.0.0.1:0"]);
    let stdout = server.stdout.take().expect("stdout");
    let mut ready = false;
    for line in std::io::BufReader::new(stdout).lines() {
        if line.expect("line").contains("press Ctrl-C") {
            ready = true;
            break;
        }
    }
    let checks: Vec<(std::path::PathBuf, u32)> = vec![
        (data.clone(), 0o700),
        (data.join("ca"), 0o700),
        (data.join("site.db"), 0o600),
        (data.join("site.db-wal"), 0o600),
        (data.join("site.db-shm"), 0o600),
        (data.join("site-ca.crt.pem"), 0o600),
        (data.join("server.pem"), 0o600),
        (data.join("ca/site-ca.key.enc"), 0o600),
        (data.join("ca/DEMO-ONLY-passphrase"), 0o600),
    ];
    let modes: Vec<_> = checks
        .iter()
        .map(|(p, _)| p.exists().then(|| mode(p)))
        .collect();
    server.kill().expect("kill the server this test started");
    let _ = server.wait();
    assert!(ready, "the server started");
    for ((path, want), got) in checks.iter().zip(modes) {
        assert_eq!(got, Some(*want), "{}", path.display());
    }
}

#[cfg(unix)]
#[test]
fn loose_permissions_are_tightened_with_a_warning_not_refused() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("site");
    let d = data.to_str().expect("utf-8");
    make_demo(d);
    for (p, m) in [(data.clone(), 0o755), (data.join("site.db"), 0o644)] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).expect("chmod");
    }
    let (_blocker, taken) = taken_port();
    let (ok, _, err) = run(&["run", "--data", d, "--listen", &taken]);
    assert!(
        !ok && err.contains("could not open the LAN port"),
        "started: {err}"
    );
    assert!(err.contains("now private"), "warned: {err}");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("site.db")), 0o600);
}

#[test]
fn renew_cert_needs_the_ca_directory_and_passphrase_and_keeps_the_fingerprint() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("site");
    let d = data.to_str().expect("utf-8");
    make_demo(d);
    let pin = fingerprint(d);
    let before = std::fs::read(data.join("server.pem")).expect("read");

    // The CA directory moved to a "USB stick", its demo passphrase copied apart.
    let stick = root.path().join("stick");
    std::fs::rename(data.join("ca"), &stick).expect("move");
    let pass_file = root.path().join("pass");
    std::fs::rename(stick.join("DEMO-ONLY-passphrase"), &pass_file).expect("move");
    let stick_s = stick.to_str().expect("utf-8");
    let pass_s = pass_file.to_str().expect("utf-8");

    let (ok, _, err) = run(&["renew-cert", "--data", d]);
    assert!(!ok);
    assert!(err.contains("--ca-dir"), "{err}");
    let (ok, _, err) = run(&["renew-cert", "--data", d, "--ca-dir", stick_s]);
    assert!(!ok);
    assert!(
        err.contains("no CA passphrase") && err.contains(PASSPHRASE_ENV),
        "{err}"
    );
    let wrong = root.path().join("wrong");
    std::fs::write(&wrong, "not the passphrase\n").expect("write");
    let (ok, _, err) = run(&[
        "renew-cert",
        "--data",
        d,
        "--ca-dir",
        stick_s,
        "--passphrase-file",
        wrong.to_str().expect("utf-8"),
    ]);
    assert!(!ok);
    assert!(err.contains("passphrase does not open"), "{err}");
    assert_eq!(
        std::fs::read(data.join("server.pem")).expect("read"),
        before
    );

    let (ok, out, err) = run(&[
        "renew-cert",
        "--data",
        d,
        "--ca-dir",
        stick_s,
        "--passphrase-file",
        pass_s,
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&pin) && out.contains("expires in 29 days"),
        "{out}"
    );
    assert_ne!(
        std::fs::read(data.join("server.pem")).expect("read"),
        before
    );
    assert_eq!(fingerprint(d), pin, "renewal keeps the CA clients pin");

    // From the environment variable too.
    let text = std::fs::read_to_string(&pass_file).expect("read");
    let out = Command::new(BIN)
        .args(["renew-cert", "--data", d, "--ca-dir", stick_s])
        .env(PASSPHRASE_ENV, text.trim_end())
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rewrites `dir`'s identity the way site-server wrote it before the CA key was sealed: four PEM
/// files, the CA key in plaintext beside the server key. Returns the CA fingerprint.
fn make_legacy_identity(dir: &Path) -> String {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    std::fs::remove_dir_all(dir.join("ca")).expect("rm ca");
    std::fs::remove_file(dir.join("server.pem")).expect("rm server.pem");
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.distinguished_name
        .push(DnType::CommonName, "演示考点 site CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let server_key = KeyPair::generate().expect("key");
    let server = CertificateParams::new(vec!["exam-site.lan".to_owned()])
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
    exam_crypto::Fingerprint::of(ca_cert.der()).to_string()
}

#[test]
fn an_old_plaintext_ca_key_stops_run_until_secure_ca_and_an_old_demo_is_sealed_by_itself() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("site");
    let d = data.to_str().expect("utf-8");
    make_demo(d);
    let pin = make_legacy_identity(&data);
    let demo_copy = root.path().join("demo");
    std::fs::create_dir(&demo_copy).expect("mkdir");
    for e in std::fs::read_dir(&data).expect("dir") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), demo_copy.join(e.file_name())).expect("copy");
    }

    // `run` refuses and says what to do; nothing changes.
    let (_blocker, taken) = taken_port();
    let (ok, _, err) = run(&["run", "--data", d, "--listen", &taken]);
    assert!(!ok);
    assert!(err.contains("site-server secure-ca --data"), "{err}");
    assert!(data.join("site-ca.key.pem").exists());
    assert_eq!(fingerprint(d), pin, "fingerprint still works");

    // `secure-ca` with a short passphrase is refused; with a good one it seals the key.
    let short = root.path().join("short");
    std::fs::write(&short, "short\n").expect("write");
    let (ok, _, err) = run(&[
        "secure-ca",
        "--data",
        d,
        "--passphrase-file",
        short.to_str().expect("utf-8"),
    ]);
    assert!(!ok);
    assert!(err.contains("at least 12"), "{err}");
    assert!(data.join("site-ca.key.pem").exists());
    let good = root.path().join("good");
    std::fs::write(&good, "correct horse battery staple\n").expect("write");
    let (ok, out, err) = run(&[
        "secure-ca",
        "--data",
        d,
        "--passphrase-file",
        good.to_str().expect("utf-8"),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains(&pin), "{out}");
    for gone in ["site-ca.key.pem", "server.crt.pem", "server.key.pem"] {
        assert!(!data.join(gone).exists(), "{gone}");
    }
    assert!(data.join("ca/site-ca.key.enc").exists());
    assert!(
        !data.join("ca/DEMO-ONLY-passphrase").exists(),
        "a real passphrase is never stored"
    );
    assert_eq!(fingerprint(d), pin);
    let (ok, _, err) = run(&["run", "--data", d, "--listen", &taken]);
    assert!(
        !ok && err.contains("could not open the LAN port"),
        "now it starts: {err}"
    );
    let (ok, _, err) = run(&[
        "secure-ca",
        "--data",
        d,
        "--passphrase-file",
        good.to_str().expect("utf-8"),
    ]);
    assert!(!ok && err.contains("nothing to secure"), "{err}");

    // `demo` seals an old demo's key under a demo passphrase by itself.
    let c = demo_copy.to_str().expect("utf-8");
    let (ok, _, err) = run(&["demo", "--data", c, "--listen", &taken]);
    assert!(!ok && err.contains("could not open the LAN port"), "{err}");
    assert!(!demo_copy.join("site-ca.key.pem").exists());
    assert!(demo_copy.join("ca/site-ca.key.enc").exists());
    assert!(demo_copy.join("ca/DEMO-ONLY-passphrase").exists());
    assert_eq!(fingerprint(c), pin);
}
