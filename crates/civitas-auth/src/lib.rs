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
//!
//! Choices:
//! - Tokens are checked with `jsonwebtoken` (RustCrypto, no C library) against the issuer's
//!   JWKS; asymmetric algorithms only.
//! - The console's sign-in does not use the `openidconnect` crate: it would bring a second
//!   HTTP client abstraction and a second JWT/JWK stack beside `jsonwebtoken`, while what the
//!   sign-in needs is here already — the discovery ([`discovery`]), and ID-token checks
//!   (signature, issuer, audience = the client id) by [`CallerAuth::claims`] with the same
//!   keys as every bearer token; PKCE S256 is a hash and an encoding. One verifier keeps one
//!   place to fix. To revisit if the sign-in needs refresh tokens or client registration.
//! - Every answer of the issuer is read through `civitas-http`'s capped reader.

pub mod authz;
pub mod caller_auth;
pub mod discovery;
pub mod session;

pub use authz::{Grants, Policy, Target};
pub use caller_auth::{CallerAuth, CallerAuthSettings, Identity, Refused};
pub use session::{Caller, SessionAuthenticator, SessionRefused};
