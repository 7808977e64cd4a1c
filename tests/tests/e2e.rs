//! The whole exam on loopback: a real site server (QUIC, SQLite) and headless candidates using
//! the same backend as the candidate app.

use std::sync::Arc;
use std::time::Duration;

use exam_client::backend::{self, ClientConfig, ClientEvent, RemoteBackend};
use exam_client::model::{Command, ExamBackend, Link, Phase};
use exam_client::simulate::{self, RecordedAnswer, SimulateConfig};
use exam_domain::{OptionId, Response, demo};
use exam_protocol::LoginRejection;
use exam_testkit::{TestSite, stored_answers};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(30);

fn candidate(
    site_addr: std::net::SocketAddr,
    pin: exam_crypto::Fingerprint,
    journal: Option<std::path::PathBuf>,
) -> (RemoteBackend, UnboundedReceiver<ClientEvent>) {
    candidate_on("test-pc", site_addr, pin, journal)
}

/// A candidate backend on the machine called `machine` (the site lets a machine's new connection
/// take over its old one, so two machines in one test need two names).
fn candidate_on(
    machine: &str,
    site_addr: std::net::SocketAddr,
    pin: exam_crypto::Fingerprint,
    journal: Option<std::path::PathBuf>,
) -> (RemoteBackend, UnboundedReceiver<ClientEvent>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = backend::endpoint(site_addr, pin).expect("endpoint");
    let b = backend::spawn(
        ClientConfig {
            server: site_addr,
            pin,
            machine: machine.into(),
            journal_dir: journal,
        },
        endpoint,
        Arc::new(|| {}),
        Some(tx),
    );
    (b, rx)
}

/// Waits for the first event that `pick` accepts.
async fn until<T>(
    events: &mut UnboundedReceiver<ClientEvent>,
    mut pick: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let ev = events.recv().await.expect("backend alive");
            if let Some(t) = pick(&ev) {
                return t;
            }
        }
    })
    .await
    .expect("event in time")
}

