//! The candidate's exam window driven through its accessibility tree (egui_kittest, no GPU) over a
//! fake backend that records every command and applies saves locally, as the real one does.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::accesskit::Toggled;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use exam_client::app::ExamApp;
use exam_client::model::{ClockView, Command, ExamBackend, ExamState, Link, Phase};
use exam_domain::{CandidateItem, CandidatePaper, ItemBody, ItemId, Response, demo, shuffle};
use exam_protocol::{CandidateCard, SubmitReason};
use exam_ui::Lang;

#[derive(Default)]
struct Inner {
    state: ExamState,
    sent: Vec<Command>,
}

/// A backend in memory: `state()` returns what the test put there; `send` records the command
/// and, like the real backend, applies a `Save` to `answers` right away.
#[derive(Clone, Default)]
struct FakeBackend(Rc<RefCell<Inner>>);

impl FakeBackend {
    fn with_state(state: ExamState) -> Self {
        Self(Rc::new(RefCell::new(Inner {
            state,
            sent: Vec::new(),
        })))
    }

    fn sent(&self) -> Vec<Command> {
        self.0.borrow().sent.clone()
    }

    fn saves(&self) -> Vec<(ItemId, Response)> {
        self.sent()
            .into_iter()
            .filter_map(|c| match c {
                Command::Save { item, response } => Some((item, response)),
                _ => None,
            })
            .collect()
    }

    fn update(&self, f: impl FnOnce(&mut ExamState)) {
        f(&mut self.0.borrow_mut().state);
    }
}

impl ExamBackend for FakeBackend {
    fn state(&self) -> ExamState {
        self.0.borrow().state.clone()
    }

    fn send(&self, command: Command) {
        let mut inner = self.0.borrow_mut();
        if let Command::Save { item, response } = &command {
            Arc::make_mut(&mut inner.state.answers).insert(item.clone(), response.clone());
        }
        inner.sent.push(command);
    }
}

fn harness(state: ExamState) -> (Harness<'static, ExamApp<FakeBackend>>, FakeBackend) {
    let backend = FakeBackend::with_state(state);
    let mut builder = Harness::builder().with_size(egui::vec2(1366.0, 768.0));
    // Draw real Chinese glyphs when the machine has a CJK font (Debian: fonts-noto-cjk);
    // otherwise let missing glyphs be boxes: the tree and its labels are the same either way.
    if exam_ui::fonts::find_cjk_fonts().is_ok() {
        builder = builder.with_context_setup(|ctx| {
            let _ = exam_ui::fonts::install_cjk_font(ctx);
        });
    } else {
        builder = builder.allow_missing_glyphs();
    }
    let app_backend = backend.clone();
    let mut harness = builder.build_eframe(move |_cc| ExamApp::new(app_backend, Lang::Zh));
    settle(&mut harness);
    (harness, backend)
}

fn card() -> CandidateCard {
    CandidateCard {
        admission_no: "2026100001".into(),
        name: "王伟".into(),
        id_number_masked: "110105********0011".into(),
        seat: "A-07".into(),
        photo: None,
    }
}

fn paper() -> Arc<CandidatePaper> {
    Arc::new(shuffle::candidate_paper(&demo::small_paper(), 1))
}

fn exam_state() -> ExamState {
    ExamState {
        link: Link::Online,
        phase: Phase::Exam,
        candidate: Some(Arc::new(card())),
        session_title: "低压电工作业".into(),
        paper: Some(paper()),
        clock: Some(ClockView {
            remaining: Duration::from_secs(3600),
            running: true,
            paused_reason: None,
            at: Instant::now(),
        }),
        ..ExamState::default()
    }
}

/// The 1-based number and the item of the first question whose body matches.
fn find_item(paper: &CandidatePaper, pred: impl Fn(&ItemBody) -> bool) -> (usize, CandidateItem) {
    paper
        .items()
        .enumerate()
        .find(|(_, item)| pred(&item.body))
        .map(|(i, item)| (i + 1, item.clone()))
        .expect("the small paper has one item of each kind")
}

