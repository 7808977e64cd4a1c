//! The command line on bad data directories: a clear message, a failure exit, nothing changed.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_site-server");

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().expect("runs");
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
