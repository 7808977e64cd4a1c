//! `exam-client`: the candidate side. [`backend`] is the candidate backend, usable headless
//! (connection with CA pinning, local journal, reconnect); [`model`] is what the UI reads and
//! sends; `app` is the eframe kiosk UI; [`simulate`] runs many simulated candidates for demos and
//! load. `main.rs` is a thin command line over these.
//!
//! It must never drop an answer change the site has not acknowledged, never trust a server
//! whose CA does not match the pinned fingerprint, and never block the UI thread on the network.

pub mod app;
pub mod backend;
pub mod cli;
pub mod journal;
pub mod model;
pub mod repaint;
pub mod simulate;
