//! Exam sites (考点) and their rooms (考场) as the authority registers them.
//!
//! A room has a capacity (seats numbered `1..=capacity`). Rooms are disabled, never deleted: a
//! disabled room gets no new seats, and a broken seat can be disabled so seating skips it. A room
//! or seat where a candidate of an approved plan sits, for a session not yet over, cannot be
//! disabled until that plan is unlocked (approving it again seats the candidate elsewhere). Every command is one statement or
//! one transaction and changes nothing when it is refused.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::check::{self, NAME_CHARS_MAX, TEXT_CHARS_MAX, TextError};

/// Fewest seats a room may have.
pub const ROOM_CAPACITY_MIN: u32 = 1;
/// Most seats a room may have.
pub const ROOM_CAPACITY_MAX: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(
        "考点 {0} 已存在，未做任何修改 / site {0} exists already; nothing changed (see `central-sync site show {0}`)"
    )]
    Exists(String),
    #[error(
        "没有考点 {0}；请先用 `central-sync site add` 登记 / no site {0}: register it first with `central-sync site add` (see `central-sync site list`)"
    )]
    NoSite(String),
    #[error(
        "考点 {site} 没有考场 {room}；请先用 `central-sync site room add` 登记 / site {site} has no room {room}: add it first with `central-sync site room add` (see `central-sync site show {site}`)"
    )]
    NoRoom { site: String, room: String },
    #[error(
        "考点 {site} 已有考场 {room}，未做任何修改 / site {site} has a room {room} already; nothing changed"
    )]
    RoomExists { site: String, room: String },
    #[error(
        "座位数 {0} 不可用：应为 {ROOM_CAPACITY_MIN}–{ROOM_CAPACITY_MAX} / a capacity of {0} cannot be used: give {ROOM_CAPACITY_MIN} to {ROOM_CAPACITY_MAX} seats"
    )]
    Capacity(u32),
    #[error(
        "考场 {site}/{room} 已于 {at} 停用（{reason}），未做任何修改 / room {site}/{room} was disabled already at {at} ({reason}); nothing changed"
    )]
    RoomDisabled {
        site: String,
        room: String,
        at: String,
        reason: String,
    },
    #[error(
        "考场 {site}/{room} 只有 {capacity} 个座位，没有 {seat} 号座位 / room {site}/{room} has seats 1 to {capacity}: there is no seat {seat}"
    )]
    NoSeat {
        site: String,
        room: String,
        seat: u32,
        capacity: u32,
    },
    #[error(
        "考场 {site}/{room} 的 {seat} 号座位已停用（{reason}），未做任何修改 / seat {seat} of room {site}/{room} is disabled already ({reason}); nothing changed"
    )]
    SeatDisabled {
        site: String,
        room: String,
        seat: u32,
        reason: String,
    },
    #[error(
        "已审批的计划 {plan} 中场次 {session} 有 {count} 名考生安排在{place}，不能停用；请先用 `central-sync plan unlock {plan} --by 姓名 --reason 原因` 解锁，停用后重新提交并审批，考生会被重新安排座位 / {count} candidate(s) of session {session} of the approved plan {plan} are seated in {place_en}, so it cannot be disabled: unlock the plan first (`central-sync plan unlock {plan} --by NAME --reason TEXT`), disable it, then submit and approve the plan again to seat them elsewhere"
    )]
    InUse {
        plan: String,
        session: String,
        count: u32,
        place: String,
        place_en: String,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// A registered site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    pub code: String,
    pub name: String,
    pub address: Option<String>,
    pub created_at_unix_ms: i64,
}

/// Why and when a room or seat was disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disabled {
    pub at_unix_ms: i64,
    pub reason: String,
}

/// A disabled seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisabledSeat {
    pub seat: u32,
    pub at_unix_ms: i64,
    pub reason: String,
}

/// A room of a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Room {
    pub site_code: String,
    pub code: String,
    pub name: String,
    pub capacity: u32,
    pub disabled: Option<Disabled>,
    /// By seat number.
    pub disabled_seats: Vec<DisabledSeat>,
}

