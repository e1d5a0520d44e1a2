//! Every command of every shipped system type, against a wiremock server that answers as the
//! real API documents it; plus retries, giving up, timeouts, auth and OAuth2 token caching.

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use civitas_command::config::{Catalog, ConnectorKind, parse_system};
use civitas_command::connectors::http::HttpConnector;
use civitas_command::connectors::{Command, Connector};
use civitas_command::template::Templates;
use common::{StaticResolver, http_app, oneshot};
use serde_json::{Map, Value, json};
use wiremock::matchers::{
    body_partial_json, body_string_contains, header, method, path, query_param,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// One command: the request it must send and the documented answer.
struct Case {
    system_type: &'static str,
    object: &'static str,
    action: &'static str,
    object_id: Option<&'static str>,
    params: Value,
    method: &'static str,
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
    /// A subset of the JSON body the request must carry.
    body: Option<Value>,
    status: u16,
    response: Option<Value>,
    /// `Location` header path (appended to the server's URI).
    location: Option<&'static str>,
    result: Value,
}

impl Case {
    fn new(system_type: &'static str, object: &'static str, action: &'static str) -> Self {
        Self {
            system_type,
            object,
            action,
            object_id: None,
            params: json!({}),
            method: "GET",
            path: "/",
            query: &[],
            body: None,
            status: 200,
            response: None,
            location: None,
            result: Value::Null,
        }
    }
    fn id(mut self, id: &'static str) -> Self {
        self.object_id = Some(id);
        self
    }
    fn params(mut self, params: Value) -> Self {
        self.params = params;
        self
    }
    fn request(mut self, method: &'static str, path: &'static str) -> Self {
        self.method = method;
        self.path = path;
        self
    }
    fn query(mut self, query: &'static [(&'static str, &'static str)]) -> Self {
        self.query = query;
        self
    }
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    fn answer(mut self, status: u16, response: Option<Value>) -> Self {
        self.status = status;
        self.response = response;
        self
    }
    fn location(mut self, location: &'static str) -> Self {
        self.location = Some(location);
        self
    }
    fn result(mut self, result: Value) -> Self {
        self.result = result;
        self
    }
}

/// The system file of each type, pointing at `uri`, and the header its requests carry.
fn system_for(
    system_type: &str,
    uri: &str,
) -> (String, StaticResolver, (&'static str, &'static str)) {
    match system_type {
        "keycloak" => (
            format!(
                "name: kc\ntype: keycloak\nbase_url: {uri}\nsettings: {{realm: city}}\nauth: {{kind: bearer, token: env:KC_TOKEN}}\n"
            ),
            StaticResolver::with("env:KC_TOKEN", "kc-token"),
            ("authorization", "Bearer kc-token"),
        ),
        "apisix" => (
            format!(
                "name: gw\ntype: apisix\nbase_url: {uri}\nauth: {{kind: api_key, header: X-API-KEY, key: env:APISIX_KEY}}\n"
            ),
            StaticResolver::with("env:APISIX_KEY", "adm1n"),
            ("x-api-key", "adm1n"),
        ),
        "frost" => (
            format!(
                "name: st\ntype: frost\nbase_url: {uri}/FROST-Server\nauth: {{kind: basic, username: admin, password: file:/run/frost}}\n"
            ),
            StaticResolver::with("file:/run/frost", "pw"),
            // base64("admin:pw")
            ("authorization", "Basic YWRtaW46cHc="),
        ),
        "msgraph" => (
            format!(
                "name: entra\ntype: msgraph\nbase_url: {uri}\nauth:\n  kind: oauth2_client_credentials\n  token_url: {uri}/tenant/oauth2/v2.0/token\n  client_id: app-1\n  client_secret: env:ENTRA_SECRET\n  scope: https://graph.microsoft.com/.default\n"
            ),
            StaticResolver::with("env:ENTRA_SECRET", "entra-secret"),
            ("authorization", "Bearer graph-token"),
        ),
        other => panic!("no test system for {other}"),
    }
}

fn system_name(system_type: &str) -> &'static str {
    match system_type {
        "keycloak" => "kc",
        "apisix" => "gw",
        "frost" => "st",
        "msgraph" => "entra",
        _ => unreachable!(),
    }
}

