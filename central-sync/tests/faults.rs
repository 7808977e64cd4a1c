//! Faults between the authority and a site, each refused where it must be: altered, forged,
//! misrouted, conflicting and replayed sealed results at central; altered, misaddressed, older
//! and expired exam packages at the site; wrong release codes; callers without the site's
//! certificate; and an uplink that goes away while results are sealed and comes back.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use central_sync::keys::CentralKeys;
use central_sync::results::{self, Rejection};
use common::{
    add_site, enrol, init_site, now_unix_ms, ok, passphrase_file, plan_a_session, plan_session,
    planned, run_site_until_serving, sit, wait_received,
};
use exam_crypto::seal::{RecipientPublic, Sealed};
use exam_crypto::sign::SigningKey;
use exam_protocol::central::{self, RESULT_HPKE_INFO, ReceiptOutcome, ResultBody, Signed};
use rusqlite::Connection;
use site_server::central::Enrollment;
use site_server::packages::{self as site_packages, Imported};

/// Bit flips tried on one sealed result.
const FLIPS_MIN: usize = 3_000;

// ---------------------------------------------------------------------------------------------
// Helpers

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect("count")
}

fn rejections(conn: &Connection) -> i64 {
    count(conn, "SELECT count(*) FROM result_rejections")
}

fn alarms(conn: &Connection) -> i64 {
    count(conn, "SELECT count(*) FROM alarms")
}

/// Central's stored results: `(bundle id, digest of the sealed bytes, body)`, by id.
fn stored_results(conn: &Connection) -> Vec<(String, String, String)> {
    let mut stmt = conn
        .prepare("SELECT bundle_id, sealed_sha256, body_json FROM results ORDER BY bundle_id")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// What central decrypts: the body of a sealed result (the test holds central's keys).
fn open_body(keys: &CentralKeys, bytes: &[u8]) -> ResultBody {
    let sealed = central::decode_result(bytes).expect("decodes");
    let plain = exam_crypto::seal::open(
        &keys.encryption,
        RESULT_HPKE_INFO,
        &central::result_aad(&sealed.bundle_id, &sealed.site_code, &sealed.session_id),
        &Sealed {
            enc: sealed.enc.as_slice().try_into().expect("32 bytes"),
            ciphertext: sealed.ciphertext.clone(),
        },
    )
    .expect("opens");
    let signed: Signed = central::decode_result_part(&plain).expect("envelope");
    central::decode_result_part(&signed.signed).expect("body")
}

/// Signs `body` with `signing` and seals it to `to`, as a site does.
fn seal(signing: &SigningKey, to: &RecipientPublic, body: &ResultBody) -> Vec<u8> {
    site_server::sealing::seal_result(signing, to, body).expect("seals")
}

/// Where `needle` sits in `hay`, searching from `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The files under `dir` holding any of `needles`.
fn files_holding(dir: &Path, needles: &[Vec<u8>]) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            let bytes = std::fs::read(p).expect("read");
            needles.iter().any(|n| find(&bytes, n, 0).is_some())
        })
        .collect()
}