impl Room {
    /// Seats that can be given to candidates: none in a disabled room.
    pub fn usable_seats(&self) -> Vec<u32> {
        if self.disabled.is_some() {
            return Vec::new();
        }
        (1..=self.capacity)
            .filter(|s| !self.disabled_seats.iter().any(|d| d.seat == *s))
            .collect()
    }
}

/// A site with its rooms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteDetail {
    #[serde(flatten)]
    pub site: Site,
    pub rooms: Vec<Room>,
}

/// Registers a site. Refused (nothing changed) when the code or name cannot be used or the code
/// is taken. Works inside a caller's transaction (`&Transaction` derefs to `&Connection`).
pub fn add(
    conn: &Connection,
    code: &str,
    name: &str,
    address: Option<&str>,
) -> Result<Site, SiteError> {
    add_at(conn, code, name, address, crate::store::unix_ms())
}

/// [`add`] at a given time.
pub fn add_at(
    conn: &Connection,
    code: &str,
    name: &str,
    address: Option<&str>,
    now_unix_ms: i64,
) -> Result<Site, SiteError> {
    let code = check::code(code, "考点代码", "site code")?;
    let name = check::text(name, NAME_CHARS_MAX, "考点名称", "site name")?;
    let address = match address.map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => Some(check::text(a, TEXT_CHARS_MAX, "地址", "address")?),
        None => None,
    };
    let n = conn.execute(
        "INSERT OR IGNORE INTO sites (code, name, address, created_at_unix_ms) VALUES (?1, ?2, ?3, ?4)",
        params![code, name, address, now_unix_ms],
    )?;
    if n == 0 {
        return Err(SiteError::Exists(code));
    }
    Ok(Site {
        code,
        name,
        address,
        created_at_unix_ms: now_unix_ms,
    })
}

