//! Alertmanager's time intervals (`timeinterval`): named sets of times of day, weekdays,
//! days of the month, months and years in one location, which routes name in
//! `mute_time_intervals` (no notification while inside) and `active_time_intervals` (no
//! notification while outside).
//!
//! The YAML shapes and their validation messages are Alertmanager 0.25's; so is
//! `contains` (`ContainsTime`), including negative days of the month counted from the
//! month's end. Locations: `UTC` (the default), `Etc/UTC`, `GMT`, `Etc/GMT`, the fixed
//! zones `Etc/GMT+N`/`Etc/GMT-N` (POSIX sign: `Etc/GMT+5` is UTC−5). `Local` depends on
//! the machine and any other IANA name needs the tz database, so both are refused by name.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike};
use serde::{Deserialize, Deserializer};

/// One named time interval: it contains a moment if any of its entries does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedTimeInterval {
    /// The name routes refer to.
    pub name: String,
    /// The entries (`time_intervals`).
    #[serde(default)]
    pub time_intervals: Vec<TimeInterval>,
}

impl NamedTimeInterval {
    /// Whether any entry contains `ms` (Unix ms).
    pub fn contains(&self, ms: i64) -> bool {
        self.time_intervals.iter().any(|t| t.contains(ms))
    }
}

/// One entry: a moment is inside when every field given contains it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeInterval {
    /// Times of day, `[start, end)` in minutes.
    #[serde(default)]
    pub times: Option<Vec<TimeRange>>,
    /// Weekdays, Sunday 0 to Saturday 6.
    #[serde(default)]
    pub weekdays: Option<Vec<Range<Weekday>>>,
    /// Days of the month, 1..31 or −31..−1 from the end.
    #[serde(default)]
    pub days_of_month: Option<Vec<Range<DayOfMonth>>>,
    /// Months 1..12.
    #[serde(default)]
    pub months: Option<Vec<Range<Month>>>,
    /// Years.
    #[serde(default)]
    pub years: Option<Vec<Range<Year>>>,
    /// The zone the fields are read in (UTC by default).
    #[serde(default)]
    pub location: Option<Location>,
}

/// A time of day range in minutes since midnight, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeRange {
    /// First minute inside.
    pub start_minute: u32,
    /// First minute after.
    pub end_minute: u32,
}

impl<'de> Deserialize<'de> for TimeRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            start_time: String,
            #[serde(default)]
            end_time: String,
        }
        let raw = Raw::deserialize(d)?;
        if raw.start_time.is_empty() || raw.end_time.is_empty() {
            return Err(custom("both start and end times must be provided"));
        }
        let start = parse_time(&raw.start_time).map_err(custom)?;
        let end = parse_time(&raw.end_time).map_err(custom)?;
        if start >= end {
            return Err(custom(
                "start time cannot be equal or greater than end time",
            ));
        }
        Ok(TimeRange {
            start_minute: start,
            end_minute: end,
        })
    }
}

/// `HH:MM` from 00:00 to 24:00.
fn parse_time(s: &str) -> Result<u32, String> {
    let invalid = || format!("couldn't parse timestamp {s}, invalid format");
    let (h, m) = s.split_once(':').ok_or_else(invalid)?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let (h, m): (u32, u32) = (
        h.parse().map_err(|_| invalid())?,
        m.parse().map_err(|_| invalid())?,
    );
    if (h > 23 || m > 59) && !(h == 24 && m == 0) {
        return Err(invalid());
    }
    Ok(h * 60 + m)
}

/// What a range's members are and how they are validated.
pub trait RangeKind {
    /// A member from its text (lowercased).
    fn member(s: &str) -> Result<i32, String>;
    /// The range's own checks (Alertmanager's messages).
    fn validate(text: &str, begin: i32, end: i32) -> Result<(), String>;
}

/// An inclusive range `begin:end` or a single member.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range<K> {
    /// First member.
    pub begin: i32,
    /// Last member.
    pub end: i32,
    kind: std::marker::PhantomData<K>,
}

