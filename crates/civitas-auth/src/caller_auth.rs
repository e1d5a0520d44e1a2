//! Who calls the API: OpenID Connect bearer tokens (JWTs), checked against the issuer's
//! published keys. The caller's identity becomes the events' `user_context` (seed 000:
//! "`user_context` carries subject/issuer when available").
//!
//! Off unless an issuer is configured. When on, `POST /execute` and `GET /systems` answer 401
//! to a request without a valid token; `/health`, `/metrics` and `/openapi.json` stay open for
//! probes and scrapers.
//!
//! A token is accepted when its signature verifies with a key of the issuer's JWKS (found by
//! `kid`), its algorithm is an asymmetric one (RS*, PS*, ES*, EdDSA — never HS*, whose "key"
//! would be public), `iss` is the configured issuer, `exp` has not passed (60 s leeway) and,
//! when an audience is configured, `aud` names it.
//!
//! A verified token is remembered until its `exp` (at most [`MAX_REMEMBERED`] tokens): a client
//! reuses its token for minutes, and checking an RS256 signature costs about 100 µs of CPU —
//! as much as the rest of a request. The memory is cleared whenever the keys are fetched again.
//!
//! Keys are fetched at start-up (a failure refuses the start, like a bad system file), again
//! when a token names a key id the set does not have (at most every [`REFETCH_PAUSE`], so
//! made-up ids cannot flood the issuer, and once for many concurrent requests), and in the
//! background every [`KEYS_MAX_AGE`] so a withdrawn key stops being accepted.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use civitas_events::UserContext;
use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::authz::Grants;
use crate::discovery::{Discovery, IssuerError, discover, get_json};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Shortest pause between two fetches (or tries) of the keys caused by unknown key ids.
pub const REFETCH_PAUSE: Duration = Duration::from_secs(10);
/// Age after which the background upkeep fetches the keys again.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// Most verified tokens remembered at once.
pub const MAX_REMEMBERED: usize = 10_000;
/// Clock skew tolerated on `exp` (and `nbf`).
const LEEWAY_SECS: u64 = 60;
/// Algorithms a token may be signed with.
const ACCEPTED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// How callers are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerAuthSettings {
    /// The issuer: the tokens' `iss`, and where `/.well-known/openid-configuration` is read
    /// (e.g. `https://keycloak.example.org/realms/civitas`).
    pub issuer: String,
    /// When set, a token's `aud` must name it.
    pub audience: Option<String>,
    /// The JWKS address, when discovery should not be used.
    pub jwks_url: Option<String>,
    /// The claim that becomes `user_context.subject` (falls back to `sub`).
    pub subject_claim: String,
}

impl CallerAuthSettings {
    /// Settings for `issuer`, with discovery and `preferred_username` as the subject.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: None,
            jwks_url: None,
            subject_claim: DEFAULT_SUBJECT_CLAIM.to_owned(),
        }
    }
}

/// The claim that names the caller by default (Keycloak's user name).
pub const DEFAULT_SUBJECT_CLAIM: &str = "preferred_username";

/// Why the issuer's keys could not be read.
#[derive(Debug, thiserror::Error)]
#[error("could not read the keys of the token issuer from {url}: {reason}")]
pub struct KeysError {
    pub url: String,
    pub reason: String,
}

/// Why a request was refused (the 401's `detail`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("this API needs a bearer token from {issuer}: send `Authorization: Bearer <token>`")]
    Missing { issuer: String },
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("the bearer token is not a JWT ({0})")]
    Malformed(String),
    #[error(
        "tokens signed with {0:?} are not accepted (use an asymmetric algorithm: RS*, PS*, ES*, EdDSA)"
    )]
    Algorithm(Algorithm),
    #[error("the token's key {kid} is not among the issuer's keys at {url}")]
    UnknownKey { kid: String, url: String },
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was not issued by {0}")]
    Issuer(String),
    #[error("the token is not meant for audience {0}")]
    Audience(String),
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the token is invalid ({0})")]
    Invalid(String),
}

/// Checks callers' tokens. One per app; cheap to share.
#[derive(Debug)]
pub struct CallerAuth {
    settings: CallerAuthSettings,
    /// The issuer's discovery document, when the keys were found through it.
    discovery: Option<Discovery>,
    jwks_url: String,
    client: reqwest::Client,
    keys: RwLock<Arc<JwkSet>>,
    /// When the keys were last fetched (or tried to be); held while fetching, so that
    /// concurrent requests with a new kid cause one fetch.
    last_fetch: Mutex<Instant>,
    /// Tokens already verified, with their caller and the last second they are valid in.
    /// A plain map: entries expire by the token's own `exp`, checked on every use, and the
    /// map is emptied when full or when the keys change.
    verified: std::sync::Mutex<HashMap<Box<str>, (Identity, u64)>>,
}

