//! The exam screen: top bar (title, candidate, timer, save status, text size), the answer sheet
//! on the left, the current question in the middle, the actions at the bottom, and the submit
//! confirmation.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use egui::text::{LayoutJob, TextFormat};
use egui::{
    Align, CornerRadius, Frame, Id, Layout, Margin, RichText, Stroke, TextEdit, TextStyle, Ui, vec2,
};
use exam_domain::limits::{BLANK_ANSWER_CHARS_MAX, ESSAY_CHARS_MAX};
use exam_domain::media::{Segment, segments};
use exam_domain::{BlankBody, CandidateItem, CandidatePaper, ItemBody, ItemId, OptionId, Response};
use exam_ui::theme::{palette, prompt_style, timer_style, title_style};
use exam_ui::widgets::{
    BannerKind, ButtonKind, CellState, banner_ui, big_button, big_button_ui, caption, card,
    choice_row_ui, legend_ui, nav_cell_ui, toggle_tile_ui,
};
use exam_ui::{Key, Lang, strings, tr};

use super::ExamApp;
use crate::model::{Command, ExamBackend, ExamState, Link};

/// Below this the timer turns amber.
const TIME_WARN: Duration = Duration::from_secs(10 * 60);
/// Below this the timer turns red.
const TIME_DANGER: Duration = Duration::from_secs(5 * 60);

/// One question with where it sits: its section's title and its 1-based number.
struct Placed<'a> {
    section: &'a str,
    number: usize,
    item: &'a CandidateItem,
}

fn placed(paper: &CandidatePaper) -> Vec<Placed<'_>> {
    paper
        .sections
        .iter()
        .flat_map(|s| s.items.iter().map(move |item| (s.title.as_str(), item)))
        .enumerate()
        .map(|(i, (section, item))| Placed {
            section,
            number: i + 1,
            item,
        })
        .collect()
}

/// What the actions around the question asked for this frame.
#[derive(Default)]
struct Actions {
    go_to: Option<usize>,
    toggle_flag: bool,
    open_submit: bool,
}

impl<B: ExamBackend> ExamApp<B> {
    /// The whole exam screen for the paper in `state`.
    pub fn exam_ui(&mut self, ui: &mut Ui, state: &ExamState) {
        let lang = self.lang;
        let Some(paper) = state.paper.clone() else {
            ui.vertical_centered(|ui| {
                ui.add_space(ui.available_height() * 0.4);
                ui.label(RichText::new(tr(lang, Key::PaperLoading)).text_style(TextStyle::Heading));
            });
            return;
        };
        let items = placed(&paper);
        let Some(last) = items.len().checked_sub(1) else {
            return;
        };
        self.exam.current = self.exam.current.min(last);
        let now = ui.input(|i| i.time);
        let mut actions = Actions::default();

        self.top_bar_ui(ui, state);
        self.actions_ui(ui, &items, &mut actions);
        self.sheet_ui(ui, state, &paper, &items, &mut actions);

        let frame = Frame::new()
            .fill(palette::BACKGROUND)
            .inner_margin(Margin::same(20));
        egui::CentralPanel::default().frame(frame).show(ui, |ui| {
            if let Some(notice) = &state.notice
                && !self.exam.confirm_open
            {
                banner_ui(
                    ui,
                    BannerKind::Danger,
                    strings::bilingual(self.lang, notice),
                    None,
                );
                ui.add_space(8.0);
            }
            if let Some(current) = items.get(self.exam.current) {
                egui::ScrollArea::vertical()
                    .id_salt(("question", current.number))
                    .auto_shrink([false, false])
                    .show(ui, |ui| self.item_ui(ui, state, current, now));
            }
        });

        if actions.toggle_flag
            && let Some(current) = items.get(self.exam.current)
        {
            let id = &current.item.id;
            if !self.exam.flagged.remove(id) {
                self.exam.flagged.insert(id.clone());
            }
        }
        if let Some(index) = actions.go_to {
            self.flush_all(state);
            self.exam.current = index.min(last);
        }
        if actions.open_submit {
            self.flush_all(state);
            self.exam.confirm_open = true;
        }
        for id in self.exam.drafts.idle(now) {
            self.flush(&id, state);
        }
        if let Some(due) = self.exam.drafts.next_due_in(now) {
            ui.ctx()
                .request_repaint_after(Duration::from_secs_f64(due.max(0.05)));
        }
        if state.clock.as_ref().is_some_and(|c| c.running) {
            ui.ctx().request_repaint_after(Duration::from_millis(250));
        }

        if self.exam.confirm_open || state.submitting {
            self.submit_confirm_ui(ui, state, &items);
        }
    }

