//! Router-level tests with `tower::ServiceExt::oneshot`: no socket, no broker (events off).

use crate::common;

use common::{directory_app, oneshot};
use serde_json::{Value, json};

fn user_call(action: &str, object_id: Option<&str>, params: Value) -> Value {
    let mut body =
        json!({"system": "local", "object_type": "user", "action": action, "params": params});
    if let Some(id) = object_id {
        body["object_id"] = json!(id);
    }
    body
}

#[tokio::test]
async fn health_reports_the_database_and_that_events_are_off() {
    let (app, _dir) = directory_app().await;
    let (status, body) = oneshot(&app, "GET", "/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["events"]["enabled"], false);
    assert_eq!(body["systems"], 1);
}

#[tokio::test]
async fn systems_lists_what_can_be_executed_without_credentials() {
    let (app, _dir) = directory_app().await;
    let (status, body) = oneshot(&app, "GET", "/systems", None).await;
    assert_eq!(status, 200);
    let local = &body["systems"][0];
    assert_eq!(local["name"], "local");
    assert_eq!(local["type"], "directory");
    assert_eq!(local["connector"], "directory");
    assert_eq!(local["auth"], "none");
    let user = &local["objects"]["user"];
    assert_eq!(user["entity"], "idm.user");
    assert_eq!(user["actions"]["create"]["kind"], "create");
    assert_eq!(user["actions"]["create"]["required"], json!(["username"]));
    assert_eq!(user["actions"]["create"]["object_id"], false);
    assert_eq!(user["actions"]["lock"]["kind"], "update");
    assert_eq!(user["actions"]["lock"]["event"], "locked");
    assert_eq!(
        user["actions"]["change_password"]["event"],
        "password.changed"
    );
    assert_eq!(user["actions"]["read"]["object_id"], true);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_the_execute_body() {
    let (app, _dir) = directory_app().await;
    let (status, doc) = oneshot(&app, "GET", "/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/execute",
        "/systems",
        "/health",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    let responses = &doc["paths"]["/execute"]["post"]["responses"];
    for code in ["200", "400", "404", "409", "422", "502", "503"] {
        assert!(responses.get(code).is_some(), "{code} missing");
    }
    let schema = &doc["components"]["schemas"]["ExecuteRequest"];
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["system", "object_type", "action", "params"]);
}

#[tokio::test]
async fn metrics_count_requests_by_system_action_and_outcome() {
    let (app, _dir) = directory_app().await;
    oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call("create", None, json!({"username": "max"}))),
    )
    .await;
    oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call("create", None, json!({"username": "max"}))),
    )
    .await;
    oneshot(&app, "POST", "/execute", Some(json!({"system": "x"}))).await;
    oneshot(
        &app,
        "POST",
        "/execute",
        Some(json!({"system": "evil-label", "object_type": "u", "action": "a", "params": {}})),
    )
    .await;
    let (status, text) = oneshot(&app, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    let text = text.as_str().unwrap();
    assert!(
        text.contains(
            r#"civitas_execute_requests_total{system="local",action="create",outcome="success"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"civitas_execute_requests_total{system="local",action="create",outcome="conflict"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"civitas_execute_requests_total{system="unknown",action="unknown",outcome="invalid"} 1"#), "{text}");
    assert!(text.contains(r#"civitas_execute_requests_total{system="unknown",action="unknown",outcome="not_found"} 1"#), "{text}");
    assert!(
        !text.contains("evil-label"),
        "callers must not create label values"
    );
    assert!(
        text.contains("civitas_execute_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn two_apps_in_one_process_keep_separate_metrics() {
    let (a, _d1) = directory_app().await;
    let (b, _d2) = directory_app().await;
    oneshot(
        &a,
        "POST",
        "/execute",
        Some(user_call("create", None, json!({"username": "max"}))),
    )
    .await;
    let (_, text) = oneshot(&b, "GET", "/metrics", None).await;
    assert!(!text.as_str().unwrap().contains("outcome=\"success\""));
}

#[tokio::test]
async fn without_publishing_the_event_id_is_null() {
    let (app, _dir) = directory_app().await;
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call("create", None, json!({"username": "max"}))),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["event_id"], Value::Null);
    assert!(body["correlation_id"].as_str().is_some());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_422() {
    use tower::ServiceExt;
    let (app, _dir) = directory_app().await;
    let request = axum::http::Request::post("/execute")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("system=local&password=x"))
        .unwrap();
    let response = app.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.headers().contains_key("x-correlation-id"));
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert!(!body.to_string().contains("password=x"));
}

#[tokio::test]
async fn a_command_sent_without_the_json_content_type_is_415_and_does_not_run() {
    use tower::ServiceExt;
    let (app, _dir) = directory_app().await;
    let body = serde_json::to_vec(&user_call("create", None, json!({"username": "csrf"}))).unwrap();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let mut request = axum::http::Request::post("/execute");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = app
            .router()
            .oneshot(request.body(axum::body::Body::from(body.clone())).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{content_type:?}");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(
            answer["detail"]
                .as_str()
                .unwrap()
                .contains("Content-Type: application/json"),
            "{answer}"
        );
    }
    let (status, _) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call("read", Some("csrf"), json!({}))),
    )
    .await;
    assert_eq!(status, 404, "a refused create must not have run");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    use tower::ServiceExt;
    let dir = tempfile::tempdir().unwrap();
    let settings = civitas_crud::CrudSettings {
        database_url: format!("sqlite://{}/crud.db", dir.path().display()),
        body_limit_bytes: 64,
        ..civitas_crud::CrudSettings::default()
    };
    let app = civitas_crud::App::build(&settings, None).await.unwrap();
    let big = serde_json::to_vec(&user_call(
        "create",
        None,
        json!({"username": "x".repeat(100)}),
    ))
    .unwrap();
    let request = axum::http::Request::post("/execute")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(big))
        .unwrap();
    let response = app.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn param_names_are_matched_loosely_and_unknown_ones_are_refused_for_the_directory() {
    let (app, _dir) = directory_app().await;
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call(
            "create",
            None,
            json!({"UserName": "max", "First_Name": "Max", "LastName": "M", "EMAIL": "m@x"}),
        )),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["firstname"], "Max");
    assert_eq!(body["result"]["lastname"], "M");
    assert_eq!(body["result"]["email"], "m@x");

    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call(
            "create",
            None,
            json!({"username": "erika", "shoe_size": 38}),
        )),
    )
    .await;
    assert_eq!(status, 400);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "Unknown params for local/user/create: shoe_size. Valid params: username, password"
        ),
        "{detail}"
    );
}

