//! Signing in to the console with `--auth-issuer`: the OpenID Connect authorization-code flow
//! with PKCE (RFC 7636, `S256`), a server-side session, and a CSRF token.
//!
//! 1. `GET /console/auth/login?next=/console/…`: a fresh `state`, `nonce` and PKCE verifier
//!    are kept (at most [`MAX_PENDING`], ten minutes each); the browser gets a
//!    `civitas_login` cookie with the state (`SameSite=Lax`: it must come back with the
//!    issuer's redirect) and goes to the issuer's `authorization_endpoint`.
//! 2. `GET /console/auth/callback?code&state`: the state must match the cookie and a pending
//!    login; the code goes to the `token_endpoint` with the verifier. The ID token's
//!    signature, issuer, audience (the client id) and nonce are checked, and the access token
//!    as the API checks any bearer token. The session keeps the access token, server-side;
//!    the browser gets only a random id in `civitas_console` (`HttpOnly`, `SameSite=Strict`,
//!    `Secure` when the console's public URL is https).
//! 3. Every console and API request with that cookie (and no `Authorization` header) is the
//!    token's caller ([`CallerAuth::verify`](civitas_auth::caller_auth::CallerAuth::verify)): the same
//!    identity, policy and approver checks as the API. A state-changing one also needs the
//!    session's CSRF token in `X-CSRF-Token` (the page has it in a `<meta>`).
//! 4. The session ends with the access token (`exp`); `POST /console/auth/logout` ends it
//!    sooner. There is no refresh: the person signs in again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::Console;
use civitas_auth::caller_auth::{CallerAuth, Identity};
use civitas_auth::discovery::{discover, read_json};
use civitas_auth::{SessionAuthenticator, SessionRefused};
use futures::future::BoxFuture;

/// The session cookie.
pub const SESSION_COOKIE: &str = "civitas_console";
/// The cookie that binds a login to the browser that started it.
const LOGIN_COOKIE: &str = "civitas_login";
/// The header a state-changing request of a signed-in page carries.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Logins started and not finished, at most.
pub const MAX_PENDING: usize = 1_000;
/// Sessions at once, at most (the oldest expiring go first when full).
pub const MAX_SESSIONS: usize = 10_000;
/// How long a login may take at the issuer.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(600);

/// How the console signs people in.
#[derive(Debug, Clone)]
pub struct SignInSettings {
    /// The console's client id at the issuer (a public client; PKCE protects the code).
    pub client_id: String,
    /// For a confidential client.
    pub client_secret: Option<SecretString>,
    /// Where browsers reach the service, e.g. `https://civitas.example.org`: the redirect URI
    /// is `<public_url>/console/auth/callback`.
    pub public_url: String,
}

impl SignInSettings {
    fn redirect_uri(&self) -> String {
        format!(
            "{}/console/auth/callback",
            self.public_url.trim_end_matches('/')
        )
    }

    fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// The issuer's sign-in endpoints, from its discovery document.
#[derive(Debug, Clone)]
struct Endpoints {
    authorization_endpoint: String,
    token_endpoint: String,
}

#[derive(Debug)]
struct Pending {
    verifier: String,
    nonce: String,
    next: String,
    started: Instant,
}

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Session {
    access_token: SecretString,
    pub csrf: String,
    /// Who, as the header shows it.
    pub name: String,
    /// The access token's `exp` (seconds since the epoch).
    expires: u64,
}

/// The console's logins and sessions, in memory: a restart signs everyone out.
#[derive(Debug)]
pub struct SignIn {
    pub settings: SignInSettings,
    endpoints: OnceCell<Endpoints>,
    pending: Mutex<HashMap<String, Pending>>,
    sessions: Mutex<HashMap<String, Session>>,
    client: reqwest::Client,
}

/// 256 random bits, base64url.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Where to go after signing in: only a console path (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console/")
                && !n.starts_with("/console/auth/")
                && !n.contains("//")
                && !n.contains('\\')
                && n.len() <= 2048
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/console/live".to_owned(),
    }
}

