//! Engine tests with a fake clock: timing, grace, pause, auto-submit, restart, idempotence.

use std::sync::Arc;

use exam_domain::demo::{self, DemoCandidate};
use exam_domain::{AttemptId, ItemId, OptionId, Response};
use exam_protocol::{LoginRejection, SaveRefusal, SiteMsg, SubmitReason};
use exam_site_core::*;

const LIMIT_MS: u64 = 600_000; // small_paper: 600 s
const GRACE_MS: u64 = 30_000;

struct Sim {
    engine: Engine,
    now: MonoMs,
    /// Ops persisted and not yet committed, in order.
    pending: Vec<StoreOp>,
    committed: Vec<StoreOp>,
    sent: Vec<(ConnId, SiteMsg)>,
    closed: Vec<ConnId>,
    roster: Vec<DemoCandidate>,
}

fn config(start: StartRule) -> SessionConfig {
    SessionConfig {
        site_name: "测试考点".into(),
        title: "测试场次".into(),
        paper: Arc::new(demo::small_paper()),
        start,
        grace_ms: GRACE_MS,
        checkpoint_ms: 10_000,
        clock_push_ms: 60_000,
    }
}

fn records(roster: &[DemoCandidate]) -> Vec<CandidateRecord> {
    roster
        .iter()
        .enumerate()
        .map(|(i, c)| CandidateRecord {
            admission_no: c.admission_no.clone(),
            id_number: c.id_number.clone(),
            name: c.name.clone(),
            seat: c.seat.clone(),
            photo: None,
            attempt: AttemptId(i as u64 + 1),
            seed: i as u64 * 7919,
            items: None,
        })
        .collect()
}

impl Sim {
    fn new(start: StartRule) -> Self {
        let roster = demo::roster(3);
        let restored = Restored {
            candidates: records(&roster),
            attempts: vec![],
        };
        Self::with(Engine::new(config(start), restored, MonoMs(0)), roster)
    }

    fn with(engine: Engine, roster: Vec<DemoCandidate>) -> Self {
        let mut s = Sim {
            engine,
            now: MonoMs(0),
            pending: vec![],
            committed: vec![],
            sent: vec![],
            closed: vec![],
            roster,
        };
        s.drain();
        s
    }

    fn drain(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Send { conn, msg } => self.sent.push((conn, msg)),
                Output::SendPaper { conn, seed, key } => {
                    let paper = exam_domain::shuffle::candidate_paper(&demo::small_paper(), seed);
                    self.sent.push((conn, SiteMsg::Paper { key, paper }));
                }
                Output::Close { conn, .. } => self.closed.push(conn),
                Output::Persist(op) => self.pending.push(op),
            }
        }
    }

    fn input(&mut self, input: Input) {
        self.engine.handle(self.now, input);
        self.drain();
    }

    /// Commits everything pending, as the writer thread would, in order.
    fn commit(&mut self) {
        let ops = std::mem::take(&mut self.pending);
        for op in ops {
            self.committed.push(op.clone());
            self.engine.handle(self.now, Input::Committed(op));
        }
        self.drain();
    }

    /// Moves the fake clock, firing every timer on the way.
    fn advance(&mut self, ms: u64) {
        let target = self.now.plus(ms);
        while let Some(t) = self.engine.poll_timeout() {
            if t > target {
                break;
            }
            self.now = self.now.max(t);
            self.engine.handle_timeout(self.now);
            self.drain();
            self.commit();
        }
        self.now = target;
        self.engine.handle_timeout(self.now);
        self.drain();
    }

    fn take_sent(&mut self, conn: ConnId) -> Vec<SiteMsg> {
        let (mine, rest) = std::mem::take(&mut self.sent)
            .into_iter()
            .partition(|(c, _)| *c == conn);
        self.sent = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    fn login(&mut self, conn: u64, who: usize) -> Vec<SiteMsg> {
        self.input(Input::Connected {
            conn: ConnId(conn),
            peer: None,
        });
        self.relogin(conn, who)
    }

    /// A login on an already connected machine.
    fn relogin(&mut self, conn: u64, who: usize) -> Vec<SiteMsg> {
        let c = self.roster[who].clone();
        let conn = ConnId(conn);
        self.request(
            conn.0,
            Request::Login {
                admission_no: c.admission_no.to_string(),
                id_number: c.id_number.as_str().to_owned(),
                held_paper: None,
            },
        );
        self.commit();
        self.take_sent(conn)
    }

    fn request(&mut self, conn: u64, req: Request) {
        self.input(Input::Request {
            conn: ConnId(conn),
            req,
        });
    }

    fn save(&mut self, conn: u64, seq: u64, item: &str, response: Response) {
        self.request(
            conn,
            Request::Save {
                seq,
                item: ItemId::parse(item).expect("id"),
                response,
            },
        );
    }
}

