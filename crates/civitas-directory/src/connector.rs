//! The directory connector: the built-in users and groups of a `directory` system, stored
//! through [`DirectoryStore`]. Users are addressed by username, groups by name.
//!
//! Passwords are hashed with argon2 (on the blocking pool: hashing is deliberately slow) and
//! only the hash is stored; results never carry it.

use std::sync::LazyLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, SemaphorePermit};

use civitas_command::connectors::{Command, Connector, ConnectorError, Executed};

use crate::store::{
    DirectoryError, DirectoryStore, GroupChanges, NewGroup, NewUser, UserChanges, UserFilter,
};

/// Largest page a list returns.
const MAX_LIMIT: i64 = 1_000;

/// One directory system.
#[derive(Debug, Clone)]
pub struct DirectoryConnector {
    system: String,
    store: DirectoryStore,
}

impl DirectoryConnector {
    pub fn new(system: impl Into<String>, store: DirectoryStore) -> Self {
        Self {
            system: system.into(),
            store,
        }
    }

    async fn run(
        &self,
        command: Command<'_>,
        params: &Map<String, Value>,
        object_id: Option<&str>,
    ) -> Result<Executed, ConnectorError> {
        let p = Params(params);
        if object_id.is_some_and(|id| id.contains('\0')) {
            return Err(ConnectorError::BadParams(NUL_IN_OBJECT_ID.to_owned()));
        }
        let id = || object_id.unwrap_or_default();
        let system = self.system.as_str();
        let store = &self.store;
        let map = |e: DirectoryError| self.error(e);
        let user = |u| to_json(&u);
        match (command.object_type, command.action) {
            ("user", "create") => {
                // A duplicate is refused before the (deliberately slow) hash is paid for; the
                // insert still checks, for two creates racing.
                let username = p.required_name("username")?;
                if store.user(system, &username).await.is_ok() {
                    return Err(map(DirectoryError::UserExists(username)));
                }
                let password_hash = match p.string("password")? {
                    Some(password) => Some(hash_password(&password).await?),
                    None => None,
                };
                let new = NewUser {
                    username,
                    email: p.string("email")?,
                    firstname: p.string("firstname")?,
                    lastname: p.string("lastname")?,
                    enabled: p.bool("enabled")?.unwrap_or(true),
                    attributes: p.object("attributes")?,
                    groups: p.strings("groups")?.unwrap_or_default(),
                    password_hash,
                };
                let created = store.create_user(system, new).await.map_err(map)?;
                let username = created.username.clone();
                Ok(Executed::new(user(created), Some(username)))
            }
            ("user", "read") => {
                let found = store.user(system, id()).await.map_err(map)?;
                Ok(Executed::new(user(found), Some(id().to_owned())))
            }
            ("user", "update") => {
                let changes = UserChanges {
                    username: match p.get("username") {
                        Some(_) => Some(p.required_name("username")?),
                        None => None,
                    },
                    email: p.nullable_string("email")?,
                    firstname: p.nullable_string("firstname")?,
                    lastname: p.nullable_string("lastname")?,
                    enabled: p.bool("enabled")?,
                    attributes: p.object("attributes")?,
                    groups: p.strings("groups")?,
                };
                let updated = store
                    .update_user(system, id(), changes)
                    .await
                    .map_err(map)?;
                let username = updated.username.clone();
                Ok(Executed::new(user(updated), Some(username)))
            }
            ("user", "delete") => {
                let deleted = store.delete_user(system, id()).await.map_err(map)?;
                Ok(Executed::new(user(deleted), Some(id().to_owned())))
            }
            ("user", "list") => {
                let filter = UserFilter {
                    search: p.string("search")?,
                    enabled: p.bool("enabled")?,
                    locked: p.bool("locked")?,
                    group: p.string("group")?,
                    limit: p.limit()?,
                    offset: p.offset()?,
                };
                let users = store.list_users(system, &filter).await.map_err(map)?;
                Ok(Executed::new(to_json(&users), None))
            }
            ("user", "lock" | "unlock") => {
                let locked = command.action == "lock";
                let changed = store.set_locked(system, id(), locked).await.map_err(map)?;
                Ok(Executed::new(user(changed), Some(id().to_owned())))
            }
            ("user", "change_password") => {
                let old = p.required_string("old_password")?;
                let new = p.required_string("new_password")?;
                let Some(hash) = store.password_hash(system, id()).await.map_err(map)? else {
                    return Err(ConnectorError::BadParams(format!(
                        "user '{}' has no password yet; set one with reset_password",
                        id()
                    )));
                };
                if !verify_password(old, hash).await? {
                    return Err(ConnectorError::BadParams(
                        "old_password does not match the current password".to_owned(),
                    ));
                }
                let hash = hash_password(new).await?;
                let changed = store
                    .set_password_hash(system, id(), &hash)
                    .await
                    .map_err(map)?;
                Ok(Executed::new(user(changed), Some(id().to_owned())))
            }
            ("user", "reset_password") => {
                let new = p.required_string("new_password")?;
                // Check the user exists before spending time on the hash.
                store.password_hash(system, id()).await.map_err(map)?;
                let hash = hash_password(new).await?;
                let changed = store
                    .set_password_hash(system, id(), &hash)
                    .await
                    .map_err(map)?;
                Ok(Executed::new(user(changed), Some(id().to_owned())))
            }
            ("group", "create") => {
                let new = NewGroup {
                    name: p.required_name("name")?,
                    description: p.string("description")?,
                    members: p.strings("members")?.unwrap_or_default(),
                };
                let created = store.create_group(system, new).await.map_err(map)?;
                let name = created.name.clone();
                Ok(Executed::new(to_json(&created), Some(name)))
            }
            ("group", "read") => {
                let found = store.group(system, id()).await.map_err(map)?;
                Ok(Executed::new(to_json(&found), Some(id().to_owned())))
            }
            ("group", "update") => {
                let changes = GroupChanges {
                    name: match p.get("name") {
                        Some(_) => Some(p.required_name("name")?),
                        None => None,
                    },
                    description: p.nullable_string("description")?,
                    members: p.strings("members")?,
                };
                let updated = store
                    .update_group(system, id(), changes)
                    .await
                    .map_err(map)?;
                let name = updated.name.clone();
                Ok(Executed::new(to_json(&updated), Some(name)))
            }
            ("group", "delete") => {
                let deleted = store.delete_group(system, id()).await.map_err(map)?;
                Ok(Executed::new(to_json(&deleted), Some(id().to_owned())))
            }
            ("group", "list") => {
                let search = p.string("search")?;
                let groups = store
                    .list_groups(system, search.as_deref(), p.limit()?, p.offset()?)
                    .await
                    .map_err(map)?;
                Ok(Executed::new(to_json(&groups), None))
            }
            ("group", "add_member") => {
                let username = p.required_string("username")?;
                let group = store
                    .add_member(system, id(), username)
                    .await
                    .map_err(map)?;
                Ok(Executed::new(to_json(&group), Some(id().to_owned())))
            }
            ("group", "remove_member") => {
                let username = p.required_string("username")?;
                let group = store
                    .remove_member(system, id(), username)
                    .await
                    .map_err(map)?;
                Ok(Executed::new(to_json(&group), Some(id().to_owned())))
            }
            (object_type, action) => Err(ConnectorError::Internal(format!(
                "the directory connector has no operation {object_type}/{action}"
            ))),
        }
    }

