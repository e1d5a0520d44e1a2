//! The adapters against wiremock: success, 409, 404, 500 with retries, timeouts, and
//! unreadable commands.

use std::sync::Arc;
use std::time::Duration;

use civitas_events::AdapterErrorCode;
use civitas_events::saga::{
    ApisixRouteCreate, ApisixRouteDelete, DatasetApi, FrostProjectCreate, FrostProjectDelete,
    ResultStatus, StepOperation,
};
use civitas_http::{AuthConfig, CredentialRef, LocalResolver};
use civitas_saga::adapter::apisix::{ApisixAdapter, ApisixConfig};
use civitas_saga::adapter::frost::{FrostAdapter, FrostConfig};
use civitas_saga::adapter::{Handler, RetryPolicy};
use civitas_topics::SagaTopics;
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const NAME_FILTER: &str = "name eq 'Luftqualitaet (ds-1)'";

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        initial: Duration::from_millis(5),
        max: Duration::from_millis(20),
        ..RetryPolicy::default()
    }
}

fn frost(server: &MockServer) -> FrostAdapter {
    frost_with(server, AuthConfig::None)
}

fn frost_with(server: &MockServer, auth: AuthConfig) -> FrostAdapter {
    FrostAdapter::new(
        FrostConfig {
            base_url: Some(server.uri()),
            auth,
            retry: fast_retries(),
            request_timeout: Duration::from_millis(300),
            ..FrostConfig::default()
        },
        SagaTopics::default(),
        Arc::new(LocalResolver),
    )
    .unwrap()
}

fn inline(secret: &str) -> CredentialRef {
    CredentialRef::Inline(secret.to_owned().into())
}

/// OAuth2 client credentials against `/token` of `idp`.
fn client_credentials(idp: &MockServer) -> AuthConfig {
    client_credentials_at(format!("{}/token", idp.uri()))
}

fn client_credentials_at(token_url: String) -> AuthConfig {
    AuthConfig::Oauth2ClientCredentials {
        token_url,
        client_id: "civitas-frost".into(),
        client_secret: inline("cl1ent-s3cret"),
        scope: None,
        audience: None,
    }
}

/// A token endpoint that hands out `tokens` in turn, each valid for an hour.
async fn token_endpoint(tokens: &[&str]) -> MockServer {
    let idp = MockServer::start().await;
    for (n, token) in tokens.iter().enumerate() {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(wiremock::matchers::body_string_contains(
                "grant_type=client_credentials",
            ))
            .and(wiremock::matchers::body_string_contains(
                "client_secret=cl1ent-s3cret",
            ))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"access_token": token, "expires_in": 3600})),
            )
            .up_to_n_times(1)
            .with_priority(n as u8 + 1)
            .expect(1)
            .mount(&idp)
            .await;
    }
    idp
}

fn create() -> FrostProjectCreate {
    FrostProjectCreate {
        message_id: "saga-1:frost-project:create".into(),
        saga_id: "saga-1".into(),
        step_id: "frost-project".into(),
        dataset_id: "ds-1".into(),
        name: "Luftqualitaet".into(),
        description: None,
    }
}

fn delete() -> FrostProjectDelete {
    FrostProjectDelete {
        message_id: "saga-1:frost-project:delete".into(),
        saga_id: "saga-1".into(),
        step_id: "frost-project".into(),
        dataset_id: "ds-1".into(),
        project_id: "42".into(),
    }
}

fn project(saga_id: &str) -> serde_json::Value {
    json!({"@iot.id": 42, "@iot.selfLink": "http://frost/v1.1/Projects(42)", "name": "Luftqualitaet (ds-1)",
           "properties": {"civitasSagaId": saga_id}})
}