fn opt(s: &str) -> OptionId {
    OptionId::parse(s).expect("id")
}

fn change(seq: u64, item: &str, response: Response) -> RestoredChange {
    RestoredChange {
        seq,
        item: ItemId::parse(item).expect("id"),
        response,
        refused: None,
    }
}

#[test]
fn wrong_credentials_are_refused_and_repeated_tries_slowed() {
    let mut sim = Sim::new(StartRule::Started);
    let conn = ConnId(1);
    sim.input(Input::Connected { conn, peer: None });
    let adm = sim.roster[0].admission_no.to_string();
    let mut waits = vec![];
    for _ in 0..5 {
        sim.request(
            1,
            Request::Login {
                admission_no: adm.clone(),
                id_number: "110101202311012176".into(),
                held_paper: None,
            },
        );
        for m in sim.take_sent(conn) {
            if let SiteMsg::LoginRejected {
                reason,
                retry_after_ms,
            } = m
            {
                waits.push((reason, retry_after_ms));
            }
        }
    }
    assert_eq!(waits[0], (LoginRejection::WrongCredentials, 0));
    assert_eq!(waits[1], (LoginRejection::WrongCredentials, 0));
    assert_eq!(
        waits[2],
        (LoginRejection::WrongCredentials, 1000),
        "third failure starts the backoff"
    );
    assert_eq!(
        waits[3].0,
        LoginRejection::TooManyTries,
        "tries during the backoff are refused unseen"
    );
    // Even the right credentials wait out the backoff, from any machine.
    let right = sim.roster[0].id_number.as_str().to_owned();
    sim.input(Input::Connected {
        conn: ConnId(2),
        peer: None,
    });
    sim.request(
        2,
        Request::Login {
            admission_no: adm.clone(),
            id_number: right.clone(),
            held_paper: None,
        },
    );
    assert!(matches!(
        sim.take_sent(ConnId(2)).last(),
        Some(SiteMsg::LoginRejected {
            reason: LoginRejection::TooManyTries,
            ..
        })
    ));
    sim.advance(1_000);
    sim.request(
        2,
        Request::Login {
            admission_no: adm,
            id_number: right,
            held_paper: None,
        },
    );
    assert!(
        sim.take_sent(ConnId(2))
            .iter()
            .any(|m| matches!(m, SiteMsg::LoggedIn { .. }))
    );
}

#[test]
fn waiting_room_until_the_scheduled_start_then_the_paper() {
    let mut sim = Sim::new(StartRule::At(MonoMs(5_000)));
    let msgs = sim.login(1, 0);
    assert!(matches!(msgs[1], SiteMsg::LoggedIn { .. }));
    assert_eq!(
        msgs.last(),
        Some(&SiteMsg::Waiting {
            starts_in_ms: Some(5_000)
        })
    );
    sim.advance(5_000);
    let msgs = sim.take_sent(ConnId(1));
    let Some(SiteMsg::Paper { paper, .. }) = msgs.first() else {
        panic!("paper expected, got {msgs:?}")
    };
    assert_eq!(paper.item_count(), 5);
    assert_eq!(
        msgs.get(1),
        Some(&SiteMsg::Resumed {
            answers: vec![],
            next_seq: 1
        })
    );
    assert!(matches!(
        msgs.get(2),
        Some(SiteMsg::Clock {
            remaining_ms: LIMIT_MS,
            running: true,
            ..
        })
    ));
}

