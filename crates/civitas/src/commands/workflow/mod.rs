//! `civitas workflow list|show|start|approve|reject|cancel|tasks`: the workflow API of a
//! running CRUD service, from the command line (docs/workflows.md). It reads the API's own
//! types (`civitas_workflow::api`): [`client`] talks to the service, [`print`](mod@print) shows what
//! it answers.

use std::process::ExitCode;

use anyhow::{Context, bail};
use civitas_workflow::api::{
    ResumeAnswer, ResumeRequest, RunList, RunView, StartRequest, StartResponse, TaskItem, TaskList,
};
use civitas_workflow::run::Decision;
use reqwest::Method;
use serde_json::{Value, json};

mod client;
mod print;

use client::{Api, NO_BODY, detail, typed};

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

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.api)?;
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
            let list: RunList = api.ok(Method::GET, url, NO_BODY).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print::runs(&list.runs);
            }
        }
        WorkflowCommand::Show { id, json } => {
            let url = api.url(&["workflow", "status", &id], &[]);
            let run: RunView = api.ok(Method::GET, url, NO_BODY).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&run)?);
            } else {
                print::run(&run);
            }
        }
        WorkflowCommand::Start { name, data } => {
            let data: Value = serde_json::from_str(&data).context("--data is not JSON")?;
            let request = StartRequest {
                workflow_name: name,
                data,
            };
            let url = api.url(&["workflow", "start"], &[]);
            let (status, body) = api.call(Method::POST, url, Some(&request), None).await?;
            if status != 202 {
                bail!(
                    "HTTP {status}: {}",
                    serde_json::to_string_pretty(&body["detail"])?
                );
            }
            let started: StartResponse = typed("/workflow/start", body)?;
            println!("{}", print::printable(&started.id));
            eprintln!(
                "started: status {} at state version {}; `civitas workflow show {}`",
                started.status.as_str(),
                started.state_version,
                print::printable(&started.id)
            );
        }
        WorkflowCommand::Approve(decide) => {
            return decide_task(&api, decide, Decision::Approve).await;
        }
        WorkflowCommand::Reject(decide) => {
            return decide_task(&api, decide, Decision::Reject).await;
        }
        WorkflowCommand::Cancel { id } => {
            let url = api.url(&["workflow", &id, "cancel"], &[]);
            let run: RunView = api.ok(Method::POST, url, Some(&json!({}))).await?;
            println!(
                "{}: {}",
                print::printable(&run.summary.id),
                run.summary.status.as_str()
            );
        }
        WorkflowCommand::Tasks { mine, status, json } => {
            let mut query = vec![("limit", "500")];
            if !status.eq_ignore_ascii_case("all") {
                query.push(("status", status.as_str()));
            }
            if mine {
                query.push(("assignee", "me"));
            }
            let list: TaskList = api
                .ok(Method::GET, api.url(&["tasks"], &query), NO_BODY)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print::tasks(&list.tasks);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn decide_task(api: &Api, args: DecideArgs, decision: Decision) -> anyhow::Result<ExitCode> {
    let url = api.url(&["tasks", &args.task_id], &[]);
    let task: TaskItem = api.ok(Method::GET, url, NO_BODY).await?;
    let version = task.state_version;
    let key = args
        .idempotency_key
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let request = ResumeRequest {
        decision,
        state_version: version,
        idempotency_key: key.clone(),
        data: args.comment.map(|c| json!({"comment": c})),
    };
    let url = api.url(&["workflow", "resume", &args.task_id], &[]);
    let (status, answer) = api
        .call(Method::POST, url, Some(&request), Some(version))
        .await?;
    if status != 200 {
        bail!(
            "HTTP {status}: {} (retry with --idempotency-key {key})",
            detail(&answer)
        );
    }
    let (task, run) = match typed::<ResumeAnswer>("/workflow/resume", answer)? {
        ResumeAnswer::Decided { task, run } => (task, run),
        ResumeAnswer::Refused { detail, .. } => bail!("{detail}"),
    };
    // The run goes on in the background: wait a moment for where it settles.
    let run_id = run.summary.id.clone();
    let mut status = run.summary.status;
    for _ in 0..30 {
        if status != civitas_workflow::RunStatus::Running {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let url = api.url(&["workflow", "status", &run_id], &[]);
        if let Ok(run) = api.ok::<RunView>(Method::GET, url, NO_BODY).await {
            status = run.summary.status;
        }
    }
    let task = task.context("the answer names no task")?;
    println!(
        "{}: {} ({} of {} approvals); run {} is {}",
        print::printable(&task.task_id),
        task.status.as_str(),
        task.approvals,
        task.required,
        print::printable(&run_id),
        status.as_str(),
    );
    Ok(ExitCode::SUCCESS)
}
