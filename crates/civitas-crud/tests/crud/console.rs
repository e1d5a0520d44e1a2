//! The web console, through HTTP: every view's page and its security headers, the JSON
//! behind the views over a real (embedded) broker, the live stream, refusals of bad filters,
//! and the first steps of signing in with `--auth-issuer`. The pages in a real browser:
//! scripts/console-browser.sh.

use crate::common;

use std::time::{Duration, Instant};

use civitas_console::signin::SignInSettings;
use common::TestApp;
use common::issuer::Issuer;
use serde_json::{Value, json};

const VIEWS: [&str; 8] = [
    "live",
    "search",
    "failures",
    "sagas",
    "workflows",
    "secrets",
    "topics",
    "health",
];

const MARKUP: &str = "<script>alert(1)</script>";

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", app.running.url()))
        .send()
        .await
        .unwrap()
}

/// `GET path` as status and JSON. Not `TestApp::get`, which checks answers against
/// openapi.json: `/console/api/*` is the console's own, not part of the API.
async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let answer = get(app, path).await;
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// A request whose object id is markup, with a correlation id of ours: a failed read.
async fn read_markup(app: &TestApp, correlation_id: &str) {
    let bytes = serde_json::to_vec(&json!({
        "system": "local", "object_type": "user", "action": "read",
        "object_id": MARKUP, "params": {}
    }))
    .unwrap();
    let answer = app
        .post(
            &bytes,
            &[
                ("content-type", "application/json"),
                ("x-correlation-id", correlation_id),
            ],
        )
        .await;
    assert_eq!(answer.status, 404, "{:?}", answer.body);
}

/// `GET path` until `done` says yes (the event is on its way to the broker), at most 10 s.
async fn poll(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get_json(app, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        if done(&body) || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_view_is_a_page_without_inline_script_under_a_strict_policy() {
    let app = TestApp::spawn().await;
    for view in VIEWS {
        let answer = get(&app, &format!("/console/{view}")).await;
        assert_eq!(answer.status(), 200, "{view}");
        let csp = answer.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert_eq!(answer.headers()["x-content-type-options"], "nosniff");
        let html = answer.text().await.unwrap();
        assert!(html.contains(&format!("data-view=\"{view}\"")), "{view}");
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script src=\"/console/assets/console.js\" defer></script>")
                .count(),
            "{view}: every script is the console's file"
        );
        assert!(html.contains("open: no sign-in"), "{view}: says it is open");
    }
    assert_eq!(get(&app, "/console/nope").await.status(), 404);
    let home = get(&app, "/console").await;
    assert_eq!(home.headers()["location"], "/console/live");
    let script = get(&app, "/console/assets/console.js").await;
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(
        get(&app, "/console/assets/../../etc/passwd").await.status(),
        404
    );
}

#[tokio::test]
async fn a_search_finds_a_requests_record_and_markup_stays_data() {
    let app = TestApp::spawn().await;
    read_markup(&app, "console-search-1").await;
    let found = poll(
        &app,
        "/console/api/search?q=console-search-1&since=1h",
        |b| b["matched"].as_u64() >= Some(1),
    )
    .await;
    assert_eq!(found["kind"], "correlation");
    let record = &found["records"][0];
    assert_eq!(record["correlation_id"], "console-search-1");
    assert_eq!(record["failure"], true);
    assert!(
        record["line"].as_str().unwrap().contains(MARKUP),
        "{record}"
    );
    assert_eq!(record["record"]["value"]["data"]["object_id"], MARKUP);
    // The same record by its object: `system/object_type/id` is its ce_subject.
    let by_object = poll(
        &app,
        "/console/api/search?q=local%2Fuser%2F%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        |b| b["matched"].as_u64() >= Some(1),
    )
    .await;
    assert_eq!(by_object["kind"], "object");
    assert_eq!(
        by_object["records"][0]["correlation_id"],
        "console-search-1"
    );
    let (_, none) = get_json(&app, "/console/api/search?q=no-such-id").await;
    assert_eq!(none["matched"], 0);
}

