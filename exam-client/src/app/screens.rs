//! The screens around the exam: login, waiting room, done.

use std::time::Instant;

use egui::{Align, Id, Layout, RichText, TextEdit, TextStyle, Ui, vec2};
use exam_domain::limits::ADMISSION_NO_CHARS_MAX;
use exam_protocol::SubmitReason;
use exam_ui::theme::{palette, title_style};
use exam_ui::widgets::{BannerKind, ButtonKind, banner_ui, big_button, caption, card};
use exam_ui::{Key, strings, tr};

use super::ExamApp;
use crate::model::{Command, ExamBackend, ExamState, Link, Phase};

/// Longest ID number: 18 characters (mainland resident ID).
const ID_NUMBER_CHARS_MAX: usize = 18;

/// Lays out a centred column of `width` points, the same for every simple screen.
fn centered_column_ui(ui: &mut Ui, width: f32, add: impl FnOnce(&mut Ui)) {
    let width = width.min(ui.available_width() - 32.0);
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let top = (ui.available_height() * 0.05).max(12.0);
            ui.add_space(top);
            ui.vertical_centered(|ui| {
                ui.set_max_width(width);
                add(ui);
            });
        });
}

impl<B: ExamBackend> ExamApp<B> {
    /// 准考证号 + 身份证号 and a big 登录 button; Enter submits.
    pub fn login_ui(&mut self, ui: &mut Ui, state: &ExamState) {
        let Phase::LoggedOut { busy, error } = &state.phase else {
            return;
        };
        let (busy, lang) = (*busy, self.lang);

        self.corner_controls_ui(ui, true);
        let width = ui.spacing().interact_size.y * 13.0;
        centered_column_ui(ui, width, |ui| {
            card().show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.with_layout(Layout::top_down(Align::Min), |ui| {
                    ui.label(RichText::new(tr(lang, Key::LoginTitle)).text_style(title_style()));
                    ui.label(RichText::new(tr(lang, Key::LoginIntro)).color(palette::MUTED));
                    ui.add_space(8.0);

                    let field_font = TextStyle::Heading;
                    let id_field = Id::unique("login-id-number");

                    let label = ui.label(RichText::new(tr(lang, Key::AdmissionNo)).strong());
                    let adm = ui
                        .add_enabled(
                            !busy,
                            TextEdit::singleline(&mut self.login.admission_no)
                                .font(field_font.clone())
                                .hint_text(tr(lang, Key::AdmissionNoHint))
                                .char_limit(ADMISSION_NO_CHARS_MAX)
                                .desired_width(f32::INFINITY)
                                .margin(vec2(12.0, 8.0)),
                        )
                        .labelled_by(label.id);
                    ui.add_space(4.0);
                    let label = ui.label(RichText::new(tr(lang, Key::IdNumber)).strong());
                    let idn = ui
                        .add_enabled(
                            !busy,
                            TextEdit::singleline(&mut self.login.id_number)
                                .id(id_field)
                                .font(field_font)
                                .hint_text(tr(lang, Key::IdNumberHint))
                                .char_limit(ID_NUMBER_CHARS_MAX)
                                .desired_width(f32::INFINITY)
                                .margin(vec2(12.0, 8.0)),
                        )
                        .labelled_by(label.id);
                    if adm.changed() || idn.changed() {
                        self.login.local_error = None;
                    }

                    let enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
                    let mut submit = false;
                    if enter && adm.lost_focus() {
                        if self.login.id_number.trim().is_empty() {
                            ui.memory_mut(|m| m.request_focus(id_field));
                        } else {
                            submit = true;
                        }
                    }
                    if enter && idn.lost_focus() {
                        submit = true;
                    }

                    let shown_error = self
                        .login
                        .local_error
                        .map(|k| tr(lang, k).to_owned())
                        .or_else(|| {
                            error
                                .as_deref()
                                .map(|e| strings::bilingual(lang, e).to_owned())
                        });
                    if let Some(error) = shown_error {
                        ui.add_space(4.0);
                        banner_ui(ui, BannerKind::Danger, &error, None);
                    }
                    ui.add_space(8.0);

                    let h = ui.spacing().interact_size.y * 1.3;
                    let button = big_button(tr(lang, Key::LoginButton), ButtonKind::Primary)
                        .min_size(vec2(ui.available_width(), h));
                    let clicked = ui
                        .with_layout(Layout::top_down(Align::Center), |ui| {
                            ui.add_enabled(!busy, button)
                        })
                        .inner
                        .clicked();
                    if clicked {
                        submit = true;
                    }
                    if busy {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label(tr(lang, Key::LoginBusy));
                        });
                    }
                    if submit && !busy {
                        self.submit_login();
                    }
                });
            });
            ui.add_space(12.0);
            if state.link == Link::Connecting {
                // No spinner: a waiting screen may stay up for an hour on an old machine.
                ui.label(caption(tr(lang, Key::LinkConnecting)));
            }
            ui.label(caption(tr(lang, Key::RaiseHandForHelp)));
        });
    }

    fn submit_login(&mut self) {
        let admission_no = self.login.admission_no.trim().to_owned();
        // A lower-case x is the same check character as X; candidates type either.
        let id_number = self.login.id_number.trim().to_uppercase();
        if admission_no.is_empty() || id_number.is_empty() {
            self.login.local_error = Some(Key::LoginFillBoth);
            return;
        }
        self.login.local_error = None;
        self.send(Command::Login {
            admission_no,
            id_number,
        });
    }

    /// The candidate's card, photo and a countdown (or 请等待监考员开考).
    pub fn waiting_ui(&mut self, ui: &mut Ui, state: &ExamState) {
        let Phase::Waiting { starts_in, at } = &state.phase else {
            return;
        };
        let lang = self.lang;
        self.corner_controls_ui(ui, false);
        let unit = ui.spacing().interact_size.y;
        centered_column_ui(ui, unit * 18.0, |ui| {
            ui.label(RichText::new(tr(lang, Key::WaitingTitle)).text_style(title_style()));
            ui.add_space(8.0);
            card().show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.horizontal_top(|ui| {
                    let photo = state.candidate.as_ref().and_then(|c| c.photo.as_deref());
                    let size = vec2(unit * 3.6, unit * 4.8);
                    self.photo.photo_ui(ui, photo, size, lang);
                    ui.add_space(16.0);
                    ui.vertical(|ui| {
                        let card = state.candidate.as_ref();
                        let rows = [
                            (Key::Name, card.map(|c| c.name.as_str())),
                            (Key::AdmissionNo, card.map(|c| c.admission_no.as_str())),
                            (Key::IdNumber, card.map(|c| c.id_number_masked.as_str())),
                            (Key::Seat, card.map(|c| c.seat.as_str())),
                            (Key::Session, Some(state.session_title.as_str())),
                        ];
                        egui::Grid::new("candidate-card")
                            .num_columns(2)
                            .spacing(vec2(24.0, 14.0))
                            .show(ui, |ui| {
                                for (key, value) in rows {
                                    ui.label(RichText::new(tr(lang, key)).color(palette::MUTED));
                                    ui.label(
                                        RichText::new(value.unwrap_or("—"))
                                            .text_style(TextStyle::Heading)
                                            .color(palette::TEXT),
                                    );
                                    ui.end_row();
                                }
                            });
                    });
                });
            });
            ui.add_space(12.0);
            banner_ui(ui, BannerKind::Info, tr(lang, Key::CheckYourDetails), None);
            ui.add_space(24.0);

            match starts_in {
                Some(starts_in) => {
                    let left =
                        starts_in.saturating_sub(Instant::now().saturating_duration_since(*at));
                    if left.is_zero() {
                        ui.label(
                            RichText::new(tr(lang, Key::StartingSoon))
                                .text_style(TextStyle::Heading)
                                .color(palette::ACCENT),
                        );
                    } else {
                        ui.horizontal(|ui| {
                            // Centre the row by hand: horizontal layouts start on the left.
                            let timer = exam_ui::theme::timer_style();
                            let w = ui.text_style_height(&timer) * 6.5;
                            ui.add_space(((ui.available_width() - w) / 2.0).max(0.0));
                            ui.label(
                                RichText::new(tr(lang, Key::StartsIn))
                                    .text_style(TextStyle::Heading)
                                    .color(palette::MUTED),
                            );
                            ui.label(
                                RichText::new(strings::clock(left))
                                    .text_style(timer)
                                    .color(palette::ACCENT),
                            );
                        });
                    }
                    ui.ctx()
                        .request_repaint_after(std::time::Duration::from_millis(250));
                }
                None => {
                    // No spinner: waiting may take long and must not keep an old machine busy.
                    ui.label(
                        RichText::new(tr(lang, Key::WaitForProctor))
                            .text_style(TextStyle::Heading)
                            .color(palette::ACCENT),
                    );
                }
            }
        });
    }

    /// 已交卷, why, and a calm word to leave quietly. No answers are shown.
    pub fn done_ui(&mut self, ui: &mut Ui, state: &ExamState) {
        let Phase::Done { reason } = &state.phase else {
            return;
        };
        let lang = self.lang;
        let why = match reason {
            SubmitReason::Candidate => Key::DoneByCandidate,
            SubmitReason::TimeUp => Key::DoneTimeUp,
            SubmitReason::Proctor => Key::DoneByProctor,
        };
        let unit = ui.spacing().interact_size.y;
        centered_column_ui(ui, unit * 16.0, |ui| {
            ui.add_space(unit * 3.0);
            card().show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.vertical_centered(|ui| {
                    ui.label(
                        RichText::new(tr(lang, Key::DoneTitle))
                            .text_style(title_style())
                            .size(ui.text_style_height(&title_style()) * 1.3)
                            .color(palette::OK),
                    );
                    ui.add_space(12.0);
                    ui.label(RichText::new(tr(lang, why)).text_style(TextStyle::Heading));
                    if let Some(card) = &state.candidate {
                        ui.label(
                            RichText::new(format!(
                                "{}  {}  {}",
                                card.name, card.admission_no, card.seat
                            ))
                            .color(palette::MUTED),
                        );
                    }
                    ui.add_space(16.0);
                    ui.label(tr(lang, Key::DoneLeaveQuietly));
                });
            });
        });
    }

    /// Text size (and, before login, the language) in the top-right corner.
    fn corner_controls_ui(&mut self, ui: &mut Ui, with_language: bool) {
        egui::Panel::top("corner-controls")
            .show_separator_line(false)
            .frame(egui::Frame::new().inner_margin(egui::Margin::symmetric(16, 8)))
            .show(ui, |ui| {
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    if with_language {
                        let other = self.lang.other();
                        if ui.button(other.native_name()).clicked() {
                            self.lang = other;
                        }
                        ui.add_space(16.0);
                    }
                    self.font_size_ui(ui, true);
                });
            });
    }
}
