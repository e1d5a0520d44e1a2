//! Kafka headers → CloudEvent: never a panic; what parses writes back and parses the same.
#![no_main]

use civitas_events::CloudEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Headers as `name\0value\n` lines; a line without `\0` is a header without a value.
    let headers: Vec<(&str, Option<&[u8]>)> = data
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let mut parts = line.splitn(2, |b| *b == 0);
            let name = std::str::from_utf8(parts.next()?).ok()?;
            Some((name, parts.next()))
        })
        .collect();
    if let Ok(event) = CloudEvent::from_headers(headers) {
        let written = event.to_headers();
        let again = CloudEvent::from_headers(
            written
                .iter()
                .map(|(n, v)| (n.as_str(), Some(v.as_bytes()))),
        )
        .expect("headers we write parse");
        assert_eq!(again.to_headers(), written);
    }
});
