//! The `*time.Time` that `toTime` returns: Go's `String()` form
//! (`2015-06-23 13:19:44.128 +0000 UTC`) and the methods templates call on it (`Format`
//! with Go's reference-time layouts, `Unix`, `UnixMilli`, `UnixNano`, `UTC`, `String`).
//! Always UTC, as Prometheus builds it.

use super::exec::Value;

const NANOS: i64 = 1_000_000_000;

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    nanos: u32,
    weekday: u32,
    yday: u32,
}

fn civil(t: i64) -> Civil {
    let secs = t.div_euclid(NANOS);
    let nanos = t.rem_euclid(NANOS) as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = if m <= 2 { y + 1 } else { y };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUM[(m - 1) as usize] + d + u32::from(leap && m > 2);
    Civil {
        year,
        month: m,
        day: d,
        hour: (rem / 3600) as u32,
        min: (rem / 60 % 60) as u32,
        sec: (rem % 60) as u32,
        nanos,
        // 1970-01-01 was a Thursday (4).
        weekday: (days + 4).rem_euclid(7) as u32,
        yday,
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's `time.Time.String()` for a UTC time.
pub(super) fn time_string(t: i64) -> String {
    format(t, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// Go's `time.Time.Format` for a UTC time: the reference-time layout elements
/// (`2006 06 01 1 Jan January 02 2 _2 002 15 03 3 04 4 05 5 PM pm Mon Monday MST
/// -0700 -07:00 -07 Z0700 Z07:00 Z07 .000 .999 ,000`), everything else copied.
pub(super) fn format(t: i64, layout: &str) -> String {
    let c = civil(t);
    let h12 = match c.hour % 12 {
        0 => 12,
        h => h,
    };
    let mut out = String::new();
    let mut rest = layout;
    // Longest elements first, as Go's nextStdChunk distinguishes them.
    while !rest.is_empty() {
        let take = |p: &str| rest.starts_with(p);
        let (consumed, text): (usize, String) = if take("January") {
            (7, MONTHS[(c.month - 1) as usize].into())
        } else if take("Jan") {
            (3, MONTHS[(c.month - 1) as usize][..3].into())
        } else if take("Monday") {
            (6, DAYS[c.weekday as usize].into())
        } else if take("Mon") {
            (3, DAYS[c.weekday as usize][..3].into())
        } else if take("MST") {
            (3, "UTC".into())
        } else if take("2006") {
            (4, format!("{:04}", c.year))
        } else if take("002") {
            (3, format!("{:03}", c.yday))
        } else if take("01") {
            (2, format!("{:02}", c.month))
        } else if take("02") {
            (2, format!("{:02}", c.day))
        } else if take("03") {
            (2, format!("{:02}", h12))
        } else if take("04") {
            (2, format!("{:02}", c.min))
        } else if take("05") {
            (2, format!("{:02}", c.sec))
        } else if take("06") {
            (2, format!("{:02}", c.year.rem_euclid(100)))
        } else if take("15") {
            (2, format!("{:02}", c.hour))
        } else if take("_2") && !rest[2..].starts_with("006") {
            (2, format!("{:>2}", c.day))
        } else if take("1") {
            (1, c.month.to_string())
        } else if take("2") {
            (1, c.day.to_string())
        } else if take("3") {
            (1, (h12).to_string())
        } else if take("4") {
            (1, c.min.to_string())
        } else if take("5") {
            (1, c.sec.to_string())
        } else if take("PM") {
            (2, if c.hour >= 12 { "PM" } else { "AM" }.into())
        } else if take("pm") {
            (2, if c.hour >= 12 { "pm" } else { "am" }.into())
        } else if take("-07:00:00") {
            (9, "+00:00:00".into())
        } else if take("-0700") {
            (5, "+0000".into())
        } else if take("-07:00") {
            (6, "+00:00".into())
        } else if take("-07") {
            (3, "+00".into())
        } else if take("Z07:00:00") {
            (9, "Z".into())
        } else if take("Z0700") {
            (5, "Z".into())
        } else if take("Z07:00") {
            (6, "Z".into())
        } else if take("Z07") {
            (3, "Z".into())
        } else if let Some(n) = fraction(rest) {
            let digits = &rest[1..=n];
            let all = format!("{:09}", c.nanos);
            let mut frac = all[..n.min(9)].to_string();
            if digits.starts_with('9') {
                while frac.ends_with('0') {
                    frac.pop();
                }
                if frac.is_empty() {
                    (n + 1, String::new())
                } else {
                    (n + 1, format!("{}{frac}", &rest[..1]))
                }
            } else {
                (n + 1, format!("{}{frac}", &rest[..1]))
            }
        } else {
            let ch = rest.chars().next().map_or(1, char::len_utf8);
            (ch, rest[..ch].to_string())
        };
        out.push_str(&text);
        rest = &rest[consumed..];
    }
    out
}

/// `.000`/`.999`/`,000` (any run of 0s or 9s after `.` or `,`, not followed by a digit):
/// the number of digits.
fn fraction(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if !matches!(b.first(), Some(b'.' | b',')) {
        return None;
    }
    let d = *b.get(1)?;
    if d != b'0' && d != b'9' {
        return None;
    }
    let n = b[1..].iter().take_while(|c| **c == d).count();
    if b.get(1 + n).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some(n)
}

/// Calls a method of `*time.Time`.
pub(super) fn method(t: i64, name: &str, args: &[Value]) -> Result<Value, String> {
    let want = |n: usize| {
        if args.len() != n {
            Err(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ))
        } else {
            Ok(())
        }
    };
    match name {
        "Format" => {
            want(1)?;
            match &args[0] {
                Value::Str(layout) => Ok(Value::Str(format(t, layout).as_str().into())),
                other => Err(format!(
                    "wrong type for value; expected string; got {}",
                    other.type_name()
                )),
            }
        }
        "String" => {
            want(0)?;
            Ok(Value::Str(time_string(t).as_str().into()))
        }
        "Unix" => {
            want(0)?;
            Ok(Value::Int(t.div_euclid(NANOS)))
        }
        "UnixMilli" => {
            want(0)?;
            Ok(Value::Int(t.div_euclid(1_000_000)))
        }
        "UnixNano" => {
            want(0)?;
            Ok(Value::Int(t))
        }
        "UTC" => {
            want(0)?;
            Ok(Value::Time(t))
        }
        _ => Err(format!("can't evaluate field {name} in type *time.Time")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_form_matches_go() {
        assert_eq!(time_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(time_string(-NANOS), "1969-12-31 23:59:59 +0000 UTC");
        assert_eq!(
            time_string(1_435_065_584_128_000_000),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(
            time_string(9_223_372_036 * NANOS),
            "2262-04-11 23:47:16 +0000 UTC"
        );
    }

    #[test]
    fn layouts() {
        let t = 1_353_755_652 * NANOS;
        assert_eq!(
            format(t, "Mon Jan 2 15:04:05 2006"),
            "Sat Nov 24 11:14:12 2012"
        );
        assert_eq!(format(t, "2006"), "2012");
        assert_eq!(
            format(t, "2006-01-02T15:04:05Z07:00"),
            "2012-11-24T11:14:12Z"
        );
        assert_eq!(format(t, "3:04PM"), "11:14AM");
        assert_eq!(format(t + 5_000_000, "05.000"), "12.005");
    }
}
