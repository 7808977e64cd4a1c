//! The site's uplink through a link the test controls (a TCP relay on loopback): cut in the
//! middle of the exam and restored, slow, and central restarted while a batch of results is on
//! its way. Every result arrives once.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{passphrase_file, plan_a_session, run_site_until_serving, sit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP relay to `target`: `up` false refuses new connections and `cut()` drops the open ones;
/// each direction runs at `rate` bytes/s; `sent_up` counts bytes forwarded towards `target`.
struct Link {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    sent_up: Arc<AtomicU64>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Link {
    async fn start(target: SocketAddr, rate: f64) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicBool::new(true));
        let sent_up = Arc::new(AtomicU64::new(0));
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (u, s, c) = (up.clone(), sent_up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !u.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let s = s.clone();
                let task = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pipe(cr, sw, rate, Some(s)), pipe(sr, cw, rate, None));
                });
                c.lock().expect("lock").push(task.abort_handle());
            }
        });
        Link {
            addr,
            up,
            sent_up,
            conns,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().expect("lock").drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    rate: f64,
    count: Option<Arc<AtomicU64>>,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate)).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        if let Some(c) = &count {
            c.fetch_add(n as u64, Ordering::SeqCst);
        }
    }
    let _ = to.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_survive_a_cut_uplink_and_central_restarting_mid_upload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central_dir = dir.path().join("central");
    let site_dir = dir.path().join("site");
    let (token, credentials) = plan_a_session(&central_dir);
    let central = central_sync::api::start(&central_dir, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("central serves");
    let central_addr = central.addr;
    // A slow uplink: 50 kB/s each way.
    let link = Link::start(central_addr, 50_000.0).await;
    let pass = passphrase_file(dir.path());
    {
        let (d, url, fp, pass) = (
            site_dir.clone(),
            format!("https://{}", link.addr),
            central.fingerprint.to_string(),
            pass.clone(),
        );
        tokio::task::spawn_blocking(move || {
            site_server::enrolled::init(&d, &url, &fp, "TY", &token, None, Some(&pass))
        })
        .await
        .expect("task")
        .expect("enrols through the link");
    }
    let site = run_site_until_serving(&site_dir, &pass, Duration::from_secs(1)).await;

    // The uplink goes down in the middle of the exam; candidates finish regardless.
    link.cut();
    let n = 40u32;
    sit(&site_dir, site.addr, &credentials, n).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = site_server::uplink::UplinkStatus::read(&site_dir).expect("uplink status");
    assert_eq!(status.sealed, u64::from(n), "{status:?}");
    assert_eq!(status.delivered, 0, "{status:?}");
    assert!(status.last_error.is_some(), "{status:?}");
    assert_eq!(common::results_received(&central_dir), 0);

    // It comes back; while the results are on their way, central restarts.
    let before = link.sent_up.load(Ordering::SeqCst);
    link.restore();
    tokio::time::timeout(Duration::from_secs(60), async {
        while link.sent_up.load(Ordering::SeqCst) < before + 30_000 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("an upload begins");
    let mid = common::results_received(&central_dir);
    central.stop().await;
    assert!(
        mid < n as usize,
        "the upload was still going when central stopped ({mid} of {n} arrived)"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Exactly once: n results, no refusals, and the site knows them all delivered.
    common::central_back_and_every_result_delivered_once(
        &central_dir,
        central_addr,
        site,
        &site_dir,
        n,
    )
    .await;
}