    /// Sends `item`'s typed text if it changed.
    fn flush(&mut self, item: &ItemId, state: &ExamState) {
        if let Some(response) = self.exam.drafts.take(item, state.answers.get(item)) {
            self.send(Command::Save {
                item: item.clone(),
                response,
            });
        }
    }

    fn flush_all(&mut self, state: &ExamState) {
        for id in self.exam.drafts.dirty() {
            self.flush(&id, state);
        }
    }

    fn is_answered(&self, state: &ExamState, item: &ItemId) -> bool {
        match self.exam.drafts.draft(item) {
            Some(draft) if draft.is_dirty() => draft.is_answered(),
            _ => state.answers.get(item).is_some_and(Response::is_answered),
        }
    }

    fn top_bar_ui(&mut self, ui: &mut Ui, state: &ExamState) {
        let lang = self.lang;
        let frame = Frame::new()
            .fill(palette::SURFACE)
            .stroke(Stroke::new(1.0, palette::BORDER))
            .inner_margin(Margin::symmetric(20, 10));
        egui::Panel::top("exam-top")
            .show_separator_line(false)
            .frame(frame)
            .show(ui, |ui| {
                ui.columns(3, |cols| {
                    cols[0].with_layout(Layout::top_down(Align::Min), |ui| {
                        // One line: a long title is cut with … (full text on hover) rather than
                        // pushing the exam down.
                        ui.add(
                            egui::Label::new(
                                RichText::new(&state.session_title).text_style(TextStyle::Heading),
                            )
                            .truncate(),
                        );
                        if let Some(card) = &state.candidate {
                            ui.label(
                                RichText::new(format!(
                                    "{}　{} {}",
                                    card.name,
                                    tr(lang, Key::Seat),
                                    card.seat
                                ))
                                .color(palette::MUTED),
                            );
                        }
                    });
                    cols[1].vertical_centered(|ui| self.timer_ui(ui, state));
                    cols[2].with_layout(Layout::top_down(Align::Max), |ui| {
                        ui.horizontal(|ui| {
                            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                                self.font_size_ui(ui, true);
                            });
                        });
                        save_status_ui(ui, state, lang);
                    });
                });
            });
    }

    fn timer_ui(&self, ui: &mut Ui, state: &ExamState) {
        let lang = self.lang;
        let (text, remaining, paused) = match &state.clock {
            Some(clock) => {
                let left = clock.remaining_at(Instant::now());
                (
                    strings::clock(left),
                    Some(left),
                    (!clock.running).then_some(clock),
                )
            }
            None => ("--:--".to_owned(), None, None),
        };
        let danger = remaining.is_some_and(|r| r < TIME_DANGER);
        let warn = remaining.is_some_and(|r| r < TIME_WARN);
        let (fill, fg, border) = if danger {
            (palette::DANGER_SOFT, palette::DANGER, palette::DANGER)
        } else if warn {
            (palette::WARN_SOFT, palette::WARN, palette::WARN_BORDER)
        } else {
            (palette::BACKGROUND, palette::TEXT, palette::BORDER)
        };
        Frame::new()
            .fill(fill)
            .stroke(Stroke::new(if warn { 2.0 } else { 1.0 }, border))
            .corner_radius(CornerRadius::same(10))
            .inner_margin(Margin::symmetric(20, 4))
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.label(RichText::new(tr(lang, Key::TimeLeft)).color(fg));
                    ui.label(RichText::new(text).text_style(timer_style()).color(fg));
                });
            });
        if let Some(clock) = paused {
            let reason = clock.paused_reason.as_deref().unwrap_or_default();
            let text = format!("{}  {}", tr(lang, Key::ClockPaused), reason);
            ui.label(RichText::new(text.trim()).strong().color(palette::WARN));
        }
    }

    fn sheet_ui(
        &mut self,
        ui: &mut Ui,
        state: &ExamState,
        paper: &CandidatePaper,
        items: &[Placed<'_>],
        actions: &mut Actions,
    ) {
        let lang = self.lang;
        let side = ui.spacing().interact_size.y * 1.1;
        let gap = ui.spacing().item_spacing.x;
        let width = 5.0 * side + 4.0 * gap + 2.0 * 20.0 + 16.0;
        let frame = Frame::new()
            .fill(palette::SURFACE)
            .stroke(Stroke::new(1.0, palette::BORDER))
            .inner_margin(Margin::same(20));
        egui::Panel::left("answer-sheet")
            .show_separator_line(false)
            .resizable(false)
            .exact_size(width)
            .frame(frame)
            .show(ui, |ui| {
                ui.label(RichText::new(tr(lang, Key::AnswerSheet)).text_style(TextStyle::Heading));
                let answered = items
                    .iter()
                    .filter(|p| self.is_answered(state, &p.item.id))
                    .count();
                ui.label(caption(strings::answered_progress(
                    lang,
                    answered,
                    items.len(),
                )));
                ui.add_space(4.0);
                egui::ScrollArea::vertical()
                    .auto_shrink([false, true])
                    .show(ui, |ui| {
                        let mut number = 0;
                        for section in &paper.sections {
                            ui.label(RichText::new(&section.title).strong());
                            ui.horizontal_wrapped(|ui| {
                                for item in &section.items {
                                    let index = number;
                                    number += 1;
                                    let cell = CellState {
                                        answered: self.is_answered(state, &item.id),
                                        flagged: self.exam.flagged.contains(&item.id),
                                        current: index == self.exam.current,
                                    };
                                    let label = strings::item_label(lang, index + 1);
                                    if nav_cell_ui(ui, index + 1, cell, &label).clicked() {
                                        actions.go_to = Some(index);
                                    }
                                }
                            });
                            ui.add_space(8.0);
                        }
                        ui.separator();
                        let legend = [
                            (
                                CellState {
                                    answered: true,
                                    ..CellState::default()
                                },
                                Key::LegendAnswered,
                            ),
                            (CellState::default(), Key::LegendUnanswered),
                            (
                                CellState {
                                    flagged: true,
                                    ..CellState::default()
                                },
                                Key::LegendFlagged,
                            ),
                            (
                                CellState {
                                    current: true,
                                    ..CellState::default()
                                },
                                Key::LegendCurrent,
                            ),
                        ];
                        egui::Grid::new("legend")
                            .num_columns(2)
                            .spacing(vec2(12.0, 4.0))
                            .show(ui, |ui| {
                                for (i, (cell, key)) in legend.into_iter().enumerate() {
                                    legend_ui(ui, cell, tr(lang, key));
                                    if i % 2 == 1 {
                                        ui.end_row();
                                    }
                                }
                            });
                    });
            });
    }

    fn actions_ui(&mut self, ui: &mut Ui, items: &[Placed<'_>], actions: &mut Actions) {
        let lang = self.lang;
        let current = self.exam.current;
        let flagged = items
            .get(current)
            .is_some_and(|p| self.exam.flagged.contains(&p.item.id));
        let frame = Frame::new()
            .fill(palette::SURFACE)
            .stroke(Stroke::new(1.0, palette::BORDER))
            .inner_margin(Margin::symmetric(20, 12));
        egui::Panel::bottom("exam-actions")
            .show_separator_line(false)
            .frame(frame)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    let has_prev = current > 0;
                    let has_next = current + 1 < items.len();
                    if big_button_ui(ui, tr(lang, Key::Previous), ButtonKind::Secondary, has_prev)
                        .clicked()
                    {
                        actions.go_to = Some(current.saturating_sub(1));
                    }
                    if big_button_ui(ui, tr(lang, Key::Next), ButtonKind::Primary, has_next)
                        .clicked()
                    {
                        actions.go_to = Some(current + 1);
                    }
                    ui.add_space(24.0);
                    let flag_text = tr(lang, if flagged { Key::Unflag } else { Key::Flag });
                    let flag = big_button(flag_text, ButtonKind::Secondary)
                        .min_size(vec2(
                            ui.spacing().interact_size.y * 3.6,
                            ui.spacing().interact_size.y * 1.2,
                        ))
                        .stroke(Stroke::new(2.0, palette::FLAG));
                    if ui.add(flag).clicked() {
                        actions.toggle_flag = true;
                    }
                    ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                        if big_button_ui(ui, tr(lang, Key::Submit), ButtonKind::Danger, true)
                            .clicked()
                        {
                            actions.open_submit = true;
                        }
                    });
                });
            });
    }

    fn item_ui(&mut self, ui: &mut Ui, state: &ExamState, placed: &Placed<'_>, now: f64) {
        let lang = self.lang;
        let item = placed.item;
        card().show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(caption(placed.section));
            ui.horizontal_wrapped(|ui| {
                ui.label(
                    RichText::new(strings::item_heading(lang, placed.number, item.weight))
                        .text_style(title_style())
                        .size(ui.text_style_height(&TextStyle::Heading)),
                );
                let kind = match &item.body {
                    ItemBody::TrueFalse => Key::KindTrueFalse,
                    ItemBody::SingleChoice { .. } => Key::KindSingle,
                    ItemBody::MultipleChoice { .. } => Key::KindMultiple,
                    ItemBody::FillIn { .. } => Key::KindFillIn,
                    ItemBody::ShortAnswer => Key::KindShortAnswer,
                };
                tag_ui(ui, tr(lang, kind), palette::ACCENT, palette::ACCENT_SOFT);
                if self.exam.flagged.contains(&item.id) {
                    tag_ui(
                        ui,
                        tr(lang, Key::LegendFlagged),
                        palette::WARN,
                        palette::WARN_SOFT,
                    );
                }
            });
            ui.add_space(8.0);
            let paper = state.paper.as_deref();
            let mut figures = 0;
            self.prompt_ui(ui, paper, item, &mut figures);
            ui.add_space(16.0);
            let saved = state.answers.get(&item.id);
            match &item.body {
                ItemBody::TrueFalse => self.true_false_ui(ui, item, saved),
                ItemBody::SingleChoice { options } => {
                    self.choices_ui(ui, paper, item, options, saved, false, &mut figures);
                }
                ItemBody::MultipleChoice { options } => {
                    self.choices_ui(ui, paper, item, options, saved, true, &mut figures);
                }
                ItemBody::FillIn { .. } | ItemBody::ShortAnswer => {
                    self.text_answer_ui(ui, state, item, now);
                }
            }
        });
    }

    /// The prompt: its text (with numbered gaps for blanks) and, where `[img:PATH]` markers
    /// stand, the pictures, numbered on from `figures`.
    fn prompt_ui(
        &mut self,
        ui: &mut Ui,
        paper: Option<&CandidatePaper>,
        item: &CandidateItem,
        figures: &mut usize,
    ) {
        let lang = self.lang;
        let fill_in = matches!(item.body, ItemBody::FillIn { .. });
        let mut blanks = 0;
        for segment in segments(&item.prompt) {
            match segment {
                Segment::Text(text) => {
                    let text = text.trim_matches('\n');
                    if text.trim().is_empty() {
                        continue;
                    }
                    if fill_in {
                        let (job, count) = fill_in_prompt(ui, text, lang, blanks);
                        blanks += count;
                        ui.label(job);
                    } else {
                        ui.label(RichText::new(text).text_style(prompt_style()));
                    }
                }
                Segment::Image(path) => {
                    *figures += 1;
                    let label = strings::figure_label(lang, *figures);
                    self.media.image_ui(ui, paper, path, &label, lang);
                }
            }
        }
    }

    fn true_false_ui(&mut self, ui: &mut Ui, item: &CandidateItem, saved: Option<&Response>) {
        let lang = self.lang;
        let chosen = match saved {
            Some(Response::TrueFalse(v)) => Some(*v),
            _ => None,
        };
        let unit = ui.spacing().interact_size.y;
        let size = vec2(unit * 4.5, unit * 1.6);
        ui.horizontal(|ui| {
            ui.spacing_mut().item_spacing.x = unit;
            for (value, key) in [(true, Key::True), (false, Key::False)] {
                if toggle_tile_ui(ui, tr(lang, key), chosen == Some(value), size).clicked()
                    && chosen != Some(value)
                {
                    self.send(Command::Save {
                        item: item.id.clone(),
                        response: Response::TrueFalse(value),
                    });
                }
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn choices_ui(
        &mut self,
        ui: &mut Ui,
        paper: Option<&CandidatePaper>,
        item: &CandidateItem,
        options: &[exam_domain::ChoiceOption],
        saved: Option<&Response>,
        multi: bool,
        figures: &mut usize,
    ) {
        let lang = self.lang;
        let chosen: BTreeSet<OptionId> = match saved {
            Some(Response::Choices(c)) => c.clone(),
            _ => BTreeSet::new(),
        };
        ui.spacing_mut().item_spacing.y = ui.spacing().item_spacing.y * 0.8;
        for (position, option) in options.iter().enumerate() {
            let selected = chosen.contains(&option.id);
            let letter = strings::option_letter(position);
            // Pictures of an option are named in its text and shown under its row.
            let mut pictures = Vec::new();
            let text: String = segments(&option.text)
                .into_iter()
                .map(|segment| match segment {
                    Segment::Text(t) => t.to_owned(),
                    Segment::Image(path) => {
                        *figures += 1;
                        let label = strings::figure_label(lang, *figures);
                        pictures.push((path, label.clone()));
                        format!("（{label}）")
                    }
                })
                .collect();
            let clicked = choice_row_ui(ui, &letter, text.trim(), selected, multi).clicked();
            for (path, label) in pictures {
                ui.indent(("option-picture", position), |ui| {
                    self.media.image_ui(ui, paper, path, &label, lang);
                });
            }
            if clicked {
                let next = if multi {
                    let mut next = chosen.clone();
                    if !next.remove(&option.id) {
                        next.insert(option.id.clone());
                    }
                    Some(next)
                } else {
                    (!selected).then(|| BTreeSet::from([option.id.clone()]))
                };
                if let Some(next) = next {
                    self.send(Command::Save {
                        item: item.id.clone(),
                        response: Response::Choices(next),
                    });
                }
            }
        }
    }

    fn text_answer_ui(&mut self, ui: &mut Ui, state: &ExamState, item: &CandidateItem, now: f64) {
        let lang = self.lang;
        let saved = state.answers.get(&item.id);
        let essay = matches!(item.body, ItemBody::ShortAnswer);
        let Some(draft) = self.exam.drafts.draft_mut(item, saved) else {
            return;
        };
        let mut changed = false;
        let mut lost_focus = false;
        let mut chosen = false;
        if essay {
            let label = ui.label(RichText::new(tr(lang, Key::AnswerArea)).strong());
            if let Some(text) = draft.texts.first_mut() {
                let response = ui
                    .add(
                        TextEdit::multiline(text)
                            .id(Id::unique(("answer", &item.id, 0usize)))
                            .desired_rows(10)
                            .desired_width(f32::INFINITY)
                            .char_limit(ESSAY_CHARS_MAX)
                            .margin(vec2(12.0, 10.0)),
                    )
                    .labelled_by(label.id);
                changed |= response.changed();
                lost_focus |= response.lost_focus();
                let count = text.chars().count();
                ui.with_layout(Layout::right_to_left(Align::Min), |ui| {
                    ui.label(caption(strings::char_count(lang, count, ESSAY_CHARS_MAX)));
                });
            }
        } else {
            let no_blanks = Vec::new();
            let bodies: &Vec<BlankBody> = match &item.body {
                ItemBody::FillIn { blanks } => blanks,
                _ => &no_blanks,
            };
            let width = (ui.available_width() * 0.6).max(240.0);
            egui::Grid::new(("blanks", &item.id))
                .num_columns(2)
                .spacing(vec2(16.0, 12.0))
                .show(ui, |ui| {
                    for (k, text) in draft.texts.iter_mut().enumerate() {
                        let label = ui.label(
                            RichText::new(strings::blank_label(lang, k + 1))
                                .strong()
                                .color(palette::ACCENT),
                        );
                        if let Some(body) = bodies.get(k).filter(|b| b.is_choice()) {
                            // A choice blank: a drop-down, saved as soon as an option is chosen.
                            let shown = body
                                .choices
                                .iter()
                                .find(|o| o.id.as_str() == text.as_str())
                                .map_or(tr(lang, Key::ChooseOption), |o| o.text.as_str());
                            let combo = egui::ComboBox::from_id_salt(("choice-blank", &item.id, k))
                                .width(width)
                                .selected_text(RichText::new(shown).text_style(TextStyle::Heading))
                                .show_ui(ui, |ui| {
                                    for option in &body.choices {
                                        let selected = option.id.as_str() == text.as_str();
                                        if ui
                                            .selectable_label(
                                                selected,
                                                RichText::new(&option.text)
                                                    .text_style(TextStyle::Heading),
                                            )
                                            .clicked()
                                            && !selected
                                        {
                                            *text = option.id.to_string();
                                            chosen = true;
                                        }
                                    }
                                });
                            combo.response.labelled_by(label.id);
                            ui.end_row();
                            continue;
                        }
                        let response = ui
                            .add(
                                TextEdit::singleline(text)
                                    .id(Id::unique(("answer", &item.id, k)))
                                    .font(TextStyle::Heading)
                                    .char_limit(BLANK_ANSWER_CHARS_MAX)
                                    .desired_width(width)
                                    .margin(vec2(12.0, 8.0)),
                            )
                            .labelled_by(label.id);
                        changed |= response.changed();
                        lost_focus |= response.lost_focus();
                        ui.end_row();
                    }
                });
        }
        if changed || chosen {
            self.exam.drafts.edited(&item.id, now);
        }
        if lost_focus || chosen {
            self.flush(&item.id, state);
        }
    }

    fn submit_confirm_ui(&mut self, ui: &mut Ui, state: &ExamState, items: &[Placed<'_>]) {
        let lang = self.lang;
        let unanswered = state.unanswered_numbers();
        let flagged: Vec<usize> = items
            .iter()
            .filter(|p| self.exam.flagged.contains(&p.item.id))
            .map(|p| p.number)
            .collect();
        let unit = ui.spacing().interact_size.y;
        let mut back = false;
        let mut confirm = false;
        let modal = egui::Modal::new(Id::unique("submit-confirm"))
            .frame(card().inner_margin(Margin::same(28)))
            .show(ui.ctx(), |ui| {
                ui.set_width(unit * 14.0);
                ui.label(RichText::new(tr(lang, Key::SubmitTitle)).text_style(title_style()));
                ui.add_space(8.0);
                if unanswered.is_empty() {
                    banner_ui(ui, BannerKind::Ok, tr(lang, Key::AllAnswered), None);
                } else {
                    let list = strings::number_list(lang, &unanswered);
                    let title = format!("{}{}", tr(lang, Key::UnansweredList), list);
                    banner_ui(ui, BannerKind::Warn, &title, None);
                }
                if !flagged.is_empty() {
                    let list = strings::number_list(lang, &flagged);
                    ui.label(format!("{}{}", tr(lang, Key::FlaggedList), list));
                }
                ui.add_space(8.0);
                ui.label(
                    RichText::new(tr(lang, Key::SubmitWarning)).text_style(TextStyle::Heading),
                );
                if let Some(notice) = &state.notice {
                    banner_ui(
                        ui,
                        BannerKind::Danger,
                        strings::bilingual(lang, notice),
                        None,
                    );
                }
                if state.submitting {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(tr(lang, Key::Submitting));
                    });
                }
                ui.add_space(12.0);
                ui.horizontal(|ui| {
                    let enabled = !state.submitting;
                    back = big_button_ui(
                        ui,
                        tr(lang, Key::BackToCheck),
                        ButtonKind::Secondary,
                        enabled,
                    )
                    .clicked();
                    ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                        confirm = big_button_ui(
                            ui,
                            tr(lang, Key::ConfirmSubmit),
                            ButtonKind::Danger,
                            enabled,
                        )
                        .clicked();
                    });
                });
            });
        let escape = modal.should_close();
        if !state.submitting && (back || escape) {
            self.exam.confirm_open = false;
        }
        if confirm && !state.submitting {
            self.flush_all(state);
            self.send(Command::Submit);
        }
    }
}