/// Some valid answer to `item`.
fn answer_for(item: &CandidateItem) -> Response {
    match &item.body {
        ItemBody::TrueFalse => Response::TrueFalse(true),
        ItemBody::SingleChoice { options } | ItemBody::MultipleChoice { options } => {
            Response::Choices(options.iter().take(1).map(|o| o.id.clone()).collect())
        }
        ItemBody::FillIn { blanks } => Response::Blanks(
            blanks
                .iter()
                .map(|b| match b.choices.first() {
                    Some(o) => o.id.to_string(),
                    None => "36".into(),
                })
                .collect(),
        ),
        ItemBody::ShortAnswer => Response::Essay("答".into()),
    }
}

fn go_to_question(harness: &mut Harness<'_, ExamApp<FakeBackend>>, number: usize) {
    harness.get_by_label(&format!("第 {number} 题")).click();
    settle(harness);
}

/// Runs frames until the window is idle, or for a few frames while a spinner keeps turning
/// (login and submit show one while they wait for the site).
fn settle(harness: &mut Harness<'_, ExamApp<FakeBackend>>) {
    let _ = harness.run_ok();
}

fn toggled(harness: &Harness<'_, ExamApp<FakeBackend>>, label: &str) -> Option<Toggled> {
    harness.get_by_label(label).accesskit_node().toggled()
}

#[test]
fn login_sends_exactly_what_was_typed() {
    let (mut harness, backend) = harness(ExamState::default());
    let who = demo::candidate(0);

    harness.get_by_label("准考证号").focus();
    settle(&mut harness);
    harness
        .get_by_label("准考证号")
        .type_text(who.admission_no.as_str());
    harness.get_by_label("身份证号").focus();
    settle(&mut harness);
    harness
        .get_by_label("身份证号")
        .type_text(who.id_number.as_str());
    settle(&mut harness);
    assert!(backend.sent().is_empty(), "typing sends nothing");

    harness.get_by_label("登录").click();
    settle(&mut harness);
    assert_eq!(
        backend.sent(),
        vec![Command::Login {
            admission_no: who.admission_no.as_str().to_owned(),
            id_number: who.id_number.as_str().to_owned(),
        }]
    );
}

#[test]
fn enter_in_the_id_field_logs_in() {
    let (mut harness, backend) = harness(ExamState::default());
    harness.get_by_label("准考证号").focus();
    settle(&mut harness);
    harness.get_by_label("准考证号").type_text("2026100002");
    harness.get_by_label("身份证号").focus();
    settle(&mut harness);
    harness
        .get_by_label("身份证号")
        .type_text("11010519730602002x");
    settle(&mut harness);
    harness.key_press(egui::Key::Enter);
    settle(&mut harness);
    // The check character is sent upper-case, as the site stores it.
    assert_eq!(
        backend.sent(),
        vec![Command::Login {
            admission_no: "2026100002".into(),
            id_number: "11010519730602002X".into(),
        }]
    );
}

#[test]
fn login_with_an_empty_field_asks_for_both_and_sends_nothing() {
    let (mut harness, backend) = harness(ExamState::default());
    harness.get_by_label("登录").click();
    settle(&mut harness);
    assert!(backend.sent().is_empty());
    harness.get_by_label("请填写准考证号和身份证号。");
}

#[test]
fn a_refused_login_is_shown_and_busy_disables_the_button() {
    let refused = ExamState {
        phase: Phase::LoggedOut {
            busy: false,
            error: Some("准考证号或身份证号不正确".into()),
        },
        ..ExamState::default()
    };
    let (mut harness, backend) = harness(refused);
    harness.get_by_label("准考证号或身份证号不正确");
    assert!(!harness.get_by_label("登录").accesskit_node().is_disabled());

    backend.update(|s| {
        s.phase = Phase::LoggedOut {
            busy: true,
            error: None,
        }
    });
    settle(&mut harness);
    assert!(harness.query_by_label("准考证号或身份证号不正确").is_none());
    assert!(harness.get_by_label("登录").accesskit_node().is_disabled());
    harness.get_by_label("正在登录，请稍候…");
    harness.get_by_label("登录").click();
    settle(&mut harness);
    assert!(
        backend.sent().is_empty(),
        "no second login while one is on its way"
    );
}

