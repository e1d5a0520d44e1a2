//! The authenticated caller of a request, and the ways other than a bearer token to find it.
//!
//! The API's authentication layer (in `civitas-crud`) reads a bearer token with
//! [`CallerAuth`]; a component that keeps its own sessions — the console's sign-in cookie —
//! plugs in as a [`SessionAuthenticator`], so the layer knows no component by name.

use std::fmt::Debug;

use futures::future::BoxFuture;
use http::{HeaderMap, Method};

use crate::caller_auth::{CallerAuth, Identity, Refused};

/// The authenticated caller of a request (a request extension).
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

/// Why a session did not make its request a caller's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRefused {
    /// The session's token no longer verifies (a 401).
    Token(Refused),
    /// The session is valid but the request lacks what it needs (the CSRF token): a 403.
    Forbidden(String),
}

/// A way to authenticate a request without an `Authorization` header.
pub trait SessionAuthenticator: Send + Sync + Debug {
    /// The caller of a request with these headers: `None` when it carries no session of this
    /// kind (the layer then asks for a bearer token).
    fn authenticate<'a>(
        &'a self,
        auth: &'a CallerAuth,
        method: &'a Method,
        headers: &'a HeaderMap,
    ) -> BoxFuture<'a, Option<Result<Identity, SessionRefused>>>;
}
