//! Masking of secrets in JSON values.
//!
//! A key is sensitive when, after normalising both sides (lowercase; `_`, `-`, `.` and
//! whitespace removed), it contains one of the masker's patterns: with the pattern `secret`,
//! `client_secret`, `ClientSecret` and `x-client-secret` are all sensitive. The value of a
//! sensitive key is replaced by [`MASK`] whatever it is (string, number, object, array, null),
//! at any depth of objects and arrays.
//!
//! Values are masked by their shape too, whatever their key, because a secret can sit under
//! an innocent key (`{"attributes": {"note": "-----BEGIN PRIVATE KEY-----…"}}`) or inside an
//! error text: PEM blocks, JSON Web Tokens and the token of `Bearer …` are replaced by
//! [`MASK`] inside every string ([`Masker::mask_text`]).
//!
//! ```
//! use civitas_events::Masker;
//! use serde_json::json;
//!
//! let params = json!({"Password": "hunter2", "Email": "john@example.com"});
//! assert_eq!(
//!     Masker::default().masked(&params),
//!     json!({"Password": "****MASKED****", "Email": "john@example.com"}),
//! );
//! ```

use aho_corasick::AhoCorasick;
use serde_json::Value;

/// The value that replaces every masked field.
pub const MASK: &str = "****MASKED****";

/// The patterns of [`Masker::default`].
///
/// Matching is by substring, so a short pattern masks every key that contains it. That is
/// why `pin` is *not* a default: it would mask `shipping`, `mapping`, `spinner` or `opinion`.
/// A deployment that has PIN fields adds a specific pattern such as `pincode` or `userpin`.
/// `passwd` and `pwd` are listed because `password` does not contain them; `api key` and
/// `clientsecret` are kept for readability although `apikey` and `secret` already cover them.
pub const DEFAULT_PATTERNS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "authorization",
    "apikey",
    "api key",
    "clientsecret",
    "privatekey",
    "clientkey",
    "tlskey",
    "sslkey",
    "signingkey",
    "encryptionkey",
    "keymaterial",
    "credential",
    "cookie",
    "sessionid",
];

/// Keys that [`Masker::default`] never masks although a pattern matches them.
///
/// `credential_id` contains `credential`, but it is the id of a secret in the vault, not the
/// secret, and the CRUD service's secret events carry it as-is (seed 000, "Masking and PII").
pub const DEFAULT_EXEMPT_KEYS: &[&str] = &["credential_id"];

/// Masks values whose key matches one of its patterns (case-insensitive).
#[derive(Debug, Clone)]
pub struct Masker {
    /// Normalised, non-empty, without duplicates.
    patterns: Vec<String>,
    /// All patterns in one automaton: a key is scanned once, not once per pattern. `None`
    /// when there are no patterns or the automaton could not be built (then each pattern
    /// is searched in turn).
    matcher: Option<AhoCorasick>,
    /// Normalised keys that are never masked.
    exempt: Vec<String>,
    /// Where a secret-shaped value may start (see [`Masker::mask_text`]).
    shapes: Option<AhoCorasick>,
}

/// The starts of secret-shaped values: a PEM block, a JWT (`{"` in base64url), and a
/// bearer token (ASCII case-insensitive).
const SHAPE_STARTS: [&str; 3] = ["-----BEGIN", "eyJ", "bearer "];

/// The shortest token after `Bearer ` that is masked: shorter words are prose.
const MIN_BEARER_TOKEN: usize = 8;

impl Masker {
    /// A masker with these patterns and no exempt keys.
    ///
    /// Patterns are normalised like keys; a pattern that normalises to nothing (e.g. `"_"`)
    /// is dropped, since it would mask every key.
    pub fn new<I: IntoIterator<Item = impl AsRef<str>>>(patterns: I) -> Self {
        let patterns = normalise_all(patterns);
        let matcher = if patterns.is_empty() {
            None
        } else {
            AhoCorasick::new(&patterns).ok()
        };
        let shapes = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(SHAPE_STARTS)
            .ok();
        Self {
            patterns,
            matcher,
            exempt: Vec::new(),
            shapes,
        }
    }