async fn run_case(case: &Case) {
    let server = MockServer::start().await;
    let (yaml, resolver, (auth_name, auth_value)) = system_for(case.system_type, &server.uri());
    if case.system_type == "msgraph" {
        Mock::given(method("POST"))
            .and(path("/tenant/oauth2/v2.0/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "graph-token"}),
            ))
            .mount(&server)
            .await;
    }
    let mut mock = Mock::given(method(case.method))
        .and(path(case.path))
        .and(header(auth_name, auth_value));
    for (name, value) in case.query {
        mock = mock.and(query_param(*name, *value));
    }
    if let Some(body) = &case.body {
        mock = mock.and(body_partial_json(body.clone()));
    }
    let mut response = ResponseTemplate::new(case.status);
    if let Some(body) = &case.response {
        response = response.set_body_json(body.clone());
    }
    if let Some(location) = case.location {
        response = response.insert_header("Location", format!("{}{location}", server.uri()));
    }
    mock.respond_with(response)
        .expect(1)
        .named(format!(
            "{} {}/{}",
            case.system_type, case.object, case.action
        ))
        .mount(&server)
        .await;

    let app = http_app(&yaml, resolver);
    let mut request = json!({
        "system": system_name(case.system_type),
        "object_type": case.object,
        "action": case.action,
        "params": case.params,
    });
    if let Some(id) = case.object_id {
        request["object_id"] = json!(id);
    }
    let (status, body) = oneshot(&app, "POST", "/execute", Some(request)).await;
    let label = format!("{} {}/{}", case.system_type, case.object, case.action);
    assert_eq!(status, 200, "{label}: {body}");
    let mut expected = case.result.clone();
    if let Some(text) = expected
        .get("@iot.selfLink")
        .and_then(Value::as_str)
        .filter(|t| t.starts_with('/'))
    {
        expected["@iot.selfLink"] = json!(format!("{}{text}", server.uri()));
    }
    assert_eq!(body["result"], expected, "{label}");
    // Dropping the server checks that the mock was hit exactly once.
}