#[test]
fn the_waiting_room_shows_the_card_and_waits_for_the_proctor() {
    let state = ExamState {
        link: Link::Online,
        phase: Phase::Waiting {
            starts_in: None,
            at: Instant::now(),
        },
        candidate: Some(Arc::new(card())),
        session_title: "低压电工作业".into(),
        ..ExamState::default()
    };
    let (mut harness, backend) = harness(state);
    for text in [
        "王伟",
        "2026100001",
        "110105********0011",
        "A-07",
        "低压电工作业",
        "无照片",
    ] {
        harness.get_by_label(text);
    }
    harness.get_by_label("请等待监考员开考");
    harness.get_by_label_contains("如有不符，请举手示意监考员");

    backend.update(|s| {
        s.phase = Phase::Waiting {
            starts_in: Some(Duration::from_secs(125)),
            at: Instant::now(),
        }
    });
    settle(&mut harness);
    harness.get_by_label("距离开考还有");
    assert!(harness.query_by_label("02:05").is_some() || harness.query_by_label("02:04").is_some());
}

#[test]
fn choosing_an_option_saves_its_id_not_its_position() {
    let (mut harness, backend) = harness(exam_state());
    let paper = paper();
    let (number, item) = find_item(&paper, |b| matches!(b, ItemBody::SingleChoice { .. }));
    let ItemBody::SingleChoice { options } = &item.body else {
        unreachable!()
    };

    go_to_question(&mut harness, number);
    harness.get_by_label(&format!("第 {number} 题（{} 分）", item.weight));
    // The second option on screen is labelled B whatever its id is.
    let second = &options[1];
    harness.get_by_label(&format!("B. {}", second.text)).click();
    settle(&mut harness);
    assert_eq!(
        backend.saves(),
        vec![(
            item.id.clone(),
            Response::Choices(BTreeSet::from([second.id.clone()]))
        )]
    );
    assert_eq!(
        toggled(&harness, &format!("B. {}", second.text)),
        Some(Toggled::True)
    );
    assert_eq!(
        toggled(&harness, &format!("A. {}", options[0].text)),
        Some(Toggled::False)
    );

    // Choosing another replaces it.
    let first = &options[0];
    harness.get_by_label(&format!("A. {}", first.text)).click();
    settle(&mut harness);
    assert_eq!(
        backend.saves().last(),
        Some(&(
            item.id.clone(),
            Response::Choices(BTreeSet::from([first.id.clone()]))
        ))
    );
}

#[test]
fn multiple_choice_toggles_and_true_false_saves_a_bool() {
    let (mut harness, backend) = harness(exam_state());
    let paper = paper();
    let (number, item) = find_item(&paper, |b| matches!(b, ItemBody::MultipleChoice { .. }));
    let ItemBody::MultipleChoice { options } = &item.body else {
        unreachable!()
    };
    go_to_question(&mut harness, number);
    harness.get_by_label("多选题，可选多项");
    harness
        .get_by_label(&format!("A. {}", options[0].text))
        .click();
    settle(&mut harness);
    harness
        .get_by_label(&format!("C. {}", options[2].text))
        .click();
    settle(&mut harness);
    harness
        .get_by_label(&format!("A. {}", options[0].text))
        .click();
    settle(&mut harness);
    let expected: Vec<_> = [
        BTreeSet::from([options[0].id.clone()]),
        BTreeSet::from([options[0].id.clone(), options[2].id.clone()]),
        BTreeSet::from([options[2].id.clone()]),
    ]
    .into_iter()
    .map(|set| (item.id.clone(), Response::Choices(set)))
    .collect();
    assert_eq!(backend.saves(), expected);

    let (number, item) = find_item(&paper, |b| matches!(b, ItemBody::TrueFalse));
    go_to_question(&mut harness, number);
    harness.get_by_label("错误").click();
    settle(&mut harness);
    assert_eq!(
        backend.saves().last(),
        Some(&(item.id.clone(), Response::TrueFalse(false)))
    );
}

