//! Pictures of the questions: each image of the paper (`CandidatePaper::media`, shown where an
//! `[img:PATH]` marker stands) is decoded once into a texture, with the photo's size limits.

use std::collections::BTreeMap;

use egui::{RichText, TextureHandle, TextureOptions, Ui};
use exam_domain::CandidatePaper;
use exam_ui::theme::palette;
use exam_ui::{Key, Lang, tr};

use super::photo::decode;

/// Decoded pictures of one paper, by path (`None`: missing or unreadable).
#[derive(Default)]
pub(crate) struct MediaCache {
    paper_id: String,
    textures: BTreeMap<String, Option<TextureHandle>>,
}

impl MediaCache {
    fn texture(
        &mut self,
        ctx: &egui::Context,
        paper: &CandidatePaper,
        path: &str,
    ) -> Option<TextureHandle> {
        if self.paper_id != paper.paper_id {
            self.paper_id.clone_from(&paper.paper_id);
            self.textures.clear();
        }
        self.textures
            .entry(path.to_owned())
            .or_insert_with(|| {
                let image = decode(&paper.media.get(path)?.bytes)?;
                Some(ctx.load_texture(format!("paper-image:{path}"), image, TextureOptions::LINEAR))
            })
            .clone()
    }

    /// Shows the picture at `path` at most as wide as the space there is, named `label` for
    /// assistive technology (and tests); a notice if it is missing or cannot be decoded.
    pub(crate) fn image_ui(
        &mut self,
        ui: &mut Ui,
        paper: Option<&CandidatePaper>,
        path: &str,
        label: &str,
        lang: Lang,
    ) {
        match paper.and_then(|p| self.texture(ui.ctx(), p, path)) {
            Some(texture) => {
                ui.add(
                    egui::Image::from_texture(&texture)
                        .max_width(ui.available_width())
                        .alt_text(label),
                );
            }
            None => {
                ui.label(
                    RichText::new(format!("{label}：{}", tr(lang, Key::FigureUnreadable)))
                        .color(palette::DANGER),
                );
            }
        }
    }
}
