//! Durations as people write them: `90s`, `10m`, `1h30m`, `500ms`.

use std::time::Duration;

/// The longest duration porch takes: longer ones are surely mistakes, and would overflow the
/// clock arithmetic.
const MAX: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses `1h30m`, `90s`, `2m30s`, `500ms`. A bare number is refused: `10` could mean seconds or
/// minutes, and a wrong guess would be silent.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty".to_string());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("{text:?} is not a duration"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?} is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "h" => number.checked_mul(3600).map(Duration::from_secs),
            "m" => number.checked_mul(60).map(Duration::from_secs),
            "s" => Some(Duration::from_secs(number)),
            "ms" => Some(Duration::from_millis(number)),
            "" => {
                return Err(format!(
                    "{text:?} has no unit: write e.g. 90s, 10m or 1h30m"
                ));
            }
            other => {
                return Err(format!(
                    "{text:?} has the unknown unit {other:?}: use h, m, s or ms"
                ));
            }
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| format!("{text:?} is too large"))?;
    }
    if total.is_zero() {
        return Err(format!("{text:?} is zero"));
    }
    if total > MAX {
        return Err(format!("{text:?} is longer than a year"));
    }
    Ok(total)
}

/// The inverse of `parse`, for messages: `1h30m`, `90s` stays `1m30s`.
pub fn format(duration: Duration) -> String {
    let secs = duration.as_secs();
    let millis = duration.subsec_millis();
    if secs == 0 {
        return format!("{millis}ms");
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// `850ms`, `12.3s`, `4m05s`, `1h02m`.
pub fn short_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_people_write() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2m30s"), Ok(Duration::from_secs(150)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn refuses_the_ambiguous_and_the_absurd() {
        for bad in [
            "",
            "10",
            "m",
            "1d",
            "1.5h",
            "-5s",
            "0s",
            "99999999999999999999h",
            "5 m",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn short_forms_for_tables() {
        assert_eq!(short_ms(850), "850ms");
        assert_eq!(short_ms(12_345), "12.3s");
        assert_eq!(short_ms(245_000), "4m05s");
        assert_eq!(short_ms(3_720_000), "1h02m");
    }

    #[test]
    fn formats_back() {
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
    }
}
