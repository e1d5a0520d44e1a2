//! The console's pages: one shell per view, rendered on the server (auto-escaped); the
//! script fills it in.

use std::sync::{Arc, LazyLock};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use civitas_topics::CrudTopics;
use minijinja::{Environment, context};
use serde::Serialize;

use super::Console;

/// One view: its path segment, its name in the navigation, and a line saying what it shows.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct View {
    pub id: &'static str,
    pub title: &'static str,
    pub lead: &'static str,
}

pub const VIEWS: [View; 8] = [
    View {
        id: "live",
        title: "Live",
        lead: "New records as they arrive, newest first (masked as civitas tail masks them).",
    },
    View {
        id: "search",
        title: "Search",
        lead: "Every record of one correlation id, object (system/type/id), saga or workflow, in time order, with the gaps between them.",
    },
    View {
        id: "failures",
        title: "Failures",
        lead: "Failed operations and validation errors by system and action, the most frequent errors, the latest failures.",
    },
    View {
        id: "sagas",
        title: "Sagas",
        lead: "Dataset provisioning sagas from the saga store: status, duration, the step that failed; one saga's steps with their compensation.",
    },
    View {
        id: "workflows",
        title: "Workflows",
        lead: "Workflow runs with their steps, and the approvals waiting for you.",
    },
    View {
        id: "secrets",
        title: "Secrets",
        lead: "Secret access from the audit topic by provider and outcome, errors first. Events never carry a secret's value.",
    },
    View {
        id: "topics",
        title: "Topics",
        lead: "The topic catalog with each topic's settings; choose a topic to see who may write and who may read it.",
    },
    View {
        id: "health",
        title: "Health",
        lead: "The service's /health and its latest crud.metrics snapshots.",
    },
];

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // The `.html` name turns auto-escaping on.
    env.add_template("page.html", include_str!("page.html"))
        .unwrap_or_else(|e| panic!("the console's page template does not parse: {e}"));
    env
});

/// `GET /console`: the live view.
pub async fn home() -> Redirect {
    Redirect::to("/console/live")
}

/// `GET /console/{view}`. With `--auth-issuer`, a person without a session is sent to sign
/// in first (and comes back here).
pub async fn view(
    State(console): State<Arc<Console>>,
    Path(view): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(found) = VIEWS.iter().find(|v| v.id == view) else {
        return (
            StatusCode::NOT_FOUND,
            "no such console view: see /console/live",
        )
            .into_response();
    };
    let topics: Vec<String> = CrudTopics::in_context(&console.settings.naming)
        .all()
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    let session = console.sign_in.as_ref().and_then(|s| s.session(&headers));
    let (auth_class, auth_text, csrf) = match (&console.caller_auth, &session) {
        (None, _) => (
            "auth-open",
            "open: no sign-in (--auth-issuer) — whoever reaches this address reads events and decides approvals".to_owned(),
            String::new(),
        ),
        (Some(_), Some(session)) => (
            "auth-on",
            format!("signed in as {}", session.name),
            session.csrf.clone(),
        ),
        (Some(_), None) => {
            let next = uri
                .path_and_query()
                .map_or("/console/live", |p| p.as_str());
            let query = civitas_http::url_path::encode_segment(next);
            return Redirect::to(&format!("/console/auth/login?next={query}")).into_response();
        }
    };
    let rendered = PAGES.get_template("page.html").and_then(|t| {
        t.render(context! {
            view => found.id,
            title => found.title,
            lead => found.lead,
            views => minijinja::value::Serde(VIEWS),
            service => console.service_name.as_str(),
            topics => topics,
            auth_class => auth_class,
            auth_text => auth_text,
            csrf => csrf,
            signed_in => session.is_some(),
        })
    });
    match rendered {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "the console page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the console page could not be rendered",
            )
                .into_response()
        }
    }
}
