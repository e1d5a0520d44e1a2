//! The HTTP routes: `POST /execute`, `GET /systems`, `GET /health`, `GET /metrics`,
//! `GET /openapi.json`.

pub mod execute;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod systems;
