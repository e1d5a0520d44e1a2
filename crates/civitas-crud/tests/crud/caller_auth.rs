//! Caller authentication: bearer tokens of an OpenID Connect issuer (a wiremock server
//! publishing discovery and JWKS), checked on /execute and /systems, and the caller's
//! identity in the events' `user_context`.

use crate::common;

use std::time::Duration;

use civitas_auth::caller_auth::CallerAuthSettings;
use civitas_crud::{App, CrudSettings};
use common::TestApp;
use common::issuer::{Issuer, JWKS, OTHER_KEY, now, sign, token};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

fn create(username: &str) -> Value {
    json!({"system": "local", "object_type": "user", "action": "create",
           "params": {"username": username, "password": "s3cret"}})
}

async fn spawn(settings: CallerAuthSettings) -> TestApp {
    TestApp::spawn_with(|s| s.caller_auth = Some(settings)).await
}

async fn execute_as(app: &TestApp, token: &str, body: &Value) -> common::TestResponse {
    let bytes = serde_json::to_vec(body).unwrap();
    let bearer = format!("Bearer {token}");
    app.post(
        &bytes,
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer),
        ],
    )
    .await
}

/// `GET <path>` without a token.
async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    let url = format!("{}{path}", app.running.url());
    app.client.get(url).send().await.unwrap()
}

#[tokio::test]
async fn a_valid_token_runs_the_command_and_names_the_caller_in_the_event() {
    let issuer = Issuer::start(&["k1"]).await;
    let app = spawn(issuer.settings()).await;
    let response = execute_as(&app, &token("k1", &issuer.claims()), &create("max")).await;
    assert_eq!(response.status, 200, "{:?}", response.body);

    let events = app.operations(1).await;
    assert_eq!(
        events[0].value["user_context"],
        json!({"unique_id": "f3b1c0de-0000-4000-8000-00000000a11c", "subject": "alice",
               "issuer": issuer.url()})
    );
}

#[tokio::test]
async fn a_request_without_a_token_is_401_with_a_challenge_and_no_event() {
    let issuer = Issuer::start(&["k1"]).await;
    let app = spawn(issuer.settings()).await;
    let response = app
        .post(
            &serde_json::to_vec(&create("max")).unwrap(),
            &[
                ("content-type", "application/json"),
                ("x-correlation-id", "c-401"),
            ],
        )
        .await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("www-authenticate"),
        Some(r#"Bearer realm="civitas""#)
    );
    let detail = response.body["detail"].as_str().unwrap();
    assert!(detail.contains("Authorization: Bearer"), "{detail}");
    assert!(detail.contains(&issuer.url()), "{detail}");
    assert_eq!(response.body["correlation_id"], "c-401");
    assert_eq!(response.header("x-correlation-id"), Some("c-401"));

    // /systems is the caller's too; the probes and the scraper are not.
    assert_eq!(get(&app, "/systems").await.status().as_u16(), 401);
    for open in ["/health", "/metrics", "/openapi.json"] {
        let response = get(&app, open).await;
        assert_eq!(response.status().as_u16(), 200, "{open}");
    }
    let doc: Value = get(&app, "/openapi.json").await.json().await.unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["paths"]["/execute"]["post"]["security"],
        json!([{"bearer": []}])
    );
    assert_eq!(
        doc["paths"]["/systems"]["get"]["security"],
        json!([{"bearer": []}])
    );
    assert!(doc["paths"]["/health"]["get"].get("security").is_none());
    let metrics = get(&app, "/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"outcome="unauthorized""#), "{metrics}");
    assert_eq!(
        app.count(&app.topics.operations, 0, Duration::from_secs(2))
            .await,
        0,
        "a refused caller leaves no operation event"
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_each_with_its_reason() {
    let issuer = Issuer::start(&["k1"]).await;
    let mut settings = issuer.settings();
    settings.audience = Some("civitas-crud".to_owned());
    let app = spawn(settings).await;
    let claims = issuer.claims();
    let with = |change: Value| {
        let mut claims = claims.clone();
        claims
            .as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        claims
    };
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"public"),
    )
    .unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            token("k1", &with(json!({"exp": now() - 600}))),
            "expired",
        ),
        (
            "another issuer",
            token("k1", &with(json!({"iss": "https://elsewhere/realms/x"}))),
            "not issued by",
        ),
        (
            "another audience",
            token("k1", &with(json!({"aud": "someone-else"}))),
            "audience civitas-crud",
        ),
        (
            "forged",
            sign("k1", &claims, OTHER_KEY),
            "signature does not verify",
        ),
        ("unknown key", token("k9", &claims), "key k9 is not among"),
        ("symmetric", hs256, "HS256"),
        ("not a JWT", "abc.def".to_owned(), "not a JWT"),
        (
            "encryption key",
            token("enc", &claims),
            "not a RS256 signing key",
        ),
    ];
    for (case, token, reason) in cases {
        let response = execute_as(&app, &token, &create("max")).await;
        assert_eq!(response.status, 401, "{case}: {:?}", response.body);
        let detail = response.body["detail"].as_str().unwrap();
        assert!(detail.contains(reason), "{case}: {detail}");
        let challenge = response.header("www-authenticate").unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{case}: {challenge}"
        );
    }
    let basic = app
        .post(b"{}", &[("authorization", "Basic YWxpY2U6cHc=")])
        .await;
    assert_eq!(basic.status, 401);
    assert_eq!(
        basic.body["detail"],
        "the Authorization header is not `Bearer <token>`"
    );
}

