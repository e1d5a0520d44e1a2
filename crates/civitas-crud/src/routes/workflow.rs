//! The workflow API: start a run, read it, decide its tasks, cancel it (docs/workflows.md).
//! Authenticated like `/execute`; who may do what is decided in `workflow::access`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use utoipa::IntoParams;

use crate::app::App;
use crate::error::ApiError;
use crate::routes::extract::{
    ExecuteError, JsonBody, RequestContext, refuse_invalid, set_correlation_header,
};
use civitas_command::request::{Invalid, ValidationIssue};
use civitas_workflow::access::{self, Who};
use civitas_workflow::api::{
    self, ResumeAnswer, ResumeRequest, RunList, RunView, StartRequest, StartResponse, TaskItem,
    TaskList, TaskStatus, WorkflowList,
};
use civitas_workflow::decide::{self, ResumeCommand};
use civitas_workflow::engine::{self, engine};
use civitas_workflow::run::{DecisionRecord, RunStatus, Starter};

/// Most runs or tasks one list answers with.
const MAX_LIST: i64 = 500;
/// Largest `data` a decision may carry (it is stored with the run).
const MAX_DECISION_DATA: usize = 16 * 1024;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilter {
    /// RUNNING, WAITING, COMPLETED, FAILED or CANCELLED (any case).
    #[param(value_type = Option<RunStatus>)]
    pub status: Option<String>,
    pub workflow: Option<String>,
    /// Default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// PENDING, APPROVED, REJECTED, EXPIRED or CANCELLED (any case).
    #[param(value_type = Option<TaskStatus>)]
    pub status: Option<String>,
    pub workflow: Option<String>,
    /// `me`: only the tasks the caller may decide.
    #[param(pattern = "^me$")]
    pub assignee: Option<String>,
    /// Default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// What a resume's 409 carries: a stale version's answer (with the run as it is now), or why
/// the decision cannot be made (a closed task, versions that disagree). For the OpenAPI
/// document: the handler answers one of the two.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ResumeConflict {
    Stale(Box<ResumeAnswer>),
    Refused(crate::error::DetailBody),
}

/// A query string that does not fit: 400 with the reason, as JSON.
fn bad_query(rejection: QueryRejection) -> ApiError {
    ApiError::BadRequest(rejection.body_text())
}

/// A path id that cannot be read (not UTF-8): 400, as JSON.
fn bad_path(rejection: PathRejection) -> ApiError {
    ApiError::BadRequest(rejection.body_text())
}

/// A list's `limit`: 1 to 500, 50 when not given.
fn list_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=MAX_LIST).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::BadRequest(format!("limit is 1 to {MAX_LIST}"))),
    }
}

fn who(ctx: &RequestContext) -> Who<'_> {
    Who {
        grants: ctx.grants.as_deref(),
        user: ctx.events.user_context.as_ref(),
    }
}

fn invalid(loc: Vec<Value>, kind: &str, msg: String, input: Value) -> Invalid {
    Invalid {
        issues: vec![ValidationIssue {
            kind: kind.to_owned(),
            loc,
            msg,
            input,
            ctx: None,
        }],
        partial: Default::default(),
    }
}

/// A body as `T`, or a 422 with the serde reason.
fn typed<T: serde::de::DeserializeOwned>(
    app: &App,
    ctx: &RequestContext,
    path: &str,
    body: Value,
) -> Result<T, ExecuteError> {
    serde_json::from_value::<T>(body.clone()).map_err(|error| {
        refuse_invalid(
            app,
            ctx,
            path,
            invalid(
                vec![Value::from("body")],
                "value_error",
                error.to_string(),
                body,
            ),
        )
    })
}

