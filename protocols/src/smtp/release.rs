//! FUTURERELEASE (RFC 4865): the MAIL parameters `HOLDFOR=<seconds>` and
//! `HOLDUNTIL=<date-time>` with which a submission client asks that a message be held
//! in the queue until a time, and the EHLO keyword's arguments (`FUTURERELEASE
//! <max-future-release-interval> <max-future-release-date-time>`).
//!
//! The parser only reads the values; whether a time is acceptable depends on the clock,
//! which the caller has (sans-IO): it answers the MAIL event accordingly.

/// Most digits of `HOLDFOR` (RFC 4865 §3: `1*9DIGIT`).
pub const HOLDFOR_DIGITS_MAX: usize = 9;

/// Longest `HOLDUNTIL` value: an RFC 3339 date-time with 9 fraction digits and an
/// offset is 35 octets; 64 leaves room and bounds the work.
pub const HOLDUNTIL_BYTES_MAX: usize = 64;

/// When the client wants the message released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// `HOLDFOR`: this many seconds after the transaction.
    For(u64),
    /// `HOLDUNTIL`: at this time, Unix seconds (UTC).
    Until(i64),
}

/// What the EHLO reply advertises: the longest hold the server accepts, in seconds, and
/// the latest release time as an RFC 3339 date-time (the caller computes it from the
/// clock when it configures the session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FutureRelease {
    /// `max-future-release-interval`, seconds.
    pub interval_secs_max: u64,
    /// `max-future-release-date-time`, e.g. `2026-12-13T14:00:00Z`.
    pub datetime_max: String,
}

/// `HOLDFOR`'s value: 1 to 9 digits.
pub fn parse_holdfor(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > HOLDFOR_DIGITS_MAX || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// `HOLDUNTIL`'s value, an RFC 3339 §5.6 `date-time` (`T` or `t`, `Z` or a numeric
/// offset, optional fraction, which is dropped): Unix seconds.
pub fn parse_holduntil(value: &str) -> Option<i64> {
    if value.len() > HOLDUNTIL_BYTES_MAX || !value.is_ascii() {
        return None;
    }
    let (date, rest) = value.split_once(['T', 't'])?;
    let mut date_parts = date.split('-');
    let year = fixed_digits(date_parts.next()?, 4)?;
    let month = fixed_digits(date_parts.next()?, 2)?;
    let day = fixed_digits(date_parts.next()?, 2)?;
    if date_parts.next().is_some()
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
    {
        return None;
    }
    let hour = fixed_digits(rest.get(0..2)?, 2)?;
    let minute = fixed_digits(rest.get(3..5)?, 2)?;
    let second = fixed_digits(rest.get(6..8)?, 2)?;
    if rest.get(2..3)? != ":" || rest.get(5..6)? != ":" || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut zone = &rest[8..];
    if let Some(fraction) = zone.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        zone = &fraction[digits..];
    }
    let offset_secs = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let offset_hour = fixed_digits(zone.get(1..3)?, 2)?;
            let offset_minute = fixed_digits(zone.get(4..6)?, 2)?;
            if zone.len() != 6 || zone.get(3..4)? != ":" || offset_hour > 23 || offset_minute > 59 {
                return None;
            }
            sign * (offset_hour * 3600 + offset_minute * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    // A leap second is read as the next second's start.
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs)
}

/// Unix seconds as an RFC 3339 date-time in UTC (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn format_datetime(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

fn fixed_digits(text: &str, count: usize) -> Option<i64> {
    if text.len() != count || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the era-based method: 400-year
/// eras of 146 097 days, years starting in March so the leap day is last).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdfor_is_one_to_nine_digits() {
        assert_eq!(parse_holdfor("0"), Some(0));
        assert_eq!(parse_holdfor("999999999"), Some(999_999_999));
        assert_eq!(parse_holdfor("1000000000"), None);
        assert_eq!(parse_holdfor(""), None);
        assert_eq!(parse_holdfor("-1"), None);
        assert_eq!(parse_holdfor("1h"), None);
    }

    #[test]
    fn holduntil_reads_rfc3339() {
        assert_eq!(parse_holduntil("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_holduntil("2007-05-01T12:00:00Z"), Some(1_178_020_800));
        assert_eq!(parse_holduntil("2007-05-01T14:00:00+02:00"), Some(1_178_020_800));
        assert_eq!(parse_holduntil("2007-05-01t11:30:00.123-00:30"), Some(1_178_020_800));
        assert_eq!(parse_holduntil("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2007-13-01T12:00:00Z",
            "2007-05-01 12:00:00Z",
            "2007-05-01T12:00:00",
            "2007-05-01T24:00:00Z",
            "2007-05-01T12:00:00+0200",
            "2007-05-01T12:00:00.Z",
            "07-05-01T12:00:00Z",
        ] {
            assert_eq!(parse_holduntil(bad), None, "{bad}");
        }
    }

    #[test]
    fn format_is_the_inverse() {
        for secs in [0, 1_178_020_800, 1_709_164_800, 4_102_444_799] {
            assert_eq!(parse_holduntil(&format_datetime(secs)), Some(secs));
        }
        assert_eq!(format_datetime(1_178_020_800), "2007-05-01T12:00:00Z");
    }
}
