//! `exam-site-core`: the sans-IO site engine. It owns sessions, attempts, their states and their
//! time; it decides what to answer, what to persist and when.
//!
//! Drive it like `quinn-proto`: feed it [`Input`]s with [`Engine::handle`] and expired timers with
//! [`Engine::handle_timeout`], then drain [`Engine::poll_output`] and ask [`Engine::poll_timeout`]
//! when to call again. Answers are acknowledged only after the shell reports the store write
//! durable ([`Input::Committed`]); the sequence protocol they follow is described in
//! `exam_protocol::lan`.
//!
//! This crate must never do IO, read a clock or draw randomness: time ([`MonoMs`]) and seeds come
//! in from outside, so the same inputs always give the same outputs. Read [`Engine`] first, then
//! [`StoreOp`], [`Restored`] and [`limits`].

mod engine;
pub mod limits;
mod types;

pub use engine::Engine;
pub use types::*;
