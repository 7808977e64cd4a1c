//! `site-server`: the exam site's rack server. The tokio shell around the `exam-site-core`
//! engine: the LAN service over QUIC ([`server`]), the SQLite store with one writer thread
//! ([`store`], [`writer`]), the CA step and certificate renewal ([`ca`]), the demo site
//! ([`demo`]), the link to central ([`central`]: enrolment; [`packages`]: sealed exam packages
//! and key release; [`sealing`]: results sealed at submission; [`uplink`]: the agent that pulls
//! and delivers; [`enrolled`]: the commands of an enrolled site) and the command line ([`cli`]).
//!
//! It must never acknowledge an answer before its commit, never keep an exam paper in plaintext
//! before its key is released, never commit a submission without its sealed result, never reset
//! a data directory it cannot read, never read the CA private key on the serving path (only
//! [`ca`] unlocks it, to issue), and never depend on egui.

pub mod ca;
pub mod central;
pub mod cli;
pub mod demo;
pub mod enrolled;
pub mod limits;
pub mod packages;
pub mod papers;
pub mod sealing;
pub mod server;
pub mod status;
pub mod store;
pub mod uplink;
pub mod writer;
