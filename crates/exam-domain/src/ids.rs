//! Identifiers: each one a newtype that can only be built valid.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::{ADMISSION_NO_CHARS_MAX, ITEM_ID_BYTES_MAX};

/// Why an identifier was refused. Messages are shown to candidates and clerks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("准考证号不能为空 / the admission number is empty")]
    AdmissionEmpty,
    #[error("准考证号过长（最多 {ADMISSION_NO_CHARS_MAX} 位）/ the admission number is too long")]
    AdmissionTooLong,
    #[error(
        "准考证号只能包含数字、字母和“-” / the admission number may contain only digits, letters and '-'"
    )]
    AdmissionChars,
    #[error("身份证号应为 18 位，当前为 {0} 位 / an ID number has 18 characters, this one has {0}")]
    IdLength(usize),
    #[error(
        "身份证号前 17 位必须是数字，最后一位是数字或 X / the first 17 characters must be digits, the last a digit or X"
    )]
    IdChars,
    #[error(
        "身份证号中的出生日期 {0} 不存在 / the birth date {0} in the ID number is not a real date"
    )]
    IdBirthDate(String),
    #[error(
        "身份证号校验位应为 {expected}，请核对号码 / the check character should be {expected}: check the number"
    )]
    IdCheckDigit { expected: char },
    #[error(
        "编号为空或过长（最多 {ITEM_ID_BYTES_MAX} 字节）/ the id is empty or longer than {ITEM_ID_BYTES_MAX} bytes"
    )]
    ItemIdLength,
    #[error(
        "编号只能包含字母、数字、“-”、“_”和“.” / an id may contain only letters, digits, '-', '_' and '.'"
    )]
    ItemIdChars,
}

/// A candidate's admission number (准考证号), as printed on the admission ticket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AdmissionNo(String);

impl AdmissionNo {
    /// Surrounding spaces are typing slips and are removed; anything else odd is refused.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(IdError::AdmissionEmpty);
        }
        if s.chars().count() > ADMISSION_NO_CHARS_MAX {
            return Err(IdError::AdmissionTooLong);
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(IdError::AdmissionChars);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AdmissionNo {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<AdmissionNo> for String {
    fn from(a: AdmissionNo) -> String {
        a.0
    }
}

impl fmt::Display for AdmissionNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A resident ID number (居民身份证号码, GB 11643): 17 digits and an ISO 7064 MOD 11-2 check
/// character, with a real birth date in digits 7–14.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdNumber(String);

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

impl IdNumber {
    /// Normalises typing slips (surrounding spaces, full-width digits, a lower-case x) and checks
    /// length, characters, birth date and check character.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s: String = raw
            .trim()
            .chars()
            .map(|c| match c {
                '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
                'x' | 'ｘ' | 'Ｘ' => 'X',
                other => other,
            })
            .collect();
        let n = s.chars().count();
        if n != 18 {
            return Err(IdError::IdLength(n));
        }
        let bytes = s.as_bytes();
        if !bytes[..17].iter().all(u8::is_ascii_digit)
            || !(bytes[17].is_ascii_digit() || bytes[17] == b'X')
        {
            return Err(IdError::IdChars);
        }
        let date = &s[6..14];
        if !is_real_date(date) {
            return Err(IdError::IdBirthDate(date.to_owned()));
        }
        let expected = check_char(&bytes[..17]);
        if bytes[17] != expected {
            return Err(IdError::IdCheckDigit {
                expected: char::from(expected),
            });
        }
        Ok(Self(s))
    }

    /// Builds a valid number from its first 17 digits by appending the check character.
    pub fn with_check_char(first17: &str) -> Result<Self, IdError> {
        if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::IdChars);
        }
        let mut s = first17.to_owned();
        s.push(char::from(check_char(first17.as_bytes())));
        Self::parse(&s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 17th digit is odd for men.
    pub fn is_male(&self) -> bool {
        self.0.as_bytes()[16] % 2 == 1
    }

    /// Birth date as `YYYYMMDD`.
    pub fn birth_date(&self) -> &str {
        &self.0[6..14]
    }

    /// The number with the middle hidden, for screens and logs: `1101**********2176`.
    pub fn masked(&self) -> String {
        format!("{}**********{}", &self.0[..4], &self.0[14..])
    }
}

fn check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    ID_CHECK[(sum % 11) as usize]
}

fn is_real_date(yyyymmdd: &str) -> bool {
    let (Ok(y), Ok(m), Ok(d)) = (
        yyyymmdd[0..4].parse::<u32>(),
        yyyymmdd[4..6].parse::<u32>(),
        yyyymmdd[6..8].parse::<u32>(),
    ) else {
        return false;
    };
    if !(1900..=2100).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

impl TryFrom<String> for IdNumber {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<IdNumber> for String {
    fn from(a: IdNumber) -> String {
        a.0
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

macro_rules! short_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if s.is_empty() || s.len() > ITEM_ID_BYTES_MAX {
                    return Err(IdError::ItemIdLength);
                }
                if !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
                    return Err(IdError::ItemIdChars);
                }
                Ok(Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(a: $name) -> String {
                a.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

short_id!(
    /// An item's id within a paper, stable across shuffles.
    ItemId
);
short_id!(
    /// A choice option's id within its item (`A`, `B`, … in the authored order).
    OptionId
);

/// An attempt: one candidate sitting one paper in one session. Allocated by the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AttemptId(pub u64);

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt-{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_good_numbers_pass() {
        for s in ["110101202311012176", "11010519491231002X"] {
            assert_eq!(
                IdNumber::parse(s).map(|i| i.as_str().to_owned()),
                Ok(s.to_owned())
            );
        }
    }

    #[test]
    fn typing_slips_are_normalised() {
        let id = IdNumber::parse(" １１０１０５１９４９１２３１００２x ").expect("normalised");
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn faults_are_named() {
        assert_eq!(
            IdNumber::parse("1101012023110121"),
            Err(IdError::IdLength(16))
        );
        assert_eq!(
            IdNumber::parse("110101202311012177"),
            Err(IdError::IdCheckDigit { expected: '6' })
        );
        assert!(matches!(
            IdNumber::parse("110101202302302176"),
            Err(IdError::IdBirthDate(_))
        ));
        assert_eq!(IdNumber::parse("11010120231101217Y"), Err(IdError::IdChars));
    }

    #[test]
    fn gender_and_mask() {
        let id = IdNumber::parse("110101202311012176").expect("valid");
        assert!(id.is_male());
        assert_eq!(id.masked(), "1101**********2176");
        assert!(
            !IdNumber::parse("11010519491231002X")
                .expect("valid")
                .is_male()
        );
    }

    proptest! {
        #[test]
        fn any_17_digits_with_real_date_get_a_valid_check(region in 110000u32..660000, y in 1930u32..2010, m in 1u32..13, d in 1u32..29, seq in 0u32..1000) {
            let first17 = format!("{region:06}{y:04}{m:02}{d:02}{seq:03}");
            let id = IdNumber::with_check_char(&first17).expect("valid by construction");
            prop_assert_eq!(&id.as_str()[..17], first17.as_str());
            // Changing any one of the 17 digits is detected by the check character.
            for pos in 0..17 {
                let mut b = id.as_str().as_bytes().to_vec();
                b[pos] = if b[pos] == b'9' { b'0' } else { b[pos] + 1 };
                let altered = String::from_utf8(b).expect("ascii");
                prop_assert!(IdNumber::parse(&altered).is_err(), "{} accepted", altered);
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = IdNumber::parse(&s);
            let _ = AdmissionNo::parse(&s);
            let _ = ItemId::parse(&s);
        }
    }
}