#[tokio::test]
async fn params_of_the_wrong_type_are_400_naming_the_param() {
    let (app, _dir) = directory_app().await;
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call(
            "create",
            None,
            json!({"username": "max", "enabled": "yes"}),
        )),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"], "param 'enabled' must be true or false");
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call("list", None, json!({"limit": 0}))),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"], "param 'limit' must be between 1 and 1000");
}

#[tokio::test]
async fn nul_characters_are_400_naming_the_param() {
    // PostgreSQL's text columns cannot hold NUL: these were 500s there. One schema, one rule,
    // so SQLite refuses them too.
    let (app, _dir) = directory_app().await;
    let cases = [
        (
            user_call(
                "create",
                None,
                json!({"username": "nul", "email": "a\u{0}b"}),
            ),
            "param 'email' must be free of NUL characters",
        ),
        (
            user_call("read", Some("a\u{0}b"), json!({})),
            "object_id must be free of NUL characters",
        ),
        (
            json!({"system": "local", "object_type": "group", "action": "create",
                   "params": {"name": "g", "members": ["max\u{0}"]}}),
            "param 'members' must be free of NUL characters",
        ),
    ];
    for (call, detail) in cases {
        let (status, body) = oneshot(&app, "POST", "/execute", Some(call)).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["detail"], detail);
    }
}

