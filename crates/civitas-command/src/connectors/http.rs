//! The declarative HTTP connector: a command of the system type becomes a request —
//! method, endpoint template under the system's `base_url`, query, headers, JSON body — sent
//! with the system's auth, timeouts and retry policy; the response is mapped to the result.
//!
//! Template variables: `params`, `object_id`, `settings` (the system's settings, with the
//! type's defaults) and `system` (`name`, `base_url`); when mapping the response also `body`
//! (JSON, or text), `status`, `headers` (lowercase names) and `location_id` (the id at the end
//! of a `Location` header: `.../users/abc` → `abc`, `.../Things(42)` → `42`).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use civitas_events::Masker;
use civitas_events::truncate::fit_json;

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::{Command, Connector, ConnectorError, Executed, describe_reqwest};
use crate::config::{SystemConfig, SystemType};
use crate::credentials::CredentialResolver;
use crate::template::{self, Templates};
use civitas_http::{Answer, Authenticator, Client, Failed, RetryPolicy, SendError};

/// Longest upstream error detail kept, in bytes of JSON.
const MAX_DETAIL_BYTES: usize = 4 * 1024;

/// Masks upstream error details, which may echo what we sent (a password, a token).
static MASKER: LazyLock<Masker> = LazyLock::new(Masker::default);

/// One http system.
#[derive(Debug)]
pub struct HttpConnector {
    name: String,
    base_url: String,
    headers: Vec<(String, String)>,
    settings: Value,
    client: Client,
    retry: RetryPolicy,
    templates: Arc<Templates>,
    /// Tries after the first, over all calls.
    retries: std::sync::atomic::AtomicU64,
}

impl HttpConnector {
    pub fn new(
        system: &SystemConfig,
        system_type: &SystemType,
        resolver: Arc<dyn CredentialResolver>,
        templates: Arc<Templates>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(system.timeouts.connect_ms))
            .timeout(Duration::from_millis(system.timeouts.request_ms))
            .user_agent(concat!("civitas-crud/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut settings = Map::new();
        for (name, spec) in &system_type.settings {
            if let Some(default) = &spec.default {
                settings.insert(name.clone(), Value::String(default.clone()));
            }
        }
        for (name, value) in &system.settings {
            settings.insert(name.clone(), Value::String(value.clone()));
        }
        let headers = system_type
            .headers
            .iter()
            .chain(system.headers.iter())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Self {
            name: system.name.clone(),
            base_url: system
                .base_url
                .clone()
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned(),
            headers,
            settings: Value::Object(settings),
            client: Client::new(
                client.clone(),
                Authenticator::new(system.auth.clone(), resolver, client),
            ),
            retry: system.retry.policy(),
            templates,
            retries: Default::default(),
        })
    }

    async fn run(
        &self,
        command: Command<'_>,
        params: &Map<String, Value>,
        object_id: Option<&str>,
    ) -> Result<Executed, ConnectorError> {
        let spec = command.spec;
        let (Some(method), Some(endpoint)) = (spec.method, spec.endpoint.as_deref()) else {
            return Err(ConnectorError::Internal(format!(
                "command {}/{} has no method or endpoint",
                command.object_type, command.action
            )));
        };
        let vars = json!({
            "params": params,
            "object_id": object_id,
            "settings": self.settings,
            "system": {"name": self.name, "base_url": self.base_url},
        });
        let ctx = template::context(&vars);
        let url = format!(
            "{}{}",
            self.base_url,
            self.templates.render_path(endpoint, &ctx)?
        );
        let mut query = Vec::new();
        for (name, source) in &spec.query {
            let value = self
                .templates
                .render_string(&format!("query {name}"), source, &ctx)?;
            if !value.is_empty() {
                query.push((name.clone(), value));
            }
        }
        let mut headers = Vec::new();
        for (name, source) in self
            .headers
            .iter()
            .map(|(k, v)| (k, v))
            .chain(spec.headers.iter())
        {
            let value = self
                .templates
                .render_string(&format!("header {name}"), source, &ctx)?;
            if !value.is_empty() {
                headers.push((name.clone(), value));
            }
        }
        let body = match &spec.body {
            Some(body) => self.templates.render_value("body", body, &ctx)?,
            None => None,
        };
        let shown_url = shown_url(&url, &query);

        let (outcome, tries) = self
            .client
            .send(&self.retry, |http| {
                let mut request = http.request(method.as_reqwest(), &url).query(&query);
                for (name, value) in &headers {
                    request = request.header(name.as_str(), value.as_str());
                }
                if let Some(body) = &body {
                    request = request.json(body);
                }
                request
            })
            .await;
        self.retries.fetch_add(
            u64::from(tries.saturating_sub(1)),
            std::sync::atomic::Ordering::Relaxed,
        );
        match outcome {
            Ok(answer) => self.map_response(command, answer, vars, object_id),
            Err(Failed::Status(answer)) => Err(ConnectorError::Upstream {
                status: answer.status.as_u16(),
                url: shown_url,
                detail: detail_of(&answer),
            }),
            Err(Failed::Send(SendError::Auth(error))) => Err(ConnectorError::Auth(error)),
            Err(Failed::Send(SendError::Build(error))) => Err(ConnectorError::BadParams(format!(
                "the request could not be built from these params: {}",
                describe_reqwest(&error)
            ))),
            Err(Failed::Send(SendError::Transport(error))) => Err(ConnectorError::Unreachable {
                url: shown_url,
                detail: describe_reqwest(&error),
            }),
            Err(Failed::Send(SendError::Body { error, .. })) => Err(ConnectorError::Unreachable {
                url: shown_url,
                detail: error.to_string(),
            }),
        }
    }

