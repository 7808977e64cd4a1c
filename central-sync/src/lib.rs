//! `central-sync`: the authority's service. So far its command line over the embedded store:
//! exam sites and rooms, exam plans (typed plans whose sessions are held in a site's rooms,
//! submitted, approved and unlocked with a log), roster and photo imports checked against the
//! plan's rules and the blacklist, seats and admission numbers given at approval, question
//! content imports, and [`plans::session_for_site`], what a site needs to hold a session.
//!
//! It must never change a session's roster after its cutoff or while its plan is submitted or
//! approved, never half-apply an import or command (each is one transaction), and never reset a
//! store it cannot read.

pub mod api;
pub mod blacklist;
pub mod check;
pub mod cli;
pub mod commands;
pub mod content;
pub mod eligibility;
pub mod enroll;
pub mod keys;
pub mod marking;
pub mod packages;
pub mod plans;
pub mod results;
pub mod rosters;
pub mod sites;
pub mod store;
pub mod time;
