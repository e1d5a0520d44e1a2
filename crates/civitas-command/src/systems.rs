//! The configured systems, each with its type and connector, and the lookup of a request's
//! system / object type / action with the checks on its params.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde_json::{Map, Value};

use crate::command_error::CommandError;
use crate::config::{Catalog, CommandSpec, ConnectorKind, SystemConfig, SystemType};
use crate::connectors::Connector;
use crate::connectors::http::HttpConnector;
use crate::credentials::CredentialResolver;
use crate::template::Templates;

/// One configured system.
#[derive(Debug, Clone)]
pub struct SystemEntry {
    pub config: Arc<SystemConfig>,
    pub system_type: Arc<SystemType>,
    pub connector: Arc<dyn Connector>,
    /// Calls and errors of the connector (`/metrics`, `crud.metrics`).
    pub calls: Arc<ConnectorCalls>,
}

/// Calls of one system's connector, counted by the executor.
#[derive(Debug, Default)]
pub struct ConnectorCalls {
    pub calls: AtomicU64,
    /// Calls that failed in the outside system or on the way (502, unreachable, timeout).
    pub errors: AtomicU64,
}

/// Makes the connector of a `directory` system, by the system's name (the built-in
/// directory, `civitas-directory`, on the service's database).
pub type DirectoryConnectors<'a> = &'a dyn Fn(&str) -> Arc<dyn Connector>;

/// A request's command, found.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a> {
    pub system: &'a SystemEntry,
    pub object_type: &'a str,
    pub action: &'a str,
    pub spec: &'a CommandSpec,
}

/// Why the systems could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SystemsError {
    #[error("system '{0}' is a directory, but no database is configured")]
    NoDatabase(String),
    #[error("could not build the HTTP client of system '{system}'")]
    HttpClient {
        system: String,
        #[source]
        source: reqwest::Error,
    },
}

/// Every configured system by name.
#[derive(Debug, Clone, Default)]
pub struct Systems {
    entries: BTreeMap<String, SystemEntry>,
}

impl Systems {
    /// Connectors for every system of the catalog.
    pub fn build(
        catalog: &Catalog,
        directory: Option<DirectoryConnectors<'_>>,
        resolver: Arc<dyn CredentialResolver>,
        templates: Arc<Templates>,
    ) -> Result<Self, SystemsError> {
        let mut entries = BTreeMap::new();
        for (name, config) in &catalog.systems {
            // Catalog::add_system checked that the type exists.
            let Some(system_type) = catalog.types.get(&config.system_type) else {
                continue;
            };
            let connector: Arc<dyn Connector> = match system_type.connector {
                ConnectorKind::Directory => {
                    let make = directory.ok_or_else(|| SystemsError::NoDatabase(name.clone()))?;
                    make(name)
                }
                ConnectorKind::Http => Arc::new(
                    HttpConnector::new(config, system_type, resolver.clone(), templates.clone())
                        .map_err(|source| SystemsError::HttpClient {
                            system: name.clone(),
                            source,
                        })?,
                ),
            };
            entries.insert(
                name.clone(),
                SystemEntry {
                    config: config.clone(),
                    system_type: system_type.clone(),
                    connector,
                    calls: Arc::default(),
                },
            );
        }
        Ok(Self { entries })
    }

    pub fn get(&self, name: &str) -> Option<&SystemEntry> {
        self.entries.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &SystemEntry)> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Finds the command; 404 naming the valid choices when something is unknown.
    pub fn resolve<'a>(
        &'a self,
        system: &str,
        object_type: &str,
        action: &str,
    ) -> Result<Resolved<'a>, CommandError> {
        let Some(entry) = self.entries.get(system) else {
            return Err(CommandError::NotFound(format!(
                "Unknown system '{system}'. Valid systems: {}",
                join(self.entries.keys())
            )));
        };
        let t = &entry.system_type;
        let Some((object_name, object)) = t.objects.get_key_value(object_type) else {
            return Err(CommandError::NotFound(format!(
                "Unknown object type '{object_type}' for system '{system}' (type {}). Valid object types: {}",
                t.name,
                join(t.objects.keys())
            )));
        };
        let Some((action_name, spec)) = object.commands.get_key_value(action) else {
            return Err(CommandError::NotFound(format!(
                "Unknown action '{action}' for {system}/{object_type}. Valid actions: {}",
                join(object.commands.keys())
            )));
        };
        Ok(Resolved {
            system: entry,
            object_type: object_name,
            action: action_name,
            spec,
        })
    }
}

impl Resolved<'_> {
    /// `system/object_type/action`, for messages.
    pub fn path(&self) -> String {
        format!(
            "{}/{}/{}",
            self.system.config.name, self.object_type, self.action
        )
    }

    /// The params with declared names spelled as declared (matched case-insensitively,
    /// ignoring `_` and `-`), checked for required ones, object_id and, for strict commands,
    /// unknown ones. 400 naming what is missing or unknown.
    pub fn prepare_params(
        &self,
        params: &Map<String, Value>,
        object_id: Option<&str>,
    ) -> Result<Map<String, Value>, CommandError> {
        let spec = self.spec;
        let mut prepared = Map::with_capacity(params.len());
        let mut unknown = Vec::new();
        for (key, value) in params {
            let declared = spec.known_params().find(|name| *name == key).or_else(|| {
                let wanted = loose(key);
                spec.known_params().find(|name| loose(name) == wanted)
            });
            let name = match declared {
                Some(name) => name.to_owned(),
                None => {
                    unknown.push(key.as_str());
                    key.clone()
                }
            };
            if prepared.contains_key(&name) {
                return Err(CommandError::BadRequest(format!(
                    "param '{name}' is given twice (as '{key}' and another spelling) for {}",
                    self.path()
                )));
            }
            prepared.insert(name, value.clone());
        }
        let mut missing: Vec<&str> = Vec::new();
        if spec.needs_object_id() && object_id.is_none_or(str::is_empty) {
            missing.push("object_id");
        }
        for name in &spec.required {
            if prepared.get(name).is_none_or(Value::is_null) {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            return Err(CommandError::BadRequest(format!(
                "Missing required params for {}: {}",
                self.path(),
                missing.join(", ")
            )));
        }
        if spec.strict && !unknown.is_empty() {
            let valid: Vec<&str> = spec.known_params().collect();
            return Err(CommandError::BadRequest(format!(
                "Unknown params for {}: {}. Valid params: {}",
                self.path(),
                unknown.join(", "),
                if valid.is_empty() {
                    "(none)".to_owned()
                } else {
                    valid.join(", ")
                }
            )));
        }
        Ok(prepared)
    }
}

/// Lowercase without `_` and `-`: `First_Name` → `firstname`.
fn loose(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn join<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}