#[tokio::test]
async fn a_validation_error_event_names_the_caller_too() {
    let issuer = Issuer::start(&["k1"]).await;
    let app = spawn(issuer.settings()).await;
    let response = execute_as(&app, &token("k1", &issuer.claims()), &json!({"action": 3})).await;
    assert_eq!(response.status, 422);
    let errors = app.errors(1).await;
    assert_eq!(errors[0].value["user_context"]["subject"], "alice");
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_when_tokens_name_it() {
    let issuer = Issuer::start(&["k1"]).await;
    let app = spawn(issuer.settings()).await;
    issuer.publish(&["k2"]).await;
    // Unknown ids fetch the keys again at most every 10 s after the last fetch.
    tokio::time::sleep(civitas_auth::caller_auth::REFETCH_PAUSE + Duration::from_millis(200)).await;
    let token = token("k2", &issuer.claims());
    let requests = (0..8).map(|n| {
        let body = create(&format!("user{n}"));
        let (app, token) = (&app, &token);
        async move { execute_as(app, token, &body).await }
    });
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.status, 200, "{:?}", response.body);
    }
    let fetches = issuer
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path() == JWKS)
        .count();
    assert_eq!(fetches, 1, "eight requests with the new kid, one fetch");
}

#[tokio::test]
async fn a_remembered_token_is_forgotten_when_its_key_is_withdrawn() {
    let issuer = Issuer::start(&["k1"]).await;
    let app = spawn(issuer.settings()).await;
    let old = token("k1", &issuer.claims());
    let first = execute_as(&app, &old, &create("max")).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    issuer.publish(&["k2"]).await;
    tokio::time::sleep(civitas_auth::caller_auth::REFETCH_PAUSE + Duration::from_millis(200)).await;
    // A token of the new key makes the service fetch the keys again …
    let new = execute_as(&app, &token("k2", &issuer.claims()), &create("moritz")).await;
    assert_eq!(new.status, 200, "{:?}", new.body);
    // … after which the old key's token, verified before, is no longer taken on trust.
    let again = execute_as(&app, &old, &create("erika")).await;
    assert_eq!(again.status, 401, "{:?}", again.body);
    assert!(
        again.body["detail"].as_str().unwrap().contains("key k1"),
        "{:?}",
        again.body
    );
}

#[tokio::test]
async fn a_remembered_token_still_expires() {
    let issuer = Issuer::start(&["k1"]).await;
    let app = spawn(issuer.settings()).await;
    let mut claims = issuer.claims();
    // Valid for two more seconds, counting the 60 s leeway.
    claims["exp"] = json!(now() - 58);
    let token = token("k1", &claims);
    let first = execute_as(&app, &token, &create("max")).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let again = execute_as(&app, &token, &create("moritz")).await;
    assert_eq!(again.status, 401, "{:?}", again.body);
    assert_eq!(again.body["detail"], "the token has expired");
}

#[tokio::test]
async fn an_unreachable_issuer_refuses_the_start_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let settings = CrudSettings {
        database_url: format!("sqlite://{}/crud.db", dir.path().display()),
        caller_auth: Some(CallerAuthSettings::new("http://127.0.0.1:9/realms/x")),
        ..CrudSettings::default()
    };
    let error = App::build(&settings, None).await.unwrap_err();
    let text = format!("{error}: {}", std::error::Error::source(&error).unwrap());
    assert!(
        text.contains("http://127.0.0.1:9/realms/x/.well-known/openid-configuration"),
        "{text}"
    );
}

// ---- authorization policy ----

const POLICY: &str = "rules:
  - name: directory-readers
    callers:
      roles: [viewer]
      scopes: [crud.read]
    systems: [local]
    kinds: [read, list]
  - name: directory-writers
    callers:
      client_roles: {civitas-crud: [writer]}
      groups: [/admins]
    systems: [local]
    object_types: [user]
";

async fn spawn_with_policy(issuer: &Issuer, policy: &str) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authz.yaml");
    std::fs::write(&file, policy).unwrap();
    let settings = issuer.settings();
    let app = TestApp::spawn_with(move |s| {
        s.caller_auth = Some(settings);
        s.authz = Some(file);
    })
    .await;
    (app, dir)
}

