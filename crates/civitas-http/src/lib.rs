//! Outbound HTTP: how civitas talks to outside systems, shared by the CRUD service's http
//! connector and the saga's adapters:
//!
//! - [`client`]: the [`Client`] — credentials, one token renewal on 401, the body size cap,
//!   and (with [`retry()`]) tries again after transient failures;
//! - [`retry`](mod@retry): the [`RetryPolicy`] (backoff with jitter, `Retry-After`) and the
//!   one [`retry()`] loop;
//! - [`pointer`](mod@pointer): credential *pointers* (`env:`, `file:`, `openbao+kv2://`,
//!   `hashicorp+kv2://`, `yaml://`) and their strict grammar;
//! - [`credentials`]: the [`CredentialResolver`] that turns them into secrets when they are
//!   used (the secret service in `civitas-secrets` is the full one), and the lookup context;
//! - [`auth_config`]: the auth kinds ([`AuthConfig`]: none, bearer, basic, API key, OAuth2
//!   client credentials) as system files write them;
//! - [`auth`]: the [`Authenticator`] that applies one to requests, caching OAuth2 tokens until
//!   shortly before they expire;
//! - [`url_path`]: the check that keeps a value inside its URL path segment (no `..`).

pub mod auth;
pub mod auth_config;
pub mod client;
pub mod credentials;
pub mod pointer;
pub mod retry;
pub mod url_path;

pub use auth::{AuthConfig, AuthError, Authenticator};
pub use client::{Answer, Client, Failed, SendError};
pub use credentials::{
    CredentialError, CredentialResolver, LocalResolver, LookupContext, Resolved, lookup_context,
    with_lookup_context,
};
pub use pointer::{
    CredentialRef, PointerError, PointerErrorCode, VaultPointer, VaultProvider, YamlPointer,
};
pub use retry::{RetryPolicy, Verdict, parse_retry_after, retry};

/// Largest response body read from an outside system (an upstream answer, a token
/// response): 16 MiB. A larger one is refused, not read into memory.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Why a response body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadBodyError {
    #[error("the answer is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("{}", describe_reqwest(.0))]
    Read(#[from] reqwest::Error),
}

/// Reads a response body of at most `max` bytes, chunk by chunk: a body that announces or
/// turns out to be larger is refused as soon as that is known.
pub async fn read_body(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, ReadBodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > max as u64)
    {
        return Err(ReadBodyError::TooLarge { max });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(ReadBodyError::TooLarge { max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error in a few words — what failed (timed out, connection failed, …) and the
/// innermost cause — without the URL and its query (which may carry data).
pub fn describe_reqwest(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "could not read the response"
    } else if error.is_request() {
        "could not send the request"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    }
}