#[test]
fn candidates_get_their_own_order() {
    let mut sim = Sim::new(StartRule::Started);
    let order = |msgs: Vec<SiteMsg>| -> Vec<String> {
        msgs.into_iter()
            .find_map(|m| match m {
                SiteMsg::Paper { paper, .. } => {
                    Some(paper.items().map(|i| i.id.to_string()).collect())
                }
                _ => None,
            })
            .expect("paper")
    };
    let a = order(sim.login(1, 0));
    let b = order(sim.login(2, 1));
    let c = order(sim.login(3, 2));
    assert!(
        a != b || b != c,
        "three candidates with the same order: {a:?}"
    );
}

#[test]
fn answers_are_acknowledged_only_after_commit_and_applied_once() {
    let mut sim = Sim::new(StartRule::Started);
    sim.login(1, 0);
    sim.save(1, 1, "sc1", Response::Choices([opt("B")].into()));
    assert!(
        sim.take_sent(ConnId(1)).is_empty(),
        "no ack before the commit"
    );
    assert_eq!(sim.pending.len(), 1);
    sim.commit();
    assert_eq!(sim.take_sent(ConnId(1)), vec![SiteMsg::Ack { seq: 1 }]);
    // The same change again (a resend after reconnect): acknowledged, not stored twice.
    sim.save(1, 1, "sc1", Response::Choices([opt("B")].into()));
    assert!(sim.pending.is_empty());
    assert_eq!(sim.take_sent(ConnId(1)), vec![SiteMsg::Ack { seq: 1 }]);
    // A resend of a change not yet durable gets its ack from the commit, once.
    sim.save(1, 2, "tf1", Response::TrueFalse(true));
    sim.save(1, 2, "tf1", Response::TrueFalse(true));
    assert_eq!(sim.pending.len(), 1);
    sim.commit();
    assert_eq!(sim.take_sent(ConnId(1)), vec![SiteMsg::Ack { seq: 2 }]);
    let answers: Vec<_> = sim
        .committed
        .iter()
        .filter(|o| matches!(o, StoreOp::Answer { .. }))
        .collect();
    assert_eq!(answers.len(), 2);
}

#[test]
fn a_different_change_under_a_used_number_is_refused_and_raises_an_alarm() {
    let mut sim = Sim::new(StartRule::Started);
    sim.login(1, 0);
    sim.save(1, 1, "sc1", Response::Choices([opt("B")].into()));
    sim.commit();
    sim.take_sent(ConnId(1));
    sim.save(1, 1, "sc1", Response::Choices([opt("C")].into()));
    assert_eq!(
        sim.take_sent(ConnId(1)),
        vec![SiteMsg::SaveRefused {
            seq: 1,
            refusal: SaveRefusal::Conflict
        }]
    );
    assert!(sim.pending.iter().any(|o| matches!(
        o,
        StoreOp::Alarm {
            kind: AlarmKind::SeqConflict,
            ..
        }
    )));
    assert!(
        !sim.pending
            .iter()
            .any(|o| matches!(o, StoreOp::Answer { .. })),
        "nothing stored"
    );
    // And the same before the commit: the first change stays, the second is refused.
    sim.save(1, 2, "tf1", Response::TrueFalse(true));
    sim.save(1, 2, "tf1", Response::TrueFalse(false));
    assert!(sim.take_sent(ConnId(1)).is_empty());
    sim.commit();
    assert_eq!(
        sim.take_sent(ConnId(1)),
        vec![
            SiteMsg::Ack { seq: 2 },
            SiteMsg::SaveRefused {
                seq: 2,
                refusal: SaveRefusal::Conflict
            }
        ],
        "the conflict is told once the first change is durable"
    );
}

