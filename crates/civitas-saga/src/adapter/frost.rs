//! The FROST adapter: `frost.project.create` / `frost.project.delete` → FROST-Server.
//!
//! FROST-Server's multi-tenant *Projects* collection is an extension, not part of the
//! SensorThings standard, so its path is configuration ([`FrostConfig::projects_path`],
//! default `/v1.1/Projects`). The adapter speaks plain OData to it:
//!
//! - create: `GET <projects>?$filter=name eq '<name> (<datasetId>)'`; one match is reused,
//!   none → `POST <projects>` with the name, a description and
//!   `properties: {datasetId, civitasSagaId, createdBy: "civitas"}`. The id comes from the
//!   `Location` header (`…/Projects(42)`) or the body's `@iot.id`. A 409 counts as success:
//!   the project is looked up again. A project counts as *created by this saga* only when
//!   its `properties.civitasSagaId` is this saga's id, so a retry after a lost answer still
//!   knows it made the project, and a reused one is never deleted.
//! - delete: `GET <projects>(<id>)` (404 → already gone: success); a project whose
//!   `civitasSagaId` is not this saga's is refused (`FROST_PROJECT_NOT_OURS(4003)`) and left alone; else
//!   `DELETE <projects>(<id>)`, where 404 also counts as success.
//!
//! Every request carries the configured credentials ([`FrostConfig::auth`]): HTTP Basic, as
//! FROST's `BasicAuthProvider` checks them, or a bearer token, as its Keycloak provider does —
//! a fixed one, or one fetched with OAuth2 client credentials and fetched again before it
//! expires (and once more when FROST answers 401 to it).

use std::sync::Arc;
use std::time::Duration;

use civitas_events::AdapterErrorCode;
use civitas_events::saga::{
    self, FrostProjectCreate, FrostProjectDelete, Resource, StepOperation, StepResult,
};
use civitas_http::{Answer, AuthConfig, Authenticator, Client, CredentialResolver};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use super::{
    CallError, CommandRef, Handler, RetryPolicy, check_path_ids, classify_answer, classify_send,
    join_url, with_retries,
};
use crate::definition::KIND_FROST_PROJECT;
use crate::error::SagaError;
use civitas_topics::SagaTopics;

