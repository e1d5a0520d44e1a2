//! The HTTP routes: `POST /execute`, `GET /systems`, `GET /health`, `GET /metrics`,
//! `GET /openapi.json`; [`caller`], the authentication in front of the first two; and
//! [`json_only`], which refuses state-changing requests that are not `application/json`.

pub mod caller;
pub mod execute;
pub mod health;
pub mod json_only;
pub mod metrics;
pub mod openapi;
pub mod systems;
