//! The secret service against a real OpenBao (`scripts/openbao.sh start`, which
//! `scripts/test.sh` runs): KV v2 reads, pinned, deleted and destroyed versions, a missing
//! key, a denying policy, AppRole login with token renewal, rotation, and the breaker.
//! Without `CIVITAS_TEST_BAO_ADDR` every test says why it skips — except under
//! `scripts/test.sh` (`CIVITAS_TEST_BAO_COMPLETE=1`), where a missing server fails them.

use std::sync::Arc;
use std::time::Duration;

use civitas_http::{CredentialError, CredentialRef, CredentialResolver};
use civitas_secrets::{
    BreakerState, RecordedEvents, SecretEventType, SecretService, SecretSettings, VaultAuth,
    VaultSettings,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

struct Bao {
    addr: String,
    root: String,
    http: reqwest::Client,
}

fn bao() -> Option<Bao> {
    let Ok(addr) = std::env::var("CIVITAS_TEST_BAO_ADDR") else {
        assert!(
            std::env::var("CIVITAS_TEST_BAO_COMPLETE").is_err(),
            "CIVITAS_TEST_BAO_ADDR is not set, but scripts/test.sh promised an OpenBao"
        );
        eprintln!("skipping: CIVITAS_TEST_BAO_ADDR is not set (scripts/openbao.sh start)");
        return None;
    };
    Some(Bao {
        addr,
        root: std::env::var("CIVITAS_TEST_BAO_TOKEN")
            .unwrap_or_else(|_| "civitas-test-root".into()),
        http: reqwest::Client::new(),
    })
}

impl Bao {
    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", &self.root)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            status.is_success() || status.as_u16() == 400,
            "{path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn put_secret(&self, path: &str, data: Value) {
        self.call(
            reqwest::Method::POST,
            &format!("secret/data/{path}"),
            json!({"data": data}),
        )
        .await;
    }

    /// A policy `name` that may read `secret/data/<path>` and nothing else.
    async fn read_policy(&self, name: &str, path: &str) {
        let policy = format!("path \"secret/data/{path}\" {{ capabilities = [\"read\"] }}");
        self.call(
            reqwest::Method::PUT,
            &format!("sys/policies/acl/{name}"),
            json!({ "policy": policy }),
        )
        .await;
    }

    fn service(
        &self,
        auth: VaultAuth,
        settings: SecretSettings,
    ) -> (SecretService, Arc<RecordedEvents>) {
        let events = Arc::new(RecordedEvents::default());
        let settings = SecretSettings {
            vault: Some(VaultSettings::new(self.addr.clone(), auth)),
            ..settings
        };
        (
            SecretService::new(&settings, events.clone()).unwrap(),
            events,
        )
    }

    fn root_auth(&self) -> VaultAuth {
        VaultAuth::Token(CredentialRef::Inline(SecretString::from(self.root.clone())))
    }
}

fn pointer(text: &str) -> CredentialRef {
    CredentialRef::parse(text).unwrap()
}

fn unique(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

#[tokio::test]
async fn a_kv2_key_is_read_latest_or_pinned_and_then_served_from_the_cache() {
    let Some(bao) = bao() else { return };
    let path = unique("keycloak");
    bao.put_secret(&path, json!({"client_secret": "canary-v1"}))
        .await;
    bao.put_secret(&path, json!({"client_secret": "canary-v2"}))
        .await;
    let (service, events) = bao.service(bao.root_auth(), SecretSettings::default());

    let latest = pointer(&format!("openbao+kv2://secret/{path}#client_secret"));
    let first = service.resolve(&latest).await.unwrap();
    assert_eq!(first.value.expose_secret(), "canary-v2");
    assert!(!first.cached);
    assert!(service.resolve(&latest).await.unwrap().cached);

    let pinned = pointer(&format!(
        "openbao+kv2://secret/{path}#client_secret?version=1"
    ));
    assert_eq!(
        service
            .resolve(&pinned)
            .await
            .unwrap()
            .value
            .expose_secret(),
        "canary-v1"
    );

    let events = events.take();
    let kinds: Vec<_> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        kinds,
        [
            SecretEventType::Retrieved,
            SecretEventType::CacheHit,
            SecretEventType::Retrieved
        ]
    );
    assert_eq!(events[0].vault_type, "openbao");
    assert_eq!(
        events[2].credential_id,
        format!("openbao+kv2://secret/{path}#client_secret"),
        "no version"
    );
    assert!(!format!("{events:?}").contains("canary"));
}