    fn error(&self, error: DirectoryError) -> ConnectorError {
        let system = &self.system;
        match error {
            DirectoryError::UserNotFound(name) => {
                ConnectorError::NotFound(format!("user '{name}' not found in system '{system}'"))
            }
            DirectoryError::GroupNotFound(name) => {
                ConnectorError::NotFound(format!("group '{name}' not found in system '{system}'"))
            }
            DirectoryError::UserExists(name) => ConnectorError::Conflict(format!(
                "user '{name}' already exists in system '{system}'"
            )),
            DirectoryError::GroupExists(name) => ConnectorError::Conflict(format!(
                "group '{name}' already exists in system '{system}'"
            )),
            e @ (DirectoryError::UnknownUsers(_) | DirectoryError::UnknownGroups(_)) => {
                ConnectorError::BadParams(format!("{e} in system '{system}'"))
            }
            DirectoryError::Database(e) if civitas_store::is_unavailable(&e) => {
                tracing::warn!(error = %e, "the directory's database is unreachable");
                ConnectorError::Unavailable(format!(
                    "the directory of system '{system}' is unavailable: its database does not answer; try again"
                ))
            }
            DirectoryError::Database(e) => {
                ConnectorError::Internal(format!("directory database error: {e}"))
            }
        }
    }
}

impl Connector for DirectoryConnector {
    fn execute<'a>(
        &'a self,
        command: Command<'a>,
        params: &'a Map<String, Value>,
        object_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Executed, ConnectorError>> {
        Box::pin(self.run(command, params, object_id))
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// At most one argon2 computation per core at a time: each takes ~19 MiB and tens of
/// milliseconds, and 300 parallel creates must not take gigabytes.
static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)));

