//! What the tests that run the real `site-server` binary share.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Child;

/// Reads the started server's stdout until it has printed its address and fingerprint, then keeps
/// draining it on a thread so the server never blocks on a full pipe.
pub fn wait_ready(child: &mut Child) -> (SocketAddr, String) {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let (mut addr, mut fp) = (None, None);
    while addr.is_none() || fp.is_none() {
        let Some(Ok(line)) = lines.next() else {
            panic!("site-server exited before it was ready")
        };
        if let Some(a) = line.strip_prefix("listening on ") {
            addr = a.trim().parse().ok();
        }
        if let Some(f) = line.strip_prefix("fingerprint ") {
            fp = Some(f.trim().to_owned());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (addr.expect("addr"), fp.expect("fingerprint"))
}