#[utoipa::path(
    post,
    path = "/workflow/start",
    tag = "workflows",
    request_body(content = StartRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "The run is stored and running", body = StartResponse),
        (status = 401, description = "Caller authentication is on and the token is missing or invalid", body = crate::error::DetailBody),
        (status = 403, description = "The policy does not allow the caller every command of the workflow", body = crate::error::DetailBody),
        (status = 404, description = "Unknown workflow", body = crate::error::DetailBody),
        (status = 415, description = "Not application/json", body = crate::error::DetailBody),
        (status = 422, description = "The body or its data does not fit (FastAPI detail; a crud.errors event)", body = crate::error::ValidationBody),
        (status = 503, description = "The database is not available", body = crate::error::DetailBody),
        (status = 408, description = "The body did not arrive in time", body = crate::error::DetailBody),
        (status = 413, description = "Body too large", body = crate::error::DetailBody),
    )
)]
pub async fn start(
    State(app): State<App>,
    ctx: RequestContext,
    JsonBody(body): JsonBody,
) -> Result<Response, ExecuteError> {
    const PATH: &str = "/workflow/start";
    let refuse = |error: ApiError| ctx.error(error);
    let request: StartRequest = typed(&app, &ctx, PATH, body)?;
    let engine = engine(&app).map_err(|e| refuse(e.into()))?;
    let workflow = engine
        .definition(&request.workflow_name)
        .cloned()
        .ok_or_else(|| {
            refuse(ApiError::NotFound(format!(
                "no workflow '{}': GET /workflows lists them",
                request.workflow_name
            )))
        })?;
    let data = if request.data.is_null() {
        json!({})
    } else {
        request.data
    };
    let problems = workflow.check_inputs(&data);
    if !problems.is_empty() {
        let issues = problems
            .into_iter()
            .map(|(path, msg)| {
                let mut loc = vec![Value::from("body"), Value::from("data")];
                let input = path
                    .iter()
                    .fold(&data, |v, p| v.get(p.as_str()).unwrap_or(&Value::Null))
                    .clone();
                // Positions in a list are numbers, as FastAPI writes them.
                loc.extend(path.into_iter().map(|p| match p.parse::<u64>() {
                    Ok(index) if !p.starts_with('0') || p == "0" => Value::from(index),
                    _ => Value::from(p),
                }));
                ValidationIssue {
                    kind: "schema".to_owned(),
                    loc,
                    msg,
                    input,
                    ctx: None,
                }
            })
            .collect();
        return Err(refuse_invalid(
            &app,
            &ctx,
            PATH,
            Invalid {
                issues,
                partial: Default::default(),
            },
        ));
    }
    access::may_start(&app, &workflow, who(&ctx)).map_err(|e| refuse(e.into()))?;
    let starter = Starter {
        subject: who(&ctx).subject().map(str::to_owned),
        user_context: ctx.events.user_context.clone(),
        grants: ctx.grants.as_deref().cloned(),
        traceparent: ctx.events.trace.as_ref().map(|t| t.to_header()),
    };
    let run = engine::start(&app, &workflow, data, starter)
        .await
        .map_err(|e| refuse(e.into()))?;
    let mut response = (
        StatusCode::ACCEPTED,
        Json(StartResponse {
            status_url: format!("/workflow/status/{}", run.id),
            id: run.id.clone(),
            workflow_name: run.workflow_name,
            status: run.status,
            state_version: run.state_version,
        }),
    )
        .into_response();
    set_correlation_header(&mut response, &run.id);
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/workflow/status/{id}",
    tag = "workflows",
    params(("id" = String, Path, description = "The run id")),
    responses(
        (status = 200, description = "The run: status, nodes (results masked), required_action while waiting, timeline", body = RunView),
        (status = 404, description = "No such run (or not one the caller may see)", body = crate::error::DetailBody),
        (status = 401, description = "Caller authentication is on and the token is missing or invalid", body = crate::error::DetailBody),
        (status = 503, description = "The database is not available", body = crate::error::DetailBody),
        (status = 400, description = "The id in the path cannot be read", body = crate::error::DetailBody),
    )
)]
pub async fn status(
    State(app): State<App>,
    ctx: RequestContext,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<RunView>, ApiError> {
    let Path(id) = id.map_err(bad_path)?;
    let engine = engine(&app)?;
    let (run, workflow) = engine::load_run(engine, &id).await?;
    if !access::may_read(&app, &workflow, &run, who(&ctx)).await {
        return Err(ApiError::NotFound(format!("no run '{id}'")));
    }
    Ok(Json(api::run_view(&app, &workflow, &run)))
}

#[utoipa::path(
    get,
    path = "/workflow/runs",
    tag = "workflows",
    params(RunFilter),
    responses(
        (status = 200, description = "Runs, newest first (what the caller may see)", body = RunList),
        (status = 400, description = "An unknown status", body = crate::error::DetailBody),
        (status = 401, description = "Caller authentication is on and the token is missing or invalid", body = crate::error::DetailBody),
        (status = 503, description = "The database is not available", body = crate::error::DetailBody),
        (status = 404, description = "No workflows are configured (--workflows)", body = crate::error::DetailBody),
    )
)]
pub async fn runs(
    State(app): State<App>,
    ctx: RequestContext,
    filter: Result<Query<RunFilter>, QueryRejection>,
) -> Result<Json<RunList>, ApiError> {
    let Query(filter) = filter.map_err(bad_query)?;
    let engine = engine(&app)?;
    let status = match filter.status.as_deref() {
        None => None,
        Some(text) => Some(RunStatus::parse(text).ok_or_else(|| {
            ApiError::BadRequest(
                "status is RUNNING, WAITING, COMPLETED, FAILED or CANCELLED".to_owned(),
            )
        })?),
    };
    let limit = list_limit(filter.limit)?;
    let runs = engine
        .store
        .list(status, filter.workflow.as_deref(), limit)
        .await?;
    let mut out = Vec::new();
    for run in runs {
        let Some(workflow) = engine.definition(&run.workflow_name) else {
            continue;
        };
        if !access::may_read(&app, workflow, &run, who(&ctx)).await {
            continue;
        }
        out.push(api::run_summary(&run));
    }
    Ok(Json(RunList { runs: out }))
}

