//! A *system type*: the object types a kind of outside system offers and the commands that
//! act on them (`config/system-types/*.yaml`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// One system type file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SystemType {
    /// What systems name in their `type:` key, e.g. `keycloak`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Which connector executes the commands.
    pub connector: ConnectorKind,
    /// Values each system of this type provides in its `settings:` (e.g. a realm), usable in
    /// templates as `settings.<name>`.
    #[serde(default)]
    pub settings: BTreeMap<String, SettingSpec>,
    /// Headers sent with every request (templates), before the command's own.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Object types by name, e.g. `user`.
    pub objects: BTreeMap<String, ObjectType>,
}

/// The connectors civitas has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorKind {
    /// The declarative HTTP engine: each command is a templated request.
    Http,
    /// The built-in user and group directory in the civitas database.
    Directory,
}

/// A value a system provides for its type.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SettingSpec {
    #[serde(default)]
    pub description: String,
    /// A system must set it when there is no default.
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<String>,
}

/// One object type, e.g. `user`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectType {
    #[serde(default)]
    pub description: String,
    /// The configuration-event entity, `<domain>.<entity>` (e.g. `idm.user`): successful
    /// commands with an `event` are announced on `de.civitascore.<domain>.<entity>.<event>`
    /// (see `config_events`: only pairs the topic catalog holds are published).
    #[serde(default)]
    pub entity: Option<String>,
    /// Commands by action name, e.g. `create`, `lock`.
    pub commands: BTreeMap<String, CommandSpec>,
}

/// One command: what an action does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// The command's kind: the `event_type` of its `crud.operations` event.
    pub kind: Kind,
    #[serde(default)]
    pub description: String,
    /// The configuration event a success means for the object type's `entity`.
    #[serde(default)]
    pub event: Option<ConfigEvent>,
    /// Params that must be present and not null.
    #[serde(default)]
    pub required: Vec<String>,
    /// Params the command knows besides the required ones.
    #[serde(default)]
    pub optional: Vec<String>,
    /// Refuse params that are neither required nor optional (default: pass them through).
    #[serde(default)]
    pub strict: bool,
    /// Whether the request must carry `object_id` (default: yes for read, update and delete).
    #[serde(default)]
    pub object_id: Option<bool>,
    /// HTTP method (http connector only).
    #[serde(default)]
    pub method: Option<HttpMethod>,
    /// Path after the system's `base_url`, a template; every value printed into it is
    /// percent-encoded (http connector only).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Query parameters (templates); one that renders empty is left out.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Request headers (templates).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The JSON body: any YAML value whose strings are templates. A string that is exactly
    /// one `{{ expression }}` keeps the expression's type; an object key whose lone
    /// expression is undefined is left out.
    #[serde(default)]
    pub body: Option<Value>,
    /// How to turn the response into the result.
    #[serde(default)]
    pub response: Option<ResponseSpec>,
}

impl CommandSpec {
    /// Whether `object_id` is required: as declared, else by kind.
    pub fn needs_object_id(&self) -> bool {
        self.object_id.unwrap_or(matches!(
            self.kind,
            Kind::Read | Kind::Update | Kind::Delete
        ))
    }

    /// Required then optional param names.
    pub fn known_params(&self) -> impl Iterator<Item = &str> {
        self.required
            .iter()
            .chain(self.optional.iter())
            .map(String::as_str)
    }
}

/// How the http connector maps a response.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    /// The result (a value whose strings are templates, like `body`); default: the response
    /// body. Variables: `body`, `status`, `headers`, `location_id`, and the request's.
    #[serde(default)]
    pub result: Option<Value>,
    /// The id of the object acted on (a template), e.g. `{{ location_id }}` after a create;
    /// default: the request's `object_id`.
    #[serde(default)]
    pub id: Option<String>,
}

/// The object types and actions the built-in `directory` connector implements (in
/// `civitas-directory`); a `directory` system type may declare only these.
pub const DIRECTORY_OPERATIONS: &[(&str, &[&str])] = &[
    (
        "user",
        &[
            "create",
            "read",
            "update",
            "delete",
            "list",
            "lock",
            "unlock",
            "change_password",
            "reset_password",
        ],
    ),
    (
        "group",
        &[
            "create",
            "read",
            "update",
            "delete",
            "list",
            "add_member",
            "remove_member",
        ],
    ),
];

/// The five kinds of command (in `civitas-events`: the policy names them too).
pub use civitas_events::Kind;

/// The past-tense configuration events a command may announce (seed 003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub enum ConfigEvent {
    #[serde(rename = "created")]
    Created,
    #[serde(rename = "updated")]
    Updated,
    #[serde(rename = "deleted")]
    Deleted,
    #[serde(rename = "locked")]
    Locked,
    #[serde(rename = "unlocked")]
    Unlocked,
    #[serde(rename = "password.changed")]
    PasswordChanged,
    #[serde(rename = "password.reset")]
    PasswordReset,
}

impl ConfigEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigEvent::Created => "created",
            ConfigEvent::Updated => "updated",
            ConfigEvent::Deleted => "deleted",
            ConfigEvent::Locked => "locked",
            ConfigEvent::Unlocked => "unlocked",
            ConfigEvent::PasswordChanged => "password.changed",
            ConfigEvent::PasswordReset => "password.reset",
        }
    }
}

/// HTTP methods a command may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_reqwest(self) -> reqwest::Method {
        match self {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
        }
    }
}
