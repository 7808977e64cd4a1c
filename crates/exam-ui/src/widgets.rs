//! Shared building blocks: big buttons, banners, cards, answer rows and answer-sheet cells. Each
//! widget gives egui (and so AccessKit, screen readers and egui_kittest) its label and state.

use egui::{
    Align2, Button, Color32, CornerRadius, FontId, Frame, Margin, Pos2, Rect, Response, RichText,
    Role, Sense, Shape, Stroke, StrokeKind, TextStyle, Ui, Vec2, WidgetInfo, pos2, vec2,
};

use crate::theme::palette;

/// The role of a button, which sets its colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonKind {
    /// The one main action of a screen (登录, 确认交卷): accent fill, white text.
    Primary,
    /// Everything else: light fill, dark text.
    Secondary,
    /// An action that cannot be undone, before it is confirmed (交卷).
    Danger,
}

/// A large button: at least three finger-widths wide and a little taller than a text line.
pub fn big_button_ui(ui: &mut Ui, text: &str, kind: ButtonKind, enabled: bool) -> Response {
    let h = ui.spacing().interact_size.y * 1.2;
    let size = vec2(h * 3.2, h);
    ui.add_enabled(enabled, big_button(text, kind).min_size(size))
}

/// The [`Button`] behind [`big_button_ui`], for callers that size it themselves.
pub fn big_button(text: &str, kind: ButtonKind) -> Button<'_> {
    let (fill, fg, stroke) = match kind {
        ButtonKind::Primary => (palette::ACCENT, palette::ON_ACCENT, Stroke::NONE),
        ButtonKind::Secondary => (
            palette::SURFACE,
            palette::TEXT,
            Stroke::new(1.5, palette::BORDER),
        ),
        ButtonKind::Danger => (palette::DANGER, palette::ON_ACCENT, Stroke::NONE),
    };
    Button::new(RichText::new(text).text_style(TextStyle::Button).color(fg))
        .fill(fill)
        .stroke(stroke)
        .corner_radius(CornerRadius::same(8))
}

/// A white card with a hairline border: the frame of forms, question text and dialogs.
pub fn card() -> Frame {
    Frame::new()
        .fill(palette::SURFACE)
        .stroke(Stroke::new(1.0, palette::BORDER))
        .corner_radius(CornerRadius::same(10))
        .inner_margin(Margin::same(24))
}

/// How serious a [`banner_ui`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BannerKind {
    Info,
    Ok,
    Warn,
    Danger,
}

/// A full-width coloured message with a bold title and an optional second line.
pub fn banner_ui(ui: &mut Ui, kind: BannerKind, title: &str, body: Option<&str>) -> Response {
    let (fill, border, fg) = match kind {
        BannerKind::Info => (palette::ACCENT_SOFT, palette::ACCENT, palette::ACCENT),
        BannerKind::Ok => (palette::OK_SOFT, palette::OK, palette::OK),
        BannerKind::Warn => (palette::WARN_SOFT, palette::WARN_BORDER, palette::WARN),
        BannerKind::Danger => (palette::DANGER_SOFT, palette::DANGER, palette::DANGER),
    };
    Frame::new()
        .fill(fill)
        .stroke(Stroke::new(2.0, border))
        .corner_radius(CornerRadius::same(8))
        .inner_margin(Margin::symmetric(20, 12))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal_wrapped(|ui| {
                ui.label(
                    RichText::new(title)
                        .color(fg)
                        .strong()
                        .text_style(TextStyle::Body),
                );
                if let Some(body) = body {
                    ui.label(RichText::new(body).color(palette::TEXT));
                }
            });
        })
        .response
}

