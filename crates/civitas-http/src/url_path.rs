//! Values that go into an outside system's URL path.
//!
//! A URL parser resolves dot segments: `/realms/city/users/..` becomes `/realms/city/`, and so
//! do the encoded forms (`%2e%2e`, `%2E.`) — after our percent-encoding, inside the client.
//! A value that is (or decodes to) `.` or `..`, or that is empty, would therefore move a
//! request to another resource: `DELETE …/users/..` deletes the realm. Every value that lands
//! in a path segment, from a request, a Kafka command or an outside system's answer, is
//! checked here before any request is built.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Why a value cannot go into a URL path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeSegment {
    #[error("it is empty")]
    Empty,
    #[error("it is, or decodes to, a dot segment (`.` or `..`), which would change the path")]
    DotSegment,
    /// A `/` or `\` (plain or encoded): an upstream that decodes `%2F` would see more
    /// segments (`8f1c/groups` addresses another resource than user `8f1c`).
    #[error("it holds, or decodes to, a `/` or `\\`, which would add path segments")]
    Separator,
}

/// How many times a value is percent-decoded when looking for a dot segment: servers and
/// proxies that decode twice exist, and `%252e` becomes `.` after two rounds.
const DECODE_ROUNDS: usize = 3;

/// Checks one value that will be printed into a path segment: refused when empty, when the
/// value — or any `/`- or `\`-separated part of it, after up to three rounds of
/// percent-decoding — is `.` or `..`, and when it holds a `/` or `\` in any of those forms.
pub fn check_segment(value: &str) -> Result<(), UnsafeSegment> {
    if value.trim().is_empty() {
        return Err(UnsafeSegment::Empty);
    }
    if any_decoding(value, has_dot_part) {
        return Err(UnsafeSegment::DotSegment);
    }
    if any_decoding(value, |text| text.contains(['/', '\\'])) {
        return Err(UnsafeSegment::Separator);
    }
    Ok(())
}

/// Checks a rendered path (`/a/b/c`, no query): no segment may be a dot segment in any
/// encoded form. The last line of defence behind [`check_segment`], for values a template
/// computed.
pub fn check_path(path: &str) -> Result<(), UnsafeSegment> {
    if path
        .split('/')
        .any(|segment| any_decoding(segment, has_dot_part))
    {
        return Err(UnsafeSegment::DotSegment);
    }
    Ok(())
}

/// Whether `test` holds for `value` or for any of its first [`DECODE_ROUNDS`] percent-decodings.
fn any_decoding(value: &str, test: impl Fn(&str) -> bool) -> bool {
    let mut text = Cow::Borrowed(value);
    for _ in 0..DECODE_ROUNDS {
        if test(&text) {
            return true;
        }
        // Invalid escapes stay as they are; invalid UTF-8 is replaced.
        let decoded = percent_decode_str(&text).decode_utf8_lossy().into_owned();
        if decoded == text {
            return false;
        }
        text = Cow::Owned(decoded);
    }
    test(&text)
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes everything but RFC 3986's unreserved characters, so a value stays one
/// segment.
pub fn encode_segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

fn is_dot(part: &str) -> bool {
    matches!(part.trim(), "." | "..")
}

fn has_dot_part(text: &str) -> bool {
    text.split(['/', '\\']).any(is_dot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_in_every_encoding_are_refused() {
        for value in [
            ".",
            "..",
            "%2e",
            "%2E",
            "%2e%2e",
            "%2E%2e",
            ".%2e",
            "%2e.",
            "%252e%252e",
            "a/../..",
            "..\\x",
            "a%2f..",
            " .. ",
        ] {
            assert_eq!(
                check_segment(value),
                Err(UnsafeSegment::DotSegment),
                "{value}"
            );
        }
    }

    #[test]
    fn empty_values_are_refused() {
        assert_eq!(check_segment(""), Err(UnsafeSegment::Empty));
        assert_eq!(check_segment("  "), Err(UnsafeSegment::Empty));
    }

    #[test]
    fn separators_in_every_encoding_are_refused() {
        for value in ["a/b", "8f1c%2Fgroups", "a%5Cb", "a%252Fb", "/"] {
            assert_eq!(
                check_segment(value),
                Err(UnsafeSegment::Separator),
                "{value}"
            );
        }
    }

    #[test]
    fn ordinary_ids_with_dots_pass() {
        for value in [
            "max",
            "a.b",
            "...",
            "v1.1",
            "8c1b-22",
            "max.mustermann",
            "%",
            "%zz",
        ] {
            assert_eq!(check_segment(value), Ok(()), "{value}");
        }
    }

    #[test]
    fn a_rendered_path_with_an_encoded_dot_segment_is_refused() {
        assert!(check_path("/admin/realms/city/users/%2E%2E").is_err());
        assert!(check_path("/admin/realms/city/users/..%2F..").is_err());
        assert!(check_path("/admin/realms/city/users/max").is_ok());
        assert!(check_path("/v1.1/Things('..')").is_ok());
    }

    #[test]
    fn encoding_keeps_a_value_in_one_segment() {
        assert_eq!(encode_segment("../a b"), "..%2Fa%20b");
        assert_eq!(encode_segment("ü"), "%C3%BC");
    }
}