#[tokio::test]
async fn groups_are_managed_through_execute() {
    let (app, _dir) = directory_app().await;
    let group = |action: &str, object_id: Option<&str>, params: Value| {
        let mut body =
            json!({"system": "local", "object_type": "group", "action": action, "params": params});
        if let Some(id) = object_id {
            body["object_id"] = json!(id);
        }
        body
    };
    for name in ["max", "erika"] {
        let (status, _) = oneshot(
            &app,
            "POST",
            "/execute",
            Some(user_call("create", None, json!({"username": name}))),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(group(
            "create",
            None,
            json!({"name": "admins", "members": ["max"]}),
        )),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["members"], json!(["max"]));
    let (status, _) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(group("create", None, json!({"name": "admins"}))),
    )
    .await;
    assert_eq!(status, 409);
    let (_, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(group(
            "add_member",
            Some("admins"),
            json!({"username": "erika"}),
        )),
    )
    .await;
    assert_eq!(body["result"]["members"], json!(["erika", "max"]));
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(group(
            "add_member",
            Some("admins"),
            json!({"username": "ghost"}),
        )),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"], "unknown user(s): ghost in system 'local'");
    let (_, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(group(
            "remove_member",
            Some("admins"),
            json!({"username": "max"}),
        )),
    )
    .await;
    assert_eq!(body["result"]["members"], json!(["erika"]));
    let (_, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call("read", Some("erika"), json!({}))),
    )
    .await;
    assert_eq!(body["result"]["groups"], json!(["admins"]));
    let (_, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(group("list", None, json!({}))),
    )
    .await;
    assert_eq!(body["result"].as_array().unwrap().len(), 1);
    let (_, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(group(
            "update",
            Some("admins"),
            json!({"description": "Admins"}),
        )),
    )
    .await;
    assert_eq!(body["result"]["description"], "Admins");
    let (status, _) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(group("delete", Some("admins"), json!({}))),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(group("read", Some("admins"), json!({}))),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["detail"], "group 'admins' not found in system 'local'");
}

#[tokio::test]
async fn users_are_listed_with_filters() {
    let (app, _dir) = directory_app().await;
    for name in ["anna", "bert"] {
        oneshot(
            &app,
            "POST",
            "/execute",
            Some(user_call("create", None, json!({"username": name}))),
        )
        .await;
    }
    oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call("lock", Some("bert"), json!({}))),
    )
    .await;
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call("list", None, json!({"locked": false}))),
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["anna"]);
}

#[tokio::test]
async fn a_user_without_a_password_cannot_change_it_but_can_get_one_reset() {
    let (app, _dir) = directory_app().await;
    oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call("create", None, json!({"username": "max"}))),
    )
    .await;
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call(
            "change_password",
            Some("max"),
            json!({"old_password": "a", "new_password": "b"}),
        )),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["detail"],
        "user 'max' has no password yet; set one with reset_password"
    );
    let (status, _) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call(
            "reset_password",
            Some("max"),
            json!({"new_password": "b"}),
        )),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call(
            "change_password",
            Some("max"),
            json!({"old_password": "b", "new_password": "c"}),
        )),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(user_call(
            "reset_password",
            Some("nobody"),
            json!({"new_password": "b"}),
        )),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_list_param_over_the_limit_is_400_before_any_database_work() {
    let (app, _dir) = directory_app().await;
    let members: Vec<String> = (0..1_001).map(|n| format!("u{n}")).collect();
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(
            json!({"system": "local", "object_type": "group", "action": "create",
                    "params": {"name": "big", "members": members}}),
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("`members`: 1001 items"),
        "{body}"
    );
}

#[test]
fn the_openapi_check_of_error_responses_refuses_what_the_document_does_not_say() {
    use common::openapi_check::assert_documented;
    let refused = |status: u16, body: Value| {
        std::panic::catch_unwind(|| assert_documented("post", "/execute", status, &body)).is_err()
    };
    assert!(!refused(
        404,
        json!({"detail": "no such system", "correlation_id": "c"})
    ));
    assert!(refused(404, json!({"detail": 3})), "a wrong type");
    assert!(
        refused(404, json!({"correlation_id": "c"})),
        "a required field missing"
    );
    assert!(
        refused(404, json!({"detail": "x", "extra": 1})),
        "a field not documented"
    );
    assert!(
        refused(418, json!({"detail": "x"})),
        "a status not documented"
    );
}