fn keycloak_cases() -> Vec<Case> {
    let k = |o, a| Case::new("keycloak", o, a);
    let mut cases = vec![
        k("user", "create")
            .params(json!({"username": "max", "email": "max@example.org", "password": "pw"}))
            .request("POST", "/admin/realms/city/users")
            .body(
                json!({"username": "max", "email": "max@example.org", "enabled": true,
                         "credentials": [{"type": "password", "value": "pw", "temporary": false}]}),
            )
            .answer(201, None)
            .location("/admin/realms/city/users/8f1c-1")
            .result(json!({"id": "8f1c-1", "username": "max"})),
        k("user", "read")
            .id("8f1c-1")
            .request("GET", "/admin/realms/city/users/8f1c-1")
            .answer(
                200,
                Some(json!({"id": "8f1c-1", "username": "max", "enabled": true})),
            )
            .result(json!({"id": "8f1c-1", "username": "max", "enabled": true})),
        k("user", "update")
            .id("8f1c-1")
            .params(json!({"firstName": "Max"}))
            .request("PUT", "/admin/realms/city/users/8f1c-1")
            .body(json!({"firstName": "Max"}))
            .answer(204, None)
            .result(json!({"id": "8f1c-1", "updated": true})),
        k("user", "delete")
            .id("8f1c-1")
            .request("DELETE", "/admin/realms/city/users/8f1c-1")
            .answer(204, None)
            .result(json!({"id": "8f1c-1", "deleted": true})),
        k("user", "list")
            .params(json!({"search": "ma", "max": 10}))
            .request("GET", "/admin/realms/city/users")
            .query(&[("search", "ma"), ("max", "10")])
            .answer(200, Some(json!([{"id": "8f1c-1", "username": "max"}])))
            .result(json!([{"id": "8f1c-1", "username": "max"}])),
        k("user", "lock")
            .id("8f1c-1")
            .request("PUT", "/admin/realms/city/users/8f1c-1")
            .body(json!({"enabled": false}))
            .answer(204, None)
            .result(json!({"id": "8f1c-1", "enabled": false})),
        k("user", "unlock")
            .id("8f1c-1")
            .request("PUT", "/admin/realms/city/users/8f1c-1")
            .body(json!({"enabled": true}))
            .answer(204, None)
            .result(json!({"id": "8f1c-1", "enabled": true})),
        k("user", "reset_password")
            .id("8f1c-1")
            .params(json!({"password": "n3w", "temporary": true}))
            .request("PUT", "/admin/realms/city/users/8f1c-1/reset-password")
            .body(json!({"type": "password", "value": "n3w", "temporary": true}))
            .answer(204, None)
            .result(json!({"id": "8f1c-1", "password_reset": true})),
        k("group", "create")
            .params(json!({"name": "ops"}))
            .request("POST", "/admin/realms/city/groups")
            .body(json!({"name": "ops"}))
            .answer(201, None)
            .location("/admin/realms/city/groups/g-1")
            .result(json!({"id": "g-1", "name": "ops"})),
        k("group", "read")
            .id("g-1")
            .request("GET", "/admin/realms/city/groups/g-1")
            .answer(
                200,
                Some(json!({"id": "g-1", "name": "ops", "path": "/ops"})),
            )
            .result(json!({"id": "g-1", "name": "ops", "path": "/ops"})),
        k("group", "update")
            .id("g-1")
            .params(json!({"name": "operations"}))
            .request("PUT", "/admin/realms/city/groups/g-1")
            .body(json!({"name": "operations"}))
            .answer(204, None)
            .result(json!({"id": "g-1", "updated": true})),
        k("group", "delete")
            .id("g-1")
            .request("DELETE", "/admin/realms/city/groups/g-1")
            .answer(204, None)
            .result(json!({"id": "g-1", "deleted": true})),
        k("group", "list")
            .params(json!({"search": "op"}))
            .request("GET", "/admin/realms/city/groups")
            .query(&[("search", "op")])
            .answer(200, Some(json!([{"id": "g-1", "name": "ops"}])))
            .result(json!([{"id": "g-1", "name": "ops"}])),
        k("group", "add_member")
            .id("g-1")
            .params(json!({"user_id": "8f1c-1"}))
            .request("PUT", "/admin/realms/city/users/8f1c-1/groups/g-1")
            .answer(204, None)
            .result(json!({"id": "g-1", "added": "8f1c-1"})),
        k("group", "remove_member")
            .id("g-1")
            .params(json!({"user_id": "8f1c-1"}))
            .request("DELETE", "/admin/realms/city/users/8f1c-1/groups/g-1")
            .answer(204, None)
            .result(json!({"id": "g-1", "removed": "8f1c-1"})),
        k("role", "create")
            .params(json!({"name": "viewer", "description": "Read only"}))
            .request("POST", "/admin/realms/city/roles")
            .body(json!({"name": "viewer", "description": "Read only"}))
            .answer(201, None)
            .location("/admin/realms/city/roles/viewer")
            .result(json!({"name": "viewer"})),
        k("role", "read")
            .id("viewer")
            .request("GET", "/admin/realms/city/roles/viewer")
            .answer(
                200,
                Some(json!({"id": "r-1", "name": "viewer", "composite": false})),
            )
            .result(json!({"id": "r-1", "name": "viewer", "composite": false})),
        k("role", "update")
            .id("viewer")
            .params(json!({"description": "Reads"}))
            .request("PUT", "/admin/realms/city/roles/viewer")
            .body(json!({"description": "Reads"}))
            .answer(204, None)
            .result(json!({"name": "viewer", "updated": true})),
        k("role", "delete")
            .id("viewer")
            .request("DELETE", "/admin/realms/city/roles/viewer")
            .answer(204, None)
            .result(json!({"name": "viewer", "deleted": true})),
        k("role", "list")
            .request("GET", "/admin/realms/city/roles")
            .answer(
                200,
                Some(json!([{"name": "viewer"}, {"name": "offline_access"}])),
            )
            .result(json!([{"name": "viewer"}, {"name": "offline_access"}])),
        k("client", "create")
            .params(json!({"clientId": "portal", "publicClient": true}))
            .request("POST", "/admin/realms/city/clients")
            .body(json!({"clientId": "portal", "publicClient": true}))
            .answer(201, None)
            .location("/admin/realms/city/clients/c-1")
            .result(json!({"id": "c-1", "clientId": "portal"})),
        k("client", "read")
            .id("c-1")
            .request("GET", "/admin/realms/city/clients/c-1")
            .answer(200, Some(json!({"id": "c-1", "clientId": "portal"})))
            .result(json!({"id": "c-1", "clientId": "portal"})),
        k("client", "update")
            .id("c-1")
            .params(json!({"enabled": false}))
            .request("PUT", "/admin/realms/city/clients/c-1")
            .body(json!({"enabled": false}))
            .answer(204, None)
            .result(json!({"id": "c-1", "updated": true})),
        k("client", "delete")
            .id("c-1")
            .request("DELETE", "/admin/realms/city/clients/c-1")
            .answer(204, None)
            .result(json!({"id": "c-1", "deleted": true})),
        k("client", "list")
            .params(json!({"clientId": "portal"}))
            .request("GET", "/admin/realms/city/clients")
            .query(&[("clientId", "portal")])
            .answer(200, Some(json!([{"id": "c-1", "clientId": "portal"}])))
            .result(json!([{"id": "c-1", "clientId": "portal"}])),
        k("realm", "create")
            .params(json!({"realm": "dev", "enabled": true}))
            .request("POST", "/admin/realms")
            .body(json!({"realm": "dev", "enabled": true}))
            .answer(201, None)
            .location("/admin/realms/dev")
            .result(json!({"realm": "dev"})),
        k("realm", "read")
            .id("dev")
            .request("GET", "/admin/realms/dev")
            .answer(
                200,
                Some(json!({"id": "dev", "realm": "dev", "enabled": true})),
            )
            .result(json!({"id": "dev", "realm": "dev", "enabled": true})),
        k("realm", "update")
            .id("dev")
            .params(json!({"displayName": "Development"}))
            .request("PUT", "/admin/realms/dev")
            .body(json!({"displayName": "Development"}))
            .answer(204, None)
            .result(json!({"realm": "dev", "updated": true})),
        k("realm", "delete")
            .id("dev")
            .request("DELETE", "/admin/realms/dev")
            .answer(204, None)
            .result(json!({"realm": "dev", "deleted": true})),
        k("realm", "list")
            .request("GET", "/admin/realms")
            .answer(200, Some(json!([{"realm": "master"}, {"realm": "city"}])))
            .result(json!([{"realm": "master"}, {"realm": "city"}])),
    ];
    cases.shrink_to_fit();
    cases
}