/// A verified caller: who (for the events) and what the token grants (for the policy).
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: UserContext,
    pub grants: Arc<Grants>,
}

impl CallerAuth {
    /// Finds the JWKS (discovery unless given) and fetches the keys.
    pub async fn connect(settings: CallerAuthSettings) -> Result<Self, KeysError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| KeysError {
                url: settings.issuer.clone(),
                reason: e.to_string(),
            })?;
        let discovery = match &settings.jwks_url {
            Some(_) => None,
            None => Some(discover(&client, &settings.issuer).await?),
        };
        let jwks_url = match (&settings.jwks_url, &discovery) {
            (Some(url), _) => url.clone(),
            (
                None,
                Some(Discovery {
                    jwks_uri: Some(url),
                    ..
                }),
            ) => url.clone(),
            (None, _) => {
                return Err(KeysError {
                    url: settings.issuer.clone(),
                    reason: "the discovery document has no jwks_uri".to_owned(),
                });
            }
        };
        let set = fetch_keys(&client, &jwks_url).await?;
        Ok(Self {
            settings,
            discovery,
            jwks_url,
            client,
            keys: RwLock::new(Arc::new(set)),
            last_fetch: Mutex::new(Instant::now()),
            verified: Default::default(),
        })
    }

    /// Where the keys come from.
    pub fn jwks_url(&self) -> &str {
        &self.jwks_url
    }

    /// The issuer's discovery document as read at start-up (`None` with an explicit JWKS
    /// address): the console's sign-in takes its endpoints from here.
    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_ref()
    }

    /// The client that talks to the issuer (10 s timeout).
    pub fn issuer_client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn settings(&self) -> &CallerAuthSettings {
        &self.settings
    }

    /// The caller of a request with these headers.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, Refused> {
        let token = bearer_token(headers).ok_or_else(|| match headers.get(AUTHORIZATION) {
            None => Refused::Missing {
                issuer: self.settings.issuer.clone(),
            },
            Some(_) => Refused::NotBearer,
        })?;
        self.verify(token).await
    }

    /// The caller a bearer token stands for (what [`CallerAuth::authenticate`] checks; the
    /// console's sign-in keeps the token in its session and checks it here on every request).
    pub async fn verify(&self, token: &str) -> Result<Identity, Refused> {
        if let Some(user) = self.remembered(token) {
            return Ok(user);
        }
        let claims = self
            .claims(token, self.settings.audience.as_deref())
            .await?;
        let user = self.user_context(&claims);
        let grants = Arc::new(Grants::from_claims(&claims));
        let identity = Identity { user, grants };
        if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
            self.remember(token, &identity, exp + LEEWAY_SECS);
        }
        Ok(identity)
    }

    /// The verified claims of a token of the issuer: signature, issuer, expiry and, with
    /// `audience`, the audience (an ID token's is the client id).
    pub async fn claims(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<Map<String, Value>, Refused> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| Refused::Malformed(e.to_string()))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(Refused::Algorithm(header.alg));
        }
        let key = self.key_for(header.kid.as_deref(), header.alg).await?;
        let mut validation = self.validation(header.alg);
        let mut required = vec!["exp", "iss", "sub"];
        match audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.validate_aud = true;
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match (e.kind(), audience) {
                (ErrorKind::InvalidAudience, Some(audience)) => {
                    Refused::Audience(audience.to_owned())
                }
                _ => self.refusal(e),
            })
    }

    fn remembered(&self, token: &str) -> Option<Identity> {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let (user, valid_until) = verified.get(token)?;
        (jsonwebtoken::get_current_timestamp() <= *valid_until).then(|| user.clone())
    }

    fn remember(&self, token: &str, user: &Identity, valid_until: u64) {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= MAX_REMEMBERED {
            let now = jsonwebtoken::get_current_timestamp();
            verified.retain(|_, (_, until)| *until >= now);
            if verified.len() >= MAX_REMEMBERED {
                verified.clear();
            }
        }
        verified.insert(token.into(), (user.clone(), valid_until));
    }

    /// Fetches the keys again when the last fetch is [`KEYS_MAX_AGE`] old; keeps the old
    /// ones (and logs) when the issuer cannot be reached.
    pub async fn refresh_if_stale(&self) {
        if let Err(error) = self.fetch_unless_recent(KEYS_MAX_AGE).await {
            tracing::warn!(%error, "keeping the token issuer's previous keys");
        }
    }

    fn current_keys(&self) -> Arc<JwkSet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Fetches the keys unless the last fetch (or try) is less than `pause` ago.
    async fn fetch_unless_recent(&self, pause: Duration) -> Result<(), KeysError> {
        let mut last_fetch = self.last_fetch.lock().await;
        if last_fetch.elapsed() < pause {
            return Ok(());
        }
        *last_fetch = Instant::now();
        let set = fetch_keys(&self.client, &self.jwks_url).await?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        // A withdrawn key must not live on in tokens verified with it.
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(())
    }

    /// The key for `kid` (or the only key usable with `alg` when the token names none),
    /// fetching the set again once if it is not there.
    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, Refused> {
        if let Some(key) = pick(&self.current_keys(), kid, alg) {
            return key;
        }
        if let Err(error) = self.fetch_unless_recent(REFETCH_PAUSE).await {
            tracing::warn!(%error, "could not fetch the token issuer's keys for an unknown key id");
        }
        if let Some(key) = pick(&self.current_keys(), kid, alg) {
            return key;
        }
        Err(Refused::UnknownKey {
            kid: kid.unwrap_or("(none)").to_owned(),
            url: self.jwks_url.clone(),
        })
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.validate_nbf = true;
        validation
    }

    fn refusal(&self, error: jsonwebtoken::errors::Error) -> Refused {
        match error.kind() {
            ErrorKind::ExpiredSignature => Refused::Expired,
            ErrorKind::ImmatureSignature => Refused::NotYetValid,
            ErrorKind::InvalidIssuer => Refused::Issuer(self.settings.issuer.clone()),
            ErrorKind::InvalidAudience => {
                Refused::Audience(self.settings.audience.clone().unwrap_or_default())
            }
            ErrorKind::InvalidSignature => Refused::Signature,
            ErrorKind::MissingRequiredClaim(claim) => Refused::MissingClaim(claim.clone()),
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => Refused::Malformed(error.to_string()),
            _ => Refused::Invalid(error.to_string()),
        }
    }

    /// `unique_id` = `sub`, `subject` = the configured claim (else `sub`), `issuer` = `iss`.
    fn user_context(&self, claims: &Map<String, Value>) -> UserContext {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let unique_id = text("sub");
        UserContext {
            subject: text(&self.settings.subject_claim).or_else(|| unique_id.clone()),
            unique_id,
            issuer: text("iss"),
        }
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The key a token names, turned into a decoding key; `None` when the set has no such key.
fn pick(set: &JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<Result<DecodingKey, Refused>> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None => {
            let mut usable = set.keys.iter().filter(|jwk| fits(jwk, alg));
            match (usable.next(), usable.next()) {
                (Some(only), None) => only,
                _ => return None,
            }
        }
    };
    if !fits(jwk, alg) {
        return Some(Err(Refused::Invalid(format!(
            "the key {} is not a {alg:?} signing key",
            kid.unwrap_or("(none)")
        ))));
    }
    Some(DecodingKey::from_jwk(jwk).map_err(|e| Refused::Invalid(format!("unusable key: {e}"))))
}

