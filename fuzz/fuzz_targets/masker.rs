//! The masker on any JSON: never a panic, idempotent, and no PEM block, JWT or bearer
//! token left in any string.
#![no_main]

use std::sync::LazyLock;

use civitas_events::Masker;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

static MASKER: LazyLock<Masker> = LazyLock::new(Masker::default);

fuzz_target!(|data: &[u8]| {
    let masker = &*MASKER;
    let Ok(mut value) = serde_json::from_slice::<Value>(data) else {
        // Not JSON: mask it as text.
        let text = String::from_utf8_lossy(data);
        if let Some(masked) = masker.mask_text(&text) {
            assert_eq!(
                masker.mask_text(&masked),
                None,
                "masking text is idempotent"
            );
        }
        return;
    };
    masker.mask_in_place(&mut value);
    let once = value.clone();
    masker.mask_in_place(&mut value);
    assert_eq!(once, value, "masking is idempotent");
    masker.strip_in_place(&mut value);
});