/// How to reach FROST.
#[derive(Debug, Clone)]
pub struct FrostConfig {
    /// Base URL of the FROST-Server, e.g. `http://frost:8080/FROST-Server`; `None` = dry run.
    pub base_url: Option<String>,
    /// Path of the Projects collection under the base URL.
    pub projects_path: String,
    /// Credentials sent with every request: none, basic, bearer or OAuth2 client credentials.
    pub auth: AuthConfig,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for FrostConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            projects_path: "/v1.1/Projects".to_owned(),
            auth: AuthConfig::None,
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// The FROST adapter's handler.
#[derive(Debug, Clone)]
pub struct FrostAdapter {
    config: FrostConfig,
    topics: SagaTopics,
    client: Client,
}

/// A project as FROST returns it.
#[derive(Debug, Clone, PartialEq)]
struct Project {
    id: String,
    self_link: Option<String>,
    saga_id: Option<String>,
}

impl Project {
    fn from_json(value: &Value) -> Option<Self> {
        let id = match value.get("@iot.id")? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        Some(Self {
            id,
            self_link: value
                .get("@iot.selfLink")
                .and_then(Value::as_str)
                .map(str::to_owned),
            saga_id: value
                .pointer("/properties/civitasSagaId")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// A successful answer's JSON body; a refusal (FROST 4xx: `FROST_ENTITY_ERROR`) or a body
/// that is not JSON (`DESERIALIZATION_ERROR`) is the error.
fn json_of(answer: &Answer, what: &str) -> Result<Value, CallError> {
    if !answer.status.is_success() {
        return Err(classify_answer(
            answer,
            AdapterErrorCode::FrostEntityError,
            what,
        ));
    }
    serde_json::from_slice(&answer.body).map_err(|e| {
        CallError::new(
            AdapterErrorCode::DeserializationError,
            format!("{what}: the answer is not JSON: {e}"),
        )
    })
}

/// `'` doubled, as OData string literals want.
fn odata_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `Projects(42)` for numeric ids, `Projects('abc')` otherwise; the quoted text is
/// percent-encoded, so no id can leave its path segment.
fn entity_key(id: &str) -> String {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        format!("({id})")
    } else {
        format!(
            "('{}')",
            civitas_http::url_path::encode_segment(&id.replace('\'', "''"))
        )
    }
}

/// The id inside the last `(...)` of a Location header.
fn id_from_location(location: &str) -> Option<String> {
    let open = location.rfind('(')?;
    let close = location[open..].find(')')? + open;
    let inner = location[open + 1..close].trim_matches('\'');
    (!inner.is_empty()).then(|| inner.to_owned())
}

impl FrostAdapter {
    /// An adapter whose credentials `secrets` resolves.
    pub fn new(
        config: FrostConfig,
        topics: SagaTopics,
        secrets: Arc<dyn CredentialResolver>,
    ) -> Result<Self, SagaError> {
        let http = super::http_client(config.request_timeout)?;
        let auth = Authenticator::new(config.auth.clone(), secrets, http.clone());
        Ok(Self {
            config,
            topics,
            client: Client::new(http, auth),
        })
    }

    fn collection_url(&self, base: &str) -> String {
        join_url(base, &self.config.projects_path)
    }

    /// One request with the configured credentials (a 401 to a cached OAuth2 token renews
    /// it and sends once more: the shared client's rule).
    async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
        what: &str,
    ) -> Result<Answer, CallError> {
        self.client
            .send_once(build)
            .await
            .map_err(|e| classify_send(&e, what))
    }

    fn resource(&self, project: &Project, base: &str, created: bool) -> Resource {
        Resource {
            kind: KIND_FROST_PROJECT.to_owned(),
            id: project.id.clone(),
            url: Some(project.self_link.clone().unwrap_or_else(|| {
                format!("{}{}", self.collection_url(base), entity_key(&project.id))
            })),
            created,
        }
    }

    async fn find(&self, base: &str, name: &str) -> Result<Option<Project>, CallError> {
        let what = "find the FROST project";
        let filter = format!("name eq {}", odata_string(name));
        let url = self.collection_url(base);
        let answer = self
            .send(|http| http.get(&url).query(&[("$filter", &filter)]), what)
            .await?;
        let value = json_of(&answer, what)?;
        let found: Vec<Project> = value
            .get("value")
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Project::from_json).collect())
            .unwrap_or_default();
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            many => Err(CallError::new(
                AdapterErrorCode::FrostAmbiguousProject,
                format!(
                    "{} FROST projects are named {name:?}; expected at most one",
                    many.len()
                ),
            )),
        }
    }