#[utoipa::path(
    get,
    path = "/workflows",
    tag = "workflows",
    responses(
        (status = 200, description = "The configured workflows: name, description, input schema, nodes", body = WorkflowList),
        (status = 401, description = "Caller authentication is on and the token is missing or invalid", body = crate::error::DetailBody),
        (status = 503, description = "The database is not available", body = crate::error::DetailBody),
    )
)]
pub async fn workflows(State(app): State<App>) -> Json<WorkflowList> {
    Json(api::workflow_list(
        app.workflows.iter().flat_map(|w| w.definitions()),
    ))
}

/// The version a resume was decided on: `If-Match` (`"7"`, `7`, `W/"7"`), else the body's.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| match v {
            // No precondition: the body's state_version decides.
            "*" | "null" | "" => Some(None),
            v => v.parse().ok().map(Some),
        })
        .ok_or_else(|| {
            ApiError::BadRequest("If-Match is the run's state_version, e.g. \"7\"".to_owned())
        })
}

#[utoipa::path(
    post,
    path = "/workflow/resume/{task_id}",
    tag = "workflows",
    params(
        ("task_id" = String, Path, description = "The task (required_action.task_id)"),
        ("If-Match" = Option<i64>, Header, description = "The run's state_version the decision was made on (also accepted quoted, as an ETag)"),
    ),
    request_body(content = ResumeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The decision is recorded: the task and the run", body = ResumeAnswer),
        (status = 400, description = "A bad If-Match, idempotency key or decision data", body = crate::error::DetailBody),
        (status = 403, description = "The caller is not an approver of the task (or is its initiator)", body = crate::error::DetailBody),
        (status = 404, description = "No such task", body = crate::error::DetailBody),
        (status = 409, description = "A stale state_version (the body carries the run as it is), If-Match and state_version disagree, or the task is closed", body = ResumeConflict),
        (status = 422, description = "The body does not fit", body = crate::error::ValidationBody),
        (status = 401, description = "Caller authentication is on and the token is missing or invalid", body = crate::error::DetailBody),
        (status = 503, description = "The database is not available", body = crate::error::DetailBody),
        (status = 408, description = "The body did not arrive in time", body = crate::error::DetailBody),
        (status = 413, description = "Body too large", body = crate::error::DetailBody),
        (status = 415, description = "Not application/json", body = crate::error::DetailBody),
    )
)]
pub async fn resume(
    State(app): State<App>,
    ctx: RequestContext,
    task_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ExecuteError> {
    let Path(task_id) = task_id.map_err(|r| ctx.error(bad_path(r)))?;
    let refuse = |error: ApiError| ctx.error(error);
    let request: ResumeRequest = typed(&app, &ctx, "/workflow/resume/{task_id}", body)?;
    if request
        .data
        .as_ref()
        .is_some_and(|d| serde_json::to_vec(d).map_or(0, |b| b.len()) > MAX_DECISION_DATA)
    {
        return Err(refuse(ApiError::BadRequest(format!(
            "data is kept with the decision: at most {MAX_DECISION_DATA} bytes of JSON"
        ))));
    }
    let key = request.idempotency_key.trim();
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refuse(ApiError::BadRequest(
            "idempotency_key is 1 to 128 visible ASCII characters".to_owned(),
        )));
    }
    let version = match if_match(&headers).map_err(refuse)? {
        Some(v) if v != request.state_version => {
            return Err(refuse(ApiError::Conflict(format!(
                "If-Match ({v}) and state_version ({}) disagree: send the version you decided on in both",
                request.state_version
            ))));
        }
        _ => request.state_version,
    };
    let who = who(&ctx);
    let by_id = who.user.and_then(|u| u.unique_id.clone());
    if app.caller_auth.is_some() && by_id.is_none() {
        return Err(refuse(ApiError::Forbidden(
            "your token has no `sub`: a decision must name who made it".to_owned(),
        )));
    }
    let command = ResumeCommand {
        task_id,
        idempotency_key: key.to_owned(),
        version,
        record: DecisionRecord {
            decision: request.decision,
            by: who.subject().map(str::to_owned),
            by_id,
            at: Utc::now(),
            data: request.data,
        },
    };
    let answer = decide::resume(&app, command, async |workflow, run, node| {
        access::may_decide(&app, workflow, run, node, who).await
    })
    .await
    .map_err(|e| refuse(e.into()))?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    // The stored answer (a retry's too) in the API's type.
    let body: ResumeAnswer = serde_json::from_value(answer.body).map_err(|e| {
        refuse(ApiError::Internal(format!(
            "a stored answer does not read: {e}"
        )))
    })?;
    Ok((status, Json(body)).into_response())
}

