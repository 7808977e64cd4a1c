//! Who may sit a plan's sessions: the age rules of the plan's certificate category, checked on
//! every roster row when it is imported and on every candidate again when the plan is approved
//! (a session's start may have moved, a legacy session may have joined the plan).
//!
//! The birth date is read from a GB 11643 ID number (ID types 1 and 2); a row with another
//! document (foreigner's card, passport) carries no birth date in the roster and is not
//! age-checked. The age is in completed years (周岁) on the session's start date, China Standard
//! Time; a birth date after today is a typing error in the number and refuses the row.

use exam_content::roster::{Gender, RosterEntry};

use crate::time;

/// The certificate category (证书类别) whose candidates must not be past retirement age.
pub const CATEGORY_SPECIAL_OPERATIONS: &str = "特种作业";

/// Youngest age for any certificate: 年满 18 周岁 (《特种作业人员安全技术培训考核管理规定》
/// 第四条第一项; the same floor is applied to every other category, since all are employment
/// certificates and the Labour Law bars work below 16 and hazardous work below 18).
pub const AGE_MIN: u32 = 18;

/// Oldest age of a man for special operations (特种作业): 《特种作业人员安全技术培训考核管理规定》
/// (原国家安全监管总局令第 30 号) 第四条第一项 requires 年满 18 周岁，且不超过国家法定退休年龄;
/// the statutory retirement age taken here is 60 for men (国发〔1978〕104 号). "不超过" includes
/// the number: a man of 60 completed years may sit, one of 61 may not. The gradual raising of the
/// retirement age from 2025 (全国人大常委会 2024 年决定) is not applied: change these constants
/// when the authority does.
pub const SPECIAL_OPERATIONS_AGE_MAX_MEN: u32 = 60;
/// Oldest age of a woman for special operations: the statutory retirement age of 55 (women
/// cadres; the 50 of women workers is not applied). See [`SPECIAL_OPERATIONS_AGE_MAX_MEN`].
pub const SPECIAL_OPERATIONS_AGE_MAX_WOMEN: u32 = 55;
/// Oldest age for special operations when the sex is not known.
pub const SPECIAL_OPERATIONS_AGE_MAX_UNKNOWN_SEX: u32 = 60;

/// True for the special-operations category (`特种作业`, `特种作业人员`, or `special operations`).
pub fn is_special_operations(category: &str) -> bool {
    let c = category.trim();
    c.contains(CATEGORY_SPECIAL_OPERATIONS) || c.eq_ignore_ascii_case("special operations")
}

/// The oldest age allowed in `category` for a person of sex `sex`, if there is one.
pub fn age_max(category: &str, sex: Option<Gender>) -> Option<u32> {
    is_special_operations(category).then_some(match sex {
        Some(Gender::Male) => SPECIAL_OPERATIONS_AGE_MAX_MEN,
        Some(Gender::Female) => SPECIAL_OPERATIONS_AGE_MAX_WOMEN,
        None => SPECIAL_OPERATIONS_AGE_MAX_UNKNOWN_SEX,
    })
}

/// `(year, month, day)` of the birth date in a resident ID number.
pub fn birth_date(entry: &RosterEntry) -> Option<(i64, i64, i64)> {
    let id = entry.resident_id()?;
    let d = id.birth_date();
    Some((
        d.get(0..4)?.parse().ok()?,
        d.get(4..6)?.parse().ok()?,
        d.get(6..8)?.parse().ok()?,
    ))
}

/// Completed years from `birth` to `on` (a 29 February birthday counts from 1 March).
pub fn age_on(birth: (i64, i64, i64), on: (i64, i64, i64)) -> i64 {
    let mut age = on.0 - birth.0;
    if (on.1, on.2) < (birth.1, birth.2) {
        age -= 1;
    }
    age
}