impl SignIn {
    pub fn new(settings: SignInSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            settings,
            endpoints: OnceCell::new(),
            pending: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            client,
        }
    }

    /// The issuer's sign-in endpoints: from the discovery document the API's token checks
    /// read at start-up, else (keys given by `--auth-jwks-url`) read once here.
    async fn endpoints(&self, auth: &CallerAuth) -> Result<&Endpoints, String> {
        self.endpoints
            .get_or_try_init(|| async {
                let discovery = match auth.discovery() {
                    Some(d) => d.clone(),
                    None => discover(&self.client, &auth.settings().issuer)
                        .await
                        .map_err(|e| format!("the discovery document {e}"))?,
                };
                let (Some(authorization_endpoint), Some(token_endpoint)) =
                    (discovery.authorization_endpoint, discovery.token_endpoint)
                else {
                    return Err(
                        "the discovery document has no authorization_endpoint or token_endpoint"
                            .to_owned(),
                    );
                };
                for endpoint in [&authorization_endpoint, &token_endpoint] {
                    if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
                        return Err(format!(
                            "the discovery document's {endpoint:?} is not an http(s) URL"
                        ));
                    }
                }
                Ok(Endpoints {
                    authorization_endpoint,
                    token_endpoint,
                })
            })
            .await
    }

    /// The session a request's cookie names, if it is still valid.
    pub fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let mut sessions = lock(&self.sessions);
        let session = sessions.get(id)?;
        if session.expires < jsonwebtoken::get_current_timestamp() {
            sessions.remove(id);
            return None;
        }
        Some(session.clone())
    }

    fn remember_pending(&self, state: String, pending: Pending) {
        let mut all = lock(&self.pending);
        all.retain(|_, p| p.started.elapsed() < LOGIN_TIMEOUT);
        if all.len() >= MAX_PENDING {
            // Under a flood of login starts the oldest give way.
            if let Some(oldest) = all
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())
            {
                all.remove(&oldest);
            }
        }
        all.insert(state, pending);
    }

    fn open_session(&self, session: Session) -> String {
        let id = random_token();
        let mut all = lock(&self.sessions);
        let now = jsonwebtoken::get_current_timestamp();
        all.retain(|_, s| s.expires >= now);
        if all.len() >= MAX_SESSIONS
            && let Some(first) = all
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            all.remove(&first);
        }
        all.insert(id.clone(), session);
        id
    }

    fn cookie_header(
        &self,
        name: &str,
        value: &str,
        same_site: &str,
        path: &str,
        max_age: Option<u64>,
    ) -> HeaderValue {
        let mut text = format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}");
        if let Some(age) = max_age {
            text.push_str(&format!("; Max-Age={age}"));
        }
        if self.settings.secure() {
            text.push_str("; Secure");
        }
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

impl SessionAuthenticator for SignIn {
    /// The caller of a request that carries a session cookie and no bearer token; `None`
    /// when it has no (valid) session. A state-changing request must carry the CSRF token.
    fn authenticate<'a>(
        &'a self,
        auth: &'a CallerAuth,
        method: &'a Method,
        headers: &'a HeaderMap,
    ) -> BoxFuture<'a, Option<Result<Identity, SessionRefused>>> {
        Box::pin(async move {
            let session = self.session(headers)?;
            let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
            let csrf_ok = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| constant_time_eq(v.as_bytes(), session.csrf.as_bytes()));
            if !safe && !csrf_ok {
                return Some(Err(SessionRefused::Forbidden(
                    "a signed-in console request that changes something needs the page's CSRF token in X-CSRF-Token: reload the page".to_owned(),
                )));
            }
            Some(
                auth.verify(session.access_token.expose_secret())
                    .await
                    .map_err(SessionRefused::Token),
            )
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A page that says what went wrong with signing in (a 4xx: the person can start again).
fn sign_in_problem(status: StatusCode, message: &str) -> Response {
    tracing::info!(%message, "console sign-in refused");
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Sign-in failed · civitas console</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\"></head><body><main><h1>Sign-in failed</h1>\
         <p class=\"error\">{}</p><p><a href=\"/console/auth/login\">Sign in again</a></p></main></body></html>",
        escape(message)
    );
    (status, Html(body)).into_response()
}