fn with(issuer: &Issuer, extra: Value) -> Value {
    let mut claims = issuer.claims();
    for (key, value) in extra.as_object().unwrap() {
        claims[key] = value.clone();
    }
    claims
}

async fn systems_as(app: &TestApp, token: &str) -> Value {
    let url = format!("{}/systems", app.running.url());
    app.client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_role_or_a_group_allows_a_write_and_a_realm_role_or_a_scope_only_reads() {
    let issuer = Issuer::start(&["k1"]).await;
    let (app, _dir) = spawn_with_policy(&issuer, POLICY).await;
    let writer = token(
        "k1",
        &with(
            &issuer,
            json!({"resource_access": {"civitas-crud": {"roles": ["writer"]}}}),
        ),
    );
    assert_eq!(execute_as(&app, &writer, &create("max")).await.status, 200);
    let admin = token("k1", &with(&issuer, json!({"groups": ["/admins"]})));
    assert_eq!(execute_as(&app, &admin, &create("eva")).await.status, 200);

    let read = json!({"system": "local", "object_type": "user", "action": "read",
                      "object_id": "max", "params": {}});
    let viewer = token(
        "k1",
        &with(&issuer, json!({"realm_access": {"roles": ["viewer"]}})),
    );
    assert_eq!(execute_as(&app, &viewer, &read).await.status, 200);
    let scoped = token("k1", &with(&issuer, json!({"scope": "openid crud.read"})));
    assert_eq!(execute_as(&app, &scoped, &read).await.status, 200);
    let denied = execute_as(&app, &scoped, &create("mallory")).await;
    assert_eq!(denied.status, 403, "{:?}", denied.body);

    // A viewer sees only what it may run.
    let seen = systems_as(&app, &viewer).await;
    let user_actions = &seen["systems"][0]["objects"]["user"]["actions"];
    assert!(user_actions.get("read").is_some(), "{seen}");
    assert!(user_actions.get("create").is_none(), "{seen}");
    let nobody = token("k1", &issuer.claims());
    let seen = systems_as(&app, &nobody).await;
    assert_eq!(seen["systems"], json!([]), "{seen}");
}

#[tokio::test]
async fn a_denied_command_is_403_naming_the_rule_and_an_audited_failure_event() {
    let issuer = Issuer::start(&["k1"]).await;
    let (app, _dir) = spawn_with_policy(&issuer, POLICY).await;
    let viewer = token(
        "k1",
        &with(
            &issuer,
            json!({"realm_access": {"roles": ["viewer", "hidden-role"]}}),
        ),
    );
    let response = execute_as(&app, &viewer, &create("max")).await;
    assert_eq!(response.status, 403);
    let detail = response.body["detail"].as_str().unwrap();
    assert!(detail.contains("`directory-writers`"), "{detail}");
    assert!(!detail.contains("hidden-role"), "{detail}");

    let events = app.operations(1).await;
    let event = &events[0].value;
    assert_eq!(event["data"]["success"], false);
    assert_eq!(event["data"]["error"], detail);
    assert_eq!(event["user_context"]["subject"], "alice");
    // Nothing ran: the user does not exist.
    let writer = token(
        "k1",
        &with(
            &issuer,
            json!({"resource_access": {"civitas-crud": {"roles": ["writer"]}}}),
        ),
    );
    let read = json!({"system": "local", "object_type": "user", "action": "read",
                      "object_id": "max", "params": {}});
    assert_eq!(execute_as(&app, &writer, &read).await.status, 404);
}

#[tokio::test]
async fn a_policy_error_refuses_the_start_with_file_and_line() {
    let issuer = Issuer::start(&["k1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authz.yaml");
    std::fs::write(&file, "rules:\n  - name: r\n    callers: {rolez: [x]}\n").unwrap();
    let settings = CrudSettings {
        database_url: format!("sqlite://{}/crud.db", dir.path().display()),
        caller_auth: Some(issuer.settings()),
        authz: Some(file.clone()),
        ..CrudSettings::default()
    };
    let error = App::build(&settings, None).await.unwrap_err();
    let text = format!("{error}: {error:?}");
    assert!(text.contains("authz.yaml"), "{text}");
    assert!(text.contains("line 3"), "{text}");

    std::fs::write(
        &file,
        "rules:\n  - {name: r, callers: {roles: [a]}, systems: [nope]}\n",
    )
    .unwrap();
    let error = App::build(&settings, None).await.unwrap_err();
    assert!(
        format!("{error:?}").contains("`nope` is not a configured system"),
        "{error:?}"
    );

    let without_issuer = CrudSettings {
        caller_auth: None,
        ..settings
    };
    assert!(matches!(
        App::build(&without_issuer, None).await.unwrap_err(),
        civitas_crud::StartupError::PolicyWithoutAuth
    ));
}