    /// POSTs the project; `Ok(None)` on 409 (it exists: look it up).
    async fn post(&self, base: &str, body: &Value) -> Result<Option<Project>, CallError> {
        let what = "create the FROST project";
        let url = self.collection_url(base);
        let answer = self.send(|http| http.post(&url).json(body), what).await?;
        let status = answer.status;
        let location = answer
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status == StatusCode::CONFLICT {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(classify_answer(
                &answer,
                AdapterErrorCode::FrostEntityError,
                what,
            ));
        }
        let from_body = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| Project::from_json(&v));
        let id = location
            .as_deref()
            .and_then(id_from_location)
            .or_else(|| from_body.as_ref().map(|p| p.id.clone()))
            .ok_or_else(|| {
                CallError::new(
                    AdapterErrorCode::DeserializationError,
                    format!("{what}: HTTP {status} without a Location header or an @iot.id"),
                )
            })?;
        Ok(Some(Project {
            id,
            self_link: location.or_else(|| from_body.and_then(|p| p.self_link)),
            saga_id: body
                .pointer("/properties/civitasSagaId")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }))
    }

    /// GETs one project; `Ok(None)` on 404.
    async fn get(&self, base: &str, id: &str) -> Result<Option<Project>, CallError> {
        let what = "read the FROST project";
        let url = format!("{}{}", self.collection_url(base), entity_key(id));
        let answer = self.send(|http| http.get(&url), what).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let value = json_of(&answer, what)?;
        Ok(Project::from_json(&value).or(Some(Project {
            id: id.to_owned(),
            self_link: None,
            saga_id: None,
        })))
    }

    async fn delete_request(&self, base: &str, id: &str) -> Result<(), CallError> {
        let what = "delete the FROST project";
        let url = format!("{}{}", self.collection_url(base), entity_key(id));
        let answer = self.send(|http| http.delete(&url), what).await?;
        if answer.status.is_success() || answer.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(classify_answer(
            &answer,
            AdapterErrorCode::FrostEntityError,
            what,
        ))
    }

    /// Find-or-create; the resources on success.
    pub async fn create(&self, command: &FrostProjectCreate) -> StepResult {
        let reply = CommandRef {
            message_id: command.message_id.clone(),
            saga_id: command.saga_id.clone(),
            step_id: command.step_id.clone(),
            operation: StepOperation::Create,
        };
        let name = command.project_name();
        let body = json!({
            "name": name,
            "description": command.description.clone()
                .unwrap_or_else(|| format!("Dataset {}", command.dataset_id)),
            "properties": {
                "datasetId": command.dataset_id,
                "civitasSagaId": command.saga_id,
                "createdBy": "civitas",
            },
        });
        if command.dataset_id.trim().is_empty() || command.name.trim().is_empty() {
            let err = CallError::new(
                AdapterErrorCode::InvalidPayload,
                "datasetId and name must not be empty",
            );
            return reply.result(Err((err, Vec::new())), 0, false);
        }
        let Some(base) = self.config.base_url.clone() else {
            tracing::info!(component = "frost-adapter", dataset_id = %command.dataset_id,
                "dry-run: would GET {path}?$filter=name eq {name:?}, and if absent POST {path} {body}",
                path = self.config.projects_path, name = name, body = body);
            let project = Project {
                id: format!("dryrun-{}", command.dataset_id),
                self_link: None,
                saga_id: Some(command.saga_id.clone()),
            };
            let resource = self.resource(&project, "dry-run://frost", true);
            return reply.result(Ok(vec![resource]), 0, true);
        };
        let policy = &self.config.retry;
        let mut tries = 0;
        let (found, n) = with_retries(policy, || self.find(&base, &name)).await;
        tries += n;
        let project = match found {
            Err(err) => return reply.result(Err((err, Vec::new())), tries, false),
            Ok(Some(project)) => project,
            Ok(None) => {
                let (posted, n) = with_retries(policy, || self.post(&base, &body)).await;
                tries += n;
                match posted {
                    Err(err) => return reply.result(Err((err, Vec::new())), tries, false),
                    Ok(Some(project)) => project,
                    Ok(None) => {
                        // 409: someone (maybe our own earlier try) made it; find it again.
                        let (found, n) = with_retries(policy, || self.find(&base, &name)).await;
                        tries += n;
                        match found {
                            Ok(Some(project)) => project,
                            Ok(None) => {
                                let err = CallError::new(
                                    AdapterErrorCode::DeserializationError,
                                    format!(
                                        "FROST answered 409 to the create but no project is named {name:?}"
                                    ),
                                );
                                return reply.result(Err((err, Vec::new())), tries, false);
                            }
                            Err(err) => return reply.result(Err((err, Vec::new())), tries, false),
                        }
                    }
                }
            }
        };
        let created = project.saga_id.as_deref() == Some(command.saga_id.as_str());
        let resource = self.resource(&project, &base, created);
        reply.result(Ok(vec![resource]), tries, false)
    }

    /// Deletes a project this saga created; 404 counts as success.
    pub async fn delete(&self, command: &FrostProjectDelete) -> StepResult {
        let reply = CommandRef {
            message_id: command.message_id.clone(),
            saga_id: command.saga_id.clone(),
            step_id: command.step_id.clone(),
            operation: StepOperation::Delete,
        };
        let Some(base) = self.config.base_url.clone() else {
            tracing::info!(component = "frost-adapter", dataset_id = %command.dataset_id,
                "dry-run: would DELETE {}{}", self.config.projects_path, entity_key(&command.project_id));
            return reply.result(Ok(Vec::new()), 0, true);
        };
        let policy = &self.config.retry;
        let (found, mut tries) =
            with_retries(policy, || self.get(&base, &command.project_id)).await;
        let project = match found {
            Ok(None) => return reply.result(Ok(Vec::new()), tries, false),
            Ok(Some(project)) => project,
            Err(err) => {
                let left = vec![self.resource(&project_ref(&command.project_id), &base, true)];
                return reply.result(Err((err, left)), tries, false);
            }
        };
        if project.saga_id.as_deref() != Some(command.saga_id.as_str()) {
            let err = CallError::new(
                AdapterErrorCode::FrostProjectNotOurs,
                format!(
                    "project {} was not created by saga {}; it is kept",
                    command.project_id, command.saga_id
                ),
            );
            return reply.result(Err((err, Vec::new())), tries, false);
        }
        let (deleted, n) =
            with_retries(policy, || self.delete_request(&base, &command.project_id)).await;
        tries += n;
        match deleted {
            Ok(()) => reply.result(Ok(Vec::new()), tries, false),
            Err(err) => {
                let left = vec![self.resource(&project, &base, true)];
                reply.result(Err((err, left)), tries, false)
            }
        }
    }
}