#[tokio::test]
async fn frost_creates_the_project_when_none_has_the_name() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.1/Projects"))
        .and(query_param("$filter", NAME_FILTER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.1/Projects"))
        .and(body_partial_json(json!({"name": "Luftqualitaet (ds-1)",
            "properties": {"datasetId": "ds-1", "civitasSagaId": "saga-1"}})))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("Location", format!("{}/v1.1/Projects(42)", server.uri())),
        )
        .expect(1)
        .mount(&server)
        .await;
    let result = frost(&server).create(&create()).await;
    assert_eq!(result.status, ResultStatus::Success, "{result:?}");
    assert_eq!(result.operation, StepOperation::Create);
    assert_eq!(result.command_id, "saga-1:frost-project:create");
    assert_eq!(result.resource_id.as_deref(), Some("42"));
    assert!(result.resources[0].created);
    assert_eq!(result.attempts, 2);
}

#[tokio::test]
async fn frost_reuses_a_project_with_the_name_and_marks_it_not_created() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.1/Projects"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"value": [project("another-saga")]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;
    let result = frost(&server).create(&create()).await;
    assert_eq!(result.status, ResultStatus::Success);
    assert!(!result.resources[0].created);
    assert_eq!(
        result.resources[0].url.as_deref(),
        Some("http://frost/v1.1/Projects(42)")
    );
}

#[tokio::test]
async fn frost_counts_409_on_create_as_success_and_finds_the_project() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.1/Projects"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.1/Projects"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"value": [project("saga-1")]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(409))
        .expect(1)
        .mount(&server)
        .await;
    let result = frost(&server).create(&create()).await;
    assert_eq!(result.status, ResultStatus::Success, "{result:?}");
    assert_eq!(result.resource_id.as_deref(), Some("42"));
    assert!(
        result.resources[0].created,
        "our own saga id marks it as ours"
    );
}

#[tokio::test]
async fn frost_retries_a_500_three_times_then_fails_with_a_2xxx_code() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .expect(3)
        .mount(&server)
        .await;
    let result = frost(&server).create(&create()).await;
    assert_eq!(result.status, ResultStatus::Failure);
    assert_eq!(result.attempts, 3);
    let error = result.error.unwrap();
    assert_eq!(error.code, AdapterErrorCode::ServiceUnavailable);
    assert!(error.message.contains("HTTP 500"), "{}", error.message);
}

#[tokio::test]
async fn frost_recovers_when_a_retry_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"value": [project("saga-1")]})),
        )
        .mount(&server)
        .await;
    let result = frost(&server).create(&create()).await;
    assert_eq!(result.status, ResultStatus::Success);
    assert_eq!(result.attempts, 2);
}

#[tokio::test]
async fn frost_times_out_each_try_and_fails_with_the_timeout_code() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .expect(3)
        .mount(&server)
        .await;
    let result = frost(&server).create(&create()).await;
    assert_eq!(
        result.error.as_ref().map(|e| e.code),
        Some(AdapterErrorCode::ConnectionTimeout.code()),
        "{result:?}"
    );
    assert_eq!(result.attempts, 3);
}

#[tokio::test]
async fn frost_does_not_retry_a_400() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400))
        .expect(1)
        .mount(&server)
        .await;
    let result = frost(&server).create(&create()).await;
    assert_eq!(
        result.error.map(|e| e.code),
        Some(AdapterErrorCode::FrostEntityError.code())
    );
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn frost_reports_two_projects_with_the_name_as_ambiguous() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"value": [project("a"), project("b")]})),
        )
        .mount(&server)
        .await;
    let result = frost(&server).create(&create()).await;
    assert_eq!(
        result.error.map(|e| e.code),
        Some(AdapterErrorCode::FrostAmbiguousProject.code())
    );
}

#[tokio::test]
async fn frost_deletes_its_own_project_and_counts_404_on_delete_as_success() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.1/Projects(42)"))
        .respond_with(ResponseTemplate::new(200).set_body_json(project("saga-1")))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1.1/Projects(42)"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let result = frost(&server).delete(&delete()).await;
    assert_eq!(result.status, ResultStatus::Success, "{result:?}");
    assert_eq!(result.operation, StepOperation::Delete);
}