/// One answer option as a whole-width clickable row: a radio circle (single choice) or a box
/// (multiple choice), the position letter and the text, wrapped. The accessible name is
/// `"{letter}. {text}"`, with the selected state.
pub fn choice_row_ui(
    ui: &mut Ui,
    letter: &str,
    text: &str,
    selected: bool,
    multi: bool,
) -> Response {
    let pad = ui.spacing().button_padding;
    let icon = ui.spacing().icon_width;
    let gap = ui.spacing().icon_spacing;
    let body = TextStyle::Body.resolve(ui.style());
    let letter_font = FontId::new(body.size, crate::fonts::bold_family());
    let width = ui.available_width().max(200.0);

    let letter_galley =
        ui.painter()
            .layout_no_wrap(format!("{letter}."), letter_font, palette::ACCENT);
    let text_x = pad.x + icon + gap + letter_galley.size().x + gap;
    let wrap = (width - text_x - pad.x).max(80.0);
    let text_galley = ui
        .painter()
        .layout(text.to_owned(), body, palette::TEXT, wrap);
    let content_h = text_galley.size().y.max(icon).max(letter_galley.size().y);
    let height = (content_h + pad.y * 2.0).max(ui.spacing().interact_size.y * 1.2);

    let (rect, response) = ui.allocate_exact_size(vec2(width, height), Sense::click());
    let label = format!("{letter}. {text}");
    let role = if multi {
        Role::CheckBox
    } else {
        Role::RadioButton
    };
    let enabled = ui.is_enabled();
    response.widget_info(|| WidgetInfo::selected(role, enabled, selected, &label));

    if ui.is_rect_visible(rect) {
        let painter = ui.painter();
        let hovered = response.hovered() && enabled;
        let (fill, stroke) = if selected {
            (palette::ACCENT_SOFT, Stroke::new(2.5, palette::ACCENT))
        } else if hovered {
            (
                ui.visuals().faint_bg_color,
                Stroke::new(1.5, palette::ACCENT),
            )
        } else {
            (palette::SURFACE, Stroke::new(1.0, palette::BORDER))
        };
        painter.rect(
            rect,
            CornerRadius::same(8),
            fill,
            stroke,
            StrokeKind::Inside,
        );
        if response.has_focus() {
            focus_ring(painter, rect, 3.0, 10, 2.5);
        }

        let mid_y = rect.top() + pad.y + content_h.min(letter_galley.size().y.max(icon)) / 2.0;
        let icon_center = pos2(rect.left() + pad.x + icon / 2.0, mid_y);
        choice_indicator(painter, icon_center, icon, selected, multi);

        let letter_pos = pos2(
            rect.left() + pad.x + icon + gap,
            mid_y - letter_galley.size().y / 2.0,
        );
        painter.galley(letter_pos, letter_galley, palette::ACCENT);
        let text_pos = pos2(rect.left() + text_x, rect.top() + pad.y);
        painter.galley(text_pos, text_galley, palette::TEXT);
    }
    response
}

/// The keyboard-focus outline drawn `gap` outside a widget's rectangle.
fn focus_ring(painter: &egui::Painter, rect: egui::Rect, gap: f32, radius: u8, width: f32) {
    painter.rect_stroke(
        rect.expand(gap),
        CornerRadius::same(radius),
        Stroke::new(width, palette::ACCENT),
        StrokeKind::Outside,
    );
}

fn choice_indicator(painter: &egui::Painter, center: Pos2, size: f32, selected: bool, multi: bool) {
    let r = size / 2.0;
    let outline = Stroke::new(
        2.0,
        if selected {
            palette::ACCENT
        } else {
            palette::MUTED
        },
    );
    if multi {
        let rect = Rect::from_center_size(center, Vec2::splat(size));
        let fill = if selected {
            palette::ACCENT
        } else {
            palette::SURFACE
        };
        painter.rect(
            rect,
            CornerRadius::same(4),
            fill,
            outline,
            StrokeKind::Inside,
        );
        if selected {
            let check = vec![
                pos2(rect.left() + size * 0.22, rect.center().y),
                pos2(rect.left() + size * 0.42, rect.bottom() - size * 0.26),
                pos2(rect.right() - size * 0.2, rect.top() + size * 0.26),
            ];
            painter.add(Shape::line(check, Stroke::new(2.5, palette::ON_ACCENT)));
        }
    } else {
        painter.circle(center, r, palette::SURFACE, outline);
        if selected {
            painter.circle_filled(center, r * 0.55, palette::ACCENT);
        }
    }
}

/// How one question looks in the answer sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CellState {
    pub answered: bool,
    pub flagged: bool,
    pub current: bool,
}

/// One numbered square of the answer sheet: filled when answered, an orange corner when flagged,
/// a thick dark outline when current. `label` is the accessible name (e.g. "第 3 题").
pub fn nav_cell_ui(ui: &mut Ui, number: usize, state: CellState, label: &str) -> Response {
    let side = ui.spacing().interact_size.y * 1.1;
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), Sense::click());
    let enabled = ui.is_enabled();
    response.widget_info(|| WidgetInfo::selected(Role::Button, enabled, state.current, label));
    if ui.is_rect_visible(rect) {
        let font = TextStyle::Button.resolve(ui.style());
        paint_cell(
            ui.painter(),
            rect,
            &number.to_string(),
            font,
            state,
            response.hovered(),
        );
        if response.has_focus() {
            focus_ring(ui.painter(), rect, 4.0, 8, 2.0);
        }
    }
    response
}

