//! Timestamps on the wire: RFC 3339 in UTC with six fractional digits and `Z`, e.g.
//! `2026-11-22T12:00:00.123456Z` — the envelope's and its data's `timestamp` fields, and
//! the `ce_time` header, all alike.
//!
//! Written without the formatting machinery, because every event writes two or three of
//! them; read with chrono, which accepts any RFC 3339 offset and precision.
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Stamped {
//!     #[serde(with = "civitas_events::time::micros")]
//!     at: DateTime<Utc>,
//! }
//!
//! let at = DateTime::from_timestamp(1_795_348_800, 123_456_789).unwrap();
//! let json = serde_json::to_string(&Stamped { at }).unwrap();
//! assert_eq!(json, r#"{"at":"2026-11-22T12:00:00.123456Z"}"#);
//! ```

use std::borrow::Cow;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

/// Length of `2026-11-22T12:00:00.123456Z`.
pub(crate) const RFC3339_MICROS_LEN: usize = 27;

/// `time` as RFC 3339 in UTC with six fractional digits (truncated) and `Z`, written into
/// `buf` for a year in 0000–9999 (chrono writes any other year).
pub(crate) fn rfc3339_micros<'b>(
    time: &DateTime<Utc>,
    buf: &'b mut [u8; RFC3339_MICROS_LEN],
) -> Cow<'b, str> {
    match u32::try_from(time.year()).ok().filter(|y| *y <= 9999) {
        Some(year) => Cow::Borrowed(write_four_digit_year(time, year, buf)),
        None => Cow::Owned(time.to_rfc3339_opts(SecondsFormat::Micros, true)),
    }
}

fn write_four_digit_year<'b>(
    time: &DateTime<Utc>,
    year: u32,
    buf: &'b mut [u8; RFC3339_MICROS_LEN],
) -> &'b str {
    // A leap second shows as second 60, as chrono writes it.
    let nanos = time.nanosecond();
    let (second, micros) = if nanos >= 1_000_000_000 {
        (time.second() + 1, (nanos - 1_000_000_000) / 1_000)
    } else {
        (time.second(), nanos / 1_000)
    };
    *buf = *b"0000-00-00T00:00:00.000000Z";
    let mut digits = |end: usize, value: u32| {
        let mut v = value;
        let mut at = end;
        while v > 0 {
            at -= 1;
            buf[at] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    digits(4, year);
    digits(7, time.month());
    digits(10, time.day());
    digits(13, time.hour());
    digits(16, time.minute());
    digits(19, second);
    digits(26, micros);
    // Only ASCII digits and separators were written.
    std::str::from_utf8(buf).unwrap_or_default()
}

/// `#[serde(with = "civitas_events::time::micros")]` for a `DateTime<Utc>` field.
pub mod micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{RFC3339_MICROS_LEN, rfc3339_micros};

    pub fn serialize<S: Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; RFC3339_MICROS_LEN];
        serializer.serialize_str(&rfc3339_micros(time, &mut buf))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chrono(time: &DateTime<Utc>) -> String {
        time.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    proptest! {
        #[test]
        fn any_time_is_written_as_chrono_writes_it(
            seconds in -62_167_219_200_i64..=253_402_300_799_i64,
            nanos in 0_u32..1_000_000_000,
        ) {
            let time = DateTime::from_timestamp(seconds, nanos).unwrap();
            let mut buf = [0u8; RFC3339_MICROS_LEN];
            prop_assert_eq!(rfc3339_micros(&time, &mut buf), chrono(&time));
        }
    }

    #[test]
    fn a_leap_second_is_written_as_second_60() {
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_micro_opt(23, 59, 59, 1_500_000)
            .unwrap()
            .and_utc();
        let mut buf = [0u8; RFC3339_MICROS_LEN];
        assert_eq!(
            rfc3339_micros(&leap, &mut buf),
            "2016-12-31T23:59:60.500000Z"
        );
    }

    #[test]
    fn years_beyond_four_digits_are_left_to_chrono() {
        let far = DateTime::from_timestamp(253_402_300_800, 0).unwrap();
        let mut buf = [0u8; RFC3339_MICROS_LEN];
        assert_eq!(rfc3339_micros(&far, &mut buf), chrono(&far));
    }

    #[test]
    fn the_serde_helper_reads_any_offset_back_to_utc() {
        #[derive(serde::Deserialize)]
        struct Stamped {
            #[serde(with = "super::micros")]
            at: DateTime<Utc>,
        }
        let read: Stamped = serde_json::from_str(r#"{"at":"2026-11-22T13:00:00+01:00"}"#).unwrap();
        assert_eq!(chrono(&read.at), "2026-11-22T12:00:00.000000Z");
    }
}