/// The site's held packages: `(session, version)`.
fn site_packages_held(conn: &Connection) -> Vec<(String, i64, Vec<u8>)> {
    let mut stmt = conn
        .prepare("SELECT session_id, version, bytes FROM packages ORDER BY session_id")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// `central-sync package export SESSION` into `out`; returns the bytes.
fn export_package(central: &Path, session: &str, out: &Path) -> Vec<u8> {
    ok(
        central,
        &[
            "package",
            "export",
            session,
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    std::fs::read(out).expect("package file")
}

async fn start_central(dir: &Path) -> central_sync::api::RunningCentral {
    central_sync::api::start(dir, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("central serves")
}

// ---------------------------------------------------------------------------------------------
// 1. Sealed results are verified at central.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_results_are_verified_at_central() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central_dir = dir.path().join("central");
    let site_dir = dir.path().join("site");
    let (token, credentials) = plan_a_session(&central_dir);
    let central = start_central(&central_dir).await;
    let pass = passphrase_file(dir.path());
    enrol(&site_dir, &central, "TY", &token, &pass)
        .await
        .expect("enrols");
    let site = run_site_until_serving(&site_dir, &pass, Duration::from_secs(1)).await;
    let n = 3;
    sit(&site_dir, site.addr, &credentials, n).await;
    wait_received(&central_dir, n as usize, Duration::from_secs(60)).await;
    site.stop().await;
    central.stop().await;

    let usb = dir.path().join("usb");
    let (s, u) = (site_dir.clone(), usb.clone());
    tokio::task::spawn_blocking(move || site_server::enrolled::export_results(&s, &u))
        .await
        .expect("task")
        .expect("export");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&usb)
        .expect("usb")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let bundles: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    assert_eq!(bundles.len(), n as usize);

    tokio::task::spawn_blocking(move || check_sealed_results(&central_dir, &site_dir, &bundles))
        .await
        .expect("checks");
}

fn check_sealed_results(central_dir: &Path, site_dir: &Path, bundles: &[Vec<u8>]) {
    let keys = CentralKeys::load(central_dir, SystemTime::now()).expect("keys");
    let mut conn = central_sync::store::open(central_dir).expect("store");
    let now = now_unix_ms();
    // Back to "nothing received yet": the uplink delivered them all; the checks below take them
    // again by hand, fault by fault.
    conn.execute("DELETE FROM results", []).expect("delete");
    let (a, b) = (&bundles[0], &bundles[1]);
    let id_a = central::decode_result(a).expect("decodes").bundle_id;
    let id_b = central::decode_result(b).expect("decodes").bundle_id;

    // (a) Single-bit flips over every region of one bundle: header, routing fields, enc and
    // ciphertext (its tag included). Half are tried before the bundle is accepted (none may be
    // accepted), half after (none may pass as a duplicate, or verify and raise an alarm).
    let sealed = central::decode_result(a).expect("decodes");
    let routing_at = find(a, sealed.bundle_id.as_bytes(), 8).expect("bundle id in the file");
    let enc_at = find(a, &sealed.enc, routing_at).expect("enc in the file");
    let ct_at = find(a, &sealed.ciphertext, enc_at + sealed.enc.len()).expect("ciphertext");
    let ct_end = ct_at + sealed.ciphertext.len();
    assert_eq!(ct_end, a.len(), "the ciphertext ends the file");
    let tag_at = ct_end - 16;
    // Every bit outside the ciphertext (magic, format, lengths, bundle id, site, session, enc)
    // and of the tag; the rest spread evenly over the ciphertext.
    let mut flips: Vec<usize> = (0..ct_at * 8).chain(tag_at * 8..ct_end * 8).collect();
    let body_bits = (tag_at - ct_at) * 8;
    let wanted = FLIPS_MIN.saturating_sub(flips.len()).max(1_000);
    let stride = (body_bits / wanted).max(1);
    flips.extend((ct_at * 8..tag_at * 8).step_by(stride).take(wanted));
    flips.sort_unstable();
    flips.dedup();
    assert!(flips.len() >= FLIPS_MIN, "{} flips", flips.len());
    let regions = [
        ("header", 0, routing_at),
        ("routing fields", routing_at, enc_at),
        ("enc", enc_at, enc_at + 32),
        ("ciphertext", ct_at, tag_at),
        ("tag", tag_at, ct_end),
    ];
    for (name, from, to) in regions {
        let n = flips
            .iter()
            .filter(|&&bit| (from * 8..to * 8).contains(&bit))
            .count();
        assert!(n >= 8, "only {n} flips in the {name}");
    }

    let try_flips = |conn: &mut Connection, odd: bool| {
        let before = (stored_results(conn), rejections(conn), alarms(conn));
        let mut tried = 0i64;
        for &bit in flips.iter().skip(usize::from(odd)).step_by(2) {
            let mut bytes = a.clone();
            bytes[bit / 8] ^= 1 << (bit % 8);
            match results::ingest(conn, &keys, &bytes, Some("TY"), "test", now) {
                Ok(r) => panic!("a bundle with bit {bit} flipped was taken: {r:?}"),
                Err(Rejection::Conflict(id)) => {
                    panic!("a bundle with bit {bit} flipped verified (conflict under {id})")
                }
                Err(Rejection::Internal(e)) => panic!("bit {bit}: internal error {e}"),
                Err(_) => {}
            }
            tried += 1;
        }
        assert_eq!(stored_results(conn), before.0, "stored results unchanged");
        assert_eq!(rejections(conn), before.1 + tried, "every refusal logged");
        assert_eq!(alarms(conn), before.2, "no alarm");
    };
    try_flips(&mut conn, false);
    assert!(stored_results(&conn).is_empty());

    // (b) Sent by another site: refused before anything else.
    let r0 = rejections(&conn);
    let err = results::ingest(&mut conn, &keys, a, Some("TZ"), "test", now).expect_err("refused");
    assert!(
        matches!(&err, Rejection::WrongSender { named, sender } if named == "TY" && sender == "TZ"),
        "{err:?}"
    );
    assert_eq!(rejections(&conn), r0 + 1);

    // (c) The same body sealed with another signing key: a forgery.
    let body_a = open_body(&keys, a);
    let forger = SigningKey::generate().expect("key");
    let forged = seal(&forger, &keys.encryption.public(), &body_a);
    let err =
        results::ingest(&mut conn, &keys, &forged, Some("TY"), "test", now).expect_err("refused");
    assert!(matches!(err, Rejection::BadSignature), "{err:?}");
    assert_eq!(rejections(&conn), r0 + 2);
    assert!(stored_results(&conn).is_empty());

    // (e) A change log altered and signed again with the site's real key: the chain head no
    // longer matches.
    let site_key = site_server::central::signing_key(site_dir).expect("site key");
    let mut body_b = open_body(&keys, b);
    assert!(!body_b.changes.is_empty(), "the candidate changed answers");
    let last = body_b.changes.len() - 1;
    body_b.changes[last].saved_at_unix_ms += 1;
    let altered = seal(&site_key, &keys.encryption.public(), &body_b);
    let err =
        results::ingest(&mut conn, &keys, &altered, Some("TY"), "test", now).expect_err("refused");
    assert!(matches!(err, Rejection::ChainBroken), "{err:?}");
    assert_eq!(rejections(&conn), r0 + 3);
    assert!(stored_results(&conn).is_empty());

    // The real bundles are taken; the same bytes again are a duplicate, stored once.
    for (bytes, id) in [(a, &id_a), (b, &id_b)] {
        let r = results::ingest(&mut conn, &keys, bytes, Some("TY"), "test", now).expect("taken");
        assert_eq!((&r.bundle_id, r.outcome), (id, ReceiptOutcome::Accepted));
    }
    let taken = stored_results(&conn);
    assert_eq!(taken.len(), 2);
    // (f) Duplicates.
    for _ in 0..2 {
        let r = results::ingest(&mut conn, &keys, a, Some("TY"), "test", now).expect("taken");
        assert_eq!(r.outcome, ReceiptOutcome::Duplicate);
    }
    let r = results::ingest(&mut conn, &keys, a, None, "usb", now).expect("taken");
    assert_eq!(r.outcome, ReceiptOutcome::Duplicate);
    assert_eq!(stored_results(&conn), taken, "nothing stored twice");
    assert_eq!(rejections(&conn), r0 + 3, "a duplicate is no refusal");

    // (a) again, now that the bundle is accepted.
    try_flips(&mut conn, true);

    // (d) A different, validly signed result under an accepted id: refused, and an alarm.
    let alarms0 = alarms(&conn);
    let mut other = body_a.clone();
    other.submitted_at_unix_ms += 1;
    other.remaining_ms = other.remaining_ms.saturating_sub(1_000);
    let second = seal(&site_key, &keys.encryption.public(), &other);
    let rej = rejections(&conn);
    let err =
        results::ingest(&mut conn, &keys, &second, Some("TY"), "uplink", now).expect_err("refused");
    assert!(
        matches!(&err, Rejection::Conflict(id) if *id == id_a),
        "{err:?}"
    );
    assert_eq!(alarms(&conn), alarms0 + 1, "an alarm is raised");
    let detail: String = conn
        .query_row(
            "SELECT kind || ' ' || detail FROM alarms ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("alarm");
    assert!(
        detail.starts_with("result_conflict") && detail.contains(&id_a),
        "{detail}"
    );
    assert_eq!(rejections(&conn), rej + 1);
    assert_eq!(stored_results(&conn), taken, "the first result is kept");

    // Every refusal named its bundle.
    let unnamed = count(
        &conn,
        "SELECT count(*) FROM result_rejections WHERE reason = ''",
    );
    assert_eq!(unnamed, 0);
}

// ---------------------------------------------------------------------------------------------
// 2. Packages are verified at the site.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_are_verified_at_the_site() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central_dir = dir.path().join("central");
    let site_dir = dir.path().join("site");
    let other_dir = dir.path().join("site-tz");
    let (token, credentials) = plan_a_session(&central_dir);
    let tz_token = add_site(&central_dir, "TZ", "大同考点");
    let tomorrow = exam_domain::cst::format_cst(now_unix_ms() + 86_400_000);
    plan_session(&central_dir, "P2", "S2", "TZ", &tomorrow);
    let central = start_central(&central_dir).await;
    let pass = passphrase_file(dir.path());
    enrol(&site_dir, &central, "TY", &token, &pass)
        .await
        .expect("TY enrols");
    enrol(&other_dir, &central, "TZ", &tz_token, &pass)
        .await
        .expect("TZ enrols");
    central.stop().await;

    let v1_file = dir.path().join("S1-v1.expkg");
    let v1 = export_package(&central_dir, "S1", &v1_file);
    let tz_file = dir.path().join("S2.expkg");
    let tz = export_package(&central_dir, "S2", &tz_file);

    let e = Enrollment::load(&site_dir).expect("enrolled");
    let mut conn = site_packages::open(&site_dir).expect("uplink.db");
    let now = now_unix_ms();

    // A bit flipped anywhere in the signed bytes or the signature: refused, nothing stored.
    let signed = central::decode_package(&v1).expect("decodes");
    let signed_at = find(&v1, &signed.signed, 8).expect("signed bytes in the file");
    let sig_at = find(&v1, &signed.signature, signed_at + signed.signed.len()).expect("signature");
    let signed_bits = signed.signed.len() * 8;
    let mut flips: Vec<usize> = (0..400)
        .map(|i| signed_at * 8 + i * signed_bits / 400)
        .collect();
    flips.extend((sig_at * 8..(sig_at + signed.signature.len()) * 8).step_by(7));
    for bit in flips {
        let mut bytes = v1.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        let err = site_packages::import(&mut conn, &e, &bytes, "file", now);
        assert!(err.is_err(), "bit {bit} flipped was taken: {err:?}");
    }
    assert!(site_packages_held(&conn).is_empty(), "nothing stored");

    // Another site's package.
    let err = site_packages::import(&mut conn, &e, &tz, "file", now).expect_err("refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("for site TZ") && msg.contains("this is site TY"),
        "{msg}"
    );
    assert!(site_packages_held(&conn).is_empty(), "nothing stored");
    // …which its own site takes.
    let tz_e = Enrollment::load(&other_dir).expect("enrolled");
    site_packages::verify(&tz, &tz_e, now).expect("TZ takes its own");

    // Expired: refused from its expiry on.
    let body = site_packages::verify(&v1, &e, now).expect("valid now");
    assert_eq!(body.version, 1);
    site_packages::verify(&v1, &e, body.expires_unix_ms - 1).expect("valid until its expiry");
    let err = site_packages::verify(&v1, &e, body.expires_unix_ms).expect_err("expired");
    assert!(format!("{err:#}").contains("expired"), "{err:#}");
    let err = site_packages::import(&mut conn, &e, &v1, "file", body.expires_unix_ms + 1)
        .expect_err("expired");
    assert!(format!("{err:#}").contains("expired"), "{err:#}");
    assert!(site_packages_held(&conn).is_empty(), "nothing stored");

    // `site-server import-package` takes version 1.
    let (s, f) = (site_dir.clone(), v1_file.clone());
    tokio::task::spawn_blocking(move || site_server::enrolled::import_package(&s, &f))
        .await
        .expect("task")
        .expect("imports");
    assert_eq!(
        site_packages_held(&conn),
        vec![("S1".to_owned(), 1, v1.clone())]
    );

    // Central changes the session: a candidate leaves the roster; version 2.
    let leaving = credentials[0].1.clone();
    ok(
        &central_dir,
        &planned(&[
            "plan",
            "unlock",
            "P1",
            "--by",
            "李强",
            "--reason",
            "名单变更",
        ]),
    );
    ok(
        &central_dir,
        &planned(&[
            "roster",
            "remove",
            "S1",
            &leaving,
            "--by",
            "王芳",
            "--reason",
            "考生申请退考",
        ]),
    );
    ok(
        &central_dir,
        &planned(&["plan", "submit", "P1", "--by", "王芳"]),
    );
    ok(
        &central_dir,
        &planned(&["plan", "approve", "P1", "--by", "李强"]),
    );
    let v2_file = dir.path().join("S1-v2.expkg");
    let v2 = export_package(&central_dir, "S1", &v2_file);
    let body2 = site_packages::verify(&v2, &e, now).expect("valid");
    assert_eq!(body2.version, 2);
    assert!(body2.candidates.iter().all(|c| c.id_number != leaving));

    assert_eq!(
        site_packages::import(&mut conn, &e, &v2, "file", now).expect("newer"),
        Imported::Newer {
            session: "S1".into(),
            version: 2,
            was: 1
        }
    );
    // The same version again: held already, nothing changes.
    let (s, f) = (site_dir.clone(), v2_file.clone());
    tokio::task::spawn_blocking(move || site_server::enrolled::import_package(&s, &f))
        .await
        .expect("task")
        .expect("imports");
    assert_eq!(
        site_packages::import(&mut conn, &e, &v2, "file", now).expect("held"),
        Imported::AlreadyHeld {
            session: "S1".into(),
            version: 2
        }
    );
    // The older version after the newer: refused.
    let err = site_packages::import(&mut conn, &e, &v1, "file", now).expect_err("older");
    assert!(
        format!("{err:#}").contains("older than version 2"),
        "{err:#}"
    );
    assert_eq!(site_packages_held(&conn), vec![("S1".to_owned(), 2, v2)]);
}

// ---------------------------------------------------------------------------------------------
// 3. The offline release with a code read over the phone.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_package_opens_only_with_its_release_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central_dir = dir.path().join("central");
    let site_dir = dir.path().join("site");
    let (token, _) = plan_a_session(&central_dir);
    let central = start_central(&central_dir).await;
    let pass = passphrase_file(dir.path());
    enrol(&site_dir, &central, "TY", &token, &pass)
        .await
        .expect("enrols");
    // The uplink is down from here on: the package comes on a USB stick.
    central.stop().await;
    let file = dir.path().join("S1.expkg");
    export_package(&central_dir, "S1", &file);
    let (s, f) = (site_dir.clone(), file.clone());
    tokio::task::spawn_blocking(move || site_server::enrolled::import_package(&s, &f))
        .await
        .expect("task")
        .expect("imports");

    let code = ok(
        &central_dir,
        &["session", "release-code", "S1", "--by", "张伟"],
    )
    .trim()
    .to_owned();
    assert_eq!(code.len(), 26 + 4, "{code}");
    // A well-formed code that is not the right one: one character changed.
    let wrong = {
        let mut chars: Vec<char> = code.chars().collect();
        chars[0] = if chars[0] == '7' { '8' } else { '7' };
        chars.into_iter().collect::<String>()
    };

    tokio::task::spawn_blocking(move || release_checks(&site_dir, &code, &wrong))
        .await
        .expect("checks");
}

/// Distinctive texts of the sample content (item prompts), as bytes.
fn content_texts() -> Vec<Vec<u8>> {
    let zip = std::fs::read(common::fixture("qti21-sample.zip")).expect("fixture");
    let report = exam_content::qti::import_package(&zip).expect("imports");
    let (def, _) = exam_content::qti::to_test_definition(&report).expect("converts");
    let mut prompts: Vec<String> = (0..8u64)
        .flat_map(|seed| exam_content::assembly::assemble(&def, seed).sections)
        .flat_map(|s| s.items)
        .map(|i| i.prompt)
        .filter(|p| p.len() >= 24)
        .collect();
    prompts.sort();
    prompts.dedup();
    assert!(!prompts.is_empty(), "the sample has prompts");
    let mut texts: Vec<Vec<u8>> = prompts
        .into_iter()
        .map(|p| p.as_bytes()[..24].to_vec())
        .collect();
    // And pieces of the content package as it is (compressed): nothing of it in the clear.
    texts.extend(
        (1..5)
            .map(|i| zip[i * zip.len() / 5..i * zip.len() / 5 + 32].to_vec())
            .collect::<Vec<_>>(),
    );
    texts
}

fn release_tries(conn: &Connection) -> Option<(u32, i64)> {
    rusqlite::OptionalExtension::optional(conn.query_row(
        "SELECT failures, locked_until_unix_ms FROM release_tries WHERE session_id = 'S1'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))
    .expect("query")
}

fn release_checks(site_dir: &Path, code: &str, wrong: &str) {
    use site_server::packages::{RELEASE_LOCKOUT_MS, RELEASE_TRIES_MAX, release_with_code};

    let e = Enrollment::load(site_dir).expect("enrolled");
    let mut conn = site_packages::open(site_dir).expect("uplink.db");
    let store = site_server::central::session_dir(site_dir, "S1").join(site_server::store::DB_FILE);
    let texts = content_texts();

    // Held, sealed: nothing of the paper on disk in the clear.
    assert!(!store.exists());
    let plain = files_holding(site_dir, &texts);
    assert!(plain.is_empty(), "the paper is in the clear in {plain:?}");

    let now = now_unix_ms();
    // A code of the wrong length: a clear message, no try counted.
    let err = release_with_code(&mut conn, site_dir, &e, "S1", &code[..code.len() - 3], now)
        .expect_err("refused");
    assert!(
        format!("{err:#}").contains("a release code has 26 letters and digits"),
        "{err:#}"
    );
    assert_eq!(release_tries(&conn), None, "no try counted");

    // Wrong codes count down, then lock.
    for n in 1..=RELEASE_TRIES_MAX {
        let err = release_with_code(&mut conn, site_dir, &e, "S1", wrong, now).expect_err("wrong");
        let msg = format!("{err:#}");
        let left = RELEASE_TRIES_MAX - n;
        if left > 0 {
            assert!(msg.contains(&format!("({left} tries left)")), "{msg}");
        } else {
            assert!(
                msg.contains(&format!("that was try {RELEASE_TRIES_MAX}")),
                "{msg}"
            );
        }
        assert_eq!(release_tries(&conn).map(|t| t.0), Some(n));
    }
    let (_, locked_until) = release_tries(&conn).expect("tries");
    assert_eq!(locked_until, now + RELEASE_LOCKOUT_MS);
    // Locked: even the right code is refused until the wait is over, and no try is counted.
    for at in [now + 1, locked_until - 1] {
        let err = release_with_code(&mut conn, site_dir, &e, "S1", code, at).expect_err("locked");
        assert!(
            format!("{err:#}").contains("too many wrong release codes"),
            "{err:#}"
        );
    }
    assert!(!store.exists());
    assert_eq!(
        release_tries(&conn),
        Some((RELEASE_TRIES_MAX, locked_until))
    );
    let plain = files_holding(site_dir, &texts);
    assert!(plain.is_empty(), "the paper is in the clear in {plain:?}");

    // After the wait the right code releases the paper: the session store appears.
    release_with_code(&mut conn, site_dir, &e, "S1", code, locked_until).expect("released");
    assert!(store.exists(), "{} exists", store.display());
    assert_eq!(release_tries(&conn), None);
    // The look for plaintext above would have seen it: the released store holds the paper.
    let plain = files_holding(site_dir, &texts);
    assert!(!plain.is_empty(), "the released paper is found on disk");
    let held = site_packages::held(&conn).expect("held");
    assert!(held.iter().any(|h| h.session_id == "S1" && h.released));
    // Released once: the code again says so.
    let err =
        release_with_code(&mut conn, site_dir, &e, "S1", code, locked_until).expect_err("already");
    assert!(format!("{err:#}").contains("released already"), "{err:#}");
}

// ---------------------------------------------------------------------------------------------
// 4. Mutual TLS.

/// The route paths of central's router, read from its source.
fn router_paths() -> Vec<String> {
    let src = include_str!("../src/api.rs");
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let start = rest.find('"').expect("a path") + 1;
        let end = start + rest[start..].find('"').expect("closing quote");
        out.push(rest[start..end].to_owned());
        rest = &rest[end..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_asks_for_the_site_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central_dir = dir.path().join("central");
    ok(&central_dir, &["init"]);
    let central = start_central(&central_dir).await;
    let url = format!("https://{}", central.addr);
    let http = site_server::central::client(central.fingerprint, None).expect("client");

    for path in [
        "/api/v1/packages",
        "/api/v1/packages/S1",
        "/api/v1/sessions/S1/key",
    ] {
        let resp = http
            .get(format!("{url}{path}"))
            .send()
            .await
            .expect("answers");
        assert_eq!(resp.status().as_u16(), 401, "{path}");
        let text = resp.text().await.expect("body");
        assert!(text.contains("site's certificate"), "{text}");
    }
    for path in ["/api/v1/results", "/api/v1/results/batch"] {
        let body = if path.ends_with("batch") {
            central::encode_batch(&[]).expect("encodes")
        } else {
            b"EXRES01\n".to_vec()
        };
        let resp = http
            .post(format!("{url}{path}"))
            .body(body)
            .send()
            .await
            .expect("answers");
        assert_eq!(resp.status().as_u16(), 401, "{path}");
    }

    let resp = http
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status().as_u16(), 200);
    let resp = http
        .get(format!("{url}/openapi.json"))
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status().as_u16(), 200);
    let doc: serde_json::Value =
        serde_json::from_str(&resp.text().await.expect("body")).expect("json");
    let documented = doc["paths"].as_object().expect("paths");
    let routes = router_paths();
    assert!(routes.len() >= 8, "{routes:?}");
    for route in &routes {
        assert!(
            documented.contains_key(route),
            "{route} is not in /openapi.json"
        );
    }
    central.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_whose_answer_was_lost_is_answered_again_for_the_same_keys_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central_dir = dir.path().join("central");
    let site_dir = dir.path().join("site");
    ok(&central_dir, &["init"]);
    let token = add_site(&central_dir, "TY", "太原考点");
    let central = start_central(&central_dir).await;
    let url = format!("https://{}", central.addr);
    let fingerprint = central.fingerprint.to_string();
    let pass = passphrase_file(dir.path());

    // The uplink is down: init fails, keeping only the keys it meant to send.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let nowhere = format!("https://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let down = init_site(&site_dir, &nowhere, &fingerprint, "TY", &token, &pass)
        .await
        .expect_err("central cannot be reached");
    assert!(
        format!("{down:#}").contains("cannot reach central"),
        "{down:#}"
    );
    assert!(site_server::central::holds_unfinished_enrolment(&site_dir));

    // The next try reaches central, which enrols the site, but the answer is lost on the way
    // back (this test sends the site's request with the site's pending keys and drops it).
    let pending: serde_json::Value = serde_json::from_slice(
        &std::fs::read(site_dir.join(site_server::central::PENDING_FILE)).expect("pending keys"),
    )
    .expect("json");
    let tls = rcgen::KeyPair::from_pem(pending["tls_key_pem"].as_str().expect("pem")).expect("key");
    let signing = SigningKey::from_pkcs8(
        &hex::decode(pending["signing_pkcs8_hex"].as_str().expect("hex")).expect("hex"),
    )
    .expect("key");
    let request =
        |tls: &rcgen::KeyPair, signing: &SigningKey, token: &str| central::EnrollRequest {
            site_code: "TY".into(),
            token: token.to_owned(),
            csr_pem: rcgen::CertificateParams::new(Vec::<String>::new())
                .expect("params")
                .serialize_request(tls)
                .expect("csr")
                .pem()
                .expect("pem"),
            signing_public_hex: signing.public().to_hex(),
        };
    let http = site_server::central::client(central.fingerprint, None).expect("client");
    let post = |req: central::EnrollRequest| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(format!("{url}/api/v1/enroll"))
                .json(&req)
                .send()
                .await
                .expect("answers")
        }
    };
    let lost = post(request(&tls, &signing, &token)).await;
    assert!(lost.status().is_success(), "{}", lost.status());
    drop(lost);

    // A try that stopped while writing what central answered (before `central.json`) leaves
    // files the retry writes again.
    std::fs::write(site_dir.join(site_server::central::SIGNING_FILE), b"half").expect("write");
    assert!(site_server::central::holds_unfinished_enrolment(&site_dir));

    // The admin runs init again: central knows this enrolment and answers it once more.
    init_site(&site_dir, &url, &fingerprint, "TY", &token, &pass)
        .await
        .expect("the same enrolment is answered again");
    assert!(!site_dir.join(site_server::central::PENDING_FILE).exists());
    assert_eq!(
        site_server::central::signing_key(&site_dir)
            .expect("signing key")
            .public(),
        signing.public(),
        "the site keeps the keys central enrolled"
    );
    let enrolled = Enrollment::load(&site_dir).expect("enrolled");
    let site_http =
        site_server::central::enrolled_client(&site_dir, &enrolled).expect("site client");
    let packages = |http: reqwest::Client| {
        let url = url.clone();
        async move {
            http.get(format!("{url}/api/v1/packages"))
                .send()
                .await
                .expect("answers")
                .status()
        }
    };
    assert!(packages(site_http.clone()).await.is_success());
    // Once the site has called with its certificate, the enrolment is not answered again: a
    // captured request cannot replace a certificate in use.
    let replayed = post(request(&tls, &signing, &token)).await;
    assert_eq!(replayed.status().as_u16(), 403);
    assert!(packages(site_http.clone()).await.is_success());
    let conn = Connection::open(central_dir.join("central.db")).expect("central.db");
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM audit_log WHERE what = 'enrolled' AND detail LIKE '%again%'"
        ),
        1
    );

    // Anyone else holding the token gets nothing: other keys are refused.
    let other = init_site(
        &dir.path().join("other"),
        &url,
        &fingerprint,
        "TY",
        &token,
        &pass,
    )
    .await
    .expect_err("other keys");
    assert!(format!("{other:#}").contains("used already"), "{other:#}");
    let forged = post(request(
        &rcgen::KeyPair::generate().expect("key"),
        &signing,
        &token,
    ))
    .await;
    assert_eq!(forged.status().as_u16(), 403);

    // Once the site has enrolled again (a new token), the old enrolment is not answered again.
    let second = ok(&central_dir, &["site", "token", "TY"]).trim().to_owned();
    init_site(
        &dir.path().join("site2"),
        &url,
        &fingerprint,
        "TY",
        &second,
        &pass,
    )
    .await
    .expect("enrols again");
    let stale = post(request(&tls, &signing, &token)).await;
    assert_eq!(stale.status().as_u16(), 403);
    assert_eq!(
        packages(site_http).await.as_u16(),
        403,
        "the first certificate was replaced"
    );

    // An init that enrolled but stopped before making the LAN CA is finished by running it
    // again (the token is not asked for again); a finished site is never initialised twice.
    use exam_net::identity::{CA_CERT_FILE, CA_KEY_FILE, SERVER_FILE, default_ca_dir};
    for f in [
        site_dir.join(CA_CERT_FILE),
        site_dir.join(SERVER_FILE),
        site_dir.join(site_server::packages::UPLINK_DB),
        default_ca_dir(&site_dir).join(CA_KEY_FILE),
    ] {
        std::fs::remove_file(&f).expect("remove");
    }
    init_site(&site_dir, &url, &fingerprint, "TY", &token, &pass)
        .await
        .expect("the LAN CA is made");
    assert!(exam_net::identity::ca_fingerprint(&site_dir).is_ok());
    let twice = init_site(&site_dir, &url, &fingerprint, "TY", &token, &pass)
        .await
        .expect_err("initialised already");
    assert!(
        format!("{twice:#}").contains("already holds a site"),
        "{twice:#}"
    );
    central.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 5. The uplink goes away while results are sealed, and comes back.

