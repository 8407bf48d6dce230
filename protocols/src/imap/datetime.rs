//! IMAP dates: `date-time` ("22-Nov-2026 17:39:22 +0000", INTERNALDATE and APPEND) and
//! `date` ("1-Feb-2026", SEARCH), RFC 9051 §9. Parsing and formatting, pure arithmetic on
//! the proleptic Gregorian calendar; no clock, no time zone database.
//!
//! Invariants: a parsed value is a real calendar date (day within its month, year
//! 1..=9999, zone within ±23:59); formatting always yields the fixed-width form.

use std::fmt;

/// Month names as IMAP writes them (RFC 9051 §9 `date-month`), matched without case.
const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Seconds in a day.
const DAY_SECS: i64 = 86_400;

/// Days from 1970-01-01 to 0001-01-01 and to 9999-12-31: the range a 4-digit year
/// (`date-year = 4DIGIT`) can express. Formatting clamps to it.
const DAYS_FIRST: i64 = -719_162;
const DAYS_LAST: i64 = 2_932_896;

/// An IMAP date-time: an instant plus the zone offset it was written in (RFC 9051 §9
/// `date-time`), e.g. a message's internal date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix_secs: i64,
    /// The zone offset, in minutes east of UTC (`+0130` = 90).
    pub offset_minutes: i16,
}

impl DateTime {
    /// Parses the text between the quotes: `dd-Mon-yyyy hh:mm:ss +zzzz`, where the day
    /// may be ` 1`, `01` or (leniently) `1`. `None` if it is not a valid date-time.
    pub fn parse(text: &str) -> Option<DateTime> {
        parse_date_time(text.as_bytes())
    }
}

impl fmt::Display for DateTime {
    /// `dd-Mon-yyyy hh:mm:ss +zzzz` in the value's own offset, without quotes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = i64::from(self.offset_minutes.clamp(-1439, 1439));
        let local = self.unix_secs.saturating_add(offset * 60);
        let days = local.div_euclid(DAY_SECS).clamp(DAYS_FIRST, DAYS_LAST);
        let secs = local.rem_euclid(DAY_SECS);
        let (year, month, day) = civil_from_days(days);
        let month_name = MONTHS[usize::from(month - 1)];
        let sign = if offset < 0 { '-' } else { '+' };
        let zone = offset.abs();
        write!(
            f,
            "{day:02}-{month_name}-{year:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            zone / 60,
            zone % 60
        )
    }
}

/// A calendar date in a SEARCH key (RFC 9051 §9 `date`), without time or zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// 1..=9999.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31, valid for the month.
    pub day: u8,
}

impl Date {
    /// Days from 1970-01-01 to this date (negative before), for comparisons with
    /// dates computed from timestamps.
    pub fn days_since_epoch(&self) -> i64 {
        days_from_civil(i64::from(self.year), self.month, self.day)
    }

    /// Parses `d-Mon-yyyy` or `dd-Mon-yyyy` (without quotes).
    pub fn parse(text: &str) -> Option<Date> {
        parse_date(text.as_bytes())
    }
}

impl fmt::Display for Date {
    /// `d-Mon-yyyy`, the form SEARCH takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let month = MONTHS.get(usize::from(self.month).wrapping_sub(1)).copied().unwrap_or("Jan");
        write!(f, "{}-{month}-{:04}", self.day, self.year)
    }
}

/// Parses `date-text` (`1*2DIGIT "-" date-month "-" 4DIGIT`).
pub(crate) fn parse_date(text: &[u8]) -> Option<Date> {
    let (day, rest) = split_digits(text, 1, 2)?;
    let rest = rest.strip_prefix(b"-")?;
    let (month, rest) = parse_month(rest)?;
    let rest = rest.strip_prefix(b"-")?;
    let (year, rest) = split_digits(rest, 4, 4)?;
    if !rest.is_empty() {
        return None;
    }
    make_date(year, month, day)
}

/// Parses the inside of a quoted `date-time`.
pub(crate) fn parse_date_time(text: &[u8]) -> Option<DateTime> {
    // RFC 9051 §9 date-day-fixed is SP DIGIT or 2DIGIT. Interop: some clients send a
    // single digit without the space, which is unambiguous; accept it too.
    let text = text.strip_prefix(b" ").unwrap_or(text);
    let (day, rest) = split_digits(text, 1, 2)?;
    let rest = rest.strip_prefix(b"-")?;
    let (month, rest) = parse_month(rest)?;
    let rest = rest.strip_prefix(b"-")?;
    let (year, rest) = split_digits(rest, 4, 4)?;
    let date = make_date(year, month, day)?;
    let rest = rest.strip_prefix(b" ")?;
    let (hour, rest) = split_digits(rest, 2, 2)?;
    let rest = rest.strip_prefix(b":")?;
    let (minute, rest) = split_digits(rest, 2, 2)?;
    let rest = rest.strip_prefix(b":")?;
    let (second, rest) = split_digits(rest, 2, 2)?;
    let rest = rest.strip_prefix(b" ")?;
    let (sign, rest) = match rest.split_first()? {
        (b'+', rest) => (1, rest),
        (b'-', rest) => (-1, rest),
        _ => return None,
    };
    let (zone_hours, rest) = split_digits(rest, 2, 2)?;
    let (zone_minutes, rest) = split_digits(rest, 2, 2)?;
    // A leap second (60) is allowed by the grammar's intent (RFC 5322 §3.3); minutes
    // and hours are not stretched.
    if !rest.is_empty() || hour > 23 || minute > 59 || second > 60 || zone_hours > 23 || zone_minutes > 59 {
        return None;
    }
    let offset_minutes = sign * i16::try_from(zone_hours * 60 + zone_minutes).ok()?;
    let local = date.days_since_epoch() * DAY_SECS
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second);
    Some(DateTime { unix_secs: local - i64::from(offset_minutes) * 60, offset_minutes })
}

