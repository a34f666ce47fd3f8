//! Times as porch writes them: RFC 3339 in the results file, a compact form in file names.
//! Always UTC, computed from the system clock without a time zone database.

use std::time::{SystemTime, UNIX_EPOCH};

/// `20261125T192103.042Z`: a UTC time for file names, to the millisecond, sorting in time order.
pub fn compact_timestamp(time: SystemTime) -> String {
    rfc3339(time).replace(['-', ':'], "")
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-25T19:21:03.042Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// A time of day for a person, in UTC, as a `[porch]` line says it: `15:00 UTC` when `time` is
/// on the same UTC day as `now`, else with its date, `2026-12-03 15:00 UTC`. UTC, since porch
/// reads no time zone database; said, so nobody takes it for local time.
pub fn clock_utc(time: SystemTime, now: SystemTime) -> String {
    let full = rfc3339(time);
    let (date, clock) = (&full[..10], &full[11..16]);
    if rfc3339(now).starts_with(date) {
        format!("{clock} UTC")
    } else {
        format!("{date} {clock} UTC")
    }
}

/// Milliseconds since the epoch of a time `rfc3339` wrote (`Z`, seconds, optional fraction);
/// `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z')?;
    let (date, clock) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    let (year, month, day) = (
        date_parts.next()??,
        date_parts.next()??,
        date_parts.next()??,
    );
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, "0"));
    let mut clock_parts = clock.splitn(3, ':').map(|p| p.parse::<u64>().ok());
    let (hour, minute, second) = (
        clock_parts.next()??,
        clock_parts.next()??,
        clock_parts.next()??,
    );
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day) && year >= 1970;
    if !valid || hour > 23 || minute > 59 || second > 60 || fraction.is_empty() {
        return None;
    }
    let digits = format!("{fraction:0<3}");
    let millis: u64 = digits.get(..3)?.parse().ok()?;
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = u64::try_from(days).ok()? * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds * 1000 + millis)
}

/// Howard Hinnant's civil-to-days algorithm: (year, month, day) to days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn days_since_the_epoch_become_calendar_dates() {
        // (days since 1970-01-01, the date, the rule the row shows)
        let cases: &[(i64, (i64, u32, u32), &str)] = &[
            (0, (1970, 1, 1), "day 0 is the epoch"),
            (-1, (1969, 12, 31), "the day before the epoch is in 1969"),
            (789, (1972, 2, 29), "a year divisible by 4 has February 29"),
            (790, (1972, 3, 1), "and March follows it"),
            (10_956, (1999, 12, 31), "the last day of a year"),
            (10_957, (2000, 1, 1), "is followed by January 1"),
            (
                11_016,
                (2000, 2, 29),
                "a century divisible by 400 is a leap year",
            ),
            (11_017, (2000, 3, 1), "and March follows its February 29"),
            (
                19_416,
                (2023, 2, 28),
                "a year not divisible by 4 ends February on the 28th",
            ),
            (19_417, (2023, 3, 1), "so March 1 follows February 28"),
            (19_782, (2024, 2, 29), "2024 is a leap year"),
            (20_088, (2024, 12, 31), "a leap year has 366 days"),
            (
                47_540,
                (2100, 2, 28),
                "a century not divisible by 400 is no leap year",
            ),
            (47_541, (2100, 3, 1), "so 2100 has no February 29"),
            (-25_508, (1900, 3, 1), "nor had 1900, before the epoch"),
        ];
        for &(days, date, rule) in cases {
            assert_eq!(civil_from_days(days), date, "{rule} (day {days})");
        }
    }

    #[test]
    fn rfc3339_is_utc_with_milliseconds() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_042, "2000-02-29T00:00:00.042Z"),
            (1_795_634_463_000, "2026-11-25T19:21:03.000Z"),
            (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        ];
        for (millis, text) in cases {
            assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_millis(millis)), text);
        }
    }

    #[test]
    fn rfc3339_reads_back_what_it_wrote_and_nothing_else() {
        for millis in [0, 951_782_400_042, 1_795_634_463_000, 1_709_251_199_999] {
            let text = rfc3339(UNIX_EPOCH + Duration::from_millis(millis));
            assert_eq!(parse_rfc3339(&text), Some(millis), "{text}");
        }
        assert_eq!(
            parse_rfc3339("2026-11-25T19:21:03Z"),
            Some(1_795_634_463_000)
        );
        for bad in [
            "",
            "2026-11-25",
            "2026-13-01T00:00:00Z",
            "2026-11-25T19:21:03+01:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_time_before_the_epoch_is_written_as_the_epoch() {
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn a_clock_time_is_utc_with_its_date_when_not_today() {
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        // 2026-11-25T19:21:03Z
        let now = at(1_795_634_463);
        let cases = [
            (now, "19:21 UTC"),
            (at(1_795_564_800), "00:00 UTC"),
            (at(1_795_651_199), "23:59 UTC"),
            (at(1_795_651_200), "2026-11-26 00:00 UTC"),
            (at(1_795_564_799), "2026-11-24 23:59 UTC"),
        ];
        for (time, text) in cases {
            assert_eq!(clock_utc(time, now), text);
        }
    }

    #[test]
    fn compact_timestamps_name_files_to_the_millisecond() {
        assert_eq!(
            compact_timestamp(UNIX_EPOCH + Duration::from_millis(1_795_634_463_999)),
            "20261125T192103.999Z"
        );
    }
}
