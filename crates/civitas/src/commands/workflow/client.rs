//! The client of the workflow API: where the service is, the caller's token, and the API's
//! typed answers (`civitas_workflow::api`).

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiArgs;

pub struct Api {
    client: reqwest::Client,
    url: reqwest::Url,
    token: Option<String>,
}

impl Api {
    pub fn new(args: &ApiArgs) -> anyhow::Result<Self> {
        let token = match &args.token {
            Some(pointer) => {
                crate::commands::shared::resolve_now(&[("--token".to_owned(), pointer.clone())])?
                    .pop()
            }
            None => None,
        };
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            url: reqwest::Url::parse(&args.url)
                .ok()
                .filter(|u| !u.cannot_be_a_base())
                .with_context(|| format!("--url {} is not an http(s) URL", args.url))?,
            token,
        })
    }

    /// The service's URL for a path of `segments` (each percent-encoded as one segment) and
    /// a query.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> reqwest::Url {
        let mut url = self.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends a request; the answer's status and body (JSON, or null).
    pub async fn call(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: Option<&impl serde::Serialize>,
        if_match: Option<i64>,
    ) -> anyhow::Result<(u16, Value)> {
        let shown = url.to_string();
        let mut request = self.client.request(method, url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(version) = if_match {
            request = request.header("If-Match", version.to_string());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("calling {shown}"))?;
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// A 2xx answer as `T`; any other fails with the service's `detail`.
    pub async fn ok<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: Option<&impl serde::Serialize>,
    ) -> anyhow::Result<T> {
        let path = url.path().to_owned();
        let (status, body) = self.call(method, url, body, None).await?;
        if !(200..300).contains(&status) {
            bail!("{path}: HTTP {status}: {}", detail(&body));
        }
        typed(&path, body)
    }
}

/// An answer as `T`, or why it is not one (a service of another version).
pub fn typed<T: DeserializeOwned>(path: &str, body: Value) -> anyhow::Result<T> {
    serde_json::from_value(body)
        .with_context(|| format!("{path}: the answer is not what this civitas expects"))
}

/// The `detail` of an error answer.
pub fn detail(body: &Value) -> String {
    match &body["detail"] {
        Value::String(s) => s.clone(),
        Value::Null => body.to_string(),
        other => other.to_string(),
    }
}

/// No body.
pub const NO_BODY: Option<&()> = None;