#[utoipa::path(
    post,
    path = "/workflow/{id}/cancel",
    tag = "workflows",
    params(("id" = String, Path, description = "The run id")),
    request_body(content = Object, content_type = "application/json", description = "`{}` (the JSON content type is the cross-site request guard)"),
    responses(
        (status = 200, description = "The run, CANCELLED", body = RunView),
        (status = 403, description = "Only its starter and who may start the workflow may cancel a run", body = crate::error::DetailBody),
        (status = 404, description = "No such run", body = crate::error::DetailBody),
        (status = 409, description = "The run has ended", body = crate::error::DetailBody),
        (status = 401, description = "Caller authentication is on and the token is missing or invalid", body = crate::error::DetailBody),
        (status = 503, description = "The database is not available", body = crate::error::DetailBody),
        (status = 400, description = "The id in the path cannot be read", body = crate::error::DetailBody),
        (status = 415, description = "Not application/json", body = crate::error::DetailBody),
    )
)]
pub async fn cancel(
    State(app): State<App>,
    ctx: RequestContext,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<RunView>, ApiError> {
    let Path(id) = id.map_err(bad_path)?;
    let engine = engine(&app)?;
    let (run, workflow) = engine::load_run(engine, &id).await?;
    if !access::may_read(&app, &workflow, &run, who(&ctx)).await {
        return Err(ApiError::NotFound(format!("no run '{id}'")));
    }
    access::may_cancel(&app, &workflow, &run, who(&ctx))?;
    Ok(Json(decide::cancel(&app, &id, who(&ctx).subject()).await?))
}

#[utoipa::path(
    get,
    path = "/tasks",
    tag = "workflows",
    params(TaskFilter),
    responses(
        (status = 200, description = "Approval tasks, newest first", body = TaskList),
        (status = 400, description = "An unknown status, or an assignee other than `me`", body = crate::error::DetailBody),
        (status = 401, description = "Caller authentication is on and the token is missing or invalid", body = crate::error::DetailBody),
        (status = 503, description = "The database is not available", body = crate::error::DetailBody),
        (status = 404, description = "No workflows are configured (--workflows)", body = crate::error::DetailBody),
    )
)]
pub async fn tasks(
    State(app): State<App>,
    ctx: RequestContext,
    filter: Result<Query<TaskFilter>, QueryRejection>,
) -> Result<Json<TaskList>, ApiError> {
    let Query(filter) = filter.map_err(bad_query)?;
    let engine = engine(&app)?;
    let limit = list_limit(filter.limit)?;
    let status = match filter.status.as_deref() {
        None => None,
        Some(text) => Some(TaskStatus::parse(text).ok_or_else(|| {
            ApiError::BadRequest(
                "status is PENDING, APPROVED, REJECTED, EXPIRED or CANCELLED".to_owned(),
            )
        })?),
    };
    let mine = match filter.assignee.as_deref() {
        None => false,
        Some("me") => true,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "assignee is `me` (the tasks you may decide)".to_owned(),
            ));
        }
    };
    let rows = engine
        .store
        .tasks(
            status.map(TaskStatus::as_str),
            filter.workflow.as_deref(),
            limit,
        )
        .await?;
    let mut out = Vec::new();
    for task in rows {
        if let Some(view) = task_for(&app, engine, &ctx, &task, mine).await? {
            out.push(view);
        }
    }
    Ok(Json(TaskList { tasks: out }))
}

