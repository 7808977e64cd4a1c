//! The candidate's exam window: [`ExamApp`] draws an [`ExamState`] snapshot from an
//! [`ExamBackend`] every frame and sends [`Command`]s back; it never blocks and holds only
//! what is local to the screen (form fields, the current question, flags, text being typed).
//!
//! Screens are `*_ui` functions: [`ExamApp::login_ui`], [`ExamApp::waiting_ui`],
//! [`ExamApp::exam_ui`] (with the submit confirmation) and [`ExamApp::done_ui`]; banners for a
//! lost link or a missing font sit above every screen. [`run_window`] opens the kiosk window.

mod drafts;
mod exam;
mod media;
mod photo;
mod screens;

use std::collections::BTreeSet;

use egui::{Frame, Margin, RichText, Ui};
use exam_domain::ItemId;
use exam_ui::theme::{self, FontScale, palette};
use exam_ui::widgets::{BannerKind, banner_ui};
use exam_ui::{Key, Lang, strings, tr};

use crate::model::{Command, ExamBackend, ExamState, Link, Phase};
use crate::repaint::RepaintHandle;

/// The login form's fields.
#[derive(Debug, Default)]
struct LoginForm {
    admission_no: String,
    id_number: String,
    /// A problem found before sending (an empty field).
    local_error: Option<Key>,
}

/// Screen-local state of the exam.
#[derive(Default)]
struct ExamView {
    /// Index of the question shown, in the candidate's order.
    current: usize,
    /// Questions the candidate flagged to come back to (never sent to the site).
    flagged: BTreeSet<ItemId>,
    drafts: drafts::Drafts,
    confirm_open: bool,
}

/// The candidate's exam application over a backend `B`.
pub struct ExamApp<B: ExamBackend> {
    backend: B,
    lang: Lang,
    font_scale: FontScale,
    applied_scale: Option<FontScale>,
    font_warning: Option<String>,
    kiosk: bool,
    login: LoginForm,
    exam: ExamView,
    photo: photo::PhotoCache,
    media: media::MediaCache,
}

impl<B: ExamBackend> ExamApp<B> {
    pub fn new(backend: B, lang: Lang) -> Self {
        Self {
            backend,
            lang,
            font_scale: FontScale::default(),
            applied_scale: None,
            font_warning: None,
            kiosk: false,
            login: LoginForm::default(),
            exam: ExamView::default(),
            photo: photo::PhotoCache::default(),
            media: media::MediaCache::default(),
        }
    }

    /// Shows `warning` (e.g. a missing CJK font) in a banner above every screen.
    #[must_use]
    pub fn with_font_warning(mut self, warning: Option<String>) -> Self {
        self.font_warning = warning;
        self
    }