#[test]
fn next_and_previous_move_through_the_questions() {
    let (mut harness, _backend) = harness(exam_state());
    let paper = paper();
    let weights: Vec<u32> = paper.items().map(|i| i.weight).collect();
    harness.get_by_label(&format!("第 1 题（{} 分）", weights[0]));
    assert!(
        harness
            .get_by_label("上一题")
            .accesskit_node()
            .is_disabled()
    );

    harness.get_by_label("下一题").click();
    settle(&mut harness);
    harness.get_by_label(&format!("第 2 题（{} 分）", weights[1]));
    assert_eq!(toggled(&harness, "第 2 题"), Some(Toggled::True));
    assert_eq!(toggled(&harness, "第 1 题"), Some(Toggled::False));

    harness.get_by_label("上一题").click();
    settle(&mut harness);
    harness.get_by_label(&format!("第 1 题（{} 分）", weights[0]));

    go_to_question(&mut harness, weights.len());
    assert!(
        harness
            .get_by_label("下一题")
            .accesskit_node()
            .is_disabled()
    );
}

/// The small paper with its fill-in item under a picture, with a typed blank and an inline
/// choice (a drop-down) of three options, key `Y`.
fn paper_with_inline_choice_and_picture() -> Arc<CandidatePaper> {
    use exam_domain::{Blank, ChoiceOption, ItemKind, MediaFile, OptionId};
    let mut png = Vec::new();
    image::RgbaImage::from_pixel(40, 20, image::Rgba([200, 30, 30, 255]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode");
    let mut paper = demo::small_paper();
    let item = &mut paper.sections[1].items[0];
    item.prompt = "如图所示：\n[img:images/circuit.png]\n安全电压为____V，由____供电。".into();
    let opt = |id: &str, text: &str| ChoiceOption {
        id: OptionId::parse(id).expect("valid"),
        text: text.into(),
    };
    item.kind = ItemKind::FillIn {
        blanks: vec![
            Blank {
                accepted: vec!["36".into()],
                choices: vec![],
            },
            Blank {
                accepted: vec!["Y".into()],
                choices: vec![
                    opt("G", "发电机"),
                    opt("L", "蓄电池"),
                    opt("Y", "安全隔离变压器"),
                ],
            },
        ],
    };
    paper.media.insert(
        "images/circuit.png".into(),
        MediaFile {
            mime: "image/png".into(),
            bytes: png,
        },
    );
    paper.validate().expect("valid");
    Arc::new(shuffle::candidate_paper(&paper, 1))
}

#[test]
fn choosing_an_option_of_an_inline_blank_saves_its_id() {
    let paper = paper_with_inline_choice_and_picture();
    let (mut harness, backend) = harness(ExamState {
        paper: Some(paper.clone()),
        ..exam_state()
    });
    let (number, item) = find_item(&paper, |b| matches!(b, ItemBody::FillIn { .. }));
    go_to_question(&mut harness, number);

    harness.get_by_label("空 2").click();
    settle(&mut harness);
    harness.get_by_label("安全隔离变压器").click();
    settle(&mut harness);
    assert_eq!(
        backend.saves(),
        vec![(
            item.id.clone(),
            Response::Blanks(vec![String::new(), "Y".into()])
        )],
        "the choice is saved at once, as the option's id in the second blank"
    );
    // The drop-down now shows the chosen option.
    assert_eq!(
        harness
            .get_by_label("空 2")
            .accesskit_node()
            .value()
            .as_deref(),
        Some("安全隔离变压器")
    );
}

#[test]
fn a_question_with_a_picture_shows_it() {
    let paper = paper_with_inline_choice_and_picture();
    let (mut harness, _backend) = harness(ExamState {
        paper: Some(paper.clone()),
        ..exam_state()
    });
    let (number, _) = find_item(&paper, |b| matches!(b, ItemBody::FillIn { .. }));
    go_to_question(&mut harness, number);
    let picture = harness.get_by_label("图 1");
    assert_eq!(
        picture.accesskit_node().role(),
        egui::accesskit::Role::Image
    );
    assert!(harness.query_by_label_contains("图片无法显示").is_none());
}

#[test]
fn a_blank_is_saved_after_a_pause_not_per_keystroke() {
    let (mut harness, backend) = harness(exam_state());
    let paper = paper();
    let (number, item) = find_item(&paper, |b| matches!(b, ItemBody::FillIn { .. }));
    go_to_question(&mut harness, number);

    harness.get_by_label("空 1").focus();
    settle(&mut harness);
    harness.get_by_label("空 1").type_text("3");
    settle(&mut harness);
    harness.get_by_label("空 1").type_text("6");
    settle(&mut harness);
    assert!(backend.saves().is_empty(), "no save while typing");

    // Each step is 0.25 s of egui time: two seconds of not typing.
    harness.run_steps(8);
    assert_eq!(
        backend.saves(),
        vec![(item.id.clone(), Response::Blanks(vec!["36".into()]))]
    );
    harness.run_steps(8);
    assert_eq!(
        backend.saves().len(),
        1,
        "an unchanged text is not saved again"
    );
}

#[test]
fn typed_text_is_saved_when_moving_to_another_question() {
    let (mut harness, backend) = harness(exam_state());
    let paper = paper();
    let (number, item) = find_item(&paper, |b| matches!(b, ItemBody::ShortAnswer));
    go_to_question(&mut harness, number);
    harness.get_by_label("答题区").focus();
    settle(&mut harness);
    harness
        .get_by_label("答题区")
        .type_text("断电、验电、挂接地线");
    settle(&mut harness);
    harness.get_by_label_contains("已输入 10 / 5000 字");
    assert!(backend.saves().is_empty());

    go_to_question(&mut harness, 1);
    assert_eq!(
        backend.saves(),
        vec![(
            item.id.clone(),
            Response::Essay("断电、验电、挂接地线".into())
        )]
    );
    // Coming back shows the saved text.
    go_to_question(&mut harness, number);
    assert_eq!(
        harness.get_by_label("答题区").value().as_deref(),
        Some("断电、验电、挂接地线")
    );
}

#[test]
fn submit_lists_unanswered_and_flagged_then_sends_submit() {
    let mut state = exam_state();
    let paper = paper();
    let first = paper.items().next().expect("items");
    state.answers = Arc::new(BTreeMap::from([(first.id.clone(), answer_for(first))]));
    let expected = state.unanswered_numbers();
    assert_eq!(expected, vec![2, 3, 4, 5]);
    let (mut harness, backend) = harness(state);

    // Flag question 3.
    go_to_question(&mut harness, 3);
    harness.get_by_label("标记").click();
    settle(&mut harness);
    harness.get_by_label("取消标记");

    harness.get_by_label("交卷").click();
    settle(&mut harness);
    harness.get_by_label("未作答的题目：第 2–5 题（共 4 题）");
    harness.get_by_label("已标记的题目：第 3 题（共 1 题）");
    assert!(
        backend.sent().is_empty(),
        "opening the dialog submits nothing"
    );

    // 返回检查 closes it without submitting.
    harness.get_by_label("返回检查").click();
    settle(&mut harness);
    assert!(harness.query_by_label("确认交卷").is_none());
    assert!(backend.sent().is_empty());

    harness.get_by_label("交卷").click();
    settle(&mut harness);
    harness.get_by_label("确认交卷").click();
    settle(&mut harness);
    assert_eq!(backend.sent(), vec![Command::Submit]);

    // While the site confirms, the dialog shows progress and cannot be used again.
    backend.update(|s| s.submitting = true);
    settle(&mut harness);
    harness.get_by_label("正在交卷，请稍候…");
    assert!(
        harness
            .get_by_label("确认交卷")
            .accesskit_node()
            .is_disabled()
    );

    // A refusal is shown in the dialog.
    backend.update(|s| {
        s.submitting = false;
        s.notice = Some("还有答案未保存，请稍后再交卷".into());
    });
    settle(&mut harness);
    harness.get_by_label("还有答案未保存，请稍后再交卷");
}

#[test]
fn the_reconnecting_banner_shows_and_the_exam_stays_usable() {
    let mut state = exam_state();
    state.link = Link::Reconnecting { tries: 2 };
    let (mut harness, backend) = harness(state);
    harness.get_by_label("网络连接中断，正在重新连接…");
    harness.get_by_label_contains("您的答案已保存在本机，请继续作答");
    harness.get_by_label("离线：答案已保存在本机，正在重连…");

    let paper = paper();
    let (number, item) = find_item(&paper, |b| matches!(b, ItemBody::TrueFalse));
    go_to_question(&mut harness, number);
    harness.get_by_label("正确").click();
    settle(&mut harness);
    assert_eq!(
        backend.saves(),
        vec![(item.id.clone(), Response::TrueFalse(true))]
    );

    backend.update(|s| s.link = Link::Online);
    settle(&mut harness);
    assert!(
        harness
            .query_by_label("网络连接中断，正在重新连接…")
            .is_none()
    );
    harness.get_by_label("全部已保存");
    backend.update(|s| s.unacked = 3);
    settle(&mut harness);
    harness.get_by_label("正在保存（3）…");
}

#[test]
fn the_reconnecting_banner_also_shows_on_the_login_screen() {
    let state = ExamState {
        link: Link::Reconnecting { tries: 1 },
        ..ExamState::default()
    };
    let (harness, _backend) = harness(state);
    harness.get_by_label("网络连接中断，正在重新连接…");
}

#[test]
fn the_timer_shows_a_pause_with_its_reason() {
    let mut state = exam_state();
    state.clock = Some(ClockView {
        remaining: Duration::from_secs(4 * 60 + 10),
        running: false,
        paused_reason: Some("监考员暂停考试".into()),
        at: Instant::now(),
    });
    let (harness, _backend) = harness(state);
    harness.get_by_label("04:10");
    harness.get_by_label("计时暂停  监考员暂停考试");
}

#[test]
fn the_done_screen_says_why_and_shows_no_answers() {
    let mut state = exam_state();
    state.phase = Phase::Done {
        reason: SubmitReason::TimeUp,
    };
    let paper = paper();
    let first = paper.items().next().expect("items");
    Arc::make_mut(&mut state.answers).insert(first.id.clone(), Response::Essay("我的答案".into()));
    let (mut harness, backend) = harness(state);
    harness.get_by_label("已交卷");
    harness.get_by_label("考试时间到，系统已自动交卷。");
    harness.get_by_label_contains("离开考场");
    assert!(harness.query_by_label_contains("我的答案").is_none());
    assert!(harness.query_by_label("交卷").is_none());
    assert!(harness.query_by_label_contains("第 1 题").is_none());

    backend.update(|s| {
        s.phase = Phase::Done {
            reason: SubmitReason::Proctor,
        }
    });
    settle(&mut harness);
    harness.get_by_label("监考员已为您交卷。");
}

#[test]
fn text_size_buttons_change_the_scale() {
    let (mut harness, _backend) = harness(exam_state());
    assert_eq!(harness.state().font_scale().percent(), 100);
    harness.get_by_label("放大字号").click();
    settle(&mut harness);
    assert_eq!(harness.state().font_scale().percent(), 115);
    harness.get_by_label("缩小字号").click();
    settle(&mut harness);
    harness.get_by_label("缩小字号").click();
    settle(&mut harness);
    assert_eq!(harness.state().font_scale().percent(), 90);
}
