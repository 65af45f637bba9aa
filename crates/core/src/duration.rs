//! Durations as written on the command line: `500ms`, `2s`, `10m`, `4h`,
//! `5d`, `1w`, and sums of them such as `1h30m`.

use std::time::Duration;

/// Parses a duration such as `500ms`, `2s`, `1h30m` or `5d`.
///
/// ```
/// use prebounce_core::duration::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration (expected e.g. 500ms, 2s, 5d)".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!(
                "'{text}' is not a duration (expected e.g. 500ms, 2s, 5d)"
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("'{text}': number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let millis_per: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "" => {
                return Err(format!(
                    "'{text}' has no unit (write e.g. {number}s or {number}ms)"
                ))
            }
            other => {
                return Err(format!(
                    "'{text}': unknown unit '{other}' (use ms, s, m, h, d or w)"
                ))
            }
        };
        let part = number
            .checked_mul(millis_per)
            .ok_or_else(|| format!("'{text}' is too long"))?;
        total += Duration::from_millis(part);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_sums() {
        let ms = |n| Duration::from_millis(n);
        for (text, want) in [
            ("500ms", ms(500)),
            ("2s", ms(2_000)),
            (" 10m ", ms(600_000)),
            ("4h", ms(14_400_000)),
            ("5d", ms(432_000_000)),
            ("1w", ms(604_800_000)),
            ("1h30m", ms(5_400_000)),
            ("0s", ms(0)),
        ] {
            assert_eq!(parse_duration(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn errors_say_what_to_write() {
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("5y")
            .unwrap_err()
            .contains("unknown unit 'y'"));
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("s").unwrap_err().contains("not a duration"));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }
}