/// HTML text escaping for the few strings these pages show.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn parts(console: &Console) -> Option<(&SignIn, &CallerAuth)> {
    Some((console.sign_in.as_deref()?, console.caller_auth.as_deref()?))
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    pub next: Option<String>,
}

/// `GET /console/auth/login`: off to the issuer.
pub async fn login(
    State(console): State<Arc<Console>>,
    Query(query): Query<LoginQuery>,
) -> Response {
    let Some((sign_in, auth)) = parts(&console) else {
        return (
            StatusCode::NOT_FOUND,
            "the console has no sign-in: the service runs without --auth-issuer",
        )
            .into_response();
    };
    let endpoints = match sign_in.endpoints(auth).await {
        Ok(e) => e,
        Err(error) => {
            tracing::warn!(%error, "the issuer's discovery document could not be read");
            return sign_in_problem(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("the issuer could not be reached: {error}"),
            );
        }
    };
    let state = random_token();
    let verifier = random_token();
    let nonce = random_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let Ok(mut url) = reqwest::Url::parse(&endpoints.authorization_endpoint) else {
        return sign_in_problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "the issuer's authorization_endpoint is not a URL",
        );
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &sign_in.settings.client_id)
        .append_pair("redirect_uri", &sign_in.settings.redirect_uri())
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    sign_in.remember_pending(
        state.clone(),
        Pending {
            verifier,
            nonce,
            next: safe_next(query.next.as_deref()),
            started: Instant::now(),
        },
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(url.as_str()) {
        headers.insert(LOCATION, location);
    }
    headers.insert(
        SET_COOKIE,
        sign_in.cookie_header(
            LOGIN_COOKIE,
            &state,
            "Lax",
            "/console/auth",
            Some(LOGIN_TIMEOUT.as_secs()),
        ),
    );
    response
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: String,
    id_token: Option<String>,
}

