//! Opens the exam window over a fake backend in a chosen phase, to look at the screens:
//! `cargo run -p exam-client --example ui_preview -- exam` (login | waiting | exam |
//! reconnecting | done | media; add `en` for English, `full` for full screen). `media` shows an
//! item with a picture and a drop-down blank.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use exam_client::app::run_window;
use exam_client::model::{ClockView, Command, ExamBackend, ExamState, Link, Phase};
use exam_domain::{ItemBody, Response, demo, shuffle};
use exam_protocol::{CandidateCard, SubmitReason};
use exam_ui::Lang;

struct Preview {
    state: RefCell<ExamState>,
}

impl ExamBackend for Preview {
    fn state(&self) -> ExamState {
        self.state.borrow().clone()
    }

    fn send(&self, command: Command) {
        println!("sent: {command:?}");
        let mut s = self.state.borrow_mut();
        match command {
            Command::Login { .. } => {
                s.phase = Phase::Waiting {
                    starts_in: Some(Duration::from_secs(95)),
                    at: Instant::now(),
                };
            }
            Command::Save { item, response } => {
                Arc::make_mut(&mut s.answers).insert(item, response);
            }
            Command::Submit => {
                s.phase = Phase::Done {
                    reason: SubmitReason::Candidate,
                }
            }
        }
    }
}

/// A grey head-and-shoulders picture, so the photo frame has something in it.
fn sample_photo() -> Option<Vec<u8>> {
    let (w, h) = (240u32, 320u32);
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 - 120.0, y as f32);
        let head = (fx * fx) / (55.0 * 55.0) + ((fy - 120.0) * (fy - 120.0)) / (70.0 * 70.0) < 1.0;
        let body = fy > 210.0 && fx.abs() < 110.0 - (320.0 - fy) * 0.4;
        if head || body {
            image::Rgba([96, 108, 124, 255])
        } else {
            image::Rgba([214, 224, 236, 255])
        }
    });
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .ok()?;
    Some(png)
}

/// One item with a picture in its prompt, a typed blank and a drop-down blank.
fn media_paper() -> exam_domain::Paper {
    let mut paper = demo::small_paper();
    let opt = |id: &str, text: &str| exam_domain::ChoiceOption {
        id: exam_domain::OptionId::parse(id).expect("id"),
        text: text.into(),
    };
    if let Some(item) = paper.sections.get_mut(1).and_then(|s| s.items.first_mut()) {
        item.prompt = "看图回答：[img:fig/sign.png]\n图中标志牌应挂在____处，其含义是____。".into();
        item.kind = exam_domain::ItemKind::FillIn {
            blanks: vec![
                exam_domain::Blank {
                    accepted: vec!["开关".into()],
                    choices: vec![],
                },
                exam_domain::Blank {
                    accepted: vec!["B".into()],
                    choices: vec![
                        opt("A", "注意安全"),
                        opt("B", "禁止合闸，有人工作"),
                        opt("C", "当心触电"),
                    ],
                },
            ],
        };
    }
    paper.sections.swap(0, 1);
    if let Some(png) = sample_photo() {
        paper.media.insert(
            "fig/sign.png".into(),
            exam_domain::MediaFile {
                mime: "image/png".into(),
                bytes: png,
            },
        );
    }
    paper
}

fn main() -> eframe::Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let phase = args.first().map(String::as_str).unwrap_or("exam");
    let lang = if args.iter().any(|a| a == "en") {
        Lang::En
    } else {
        Lang::Zh
    };
    let fullscreen = args.iter().any(|a| a == "full");

    let paper = if phase == "media" {
        media_paper()
    } else {
        demo::small_paper()
    };
    let paper = shuffle::candidate_paper(&paper, 1);
    let mut answers = BTreeMap::new();
    for item in paper.items().take(2) {
        let answer = match &item.body {
            ItemBody::TrueFalse => Response::TrueFalse(true),
            ItemBody::SingleChoice { options } | ItemBody::MultipleChoice { options } => {
                Response::Choices(
                    options
                        .iter()
                        .skip(1)
                        .take(2)
                        .map(|o| o.id.clone())
                        .collect(),
                )
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
            ItemBody::ShortAnswer => Response::Essay("断电、验电、挂接地线".into()),
        };
        answers.insert(item.id.clone(), answer);
    }
    let mut state = ExamState {
        link: Link::Online,
        candidate: Some(Arc::new(CandidateCard {
            admission_no: "2026100001".into(),
            name: "王伟".into(),
            id_number_masked: "110105********0011".into(),
            seat: "A-01".into(),
            photo: sample_photo(),
        })),
        session_title: "低压电工作业 理论考试".into(),
        paper: Some(Arc::new(paper)),
        answers: Arc::new(answers),
        unacked: 0,
        clock: Some(ClockView {
            remaining: Duration::from_secs(58 * 60 + 21),
            running: true,
            paused_reason: None,
            at: Instant::now(),
        }),
        ..ExamState::default()
    };
    state.phase = match phase {
        "login" => {
            state.link = Link::Connecting;
            Phase::LoggedOut {
                busy: false,
                error: Some("准考证号或身份证号不正确，请核对后重新输入。".into()),
            }
        }
        "waiting" => Phase::Waiting {
            starts_in: Some(Duration::from_secs(4 * 60 + 30)),
            at: Instant::now(),
        },
        "done" => Phase::Done {
            reason: SubmitReason::TimeUp,
        },
        "reconnecting" => {
            state.link = Link::Reconnecting { tries: 3 };
            state.unacked = 2;
            if let Some(clock) = &mut state.clock {
                clock.remaining = Duration::from_secs(4 * 60 + 12);
            }
            Phase::Exam
        }
        _ => Phase::Exam,
    };
    run_window(
        Preview {
            state: RefCell::new(state),
        },
        lang,
        fullscreen,
        Default::default(),
    )
}
