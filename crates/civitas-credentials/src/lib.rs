//! Credentials for talking to outside systems, shared by the CRUD service's http connector
//! and the saga's adapters:
//!
//! - [`credentials`]: secret *pointers* (`env:NAME`, `file:PATH`) and the
//!   [`CredentialResolver`] that turns them into secrets when they are used;
//! - [`auth_config`]: the auth kinds ([`AuthConfig`]: none, bearer, basic, API key, OAuth2
//!   client credentials) as system files write them;
//! - [`auth`]: the [`Authenticator`] that applies one to requests, caching OAuth2 tokens until
//!   shortly before they expire.

pub mod auth;
pub mod auth_config;
pub mod credentials;

pub use auth::{AuthConfig, AuthError, Authenticator};
pub use credentials::{CredentialError, CredentialRef, CredentialResolver, LocalResolver};

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