#[tokio::test]
async fn deleted_destroyed_and_missing_are_told_apart() {
    let Some(bao) = bao() else { return };
    let path = unique("gone");
    for value in ["a", "b", "c"] {
        bao.put_secret(&path, json!({"k": value})).await;
    }
    bao.call(
        reqwest::Method::POST,
        &format!("secret/delete/{path}"),
        json!({"versions": [1]}),
    )
    .await;
    bao.call(
        reqwest::Method::PUT,
        &format!("secret/destroy/{path}"),
        json!({"versions": [2]}),
    )
    .await;
    let (service, events) = bao.service(bao.root_auth(), SecretSettings::default());
    let read = |text: String| {
        let service = &service;
        async move { service.resolve(&pointer(&text)).await.unwrap_err() }
    };

    let deleted = read(format!("openbao+kv2://secret/{path}#k?version=1")).await;
    assert!(
        matches!(deleted, CredentialError::VersionDeleted { version: 1, .. }),
        "{deleted}"
    );
    let destroyed = read(format!("openbao+kv2://secret/{path}#k?version=2")).await;
    assert!(
        matches!(
            destroyed,
            CredentialError::VersionDestroyed { version: 2, .. }
        ),
        "{destroyed}"
    );
    let no_key = read(format!("openbao+kv2://secret/{path}#nope")).await;
    assert_eq!(no_key.reason_code(), "not_found");
    assert!(
        no_key.to_string().contains("key nope not found"),
        "{no_key}"
    );
    let no_version = read(format!("openbao+kv2://secret/{path}#k?version=99")).await;
    assert!(
        no_version
            .to_string()
            .contains("version 99 of the secret not found"),
        "{no_version}"
    );
    let no_secret = read("openbao+kv2://secret/surely/not/there#k".to_owned()).await;
    assert!(
        no_secret.to_string().contains("the secret not found"),
        "{no_secret}"
    );

    let errors = events.take();
    assert_eq!(errors.len(), 5);
    assert!(
        errors
            .iter()
            .all(|e| e.event_type == SecretEventType::Error && !e.success && e.error.is_some())
    );
    // The vault answered each time: the breaker stays closed.
    assert_eq!(service.breaker_state(), Some(BreakerState::Closed));
}

