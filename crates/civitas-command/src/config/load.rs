//! Reading and checking the configuration.
//!
//! Layout of a systems directory (`--systems DIR`):
//!
//! ```text
//! DIR/*.yaml               one system per file
//! DIR/system-types/*.yaml  extra system types (one with a shipped type's name replaces it)
//! ```
//!
//! The shipped system types (`config/system-types/` in the repository) are embedded in the
//! binary, so `civitas up` needs no file on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use super::system::{AuthConfig, SystemConfig};
use super::system_type::DIRECTORY_OPERATIONS;
use super::system_type::{ConnectorKind, SystemType};
use super::{ConfigError, ConfigErrors};
use crate::template;
use civitas_config::yaml_error;

/// The shipped system types: file name and YAML.
pub const BUILTIN_TYPES: &[(&str, &str)] = &[
    (
        "directory.yaml",
        include_str!("../../../../config/system-types/directory.yaml"),
    ),
    (
        "keycloak.yaml",
        include_str!("../../../../config/system-types/keycloak.yaml"),
    ),
    (
        "apisix.yaml",
        include_str!("../../../../config/system-types/apisix.yaml"),
    ),
    (
        "frost.yaml",
        include_str!("../../../../config/system-types/frost.yaml"),
    ),
    (
        "msgraph.yaml",
        include_str!("../../../../config/system-types/msgraph.yaml"),
    ),
];

/// System types and systems, checked against each other.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub types: BTreeMap<String, Arc<SystemType>>,
    /// Systems by name.
    pub systems: BTreeMap<String, Arc<SystemConfig>>,
}

