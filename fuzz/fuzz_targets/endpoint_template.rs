//! Endpoint rendering with any object id and param: never a panic, and a path that renders
//! has no dot segment in any encoding.
#![no_main]

use civitas_command::template::{Templates, context};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (id, user) = text.split_once('\n').unwrap_or((&text, "max"));
    let templates = Templates::new();
    let ctx = context(&json!({
        "object_id": id,
        "params": {"user_id": user},
        "settings": {"realm": "city"},
    }));
    for endpoint in [
        "/admin/realms/{{ settings.realm }}/users/{{ params.user_id }}/groups/{{ object_id }}",
        "/v1.1/Things({{ object_id | odata_id }})",
    ] {
        if let Ok(path) = templates.render_path(endpoint, &ctx) {
            assert!(
                path_is_safe(&path),
                "a dot segment got through: {path}"
            );
        }
    }
});

/// Every segment, decoded up to three times, is not `.` or `..`.
fn path_is_safe(path: &str) -> bool {
    path.split('/').all(|segment| {
        let mut text = segment.to_owned();
        for _ in 0..4 {
            if text == "." || text == ".." {
                return false;
            }
            text = decode(&text);
        }
        true
    })
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