/// Why `entry` may not sit a session of `category` starting at `starts_at_unix_ms`, or `None`.
pub fn refusal(
    entry: &RosterEntry,
    category: &str,
    starts_at_unix_ms: i64,
    now_unix_ms: i64,
) -> Option<String> {
    let birth = birth_date(entry)?;
    let (y, m, d) = birth;
    let today = time::cst_date(now_unix_ms);
    if birth > today {
        return Some(format!(
            "证件号码中的出生日期 {y:04}-{m:02}-{d:02} 晚于今天，号码有误，请核对 / the birth date in the ID number, {y:04}-{m:02}-{d:02}, is in the future: the number is wrong; check it"
        ));
    }
    let start = time::cst_date(starts_at_unix_ms);
    let date = format!("{:04}-{:02}-{:02}", start.0, start.1, start.2);
    let age = age_on(birth, start);
    if age < i64::from(AGE_MIN) {
        return Some(format!(
            "开考日 {date} 时未满 {AGE_MIN} 周岁（{age} 岁），不能报考 / {age} years old on the exam day {date}: candidates must be at least {AGE_MIN}"
        ));
    }
    if let Some(max) = age_max(category, Some(entry.gender))
        && age > i64::from(max)
    {
        let sex = entry.gender.chinese();
        let sex_en = match entry.gender {
            Gender::Male => "men",
            Gender::Female => "women",
        };
        return Some(format!(
            "开考日 {date} 时 {age} 岁，超过特种作业人员的年龄上限（{sex}性 {max} 周岁，国家法定退休年龄），不能报考 / {age} years old on the exam day {date}: special operations admit {sex_en} up to {max}, the statutory retirement age"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use exam_content::roster::{ExamType, IdType};

    fn entry(first17: &str, gender: Gender) -> RosterEntry {
        RosterEntry {
            name: "测试".into(),
            gender,
            id_type: IdType::ResidentCard,
            id_number: exam_domain::IdNumber::with_check_char(first17)
                .expect("valid")
                .as_str()
                .to_owned(),
            mobile: "13800000000".into(),
            employer: String::new(),
            category: "电工作业".into(),
            item: "低压电工作业".into(),
            exam_type: ExamType::New,
            expiry: None,
        }
    }

    #[test]
    fn ages_at_the_session_start() {
        let now = time::parse_cst("2026-12-03 10:00").expect("time");
        let start = time::parse_cst("2026-12-20 09:00").expect("time");
        // 18 on 2026-12-20 exactly: allowed; one day short: refused.
        assert_eq!(
            refusal(
                &entry("11010120081220001", Gender::Male),
                "特种作业",
                start,
                now
            ),
            None
        );
        let r = refusal(
            &entry("11010120081221001", Gender::Male),
            "特种作业",
            start,
            now,
        )
        .expect("refused");
        assert!(
            r.contains("未满 18 周岁") && r.contains("17 years old"),
            "{r}"
        );
        // A birth date after today.
        let r = refusal(
            &entry("11010120270101001", Gender::Male),
            "安全生产管理人员",
            start,
            now,
        )
        .expect("refused");
        assert!(r.contains("晚于今天"), "{r}");
        // A woman of 55 may sit special operations, one of 56 may not; a man of 60 may.
        assert_eq!(
            refusal(
                &entry("11010119711220002", Gender::Female),
                "特种作业",
                start,
                now
            ),
            None
        );
        let r = refusal(
            &entry("11010119701220002", Gender::Female),
            "特种作业",
            start,
            now,
        )
        .expect("refused");
        assert!(
            r.contains("女性 55 周岁") && r.contains("women up to 55"),
            "{r}"
        );
        assert_eq!(
            refusal(
                &entry("11010119660101001", Gender::Male),
                "特种作业",
                start,
                now
            ),
            None
        );
        assert!(
            refusal(
                &entry("11010119651220001", Gender::Male),
                "特种作业",
                start,
                now
            )
            .is_some()
        );
        // Other categories have no upper limit.
        assert_eq!(
            refusal(
                &entry("11010119501220001", Gender::Male),
                "安全生产管理人员",
                start,
                now
            ),
            None
        );
        assert_eq!(age_on((2008, 2, 29), (2026, 2, 28)), 17);
        assert_eq!(age_on((2008, 2, 29), (2026, 3, 1)), 18);
    }
}