#[tokio::test]
async fn frost_sends_basic_credentials_with_every_request() {
    let server = MockServer::start().await;
    // "frost-admin:s3cret" in Base64.
    let basic = "Basic ZnJvc3QtYWRtaW46czNjcmV0";
    Mock::given(method("GET"))
        .and(path("/v1.1/Projects"))
        .and(header("authorization", basic))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.1/Projects"))
        .and(header("authorization", basic))
        .respond_with(ResponseTemplate::new(201).set_body_json(project("saga-1")))
        .expect(1)
        .mount(&server)
        .await;
    let auth = AuthConfig::Basic {
        username: "frost-admin".into(),
        password: inline("s3cret"),
    };
    let result = frost_with(&server, auth).create(&create()).await;
    assert_eq!(result.status, ResultStatus::Success, "{result:?}");
    assert_eq!(result.resource_id.as_deref(), Some("42"));
}

#[tokio::test]
async fn frost_sends_a_bearer_token_and_a_401_fails_at_once_as_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.1/Projects(42)"))
        .and(header("authorization", "Bearer t0ken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(project("saga-1")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1.1/Projects(42)"))
        .and(header("authorization", "Bearer t0ken"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let token = AuthConfig::Bearer {
        token: inline("t0ken"),
    };
    let result = frost_with(&server, token).delete(&delete()).await;
    assert_eq!(result.status, ResultStatus::Success, "{result:?}");

    let refusing = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_string("token expired"))
        .expect(1)
        .mount(&refusing)
        .await;
    let token = AuthConfig::Bearer {
        token: inline("stale"),
    };
    let result = frost_with(&refusing, token).delete(&delete()).await;
    assert_eq!(result.status, ResultStatus::Failure, "{result:?}");
    assert_eq!(
        result.error.as_ref().map(|e| e.code),
        Some(AdapterErrorCode::FrostEntityError.code()),
        "{result:?}"
    );
    assert_eq!(result.attempts, 1, "a 401 is not retried");
}

#[tokio::test]
async fn frost_with_client_credentials_fetches_one_token_and_reuses_it() {
    let idp = token_endpoint(&["t1"]).await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.1/Projects"))
        .and(header("authorization", "Bearer t1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.1/Projects"))
        .and(header("authorization", "Bearer t1"))
        .respond_with(ResponseTemplate::new(201).set_body_json(project("saga-1")))
        .expect(1)
        .mount(&server)
        .await;
    let result = frost_with(&server, client_credentials(&idp))
        .create(&create())
        .await;
    assert_eq!(result.status, ResultStatus::Success, "{result:?}");
    // `expect(1)` on the token endpoint: both FROST calls used the one token.
}

#[tokio::test]
async fn frost_fetches_a_new_token_when_the_cached_one_is_refused() {
    let idp = token_endpoint(&["revoked", "fresh"]).await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer revoked"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.1/Projects(42)"))
        .and(header("authorization", "Bearer fresh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(project("saga-1")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(header("authorization", "Bearer fresh"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let result = frost_with(&server, client_credentials(&idp))
        .delete(&delete())
        .await;
    assert_eq!(result.status, ResultStatus::Success, "{result:?}");
    assert_eq!(
        result.attempts, 2,
        "one try each for the read and the delete"
    );
}

#[tokio::test]
async fn a_refused_client_fails_at_once_and_an_unreachable_token_endpoint_is_retried() {
    let idp = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error": "unauthorized_client"})),
        )
        .expect(1)
        .mount(&idp)
        .await;
    let server = MockServer::start().await;
    let result = frost_with(&server, client_credentials(&idp))
        .delete(&delete())
        .await;
    assert_eq!(result.status, ResultStatus::Failure, "{result:?}");
    let error = result.error.as_ref().unwrap();
    assert_eq!(
        error.code,
        AdapterErrorCode::KeycloakClientError,
        "{result:?}"
    );
    assert!(error.message.contains("unauthorized_client"), "{error:?}");
    assert!(!error.message.contains("cl1ent-s3cret"), "{error:?}");
    assert_eq!(result.attempts, 1, "a refused client is not retried");
    assert!(server.received_requests().await.unwrap().is_empty());

    let gone = client_credentials_at("http://127.0.0.1:9/token".into());
    let result = frost_with(&server, gone).delete(&delete()).await;
    assert_eq!(result.status, ResultStatus::Failure, "{result:?}");
    assert_eq!(
        result.error.as_ref().map(|e| e.code),
        Some(AdapterErrorCode::NetworkError.code()),
        "{result:?}"
    );
    assert_eq!(
        result.attempts, 3,
        "an unreachable token endpoint is retried"
    );
}

