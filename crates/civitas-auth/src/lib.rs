//! Who calls civitas, and what they may do.
//!
//! - [`caller_auth`]: callers' OpenID Connect bearer tokens (JWTs), checked against the
//!   issuer's keys; the [`Identity`] a verified token stands for.
//! - [`discovery`]: the issuer's discovery document, read once and capped, shared by the API's
//!   token checks and the console's sign-in.
//! - [`session`]: the [`Caller`] of a request, and [`SessionAuthenticator`], the plug through
//!   which the console's sign-in sessions authenticate requests.
//! - [`authz`]: the authorization policy (a YAML file of rules: which callers may run which
//!   commands); default deny.
//!
//! No HTTP routing and no command execution here: the CRUD service's layer and executor ask
//! these types; the workflow engine and the console ask the same [`Policy`].

pub mod authz;
pub mod caller_auth;
pub mod discovery;
pub mod session;

pub use authz::{Grants, Policy, Target};
pub use caller_auth::{CallerAuth, CallerAuthSettings, Identity, Refused};
pub use session::{Caller, SessionAuthenticator, SessionRefused};