fn login(b: &RemoteBackend, index: u32) {
    let c = demo::candidate(index);
    b.send(Command::Login {
        admission_no: c.admission_no.to_string(),
        id_number: c.id_number.as_str().to_owned(),
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_candidates_sit_the_exam_and_every_acknowledged_answer_is_stored() {
    let site = TestSite::demo(80, 0, 30).await.expect("site");
    let record = site.dir.path().join("acks.jsonl");
    let report = simulate::run(SimulateConfig {
        server: site.addr(),
        pin: site.fingerprint(),
        candidates: 60,
        first: 10,
        think: Duration::from_millis(5),
        record: Some(record.clone()),
        deadline: Duration::from_secs(120),
        seed: 7,
        journal_dir: Some(site.dir.path().join("journals")),
        credentials: None,
    })
    .await
    .expect("simulate");
    assert_eq!(
        (report.submitted, report.errors),
        (60, 0),
        "{}",
        report.summary()
    );
    assert!(
        report.acknowledged >= 60 * 70,
        "every item answered: {}",
        report.summary()
    );

    let recorded: Vec<RecordedAnswer> = std::fs::read_to_string(&record)
        .expect("record")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(recorded.len() as u64, report.acknowledged);
    let stored = stored_answers(site.dir.path()).expect("export");
    let stored: std::collections::BTreeMap<_, _> = stored
        .into_iter()
        .map(|a| ((a.admission_no.clone(), a.seq), (a.item_id, a.response)))
        .collect();
    for r in &recorded {
        assert_eq!(
            stored.get(&(r.admission_no.clone(), r.seq)),
            Some(&(r.item_id.clone(), r.response.clone())),
            "acknowledged change missing from the store: {r:?}"
        );
    }
    // Only the simulated candidates (10..70) answered.
    assert!(
        stored
            .keys()
            .all(|(adm, _)| adm.as_str() > "2026100010" && adm.as_str() <= "2026100070")
    );
    site.site.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_explained_and_a_second_machine_is_refused() {
    let site = TestSite::demo(5, 0, 30).await.expect("site");
    let (a, mut a_events) = candidate(site.addr(), site.fingerprint(), None);
    until(&mut a_events, |e| {
        matches!(e, ClientEvent::LinkUp).then_some(())
    })
    .await;
    a.send(Command::Login {
        admission_no: "2026100001".into(),
        id_number: "110101202311012176".into(),
    });
    let (reason, message) = until(&mut a_events, |e| match e {
        ClientEvent::LoginRefused {
            reason, message, ..
        } => Some((*reason, message.clone())),
        _ => None,
    })
    .await;
    assert_eq!(reason, LoginRejection::WrongCredentials);
    assert!(message.contains("准考证号或身份证号不正确"), "{message}");
    assert!(matches!(
        a.state().phase,
        Phase::LoggedOut {
            error: Some(_),
            busy: false
        }
    ));

    login(&a, 0);
    until(&mut a_events, |e| {
        matches!(e, ClientEvent::PaperReady).then_some(())
    })
    .await;
    let state = a.state();
    assert_eq!(
        state.candidate.as_ref().map(|c| c.name.clone()),
        Some(demo::candidate(0).name)
    );
    assert_eq!(state.paper.as_ref().map(|p| p.item_count()), Some(70));

    let (b, mut b_events) = candidate_on("test-pc-2", site.addr(), site.fingerprint(), None);
    until(&mut b_events, |e| {
        matches!(e, ClientEvent::LinkUp).then_some(())
    })
    .await;
    login(&b, 0);
    let message = until(&mut b_events, |e| match e {
        ClientEvent::LoginRefused {
            reason: LoginRejection::ConnectedElsewhere,
            message,
            ..
        } => Some(message.clone()),
        _ => None,
    })
    .await;
    assert!(
        message.contains("监考员"),
        "the candidate is told to ask the proctor: {message}"
    );
    site.site.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_made_while_the_site_is_down_are_journaled_and_delivered_after_it_returns() {
    let site = TestSite::demo(3, 0, 30).await.expect("site");
    let addr = site.addr();
    let pin = site.fingerprint();
    let journal_dir = tempfile::tempdir().expect("tempdir");
    let journal = journal_dir.path().to_path_buf();
    let (c, mut events) = candidate(addr, pin, Some(journal.clone()));
    until(&mut events, |e| {
        matches!(e, ClientEvent::LinkUp).then_some(())
    })
    .await;
    login(&c, 1);
    until(&mut events, |e| {
        matches!(e, ClientEvent::PaperReady).then_some(())
    })
    .await;
    let paper = c.state().paper.expect("paper");
    let tf: Vec<_> = paper
        .items()
        .filter(|i| matches!(i.body, exam_domain::ItemBody::TrueFalse))
        .take(3)
        .cloned()
        .collect();

    // The site goes away (a clean stop here; the kill test does it the hard way).
    let TestSite { dir, site: running } = site;
    running.stop().await.expect("stop");
    until(&mut events, |e| {
        matches!(e, ClientEvent::LinkDown).then_some(())
    })
    .await;
    for item in &tf {
        c.send(Command::Save {
            item: item.id.clone(),
            response: Response::TrueFalse(true),
        });
    }
    tokio::time::timeout(WAIT, async {
        while !(c.state().unacked == 3 && matches!(c.state().link, Link::Reconnecting { .. })) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("answers kept locally while offline");
    let name = exam_candidate::journal_name(&pin.to_string(), "2026100002");
    let (j, _) =
        exam_candidate::Journal::open(exam_client::journal::FileStorage::new(&journal), &name);
    assert_eq!(
        j.state().pending.len(),
        3,
        "the three changes are in the journal file"
    );

    // Back on the same address: the client reconnects, logs in again by itself and resends.
    let again = restart(dir.path(), addr).await;
    for _ in 0..3 {
        until(&mut events, |e| {
            matches!(e, ClientEvent::Acked { .. }).then_some(())
        })
        .await;
    }
    assert_eq!(c.state().unacked, 0);
    let stored = stored_answers(dir.path()).expect("export");
    for item in &tf {
        assert!(
            stored
                .iter()
                .any(|a| a.item_id == item.id.as_str() && a.response == Response::TrueFalse(true))
        );
    }
    // A candidate's choice keeps its option id through the shuffled display order.
    let sc = paper
        .items()
        .find(|i| matches!(i.body, exam_domain::ItemBody::SingleChoice { .. }))
        .expect("single choice");
    c.send(Command::Save {
        item: sc.id.clone(),
        response: Response::Choices([OptionId::parse("C").expect("id")].into()),
    });
    until(&mut events, |e| {
        matches!(e, ClientEvent::Acked { .. }).then_some(())
    })
    .await;
    c.send(Command::Submit);
    until(&mut events, |e| {
        matches!(e, ClientEvent::Submitted { .. }).then_some(())
    })
    .await;
    assert!(matches!(c.state().phase, Phase::Done { .. }));
    again.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_frame_closes_that_connection_only() {
    let site = TestSite::demo(3, 0, 30).await.expect("site");
    let (good, mut events) = candidate(site.addr(), site.fingerprint(), None);
    until(&mut events, |e| {
        matches!(e, ClientEvent::LinkUp).then_some(())
    })
    .await;
    login(&good, 0);
    until(&mut events, |e| {
        matches!(e, ClientEvent::PaperReady).then_some(())
    })
    .await;

    let endpoint = backend::endpoint(site.addr(), site.fingerprint()).expect("endpoint");
    let conn = endpoint
        .connect(site.addr(), exam_net::SITE_SERVER_NAME)
        .expect("connect")
        .await
        .expect("handshake");
    let (send, _recv) = conn.open_bi().await.expect("stream");
    let mut send = exam_net::FramedSend::new(send, exam_protocol::frame::CLIENT_FRAME_BYTES_MAX);
    send.send(&exam_protocol::ClientMsg::Hello {
        machine: "hostile".into(),
    })
    .await
    .expect("hello");
    let mut send = send.into_inner();
    let mut frame = 5u32.to_be_bytes().to_vec();
    frame.extend_from_slice(&exam_protocol::PROTOCOL_VERSION.to_be_bytes());
    frame.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff]);
    send.write_all(&frame).await.expect("write");
    let closed = tokio::time::timeout(WAIT, conn.closed())
        .await
        .expect("closed in time");
    assert!(
        matches!(&closed, quinn::ConnectionError::ApplicationClosed(c) if &c.reason[..] == b"malformed frame"),
        "{closed:?}"
    );

    // The well-behaved candidate is unaffected.
    let item = good
        .state()
        .paper
        .expect("paper")
        .items()
        .next()
        .cloned()
        .expect("item");
    let response =
        exam_domain::demo::random_response(&item, &mut exam_domain::rng::SplitMix64::new(1));
    good.send(Command::Save {
        item: item.id.clone(),
        response,
    });
    until(&mut events, |e| {
        matches!(e, ClientEvent::Acked { .. }).then_some(())
    })
    .await;
    site.site.stop().await.expect("stop");
}

/// Starts the site again on the same address, waiting for the old socket to be released.
async fn restart(
    dir: &std::path::Path,
    addr: std::net::SocketAddr,
) -> site_server::server::RunningSite {
    for _ in 0..100 {
        match site_server::server::start(dir, addr).await {
            Ok(site) => return site,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("could not restart the site on {addr}");
}
