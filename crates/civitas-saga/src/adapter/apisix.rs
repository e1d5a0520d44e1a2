//! The APISIX adapter: `apisix.route.create` / `apisix.route.delete` → the APISIX Admin API.
//!
//! Per API of the dataset: one upstream and one route, both written with PUT under an id
//! derived from the dataset id and the slug (`<datasetId>-<slug>`, made APISIX-safe), so a
//! retry or a re-dispatch overwrites instead of duplicating.
//!
//! - `PUT /apisix/admin/upstreams/<id>`: `{type: roundrobin, scheme, pass_host: node,
//!   nodes: [{host, port, weight: 1}]}` from the API's `upstreamUrl`.
//! - `PUT /apisix/admin/routes/<id>`: `uris: ["/v1/datasets/<datasetId>/<slug>",
//!   "/v1/datasets/<datasetId>/<slug>/*"]`, `upstream_id`, and a `proxy-rewrite` that maps
//!   the public prefix onto the upstream URL's path.
//! - delete: `DELETE` the routes, then the upstreams; 404 counts as success.
//!
//! Every request carries `X-API-KEY` with the configured admin key. 409 on a write counts
//! as success. A create that fails half-way reports what it wrote, so the orchestrator
//! compensates it with `apisix.route.delete`.

use std::sync::Arc;
use std::time::Duration;

use civitas_events::AdapterErrorCode;
use civitas_events::saga::{
    self, ApisixRouteCreate, ApisixRouteDelete, DatasetApi, Resource, StepOperation, StepResult,
};
use civitas_http::{Answer, AuthConfig, Authenticator, Client, CredentialRef, CredentialResolver};
use reqwest::{StatusCode, Url};

use serde_json::{Value, json};

use super::{
    CallError, CommandRef, Handler, RetryPolicy, check_path_ids, classify_answer, classify_send,
    join_url, resource_id, with_retries,
};
use crate::definition::{KIND_APISIX_ROUTE, KIND_APISIX_UPSTREAM};
use crate::error::SagaError;
use civitas_topics::SagaTopics;