/// Paints an answer-sheet cell; also used for the legend.
pub fn paint_cell(
    painter: &egui::Painter,
    rect: Rect,
    text: &str,
    font: FontId,
    state: CellState,
    hovered: bool,
) {
    let (fill, fg) = if state.answered {
        (palette::ACCENT, palette::ON_ACCENT)
    } else {
        (palette::SURFACE, palette::TEXT)
    };
    let border = if state.current {
        Stroke::new(3.5, palette::TEXT)
    } else if hovered {
        Stroke::new(2.0, palette::ACCENT_HOVER)
    } else {
        Stroke::new(1.0, palette::BORDER)
    };
    painter.rect(
        rect,
        CornerRadius::same(6),
        fill,
        border,
        StrokeKind::Inside,
    );
    if state.flagged {
        let s = rect.width() * 0.36;
        let tri = vec![
            rect.right_top(),
            rect.right_top() + vec2(0.0, s),
            rect.right_top() - vec2(s, 0.0),
        ];
        painter.add(Shape::convex_polygon(tri, palette::FLAG, Stroke::NONE));
    }
    if !text.is_empty() {
        painter.text(rect.center(), Align2::CENTER_CENTER, text, font, fg);
    }
}

/// A small legend entry: a cell swatch and its meaning.
pub fn legend_ui(ui: &mut Ui, state: CellState, text: &str) {
    ui.horizontal(|ui| {
        ui.spacing_mut().interact_size.y = 0.0;
        ui.spacing_mut().item_spacing.x = 6.0;
        let side = ui.text_style_height(&TextStyle::Small) * 1.2;
        let (rect, _) = ui.allocate_exact_size(Vec2::splat(side), Sense::hover());
        let font = TextStyle::Small.resolve(ui.style());
        paint_cell(ui.painter(), rect, "", font, state, false);
        ui.label(
            RichText::new(text)
                .text_style(TextStyle::Small)
                .color(palette::MUTED),
        );
    });
}

/// A muted label of small text.
pub fn caption(text: impl Into<String>) -> RichText {
    RichText::new(text)
        .text_style(TextStyle::Small)
        .color(palette::MUTED)
}

/// Colour for text on [`palette::SURFACE`] by severity: normal, warning, danger.
pub fn severity_color(warn: bool, danger: bool) -> Color32 {
    if danger {
        palette::DANGER
    } else if warn {
        palette::WARN
    } else {
        palette::TEXT
    }
}

/// A large two-state tile with a radio circle (判断题's 正确 / 错误): accent-filled when chosen.
pub fn toggle_tile_ui(ui: &mut Ui, text: &str, selected: bool, size: Vec2) -> Response {
    let (rect, response) = ui.allocate_exact_size(size, Sense::click());
    let enabled = ui.is_enabled();
    response.widget_info(|| WidgetInfo::selected(Role::RadioButton, enabled, selected, text));
    if ui.is_rect_visible(rect) {
        let painter = ui.painter();
        let hovered = response.hovered() && enabled;
        let (fill, fg, stroke) = if selected {
            (
                palette::ACCENT,
                palette::ON_ACCENT,
                Stroke::new(2.5, palette::ACCENT),
            )
        } else if hovered {
            (
                palette::ACCENT_SOFT,
                palette::TEXT,
                Stroke::new(1.5, palette::ACCENT),
            )
        } else {
            (
                palette::SURFACE,
                palette::TEXT,
                Stroke::new(1.0, palette::BORDER),
            )
        };
        painter.rect(
            rect,
            CornerRadius::same(10),
            fill,
            stroke,
            StrokeKind::Inside,
        );
        if response.has_focus() {
            focus_ring(painter, rect, 3.0, 12, 2.5);
        }
        let font = FontId::new(
            TextStyle::Heading.resolve(ui.style()).size,
            crate::fonts::bold_family(),
        );
        let galley = painter.layout_no_wrap(text.to_owned(), font, fg);
        let icon = ui.spacing().icon_width;
        let gap = ui.spacing().icon_spacing;
        let total = icon + gap + galley.size().x;
        let left = rect.center().x - total / 2.0;
        let center = pos2(left + icon / 2.0, rect.center().y);
        let ring = if selected {
            palette::ON_ACCENT
        } else {
            palette::MUTED
        };
        painter.circle(center, icon / 2.0, fill, Stroke::new(2.0, ring));
        if selected {
            painter.circle_filled(center, icon * 0.28, palette::ON_ACCENT);
        }
        let pos = pos2(left + icon + gap, rect.center().y - galley.size().y / 2.0);
        painter.galley(pos, galley, fg);
    }
    response
}