impl Catalog {
    /// The shipped system types and no system.
    pub fn builtin() -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let mut catalog = Catalog::default();
        for (file, text) in BUILTIN_TYPES {
            let file = format!("builtin:{file}");
            match parse_system_type(&file, text) {
                Ok(t) => {
                    catalog.types.insert(t.name.clone(), Arc::new(t));
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        if errors.is_empty() {
            Ok(catalog)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Adds a system after checking it against its type.
    pub fn add_system(&mut self, file: &str, system: SystemConfig) -> Result<(), Vec<ConfigError>> {
        if self.systems.contains_key(&system.name) {
            return Err(vec![ConfigError::new(
                file,
                "name",
                format!("a system named '{}' is already configured", system.name),
            )]);
        }
        check_system_against_type(file, &system, &self.types)?;
        self.systems.insert(system.name.clone(), Arc::new(system));
        Ok(())
    }
}

/// The shipped types plus, when `dir` is given, its extra types and its systems.
pub fn load_catalog(dir: Option<&Path>) -> Result<Catalog, ConfigErrors> {
    let mut catalog = Catalog::builtin()?;
    let Some(dir) = dir else {
        return Ok(catalog);
    };
    let mut errors = Vec::new();
    if !dir.is_dir() {
        return Err(ConfigErrors(vec![ConfigError::new(
            &dir.display().to_string(),
            ".",
            "the systems directory does not exist or is not a directory",
        )]));
    }
    let types_dir = dir.join("system-types");
    let mut defined_here: BTreeMap<String, String> = BTreeMap::new();
    for (file, text) in yaml_files(&types_dir, &mut errors) {
        match parse_system_type(&file, &text) {
            Ok(t) => {
                if let Some(first) = defined_here.get(&t.name) {
                    errors.push(ConfigError::new(
                        &file,
                        "name",
                        format!("system type '{}' is already defined in {first}", t.name),
                    ));
                    continue;
                }
                if catalog.types.contains_key(&t.name) {
                    tracing::info!(system_type = %t.name, %file, "replacing the shipped system type");
                }
                defined_here.insert(t.name.clone(), file.clone());
                catalog.types.insert(t.name.clone(), Arc::new(t));
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    for (file, text) in yaml_files(dir, &mut errors) {
        match parse_system(&file, &text) {
            Ok(system) => {
                if let Err(mut e) = catalog.add_system(&file, system) {
                    errors.append(&mut e);
                }
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(catalog)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// `*.yaml` and `*.yml` files of `dir` (none if it does not exist), sorted by name.
fn yaml_files(dir: &Path, errors: &mut Vec<ConfigError>) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let file = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((file, text)),
            Err(e) => errors.push(ConfigError::new(&file, ".", format!("cannot read: {e}"))),
        }
    }
    files
}

/// Parses and checks one system-type file.
pub fn parse_system_type(file: &str, text: &str) -> Result<SystemType, Vec<ConfigError>> {
    let system_type: SystemType =
        serde_norway::from_str(text).map_err(|e| vec![yaml_error(file, &e)])?;
    let errors = check_system_type(file, &system_type);
    if errors.is_empty() {
        Ok(system_type)
    } else {
        Err(errors)
    }
}

/// Parses one system file (checked against its type by [`Catalog::add_system`]).
pub fn parse_system(file: &str, text: &str) -> Result<SystemConfig, Vec<ConfigError>> {
    let system: SystemConfig =
        serde_norway::from_str(text).map_err(|e| vec![yaml_error(file, &e)])?;
    let mut errors = Vec::new();
    if !is_name(&system.name) {
        errors.push(ConfigError::new(file, "name", NAME_RULE));
    }
    let retry = &system.retry;
    if retry.attempts == 0 || retry.attempts > 10 {
        errors.push(ConfigError::new(
            file,
            "retry.attempts",
            "must be between 1 and 10",
        ));
    }
    if !(1.0..=10.0).contains(&retry.multiplier) {
        errors.push(ConfigError::new(
            file,
            "retry.multiplier",
            "must be between 1.0 and 10.0",
        ));
    }
    if !(0.0..=1.0).contains(&retry.jitter) {
        errors.push(ConfigError::new(
            file,
            "retry.jitter",
            "must be between 0.0 and 1.0",
        ));
    }
    if retry.initial_backoff_ms > retry.max_backoff_ms {
        errors.push(ConfigError::new(
            file,
            "retry.initial_backoff_ms",
            "must not exceed retry.max_backoff_ms",
        ));
    }
    for (i, status) in retry.retry_on.iter().enumerate() {
        if !(100..=599).contains(status) {
            errors.push(ConfigError::new(
                file,
                format!("retry.retry_on[{i}]"),
                format!("{status} is not an HTTP status"),
            ));
        }
    }
    if system.timeouts.connect_ms == 0 || system.timeouts.request_ms == 0 {
        errors.push(ConfigError::new(
            file,
            "timeouts",
            "timeouts must be greater than 0",
        ));
    }
    for (name, value) in &system.headers {
        check_template(file, &format!("headers.{name}"), value, &mut errors);
    }
    if let AuthConfig::Oauth2ClientCredentials { token_url, .. } = &system.auth
        && !is_http_url(token_url)
    {
        errors.push(ConfigError::new(
            file,
            "auth.token_url",
            "must be an http:// or https:// URL",
        ));
    }
    if errors.is_empty() {
        Ok(system)
    } else {
        Err(errors)
    }
}

const NAME_RULE: &str = "must be 1 to 64 characters of a-z, 0-9, _ and -, starting with a letter";

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .unwrap_or(false)
}

/// Whether a URL carries `user[:password]@`.
fn has_userinfo(url: &str) -> bool {
    reqwest::Url::parse(url)
        .map(|u| !u.username().is_empty() || u.password().is_some())
        .unwrap_or(false)
}

/// `domain.entity`: two lowercase alphanumeric segments (seed 003: no separators in entities).
fn is_entity(entity: &str) -> bool {
    let mut parts = entity.split('.');
    let ok = |s: Option<&str>| {
        s.is_some_and(|s| {
            !s.is_empty()
                && s.starts_with(|c: char| c.is_ascii_lowercase())
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

fn check_template(file: &str, key: &str, source: &str, errors: &mut Vec<ConfigError>) {
    if let Err(reason) = template::check_string(source) {
        errors.push(ConfigError::new(
            file,
            key,
            format!("invalid template: {reason}"),
        ));
    }
}

fn check_system_type(file: &str, t: &SystemType) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut err = |key: String, reason: String| errors.push(ConfigError::new(file, key, reason));
    if !is_name(&t.name) {
        err("name".into(), NAME_RULE.into());
    }
    if t.objects.is_empty() {
        err(
            "objects".into(),
            "a system type needs at least one object type".into(),
        );
    }
    let http = t.connector == ConnectorKind::Http;
    if !http && (!t.headers.is_empty() || !t.settings.is_empty()) {
        err(
            "connector".into(),
            "the directory connector takes no headers or settings".into(),
        );
    }
    for (name, value) in &t.headers {
        if let Err(reason) = template::check_string(value) {
            err(
                format!("headers.{name}"),
                format!("invalid template: {reason}"),
            );
        }
    }
    for (object_name, object) in &t.objects {
        let base = format!("objects.{object_name}");
        if !is_name(object_name) {
            err(base.clone(), format!("object type name {NAME_RULE}"));
        }
        if let Some(entity) = &object.entity
            && !is_entity(entity)
        {
            err(
                format!("{base}.entity"),
                format!(
                    "'{entity}' is not <domain>.<entity> (two lowercase segments of a-z and 0-9, e.g. idm.user)"
                ),
            );
        }
        if object.commands.is_empty() {
            err(
                format!("{base}.commands"),
                "an object type needs at least one command".into(),
            );
        }
        let directory_actions = DIRECTORY_OPERATIONS
            .iter()
            .find(|(o, _)| *o == object_name)
            .map(|(_, actions)| *actions);
        if !http && directory_actions.is_none() {
            let offered: Vec<&str> = DIRECTORY_OPERATIONS.iter().map(|(o, _)| *o).collect();
            err(
                base.clone(),
                format!(
                    "the directory connector has no object type '{object_name}'; it offers: {}",
                    offered.join(", ")
                ),
            );
        }
        for (action, command) in &object.commands {
            let key = format!("{base}.commands.{action}");
            if !is_name(action) {
                err(key.clone(), format!("action name {NAME_RULE}"));
            }
            let mut seen = BTreeSet::new();
            for param in command.known_params() {
                if !seen.insert(param) {
                    err(key.clone(), format!("param '{param}' is listed twice"));
                }
            }
            if command.event.is_some() && object.entity.is_none() {
                err(
                    format!("{key}.event"),
                    format!("an event needs the object type's entity ({base}.entity)"),
                );
            }
            if http {
                if command.method.is_none() {
                    err(
                        format!("{key}.method"),
                        "the http connector needs a method (GET, POST, PUT, PATCH or DELETE)"
                            .into(),
                    );
                }
                match &command.endpoint {
                    None => err(
                        format!("{key}.endpoint"),
                        "the http connector needs an endpoint".into(),
                    ),
                    Some(endpoint) => {
                        if !endpoint.starts_with('/') {
                            err(format!("{key}.endpoint"), "must start with /".into());
                        }
                        if let Err(reason) = template::check_string(endpoint) {
                            err(
                                format!("{key}.endpoint"),
                                format!("invalid template: {reason}"),
                            );
                        }
                    }
                }
                for (name, value) in command.query.iter().chain(command.headers.iter()) {
                    if let Err(reason) = template::check_string(value) {
                        err(
                            format!("{key}.{name}"),
                            format!("invalid template: {reason}"),
                        );
                    }
                }
                if let Some(body) = &command.body
                    && let Err(reason) = template::check_value(body)
                {
                    err(format!("{key}.body"), format!("invalid template: {reason}"));
                }
                if let Some(response) = &command.response {
                    if let Some(result) = &response.result
                        && let Err(reason) = template::check_value(result)
                    {
                        err(
                            format!("{key}.response.result"),
                            format!("invalid template: {reason}"),
                        );
                    }
                    if let Some(id) = &response.id
                        && let Err(reason) = template::check_string(id)
                    {
                        err(
                            format!("{key}.response.id"),
                            format!("invalid template: {reason}"),
                        );
                    }
                }
            } else {
                let http_only = command.method.is_some()
                    || command.endpoint.is_some()
                    || !command.query.is_empty()
                    || !command.headers.is_empty()
                    || command.body.is_some()
                    || command.response.is_some();
                if http_only {
                    err(
                        key.clone(),
                        "method, endpoint, query, headers, body and response belong to the http connector only".into(),
                    );
                }
                if let Some(actions) = directory_actions
                    && !actions.contains(&action.as_str())
                {
                    err(
                        key.clone(),
                        format!(
                            "the directory connector has no action '{action}' for '{object_name}'; it offers: {}",
                            actions.join(", ")
                        ),
                    );
                }
            }
        }
    }
    errors
}

fn check_system_against_type(
    file: &str,
    system: &SystemConfig,
    types: &BTreeMap<String, Arc<SystemType>>,
) -> Result<(), Vec<ConfigError>> {
    let Some(t) = types.get(&system.system_type) else {
        let valid: Vec<&str> = types.keys().map(String::as_str).collect();
        return Err(vec![ConfigError::new(
            file,
            "type",
            format!(
                "unknown system type '{}'; valid types: {}",
                system.system_type,
                valid.join(", ")
            ),
        )]);
    };
    let mut errors = Vec::new();
    match t.connector {
        ConnectorKind::Http => match &system.base_url {
            None => errors.push(ConfigError::new(
                file,
                "base_url",
                format!("a system of type '{}' needs a base_url", t.name),
            )),
            Some(url) if !is_http_url(url) => errors.push(ConfigError::new(
                file,
                "base_url",
                "must be an http:// or https:// URL with a host",
            )),
            // The text is not echoed: it holds a secret written in the wrong place.
            Some(url) if has_userinfo(url) => errors.push(ConfigError::new(
                file,
                "base_url",
                "must not carry credentials (user:password@): put them in `auth`, as a pointer such as env:NAME or file:PATH",
            )),
            Some(_) => {}
        },
        ConnectorKind::Directory => {
            if system.base_url.is_some()
                || system.auth != AuthConfig::None
                || !system.headers.is_empty()
            {
                errors.push(ConfigError::new(
                    file,
                    "type",
                    "a directory system lives in the civitas database: it takes no base_url, auth or headers",
                ));
            }
        }
    }
    for (name, spec) in &t.settings {
        if spec.required && spec.default.is_none() && !system.settings.contains_key(name) {
            errors.push(ConfigError::new(
                file,
                format!("settings.{name}"),
                format!("required by system type '{}': {}", t.name, spec.description),
            ));
        }
    }
    for name in system.settings.keys() {
        if !t.settings.contains_key(name) {
            let valid: Vec<&str> = t.settings.keys().map(String::as_str).collect();
            errors.push(ConfigError::new(
                file,
                format!("settings.{name}"),
                format!(
                    "unknown setting for system type '{}'; valid settings: {}",
                    t.name,
                    if valid.is_empty() {
                        "(none)".to_owned()
                    } else {
                        valid.join(", ")
                    }
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A YAML error as file, key path and reason.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_system_type_loads() {
        let catalog = Catalog::builtin().unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = catalog.types.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["apisix", "directory", "frost", "keycloak", "msgraph"]
        );
    }

    #[test]
    fn an_unknown_key_is_reported_with_its_path_and_line() {
        let text = "name: t\nconnector: http\nobjects:\n  user:\n    commands:\n      read:\n        kind: read\n        methd: GET\n";
        let errors = parse_system_type("t.yaml", text).unwrap_err();
        assert_eq!(errors.len(), 1);
        let e = &errors[0];
        assert_eq!(e.file, "t.yaml");
        assert_eq!(e.key, "objects.user.commands.read");
        assert!(e.reason.contains("unknown field `methd`"), "{}", e.reason);
        assert!(e.reason.contains("line 8"), "{}", e.reason);
    }

    #[test]
    fn every_problem_of_a_type_is_reported_at_once() {
        let text = r#"
name: Bad Name
connector: http
objects:
  user:
    entity: idm.user.extra
    commands:
      read:
        kind: read
        endpoint: "users/{{ object_id"
      create:
        kind: create
        method: POST
        endpoint: /users
        event: created
        required: [a, a]
"#;
        let errors = parse_system_type("t.yaml", text).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"name"), "{errors:?}");
        assert!(keys.contains(&"objects.user.entity"), "{errors:?}");
        assert!(
            keys.contains(&"objects.user.commands.read.method"),
            "{errors:?}"
        );
        assert!(
            keys.contains(&"objects.user.commands.read.endpoint"),
            "{errors:?}"
        );
        assert!(keys.contains(&"objects.user.commands.create"), "{errors:?}");
    }

    #[test]
    fn an_unknown_event_names_the_valid_ones() {
        let text = "name: t\nconnector: http\nobjects:\n  user:\n    entity: idm.user\n    commands:\n      read: {kind: read, method: GET, endpoint: /u, event: fetched}\n";
        let errors = parse_system_type("t.yaml", text).unwrap_err();
        assert!(errors[0].reason.contains("password.changed"), "{errors:?}");
    }

    #[test]
    fn a_directory_type_may_only_declare_operations_the_connector_has() {
        let text = "name: d\nconnector: directory\nobjects:\n  user:\n    commands:\n      disable: {kind: update}\n";
        let errors = parse_system_type("d.yaml", text).unwrap_err();
        assert_eq!(errors[0].key, "objects.user.commands.disable");
        assert!(errors[0].reason.contains("it offers: create"), "{errors:?}");
    }

    #[test]
    fn a_system_of_an_unknown_type_names_the_valid_types() {
        let mut catalog = Catalog::builtin().unwrap();
        let system = parse_system("s.yaml", "name: s\ntype: nope\n").unwrap();
        let errors = catalog.add_system("s.yaml", system).unwrap_err();
        assert_eq!(errors[0].key, "type");
        assert!(errors[0].reason.contains("keycloak"), "{errors:?}");
    }

    #[test]
    fn a_literal_credential_is_refused_at_load_time() {
        let text = "name: s\ntype: keycloak\nbase_url: http://kc\nauth:\n  kind: bearer\n  token: abc123\n";
        let errors = parse_system("s.yaml", text).unwrap_err();
        assert_eq!(errors[0].key, "auth");
        assert!(errors[0].reason.contains("line 5"), "{errors:?}");
        assert!(
            errors[0].reason.contains("never literal values"),
            "{errors:?}"
        );
        assert!(!errors[0].reason.contains("abc123"), "{errors:?}");
    }

    #[test]
    fn a_base_url_with_credentials_is_refused_without_echoing_them() {
        let mut catalog = Catalog::builtin().unwrap();
        let text = "name: s\ntype: keycloak\nbase_url: http://admin:hunter2@kc\n";
        let system = parse_system("s.yaml", text).unwrap();
        let errors = catalog.add_system("s.yaml", system).unwrap_err();
        assert_eq!(errors[0].key, "base_url");
        assert!(errors[0].reason.contains("credentials"), "{errors:?}");
        assert!(!format!("{errors:?}").contains("hunter2"), "{errors:?}");
    }

    #[test]
    fn an_unknown_auth_field_is_refused_with_its_path() {
        let text = "name: s\ntype: keycloak\nbase_url: http://kc\nauth:\n  kind: bearer\n  token: env:T\n  tokn: x\n";
        let errors = parse_system("s.yaml", text).unwrap_err();
        assert_eq!(errors[0].key, "auth");
        assert!(
            errors[0].reason.contains("unknown field `tokn`"),
            "{errors:?}"
        );
    }

    #[test]
    fn an_auth_kind_with_missing_or_foreign_fields_is_refused() {
        let missing =
            "name: s\ntype: keycloak\nbase_url: http://kc\nauth: {kind: basic, username: u}\n";
        let errors = parse_system("s.yaml", missing).unwrap_err();
        assert_eq!(errors[0].key, "auth");
        assert!(
            errors[0].reason.starts_with("kind basic needs password"),
            "{errors:?}"
        );
        let foreign = "name: s\ntype: keycloak\nbase_url: http://kc\nauth: {kind: bearer, token: env:T, header: X}\n";
        let errors = parse_system("s.yaml", foreign).unwrap_err();
        assert!(
            errors[0].reason.starts_with("kind bearer takes no header"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_system_missing_a_required_setting_or_base_url_is_refused() {
        let mut catalog = Catalog::builtin().unwrap();
        let system = parse_system("s.yaml", "name: kc\ntype: keycloak\n").unwrap();
        let errors = catalog.add_system("s.yaml", system).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["base_url", "settings.realm"]);
    }

    #[test]
    fn bad_retry_settings_are_refused() {
        let text = "name: s\ntype: keycloak\nretry: {attempts: 0, jitter: 2, retry_on: [99]}\n";
        let errors = parse_system("s.yaml", text).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["retry.attempts", "retry.jitter", "retry.retry_on[0]"]
        );
    }

    #[test]
    fn the_example_systems_of_the_repository_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/systems");
        let catalog = load_catalog(Some(&dir)).unwrap_or_else(|e| panic!("{e}"));
        assert!(catalog.systems.contains_key("entraid_contractors"));
    }

    #[test]
    fn a_missing_systems_directory_is_an_error() {
        let err = load_catalog(Some(Path::new("/nonexistent/civitas"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/civitas"));
    }
}