#[test]
fn numbers_are_contiguous_gaps_are_refused_and_nothing_wraps() {
    let mut sim = Sim::new(StartRule::Started);
    sim.login(1, 0);
    // A hostile u64::MAX: refused as out of order, and it uses nothing up.
    sim.save(1, u64::MAX, "tf1", Response::TrueFalse(true));
    sim.save(1, 3, "tf1", Response::TrueFalse(true));
    assert_eq!(
        sim.take_sent(ConnId(1)),
        vec![
            SiteMsg::SaveRefused {
                seq: u64::MAX,
                refusal: SaveRefusal::OutOfOrder { expected: 1 }
            },
            SiteMsg::SaveRefused {
                seq: 3,
                refusal: SaveRefusal::OutOfOrder { expected: 1 }
            }
        ]
    );
    assert!(sim.pending.is_empty());
    assert_eq!(sim.engine.next_seq(AttemptId(1)), Some(1));
    sim.save(1, 1, "tf1", Response::TrueFalse(true));
    sim.commit();
    assert_eq!(sim.take_sent(ConnId(1)), vec![SiteMsg::Ack { seq: 1 }]);
    assert_eq!(sim.engine.next_seq(AttemptId(1)), Some(2));
}

#[test]
fn a_new_machine_resumes_from_the_next_expected_number_and_old_changes_are_not_its_acks() {
    let mut sim = Sim::new(StartRule::Started);
    sim.login(1, 0);
    sim.save(1, 1, "tf1", Response::TrueFalse(true));
    sim.save(1, 2, "sc1", Response::Choices([opt("A")].into()));
    // Machine 1 dies with both applied but not yet committed; the candidate moves on.
    sim.input(Input::Disconnected { conn: ConnId(1) });
    let msgs = sim.login(2, 0);
    assert!(
        msgs.iter()
            .any(|m| matches!(m, SiteMsg::Resumed { next_seq: 3, .. })),
        "numbering resumes after the applied changes, committed or not: {msgs:?}"
    );
    // The commit of machine 1's changes acknowledges nothing to machine 2...
    assert!(
        sim.take_sent(ConnId(2))
            .iter()
            .all(|m| !matches!(m, SiteMsg::Ack { .. }))
    );
    // ...and machine 2's first change gets number 3, acknowledged alone.
    sim.save(2, 3, "tf1", Response::TrueFalse(false));
    sim.commit();
    assert_eq!(sim.take_sent(ConnId(2)), vec![SiteMsg::Ack { seq: 3 }]);
}

#[test]
fn a_change_that_can_never_be_stored_uses_its_number_durably() {
    let mut sim = Sim::new(StartRule::Started);
    sim.login(1, 0);
    sim.save(1, 1, "nope", Response::TrueFalse(true));
    sim.save(1, 2, "sc1", Response::Choices([opt("A"), opt("B")].into()));
    sim.save(1, 3, "fi1", Response::Essay("x".into()));
    assert!(
        sim.take_sent(ConnId(1)).is_empty(),
        "refusals are told once durable"
    );
    sim.commit();
    let msgs = sim.take_sent(ConnId(1));
    assert_eq!(msgs.len(), 3);
    assert!(
        msgs.iter().all(|m| matches!(
            m,
            SiteMsg::SaveRefused {
                refusal: SaveRefusal::Invalid { .. },
                ..
            }
        )),
        "{msgs:?}"
    );
    assert_eq!(sim.engine.next_seq(AttemptId(1)), Some(4));
    // A resend of a refused change is refused the same way again.
    sim.save(1, 1, "nope", Response::TrueFalse(true));
    assert!(matches!(
        sim.take_sent(ConnId(1)).as_slice(),
        [SiteMsg::SaveRefused {
            seq: 1,
            refusal: SaveRefusal::Invalid { .. }
        }]
    ));
}

#[test]
fn an_answer_to_an_item_of_the_pool_not_on_the_candidates_own_paper_is_refused() {
    // Papers drawn from a pool: the session knows every item, this candidate got only tf1.
    let roster = demo::roster(3);
    let mut candidates = records(&roster);
    candidates[0].items = Some(Arc::new([ItemId::parse("tf1").expect("id")].into()));
    let restored = Restored {
        candidates,
        attempts: vec![],
    };
    let engine = Engine::new(config(StartRule::Started), restored, MonoMs(0));
    let mut sim = Sim::with(engine, roster);
    sim.login(1, 0);
    sim.save(1, 1, "sc1", Response::Choices([opt("A")].into()));
    sim.save(1, 2, "tf1", Response::TrueFalse(true));
    sim.commit();
    let msgs = sim.take_sent(ConnId(1));
    assert!(
        matches!(
            msgs.as_slice(),
            [
                SiteMsg::SaveRefused {
                    seq: 1,
                    refusal: SaveRefusal::Invalid { reason }
                },
                SiteMsg::Ack { seq: 2 }
            ] if reason.contains("sc1")
        ),
        "{msgs:?}"
    );
    // Another candidate, whose paper is the whole paper, may answer it.
    sim.login(2, 1);
    sim.save(2, 1, "sc1", Response::Choices([opt("A")].into()));
    sim.commit();
    assert!(matches!(
        sim.take_sent(ConnId(2)).as_slice(),
        [SiteMsg::Ack { seq: 1 }]
    ));
}

