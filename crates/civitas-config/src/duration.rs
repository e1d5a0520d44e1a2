//! The one duration grammar of the configuration files: a whole number and a unit, `500ms`,
//! `30s`, `5m` (or `5min`), `2h`, `1d`, `1w`. What a bare number means is the file's own
//! choice (milliseconds for a topic's retention, seconds in a workflow), so it is not read
//! here.

use std::time::Duration;

/// `text` as a duration; `None` when it is not `<whole number><unit>` or overflows.
pub fn parse(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let millis_per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return None,
    };
    n.checked_mul(millis_per_unit).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_and_a_unit_from_milliseconds_to_weeks() {
        assert_eq!(parse("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse("5m"), parse("5min"));
        assert_eq!(parse(" 2h "), Some(Duration::from_secs(7_200)));
        assert_eq!(parse("1w"), Some(Duration::from_secs(7 * 86_400)));
    }

    #[test]
    fn no_unit_an_unknown_unit_a_sign_or_an_overflow_is_no_duration() {
        for bad in ["30", "1y", "-1s", "1.5h", "s", "", "99999999999999999999d"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