impl<'de, K: RangeKind> Deserialize<'de> for Range<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Range::<K>::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl<K: RangeKind> Range<K> {
    /// Parses and validates `begin:end` or `member`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.to_lowercase();
        let (begin, end) = match lower.split_once(':') {
            Some((a, b)) => {
                if b.contains(':') {
                    return Err(format!("couldn't parse range {lower}, invalid format"));
                }
                (K::member(a)?, K::member(b)?)
            }
            None => {
                let v = K::member(&lower)?;
                (v, v)
            }
        };
        K::validate(text, begin, end)?;
        Ok(Range {
            begin,
            end,
            kind: std::marker::PhantomData,
        })
    }

    fn holds(&self, v: i32) -> bool {
        self.begin <= v && v <= self.end
    }
}

fn int_member(s: &str) -> Result<i32, String> {
    s.parse::<i32>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: invalid syntax"))
}

/// Weekdays (`monday`, `monday:friday`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weekday;
impl RangeKind for Weekday {
    fn member(s: &str) -> Result<i32, String> {
        const DAYS: [&str; 7] = [
            "sunday",
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
        ];
        DAYS.iter()
            .position(|d| *d == s)
            .map(|i| i as i32)
            .ok_or_else(|| format!("{s} is not a valid weekday"))
    }
    fn validate(_: &str, begin: i32, end: i32) -> Result<(), String> {
        if begin > end {
            return Err("start day cannot be before end day".into());
        }
        Ok(())
    }
}

/// Days of the month (`1:5`, `-3:-1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayOfMonth;
impl RangeKind for DayOfMonth {
    fn member(s: &str) -> Result<i32, String> {
        int_member(s)
    }
    fn validate(_: &str, begin: i32, end: i32) -> Result<(), String> {
        for v in [begin, end] {
            if v == 0 || !(-31..=31).contains(&v) {
                return Err(format!("{v} is not a valid day of the month: out of range"));
            }
        }
        if begin < 0 && end > 0 {
            return Err("end day must be negative if start day is negative".into());
        }
        let b = if begin < 0 { 28 + begin } else { begin };
        let e = if end < 0 { 28 + end } else { end };
        if b > e {
            return Err(format!("end day {end} is always before start day {begin}"));
        }
        Ok(())
    }
}

/// Months (`january:march`, `1:3`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Month;
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
impl RangeKind for Month {
    fn member(s: &str) -> Result<i32, String> {
        match MONTHS.iter().position(|m| *m == s) {
            Some(i) => Ok(i as i32 + 1),
            None => s
                .parse::<i32>()
                .map_err(|_| format!("{s} is not a valid month")),
        }
    }
    fn validate(_: &str, begin: i32, end: i32) -> Result<(), String> {
        // Alertmanager 0.25 accepts numbers outside 1..12 (they never match).
        if begin > end {
            let name = |m: i32| {
                usize::try_from(m - 1)
                    .ok()
                    .and_then(|i| MONTHS.get(i))
                    .map_or_else(String::new, |s| s.to_string())
            };
            return Err(format!(
                "end month {} is before start month {}",
                name(end),
                name(begin)
            ));
        }
        Ok(())
    }
}

/// Years (`2024`, `2024:2026`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Year;
impl RangeKind for Year {
    fn member(s: &str) -> Result<i32, String> {
        int_member(s)
    }
    fn validate(_: &str, begin: i32, end: i32) -> Result<(), String> {
        if begin > end {
            return Err(format!("end year {end} is before start year {begin}"));
        }
        Ok(())
    }
}

/// The zone an interval is read in: a fixed offset from UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// The name as configured.
    pub name: String,
    /// Its offset.
    pub offset: FixedOffset,
}

impl Location {
    /// `UTC`, `Etc/UTC`, `GMT`, `Etc/GMT`, `Etc/GMT±N` (POSIX sign); anything else refused
    /// by name.
    pub fn parse(name: &str) -> Result<Location, String> {
        let hours: i32 = match name {
            "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Etc/UCT" | "UCT" | "Etc/Zulu" | "Zulu" => 0,
            _ => {
                let n = name
                    .strip_prefix("Etc/GMT")
                    .ok_or_else(|| unsupported(name))?;
                let (sign, digits) = match n.split_at_checked(1) {
                    Some(("+", d)) => (-1, d),
                    Some(("-", d)) => (1, d),
                    _ => return Err(unsupported(name)),
                };
                let h: i32 = digits.parse().map_err(|_| unsupported(name))?;
                if !(0..=14).contains(&h) {
                    return Err(unsupported(name));
                }
                sign * h
            }
        };
        let offset = FixedOffset::east_opt(hours * 3600).ok_or_else(|| unsupported(name))?;
        Ok(Location {
            name: name.to_owned(),
            offset,
        })
    }
}