/// Takes `min..=max` leading ASCII digits as a number.
fn split_digits(text: &[u8], min: usize, max: usize) -> Option<(u32, &[u8])> {
    let count = text.iter().take(max).take_while(|b| b.is_ascii_digit()).count();
    if count < min {
        return None;
    }
    let value = text[..count].iter().fold(0u32, |acc, &b| acc * 10 + u32::from(b - b'0'));
    Some((value, &text[count..]))
}

fn parse_month(text: &[u8]) -> Option<(u8, &[u8])> {
    let name = text.get(..3)?;
    let index = MONTHS.iter().position(|m| m.as_bytes().eq_ignore_ascii_case(name))?;
    Some((u8::try_from(index + 1).ok()?, &text[3..]))
}

fn make_date(year: u32, month: u8, day: u32) -> Option<Date> {
    let year = u16::try_from(year).ok().filter(|y| (1..=9999).contains(y))?;
    let day = u8::try_from(day).ok().filter(|&d| d >= 1 && d <= days_in_month(year, month))?;
    Some(Date { year, month, day })
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Counts in 400-year eras
/// (146097 days each) with years starting in March, so the leap day is last.
pub(crate) fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let month = i64::from(month);
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month 1..=12, day 1..=31).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both conversions hold by construction: month is 1..=12, day 1..=31.
    (year, u8::try_from(month).unwrap_or(1), u8::try_from(day).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn civil_round_trip_over_four_centuries() {
        for days in (DAYS_FIRST..=DAYS_LAST).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(DAYS_FIRST), (1, 1, 1));
        assert_eq!(civil_from_days(DAYS_LAST), (9999, 12, 31));
    }

    #[test]
    fn date_time_parses_and_formats() {
        let dt = DateTime::parse("17-Jul-1996 02:44:25 -0700").unwrap();
        assert_eq!(dt.unix_secs, 837_596_665);
        assert_eq!(dt.offset_minutes, -420);
        assert_eq!(dt.to_string(), "17-Jul-1996 02:44:25 -0700");
        let dt = DateTime::parse(" 1-Jan-2000 00:00:00 +0000").unwrap();
        assert_eq!(dt.unix_secs, 946_684_800);
        assert_eq!(dt.to_string(), "01-Jan-2000 00:00:00 +0000");
        assert_eq!(DateTime::parse("1-jan-2000 00:00:00 +0130").unwrap().offset_minutes, 90);
    }

    #[test]
    fn invalid_date_times_are_refused() {
        for bad in [
            "29-Feb-2023 00:00:00 +0000",
            "31-Apr-2020 00:00:00 +0000",
            "00-Jan-2020 00:00:00 +0000",
            "01-Foo-2020 00:00:00 +0000",
            "01-Jan-20 00:00:00 +0000",
            "01-Jan-2020 24:00:00 +0000",
            "01-Jan-2020 00:60:00 +0000",
            "01-Jan-2020 00:00:00 0000",
            "01-Jan-2020 00:00:00 +2400",
            "01-Jan-2020 00:00:00 +0000 ",
            "01-Jan-0000 00:00:00 +0000",
            "",
        ] {
            assert_eq!(DateTime::parse(bad), None, "{bad}");
        }
        assert!(DateTime::parse("29-Feb-2024 00:00:60 +0000").is_some());
    }

    #[test]
    fn dates() {
        let date = Date::parse("1-Feb-1994").unwrap();
        assert_eq!(date, Date { year: 1994, month: 2, day: 1 });
        assert_eq!(date.to_string(), "1-Feb-1994");
        assert_eq!(Date::parse("01-feb-1994"), Some(date));
        assert_eq!(Date { year: 1970, month: 1, day: 2 }.days_since_epoch(), 1);
        assert_eq!(Date { year: 1969, month: 12, day: 31 }.days_since_epoch(), -1);
        assert_eq!(Date::parse("001-Feb-1994"), None);
        assert_eq!(Date::parse("1-Feb-1994x"), None);
    }

    #[test]
    fn formatting_clamps_out_of_range_instants() {
        let far = DateTime { unix_secs: i64::MAX, offset_minutes: 0 };
        assert!(far.to_string().starts_with("31-Dec-9999 "));
        let early = DateTime { unix_secs: i64::MIN, offset_minutes: i16::MIN };
        assert!(early.to_string().starts_with("01-Jan-0001 "));
    }
}