fn apisix_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (object, collection, params, value) in [
        (
            "route",
            "routes",
            json!({"uri": "/api/*", "upstream_id": "b1"}),
            json!({"id": "x1", "uri": "/api/*", "upstream_id": "b1", "status": 1}),
        ),
        (
            "backend",
            "upstreams",
            json!({"type": "roundrobin", "nodes": {"10.0.0.1:80": 1}}),
            json!({"id": "x1", "type": "roundrobin", "nodes": {"10.0.0.1:80": 1}}),
        ),
    ] {
        let item = |p: &'static str| -> &'static str {
            Box::leak(format!("/apisix/admin/{collection}{p}").into_boxed_str())
        };
        let key = format!("/apisix/{collection}/x1");
        let a = |action| Case::new("apisix", object, action);
        cases.push(
            a("create")
                .id("x1")
                .params(params.clone())
                .request("PUT", item("/x1"))
                .body(params.clone())
                .answer(201, Some(json!({"key": key, "value": value})))
                .result(value.clone()),
        );
        cases.push(
            a("read")
                .id("x1")
                .request("GET", item("/x1"))
                .answer(
                    200,
                    Some(
                        json!({"key": key, "value": value, "createdIndex": 7, "modifiedIndex": 7}),
                    ),
                )
                .result(value.clone()),
        );
        cases.push(
            a("update")
                .id("x1")
                .params(json!({"desc": "public"}))
                .request("PATCH", item("/x1"))
                .body(json!({"desc": "public"}))
                .answer(200, Some(json!({"key": key, "value": value})))
                .result(value.clone()),
        );
        cases.push(
            a("delete")
                .id("x1")
                .request("DELETE", item("/x1"))
                .answer(200, Some(json!({"deleted": "1", "key": key})))
                .result(json!({"id": "x1", "deleted": true})),
        );
        cases.push(
            a("list").params(json!({"page": 1, "page_size": 10}))
                .request("GET", item(""))
                .query(&[("page", "1"), ("page_size", "10")])
                .answer(200, Some(json!({"total": 1, "list": [{"key": key, "value": value, "createdIndex": 7}]})))
                .result(json!([value.clone()])),
        );
    }
    cases
}