/// 全部已保存 / 正在保存（N）… / 离线：… under the timer.
fn save_status_ui(ui: &mut Ui, state: &ExamState, lang: Lang) {
    let (text, color) = match state.link {
        Link::Reconnecting { .. } | Link::Connecting => {
            (tr(lang, Key::OfflineSaved).to_owned(), palette::WARN)
        }
        Link::Online if state.unacked == 0 => (tr(lang, Key::AllSaved).to_owned(), palette::OK),
        Link::Online => (strings::saving(lang, state.unacked), palette::MUTED),
    };
    ui.label(RichText::new(text).strong().color(color));
}

/// A small rounded tag next to the question heading.
fn tag_ui(ui: &mut Ui, text: &str, fg: egui::Color32, bg: egui::Color32) {
    Frame::new()
        .fill(bg)
        .corner_radius(CornerRadius::same(6))
        .inner_margin(Margin::symmetric(10, 3))
        .show(ui, |ui| {
            ui.label(RichText::new(text).color(fg).text_style(TextStyle::Small));
        });
}

/// The text around the blanks of a fill-in prompt: a run of four or more `_` is one blank.
fn split_blanks(prompt: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut chars = prompt.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '_' {
            continue;
        }
        let mut end = i + 1;
        while let Some(&(j, '_')) = chars.peek() {
            end = j + 1;
            chars.next();
        }
        if end - i >= 4 {
            parts.push(&prompt[start..i]);
            start = end;
        }
    }
    parts.push(&prompt[start..]);
    parts
}

