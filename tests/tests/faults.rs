//! Faults on real parts: a LAN that goes dark and comes back with latency while candidates keep
//! answering (a UDP relay in the test), and a store that fails as on a full disk (the site
//! degrades loudly and recovers by itself). Each compares every acknowledged change the
//! candidates recorded with what the site stored.

use std::sync::atomic::Ordering;
use std::time::Duration;

use exam_client::simulate::{self, SimulateConfig};
use exam_testkit::{TestSite, assert_acknowledged_are_stored};
use site_server::status::Status;
use tests::Relay;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lan_that_goes_dark_three_times_loses_nothing_acknowledged() {
    let site = TestSite::demo(40, 0, 60).await.expect("site");
    let relay = Relay::start(site.addr()).await.expect("relay");
    relay.set_latency(Duration::from_millis(15));
    let record = site.dir.path().join("acks.jsonl");
    let sim = tokio::spawn(simulate::run(SimulateConfig {
        server: relay.addr,
        pin: site.fingerprint(),
        candidates: 30,
        first: 0,
        think: Duration::from_millis(120),
        record: Some(record.clone()),
        deadline: Duration::from_secs(240),
        seed: 11,
        journal_dir: Some(site.dir.path().join("journals")),
        credentials: None,
    }));
    // Dark for longer than the idle timeout (connections die), then for less (they survive),
    // then long again, with latency between.
    for (after, dark, latency) in [(2_000, 8_000, 40), (1_500, 2_500, 80), (1_500, 7_000, 20)] {
        tokio::time::sleep(Duration::from_millis(after)).await;
        relay.set_dark(true);
        tokio::time::sleep(Duration::from_millis(dark)).await;
        relay.set_dark(false);
        relay.set_latency(Duration::from_millis(latency));
    }
    let report = sim.await.expect("join").expect("simulate");
    assert!(
        relay.state.dropped.load(Ordering::Relaxed) > 100,
        "the LAN really went dark"
    );
    assert_eq!(
        (report.submitted, report.errors),
        (30, 0),
        "{}",
        report.summary()
    );
    let checked = assert_acknowledged_are_stored(site.dir.path(), &record).expect("stored");
    assert_eq!(checked as u64, report.acknowledged);
    assert!(checked >= 30 * 70, "every item answered: {checked}");
    site.site.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_degrades_the_site_loudly_and_it_recovers_by_itself() {
    let (site, disk_full) = TestSite::demo_with_disk_switch(20, 0, 60)
        .await
        .expect("site");
    let record = site.dir.path().join("acks.jsonl");
    let sim = tokio::spawn(simulate::run(SimulateConfig {
        server: site.addr(),
        pin: site.fingerprint(),
        candidates: 15,
        first: 0,
        think: Duration::from_millis(100),
        record: Some(record.clone()),
        deadline: Duration::from_secs(240),
        seed: 5,
        journal_dir: Some(site.dir.path().join("journals")),
        credentials: None,
    }));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let acked_before = exam_testkit::read_record(&record).expect("record").len();
    disk_full.store(true, Ordering::SeqCst);
    // The status says so within a few seconds, with SQLite's own reason.
    let degraded = wait_for_status(&site, |s| s.degraded.is_some()).await;
    let why = degraded.degraded.unwrap_or_default();
    assert!(why.contains("full"), "{why}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let acked_during = exam_testkit::read_record(&record).expect("record").len();
    // Nothing is acknowledged while the disk is full (a batch in flight at the switch at most).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        exam_testkit::read_record(&record).expect("record").len(),
        acked_during,
        "acknowledgements stopped"
    );
    assert!(acked_during >= acked_before);
    // Space comes back: the site takes answers again by itself.
    disk_full.store(false, Ordering::SeqCst);
    wait_for_status(&site, |s| s.degraded.is_none() && s.failed_commits > 0).await;
    let report = sim.await.expect("join").expect("simulate");
    assert_eq!(
        (report.submitted, report.errors),
        (15, 0),
        "{}",
        report.summary()
    );
    let checked = assert_acknowledged_are_stored(site.dir.path(), &record).expect("stored");
    assert!(
        checked > acked_during,
        "answers flowed again after the recovery"
    );
    // The operator sees them counted: every acknowledged change went through the site's count.
    wait_for_status(&site, |s| s.saves_acknowledged >= checked as u64).await;
    site.site.stop().await.expect("stop");
}

async fn wait_for_status(site: &TestSite, pred: impl Fn(&Status) -> bool) -> Status {
    let dir = site.dir.path().to_path_buf();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(s) = Status::read(&dir)
                && s.is_live()
                && pred(&s)
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("status in time")
}