fn frost_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (object, collection, params) in [
        (
            "thing",
            "Things",
            json!({"name": "Weather station 1", "description": "Roof"}),
        ),
        (
            "location",
            "Locations",
            json!({"name": "Roof", "encodingType": "application/geo+json",
                                           "location": {"type": "Point", "coordinates": [8.4, 49.0]}}),
        ),
        (
            "sensor",
            "Sensors",
            json!({"name": "DHT22", "encodingType": "application/pdf", "metadata": "https://x/dht22.pdf"}),
        ),
        (
            "observedproperty",
            "ObservedProperties",
            json!({"name": "Temperature", "definition": "http://dbpedia.org/page/Temperature"}),
        ),
        (
            "datastream",
            "Datastreams",
            json!({"name": "Temp", "unitOfMeasurement": {"symbol": "°C"},
            "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
            "Thing": {"@iot.id": 1}, "Sensor": {"@iot.id": 2}, "ObservedProperty": {"@iot.id": 3}}),
        ),
    ] {
        let at = |p: String| -> &'static str {
            Box::leak(format!("/FROST-Server/v1.1/{collection}{p}").into_boxed_str())
        };
        let f = |action| Case::new("frost", object, action);
        let entity = json!({"@iot.id": 42, "@iot.selfLink": format!("http://frost/v1.1/{collection}(42)"), "name": "n"});
        let location: &'static str =
            Box::leak(format!("/FROST-Server/v1.1/{collection}(42)").into_boxed_str());
        cases.push(
            f("create")
                .params(params.clone())
                .request("POST", at(String::new()))
                .body(params.clone())
                .answer(201, None)
                .location(location)
                .result(json!({"@iot.id": "42", "@iot.selfLink": location})),
        );
        cases.push(
            f("read")
                .id("42")
                .request("GET", at("(42)".into()))
                .answer(200, Some(entity.clone()))
                .result(entity.clone()),
        );
        cases.push(
            f("update")
                .id("42")
                .params(json!({"description": "moved"}))
                .request("PATCH", at("(42)".into()))
                .body(json!({"description": "moved"}))
                .answer(200, None)
                .result(json!({"@iot.id": "42", "updated": true})),
        );
        cases.push(
            f("delete")
                .id("42")
                .request("DELETE", at("(42)".into()))
                .answer(200, None)
                .result(json!({"@iot.id": "42", "deleted": true})),
        );
        cases.push(
            f("list")
                .params(json!({"top": 2, "filter": "name eq 'n'"}))
                .request("GET", at(String::new()))
                .query(&[("$top", "2"), ("$filter", "name eq 'n'")])
                .answer(
                    200,
                    Some(json!({"@iot.count": 1, "value": [entity.clone()]})),
                )
                .result(json!([entity])),
        );
    }
    cases
}