#[tokio::test]
async fn frost_counts_an_already_missing_project_as_deleted() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let result = frost(&server).delete(&delete()).await;
    assert_eq!(result.status, ResultStatus::Success);
}

#[tokio::test]
async fn frost_never_deletes_a_project_another_saga_created() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(project("another-saga")))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let result = frost(&server).delete(&delete()).await;
    assert_eq!(
        result.error.map(|e| e.code),
        Some(AdapterErrorCode::FrostProjectNotOurs.code())
    );
}

#[tokio::test]
async fn frost_in_dry_run_answers_with_a_synthetic_id_from_the_dataset() {
    let adapter = FrostAdapter::new(
        FrostConfig::default(),
        SagaTopics::default(),
        Arc::new(LocalResolver),
    )
    .unwrap();
    assert!(adapter.dry_run());
    let result = adapter.create(&create()).await;
    assert_eq!(result.status, ResultStatus::Success);
    assert!(result.dry_run);
    assert_eq!(result.resource_id.as_deref(), Some("dryrun-ds-1"));
    assert_eq!(adapter.create(&create()).await.resources, result.resources);
}

#[tokio::test]
async fn an_unreadable_command_is_an_error_for_the_dead_letter_topic() {
    let adapter = FrostAdapter::new(
        FrostConfig::default(),
        SagaTopics::default(),
        Arc::new(LocalResolver),
    )
    .unwrap();
    let err = adapter
        .handle("core.civitas.frost.project.create", b"{\"sagaId\": 1}")
        .await
        .unwrap_err();
    assert!(err.contains("not a frost.project.create command"), "{err}");
}

fn apisix(server: &MockServer) -> ApisixAdapter {
    ApisixAdapter::new(
        ApisixConfig {
            admin_url: Some(server.uri()),
            admin_key: Some(inline("s3cret")),
            public_url: "https://gw.example".into(),
            retry: fast_retries(),
            request_timeout: Duration::from_millis(300),
        },
        SagaTopics::default(),
        Arc::new(LocalResolver),
    )
    .unwrap()
}

fn route_create() -> ApisixRouteCreate {
    ApisixRouteCreate {
        message_id: "saga-1:apisix-route:create".into(),
        saga_id: "saga-1".into(),
        step_id: "apisix-route".into(),
        dataset_id: "ds-1".into(),
        apis: vec![DatasetApi {
            slug: "sensorthings".into(),
            upstream_url: "http://frost:8080/FROST-Server/v1.1".into(),
        }],
        frost_project_id: Some("42".into()),
    }
}

#[tokio::test]
async fn apisix_puts_an_upstream_and_a_route_per_api_with_the_admin_key() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/apisix/admin/upstreams/ds-1-sensorthings"))
        .and(header("X-API-KEY", "s3cret"))
        .and(body_partial_json(
            json!({"nodes": [{"host": "frost", "port": 8080, "weight": 1}]}),
        ))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/apisix/admin/routes/ds-1-sensorthings"))
        .and(header("X-API-KEY", "s3cret"))
        .and(body_partial_json(
            json!({"uris": ["/v1/datasets/ds-1/sensorthings", "/v1/datasets/ds-1/sensorthings/*"],
            "upstream_id": "ds-1-sensorthings"}),
        ))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let result = apisix(&server).create(&route_create()).await;
    assert_eq!(result.status, ResultStatus::Success, "{result:?}");
    let urls: Vec<_> = result
        .resources
        .iter()
        .filter_map(|r| r.url.clone())
        .collect();
    assert_eq!(urls, ["https://gw.example/v1/datasets/ds-1/sensorthings"]);
}