async fn hashing_permit() -> Result<SemaphorePermit<'static>, ConnectorError> {
    HASHING
        .acquire()
        .await
        .map_err(|e| ConnectorError::Internal(format!("argon2 limiter closed: {e}")))
}

async fn hash_password(password: &str) -> Result<String, ConnectorError> {
    let password = password.to_owned();
    let _permit = hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| ConnectorError::Internal(format!("argon2 hashing failed: {e}")))
    })
    .await
    .map_err(|e| ConnectorError::Internal(format!("argon2 task failed: {e}")))?
}

async fn verify_password(password: &str, hash: String) -> Result<bool, ConnectorError> {
    let password = password.to_owned();
    let _permit = hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .map_err(|e| ConnectorError::Internal(format!("argon2 task failed: {e}")))
}

/// Most items of a list param (`members`, `groups`) in one request.
pub const MAX_LIST_ITEMS: usize = 1_000;

const NUL_IN_OBJECT_ID: &str = "object_id must be free of NUL characters";

/// Typed access to params, with 400 messages that name the param.
struct Params<'a>(&'a Map<String, Value>);

impl<'a> Params<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn wrong(name: &str, what: &str) -> ConnectorError {
        ConnectorError::BadParams(format!("param '{name}' must be {what}"))
    }

    /// `text` for a text column: PostgreSQL's cannot hold NUL characters (SQLite's could,
    /// but one schema means one rule).
    fn text(name: &str, text: &str) -> Result<(), ConnectorError> {
        if text.contains('\0') {
            return Err(Self::wrong(name, "free of NUL characters"));
        }
        Ok(())
    }

    fn string(&self, name: &str) -> Result<Option<String>, ConnectorError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Self::text(name, s).map(|()| Some(s.clone())),
            Some(_) => Err(Self::wrong(name, "a string")),
        }
    }

    /// `Some(None)` for an explicit null: the field is cleared.
    fn nullable_string(&self, name: &str) -> Result<Option<Option<String>>, ConnectorError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Self::text(name, s).map(|()| Some(Some(s.clone()))),
            Some(_) => Err(Self::wrong(name, "a string or null")),
        }
    }

    fn required_string(&self, name: &str) -> Result<&'a str, ConnectorError> {
        match self.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Self::text(name, s).map(|()| s.as_str()),
            Some(Value::String(_)) => Err(Self::wrong(name, "a non-empty string")),
            Some(_) => Err(Self::wrong(name, "a string")),
            None => Err(ConnectorError::BadParams(format!(
                "param '{name}' is required"
            ))),
        }
    }

    /// A user or group name: non-empty, at most 255 characters, no control characters.
    fn required_name(&self, name: &str) -> Result<String, ConnectorError> {
        let value = self.required_string(name)?;
        if value.chars().count() > 255
            || value.chars().any(char::is_control)
            || value.trim() != value
        {
            return Err(Self::wrong(
                name,
                "at most 255 characters without control characters or surrounding spaces",
            ));
        }
        Ok(value.to_owned())
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, ConnectorError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Self::wrong(name, "true or false")),
        }
    }

    fn object(&self, name: &str) -> Result<Option<Value>, ConnectorError> {
        match self.get(name) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
            Some(_) => Err(Self::wrong(name, "an object")),
        }
    }

    fn strings(&self, name: &str) -> Result<Option<Vec<String>>, ConnectorError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) if items.len() > MAX_LIST_ITEMS => {
                Err(ConnectorError::BadParams(format!(
                    "param `{name}`: {} items, at most {MAX_LIST_ITEMS} per request",
                    items.len()
                )))
            }
            Some(Value::Array(items)) => {
                let strings = items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| Self::wrong(name, "a list of strings"))?;
                for item in &strings {
                    Self::text(name, item)?;
                }
                Ok(Some(strings))
            }
            Some(_) => Err(Self::wrong(name, "a list of strings")),
        }
    }

    fn integer(&self, name: &str) -> Result<Option<i64>, ConnectorError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| Self::wrong(name, "an integer")),
        }
    }

    fn limit(&self) -> Result<i64, ConnectorError> {
        match self.integer("limit")? {
            None => Ok(100),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(Self::wrong("limit", "between 1 and 1000")),
        }
    }

    fn offset(&self) -> Result<i64, ConnectorError> {
        match self.integer("offset")? {
            None => Ok(0),
            Some(n) if n >= 0 => Ok(n),
            Some(_) => Err(Self::wrong("offset", "0 or more")),
        }
    }
}