fn msgraph_cases() -> Vec<Case> {
    let g = |action| Case::new("msgraph", "user", action);
    let user = json!({"id": "u-1", "displayName": "Max", "userPrincipalName": "max@contoso.onmicrosoft.com"});
    vec![
        g("create")
            .params(json!({"displayName": "Max", "mailNickname": "max", "userPrincipalName": "max@contoso.onmicrosoft.com", "password": "pw"}))
            .request("POST", "/v1.0/users")
            .body(json!({"accountEnabled": true, "displayName": "Max", "mailNickname": "max",
                         "userPrincipalName": "max@contoso.onmicrosoft.com",
                         "passwordProfile": {"password": "pw", "forceChangePasswordNextSignIn": true}}))
            .answer(201, Some(user.clone()))
            .result(user.clone()),
        g("read").id("u-1")
            .request("GET", "/v1.0/users/u-1")
            .answer(200, Some(user.clone()))
            .result(user.clone()),
        g("update").id("u-1").params(json!({"jobTitle": "Engineer"}))
            .request("PATCH", "/v1.0/users/u-1")
            .body(json!({"jobTitle": "Engineer"}))
            .answer(204, None)
            .result(json!({"id": "u-1", "updated": true})),
        g("delete").id("u-1")
            .request("DELETE", "/v1.0/users/u-1")
            .answer(204, None)
            .result(json!({"id": "u-1", "deleted": true})),
        g("list").params(json!({"top": 5}))
            .request("GET", "/v1.0/users")
            .query(&[("$top", "5")])
            .answer(200, Some(json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": [user.clone()]})))
            .result(json!([user])),
        g("lock").id("u-1")
            .request("PATCH", "/v1.0/users/u-1")
            .body(json!({"accountEnabled": false}))
            .answer(204, None)
            .result(json!({"id": "u-1", "accountEnabled": false})),
        g("unlock").id("u-1")
            .request("PATCH", "/v1.0/users/u-1")
            .body(json!({"accountEnabled": true}))
            .answer(204, None)
            .result(json!({"id": "u-1", "accountEnabled": true})),
        g("reset_password").id("u-1").params(json!({"password": "n3w"}))
            .request("PATCH", "/v1.0/users/u-1")
            .body(json!({"passwordProfile": {"password": "n3w", "forceChangePasswordNextSignIn": true}}))
            .answer(204, None)
            .result(json!({"id": "u-1", "password_reset": true})),
    ]
}

fn all_cases() -> Vec<Case> {
    let mut cases = keycloak_cases();
    cases.extend(apisix_cases());
    cases.extend(frost_cases());
    cases.extend(msgraph_cases());
    cases
}

#[test]
fn the_cases_cover_every_command_of_every_shipped_http_system_type() {
    let catalog = Catalog::builtin().unwrap();
    let declared: BTreeSet<(String, String, String)> = catalog
        .types
        .values()
        .filter(|t| t.connector == ConnectorKind::Http)
        .flat_map(|t| {
            t.objects.iter().flat_map(move |(o, object)| {
                object
                    .commands
                    .keys()
                    .map(move |a| (t.name.clone(), o.clone(), a.clone()))
            })
        })
        .collect();
    let covered: BTreeSet<(String, String, String)> = all_cases()
        .iter()
        .map(|c| {
            (
                c.system_type.to_owned(),
                c.object.to_owned(),
                c.action.to_owned(),
            )
        })
        .collect();
    let missing: Vec<_> = declared.difference(&covered).collect();
    assert!(missing.is_empty(), "commands without a test: {missing:?}");
}

#[tokio::test]
async fn keycloak_commands_send_what_the_admin_api_documents() {
    for case in keycloak_cases() {
        run_case(&case).await;
    }
}

#[tokio::test]
async fn apisix_commands_send_what_the_admin_api_v3_documents() {
    for case in apisix_cases() {
        run_case(&case).await;
    }
}

#[tokio::test]
async fn frost_commands_send_what_sensorthings_documents() {
    for case in frost_cases() {
        run_case(&case).await;
    }
}

#[tokio::test]
async fn msgraph_commands_send_what_graph_documents() {
    for case in msgraph_cases() {
        run_case(&case).await;
    }
}

// ---- object ids, string keys, required params ----

async fn connector_for(yaml: &str, resolver: StaticResolver) -> (HttpConnector, Catalog) {
    let catalog = Catalog::builtin().unwrap();
    let system = parse_system("t.yaml", yaml).unwrap();
    let t = catalog.types[&system.system_type].clone();
    let connector =
        HttpConnector::new(&system, &t, Arc::new(resolver), Arc::new(Templates::new())).unwrap();
    (connector, catalog)
}

#[tokio::test]
async fn a_create_reports_the_id_the_system_assigned() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/FROST-Server/v1.1/Things"))
        .respond_with(ResponseTemplate::new(201).insert_header(
            "Location",
            format!("{}/FROST-Server/v1.1/Things(42)", server.uri()),
        ))
        .mount(&server)
        .await;
    let yaml = format!(
        "name: st\ntype: frost\nbase_url: {}/FROST-Server\n",
        server.uri()
    );
    let (connector, catalog) = connector_for(&yaml, StaticResolver::default()).await;
    let spec = &catalog.types["frost"].objects["thing"].commands["create"];
    let params: Map<String, Value> = serde_json::from_value(json!({"name": "t"})).unwrap();
    let command = Command {
        system: "st",
        object_type: "thing",
        action: "create",
        spec,
    };
    let executed = connector.execute(command, &params, None).await.unwrap();
    assert_eq!(executed.object_id.as_deref(), Some("42"));
}

#[tokio::test]
async fn a_frost_string_id_is_quoted_and_a_keycloak_id_cannot_leave_its_segment() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/FROST-Server/v1.1/Things('th%27%27s')"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"@iot.id": "th's"})))
        .expect(1)
        .mount(&server)
        .await;
    let app = http_app(
        &format!(
            "name: st\ntype: frost\nbase_url: {}/FROST-Server\n",
            server.uri()
        ),
        StaticResolver::default(),
    );
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(json!({"system": "st", "object_type": "thing", "action": "read", "params": {}, "object_id": "th's"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Other characters stay inside their segment, encoded.
    let kc = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/realms/city/users/a%3Fb%23c"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "User not found"})))
        .expect(1)
        .mount(&kc)
        .await;
    let app = http_app(
        &format!(
            "name: kc\ntype: keycloak\nbase_url: {}\nsettings: {{realm: city}}\nretry: {{attempts: 1}}\n",
            kc.uri()
        ),
        StaticResolver::default(),
    );
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(json!({"system": "kc", "object_type": "user", "action": "read", "params": {}, "object_id": "a?b#c"})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.starts_with("HTTP Error 404 from "), "{detail}");
    assert!(detail.contains("User not found"), "{detail}");
}

/// Values that a URL parser would resolve to another resource, and the empty value.
const PATH_ATTACKS: [&str; 8] = [
    "..",
    ".",
    "%2e%2e",
    "%2E%2e",
    "a/../..",
    "",
    "a/b",
    "8f1c%2Fgroups",
];

#[tokio::test]
async fn no_path_value_can_move_a_request_to_another_resource() {
    let catalog = Catalog::builtin().unwrap();
    let mut tried = 0;
    for (system_type, cases) in [
        ("keycloak", keycloak_cases()),
        ("apisix", apisix_cases()),
        ("frost", frost_cases()),
        ("msgraph", msgraph_cases()),
    ] {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .named(format!("any request to {system_type}"))
            .mount(&server)
            .await;
        let (yaml, resolver, _) = system_for(system_type, &server.uri());
        let app = http_app(&yaml, resolver);
        for case in cases {
            let spec = &catalog.types[case.system_type].objects[case.object].commands[case.action];
            let endpoint = spec.endpoint.as_deref().unwrap_or_default();
            // Every path variable of the endpoint that a caller controls.
            let mut targets: Vec<Option<String>> = Vec::new();
            if endpoint.contains("object_id") {
                targets.push(None);
            }
            for name in case.params.as_object().unwrap().keys() {
                if endpoint.contains(&format!("params.{name}")) {
                    targets.push(Some(name.clone()));
                }
            }
            for target in &targets {
                for attack in PATH_ATTACKS {
                    let mut request = json!({
                        "system": system_name(case.system_type),
                        "object_type": case.object,
                        "action": case.action,
                        "params": case.params,
                        "object_id": case.object_id.unwrap_or("x1"),
                    });
                    let name = match target {
                        None => {
                            request["object_id"] = json!(attack);
                            "object_id".to_owned()
                        }
                        Some(param) => {
                            request["params"][param] = json!(attack);
                            param.clone()
                        }
                    };
                    let label = format!(
                        "{} {}/{} {name}={attack:?}",
                        case.system_type, case.object, case.action
                    );
                    let (status, body) = oneshot(&app, "POST", "/execute", Some(request)).await;
                    assert_eq!(status, 400, "{label}: {body}");
                    let detail = body["detail"].as_str().unwrap_or_default();
                    assert!(
                        detail.contains(&format!("`{name}`")) || detail.contains("required"),
                        "{label}: {detail}"
                    );
                    tried += 1;
                }
            }
        }
        // Dropping the server checks that nothing was sent.
    }
    assert!(tried > 100, "only {tried} attacks tried");
}

#[tokio::test]
async fn a_command_missing_a_required_param_sends_nothing() {
    let server = MockServer::start().await;
    let app = http_app(
        &format!("name: entra\ntype: msgraph\nbase_url: {}\n", server.uri()),
        StaticResolver::default(),
    );
    let (status, body) = oneshot(
        &app,
        "POST",
        "/execute",
        Some(json!({"system": "entra", "object_type": "user", "action": "create", "params": {"displayName": "Max"}})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["detail"],
        "Missing required params for entra/user/create: mailNickname, userPrincipalName, password"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

// ---- retries, giving up, timeouts ----

fn kc_yaml(uri: &str, retry: &str) -> String {
    format!(
        "name: kc\ntype: keycloak\nbase_url: {uri}\nsettings: {{realm: city}}\nretry: {retry}\ntimeouts: {{connect_ms: 500, request_ms: 300}}\n"
    )
}

fn kc_read() -> Value {
    json!({"system": "kc", "object_type": "user", "action": "read", "params": {}, "object_id": "u1"})
}

const FAST_RETRY: &str =
    "{attempts: 3, initial_backoff_ms: 1, max_backoff_ms: 5, jitter: 0.0, retry_on: [429, 503]}";

#[tokio::test]
async fn a_429_is_retried_and_the_next_answer_counts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/realms/city/users/u1"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/admin/realms/city/users/u1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "u1"})))
        .expect(1)
        .mount(&server)
        .await;
    let app = http_app(
        &kc_yaml(&server.uri(), FAST_RETRY),
        StaticResolver::default(),
    );
    let (status, body) = oneshot(&app, "POST", "/execute", Some(kc_read())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["id"], "u1");
}

#[tokio::test]
async fn a_503_is_retried_until_the_attempts_are_used_up_then_502() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .expect(3)
        .mount(&server)
        .await;
    let app = http_app(
        &kc_yaml(&server.uri(), FAST_RETRY),
        StaticResolver::default(),
    );
    let (status, body) = oneshot(&app, "POST", "/execute", Some(kc_read())).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "HTTP Error 503");
    assert_eq!(body["upstream"]["detail"], "maintenance");
}

#[tokio::test]
async fn a_status_not_listed_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let app = http_app(
        &kc_yaml(&server.uri(), FAST_RETRY),
        StaticResolver::default(),
    );
    let (status, body) = oneshot(&app, "POST", "/execute", Some(kc_read())).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "HTTP Error 500");
}

#[tokio::test]
async fn a_timeout_is_retried_and_reported_as_unreachable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(1_000)))
        .expect(3)
        .mount(&server)
        .await;
    let app = http_app(
        &kc_yaml(&server.uri(), FAST_RETRY),
        StaticResolver::default(),
    );
    let (status, body) = oneshot(&app, "POST", "/execute", Some(kc_read())).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "Upstream unreachable");
    assert!(
        body["upstream"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("timed out"),
        "{body}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_and_reported_as_unreachable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let app = http_app(
        &kc_yaml(&format!("http://127.0.0.1:{port}"), FAST_RETRY),
        StaticResolver::default(),
    );
    let (status, body) = oneshot(&app, "POST", "/execute", Some(kc_read())).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "Upstream unreachable");
    assert!(
        body["upstream"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("connection failed"),
        "{body}"
    );
}

