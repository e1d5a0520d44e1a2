//! W3C trace context.
//!
//! The `traceparent` header of [W3C Trace Context](https://www.w3.org/TR/trace-context/):
//! `<version>-<trace-id>-<parent-id>-<trace-flags>`, e.g.
//! `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`. The envelope's `trace_id` and
//! `span_id` are [`TraceContext::trace_id`] and [`TraceContext::span_id`].
//!
//! ```
//! use civitas_events::TraceContext;
//!
//! let incoming = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .unwrap_or_else(TraceContext::new_root);
//! let ours = incoming.child();
//! assert_eq!(ours.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert_ne!(ours.span_id, incoming.span_id);
//! ```

use std::fmt;

/// Length of a version-00 `traceparent`; later versions may append `-<more>` after it.
const HEADER_LEN: usize = 55;

/// The ids of a `traceparent` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: String,
    /// The parent-id field: 16 lowercase hex digits, not all zero.
    pub span_id: String,
    pub flags: u8,
}

impl TraceContext {
    /// The `sampled` bit of [`flags`](Self::flags).
    pub const SAMPLED: u8 = 0x01;

    /// Parses a `traceparent` header value as the W3C spec says, or `None` if it is invalid.
    ///
    /// Hex digits must be lowercase (the spec's grammar; uppercase is rejected, not folded).
    /// Version `ff` is invalid; ids of all zeros are invalid. A version-00 header is exactly
    /// 55 characters. A higher version is read by its version-00 prefix and may continue
    /// with `-` and more fields, which are dropped: [`to_header`](Self::to_header) always
    /// writes version 00, as the spec asks of a version-00 implementation.
    pub fn parse(header: &str) -> Option<Self> {
        let b = header.as_bytes();
        if b.len() < HEADER_LEN {
            return None;
        }
        let version = &b[0..2];
        if !is_lower_hex(version) || version == b"ff" {
            return None;
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let (trace_id, span_id, flags) = (&b[3..35], &b[36..52], &b[53..55]);
        if !is_lower_hex(trace_id) || !is_lower_hex(span_id) || !is_lower_hex(flags) {
            return None;
        }
        if is_all_zero(trace_id) || is_all_zero(span_id) {
            return None;
        }
        let rest = &b[HEADER_LEN..];
        let rest_ok = if version == b"00" {
            rest.is_empty()
        } else {
            rest.is_empty() || rest[0] == b'-'
        };
        if !rest_ok {
            return None;
        }
        // Everything checked so far is ASCII, so these are char boundaries.
        Some(Self {
            trace_id: header[3..35].to_owned(),
            span_id: header[36..52].to_owned(),
            flags: u8::from_str_radix(&header[53..55], 16).ok()?,
        })
    }

    /// The start of a new trace: random trace and span ids, sampled.
    pub fn new_root() -> Self {
        Self {
            trace_id: hex(uuid::Uuid::new_v4().as_bytes()),
            span_id: new_span_id(),
            flags: Self::SAMPLED,
        }
    }

    /// A span inside this one: the same trace and flags, a new span id.
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id.clone(),
            span_id: new_span_id(),
            flags: self.flags,
        }
    }

    /// Whether the caller recorded its span (the `sampled` flag).
    pub fn is_sampled(&self) -> bool {
        self.flags & Self::SAMPLED != 0
    }

    /// The `traceparent` header value, version 00.
    pub fn to_header(&self) -> String {
        let mut header = String::with_capacity(HEADER_LEN);
        header.push_str("00-");
        header.push_str(&self.trace_id);
        header.push('-');
        header.push_str(&self.span_id);
        header.push('-');
        push_hex(&mut header, self.flags);
        header
    }
}

impl fmt::Display for TraceContext {
    /// Writes [`to_header`](Self::to_header).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header())
    }
}

/// Eight random bytes from a UUID v4; never all zero, since the version nibble is 4.
fn new_span_id() -> String {
    hex(&uuid::Uuid::new_v4().as_bytes()[..8])
}

/// Lowercase hex, two digits per byte (this runs for every request: no formatter).
fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    for &byte in bytes {
        push_hex(&mut out, byte);
    }
    out
}

fn push_hex(out: &mut String, byte: u8) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(char::from(DIGITS[usize::from(byte >> 4)]));
    out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
}

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

fn is_all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_w3c_example_is_parsed_into_its_ids_and_flags() {
        assert_eq!(
            TraceContext::parse(EXAMPLE),
            Some(TraceContext {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
                span_id: "00f067aa0ba902b7".to_owned(),
                flags: 0x01,
            })
        );
    }

    #[test]
    fn a_parsed_header_is_written_back_unchanged() {
        for header in [
            EXAMPLE,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff",
        ] {
            assert_eq!(TraceContext::parse(header).unwrap().to_header(), header);
        }
    }

    #[test]
    fn display_writes_the_header() {
        let context = TraceContext::parse(EXAMPLE).unwrap();
        assert_eq!(context.to_string(), EXAMPLE);
    }

    #[test]
    fn uppercase_hex_is_rejected() {
        for header in [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
        ] {
            assert_eq!(TraceContext::parse(header), None, "{header}");
        }
    }

    #[test]
    fn an_all_zero_trace_id_is_rejected() {
        assert_eq!(
            TraceContext::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
    }

    #[test]
    fn an_all_zero_span_id_is_rejected() {
        assert_eq!(
            TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
            None
        );
    }

    #[test]
    fn version_ff_is_rejected() {
        assert_eq!(
            TraceContext::parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            None
        );
    }

    #[test]
    fn fields_of_the_wrong_length_are_rejected() {
        for header in [
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "000-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47361-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b71-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011",
            "",
        ] {
            assert_eq!(TraceContext::parse(header), None, "{header:?}");
        }
    }

    #[test]
    fn version_00_with_anything_after_the_flags_is_rejected() {
        assert_eq!(TraceContext::parse(&format!("{EXAMPLE}-extra")), None);
    }

    #[test]
    fn a_higher_version_is_read_by_its_version_00_prefix() {
        let header = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future-field";
        let context = TraceContext::parse(header).unwrap();
        assert_eq!(context.to_header(), EXAMPLE);
        assert_eq!(
            TraceContext::parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                .map(|c| c.to_header()),
            Some(EXAMPLE.to_owned())
        );
    }

    #[test]
    fn a_higher_version_must_continue_with_a_dash_after_the_flags() {
        assert_eq!(
            TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"),
            None
        );
    }

    #[test]
    fn other_separators_and_non_hex_characters_are_rejected() {
        for header in [
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47ü-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(header), None, "{header:?}");
        }
    }

    #[test]
    fn a_new_root_is_a_valid_sampled_context() {
        let root = TraceContext::new_root();
        assert_eq!(root.flags, 0x01);
        assert!(root.is_sampled());
        assert_eq!(TraceContext::parse(&root.to_header()), Some(root));
    }

    #[test]
    fn two_roots_have_different_trace_and_span_ids() {
        let (a, b) = (TraceContext::new_root(), TraceContext::new_root());
        assert_ne!(a.trace_id, b.trace_id);
        assert_ne!(a.span_id, b.span_id);
    }

    #[test]
    fn a_child_keeps_the_trace_and_flags_and_gets_a_new_valid_span() {
        let parent =
            TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        let child = parent.child();
        assert_eq!(child.trace_id, parent.trace_id);
        assert_eq!(child.flags, parent.flags);
        assert!(!child.is_sampled());
        assert_ne!(child.span_id, parent.span_id);
        assert_eq!(TraceContext::parse(&child.to_header()), Some(child));
    }
}
