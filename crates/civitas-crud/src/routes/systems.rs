//! `GET /systems`: what can be executed — every system, its object types and their commands;
//! with an authorization policy, only what the caller may run.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use civitas_auth::Caller;
use civitas_auth::authz::Target;
use civitas_command::config::{ConfigEvent, ConnectorKind, Kind};

#[derive(Debug, Serialize, ToSchema)]
pub struct SystemsResponse {
    pub systems: Vec<SystemInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SystemInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub system_type: String,
    pub description: String,
    pub connector: ConnectorKind,
    pub base_url: Option<String>,
    /// The auth kind only; never a credential.
    pub auth: String,
    pub objects: BTreeMap<String, ObjectInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectInfo {
    pub description: String,
    pub entity: Option<String>,
    pub actions: BTreeMap<String, ActionInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionInfo {
    pub kind: Kind,
    pub description: String,
    pub required: Vec<String>,
    pub optional: Vec<String>,
    /// Whether the request must carry `object_id`.
    pub object_id: bool,
    pub event: Option<ConfigEvent>,
}

#[utoipa::path(
    get,
    path = "/systems",
    tag = "crud",
    responses((status = 200, description = "The configured systems and what they can execute", body = SystemsResponse))
)]
pub async fn systems(
    State(app): State<App>,
    caller: Option<Extension<Caller>>,
) -> Json<SystemsResponse> {
    let grants = caller.as_ref().map(|Extension(c)| c.0.grants.as_ref());
    // With a policy, a caller sees only what it may run.
    let allowed = |system: &str, object_type: &str, action: &str, kind: Kind| {
        app.policy.as_ref().is_none_or(|policy| {
            let target = Target {
                system,
                object_type,
                action,
                kind,
            };
            policy.check(grants, &target).is_ok()
        })
    };
    let systems = app
        .systems
        .iter()
        .filter_map(|(name, entry)| {
            let t = &entry.system_type;
            let objects: BTreeMap<String, ObjectInfo> = t
                .objects
                .iter()
                .filter_map(|(object_name, object)| {
                    let actions: BTreeMap<String, ActionInfo> = object
                        .commands
                        .iter()
                        .filter(|(action, spec)| allowed(name, object_name, action, spec.kind))
                        .map(|(action, spec)| {
                            (
                                action.clone(),
                                ActionInfo {
                                    kind: spec.kind,
                                    description: spec.description.clone(),
                                    required: spec.required.clone(),
                                    optional: spec.optional.clone(),
                                    object_id: spec.needs_object_id(),
                                    event: spec.event,
                                },
                            )
                        })
                        .collect();
                    (!actions.is_empty()).then(|| {
                        (
                            object_name.clone(),
                            ObjectInfo {
                                description: object.description.clone(),
                                entity: object.entity.clone(),
                                actions,
                            },
                        )
                    })
                })
                .collect();
            if objects.is_empty() && app.policy.is_some() {
                return None;
            }
            Some(SystemInfo {
                name: name.clone(),
                system_type: t.name.clone(),
                description: if entry.config.description.is_empty() {
                    t.description.clone()
                } else {
                    entry.config.description.clone()
                },
                connector: t.connector,
                base_url: entry.config.base_url.clone(),
                auth: entry.config.auth.kind().to_owned(),
                objects,
            })
        })
        .collect();
    Json(SystemsResponse { systems })
}
