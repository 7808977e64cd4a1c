//! `central-sync`: the authority's service. So far its command line over the embedded store:
//! exam plans (sessions with a roster cutoff), roster and photo imports, question content imports.
//!
//! It must never change a session's roster after its cutoff, never half-apply an import (every
//! import is one transaction), and never reset a store it cannot read.

pub mod cli;
pub mod content;
pub mod rosters;
pub mod store;
pub mod time;