/// `GET /console/auth/callback`: the issuer's answer.
pub async fn callback(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some((sign_in, auth)) = parts(&console) else {
        return (StatusCode::NOT_FOUND, "the console has no sign-in").into_response();
    };
    if let Some(error) = &query.error {
        let detail = query.error_description.as_deref().unwrap_or("");
        return sign_in_problem(
            StatusCode::FORBIDDEN,
            &format!("the issuer said {error}: {detail}"),
        );
    }
    let (Some(code), Some(state)) = (query.code.as_deref(), query.state.as_deref()) else {
        return sign_in_problem(
            StatusCode::BAD_REQUEST,
            "the issuer's answer has no code or state",
        );
    };
    if cookie(&headers, LOGIN_COOKIE) != Some(state) {
        return sign_in_problem(
            StatusCode::BAD_REQUEST,
            "this sign-in was not started in this browser (or took longer than ten minutes)",
        );
    }
    let Some(pending) = lock(&sign_in.pending).remove(state) else {
        return sign_in_problem(
            StatusCode::BAD_REQUEST,
            "this sign-in is unknown or already used",
        );
    };
    if pending.started.elapsed() > LOGIN_TIMEOUT {
        return sign_in_problem(
            StatusCode::BAD_REQUEST,
            "this sign-in took longer than ten minutes",
        );
    }
    let endpoints = match sign_in.endpoints(auth).await {
        Ok(e) => e.clone(),
        Err(error) => return sign_in_problem(StatusCode::SERVICE_UNAVAILABLE, &error),
    };
    let redirect_uri = sign_in.settings.redirect_uri();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri.as_str()),
        ("client_id", sign_in.settings.client_id.as_str()),
        ("code_verifier", pending.verifier.as_str()),
    ];
    if let Some(secret) = &sign_in.settings.client_secret {
        form.push(("client_secret", secret.expose_secret()));
    }
    let answer = match sign_in
        .client
        .post(&endpoints.token_endpoint)
        .form(&form)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => {
            read_json::<TokenAnswer>(r, "the token endpoint's answer")
                .await
                .map_err(|e| e.to_string())
        }
        Ok(r) => Err(format!("the token endpoint answered {}", r.status())),
        Err(e) => Err(format!("the token endpoint could not be reached: {e}")),
    };
    let answer = match answer {
        Ok(a) => a,
        Err(message) => return sign_in_problem(StatusCode::BAD_GATEWAY, &message),
    };
    let Some(id_token) = &answer.id_token else {
        return sign_in_problem(
            StatusCode::BAD_GATEWAY,
            "the issuer sent no ID token (is `openid` an allowed scope of the client?)",
        );
    };
    let claims = match auth
        .claims(id_token, Some(&sign_in.settings.client_id))
        .await
    {
        Ok(c) => c,
        Err(refused) => {
            return sign_in_problem(StatusCode::FORBIDDEN, &format!("the ID token: {refused}"));
        }
    };
    if claims.get("nonce").and_then(Value::as_str) != Some(pending.nonce.as_str()) {
        return sign_in_problem(
            StatusCode::FORBIDDEN,
            "the ID token's nonce is not this sign-in's",
        );
    }
    let identity = match auth.verify(&answer.access_token).await {
        Ok(i) => i,
        Err(refused) => {
            return sign_in_problem(
                StatusCode::FORBIDDEN,
                &format!("the access token: {refused}"),
            );
        }
    };
    let expires = match auth
        .claims(&answer.access_token, auth.settings().audience.as_deref())
        .await
        .ok()
        .and_then(|c| c.get("exp").and_then(Value::as_u64))
    {
        Some(exp) => exp,
        None => return sign_in_problem(StatusCode::FORBIDDEN, "the access token has no exp"),
    };
    let name = identity
        .user
        .subject
        .clone()
        .or_else(|| identity.user.unique_id.clone())
        .unwrap_or_else(|| "signed in".to_owned());
    let id = sign_in.open_session(Session {
        access_token: SecretString::from(answer.access_token),
        csrf: random_token(),
        name,
        expires,
    });
    // The Strict session cookie is not sent on a navigation that began at the issuer: a
    // page of this site moves on, so the next request is same-site.
    let next = escape(&pending.next);
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><meta http-equiv=\"refresh\" content=\"0;url={next}\">\
         <title>Signed in · civitas console</title></head><body><p>Signed in. <a href=\"{next}\">Continue</a></p></body></html>"
    );
    let mut response = Html(body).into_response();
    let headers = response.headers_mut();
    headers.append(
        SET_COOKIE,
        sign_in.cookie_header(SESSION_COOKIE, &id, "Strict", "/", None),
    );
    headers.append(
        SET_COOKIE,
        sign_in.cookie_header(LOGIN_COOKIE, "", "Lax", "/console/auth", Some(0)),
    );
    response
}

/// `POST /console/auth/logout` (with the CSRF token): ends the session.
pub async fn logout(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some((sign_in, _)) = parts(&console) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(session) = sign_in.session(&headers) {
        let token_ok = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| constant_time_eq(v.as_bytes(), session.csrf.as_bytes()));
        if !token_ok {
            return (StatusCode::FORBIDDEN, "the CSRF token is missing or wrong").into_response();
        }
        if let Some(id) = cookie(&headers, SESSION_COOKIE) {
            lock(&sign_in.sessions).remove(id);
        }
    }
    let mut response = (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        "{\"signed_out\":true}",
    )
        .into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        sign_in.cookie_header(SESSION_COOKIE, "", "Strict", "/", Some(0)),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/console/search?q=x")),
            "/console/search?q=x"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/console/",
            "/console//evil",
            "/console/auth/login",
            "/\\evil",
            "/other",
            "/console/a b",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console/live", "{bad}");
        }
        assert_eq!(safe_next(None), "/console/live");
    }

    #[test]
    fn cookies_are_found_by_name_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; civitas_console=abc"));
        headers.append(COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "civitas"), None);
    }

    #[test]
    fn tokens_are_compared_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