/// How to reach APISIX.
#[derive(Debug, Clone)]
pub struct ApisixConfig {
    /// Base URL of the Admin API, e.g. `http://apisix:9180`; `None` = dry run.
    pub admin_url: Option<String>,
    /// Sent as `X-API-KEY`: a credential pointer.
    pub admin_key: Option<CredentialRef>,
    /// The gateway's public base URL, for the public URLs in results.
    pub public_url: String,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for ApisixConfig {
    fn default() -> Self {
        Self {
            admin_url: None,
            admin_key: None,
            public_url: "http://localhost:9080".to_owned(),
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// The public path of one API of a dataset.
pub fn route_uri(dataset_id: &str, slug: &str) -> String {
    format!("/v1/datasets/{dataset_id}/{slug}")
}

/// The id of the upstream and of the route of one API.
pub fn api_id(dataset_id: &str, slug: &str) -> String {
    resource_id(&[dataset_id, slug])
}

/// The bodies of the upstream and route PUTs for one API.
pub fn bodies(command: &ApisixRouteCreate, api: &DatasetApi) -> Result<(Value, Value), CallError> {
    let url = Url::parse(&api.upstream_url).map_err(|e| {
        CallError::new(
            AdapterErrorCode::ApisixUpstreamError,
            format!(
                "api {}: upstreamUrl {:?} is not a URL: {e}",
                api.slug, api.upstream_url
            ),
        )
    })?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| {
        CallError::new(
            AdapterErrorCode::ApisixUpstreamError,
            format!(
                "api {}: upstreamUrl {:?} has no host",
                api.slug, api.upstream_url
            ),
        )
    })?;
    let port = url.port_or_known_default().ok_or_else(|| {
        CallError::new(
            AdapterErrorCode::ApisixUpstreamError,
            format!(
                "api {}: upstreamUrl {:?} has no port",
                api.slug, api.upstream_url
            ),
        )
    })?;
    let id = api_id(&command.dataset_id, &api.slug);
    let mut labels = json!({
        "civitas-dataset": command.dataset_id,
        "civitas-saga": command.saga_id,
    });
    if let Some(project) = &command.frost_project_id {
        labels["civitas-frost-project"] = json!(project);
    }
    let upstream = json!({
        "name": id,
        "desc": format!("civitas dataset {} api {}", command.dataset_id, api.slug),
        "type": "roundrobin",
        "scheme": url.scheme(),
        "pass_host": "node",
        "nodes": [{"host": host, "port": port, "weight": 1}],
        "labels": labels,
    });
    let uri = route_uri(&command.dataset_id, &api.slug);
    let target_path = url.path().trim_end_matches('/');
    let route = json!({
        "name": id,
        "desc": format!("civitas dataset {} api {}", command.dataset_id, api.slug),
        "uris": [uri, format!("{uri}/*")],
        "upstream_id": id,
        "plugins": {
            "proxy-rewrite": {
                "regex_uri": [format!("^{uri}/?(.*)"), format!("{target_path}/$1")],
            },
        },
        "labels": labels,
    });
    Ok((upstream, route))
}

/// The code of an APISIX refusal (4xx) of a `kind` (`routes` or `upstreams`).
fn refused(kind: &str) -> AdapterErrorCode {
    if kind == "upstreams" {
        AdapterErrorCode::ApisixUpstreamError
    } else {
        AdapterErrorCode::ApisixRouteError
    }
}

/// `<base>/apisix/admin/<kind>/<id>`, the id percent-encoded (it was checked when the
/// command was read).
fn admin_url(base: &str, kind: &str, id: &str) -> String {
    join_url(
        base,
        &format!(
            "/apisix/admin/{kind}/{}",
            civitas_http::url_path::encode_segment(id)
        ),
    )
}

/// The APISIX adapter's handler.
#[derive(Debug, Clone)]
pub struct ApisixAdapter {
    config: ApisixConfig,
    topics: SagaTopics,
    client: Client,
}

impl ApisixAdapter {
    /// An adapter whose admin key `secrets` resolves.
    pub fn new(
        config: ApisixConfig,
        topics: SagaTopics,
        secrets: Arc<dyn CredentialResolver>,
    ) -> Result<Self, SagaError> {
        let http = super::http_client(config.request_timeout)?;
        let auth = match &config.admin_key {
            Some(key) => AuthConfig::ApiKey {
                header: "X-API-KEY".to_owned(),
                key: key.clone(),
            },
            None => AuthConfig::None,
        };
        let auth = Authenticator::new(auth, secrets, http.clone());
        Ok(Self {
            config,
            topics,
            client: Client::new(http, auth),
        })
    }

    /// One request to the Admin API, with the admin key.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Answer, CallError> {
        self.client
            .send_once(|http| {
                let mut request = http.request(method.clone(), url);
                if let Some(body) = body {
                    request = request.json(body);
                }
                request
            })
            .await
            .map_err(|e| classify_send(&e, what))
    }

    async fn put(&self, base: &str, kind: &str, id: &str, body: &Value) -> Result<(), CallError> {
        let what = format!("write APISIX {kind} {id}");
        let url = admin_url(base, kind, id);
        let answer = self
            .send(reqwest::Method::PUT, &url, Some(body), &what)
            .await?;
        if answer.status.is_success() || answer.status == StatusCode::CONFLICT {
            return Ok(());
        }
        Err(classify_answer(&answer, refused(kind), &what))
    }

    async fn delete_one(&self, base: &str, kind: &str, id: &str) -> Result<(), CallError> {
        let what = format!("delete APISIX {kind} {id}");
        let url = admin_url(base, kind, id);
        let answer = self
            .send(reqwest::Method::DELETE, &url, None, &what)
            .await?;
        if answer.status.is_success() || answer.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(classify_answer(&answer, refused(kind), &what))
    }

    fn upstream_resource(id: &str) -> Resource {
        Resource {
            kind: KIND_APISIX_UPSTREAM.to_owned(),
            id: id.to_owned(),
            url: None,
            created: true,
        }
    }

    fn route_resource(&self, id: &str, dataset_id: &str, slug: &str) -> Resource {
        Resource {
            kind: KIND_APISIX_ROUTE.to_owned(),
            id: id.to_owned(),
            url: Some(join_url(
                &self.config.public_url,
                &route_uri(dataset_id, slug),
            )),
            created: true,
        }
    }

    /// Writes one upstream and one route per API.
    pub async fn create(&self, command: &ApisixRouteCreate) -> StepResult {
        let reply = CommandRef {
            message_id: command.message_id.clone(),
            saga_id: command.saga_id.clone(),
            step_id: command.step_id.clone(),
            operation: StepOperation::Create,
        };
        let mut planned = Vec::new();
        for api in &command.apis {
            match bodies(command, api) {
                Ok((upstream, route)) => planned.push((api, upstream, route)),
                Err(err) => return reply.result(Err((err, Vec::new())), 0, false),
            }
        }
        let Some(base) = self.config.admin_url.clone() else {
            let mut resources = Vec::new();
            for (api, upstream, route) in &planned {
                let id = api_id(&command.dataset_id, &api.slug);
                tracing::info!(component = "apisix-adapter", dataset_id = %command.dataset_id,
                    "dry-run: would PUT /apisix/admin/upstreams/{id} {upstream} and PUT /apisix/admin/routes/{id} {route}");
                resources.push(Self::upstream_resource(&id));
                resources.push(self.route_resource(&id, &command.dataset_id, &api.slug));
            }
            return reply.result(Ok(resources), 0, true);
        };
        let policy = &self.config.retry;
        let mut tries = 0;
        let mut written = Vec::new();
        for (api, upstream, route) in &planned {
            let id = api_id(&command.dataset_id, &api.slug);
            let (done, n) =
                with_retries(policy, || self.put(&base, "upstreams", &id, upstream)).await;
            tries += n;
            if let Err(err) = done {
                return reply.result(Err((err, written)), tries, false);
            }
            written.push(Self::upstream_resource(&id));
            let (done, n) = with_retries(policy, || self.put(&base, "routes", &id, route)).await;
            tries += n;
            if let Err(err) = done {
                return reply.result(Err((err, written)), tries, false);
            }
            written.push(self.route_resource(&id, &command.dataset_id, &api.slug));
        }
        reply.result(Ok(written), tries, false)
    }

    /// Deletes the routes, then the upstreams, each best effort; 404 counts as success.
    pub async fn delete(&self, command: &ApisixRouteDelete) -> StepResult {
        let reply = CommandRef {
            message_id: command.message_id.clone(),
            saga_id: command.saga_id.clone(),
            step_id: command.step_id.clone(),
            operation: StepOperation::Delete,
        };
        let Some(base) = self.config.admin_url.clone() else {
            tracing::info!(component = "apisix-adapter", dataset_id = %command.dataset_id,
                routes = ?command.route_ids, upstreams = ?command.upstream_ids,
                "dry-run: would DELETE these routes and upstreams");
            return reply.result(Ok(Vec::new()), 0, true);
        };
        let policy = &self.config.retry;
        let mut tries = 0;
        let mut first_error = None;
        let mut left = Vec::new();
        let targets = command
            .route_ids
            .iter()
            .map(|id| ("routes", KIND_APISIX_ROUTE, id))
            .chain(
                command
                    .upstream_ids
                    .iter()
                    .map(|id| ("upstreams", KIND_APISIX_UPSTREAM, id)),
            );
        for (path, kind, id) in targets {
            let (done, n) = with_retries(policy, || self.delete_one(&base, path, id)).await;
            tries += n;
            if let Err(err) = done {
                left.push(Resource {
                    kind: kind.to_owned(),
                    id: id.clone(),
                    url: None,
                    created: true,
                });
                first_error.get_or_insert(err);
            }
        }
        match first_error {
            None => reply.result(Ok(Vec::new()), tries, false),
            Some(err) => reply.result(Err((err, left)), tries, false),
        }
    }
}

impl Handler for ApisixAdapter {
    fn component(&self) -> &'static str {
        "apisix-adapter"
    }

    fn command_topics(&self) -> Vec<String> {
        vec![
            self.topics.apisix_route_create.clone(),
            self.topics.apisix_route_delete.clone(),
        ]
    }

    fn result_topic(&self) -> &str {
        &self.topics.apisix_route_result
    }

    fn dead_letter_topic(&self) -> &str {
        &self.topics.apisix_deadletter
    }

    fn dry_run(&self) -> bool {
        self.config.admin_url.is_none()
    }

    async fn handle(&self, topic: &str, payload: &[u8]) -> Result<StepResult, String> {
        if topic == self.topics.apisix_route_create {
            let command: ApisixRouteCreate = saga::decode(payload, "apisix.route.create command")?;
            Ok(self.create(&command).await)
        } else if topic == self.topics.apisix_route_delete {
            let command: ApisixRouteDelete = saga::decode(payload, "apisix.route.delete command")?;
            check_path_ids("routeIds", &command.route_ids)?;
            check_path_ids("upstreamIds", &command.upstream_ids)?;
            Ok(self.delete(&command).await)
        } else {
            Err(format!("the APISIX adapter does not handle topic {topic}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> ApisixRouteCreate {
        ApisixRouteCreate {
            message_id: "c".into(),
            saga_id: "s".into(),
            step_id: "apisix-route".into(),
            dataset_id: "ds-1".into(),
            apis: vec![DatasetApi {
                slug: "sensorthings".into(),
                upstream_url: "https://frost.example:8443/FROST-Server/v1.1/".into(),
            }],
            frost_project_id: Some("42".into()),
        }
    }

    #[test]
    fn the_route_maps_the_dataset_path_onto_the_upstream_path() {
        let command = command();
        let (upstream, route) = bodies(&command, &command.apis[0]).unwrap();
        assert_eq!(upstream["nodes"][0]["host"], "frost.example");
        assert_eq!(upstream["nodes"][0]["port"], 8443);
        assert_eq!(upstream["scheme"], "https");
        assert_eq!(route["uris"][0], "/v1/datasets/ds-1/sensorthings");
        assert_eq!(route["upstream_id"], "ds-1-sensorthings");
        assert_eq!(
            route["plugins"]["proxy-rewrite"]["regex_uri"][1],
            "/FROST-Server/v1.1/$1"
        );
        assert_eq!(route["labels"]["civitas-frost-project"], "42");
    }

    #[test]
    fn an_upstream_url_without_a_host_is_an_adapter_error() {
        let mut command = command();
        command.apis[0].upstream_url = "unix:/run/frost.sock".into();
        let err = bodies(&command, &command.apis[0]).unwrap_err();
        assert!(err.code == AdapterErrorCode::ApisixUpstreamError, "{err:?}");
    }
}
