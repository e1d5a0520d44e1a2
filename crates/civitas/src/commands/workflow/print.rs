//! What `civitas workflow` prints: runs, tasks and a run's nodes and timeline, one line each.
//! Every text from the service passes [`printable`]: a title or an error is partly the input
//! of whoever started the run, and escape sequences must not reach an operator's terminal.

use chrono::{DateTime, SecondsFormat, Utc};
use civitas_workflow::api::{RunSummary, RunView, TaskItem};
use serde::Serialize;

pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// An optional text, `-` when absent.
pub fn opt(text: Option<&str>) -> String {
    text.map_or_else(|| "-".to_owned(), printable)
}

/// An enum as the API writes it (`COMPLETED`, `approval`).
pub fn name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => printable(&s),
        Ok(other) => printable(&other.to_string()),
        Err(_) => "-".to_owned(),
    }
}

/// A time as the API writes it.
pub fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A time to the second (`2026-12-03T01:32:43Z`).
pub fn seconds(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn runs(runs: &[RunSummary]) {
    println!(
        "{:<36}  {:<20}  {:<9}  {:>3}  {:<20}  {:<20}  WAITING ON",
        "RUN", "WORKFLOW", "STATUS", "V", "STARTED BY", "STARTED"
    );
    for run in runs {
        let waiting: Vec<String> = run.waiting_on.iter().map(|w| printable(w)).collect();
        println!(
            "{:<36}  {:<20}  {:<9}  {:>3}  {:<20}  {:<20}  {}",
            printable(&run.id),
            printable(&run.workflow_name),
            run.status.as_str(),
            run.state_version,
            opt(run.started_by.as_deref()),
            seconds(&run.created_at),
            waiting.join(", ")
        );
    }
}

pub fn tasks(tasks: &[TaskItem]) {
    println!(
        "{:<36}  {:<9}  {:<20}  {:<16}  {:<8}  {:<36}  TITLE",
        "TASK", "STATUS", "WORKFLOW", "NODE", "APPROVED", "RUN"
    );
    if tasks.iter().any(|t| t.task.open_to_anyone) {
        println!("(no caller authentication: anyone may decide these tasks)");
    }
    for item in tasks {
        let task = &item.task;
        println!(
            "{:<36}  {:<9}  {:<20}  {:<16}  {:>3} of {:<1}  {:<36}  {}",
            printable(&task.task_id),
            task.status.as_str(),
            printable(&task.workflow_name),
            printable(&task.node),
            task.approvals,
            task.required,
            printable(&task.run_id),
            opt(task.title.as_deref()),
        );
    }
}

pub fn run(run: &RunView) {
    let summary = &run.summary;
    println!("run       {}", printable(&summary.id));
    println!("workflow  {}", printable(&summary.workflow_name));
    println!(
        "status    {} (state version {})",
        summary.status.as_str(),
        summary.state_version
    );
    println!(
        "started   {} by {}",
        time(&summary.created_at),
        opt(summary.started_by.as_deref())
    );
    if let Some(error) = &summary.error {
        println!(
            "error     {} (node {})",
            printable(error),
            opt(run.failed_node.as_deref())
        );
    }
    println!("\nNODES");
    for node in &run.nodes {
        println!(
            "  {:<20} {:<9} {:<10} {:<32} {}",
            printable(&node.id),
            printable(&node.kind),
            name(&node.status),
            node.started_at
                .as_ref()
                .map_or_else(|| "-".to_owned(), time),
            node.error.as_deref().map(printable).unwrap_or_default()
        );
    }
    println!("\nTIMELINE");
    for entry in &run.timeline {
        println!(
            "  {}  {:<20} {}",
            time(&entry.at),
            printable(entry.node.as_deref().unwrap_or("")),
            printable(&entry.what)
        );
    }
    for action in &run.required_actions {
        let task = &action.task;
        println!(
            "\nWAITING for {} approval(s) on task {} ({}): `civitas workflow approve {}` or `reject`{}",
            task.required,
            printable(&task.task_id),
            printable(&task.node),
            printable(&task.task_id),
            if task.open_to_anyone {
                " (no caller authentication: anyone may decide)"
            } else {
                ""
            }
        );
    }
}
