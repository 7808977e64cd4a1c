//! `exam-client`: the candidate side.
pub mod model;
pub mod app;
