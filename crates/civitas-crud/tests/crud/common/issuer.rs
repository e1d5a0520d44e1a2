//! A test OpenID Connect issuer (wiremock: discovery and JWKS) and tokens it signs.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use civitas_auth::caller_auth::CallerAuthSettings;

pub const KEY: &[u8] = include_bytes!("../fixtures/caller-token-key.pem");
pub const OTHER_KEY: &[u8] = include_bytes!("../fixtures/other-token-key.pem");
pub const REALM: &str = "/realms/civitas";
pub const JWKS: &str = "/realms/civitas/protocol/openid-connect/certs";

/// An issuer: discovery plus a JWKS with `kids` (all of them [`KEY`]'s public half).
pub struct Issuer {
    pub server: MockServer,
}

impl Issuer {
    pub async fn start(kids: &[&str]) -> Self {
        let issuer = Self {
            server: MockServer::start().await,
        };
        issuer.publish(kids).await;
        issuer
    }

    /// From now on: discovery, and a JWKS with `kids` (plus an encryption key, as Keycloak
    /// publishes).
    pub async fn publish(&self, kids: &[&str]) {
        let mut keys: Vec<Value> = kids
            .iter()
            .map(|kid| {
                let mut jwk = Jwk::from_encoding_key(&encoding_key(KEY), Algorithm::RS256)
                    .expect("the public half of the test key");
                jwk.common.key_id = Some((*kid).to_owned());
                serde_json::to_value(jwk).unwrap()
            })
            .collect();
        keys.push(
            json!({"kid": "enc", "kty": "RSA", "alg": "RSA-OAEP", "use": "enc",
            "n": "sXch", "e": "AQAB"}),
        );
        self.server.reset().await;
        Mock::given(method("GET"))
            .and(path(format!("{REALM}/.well-known/openid-configuration")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": self.url(),
                "jwks_uri": format!("{}{JWKS}", self.server.uri()),
                "authorization_endpoint": format!("{}{REALM}/protocol/openid-connect/auth", self.server.uri()),
                "token_endpoint": format!("{}{REALM}/protocol/openid-connect/token", self.server.uri()),
            })))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(JWKS))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": keys})))
            .mount(&self.server)
            .await;
    }

    pub fn url(&self) -> String {
        format!("{}{REALM}", self.server.uri())
    }

    pub fn settings(&self) -> CallerAuthSettings {
        CallerAuthSettings::new(self.url())
    }

    /// Claims of a valid token of this issuer, for the user `alice`.
    pub fn claims(&self) -> Value {
        json!({
            "iss": self.url(),
            "sub": "f3b1c0de-0000-4000-8000-00000000a11c",
            "preferred_username": "alice",
            "aud": "civitas-crud",
            "exp": now() + 300,
            "iat": now(),
        })
    }
}

pub fn encoding_key(pem: &[u8]) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem).expect("a PEM test key")
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

pub fn token(kid: &str, claims: &Value) -> String {
    sign(kid, claims, KEY)
}

pub fn sign(kid: &str, claims: &Value, pem: &[u8]) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &encoding_key(pem)).expect("signed")
}