/// The site `code`.
pub fn site(conn: &Connection, code: &str) -> Result<Site, SiteError> {
    conn.query_row(
        "SELECT code, name, address, created_at_unix_ms FROM sites WHERE code = ?1",
        [code],
        |r| {
            Ok(Site {
                code: r.get(0)?,
                name: r.get(1)?,
                address: r.get(2)?,
                created_at_unix_ms: r.get(3)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| SiteError::NoSite(code.to_owned()))
}

/// Every site, by code.
pub fn list(conn: &Connection) -> Result<Vec<SiteDetail>, SiteError> {
    let codes: Vec<String> = {
        let mut stmt = conn.prepare("SELECT code FROM sites ORDER BY code")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    codes.iter().map(|c| show(conn, c)).collect()
}

/// A site with its rooms.
pub fn show(conn: &Connection, code: &str) -> Result<SiteDetail, SiteError> {
    let site = site(conn, code)?;
    let codes: Vec<String> = {
        let mut stmt = conn.prepare("SELECT code FROM rooms WHERE site_code = ?1 ORDER BY code")?;
        let rows = stmt.query_map([code], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let rooms = codes
        .iter()
        .map(|r| room(conn, code, r))
        .collect::<Result<_, _>>()?;
    Ok(SiteDetail { site, rooms })
}

/// The room `room` of site `site`.
pub fn room(conn: &Connection, site_code: &str, room_code: &str) -> Result<Room, SiteError> {
    let row = conn
        .query_row(
            "SELECT name, capacity, disabled_at_unix_ms, disabled_reason FROM rooms WHERE site_code = ?1 AND code = ?2",
            [site_code, room_code],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((name, capacity, at, reason)) = row else {
        // Say which is missing: the site or the room.
        site(conn, site_code)?;
        return Err(SiteError::NoRoom {
            site: site_code.to_owned(),
            room: room_code.to_owned(),
        });
    };
    let mut stmt = conn.prepare(
        "SELECT seat, at_unix_ms, reason FROM disabled_seats WHERE site_code = ?1 AND room_code = ?2 ORDER BY seat",
    )?;
    let disabled_seats = stmt
        .query_map([site_code, room_code], |r| {
            Ok(DisabledSeat {
                seat: r.get(0)?,
                at_unix_ms: r.get(1)?,
                reason: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Room {
        site_code: site_code.to_owned(),
        code: room_code.to_owned(),
        name,
        capacity,
        disabled: at.map(|at_unix_ms| Disabled {
            at_unix_ms,
            reason: reason.unwrap_or_default(),
        }),
        disabled_seats,
    })
}

/// Adds a room to a site.
pub fn add_room(
    conn: &Connection,
    site_code: &str,
    room_code: &str,
    name: &str,
    capacity: u32,
    now_unix_ms: i64,
) -> Result<Room, SiteError> {
    site(conn, site_code)?;
    let room_code = check::code(room_code, "考场代码", "room code")?;
    let name = check::text(name, NAME_CHARS_MAX, "考场名称", "room name")?;
    if !(ROOM_CAPACITY_MIN..=ROOM_CAPACITY_MAX).contains(&capacity) {
        return Err(SiteError::Capacity(capacity));
    }
    let n = conn.execute(
        "INSERT OR IGNORE INTO rooms (site_code, code, name, capacity, created_at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![site_code, room_code, name, capacity, now_unix_ms],
    )?;
    if n == 0 {
        return Err(SiteError::RoomExists {
            site: site_code.to_owned(),
            room: room_code,
        });
    }
    room(conn, site_code, &room_code)
}

/// Candidates of approved plans seated in a room (or one seat of it) for a session that has not
/// ended at `now_unix_ms`: `(plan, session, count)` of the first such session.
fn seated_in_approved(
    conn: &Connection,
    site_code: &str,
    room_code: &str,
    seat: Option<u32>,
    now_unix_ms: i64,
) -> Result<Option<(String, String, u32)>, rusqlite::Error> {
    conn.query_row(
        "SELECT p.id, s.id, count(*) FROM candidates c
           JOIN sessions s ON s.id = c.session_id
           JOIN plans p ON p.id = s.plan_id
          WHERE p.state = 'approved' AND s.site_code = ?1 AND c.room_code = ?2
            AND (?3 IS NULL OR c.seat = ?3)
            AND s.starts_at_unix_ms + coalesce(s.duration_min, 0) * 60000 > ?4
          GROUP BY p.id, s.id ORDER BY s.starts_at_unix_ms LIMIT 1",
        params![site_code, room_code, seat, now_unix_ms],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}

/// Disables a room: it gets no new seats. Refused when it is disabled already or candidates of an
/// approved plan sit in it.
pub fn disable_room(
    conn: &mut Connection,
    site_code: &str,
    room_code: &str,
    reason: &str,
    now_unix_ms: i64,
) -> Result<Room, SiteError> {
    let reason = check::reason(reason)?;
    let tx = conn.transaction()?;
    let r = room(&tx, site_code, room_code)?;
    if let Some(d) = r.disabled {
        return Err(SiteError::RoomDisabled {
            site: site_code.to_owned(),
            room: room_code.to_owned(),
            at: crate::time::format_cst(d.at_unix_ms),
            reason: d.reason,
        });
    }
    if let Some((plan, session, count)) =
        seated_in_approved(&tx, site_code, room_code, None, now_unix_ms)?
    {
        return Err(SiteError::InUse {
            plan,
            session,
            count,
            place: format!("考场 {site_code}/{room_code}"),
            place_en: format!("room {site_code}/{room_code}"),
        });
    }
    tx.execute(
        "UPDATE rooms SET disabled_at_unix_ms = ?3, disabled_reason = ?4 WHERE site_code = ?1 AND code = ?2",
        params![site_code, room_code, now_unix_ms, reason],
    )?;
    let r = room(&tx, site_code, room_code)?;
    tx.commit()?;
    Ok(r)
}

/// Disables one seat of a room: seating skips it. Refused when the seat does not exist, is
/// disabled already, or a candidate of an approved plan sits in it.
pub fn disable_seat(
    conn: &mut Connection,
    site_code: &str,
    room_code: &str,
    seat: u32,
    reason: &str,
    now_unix_ms: i64,
) -> Result<Room, SiteError> {
    let reason = check::reason(reason)?;
    let tx = conn.transaction()?;
    let r = room(&tx, site_code, room_code)?;
    if seat == 0 || seat > r.capacity {
        return Err(SiteError::NoSeat {
            site: site_code.to_owned(),
            room: room_code.to_owned(),
            seat,
            capacity: r.capacity,
        });
    }
    if let Some(d) = r.disabled_seats.iter().find(|d| d.seat == seat) {
        return Err(SiteError::SeatDisabled {
            site: site_code.to_owned(),
            room: room_code.to_owned(),
            seat,
            reason: d.reason.clone(),
        });
    }
    if let Some((plan, session, count)) =
        seated_in_approved(&tx, site_code, room_code, Some(seat), now_unix_ms)?
    {
        return Err(SiteError::InUse {
            plan,
            session,
            count,
            place: format!("考场 {site_code}/{room_code} 的 {seat} 号座位"),
            place_en: format!("seat {seat} of room {site_code}/{room_code}"),
        });
    }
    tx.execute(
        "INSERT INTO disabled_seats (site_code, room_code, seat, reason, at_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![site_code, room_code, seat, reason, now_unix_ms],
    )?;
    let r = room(&tx, site_code, room_code)?;
    tx.commit()?;
    Ok(r)
}

/// The clerk's view of a site.
pub fn summary(d: &SiteDetail) -> String {
    use std::fmt::Write;
    let mut out = format!("{}\t{}", d.site.code, d.site.name);
    if let Some(a) = &d.site.address {
        let _ = write!(out, "\t{a}");
    }
    out.push('\n');
    for r in &d.rooms {
        let _ = write!(
            out,
            "  考场 / room {}\t{}\t{} 座 / seats, {} 可用 / usable",
            r.code,
            r.name,
            r.capacity,
            r.usable_seats().len()
        );
        if let Some(dis) = &r.disabled {
            let _ = write!(
                out,
                "\t已停用 / disabled {}: {}",
                crate::time::format_cst(dis.at_unix_ms),
                dis.reason
            );
        }
        out.push('\n');
        for s in &r.disabled_seats {
            let _ = writeln!(
                out,
                "    座位 / seat {} 停用 / disabled {}: {}",
                s.seat,
                crate::time::format_cst(s.at_unix_ms),
                s.reason
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = crate::store::open(dir.path()).expect("open");
        (dir, conn)
    }

    #[test]
    fn sites_rooms_and_disabled_seats() {
        let (_dir, mut conn) = store();
        let s = add(&conn, "TY-01", "太原考点", Some("太原市")).expect("add");
        assert_eq!(s.code, "TY-01");
        assert!(matches!(
            add(&conn, "TY-01", "x", None),
            Err(SiteError::Exists(_))
        ));
        assert!(matches!(
            add(&conn, "TY 01", "x", None),
            Err(SiteError::Text(_))
        ));
        assert!(matches!(
            add_room(&conn, "TY-01", "R1", "一号考场", 0, 0),
            Err(SiteError::Capacity(0))
        ));
        assert!(matches!(
            add_room(&conn, "TY-01", "R1", "一号考场", ROOM_CAPACITY_MAX + 1, 0),
            Err(SiteError::Capacity(_))
        ));
        add_room(&conn, "TY-01", "R1", "一号考场", 10, 0).expect("room");
        assert!(matches!(
            add_room(&conn, "NOPE", "R1", "x", 10, 0),
            Err(SiteError::NoSite(_))
        ));
        let r = disable_seat(&mut conn, "TY-01", "R1", 3, "键盘坏了", 0).expect("seat");
        assert_eq!(r.usable_seats().len(), 9);
        assert!(!r.usable_seats().contains(&3));
        assert!(matches!(
            disable_seat(&mut conn, "TY-01", "R1", 11, "x", 0),
            Err(SiteError::NoSeat { capacity: 10, .. })
        ));
        assert!(matches!(
            disable_seat(&mut conn, "TY-01", "R1", 3, "x", 0),
            Err(SiteError::SeatDisabled { .. })
        ));
        let r = disable_room(&mut conn, "TY-01", "R1", "漏水", 0).expect("room");
        assert!(r.usable_seats().is_empty());
        assert!(matches!(
            disable_room(&mut conn, "TY-01", "R1", "x", 0),
            Err(SiteError::RoomDisabled { .. })
        ));
        assert!(matches!(
            room(&conn, "TY-01", "R9"),
            Err(SiteError::NoRoom { .. })
        ));
        let all = list(&conn).expect("list");
        assert_eq!(all.len(), 1);
        assert!(summary(&all[0]).contains("漏水"));
    }
}