fn unsupported(name: &str) -> String {
    format!(
        "time interval location {name:?} is not supported: only UTC and the fixed zones \
         Etc/GMT+N and Etc/GMT-N are (no time zone database is bundled)"
    )
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Location::parse(&name).map_err(serde::de::Error::custom)
    }
}

fn days_in_month(year: i32, month: u32) -> i32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1);
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    match (first, next) {
        (Some(a), Some(b)) => (b - a).num_days() as i32,
        _ => 31,
    }
}

impl TimeInterval {
    /// Alertmanager's `ContainsTime` at Unix ms `ms`.
    pub fn contains(&self, ms: i64) -> bool {
        let offset = self
            .location
            .as_ref()
            .map_or(FixedOffset::east_opt(0), |l| Some(l.offset));
        let (Some(offset), Some(utc)) = (offset, DateTime::from_timestamp_millis(ms)) else {
            return false;
        };
        let t = utc.with_timezone(&offset);
        if let Some(times) = &self.times {
            let minute = t.hour() * 60 + t.minute();
            if !times
                .iter()
                .any(|r| minute >= r.start_minute && minute < r.end_minute)
            {
                return false;
            }
        }
        if let Some(days) = &self.days_of_month {
            let dim = days_in_month(t.year(), t.month());
            let day = t.day() as i32;
            let inside = days.iter().any(|r| {
                let begin = if r.begin < 0 {
                    dim + r.begin + 1
                } else {
                    r.begin
                };
                let end = if r.end < 0 { dim + r.end + 1 } else { r.end };
                if begin > dim {
                    return false;
                }
                let (begin, end) = (begin.clamp(-dim, dim), end.clamp(-dim, dim));
                day >= begin && day <= end
            });
            if !inside {
                return false;
            }
        }
        if let Some(months) = &self.months {
            if !months.iter().any(|r| r.holds(t.month() as i32)) {
                return false;
            }
        }
        if let Some(weekdays) = &self.weekdays {
            let wd = t.weekday().num_days_from_sunday() as i32;
            if !weekdays.iter().any(|r| r.holds(wd)) {
                return false;
            }
        }
        if let Some(years) = &self.years {
            if !years.iter().any(|r| r.holds(t.year())) {
                return false;
            }
        }
        true
    }
}