/// A piece of the prompt with each blank shown as a marked, numbered gap matching the fields
/// below, numbered on from `before`; also how many blanks it has.
fn fill_in_prompt(ui: &Ui, prompt: &str, lang: Lang, before: usize) -> (LayoutJob, usize) {
    let font = prompt_style().resolve(ui.style());
    let plain = TextFormat {
        font_id: font.clone(),
        color: palette::TEXT,
        ..Default::default()
    };
    let blank = TextFormat {
        font_id: font,
        color: palette::ACCENT,
        background: palette::ACCENT_SOFT,
        underline: Stroke::new(2.0, palette::ACCENT),
        ..Default::default()
    };
    let mut job = LayoutJob::default();
    let parts = split_blanks(prompt);
    let count = parts.len().saturating_sub(1);
    for (k, part) in parts.into_iter().enumerate() {
        if k > 0 {
            job.append(
                &format!(" （{}） ", strings::blank_label(lang, before + k)),
                0.0,
                blank.clone(),
            );
        }
        job.append(part, 0.0, plain.clone());
    }
    (job, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_are_runs_of_four_underscores() {
        assert_eq!(split_blanks("安全电压为____V"), vec!["安全电压为", "V"]);
        assert_eq!(split_blanks("____和______"), vec!["", "和", ""]);
        assert_eq!(split_blanks("a_b__c"), vec!["a_b__c"]);
    }
}
