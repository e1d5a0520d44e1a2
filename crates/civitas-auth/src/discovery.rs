//! The issuer's OpenID Connect discovery document (`/.well-known/openid-configuration`), read
//! once for the API's token checks (its `jwks_uri`) and the console's sign-in (its
//! authorization and token endpoints). Every answer of the issuer is read through
//! `civitas-http`'s capped reader: an outside system's answer is read at most
//! [`MAX_ISSUER_ANSWER`] bytes.

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Largest answer read from the issuer (a discovery document, a key set, a token response).
pub const MAX_ISSUER_ANSWER: usize = 256 * 1024;

/// What civitas reads of a discovery document.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// Where the signing keys are.
    pub jwks_uri: Option<String>,
    /// Where a browser signs in (the console).
    pub authorization_endpoint: Option<String>,
    /// Where the console trades a code for tokens.
    pub token_endpoint: Option<String>,
}

/// Why the issuer's answer could not be used: the address asked and the reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct IssuerError {
    pub url: String,
    pub reason: String,
}

/// The discovery document of `issuer`.
pub async fn discover(client: &reqwest::Client, issuer: &str) -> Result<Discovery, IssuerError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    get_json(client, &url).await
}

/// `GET url` as JSON of type `T`: a 2xx answer of at most [`MAX_ISSUER_ANSWER`] bytes.
pub async fn get_json<T: DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> Result<T, IssuerError> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| issuer_error(url, civitas_http::describe_reqwest(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(issuer_error(url, format!("HTTP {}", status.as_u16())));
    }
    read_json(response, url).await
}

/// The JSON of an issuer's answer, read at most [`MAX_ISSUER_ANSWER`] bytes.
pub async fn read_json<T: DeserializeOwned>(
    response: reqwest::Response,
    url: &str,
) -> Result<T, IssuerError> {
    let body = civitas_http::read_body(response, MAX_ISSUER_ANSWER)
        .await
        .map_err(|e| issuer_error(url, e.to_string()))?;
    serde_json::from_slice(&body)
        .map_err(|e| issuer_error(url, format!("not the JSON expected ({e})")))
}

fn issuer_error(url: &str, reason: String) -> IssuerError {
    IssuerError {
        url: url.to_owned(),
        reason,
    }
}