#[test]
fn saves_are_rate_limited_and_wait_while_the_store_is_in_trouble() {
    let mut sim = Sim::new(StartRule::Started);
    sim.login(1, 0);
    let burst = u64::from(SAVE_BURST);
    for seq in 1..=burst + 1 {
        sim.save(1, seq, "tf1", Response::TrueFalse(seq % 2 == 0));
    }
    let msgs = sim.take_sent(ConnId(1));
    assert!(
        matches!(
            msgs.as_slice(),
            [SiteMsg::SaveRefused {
                refusal: SaveRefusal::Busy { .. },
                ..
            }]
        ),
        "{msgs:?}"
    );
    sim.commit();
    sim.take_sent(ConnId(1));
    sim.advance(1_000);
    sim.input(Input::StoreTrouble(Some("disk full".into())));
    // Every clock stops while answers cannot be stored, and the candidates are told why.
    assert!(!sim.engine.is_running(AttemptId(1)));
    assert!(sim.take_sent(ConnId(1)).iter().any(|m| matches!(
        m,
        SiteMsg::Clock { running: false, paused_reason: Some(r), .. } if r.contains("disk full")
    )));
    let next = burst + 1;
    sim.save(1, next, "tf1", Response::TrueFalse(true));
    assert!(matches!(
        sim.take_sent(ConnId(1)).as_slice(),
        [SiteMsg::SaveRefused { refusal: SaveRefusal::Busy { reason, .. }, .. }] if reason.contains("disk full")
    ));
    assert!(
        !sim.pending
            .iter()
            .any(|o| matches!(o, StoreOp::Answer { .. })),
        "nothing taken while in trouble"
    );
    // Logins and clocks go on.
    let msgs = sim.login(2, 1);
    assert!(msgs.iter().any(|m| matches!(m, SiteMsg::Clock { .. })));
    let remaining = sim.engine.remaining_ms(AttemptId(1), sim.now);
    sim.advance(60_000);
    assert_eq!(
        sim.engine.remaining_ms(AttemptId(1), sim.now),
        remaining,
        "no time is lost while the store is in trouble"
    );
    sim.input(Input::StoreTrouble(None));
    assert!(sim.engine.is_running(AttemptId(1)));
    sim.take_sent(ConnId(1));
    sim.save(1, next, "tf1", Response::TrueFalse(true));
    sim.commit();
    assert_eq!(sim.take_sent(ConnId(1)), vec![SiteMsg::Ack { seq: next }]);
}

#[test]
fn the_same_machine_reconnecting_takes_over_its_old_connection() {
    let mut sim = Sim::new(StartRule::Started);
    let ip: std::net::IpAddr = "10.0.0.7".parse().expect("ip");
    for conn in [1u64, 2] {
        sim.input(Input::Connected {
            conn: ConnId(conn),
            peer: Some(ip),
        });
        sim.request(
            conn,
            Request::Hello {
                machine: "A-01".into(),
            },
        );
    }
    sim.relogin(1, 0);
    let msgs = sim.relogin(2, 0);
    assert!(
        msgs.iter().any(|m| matches!(m, SiteMsg::Resumed { .. })),
        "{msgs:?}"
    );
    assert_eq!(sim.closed, vec![ConnId(1)]);
    // Another machine is still refused.
    sim.input(Input::Connected {
        conn: ConnId(3),
        peer: Some("10.0.0.8".parse().expect("ip")),
    });
    sim.request(
        3,
        Request::Hello {
            machine: "A-01".into(),
        },
    );
    let msgs = sim.relogin(3, 0);
    assert!(matches!(
        msgs.last(),
        Some(SiteMsg::LoginRejected {
            reason: LoginRejection::ConnectedElsewhere,
            ..
        })
    ));
}

