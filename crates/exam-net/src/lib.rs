//! `exam-net`: the site's QUIC endpoints on the LAN: the site CA, its short-lived server
//! certificate and their files ([`identity`]; the CA key is sealed under a passphrase and the
//! serving path never reads it), clients that pin the CA by fingerprint ([`pin`]), endpoint and transport
//! settings ([`endpoint`]) and length-limited framed messages on QUIC streams ([`framed`]).
//!
//! Everything here runs on rustls with the `ring` provider, passed explicitly, so no second
//! crypto stack is pulled in. This crate must never touch egui or rusqlite, and never parses a
//! message body itself: bodies go through `exam-protocol`.

pub mod endpoint;
pub mod framed;
pub mod identity;
pub mod pin;

pub use endpoint::{
    client_config, client_endpoint, server_config, server_endpoint, shared_client_endpoint,
};
pub use framed::{FramedRecv, FramedSend, NetError};
pub use identity::{IdentityError, RenewalState, SiteCa, SiteIdentity, renewal_due};

/// The name the site server's certificate carries and clients ask for; clients connect by IP.
pub const SITE_SERVER_NAME: &str = "exam-site.lan";
