//! The HTTP routes: `POST /execute`, `GET /systems`, `GET /health`, `GET /metrics`,
//! `GET /openapi.json`; and [`caller`], the authentication in front of the first two.

pub mod caller;
pub mod execute;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod systems;
