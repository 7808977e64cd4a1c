//! Lets the backend wake the UI: the window registers its egui context once it exists, and the
//! backend asks for a repaint after each state change.

use std::sync::{Arc, OnceLock};

#[derive(Clone, Default)]
pub struct RepaintHandle(Arc<OnceLock<egui::Context>>);

impl RepaintHandle {
    /// Called by the window when it starts.
    pub fn set(&self, ctx: &egui::Context) {
        let _ = self.0.set(ctx.clone());
    }

    /// Asks for a new frame; does nothing before the window exists.
    pub fn request(&self) {
        if let Some(ctx) = self.0.get() {
            ctx.request_repaint();
        }
    }
}