    fn map_response(
        &self,
        command: Command<'_>,
        answer: Answer,
        mut vars: Value,
        object_id: Option<&str>,
    ) -> Result<Executed, ConnectorError> {
        let status = answer.status.as_u16();
        let mut headers = Map::new();
        for (name, value) in &answer.headers {
            if let Ok(value) = value.to_str() {
                headers.insert(name.as_str().to_owned(), Value::String(value.to_owned()));
            }
        }
        let location_id = headers
            .get("location")
            .and_then(Value::as_str)
            .and_then(location_id);
        let body = parse_body(&answer.body);
        let Some(spec) = &command.spec.response else {
            return Ok(Executed::new(body, object_id.map(str::to_owned)));
        };
        if let Value::Object(vars) = &mut vars {
            vars.insert("body".into(), body.clone());
            vars.insert("status".into(), json!(status));
            vars.insert("headers".into(), Value::Object(headers));
            vars.insert("location_id".into(), json!(location_id));
        }
        let ctx = template::context(&vars);
        let result = match &spec.result {
            Some(result) => self
                .templates
                .render_value("response.result", result, &ctx)?
                .unwrap_or(Value::Null),
            None => body,
        };
        let id = match &spec.id {
            Some(id) => {
                let id = self.templates.render_string("response.id", id, &ctx)?;
                if id.is_empty() {
                    object_id.map(str::to_owned)
                } else {
                    Some(id)
                }
            }
            None => object_id.map(str::to_owned),
        };
        Ok(Executed::new(result, id))
    }
}

impl Connector for HttpConnector {
    fn execute<'a>(
        &'a self,
        command: Command<'a>,
        params: &'a Map<String, Value>,
        object_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Executed, ConnectorError>> {
        Box::pin(self.run(command, params, object_id))
    }

    fn retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// JSON if it parses, else the text; `null` when empty.
fn parse_body(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// An upstream error answer as it goes into our response and event: parsed as JSON when it
/// is JSON, masked (by key and by value: the text is outside our masking of params and
/// results), and cut to [`MAX_DETAIL_BYTES`].
/// An error answer's body, masked and cut for the caller and the event.
fn detail_of(answer: &Answer) -> Value {
    let mut detail = parse_body(&answer.body);
    MASKER.mask_in_place(&mut detail);
    fit_json(&mut detail, MAX_DETAIL_BYTES);
    detail
}

/// The URL with its query, for error messages.
fn shown_url(url: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return url.to_owned();
    }
    match reqwest::Url::parse_with_params(url, query) {
        Ok(u) => u.to_string(),
        Err(_) => url.to_owned(),
    }
}

/// The id at the end of a `Location`: `…/users/abc` → `abc`, `…/Things(42)` → `42`,
/// `…/Things('a''b')` → `a'b`.
pub fn location_id(location: &str) -> Option<String> {
    let path = location.split(['?', '#']).next().unwrap_or_default();
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    if last.is_empty() {
        return None;
    }
    if let Some(open) = last.find('(')
        && last.ends_with(')')
    {
        let key = &last[open + 1..last.len() - 1];
        let key = match key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')) {
            Some(quoted) => quoted.replace("''", "'"),
            None => key.to_owned(),
        };
        return Some(key);
    }
    Some(last.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_taken_from_the_end_of_a_location() {
        assert_eq!(
            location_id("http://kc/admin/realms/x/users/8c1b-22").as_deref(),
            Some("8c1b-22")
        );
        assert_eq!(
            location_id("http://frost/FROST-Server/v1.1/Things(42)").as_deref(),
            Some("42")
        );
        assert_eq!(
            location_id("http://frost/v1.1/Things('a''b')").as_deref(),
            Some("a'b")
        );
        assert_eq!(location_id("/x/y/?q=1").as_deref(), Some("y"));
        assert_eq!(location_id("/"), None);
    }

    #[test]
    fn an_empty_body_is_null_and_text_stays_text() {
        assert_eq!(parse_body(b""), Value::Null);
        assert_eq!(parse_body(b"{\"a\":1}"), json!({"a": 1}));
        assert_eq!(parse_body(b"oops"), json!("oops"));
    }
}
