//! The look: a calm, high-contrast light theme with large text and big click targets, scaled by
//! a [`FontScale`] the candidate can change. Screens draw with [`palette`] colours and the named
//! text styles here ([`prompt_style`], [`timer_style`], [`title_style`]) so the scale reaches them.

use egui::{
    Color32, CornerRadius, FontFamily, FontId, Margin, Stroke, Style, TextStyle, Theme, Vec2,
    Visuals,
};

use crate::fonts;

/// The colours of every screen. Text colours reach at least 7:1 contrast on [`palette::SURFACE`].
pub mod palette {
    use egui::Color32;

    /// Window background.
    pub const BACKGROUND: Color32 = Color32::from_rgb(0xEE, 0xF1, 0xF5);
    /// Cards, bars and text fields.
    pub const SURFACE: Color32 = Color32::WHITE;
    pub const TEXT: Color32 = Color32::from_rgb(0x17, 0x1C, 0x24);
    pub const MUTED: Color32 = Color32::from_rgb(0x44, 0x4F, 0x5C);
    pub const BORDER: Color32 = Color32::from_rgb(0xB8, 0xC1, 0xCC);
    /// Buttons at rest.
    pub const CONTROL: Color32 = Color32::from_rgb(0xE4, 0xE9, 0xEF);
    /// The one accent: primary buttons, answered questions, selection outlines.
    pub const ACCENT: Color32 = Color32::from_rgb(0x1A, 0x4F, 0x8F);
    pub const ACCENT_HOVER: Color32 = Color32::from_rgb(0x22, 0x60, 0xA8);
    /// Background of a selected option.
    pub const ACCENT_SOFT: Color32 = Color32::from_rgb(0xDD, 0xE9, 0xF8);
    pub const ON_ACCENT: Color32 = Color32::WHITE;
    /// Flag markers.
    pub const FLAG: Color32 = Color32::from_rgb(0xD9, 0x6B, 0x00);
    /// Warnings: the timer under 10 minutes, the offline banner.
    pub const WARN: Color32 = Color32::from_rgb(0x8A, 0x4B, 0x00);
    pub const WARN_SOFT: Color32 = Color32::from_rgb(0xFF, 0xF1, 0xCC);
    pub const WARN_BORDER: Color32 = Color32::from_rgb(0xE0, 0xA3, 0x00);
    /// Errors and the timer under 5 minutes.
    pub const DANGER: Color32 = Color32::from_rgb(0xB0, 0x1C, 0x1C);
    pub const DANGER_SOFT: Color32 = Color32::from_rgb(0xFD, 0xE4, 0xE4);
    pub const OK: Color32 = Color32::from_rgb(0x13, 0x6B, 0x34);
    pub const OK_SOFT: Color32 = Color32::from_rgb(0xE0, 0xF3, 0xE6);
}

/// How much larger than the default the candidate wants text, in fixed steps from 0.8× to 2×.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FontScale {
    step: u8,
}

impl FontScale {
    /// The factors the candidate steps through with A− / A+.
    pub const STEPS: [f32; 8] = [0.8, 0.9, 1.0, 1.15, 1.3, 1.5, 1.75, 2.0];
    const DEFAULT_STEP: u8 = 2;

    pub fn factor(self) -> f32 {
        Self::STEPS
            .get(usize::from(self.step))
            .copied()
            .unwrap_or(1.0)
    }

    /// The next larger step (the same at the largest).
    #[must_use]
    pub fn larger(self) -> Self {
        Self {
            step: (self.step + 1).min(Self::STEPS.len() as u8 - 1),
        }
    }

    /// The next smaller step (the same at the smallest).
    #[must_use]
    pub fn smaller(self) -> Self {
        Self {
            step: self.step.saturating_sub(1),
        }
    }

    pub fn is_largest(self) -> bool {
        usize::from(self.step) + 1 >= Self::STEPS.len()
    }

    pub fn is_smallest(self) -> bool {
        self.step == 0
    }

    /// The scale as a whole percentage, e.g. `115`.
    pub fn percent(self) -> u32 {
        (self.factor() * 100.0).round() as u32
    }
}

impl Default for FontScale {
    fn default() -> Self {
        Self {
            step: Self::DEFAULT_STEP,
        }
    }
}

/// Text sizes at 1×, in points. Large on purpose: many candidates are past fifty.
const SMALL_PT: f32 = 17.0;
const BODY_PT: f32 = 21.0;
const BUTTON_PT: f32 = 21.0;
const HEADING_PT: f32 = 27.0;
const MONO_PT: f32 = 20.0;
const PROMPT_PT: f32 = 25.0;
const TITLE_PT: f32 = 34.0;
const TIMER_PT: f32 = 34.0;

/// The question prompt: the largest running text on the screen.
pub fn prompt_style() -> TextStyle {
    TextStyle::Name("exam-prompt".into())
}

/// The remaining time in the top bar, bold.
pub fn timer_style() -> TextStyle {
    TextStyle::Name("exam-timer".into())
}

/// Screen titles (登录, 已交卷 …), bold.
pub fn title_style() -> TextStyle {
    TextStyle::Name("exam-title".into())
}