#[tokio::test]
async fn failures_are_counted_by_system_and_action_with_their_messages() {
    let app = TestApp::spawn().await;
    read_markup(&app, "console-failure-1").await;
    let answer = poll(&app, "/console/api/failures?since=1h", |b| {
        b["total"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(answer["groups"][0]["system"], "local");
    assert_eq!(answer["groups"][0]["action"], "read");
    assert!(
        answer["messages"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{answer}"
    );
    assert_eq!(answer["latest"][0]["correlation_id"], "console-failure-1");
}

#[tokio::test]
async fn bad_filters_are_refused_with_what_to_fix() {
    let app = TestApp::spawn().await;
    for (path, says) in [
        ("/console/api/search?q=x&since=2w", "since is"),
        ("/console/api/failures?since=forever", "since is"),
        ("/console/api/live?header=nothing", "name=value"),
        ("/console/api/live?failed=maybe", "failed is"),
        ("/console/api/live?topic=__consumer_offsets", "no topic"),
    ] {
        let (status, body) = get_json(&app, path).await;
        assert!(status == 400 || status == 404, "{path}: {status} {body}");
        assert!(body.to_string().contains(says), "{path}: {body}");
    }
    let long = "x".repeat(600);
    assert_eq!(
        get_json(&app, &format!("/console/api/search?q={long}"))
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn the_live_stream_sends_a_new_record_as_it_arrives() {
    let app = TestApp::spawn().await;
    let response = reqwest::get(format!(
        "{}/console/api/live?correlation_id=console-live-1",
        app.running.url()
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut response = response;
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut sent = false;
    while Instant::now() < deadline && !seen.contains("console-live-1\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(1), response.chunk()).await;
        if let Ok(Ok(Some(bytes))) = chunk {
            seen.push_str(&String::from_utf8_lossy(&bytes));
        }
        if !sent && seen.contains("event: connected") {
            read_markup(&app, "console-live-1").await;
            sent = true;
        }
    }
    assert!(sent, "the stream said it was connected: {seen}");
    let line = seen
        .lines()
        .find(|l| l.starts_with("data: {") && l.contains("console-live-1"))
        .unwrap_or_else(|| panic!("no record of the request in: {seen}"));
    let record: Value = serde_json::from_str(&line["data: ".len()..]).unwrap();
    assert_eq!(record["failure"], true);
}

#[tokio::test]
async fn topics_show_the_catalog_and_say_when_the_shipped_acl_matrix_does_not_fit() {
    let app = TestApp::spawn().await;
    let (status, body) = get_json(&app, "/console/api/topics").await;
    assert_eq!(status, 200);
    let topics = body["topics"].as_array().unwrap();
    let operations = topics
        .iter()
        .find(|t| t["name"].as_str() == Some(app.topics.operations.as_str()))
        .unwrap_or_else(|| panic!("{} is in the catalog: {topics:?}", app.topics.operations));
    assert_eq!(operations["on_cluster"], true);
    // The test's topics have their own prefix, which the shipped matrix does not name: the
    // view says so rather than show nobody (the browser test checks the shipped names).
    assert!(operations["writers"].is_null(), "{operations}");
    assert!(
        body["access_note"]
            .as_str()
            .is_some_and(|n| n.contains("does not fit this naming context")),
        "{body}"
    );
}

#[tokio::test]
async fn with_an_issuer_the_console_asks_for_a_sign_in_with_pkce() {
    let issuer = Issuer::start(&["k1"]).await;
    let app = TestApp::spawn_with(|settings| {
        settings.caller_auth = Some(issuer.settings());
        if let Some(console) = settings.console.as_mut() {
            console.sign_in = Some(SignInSettings {
                client_id: "civitas-console".to_owned(),
                client_secret: None,
                public_url: "https://civitas.example.org".to_owned(),
            });
        }
    })
    .await;
    // A page sends a stranger to sign in and back; the data says 401.
    let page = get(&app, "/console/failures?since=24h").await;
    assert_eq!(page.status(), 303);
    assert_eq!(
        page.headers()["location"],
        "/console/auth/login?next=%2Fconsole%2Ffailures%3Fsince%3D24h"
    );
    assert_eq!(get_json(&app, "/console/api/topics").await.0, 401);
    // The login goes to the issuer with PKCE, state and nonce, and binds the state.
    let login = get(&app, "/console/auth/login?next=/console/failures").await;
    assert_eq!(login.status(), 303);
    let location = reqwest::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(&issuer.server.uri()));
    let query: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    assert_eq!(
        query["redirect_uri"],
        "https://civitas.example.org/console/auth/callback"
    );
    assert!(query["state"].len() >= 43 && query["nonce"].len() >= 43);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure"),
        "{cookie}"
    );
    assert!(cookie.starts_with(&format!("civitas_login={}", query["state"])));
    // A callback from another browser (no login cookie) or with a made-up state: refused.
    let stranger = get(
        &app,
        &format!("/console/auth/callback?code=x&state={}", query["state"]),
    )
    .await;
    assert_eq!(stranger.status(), 400);
    let forged = reqwest::Client::new()
        .get(format!(
            "{}/console/auth/callback?code=x&state=made-up",
            app.running.url()
        ))
        .header("cookie", "civitas_login=made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    let text = forged.text().await.unwrap();
    assert!(text.contains("unknown or already used"), "{text}");
    // A session cookie nobody issued is no session.
    let guessed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/console/live", app.running.url()))
        .header("cookie", "civitas_console=guessed")
        .send()
        .await
        .unwrap();
    assert_eq!(guessed.status(), 303);
}

#[tokio::test]
async fn under_a_policy_each_person_sees_the_records_of_what_they_may_read() {
    let issuer = Issuer::start(&["k1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("authz.yaml");
    std::fs::write(
        &policy,
        "rules:\n  - name: user-desk\n    callers: {roles: [user-desk]}\n    systems: [local]\n    object_types: [user]\n    kinds: [read, list]\n  - name: platform\n    callers: {roles: [platform]}\n    kinds: [read, list]\n",
    )
    .unwrap();
    let app = TestApp::spawn_with(|settings| {
        settings.caller_auth = Some(issuer.settings());
        settings.authz = Some(policy.clone());
    })
    .await;
    let with_roles = |roles: &[&str]| {
        let mut claims = issuer.claims();
        claims["realm_access"] = json!({ "roles": roles });
        common::issuer::token("k1", &claims)
    };
    let (desk, platform, other) = (
        with_roles(&["user-desk"]),
        with_roles(&["platform"]),
        with_roles(&["mail-desk"]),
    );
    let as_caller = |token: String, path: String| {
        let url = format!("{}{path}", app.running.url());
        async move {
            let answer = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // The desk reads a user that is not there: a failed operation on local/user.
    let read = reqwest::Client::new()
        .post(format!("{}/execute", app.running.url()))
        .bearer_auth(&desk)
        .header("x-correlation-id", "console-policy-1")
        .json(
            &json!({"system": "local", "object_type": "user", "action": "read",
            "object_id": "nobody", "params": {}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 404);
    let search = "/console/api/search?q=console-policy-1&since=1h".to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = as_caller(desk.clone(), search.clone()).await;
        assert_eq!(status, 200, "{body}");
        if body["matched"] == 1 || Instant::now() > deadline {
            assert_eq!(
                body["matched"], 1,
                "the desk sees its own system's record: {body}"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, seen) = as_caller(platform.clone(), search.clone()).await;
    assert_eq!(seen["matched"], 1, "a platform-wide reader sees it: {seen}");
    let (_, hidden) = as_caller(other.clone(), search.clone()).await;
    assert_eq!(hidden["matched"], 0, "another desk does not: {hidden}");
    let (_, failures) = as_caller(other.clone(), "/console/api/failures?since=1h".into()).await;
    assert_eq!(failures["total"], 0, "{failures}");
    // What names no system is for platform-wide readers.
    for path in [
        "/console/api/secrets",
        "/console/api/metrics",
        "/console/api/sagas",
    ] {
        assert_eq!(as_caller(desk.clone(), path.into()).await.0, 403, "{path}");
        assert_eq!(
            as_caller(platform.clone(), path.into()).await.0,
            200,
            "{path}"
        );
    }
}