#[tokio::test]
async fn a_policy_that_denies_is_permission_denied() {
    let Some(bao) = bao() else { return };
    let path = unique("denied");
    bao.put_secret(&path, json!({"k": "v"})).await;
    bao.read_policy("civitas-only-other", "other").await;
    let token = bao
        .call(
            reqwest::Method::POST,
            "auth/token/create",
            json!({"policies": ["civitas-only-other"], "ttl": "10m"}),
        )
        .await["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (service, _) = bao.service(
        VaultAuth::Token(CredentialRef::Inline(SecretString::from(token))),
        SecretSettings::default(),
    );
    let error = service
        .resolve(&pointer(&format!("openbao+kv2://secret/{path}#k")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, CredentialError::PermissionDenied { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn approle_logs_in_renews_its_token_and_rotation_is_picked_up() {
    let Some(bao) = bao() else { return };
    let path = unique("rotating");
    bao.put_secret(&path, json!({"k": "first"})).await;
    // Enabling twice answers 400; either way it is enabled.
    bao.call(
        reqwest::Method::POST,
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await;
    bao.read_policy("civitas-rotating", &path).await;
    let role = unique("civitas");
    bao.call(
        reqwest::Method::POST,
        &format!("auth/approle/role/{role}"),
        json!({"token_policies": ["civitas-rotating"], "token_ttl": "3s", "token_max_ttl": "60s"}),
    )
    .await;
    let role_id = bao
        .call(
            reqwest::Method::GET,
            &format!("auth/approle/role/{role}/role-id"),
            Value::Null,
        )
        .await["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_id = bao
        .call(
            reqwest::Method::POST,
            &format!("auth/approle/role/{role}/secret-id"),
            json!({}),
        )
        .await["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = VaultAuth::AppRole {
        role_id,
        secret_id: CredentialRef::Inline(SecretString::from(secret_id)),
        mount: "approle".into(),
    };
    let settings = SecretSettings {
        cache_ttl: Duration::from_secs(1),
        ..SecretSettings::default()
    };
    let (service, _) = bao.service(auth, settings);
    let secret = pointer(&format!("openbao+kv2://secret/{path}#k"));
    assert_eq!(
        service
            .resolve(&secret)
            .await
            .unwrap()
            .value
            .expose_secret(),
        "first"
    );
    assert_eq!(service.login_counts().logins, 1);

    // A new version; past the cache TTL and two thirds into the 3 s lease.
    bao.put_secret(&path, json!({"k": "second"})).await;
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let rotated = service.resolve(&secret).await.unwrap();
    assert_eq!(
        rotated.value.expose_secret(),
        "second",
        "the new version after the TTL"
    );
    let counts = service.login_counts();
    assert_eq!(
        (counts.logins, counts.renewals),
        (1, 1),
        "renewed, not logged in again"
    );

    // Past the token's whole lease without a renewal: the next read logs in again.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    service.invalidate(&secret).await;
    assert_eq!(
        service
            .resolve(&secret)
            .await
            .unwrap()
            .value
            .expose_secret(),
        "second"
    );
    assert_eq!(service.login_counts().logins, 2);
}

#[tokio::test]
async fn a_dead_vault_opens_the_breaker_and_is_not_asked_again() {
    // No server needed: a port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut vault = VaultSettings::new(
        addr,
        VaultAuth::Token(CredentialRef::Inline(SecretString::from("t"))),
    );
    vault.attempts = 1;
    let settings = SecretSettings {
        vault: Some(vault),
        breaker_failures: 2,
        breaker_pause: Duration::from_secs(60),
        ..SecretSettings::default()
    };
    let events = Arc::new(RecordedEvents::default());
    let service = SecretService::new(&settings, events.clone()).unwrap();
    let secret = pointer("openbao+kv2://secret/x#k");
    for _ in 0..2 {
        let error = service.resolve(&secret).await.unwrap_err();
        assert!(
            matches!(error, CredentialError::Unreachable { .. }),
            "{error}"
        );
    }
    assert_eq!(service.breaker_state(), Some(BreakerState::Open));
    let error = service.resolve(&secret).await.unwrap_err();
    assert!(
        matches!(error, CredentialError::CircuitOpen { .. }),
        "{error}"
    );
    assert_eq!(
        events.take().len(),
        3,
        "every failure is reported, breaker refusals too"
    );
}

/// What a real server cannot be made to do: answer 500, or not in time (wiremock).
mod failing_vault {
    use super::*;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn service_for(server: &MockServer, timeout: Duration) -> SecretService {
        let mut vault = VaultSettings::new(
            server.uri(),
            VaultAuth::Token(CredentialRef::Inline(SecretString::from("t"))),
        );
        vault.attempts = 2;
        vault.timeout = timeout;
        let settings = SecretSettings {
            vault: Some(vault),
            breaker_failures: 2,
            ..SecretSettings::default()
        };
        SecretService::new(&settings, Arc::new(RecordedEvents::default())).unwrap()
    }

    #[tokio::test]
    async fn a_vault_answering_500_is_tried_again_then_unreachable_and_the_breaker_opens() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(500).set_body_json(json!({"errors": ["internal error"]})),
            )
            .expect(4)
            .mount(&server)
            .await;
        let service = service_for(&server, Duration::from_secs(2));
        let secret = pointer("openbao+kv2://secret/kc#k");
        for _ in 0..2 {
            let error = service.resolve(&secret).await.unwrap_err();
            assert!(
                error.to_string().contains("HTTP 500: internal error"),
                "{error}"
            );
        }
        assert_eq!(service.breaker_state(), Some(BreakerState::Open));
        let refused = service.resolve(&secret).await.unwrap_err();
        assert!(
            matches!(refused, CredentialError::CircuitOpen { .. }),
            "{refused}"
        );
        // expect(4): two lookups of two tries each; the third was not sent.
    }

    #[tokio::test]
    async fn a_vault_that_does_not_answer_in_time_is_a_timeout() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let service = service_for(&server, Duration::from_millis(200));
        let error = service
            .resolve(&pointer("openbao+kv2://secret/kc#k"))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("timed out"), "{error}");
    }
}