/// A deserializer error from any message (serde's `Error::custom`, usable in `map_err`).
fn custom<E: serde::de::Error>(message: impl std::fmt::Display) -> E {
    E::custom(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .unwrap_or(i64::MIN)
    }

    fn interval(yaml: &str) -> TimeInterval {
        match serde_saphyr::from_str::<TimeInterval>(yaml) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    /// Alertmanager's `timeIntervalTestCases` (timeinterval/timeinterval_test.go, v0.25.0)
    /// without the tz-database ones: (interval, inside, outside).
    #[test]
    fn alertmanager_contains_cases() {
        let rfc822z = |s: &str| {
            DateTime::parse_from_str(s, "%d %b %y %H:%M %z")
                .map(|t| t.timestamp_millis())
                .unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        let cases: [(&str, &[&str], &[&str]); 5] = [
            (
                "{}",
                &[
                    "02 Jan 06 15:04 +0000",
                    "03 Jan 07 10:04 +0000",
                    "04 Jan 06 09:04 +0000",
                ],
                &[],
            ),
            (
                "times: [{start_time: '09:00', end_time: '17:00'}]\nweekdays: ['monday:friday']",
                &[
                    "04 May 20 15:04 +0000",
                    "05 May 20 10:04 +0000",
                    "09 Jun 20 09:04 +0000",
                ],
                &[
                    "03 May 20 15:04 +0000",
                    "04 May 20 08:59 +0000",
                    "05 May 20 05:00 +0000",
                ],
            ),
            (
                "days_of_month: ['4:6']\nmonths: ['4']\nyears: ['2020']",
                &[
                    "04 Apr 20 15:04 +0000",
                    "05 Apr 20 00:00 +0000",
                    "06 Apr 20 23:05 +0000",
                ],
                &[
                    "03 May 18 15:04 +0000",
                    "03 Apr 20 23:59 +0000",
                    "04 Jun 20 23:59 +0000",
                    "06 Apr 19 23:59 +0000",
                    "07 Apr 20 00:00 +0000",
                ],
            ),
            (
                "days_of_month: ['-3:-1']",
                &[
                    "31 Jan 20 15:04 +0000",
                    "30 Jan 20 15:04 +0000",
                    "29 Jan 20 15:04 +0000",
                    "30 Jun 20 00:00 +0000",
                    "29 Feb 20 23:05 +0000",
                ],
                &[
                    "03 May 18 15:04 +0000",
                    "27 Jan 20 15:04 +0000",
                    "03 Apr 20 23:59 +0000",
                    "04 Jun 20 23:59 +0000",
                    "06 Apr 19 23:59 +0000",
                    "07 Apr 20 00:00 +0000",
                    "01 Mar 20 00:00 +0000",
                ],
            ),
            // `-31:31` (built directly in Alertmanager's test: the YAML refuses it) clamped
            // to the month's bounds.
            (
                "months: ['6']",
                &["30 Jun 20 00:00 +0000", "01 Jun 20 00:00 +0000"],
                &["31 May 20 00:00 +0000", "01 Jul 20 00:00 +0000"],
            ),
        ];
        for (yaml, inside, outside) in cases {
            let mut t = interval(yaml);
            if yaml == "months: ['6']" {
                t.days_of_month = Some(vec![Range {
                    begin: -31,
                    end: 31,
                    kind: std::marker::PhantomData,
                }]);
            }
            for s in inside {
                assert!(t.contains(rfc822z(s)), "{yaml}: {s} should be inside");
            }
            for s in outside {
                assert!(!t.contains(rfc822z(s)), "{yaml}: {s} should be outside");
            }
        }
    }

    #[test]
    fn business_hours() {
        let t = interval(
            "times:\n- start_time: '09:00'\n  end_time: '17:00'\nweekdays: ['monday:friday']\n",
        );
        // 2024-01-01 is a Monday.
        assert!(t.contains(at("2024-01-01T09:00:00Z")));
        assert!(t.contains(at("2024-01-05T16:59:59Z")));
        assert!(!t.contains(at("2024-01-01T17:00:00Z")));
        assert!(!t.contains(at("2024-01-06T10:00:00Z")));
    }

    #[test]
    fn negative_days_and_months_and_years() {
        let t = interval("days_of_month: ['-1']\nmonths: ['february']\nyears: ['2024']\n");
        assert!(t.contains(at("2024-02-29T12:00:00Z")));
        assert!(!t.contains(at("2024-02-28T12:00:00Z")));
        assert!(!t.contains(at("2023-02-28T12:00:00Z")));
        let t = interval("days_of_month: ['1:5', '-3:-1']\n");
        assert!(t.contains(at("2024-04-28T00:00:00Z")));
        assert!(t.contains(at("2024-04-03T00:00:00Z")));
        assert!(!t.contains(at("2024-04-10T00:00:00Z")));
    }

    #[test]
    fn fixed_zone() {
        // Etc/GMT-2 is UTC+2: 23:30 UTC on Monday is 01:30 on Tuesday there.
        let t = interval("weekdays: ['tuesday']\nlocation: 'Etc/GMT-2'\n");
        assert!(t.contains(at("2024-01-01T23:30:00Z")));
        assert!(!t.contains(at("2024-01-01T21:30:00Z")));
    }

    #[test]
    fn refusals_are_alertmanagers() {
        let refusal = |yaml: &str| {
            serde_saphyr::from_str::<TimeInterval>(yaml)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(
            refusal("weekdays: ['friday:monday']").contains("start day cannot be before end day")
        );
        assert!(refusal("weekdays: ['funday']").contains("funday is not a valid weekday"));
        assert!(refusal("days_of_month: ['0']").contains("0 is not a valid day of the month"));
        assert!(refusal("days_of_month: ['-1:5']").contains("end day must be negative"));
        assert!(
            refusal("months: ['may:april']").contains("end month april is before start month may")
        );
        assert!(refusal("times: [{start_time: '10:00', end_time: '09:00'}]")
            .contains("start time cannot be equal or greater than end time"));
        assert!(
            refusal("times: [{start_time: '25:00', end_time: '26:00'}]").contains("invalid format")
        );
        assert!(refusal("location: 'Europe/Paris'").contains("\"Europe/Paris\" is not supported"));
        assert!(refusal("location: 'Local'").contains("\"Local\" is not supported"));
    }
}
