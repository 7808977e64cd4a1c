//! `exam-ui`: the look and the words shared by the exam platform's egui applications (the
//! candidate's exam window now, the proctor console later).
//!
//! - [`fonts`] finds a CJK font on the machine and installs it ([`fonts::install_cjk_font`]);
//! - [`theme`] is the calm, high-contrast light theme with large text and a candidate-adjustable
//!   [`theme::FontScale`] ([`theme::apply`]), and the [`theme::palette`] every screen draws with;
//! - [`strings`] holds every user-facing string in Simplified Chinese (the default) and English,
//!   as a typed table: [`strings::Lang`], [`strings::Key`], [`strings::tr`];
//! - [`widgets`] are the few shared building blocks (big buttons, banners, durations).
//!
//! Architecture invariant: this crate only draws. It must never depend on tokio or quinn, open a
//! connection, spawn a thread or touch the disk, with one exception: [`fonts`] reads one font file.

pub mod fonts;
pub mod strings;
pub mod theme;
pub mod widgets;

pub use strings::{Key, Lang, tr};
pub use theme::FontScale;
