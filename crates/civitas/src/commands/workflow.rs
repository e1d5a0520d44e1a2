//! `civitas workflow list|show|start|approve|reject|cancel|tasks`: the workflow API of a
//! running CRUD service, from the command line (docs/workflows.md).

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: WorkflowCommand,
}

/// Where the CRUD service is, and who calls it.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// The CRUD service's address.
    #[arg(
        long,
        env = "CIVITAS_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// A bearer token, as a credential pointer (env:NAME, file:PATH, …), when the service
    /// authenticates callers (--auth-issuer).
    #[arg(long, env = "CIVITAS_TOKEN", value_name = "POINTER", global = true, value_parser = super::secret_args::PointerParser)]
    pub token: Option<civitas_http::CredentialRef>,
}

#[derive(Debug, clap::Subcommand)]
pub enum WorkflowCommand {
    /// Runs, newest first: id, workflow, status, version, started by, what it waits on.
    List {
        /// RUNNING, WAITING, COMPLETED, FAILED or CANCELLED.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        workflow: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// One run: its nodes and timeline (and what it waits for).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Starts a run; prints its id.
    Start {
        name: String,
        /// The inputs (JSON object).
        #[arg(long, default_value = "{}")]
        data: String,
    },
    /// Approves a task (at the run's current state version).
    Approve(DecideArgs),
    /// Rejects a task.
    Reject(DecideArgs),
    /// Cancels a run.
    Cancel { id: String },
    /// Approval tasks.
    Tasks {
        /// Only those you may decide.
        #[arg(long)]
        mine: bool,
        /// PENDING (default), APPROVED, REJECTED, EXPIRED, CANCELLED or `all`.
        #[arg(long, default_value = "PENDING")]
        status: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    pub task_id: String,
    /// A comment, kept with the decision.
    #[arg(long)]
    pub comment: Option<String>,
    /// The idempotency key (default: a new one); give the same one to retry safely.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

struct Api {
    client: reqwest::Client,
    url: reqwest::Url,
    token: Option<String>,
}

impl Api {
    fn new(args: &ApiArgs) -> anyhow::Result<Self> {
        let token = match &args.token {
            Some(pointer) => {
                super::shared::resolve_now(&[("--token".to_owned(), pointer.clone())])?.pop()
            }
            None => None,
        };
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            url: reqwest::Url::parse(&args.url)
                .ok()
                .filter(|u| !u.cannot_be_a_base())
                .with_context(|| format!("--url {} is not an http(s) URL", args.url))?,
            token,
        })
    }

    /// The service's URL for a path of `segments` (each percent-encoded as one segment) and
    /// a query.
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> reqwest::Url {
        let mut url = self.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: Option<Value>,
        if_match: Option<i64>,
    ) -> anyhow::Result<(u16, Value)> {
        let shown = url.to_string();
        let mut request = self.client.request(method, url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(version) = if_match {
            request = request.header("If-Match", version.to_string());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("calling {shown}"))?;
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn ok(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: Option<Value>,
        if_match: Option<i64>,
    ) -> anyhow::Result<Value> {
        let path = url.path().to_owned();
        let (status, body) = self.call(method, url, body, if_match).await?;
        if !(200..300).contains(&status) {
            bail!("{path}: HTTP {status}: {}", detail(&body));
        }
        Ok(body)
    }
}

fn detail(body: &Value) -> String {
    match &body["detail"] {
        Value::String(s) => s.clone(),
        Value::Null => body.to_string(),
        other => other.to_string(),
    }
}

/// An RFC 3339 time to the second (`2026-12-03T01:32:43Z`).
fn seconds(value: &Value) -> String {
    match value.as_str().and_then(|t| t.get(..19)) {
        Some(t) => format!("{}Z", printable(t)),
        None => text(value),
    }
}

/// A value for the terminal: strings without control characters (a title or an error is
/// partly the input of whoever started the run, and escape sequences must not reach an
/// operator's terminal).
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => printable(s),
        Value::Null => "-".to_owned(),
        other => printable(&other.to_string()),
    }
}

fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.api)?;
    use reqwest::Method;
    match args.command {
        WorkflowCommand::List {
            status,
            workflow,
            limit,
            json,
        } => {
            let limit = limit.to_string();
            let mut query = vec![("limit", limit.as_str())];
            query.extend(status.as_deref().map(|s| ("status", s)));
            query.extend(workflow.as_deref().map(|w| ("workflow", w)));
            let url = api.url(&["workflow", "runs"], &query);
            let body = api.ok(Method::GET, url, None, None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<36}  {:<20}  {:<9}  {:>3}  {:<20}  {:<20}  WAITING ON",
                "RUN", "WORKFLOW", "STATUS", "V", "STARTED BY", "STARTED"
            );
            for run in body["runs"].as_array().into_iter().flatten() {
                let waiting: Vec<String> = run["waiting_on"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect();
                println!(
                    "{:<36}  {:<20}  {:<9}  {:>3}  {:<20}  {:<20}  {}",
                    text(&run["id"]),
                    text(&run["workflow_name"]),
                    text(&run["status"]),
                    text(&run["state_version"]),
                    text(&run["started_by"]),
                    seconds(&run["created_at"]),
                    waiting.join(", ")
                );
            }
        }
        WorkflowCommand::Show { id, json } => {
            let run = api
                .ok(
                    Method::GET,
                    api.url(&["workflow", "status", &id], &[]),
                    None,
                    None,
                )
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&run)?);
                return Ok(ExitCode::SUCCESS);
            }
            print_run(&run);
        }
        WorkflowCommand::Start { name, data } => {
            let data: Value = serde_json::from_str(&data).context("--data is not JSON")?;
            let (status, body) = api
                .call(
                    Method::POST,
                    api.url(&["workflow", "start"], &[]),
                    Some(json!({"workflow_name": name, "data": data})),
                    None,
                )
                .await?;
            if status != 202 {
                bail!(
                    "HTTP {status}: {}",
                    serde_json::to_string_pretty(&body["detail"])?
                );
            }
            println!("{}", text(&body["id"]));
            eprintln!(
                "started: status {} at state version {}; `civitas workflow show {}`",
                text(&body["status"]),
                text(&body["state_version"]),
                text(&body["id"])
            );
        }
        WorkflowCommand::Approve(decide) => return decide_task(&api, decide, "approve").await,
        WorkflowCommand::Reject(decide) => return decide_task(&api, decide, "reject").await,
        WorkflowCommand::Cancel { id } => {
            let run = api
                .ok(
                    Method::POST,
                    api.url(&["workflow", &id, "cancel"], &[]),
                    Some(json!({})),
                    None,
                )
                .await?;
            println!("{}: {}", text(&run["id"]), text(&run["status"]));
        }
        WorkflowCommand::Tasks { mine, status, json } => {
            let mut query = vec![("limit", "500")];
            if !status.eq_ignore_ascii_case("all") {
                query.push(("status", status.as_str()));
            }
            if mine {
                query.push(("assignee", "me"));
            }
            let body = api
                .ok(Method::GET, api.url(&["tasks"], &query), None, None)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<36}  {:<9}  {:<20}  {:<16}  {:<8}  {:<36}  TITLE",
                "TASK", "STATUS", "WORKFLOW", "NODE", "APPROVED", "RUN"
            );
            let tasks = body["tasks"].as_array().cloned().unwrap_or_default();
            if tasks.iter().any(|t| t["open_to_anyone"] == true) {
                println!("(no caller authentication: anyone may decide these tasks)");
            }
            for task in &tasks {
                println!(
                    "{:<36}  {:<9}  {:<20}  {:<16}  {:>3} of {:<1}  {:<36}  {}",
                    text(&task["task_id"]),
                    text(&task["status"]),
                    text(&task["workflow_name"]),
                    text(&task["node"]),
                    text(&task["approvals"]),
                    text(&task["required"]),
                    text(&task["run_id"]),
                    text(&task["title"]),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn decide_task(api: &Api, args: DecideArgs, decision: &str) -> anyhow::Result<ExitCode> {
    use reqwest::Method;
    let task = api
        .ok(
            Method::GET,
            api.url(&["tasks", &args.task_id], &[]),
            None,
            None,
        )
        .await?;
    let version = task["state_version"]
        .as_i64()
        .context("the task has no state_version")?;
    let key = args
        .idempotency_key
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let body = json!({
        "decision": decision,
        "state_version": version,
        "idempotency_key": key,
        "data": args.comment.map(|c| json!({"comment": c})),
    });
    let (status, answer) = api
        .call(
            Method::POST,
            api.url(&["workflow", "resume", &args.task_id], &[]),
            Some(body),
            Some(version),
        )
        .await?;
    if status != 200 {
        bail!(
            "HTTP {status}: {} (retry with --idempotency-key {key})",
            detail(&answer)
        );
    }
    let task = &answer["task"];
    // The run goes on in the background: wait a moment for where it settles.
    let run_id = text(&answer["run"]["id"]);
    let mut status = text(&answer["run"]["status"]);
    for _ in 0..30 {
        if status != "RUNNING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if let Ok(run) = api
            .ok(
                Method::GET,
                api.url(&["workflow", "status", &run_id], &[]),
                None,
                None,
            )
            .await
        {
            status = text(&run["status"]);
        }
    }
    println!(
        "{}: {} ({} of {} approvals); run {} is {}",
        text(&task["task_id"]),
        text(&task["status"]),
        text(&task["approvals"]),
        text(&task["required"]),
        run_id,
        status,
    );
    Ok(ExitCode::SUCCESS)
}

fn print_run(run: &Value) {
    println!("run       {}", text(&run["id"]));
    println!("workflow  {}", text(&run["workflow_name"]));
    println!(
        "status    {} (state version {})",
        text(&run["status"]),
        text(&run["state_version"])
    );
    println!(
        "started   {} by {}",
        text(&run["created_at"]),
        text(&run["started_by"])
    );
    if !run["error"].is_null() {
        println!(
            "error     {} (node {})",
            text(&run["error"]),
            text(&run["failed_node"])
        );
    }
    println!("\nNODES");
    for node in run["nodes"].as_array().into_iter().flatten() {
        println!(
            "  {:<20} {:<9} {:<10} {:<32} {}",
            text(&node["id"]),
            text(&node["type"]),
            text(&node["status"]),
            text(&node["started_at"]),
            if node["error"].is_null() {
                String::new()
            } else {
                text(&node["error"])
            }
        );
    }
    println!("\nTIMELINE");
    for entry in run["timeline"].as_array().into_iter().flatten() {
        println!(
            "  {}  {:<20} {}",
            text(&entry["at"]),
            printable(entry["node"].as_str().unwrap_or("")),
            text(&entry["what"])
        );
    }
    for action in run["required_actions"].as_array().into_iter().flatten() {
        println!(
            "\nWAITING for {} approval(s) on task {} ({}): `civitas workflow approve {}` or `reject`{}",
            text(&action["required"]),
            text(&action["task_id"]),
            text(&action["node"]),
            text(&action["task_id"]),
            if action["open_to_anyone"] == true {
                " (no caller authentication: anyone may decide)"
            } else {
                ""
            }
        );
    }
}
