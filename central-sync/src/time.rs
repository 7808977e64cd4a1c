//! Plan times: re-exported from `exam_domain::cst`, shared with the site.

pub use exam_domain::cst::*;
