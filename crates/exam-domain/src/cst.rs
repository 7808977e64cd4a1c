//! Plan times. Exam plans are written in China Standard Time (UTC+8, no daylight saving), the
//! authority's clock; they are stored as Unix milliseconds.

/// UTC+8 in milliseconds.
const CST_OFFSET_MS: i64 = 8 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "“{0}” is not a time: write it as YYYY-MM-DD HH:MM (China Standard Time), e.g. 2026-12-10 09:00"
)]
pub struct TimeError(pub String);

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses `YYYY-MM-DD HH:MM` (or with `T`) in China Standard Time.
pub fn parse_cst(text: &str) -> Result<i64, TimeError> {
    let err = || TimeError(text.chars().take(40).collect());
    let t = text.trim().replace('T', " ");
    let (date, clock) = t.split_once(' ').ok_or_else(err)?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (Some(Ok(y)), Some(Ok(mo)), Some(Ok(da)), None) = (d.next(), d.next(), d.next(), d.next())
    else {
        return Err(err());
    };
    let mut c = clock.trim().split(':').map(|p| p.parse::<i64>());
    let (Some(Ok(h)), Some(Ok(mi))) = (c.next(), c.next()) else {
        return Err(err());
    };
    if !(2000..=2100).contains(&y)
        || !(1..=12).contains(&mo)
        || !(0..24).contains(&h)
        || !(0..60).contains(&mi)
    {
        return Err(err());
    }
    let days = days_from_civil(y, mo, da);
    if civil_from_days(days) != (y, mo, da) {
        return Err(err());
    }
    Ok(days * 86_400_000 + (h * 60 + mi) * 60_000 - CST_OFFSET_MS)
}

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM` China Standard Time.
pub fn format_cst(unix_ms: i64) -> String {
    let local = unix_ms + CST_OFFSET_MS;
    let days = local.div_euclid(86_400_000);
    let mins = local.rem_euclid(86_400_000) / 60_000;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", mins / 60, mins % 60)
}

/// The calendar date `(year, month, day)` in China Standard Time of Unix milliseconds.
pub fn cst_date(unix_ms: i64) -> (i64, i64, i64) {
    civil_from_days((unix_ms + CST_OFFSET_MS).div_euclid(86_400_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_known_value() {
        // 2026-12-10 09:00 CST = 2026-12-10 01:00 UTC = 1796864400 s.
        assert_eq!(parse_cst("2026-12-10 09:00"), Ok(1_796_864_400_000));
        assert_eq!(format_cst(1_796_864_400_000), "2026-12-10 09:00");
        assert_eq!(
            parse_cst("2028-02-29T23:59").map(format_cst).as_deref(),
            Ok("2028-02-29 23:59")
        );
        for bad in [
            "2026-02-30 09:00",
            "2026-12-10",
            "10/12/2026 9:00",
            "2026-12-10 25:00",
        ] {
            assert!(parse_cst(bad).is_err(), "{bad}");
        }
    }
}