// ---- auth ----

fn graph_yaml(uri: &str) -> String {
    format!(
        "name: entra\ntype: msgraph\nbase_url: {uri}\nretry: {{attempts: 1}}\nauth:\n  kind: oauth2_client_credentials\n  token_url: {uri}/token\n  client_id: app-1\n  client_secret: env:ENTRA_SECRET\n  scope: https://graph.microsoft.com/.default\n"
    )
}

fn graph_read() -> Value {
    json!({"system": "entra", "object_type": "user", "action": "read", "params": {}, "object_id": "u-1"})
}

#[tokio::test]
async fn an_oauth2_token_is_fetched_once_and_reused_until_it_expires() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("client_id=app-1"))
        .and(body_string_contains("client_secret=entra-secret"))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "tok-1", "expires_in": 3600, "token_type": "Bearer"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u-1"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "u-1"})))
        .expect(3)
        .mount(&server)
        .await;
    let app = http_app(
        &graph_yaml(&server.uri()),
        StaticResolver::with("env:ENTRA_SECRET", "entra-secret"),
    );
    for _ in 0..3 {
        let (status, body) = oneshot(&app, "POST", "/execute", Some(graph_read())).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn an_expired_token_is_fetched_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "tok-1", "expires_in": 1})),
        )
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "u-1"})))
        .expect(2)
        .mount(&server)
        .await;
    let app = http_app(
        &graph_yaml(&server.uri()),
        StaticResolver::with("env:ENTRA_SECRET", "s"),
    );
    assert_eq!(
        oneshot(&app, "POST", "/execute", Some(graph_read()))
            .await
            .0,
        200
    );
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        oneshot(&app, "POST", "/execute", Some(graph_read()))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_401_drops_the_cached_token_and_the_request_is_sent_once_more() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "tok-old", "expires_in": 3600})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "tok-new", "expires_in": 3600})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer tok-old"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": {"code": "InvalidAuthenticationToken"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer tok-new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "u-1"})))
        .expect(1)
        .mount(&server)
        .await;
    let app = http_app(
        &graph_yaml(&server.uri()),
        StaticResolver::with("env:ENTRA_SECRET", "s"),
    );
    let (status, body) = oneshot(&app, "POST", "/execute", Some(graph_read())).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_refused_token_request_is_502_naming_the_token_endpoint() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})))
        .mount(&server)
        .await;
    let app = http_app(
        &graph_yaml(&server.uri()),
        StaticResolver::with("env:ENTRA_SECRET", "wrong"),
    );
    let (status, body) = oneshot(&app, "POST", "/execute", Some(graph_read())).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "HTTP Error 401");
    assert_eq!(body["upstream"]["url"], format!("{}/token", server.uri()));
    assert_eq!(
        body["upstream"]["detail"]["token_request_failed"]["error"],
        "invalid_client"
    );
    assert!(!body.to_string().contains("wrong"));
}

#[tokio::test]
async fn a_credential_that_cannot_be_resolved_is_503_naming_the_pointer_only() {
    let server = MockServer::start().await;
    let app = http_app(&graph_yaml(&server.uri()), StaticResolver::default());
    let (status, body) = oneshot(&app, "POST", "/execute", Some(graph_read())).await;
    assert_eq!(status, 503);
    assert_eq!(
        body["detail"],
        "credential env:ENTRA_SECRET is not available: the environment variable is not set"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}