/// The style for `scale`: every size, spacing and colour of the theme.
pub fn style(scale: FontScale) -> Style {
    let k = scale.factor();
    let bold = fonts::bold_family();
    let text_styles = [
        (
            TextStyle::Small,
            FontId::new(SMALL_PT * k, FontFamily::Proportional),
        ),
        (
            TextStyle::Body,
            FontId::new(BODY_PT * k, FontFamily::Proportional),
        ),
        (
            TextStyle::Button,
            FontId::new(BUTTON_PT * k, FontFamily::Proportional),
        ),
        (
            TextStyle::Heading,
            FontId::new(HEADING_PT * k, bold.clone()),
        ),
        (
            TextStyle::Monospace,
            FontId::new(MONO_PT * k, FontFamily::Monospace),
        ),
        (
            prompt_style(),
            FontId::new(PROMPT_PT * k, FontFamily::Proportional),
        ),
        (title_style(), FontId::new(TITLE_PT * k, bold.clone())),
        (timer_style(), FontId::new(TIMER_PT * k, bold)),
    ]
    .into();
    let mut style = Style {
        text_styles,
        ..Style::default()
    };

    // Spacing grows with the text, a little slower, so large text still fits a 1366×768 screen.
    let s = 1.0 + (k - 1.0) * 0.6;
    let spacing = &mut style.spacing;
    spacing.item_spacing = Vec2::new(12.0, 12.0) * s;
    spacing.button_padding = Vec2::new(20.0, 10.0) * s;
    spacing.interact_size = Vec2::new(48.0, 44.0) * s;
    spacing.icon_width = 24.0 * s;
    spacing.icon_width_inner = 14.0 * s;
    spacing.icon_spacing = 10.0 * s;
    spacing.text_edit_width = 380.0 * s;
    spacing.window_margin = Margin::same((24.0 * s) as i8);
    spacing.menu_margin = Margin::same((12.0 * s) as i8);
    spacing.scroll.bar_width = 12.0;
    spacing.scroll.floating = false;
    // Visible (candidates must see there is more) but not a black slab.
    spacing.scroll.foreground_color = false;
    spacing.scroll.dormant_handle_opacity = 0.3;
    spacing.scroll.active_handle_opacity = 0.45;
    spacing.scroll.interact_handle_opacity = 0.65;
    spacing.scroll.dormant_background_opacity = 0.0;

    style.visuals = visuals();
    style.interaction.tooltip_delay = 0.3;
    style.interaction.selectable_labels = false;
    style.animation_time = 0.0;
    style
}

/// Light, calm, high contrast; a thick accent outline on focus.
pub fn visuals() -> Visuals {
    use palette::*;
    let mut v = Visuals::light();
    let radius = CornerRadius::same(6);
    v.panel_fill = BACKGROUND;
    v.window_fill = SURFACE;
    v.window_stroke = Stroke::new(1.0, BORDER);
    v.window_corner_radius = CornerRadius::same(10);
    v.extreme_bg_color = SURFACE;
    v.text_edit_bg_color = Some(SURFACE);
    v.faint_bg_color = Color32::from_rgb(0xF6, 0xF8, 0xFA);
    v.warn_fg_color = WARN;
    v.error_fg_color = DANGER;
    v.hyperlink_color = ACCENT;
    v.selection.bg_fill = ACCENT_SOFT;
    v.selection.stroke = Stroke::new(2.5, ACCENT);

    let w = &mut v.widgets;
    w.noninteractive.fg_stroke = Stroke::new(1.0, TEXT);
    w.noninteractive.bg_stroke = Stroke::new(1.0, BORDER);
    w.noninteractive.bg_fill = SURFACE;
    w.noninteractive.corner_radius = radius;

    // Also the colour of scroll bar handles: mid grey, visible on white.
    w.inactive.bg_fill = Color32::from_rgb(0xA9, 0xB3, 0xBF);
    w.inactive.weak_bg_fill = CONTROL;
    w.inactive.bg_stroke = Stroke::new(1.0, BORDER);
    w.inactive.fg_stroke = Stroke::new(1.5, TEXT);
    w.inactive.corner_radius = radius;

    w.hovered.bg_fill = ACCENT_SOFT;
    w.hovered.weak_bg_fill = ACCENT_SOFT;
    w.hovered.bg_stroke = Stroke::new(1.5, ACCENT);
    w.hovered.fg_stroke = Stroke::new(1.5, TEXT);
    w.hovered.corner_radius = radius;
    w.hovered.expansion = 0.0;

    w.active.bg_fill = Color32::from_rgb(0xC4, 0xD8, 0xF2);
    w.active.weak_bg_fill = Color32::from_rgb(0xC4, 0xD8, 0xF2);
    w.active.bg_stroke = Stroke::new(2.0, ACCENT);
    w.active.fg_stroke = Stroke::new(2.0, TEXT);
    w.active.corner_radius = radius;
    w.active.expansion = 0.0;

    w.open = w.active;
    v
}

/// Installs the theme for `scale` (light mode only: the exam room is lit).
pub fn apply(ctx: &egui::Context, scale: FontScale) {
    ctx.set_theme(Theme::Light);
    ctx.set_style_of(Theme::Light, style(scale));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn font_scale_steps_are_bounded() {
        let mut s = FontScale::default();
        assert_eq!(s.percent(), 100);
        for _ in 0..20 {
            s = s.larger();
        }
        assert!(s.is_largest());
        assert_eq!(s.percent(), 200);
        for _ in 0..20 {
            s = s.smaller();
        }
        assert!(s.is_smallest());
        assert_eq!(s.percent(), 80);
    }

    #[test]
    fn named_styles_exist_at_every_scale() {
        let mut s = FontScale::default().smaller().smaller();
        loop {
            let style = style(s);
            for name in [
                prompt_style(),
                timer_style(),
                title_style(),
                TextStyle::Heading,
            ] {
                assert!(style.text_styles.contains_key(&name));
            }
            if s.is_largest() {
                break;
            }
            s = s.larger();
        }
    }
}
