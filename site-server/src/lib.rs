//! `site-server`: the exam site's rack server. The tokio shell around the `exam-site-core`
//! engine: the LAN service over QUIC ([`server`]), the SQLite store with one writer thread
//! ([`store`], [`writer`]), the CA step and certificate renewal ([`ca`]), the demo site
//! ([`demo`]) and the command line ([`cli`]).
//!
//! It must never acknowledge an answer before its commit, never reset a data directory it cannot
//! read, never read the CA private key on the serving path (only [`ca`] unlocks it, to issue),
//! and never depend on egui.

pub mod ca;
pub mod cli;
pub mod demo;
pub mod limits;
pub mod server;
pub mod status;
pub mod store;
pub mod writer;