    /// Kiosk mode: the window refuses to close while the candidate is waiting or sitting.
    #[must_use]
    pub fn with_kiosk(mut self, kiosk: bool) -> Self {
        self.kiosk = kiosk;
        self
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    pub fn font_scale(&self) -> FontScale {
        self.font_scale
    }

    /// Draws the whole window for one frame.
    pub fn root_ui(&mut self, ui: &mut Ui) {
        if self.applied_scale != Some(self.font_scale) {
            theme::apply(ui.ctx(), self.font_scale);
            // The context's style reaches new passes; this pass's `ui` took its copy already.
            ui.set_style(theme::style(self.font_scale));
            self.applied_scale = Some(self.font_scale);
        }
        let state = self.backend.state();
        self.keep_window_open(ui.ctx(), &state);

        let frame = Frame::new()
            .fill(palette::BACKGROUND)
            .inner_margin(Margin::ZERO);
        egui::CentralPanel::default().frame(frame).show(ui, |ui| {
            self.banners_ui(ui, &state);
            match &state.phase {
                Phase::LoggedOut { .. } => self.login_ui(ui, &state),
                Phase::Waiting { .. } => self.waiting_ui(ui, &state),
                Phase::Exam => self.exam_ui(ui, &state),
                Phase::Done { .. } => self.done_ui(ui, &state),
            }
        });
    }

    /// Banners above every screen: a missing font, a lost link. Never blocking.
    fn banners_ui(&mut self, ui: &mut Ui, state: &ExamState) {
        let warning = self.font_warning.clone();
        let reconnecting = match state.link {
            Link::Reconnecting { tries } => Some(tries),
            Link::Connecting | Link::Online => None,
        };
        if warning.is_none() && reconnecting.is_none() {
            return;
        }
        egui::Panel::top("banners")
            .show_separator_line(false)
            .frame(
                Frame::new()
                    .fill(palette::BACKGROUND)
                    .inner_margin(Margin::symmetric(16, 8)),
            )
            .show(ui, |ui| {
                if let Some(warning) = &warning {
                    // In English too: without the font, Chinese text shows as boxes.
                    let title = "Chinese font missing / 缺少中文字体";
                    banner_ui(ui, BannerKind::Danger, title, Some(warning));
                }
                if let Some(tries) = reconnecting {
                    let lang = self.lang;
                    let body = format!(
                        "{} {}",
                        tr(lang, Key::LinkLostBody),
                        if tries > 0 {
                            strings::reconnect_tries(lang, tries)
                        } else {
                            String::new()
                        }
                    );
                    banner_ui(
                        ui,
                        BannerKind::Warn,
                        tr(lang, Key::LinkLostTitle),
                        Some(body.trim()),
                    );
                }
            });
    }

    /// A− / A+ buttons that change the text size of every screen. In a right-to-left layout
    /// the widgets are added in reverse so they read 字号 A− A+ either way.
    fn font_size_ui(&mut self, ui: &mut Ui, right_to_left: bool) {
        let lang = self.lang;
        let mut parts = [FontPart::Label, FontPart::Smaller, FontPart::Larger];
        if right_to_left {
            parts.reverse();
        }
        for part in parts {
            match part {
                FontPart::Label => {
                    ui.label(RichText::new(tr(lang, Key::FontSize)).color(palette::MUTED));
                }
                FontPart::Smaller => {
                    let r = ui
                        .add_enabled(!self.font_scale.is_smallest(), egui::Button::new("A−"))
                        .on_hover_text(tr(lang, Key::FontSmaller));
                    relabel(&r, tr(lang, Key::FontSmaller));
                    if r.clicked() {
                        self.font_scale = self.font_scale.smaller();
                    }
                }
                FontPart::Larger => {
                    let r = ui
                        .add_enabled(!self.font_scale.is_largest(), egui::Button::new("A+"))
                        .on_hover_text(tr(lang, Key::FontLarger));
                    relabel(&r, tr(lang, Key::FontLarger));
                    if r.clicked() {
                        self.font_scale = self.font_scale.larger();
                    }
                }
            }
        }
    }

    fn send(&self, command: Command) {
        self.backend.send(command);
    }

    fn keep_window_open(&self, ctx: &egui::Context, state: &ExamState) {
        let sitting = matches!(state.phase, Phase::Waiting { .. } | Phase::Exam);
        if self.kiosk && sitting && ctx.input(|i| i.viewport().close_requested()) {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
        }
    }
}

#[derive(Clone, Copy)]
enum FontPart {
    Label,
    Smaller,
    Larger,
}

/// Gives a widget a different accessible name than its visible text (e.g. "A+" → 放大字号).
fn relabel(response: &egui::Response, label: &str) {
    let enabled = response.enabled();
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, enabled, label));
}

impl<B: ExamBackend> eframe::App for ExamApp<B> {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.root_ui(ui);
    }
}

/// Opens the exam window (full-screen kiosk when `fullscreen`) with the CJK font and the theme
/// installed, and runs it until it is closed. `repaint` receives the egui context as soon as it
/// exists, so the backend can wake the window after each state change.
pub fn run_window<B: ExamBackend + 'static>(
    backend: B,
    lang: Lang,
    fullscreen: bool,
    repaint: RepaintHandle,
) -> eframe::Result {
    let title = tr(Lang::Zh, Key::AppTitle);
    let mut viewport = egui::ViewportBuilder::default()
        .with_title(title)
        .with_inner_size([1366.0, 768.0])
        .with_min_inner_size([1024.0, 700.0]);
    if fullscreen {
        viewport = viewport.with_fullscreen(true).with_decorations(false);
    }
    let options = eframe::NativeOptions {
        viewport,
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        title,
        options,
        Box::new(move |cc| {
            repaint.set(&cc.egui_ctx);
            let warning = exam_ui::fonts::install_cjk_font(&cc.egui_ctx)
                .err()
                .map(|e| e.to_string());
            theme::apply(&cc.egui_ctx, FontScale::default());
            let app = ExamApp::new(backend, lang)
                .with_font_warning(warning)
                .with_kiosk(fullscreen);
            Ok(Box::new(app))
        }),
    )
}