/// Whether `jwk` may verify a signature made with `alg`: a signing key (not `use: enc`) of
/// the algorithm's family, whose own `alg`, when stated, is `alg`.
fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    use jsonwebtoken::jwk::{AlgorithmParameters, PublicKeyUse};
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return false;
    }
    if let Some(stated) = jwk.common.key_algorithm
        && Algorithm::try_from(stated).ok() != Some(alg)
    {
        return false;
    }
    let family = alg.family();
    use jsonwebtoken::AlgorithmFamily as F;
    matches!(
        (&jwk.algorithm, family),
        (AlgorithmParameters::RSA(_), F::Rsa)
            | (AlgorithmParameters::EllipticCurve(_), F::Ec)
            | (AlgorithmParameters::OctetKeyPair(_), F::Ed)
    )
}

async fn fetch_keys(client: &reqwest::Client, url: &str) -> Result<JwkSet, KeysError> {
    let document: Value = get_json(client, url).await?;
    // Keys of kinds this library does not know are skipped, not fatal: an issuer may publish
    // encryption keys or new key types next to its signing keys.
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| KeysError {
            url: url.to_owned(),
            reason: "the document has no `keys` array".to_owned(),
        })?
        .iter()
        .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
        .collect();
    Ok(JwkSet { keys })
}

impl From<IssuerError> for KeysError {
    fn from(error: IssuerError) -> Self {
        KeysError {
            url: error.url,
            reason: error.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        headers
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn encryption_keys_and_other_algorithms_do_not_verify_signatures() {
        let rsa = |extra: Value| -> Jwk {
            let mut key = serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
            key.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            serde_json::from_value(key).unwrap()
        };
        assert!(fits(&rsa(serde_json::json!({})), Algorithm::RS256));
        assert!(fits(
            &rsa(serde_json::json!({"alg": "RS256", "use": "sig"})),
            Algorithm::RS256
        ));
        assert!(!fits(
            &rsa(serde_json::json!({"alg": "RS384"})),
            Algorithm::RS256
        ));
        assert!(!fits(
            &rsa(serde_json::json!({"use": "enc"})),
            Algorithm::RS256
        ));
        assert!(!fits(&rsa(serde_json::json!({})), Algorithm::ES256));
    }
}