/// A task as the caller may see it, with the run's version and how to resume it; `None`
/// when the caller may not see it (or, for `mine`, may not decide it).
async fn task_for(
    app: &App,
    engine: &civitas_workflow::Workflows,
    ctx: &RequestContext,
    task: &Value,
    mine: bool,
) -> Result<Option<TaskItem>, ApiError> {
    let run_id = task["run_id"].as_str().unwrap_or_default();
    let node = task["node"].as_str().unwrap_or_default();
    let Some(run) = engine.store.load(run_id).await? else {
        return Ok(None);
    };
    let Some(workflow) = engine.definition(&run.workflow_name) else {
        return Ok(None);
    };
    if !access::may_read(app, workflow, &run, who(ctx)).await {
        return Ok(None);
    }
    let may_decide = access::may_decide(app, workflow, &run, node, who(ctx))
        .await
        .is_ok();
    if mine && !may_decide {
        return Ok(None);
    }
    Ok(
        api::task_view(app, workflow, &run, node)
            .map(|view| api::task_item(view, &run, may_decide)),
    )
}

#[utoipa::path(
    get,
    path = "/tasks/{id}",
    tag = "workflows",
    params(("id" = String, Path, description = "The task id")),
    responses(
        (status = 200, description = "The task, the run's state_version and how to resume it", body = TaskItem),
        (status = 404, description = "No such task", body = crate::error::DetailBody),
        (status = 401, description = "Caller authentication is on and the token is missing or invalid", body = crate::error::DetailBody),
        (status = 503, description = "The database is not available", body = crate::error::DetailBody),
        (status = 400, description = "The id in the path cannot be read", body = crate::error::DetailBody),
    )
)]
pub async fn task(
    State(app): State<App>,
    ctx: RequestContext,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<TaskItem>, ApiError> {
    let Path(id) = id.map_err(bad_path)?;
    let engine = engine(&app)?;
    let not_found = || ApiError::NotFound(format!("no task '{id}'"));
    let (_, task) = engine.store.task(&id).await?.ok_or_else(not_found)?;
    task_for(&app, engine, &ctx, &task, false)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}