    /// The same masker, except that these keys are never masked. A key is exempt when it
    /// equals one of them after normalisation (`credentialId` equals `credential_id`);
    /// the values under an exempt key are still searched for sensitive keys.
    #[must_use]
    pub fn with_exempt_keys<I: IntoIterator<Item = impl AsRef<str>>>(mut self, keys: I) -> Self {
        for key in normalise_all(keys) {
            if !self.exempt.contains(&key) {
                self.exempt.push(key);
            }
        }
        self
    }

    /// The normalised patterns, in the order given.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(String::as_str)
    }

    /// Whether the value of `key` must be masked.
    pub fn is_sensitive(&self, key: &str) -> bool {
        // Fast path without allocating: short ASCII keys (nearly all JSON keys) are
        // normalised into a stack buffer. It runs for every key of every event.
        let mut buf = [0u8; 64];
        if key.is_ascii() && key.len() <= buf.len() {
            let mut len = 0;
            for byte in key.bytes() {
                if !matches!(byte, b'_' | b'-' | b'.') && !byte.is_ascii_whitespace() {
                    buf[len] = byte.to_ascii_lowercase();
                    len += 1;
                }
            }
            let key = &buf[..len];
            return !self.exempt.iter().any(|e| e.as_bytes() == key) && self.matches(key);
        }
        let key = normalise(key);
        !self.exempt.contains(&key) && self.matches(key.as_bytes())
    }

    /// Whether a normalised key contains one of the patterns.
    fn matches(&self, key: &[u8]) -> bool {
        match &self.matcher {
            Some(matcher) => matcher.is_match(key),
            None => self.patterns.iter().any(|p| contains(key, p.as_bytes())),
        }
    }

    /// Replaces, at any depth, the value of every sensitive key with [`MASK`], and every
    /// secret-shaped part of a string ([`mask_text`](Self::mask_text)).
    pub fn mask_in_place(&self, value: &mut Value) {
        // An explicit stack rather than recursion: a value built in code has no depth limit.
        // Only objects and arrays go on it, so a flat object allocates nothing.
        let mut pending: Vec<&mut Value> = Vec::new();
        let mut next = Some(value);
        while let Some(value) = next.take().or_else(|| pending.pop()) {
            match value {
                Value::Object(map) => {
                    for (key, child) in map.iter_mut() {
                        if self.is_sensitive(key) {
                            *child = Value::String(MASK.to_owned());
                        } else if is_container(child) {
                            pending.push(child);
                        } else if let Value::String(text) = child {
                            self.mask_text_in_place(text);
                        }
                    }
                }
                Value::Array(items) => {
                    for item in items.iter_mut() {
                        if is_container(item) {
                            pending.push(item);
                        } else if let Value::String(text) = item {
                            self.mask_text_in_place(text);
                        }
                    }
                }
                Value::String(text) => self.mask_text_in_place(text),
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
    }

    /// `text` with every PEM block (`-----BEGIN …-----` to its `-----END …-----`, or to the
    /// end), every JSON Web Token and the token after every `Bearer ` replaced by [`MASK`];
    /// `None` when there is nothing to mask (the common case, found by one scan).
    pub fn mask_text(&self, text: &str) -> Option<String> {
        let shapes = self.shapes.as_ref()?;
        let mut out = String::new();
        let mut copied = 0;
        for found in shapes.find_iter(text) {
            let start = found.start();
            if start < copied {
                continue;
            }
            let (from, to) = match found.pattern().as_usize() {
                0 => (start, pem_end(text, start)),
                1 => match jwt_end(text, start) {
                    Some(end) => (start, end),
                    None => continue,
                },
                _ => match bearer_token(text, found.end()) {
                    Some(span) => span,
                    None => continue,
                },
            };
            out.push_str(&text[copied..from]);
            out.push_str(MASK);
            copied = to;
        }
        if copied == 0 && out.is_empty() {
            return None;
        }
        out.push_str(&text[copied..]);
        Some(out)
    }

    /// [`mask_text`](Self::mask_text) in place.
    pub fn mask_text_in_place(&self, text: &mut String) {
        if let Some(masked) = self.mask_text(text) {
            *text = masked;
        }
    }

    /// Removes, at any depth, every sensitive key (configuration events carry no secret, not
    /// even a masked one: seed 003's payloads hold only what the event is about), and masks
    /// secret-shaped parts of the strings left ([`mask_text`](Self::mask_text)).
    pub fn strip_in_place(&self, value: &mut Value) {
        let mut pending = vec![value];
        while let Some(value) = pending.pop() {
            match value {
                Value::Object(map) => {
                    map.retain(|key, _| !self.is_sensitive(key));
                    pending.extend(map.values_mut());
                }
                Value::Array(items) => pending.extend(items.iter_mut()),
                Value::String(text) => self.mask_text_in_place(text),
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
    }

    /// A masked copy of `value`.
    pub fn masked(&self, value: &Value) -> Value {
        let mut copy = value.clone();
        self.mask_in_place(&mut copy);
        copy
    }
}

impl Default for Masker {
    /// [`DEFAULT_PATTERNS`], with [`DEFAULT_EXEMPT_KEYS`] exempt.
    fn default() -> Self {
        Masker::new(DEFAULT_PATTERNS).with_exempt_keys(DEFAULT_EXEMPT_KEYS)
    }
}

fn is_container(value: &Value) -> bool {
    matches!(value, Value::Object(_) | Value::Array(_))
}

/// The end of the PEM block that starts at `start`: after the dashes that close its
/// `-----END …-----` line, or the end of the text.
fn pem_end(text: &str, start: usize) -> usize {
    let Some(end) = text[start..].find("-----END").map(|i| start + i) else {
        return text.len();
    };
    let label = end + "-----END".len();
    match text[label..].find("-----") {
        Some(i) => label + i + "-----".len(),
        None => text.len(),
    }
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The end of a JWT (`header.payload.signature`, base64url) starting at `start`, if one does.
fn jwt_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut end = start;
    let mut dots = 0;
    let mut segment = 0;
    while end < bytes.len() {
        let b = bytes[end];
        if b == b'.' {
            if segment == 0 || dots == 2 {
                break;
            }
            dots += 1;
            segment = 0;
        } else if is_base64url(b) {
            segment += 1;
        } else {
            break;
        }
        end += 1;
    }
    (dots == 2 && end - start >= 16).then_some(end)
}

/// The span of the token after `Bearer ` (which ends at `after`), if it looks like one.
fn bearer_token(text: &str, after: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let start = after + bytes[after..].iter().take_while(|b| **b == b' ').count();
    let len = bytes[start..]
        .iter()
        .take_while(|b| is_base64url(**b) || matches!(b, b'.' | b'~' | b'+' | b'/' | b'='))
        .count();
    (len >= MIN_BEARER_TOKEN).then_some((start, start + len))
}

/// Whether `needle` occurs in `haystack` (both short: keys and patterns).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Lowercase, without `_`, `-`, `.` and whitespace.
fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.') && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

fn normalise_all<I: IntoIterator<Item = impl AsRef<str>>>(texts: I) -> Vec<String> {
    let mut normalised: Vec<String> = Vec::new();
    for text in texts {
        let text = normalise(text.as_ref());
        if !text.is_empty() && !normalised.contains(&text) {
            normalised.push(text);
        }
    }
    normalised
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    proptest::proptest! {
        #[test]
        fn the_automaton_judges_keys_as_a_search_for_each_pattern_would(
            key in "[A-Za-z_. -]{0,12}(pass|PASS|Pass|tok|token|secret|api|key|Straße|ä)?[A-Za-z_.-]{0,8}",
        ) {
            let m = Masker::default();
            let normalised = normalise(&key);
            let expected = !m.exempt.contains(&normalised)
                && m.patterns.iter().any(|p| normalised.contains(p.as_str()));
            proptest::prop_assert_eq!(m.is_sensitive(&key), expected);
        }
    }

    #[test]
    fn long_and_non_ascii_keys_are_judged_like_short_ascii_ones() {
        let m = Masker::default();
        let long = format!("{}_Password", "x".repeat(80));
        assert!(m.is_sensitive(&long));
        assert!(!m.is_sensitive(&"x".repeat(80)));
        assert!(m.is_sensitive("Pässe-API-Token"));
        assert!(!m.is_sensitive("Straße"));
        assert!(!m.is_sensitive("credential_id") && !m.is_sensitive("Credential-ID"));
    }

    #[test]
    fn strip_removes_sensitive_keys_at_every_depth_and_keeps_the_rest() {
        let mut v = json!({
            "username": "max",
            "password": "s3cret",
            "credentials": [{"type": "password", "value": "x"}],
            "profile": {"email": "max@example.org", "apiKey": "k", "tags": [{"token": "t", "n": 1}]},
        });
        Masker::default().strip_in_place(&mut v);
        assert_eq!(
            v,
            json!({"username": "max", "profile": {"email": "max@example.org", "tags": [{"n": 1}]}})
        );
    }

    #[test]
    fn the_mask_is_the_string_the_seed_shows() {
        assert_eq!(MASK, "****MASKED****");
    }

    #[test]
    fn case_and_separator_variants_of_a_pattern_are_sensitive() {
        let masker = Masker::default();
        for key in [
            "password",
            "Password",
            "PASSWORD",
            "new_password",
            "client_secret",
            "clientSecret",
            "X-API-Key",
            "api_key",
            "api.key",
            "Api Key",
            "refreshToken",
            "access-token",
            "Authorization",
            "private_key",
            "Set-Cookie",
            "JSESSIONID",
            "session_id",
            "db_passwd",
            "PWD",
            "credentials",
        ] {
            assert!(masker.is_sensitive(key), "{key} should be sensitive");
        }
    }

    #[test]
    fn keys_without_a_pattern_are_not_sensitive() {
        let masker = Masker::default();
        for key in [
            "Email",
            "LastName",
            "object_id",
            "shipping",
            "opinion",
            "api",
            "key",
            "session",
            "",
        ] {
            assert!(!masker.is_sensitive(key), "{key} should not be sensitive");
        }
    }

    #[test]
    fn credential_id_is_exempt_by_default_but_other_credential_keys_are_not() {
        let masker = Masker::default();
        assert!(!masker.is_sensitive("credential_id"));
        assert!(!masker.is_sensitive("credentialId"));
        assert!(masker.is_sensitive("credential"));
        assert!(masker.is_sensitive("credential_value"));
    }

    #[test]
    fn a_custom_masker_uses_only_its_own_normalised_patterns() {
        let masker = Masker::new(["Social_Security-Number", "pin"]);
        assert_eq!(
            masker.patterns().collect::<Vec<_>>(),
            ["socialsecuritynumber", "pin"]
        );
        assert!(masker.is_sensitive("socialSecurityNumber"));
        assert!(masker.is_sensitive("card_pin"));
        assert!(!masker.is_sensitive("password"));
    }

    #[test]
    fn a_pattern_that_normalises_to_nothing_is_dropped_instead_of_masking_everything() {
        let masker = Masker::new(["", "_", " - "]);
        assert_eq!(masker.patterns().count(), 0);
        assert!(!masker.is_sensitive("Email"));
    }

    #[test]
    fn the_exemption_is_for_the_whole_key_only() {
        let masker = Masker::new(["token"]).with_exempt_keys(["token_type"]);
        assert!(!masker.is_sensitive("TokenType"));
        assert!(masker.is_sensitive("access_token"));
        assert!(masker.is_sensitive("token_type_secret"));
    }

    #[test]
    fn the_seed_example_params_are_masked_as_the_seed_shows() {
        let params = json!({"Password": "hunter2", "Email": "john@example.com"});
        assert_eq!(
            Masker::default().masked(&params),
            json!({"Password": "****MASKED****", "Email": "john@example.com"})
        );
    }

    #[test]
    fn values_of_every_type_under_a_sensitive_key_are_replaced() {
        let mut value = json!({
            "password": "p",
            "pin_token": 1234,
            "secret": {"nested": "whole object goes"},
            "tokens": ["a", "b"],
            "cookie": null,
            "has_secret": true,
        });
        Masker::default().mask_in_place(&mut value);
        assert_eq!(
            value,
            json!({
                "password": MASK,
                "pin_token": MASK,
                "secret": MASK,
                "tokens": MASK,
                "cookie": MASK,
                "has_secret": MASK,
            })
        );
    }

    #[test]
    fn secrets_are_masked_at_every_depth_and_other_values_kept() {
        let value = json!({
            "system": "entraid_contractors",
            "password": "top",
            "connection": {
                "host": "db.example",
                "port": 5432,
                "client_secret": "level2",
                "auth": {
                    "user": "svc",
                    "Private-Key": "-----BEGIN",
                    "options": {"retries": 3, "sessionId": "abc"}
                }
            },
            "list": [[{"deep": {"refresh_token": "r"}}]]
        });
        assert_eq!(
            Masker::default().masked(&value),
            json!({
                "system": "entraid_contractors",
                "password": MASK,
                "connection": {
                    "host": "db.example",
                    "port": 5432,
                    "client_secret": MASK,
                    "auth": {
                        "user": "svc",
                        "Private-Key": MASK,
                        "options": {"retries": 3, "sessionId": MASK}
                    }
                },
                "list": [[{"deep": {"refresh_token": MASK}}]]
            })
        );
    }

    #[test]
    fn each_object_in_an_array_is_masked() {
        let value = json!([
            {"name": "a", "Password": "1"},
            {"name": "b", "password": "2", "extra": [{"X-API-Key": "k"}]},
            "plain string",
            42
        ]);
        assert_eq!(
            Masker::default().masked(&value),
            json!([
                {"name": "a", "Password": MASK},
                {"name": "b", "password": MASK, "extra": [{"X-API-Key": MASK}]},
                "plain string",
                42
            ])
        );
    }

    #[test]
    fn strings_that_look_secret_are_kept_when_their_key_is_not_sensitive() {
        let value =
            json!({"note": "password", "tags": ["token", "secret"], "say": "bearer of news"});
        assert_eq!(Masker::default().masked(&value), value);
    }

    #[test]
    fn key_material_is_masked_by_its_key() {
        let m = Masker::default();
        for key in [
            "client_key",
            "tls.key",
            "ssl_key",
            "signing_key",
            "private_key",
            "PrivateKey",
        ] {
            assert!(m.is_sensitive(key), "{key}");
        }
        assert!(
            !m.is_sensitive("key") && !m.is_sensitive("monkey") && !m.is_sensitive("keycloak_id")
        );
    }

    #[test]
    fn pem_blocks_jwts_and_bearer_tokens_are_masked_whatever_their_key() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtYXgifQ.c2lnbmF0dXJl";
        let value = json!({
            "attributes": {"note": "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----"},
            "list": [format!("id token {jwt} end")],
            "error": "upstream said: Authorization: Bearer abcdefgh12345678 was refused",
            "half": "-----BEGIN RSA PRIVATE KEY-----\nMIIE cut short",
        });
        let masked = Masker::default().masked(&value);
        assert_eq!(masked["attributes"]["note"], MASK);
        assert_eq!(masked["list"][0], format!("id token {MASK} end"));
        assert_eq!(
            masked["error"],
            format!("upstream said: Authorization: Bearer {MASK} was refused")
        );
        assert_eq!(masked["half"], MASK);
        assert_eq!(Masker::default().masked(&json!(jwt)), json!(MASK));
    }

    #[test]
    fn sensitive_keys_under_an_exempt_key_are_still_masked() {
        let value = json!({"credential_id": {"id": "c1", "secret": "s"}});
        assert_eq!(
            Masker::default().masked(&value),
            json!({"credential_id": {"id": "c1", "secret": MASK}})
        );
    }

    #[test]
    fn masked_leaves_the_original_untouched() {
        let value = json!({"password": "p"});
        let _ = Masker::default().masked(&value);
        assert_eq!(value, json!({"password": "p"}));
    }

    #[test]
    fn masking_a_deeply_nested_value_does_not_overflow_the_stack() {
        let mut value = json!({"password": "p"});
        // Built by hand: `json!` would serialize `value` again at each level, recursively.
        for _ in 0..100_000 {
            let mut level = serde_json::Map::new();
            level.insert("level".to_owned(), value);
            value = Value::Array(vec![Value::Object(level)]);
        }
        Masker::default().mask_in_place(&mut value);
        let mut inner = &value;
        while let Some(next) = inner.get(0).and_then(|o| o.get("level")) {
            inner = next;
        }
        assert_eq!(inner, &json!({"password": MASK}));
        // Dropping a value this deep recurses inside serde_json; take it apart by hand.
        let mut pending = vec![value];
        while let Some(mut v) = pending.pop() {
            match &mut v {
                Value::Array(items) => pending.append(items),
                Value::Object(map) => {
                    let keys: Vec<String> = map.keys().cloned().collect();
                    pending.extend(keys.into_iter().filter_map(|k| map.remove(&k)));
                }
                _ => {}
            }
        }
    }
}
