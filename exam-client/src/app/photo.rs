//! The candidate's photo in the waiting room: decoded once (JPEG or PNG, bounded in size) into a
//! texture, or a neutral placeholder when there is none or it cannot be read.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Cursor;

use egui::{
    Align, ColorImage, CornerRadius, Frame, Layout, RichText, Stroke, TextureHandle,
    TextureOptions, Ui, Vec2,
};
use exam_ui::theme::palette;
use exam_ui::{Key, Lang, tr};

/// Largest photo side we decode, in pixels (an ID photo is a few hundred).
const PHOTO_SIDE_PX_MAX: u32 = 4096;
/// Most memory the decoder may allocate.
const PHOTO_DECODE_BYTES_MAX: u64 = 64 * 1024 * 1024;

enum Decoded {
    Texture(TextureHandle),
    Unreadable,
}

/// The texture of the last photo shown, keyed by a hash of its bytes.
#[derive(Default)]
pub(crate) struct PhotoCache {
    last: Option<(u64, Decoded)>,
}

impl PhotoCache {
    /// Draws the photo in a `size` frame: the picture, or 无照片 / 照片无法显示.
    pub(crate) fn photo_ui(&mut self, ui: &mut Ui, photo: Option<&[u8]>, size: Vec2, lang: Lang) {
        let decoded = photo.map(|bytes| self.decoded(ui.ctx(), bytes));
        Frame::new()
            .fill(palette::BACKGROUND)
            .stroke(Stroke::new(1.0, palette::BORDER))
            .corner_radius(CornerRadius::same(6))
            .show(ui, |ui| {
                ui.set_min_size(size);
                ui.set_max_size(size);
                match decoded {
                    Some(Decoded::Texture(texture)) => {
                        ui.centered_and_justified(|ui| {
                            ui.add(
                                egui::Image::from_texture(&*texture)
                                    .max_size(size)
                                    .alt_text(tr(lang, Key::Photo)),
                            );
                        });
                    }
                    Some(Decoded::Unreadable) => placeholder_ui(ui, tr(lang, Key::PhotoUnreadable)),
                    None => placeholder_ui(ui, tr(lang, Key::NoPhoto)),
                }
            });
    }

    fn decoded(&mut self, ctx: &egui::Context, bytes: &[u8]) -> &Decoded {
        let mut hasher = DefaultHasher::new();
        bytes.hash(&mut hasher);
        let key = hasher.finish();
        if self.last.as_ref().is_none_or(|(k, _)| *k != key) {
            let decoded = match decode(bytes) {
                Some(image) => Decoded::Texture(ctx.load_texture(
                    "candidate-photo",
                    image,
                    TextureOptions::LINEAR,
                )),
                None => Decoded::Unreadable,
            };
            self.last = Some((key, decoded));
        }
        match &self.last {
            Some((_, decoded)) => decoded,
            None => &Decoded::Unreadable,
        }
    }
}

fn placeholder_ui(ui: &mut Ui, text: &str) {
    ui.with_layout(
        Layout::centered_and_justified(egui::Direction::TopDown).with_cross_align(Align::Center),
        |ui| {
            ui.label(RichText::new(text).color(palette::MUTED));
        },
    );
}

/// Decodes a JPEG or PNG within the size limits; `None` for anything else (also used for the
/// pictures of questions).
pub(crate) fn decode(bytes: &[u8]) -> Option<ColorImage> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(PHOTO_SIDE_PX_MAX);
    limits.max_image_height = Some(PHOTO_SIDE_PX_MAX);
    limits.max_alloc = Some(PHOTO_DECODE_BYTES_MAX);
    reader.limits(limits);
    let rgba = reader.decode().ok()?.to_rgba8();
    let size = [rgba.width() as usize, rgba.height() as usize];
    Some(ColorImage::from_rgba_unmultiplied(size, rgba.as_raw()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_photo() {
        assert!(decode(b"not a picture").is_none());
        assert!(decode(&[]).is_none());
    }

    #[test]
    fn a_png_decodes() {
        let mut png = Vec::new();
        let img = image::RgbaImage::from_pixel(3, 4, image::Rgba([10, 20, 30, 255]));
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode");
        let decoded = decode(&png).expect("decodes");
        assert_eq!(decoded.size, [3, 4]);
    }
}