fn project_ref(id: &str) -> Project {
    Project {
        id: id.to_owned(),
        self_link: None,
        saga_id: None,
    }
}

impl Handler for FrostAdapter {
    fn component(&self) -> &'static str {
        "frost-adapter"
    }

    fn command_topics(&self) -> Vec<String> {
        vec![
            self.topics.frost_project_create.clone(),
            self.topics.frost_project_delete.clone(),
        ]
    }

    fn result_topic(&self) -> &str {
        &self.topics.frost_project_result
    }

    fn dead_letter_topic(&self) -> &str {
        &self.topics.frost_deadletter
    }

    fn dry_run(&self) -> bool {
        self.config.base_url.is_none()
    }

    async fn handle(&self, topic: &str, payload: &[u8]) -> Result<StepResult, String> {
        if topic == self.topics.frost_project_create {
            let command: FrostProjectCreate =
                saga::decode(payload, "frost.project.create command")?;
            Ok(self.create(&command).await)
        } else if topic == self.topics.frost_project_delete {
            let command: FrostProjectDelete =
                saga::decode(payload, "frost.project.delete command")?;
            check_path_ids("projectId", [&command.project_id])?;
            Ok(self.delete(&command).await)
        } else {
            Err(format!("the FROST adapter does not handle topic {topic}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odata_literals_double_single_quotes() {
        assert_eq!(odata_string("O'Brien (ds-1)"), "'O''Brien (ds-1)'");
    }

    #[test]
    fn numeric_ids_are_bare_and_others_quoted_in_entity_keys() {
        assert_eq!(entity_key("42"), "(42)");
        assert_eq!(entity_key("abc"), "('abc')");
        assert_eq!(entity_key("a'/../b"), "('a%27%27%2F..%2Fb')");
    }

    #[test]
    fn the_id_is_read_from_a_location_header() {
        assert_eq!(
            id_from_location("http://f/v1.1/Projects(42)").as_deref(),
            Some("42")
        );
        assert_eq!(
            id_from_location("http://f/v1.1/Projects('a-b')").as_deref(),
            Some("a-b")
        );
        assert_eq!(id_from_location("http://f/v1.1/Projects"), None);
    }
}