#[test]
fn second_login_while_connected_elsewhere_is_refused() {
    let mut sim = Sim::new(StartRule::Started);
    sim.login(1, 0);
    let msgs = sim.login(2, 0);
    assert!(matches!(
        msgs.last(),
        Some(SiteMsg::LoginRejected {
            reason: LoginRejection::ConnectedElsewhere,
            ..
        })
    ));
    // Once the first machine is gone, the candidate may continue on another.
    sim.input(Input::Disconnected { conn: ConnId(1) });
    let msgs = sim.relogin(2, 0);
    assert!(msgs.iter().any(|m| matches!(m, SiteMsg::Paper { .. })));
}

#[test]
fn time_up_submits_automatically_and_durably() {
    let mut sim = Sim::new(StartRule::Started);
    sim.login(1, 0);
    sim.advance(LIMIT_MS - 1);
    assert_eq!(sim.engine.remaining_ms(AttemptId(1), sim.now), Some(1));
    assert!(sim.engine.submitted(AttemptId(1)).is_none());
    sim.take_sent(ConnId(1));
    sim.advance(1);
    assert_eq!(
        sim.engine.submitted(AttemptId(1)),
        Some(SubmitReason::TimeUp)
    );
    assert!(sim.committed.iter().any(|o| matches!(
        o,
        StoreOp::Submit {
            reason: SubmitReason::TimeUp,
            remaining_ms: 0,
            ..
        }
    )));
    assert_eq!(
        sim.take_sent(ConnId(1)),
        vec![SiteMsg::Submitted {
            reason: SubmitReason::TimeUp
        }]
    );
    // No more answers after that.
    sim.save(1, 1, "tf1", Response::TrueFalse(true));
    sim.commit();
    assert!(matches!(
        sim.take_sent(ConnId(1)).as_slice(),
        [SiteMsg::SaveRefused {
            refusal: SaveRefusal::Invalid { .. },
            ..
        }]
    ));
}

#[test]
fn a_short_blip_costs_time_but_a_dead_machine_gets_it_all_back() {
    let mut sim = Sim::new(StartRule::Started);
    sim.login(1, 0);
    sim.advance(60_000);
    // Blip of 10 s (within grace): the clock keeps running.
    sim.input(Input::Disconnected { conn: ConnId(1) });
    sim.advance(10_000);
    sim.login(2, 0);
    assert_eq!(
        sim.engine.remaining_ms(AttemptId(1), sim.now),
        Some(LIMIT_MS - 70_000)
    );
    // Dead machine for 5 minutes: after the grace the clock stops and the whole outage is given back.
    sim.input(Input::Disconnected { conn: ConnId(2) });
    sim.advance(GRACE_MS - 1);
    assert!(sim.engine.is_running(AttemptId(1)));
    sim.advance(1);
    assert!(!sim.engine.is_running(AttemptId(1)));
    sim.advance(300_000);
    assert_eq!(
        sim.engine.remaining_ms(AttemptId(1), sim.now),
        Some(LIMIT_MS - 70_000)
    );
    let log = sim.committed.iter().find_map(|o| match o {
        StoreOp::TimeLog {
            event: TimeEvent::GraceExpired,
            given_back_ms,
            by,
            ..
        } => Some((*given_back_ms, by.clone())),
        _ => None,
    });
    assert_eq!(
        log,
        Some((GRACE_MS, "system".to_owned())),
        "the adjustment is logged with who"
    );
    // Back on a spare machine: the clock runs again from where it stopped.
    let msgs = sim.login(3, 0);
    assert!(msgs.iter().any(|m| matches!(m, SiteMsg::Clock { remaining_ms, running: true, .. } if *remaining_ms == LIMIT_MS - 70_000)));
    sim.advance(1_000);
    assert_eq!(
        sim.engine.remaining_ms(AttemptId(1), sim.now),
        Some(LIMIT_MS - 71_000)
    );
}