#[tokio::test]
async fn apisix_reports_what_it_wrote_before_a_persistent_500() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/apisix/admin/upstreams/ds-1-sensorthings"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/apisix/admin/routes/ds-1-sensorthings"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&server)
        .await;
    let result = apisix(&server).create(&route_create()).await;
    assert_eq!(result.status, ResultStatus::Failure);
    assert_eq!(
        result.error.as_ref().unwrap().code,
        AdapterErrorCode::ServiceUnavailable
    );
    assert_eq!(result.attempts, 4);
    assert_eq!(result.resources.len(), 1);
    assert_eq!(result.resources[0].kind, "apisix-upstream");
}

#[tokio::test]
async fn apisix_counts_404_on_delete_as_success_and_deletes_routes_before_upstreams() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/apisix/admin/routes/ds-1-sensorthings"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/apisix/admin/upstreams/ds-1-sensorthings"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let result = apisix(&server)
        .delete(&ApisixRouteDelete {
            message_id: "saga-1:apisix-route:delete".into(),
            saga_id: "saga-1".into(),
            step_id: "apisix-route".into(),
            dataset_id: "ds-1".into(),
            route_ids: vec!["ds-1-sensorthings".into()],
            upstream_ids: vec!["ds-1-sensorthings".into()],
        })
        .await;
    assert_eq!(result.status, ResultStatus::Success, "{result:?}");
    let requests = server.received_requests().await.unwrap();
    assert!(requests[0].url.path().contains("/routes/"));
}

#[tokio::test]
async fn apisix_retries_a_429_and_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let result = apisix(&server).create(&route_create()).await;
    assert_eq!(result.status, ResultStatus::Success);
    assert_eq!(result.attempts, 3);
}

/// Ids a command could carry to move a request to another resource.
const PATH_ATTACKS: [&str; 6] = ["..", ".", "%2e%2e", "a/../..", "", "a/b"];

/// A server that fails the test (when dropped) if any request reaches it.
async fn untouchable() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .named("any request")
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn apisix_ids_that_would_change_the_path_go_to_the_dead_letter_topic_unsent() {
    let server = untouchable().await;
    let adapter = apisix(&server);
    let topics = SagaTopics::default();
    for attack in PATH_ATTACKS {
        for (routes, upstreams) in [(vec![attack], vec!["ok"]), (vec!["ok"], vec![attack])] {
            let command = json!({
                "messageId": "m", "sagaId": "s", "stepId": "apisix-route", "datasetId": "ds-1",
                "routeIds": routes, "upstreamIds": upstreams,
            });
            let err = adapter
                .handle(&topics.apisix_route_delete, command.to_string().as_bytes())
                .await
                .unwrap_err();
            assert!(
                err.starts_with("INVALID_PAYLOAD(1001)"),
                "{attack:?}: {err}"
            );
        }
    }
}

#[tokio::test]
async fn frost_project_ids_that_would_change_the_path_go_to_the_dead_letter_topic_unsent() {
    let server = untouchable().await;
    let adapter = frost(&server);
    let topics = SagaTopics::default();
    for attack in PATH_ATTACKS {
        let command = json!({
            "messageId": "m", "sagaId": "s", "stepId": "frost-project", "datasetId": "ds-1",
            "projectId": attack,
        });
        let err = adapter
            .handle(&topics.frost_project_delete, command.to_string().as_bytes())
            .await
            .unwrap_err();
        assert!(
            err.starts_with("INVALID_PAYLOAD(1001)"),
            "{attack:?}: {err}"
        );
        assert!(err.contains("projectId"), "{err}");
    }
}

#[tokio::test]
async fn a_token_whose_expires_in_overflows_the_clock_is_used_not_a_panic() {
    let idp = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "forever", "expires_in": 9_223_372_036_854_775_807u64}),
        ))
        .mount(&idp)
        .await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.1/Projects"))
        .and(header("authorization", "Bearer forever"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"value": [project("saga-1")]})),
        )
        .mount(&server)
        .await;
    let result = frost_with(&server, client_credentials(&idp))
        .create(&create())
        .await;
    assert_eq!(result.status, ResultStatus::Success, "{result:?}");
}