/// What the two tests below guard against.
const STOP_KEEPS_CONNECTIONS: &str = "RunningCentral::stop must close the connections already open (a site's kept-alive uplink), not only stop accepting";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_central_answers_no_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central_dir = dir.path().join("central");
    ok(&central_dir, &["init"]);
    let central = start_central(&central_dir).await;
    let url = format!("https://{}/healthz", central.addr);
    let http = site_server::central::client(central.fingerprint, None).expect("client");
    let resp = http.get(&url).send().await.expect("answers");
    assert_eq!(resp.status().as_u16(), 200);
    central.stop().await;
    // The same client (its connection kept alive, as the uplink's is) gets no answer.
    let after = http.get(&url).send().await;
    assert!(
        after.is_err(),
        "{STOP_KEEPS_CONNECTIONS}: a stopped central answered {:?}",
        after.map(|r| r.status())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_sealed_while_central_is_away_arrive_once_it_is_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central_dir = dir.path().join("central");
    let site_dir = dir.path().join("site");
    let (token, credentials) = plan_a_session(&central_dir);
    let central = start_central(&central_dir).await;
    let addr = central.addr;
    let pass = passphrase_file(dir.path());
    enrol(&site_dir, &central, "TY", &token, &pass)
        .await
        .expect("enrols");
    let site = run_site_until_serving(&site_dir, &pass, Duration::from_secs(1)).await;
    // The paper is served; central goes away before anyone hands in.
    central.stop().await;

    let n = 5u32;
    sit(&site_dir, site.addr, &credentials, n).await;
    let s = site_dir.clone();
    let status = tokio::time::timeout(Duration::from_secs(30), async move {
        loop {
            if let Some(u) = site_server::uplink::UplinkStatus::read(&s)
                && u.sealed == u64::from(n)
                && u.last_error.is_some()
            {
                return u;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the uplink reports the sealed results and its error ({STOP_KEEPS_CONNECTIONS}?): {:?}",
            site_server::uplink::UplinkStatus::read(&site_dir)
        )
    });
    assert_eq!(status.waiting, u64::from(n), "{status:?}");
    assert_eq!(status.delivered, 0, "{status:?}");
    let c = central_dir.clone();
    let received = tokio::task::spawn_blocking(move || common::results_received(&c))
        .await
        .expect("task");
    assert_eq!(received, 0, "nothing reached central while it was away");

    // Central comes back where it was; the uplink delivers everything, once.
    common::central_back_and_every_result_delivered_once(&central_dir, addr, site, &site_dir, n)
        .await;
    let c = central_dir.clone();
    let lines = tokio::task::spawn_blocking(move || common::results_status(&c))
        .await
        .expect("task");
    for (admission, _) in &credentials[..n as usize] {
        let line = lines
            .iter()
            .find(|l| l["admission_no"] == admission.as_str())
            .expect("a line");
        assert_ne!(line["status"], "missing", "{line}");
    }
    assert_eq!(
        lines.iter().filter(|l| l["status"] != "missing").count(),
        n as usize
    );
}