#[test]
fn a_room_pause_stops_every_clock_and_logs_who_and_why() {
    let mut sim = Sim::new(StartRule::Started);
    sim.login(1, 0);
    sim.login(2, 1);
    sim.advance(20_000);
    sim.input(Input::PauseSession {
        by: "proctor-wang".into(),
        reason: "停电".into(),
    });
    let msg = sim.take_sent(ConnId(1));
    assert!(msg.iter().any(|m| matches!(m, SiteMsg::Clock { running: false, paused_reason: Some(r), .. } if r == "停电")));
    sim.advance(600_000);
    assert_eq!(
        sim.engine.remaining_ms(AttemptId(1), sim.now),
        Some(LIMIT_MS - 20_000)
    );
    assert!(
        sim.engine.submitted(AttemptId(1)).is_none(),
        "no time-up while paused"
    );
    sim.input(Input::ResumeSession {
        by: "proctor-wang".into(),
    });
    sim.advance(5_000);
    assert_eq!(
        sim.engine.remaining_ms(AttemptId(2), sim.now),
        Some(LIMIT_MS - 25_000)
    );
    sim.commit();
    let logged: Vec<_> = sim
        .committed
        .iter()
        .filter_map(|o| match o {
            StoreOp::TimeLog {
                event: TimeEvent::SessionPaused,
                by,
                reason,
                ..
            } => Some((by.as_str(), reason.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        logged,
        vec![("proctor-wang", "停电"), ("proctor-wang", "停电")]
    );
}

#[test]
fn candidate_submit_waits_for_every_answer() {
    let mut sim = Sim::new(StartRule::Started);
    sim.login(1, 0);
    sim.save(1, 1, "tf1", Response::TrueFalse(false));
    sim.request(1, Request::Submit { last_seq: 2 });
    assert!(matches!(
        sim.take_sent(ConnId(1)).as_slice(),
        [SiteMsg::SubmitRefused { .. }]
    ));
    sim.request(1, Request::Submit { last_seq: 1 });
    sim.commit();
    let msgs = sim.take_sent(ConnId(1));
    assert_eq!(
        msgs,
        vec![
            SiteMsg::Ack { seq: 1 },
            SiteMsg::Submitted {
                reason: SubmitReason::Candidate
            }
        ]
    );
    // Logging in again after submitting shows the done screen, not the paper; the machine is
    // still told where to resume, so that changes left in its journal can be sent (and refused).
    sim.input(Input::Disconnected { conn: ConnId(1) });
    let msgs = sim.login(2, 0);
    assert!(
        msgs.contains(&SiteMsg::Submitted {
            reason: SubmitReason::Candidate
        }),
        "{msgs:?}"
    );
    assert!(!msgs.iter().any(|m| matches!(m, SiteMsg::Paper { .. })));
    assert!(matches!(
        msgs.last(),
        Some(SiteMsg::Resumed { next_seq: 2, .. })
    ));
}

#[test]
fn restart_resumes_answers_and_clock_from_the_store() {
    let roster = demo::roster(3);
    let restored = Restored {
        candidates: records(&roster),
        attempts: vec![(
            AttemptId(1),
            RestoredAttempt {
                started: true,
                remaining_ms: 400_000,
                stopped: false,
                submitted: None,
                changes: vec![
                    change(3, "tf1", Response::TrueFalse(false)),
                    change(1, "tf1", Response::TrueFalse(true)),
                    change(2, "sc1", Response::Choices([opt("A")].into())),
                ],
            },
        )],
    };
    let mut sim = Sim::with(
        Engine::new(config(StartRule::Started), restored, MonoMs(0)),
        roster,
    );
    assert!(sim.pending.iter().any(|o| matches!(
        o,
        StoreOp::TimeLog {
            event: TimeEvent::Restored,
            ..
        }
    )));
    let msgs = sim.login(1, 0);
    let Some(SiteMsg::Resumed { answers, next_seq }) =
        msgs.iter().find(|m| matches!(m, SiteMsg::Resumed { .. }))
    else {
        panic!("resumed expected")
    };
    assert_eq!(*next_seq, 4);
    let tf = answers
        .iter()
        .find(|a| a.item.as_str() == "tf1")
        .expect("tf1");
    assert_eq!(
        (tf.seq, &tf.response),
        (3, &Response::TrueFalse(false)),
        "the latest change wins"
    );
    assert!(msgs.iter().any(|m| matches!(
        m,
        SiteMsg::Clock {
            remaining_ms: 400_000,
            ..
        }
    )));
    // A resend of seq 3 from the client journal is a duplicate: acknowledged, not stored again.
    sim.save(1, 3, "tf1", Response::TrueFalse(false));
    assert!(sim.pending.is_empty());
    assert_eq!(sim.take_sent(ConnId(1)), vec![SiteMsg::Ack { seq: 3 }]);
}

#[test]
fn restored_attempt_whose_candidate_never_returns_stops_after_grace() {
    let roster = demo::roster(1);
    let restored = Restored {
        candidates: records(&roster),
        attempts: vec![(
            AttemptId(1),
            RestoredAttempt {
                started: true,
                remaining_ms: 100_000,
                ..Default::default()
            },
        )],
    };
    let mut sim = Sim::with(
        Engine::new(config(StartRule::Started), restored, MonoMs(0)),
        roster,
    );
    sim.advance(GRACE_MS + 500_000);
    assert_eq!(
        sim.engine.remaining_ms(AttemptId(1), sim.now),
        Some(100_000)
    );
    assert!(sim.engine.submitted(AttemptId(1)).is_none());
}

mod seeded {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Advance(u64),
        Drop,
        Back,
        Save(bool),
        Commit,
        Pause,
        Resume,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1u64..120_000).prop_map(Step::Advance),
            Just(Step::Drop),
            Just(Step::Back),
            any::<bool>().prop_map(Step::Save),
            Just(Step::Commit),
            Just(Step::Pause),
            Just(Step::Resume),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Whatever happens, remaining time never grows except by logged give-backs, never goes
        /// below zero, and every acknowledged seq was committed.
        #[test]
        fn clock_and_acks_stay_consistent(steps in proptest::collection::vec(step(), 1..60)) {
            let mut sim = Sim::new(StartRule::Started);
            let mut conn = 1u64;
            sim.login(conn, 0);
            let mut connected = true;
            let mut seq = 0u64;
            let mut last_remaining = sim.engine.remaining_ms(AttemptId(1), sim.now).unwrap_or(0);
            let given_back = |sim: &Sim| -> u64 {
                sim.committed.iter().chain(sim.pending.iter()).map(|o| match o {
                    StoreOp::TimeLog { given_back_ms, .. } => *given_back_ms, _ => 0 }).sum()
            };
            let mut last_given_back = given_back(&sim);
            for s in steps {
                match s {
                    Step::Advance(ms) => sim.advance(ms),
                    Step::Drop if connected => { sim.input(Input::Disconnected { conn: ConnId(conn) }); connected = false; }
                    Step::Back if !connected => { conn += 1; sim.login(conn, 0); connected = true; }
                    Step::Save(b) if connected => { seq += 1; sim.save(conn, seq, "tf1", Response::TrueFalse(b)); }
                    Step::Commit => sim.commit(),
                    Step::Pause => sim.input(Input::PauseSession { by: "p".into(), reason: "r".into() }),
                    Step::Resume => sim.input(Input::ResumeSession { by: "p".into() }),
                    _ => {}
                }
                let remaining = sim.engine.remaining_ms(AttemptId(1), sim.now).unwrap_or(0);
                let now_given_back = given_back(&sim);
                prop_assert!(remaining <= LIMIT_MS);
                prop_assert!(remaining <= last_remaining + (now_given_back - last_given_back),
                    "remaining grew from {} to {} with only {} ms logged as given back", last_remaining, remaining, now_given_back - last_given_back);
                last_remaining = remaining;
                last_given_back = now_given_back;
                let committed_seqs: Vec<u64> = sim.committed.iter().filter_map(|o| match o { StoreOp::Answer { seq, .. } => Some(*seq), _ => None }).collect();
                for (_, m) in &sim.sent {
                    if let SiteMsg::Ack { seq } = m {
                        prop_assert!(committed_seqs.contains(seq), "ack {} before commit", seq);
                    }
                }
            }
        }
    }
}
