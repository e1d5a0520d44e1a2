//! Where runs live: the `workflow_runs`, `workflow_tasks` and `workflow_resumes` tables
//! (`migrations/0005_workflows.sql`), SQLite or PostgreSQL through `civitas-store`.
//!
//! Every write of a run is optimistic — `WHERE state_version = <the version read>` — and
//! writes the run's approval tasks (and, for a decision, the answer to its idempotency key) in
//! the same transaction. An instance advances a run only while it holds the run's lease.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use tokio::sync::Mutex;

use super::run::{Run, RunStatus};

/// A database failure, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("workflow store: could not {what}")]
pub struct StoreError {
    pub what: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

fn failed<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(E) -> StoreError {
    move |source| StoreError {
        what,
        source: Box::new(source),
    }
}

/// A task row as written (its JSON is built by the engine).
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub task_id: String,
    pub node_id: String,
    pub status: String,
    pub task: Value,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stored answer to a resume.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// Who sent which decision under the key (see [`Answer::fingerprint`]).
    pub fingerprint: String,
}

impl Answer {
    /// What makes a decision the same decision: its decider, its decision and its data.
    pub fn fingerprint(by: Option<&str>, decision: &str, data: Option<&Value>) -> String {
        let data = data.map(Value::to_string).unwrap_or_default();
        format!("{}\n{decision}\n{data}", by.unwrap_or(""))
    }
}

/// The lease a write leaves on the run.
#[derive(Debug, Clone, Copy)]
pub enum Lease<'a> {
    /// Held by `owner` until the time.
    Held(&'a str, DateTime<Utc>),
    /// Nobody advances the run until a timer or a person wakes it.
    Released,
    /// Unchanged.
    Keep,
}

/// The workflow tables.
#[derive(Debug, Clone)]
pub struct WorkflowStore {
    pool: AnyPool,
    /// SQLite has one writer: this process's writers take turns here.
    write_turn: Option<Arc<Mutex<()>>>,
}

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn decode(row: &AnyRow) -> Result<Run, StoreError> {
    let state: String = row.try_get("state").map_err(failed("read a run"))?;
    serde_json::from_str(&state).map_err(failed("decode a run"))
}

impl WorkflowStore {
    pub fn new(pool: AnyPool) -> Self {
        Self {
            write_turn: civitas_store::is_sqlite(&pool).then(|| Arc::new(Mutex::new(()))),
            pool,
        }
    }

    pub async fn load(&self, run_id: &str) -> Result<Option<Run>, StoreError> {
        let row = sqlx::query("SELECT state FROM workflow_runs WHERE run_id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(failed("load a run"))?;
        row.as_ref().map(decode).transpose()
    }

    /// The newest runs, optionally of one status and workflow.
    pub async fn list(
        &self,
        status: Option<RunStatus>,
        workflow: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Run>, StoreError> {
        let rows = sqlx::query(
            "SELECT state FROM workflow_runs \
             WHERE ($1 = '' OR status = $1) AND ($2 = '' OR workflow_name = $2) \
             ORDER BY created_at DESC, run_id DESC LIMIT $3",
        )
        .bind(status.map_or("", RunStatus::as_str))
        .bind(workflow.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list runs"))?;
        rows.iter().map(decode).collect()
    }

    /// Writes a new run (leased as `lease` says) with its tasks.
    pub async fn insert(
        &self,
        run: &Run,
        lease: Lease<'_>,
        tasks: &[TaskRow],
    ) -> Result<(), StoreError> {
        let state = serde_json::to_string(run).map_err(failed("encode a run"))?;
        let (owner, until) = match lease {
            Lease::Held(owner, until) => (Some(owner), Some(millis(until))),
            Lease::Released | Lease::Keep => (None, None),
        };
        let insert = sqlx::query(
            "INSERT INTO workflow_runs (run_id, workflow_name, status, state, state_version, \
             started_by, next_deadline, lease_owner, lease_until, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&run.id)
        .bind(&run.workflow_name)
        .bind(run.status.as_str())
        .bind(state)
        .bind(run.state_version)
        .bind(run.started_by.as_deref())
        .bind(run.next_deadline().map(millis))
        .bind(owner)
        .bind(until)
        .bind(millis(run.created_at))
        .bind(millis(run.updated_at));
        let _turn = self.turn().await;
        if tasks.is_empty() {
            insert
                .execute(&self.pool)
                .await
                .map_err(failed("insert a run"))?;
            return Ok(());
        }
        let mut tx = civitas_store::begin_write(&self.pool)
            .await
            .map_err(failed("begin a transaction"))?;
        insert
            .execute(&mut *tx)
            .await
            .map_err(failed("insert a run"))?;
        write_tasks(&mut tx, run, tasks).await?;
        tx.commit().await.map_err(failed("commit"))?;
        Ok(())
    }

    /// Writes `run` over `previous_version`, with its tasks and, for a decision, the answer to
    /// `(task, idempotency key)`; `false` when the run changed since it was read, or (with
    /// `holder`) when that instance no longer holds its lease: nothing is written then.
    pub async fn save(
        &self,
        run: &Run,
        previous_version: i64,
        lease: Lease<'_>,
        tasks: &[TaskRow],
        answer: Option<(&str, &str, &Answer)>,
        holder: Option<&str>,
    ) -> Result<bool, StoreError> {
        let state = serde_json::to_string(run).map_err(failed("encode a run"))?;
        let (set_lease, owner, until) = match lease {
            Lease::Held(owner, until) => (1_i64, Some(owner), Some(millis(until))),
            Lease::Released => (1, None, None),
            Lease::Keep => (0, None, None),
        };
        let update = sqlx::query(
            "UPDATE workflow_runs SET status = $1, state = $2, state_version = $3, \
             next_deadline = $4, updated_at = $5, \
             lease_owner = CASE WHEN $6 = 1 THEN $7 ELSE lease_owner END, \
             lease_until = CASE WHEN $6 = 1 THEN $8 ELSE lease_until END \
             WHERE run_id = $9 AND state_version = $10 AND ($11 = '' OR lease_owner = $11)",
        )
        .bind(run.status.as_str())
        .bind(state)
        .bind(run.state_version)
        .bind(run.next_deadline().map(millis))
        .bind(millis(run.updated_at))
        .bind(set_lease)
        .bind(owner)
        .bind(until)
        .bind(&run.id)
        .bind(previous_version)
        .bind(holder.unwrap_or(""));
        let _turn = self.turn().await;
        if tasks.is_empty() && answer.is_none() {
            // One statement is atomic on its own: no transaction round trips (most steps).
            let written = update
                .execute(&self.pool)
                .await
                .map_err(failed("write a run"))?;
            return Ok(written.rows_affected() == 1);
        }
        let mut tx = civitas_store::begin_write(&self.pool)
            .await
            .map_err(failed("begin a transaction"))?;
        let written = update
            .execute(&mut *tx)
            .await
            .map_err(failed("write a run"))?;
        if written.rows_affected() != 1 {
            tx.rollback().await.map_err(failed("roll back"))?;
            return Ok(false);
        }
        write_tasks(&mut tx, run, tasks).await?;
        if let Some((task_id, key, answer)) = answer {
            let body = serde_json::to_string(&answer.body).map_err(failed("encode an answer"))?;
            sqlx::query(
                "INSERT INTO workflow_resumes (task_id, idempotency_key, status_code, response, \
                 created_at, fingerprint) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(task_id)
            .bind(key)
            .bind(i64::from(answer.status))
            .bind(body)
            .bind(millis(run.updated_at))
            .bind(&answer.fingerprint)
            .execute(&mut *tx)
            .await
            .map_err(failed("record an answer"))?;
        }
        tx.commit().await.map_err(failed("commit"))?;
        Ok(true)
    }

    /// Takes the run's lease when nobody holds it (or it lapsed): `true` when taken.
    pub async fn claim(
        &self,
        run_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let _turn = self.turn().await;
        let taken = sqlx::query(
            "UPDATE workflow_runs SET lease_owner = $1, lease_until = $2 \
             WHERE run_id = $3 AND (lease_until IS NULL OR lease_until < $4 OR lease_owner = $1)",
        )
        .bind(owner)
        .bind(millis(until))
        .bind(run_id)
        .bind(millis(now))
        .execute(&self.pool)
        .await
        .map_err(failed("take a run's lease"))?;
        Ok(taken.rows_affected() == 1)
    }

    /// Extends a lease this instance holds.
    pub async fn renew(
        &self,
        run_id: &str,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let _turn = self.turn().await;
        let renewed = sqlx::query(
            "UPDATE workflow_runs SET lease_until = $1 WHERE run_id = $2 AND lease_owner = $3",
        )
        .bind(millis(until))
        .bind(run_id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(failed("renew a run's lease"))?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Runs of `workflows` that need an instance: running with no live lease (their
    /// instance stopped), or with a timer that is due. Runs of other workflows (another
    /// deployment on the same database) are left alone.
    pub async fn due(
        &self,
        now: DateTime<Utc>,
        workflows: &[&str],
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        if workflows.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = (0..workflows.len())
            .map(|i| format!("${}", i + 3))
            .collect();
        let sql = format!(
            "SELECT run_id FROM workflow_runs \
             WHERE (status = 'RUNNING' OR (status = 'WAITING' AND next_deadline <= $1)) \
             AND (lease_until IS NULL OR lease_until < $1) AND workflow_name IN ({}) \
             ORDER BY updated_at LIMIT $2",
            names.join(", ")
        );
        // Only numbered placeholders are formatted in; the names are bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(millis(now))
            .bind(limit);
        for name in workflows {
            query = query.bind(*name);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(failed("find due runs"))?;
        rows.iter()
            .map(|r| {
                r.try_get::<String, _>("run_id")
                    .map_err(failed("read a run id"))
            })
            .collect()
    }

    pub async fn task(&self, task_id: &str) -> Result<Option<(String, Value)>, StoreError> {
        let row = sqlx::query("SELECT run_id, task FROM workflow_tasks WHERE task_id = $1")
            .bind(task_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(failed("load a task"))?;
        match row {
            None => Ok(None),
            Some(row) => {
                let run_id: String = row.try_get("run_id").map_err(failed("read a task"))?;
                let task: String = row.try_get("task").map_err(failed("read a task"))?;
                let task = serde_json::from_str(&task).map_err(failed("decode a task"))?;
                Ok(Some((run_id, task)))
            }
        }
    }

    /// Tasks, newest first, optionally of one status and workflow.
    pub async fn tasks(
        &self,
        status: Option<&str>,
        workflow: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Value>, StoreError> {
        let rows = sqlx::query(
            "SELECT task FROM workflow_tasks \
             WHERE ($1 = '' OR status = $1) AND ($2 = '' OR workflow_name = $2) \
             ORDER BY created_at DESC, task_id DESC LIMIT $3",
        )
        .bind(status.unwrap_or(""))
        .bind(workflow.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list tasks"))?;
        rows.iter()
            .map(|row| {
                let task: String = row.try_get("task").map_err(failed("read a task"))?;
                serde_json::from_str(&task).map_err(failed("decode a task"))
            })
            .collect()
    }

    /// The stored answer to `(task, key)`, if the resume was answered before.
    pub async fn answer(&self, task_id: &str, key: &str) -> Result<Option<Answer>, StoreError> {
        let row = sqlx::query(
            "SELECT status_code, response, fingerprint FROM workflow_resumes \
             WHERE task_id = $1 AND idempotency_key = $2",
        )
        .bind(task_id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("look up an answer"))?;
        match row {
            None => Ok(None),
            Some(row) => {
                let status: i64 = row
                    .try_get("status_code")
                    .map_err(failed("read an answer"))?;
                let body: String = row.try_get("response").map_err(failed("read an answer"))?;
                let fingerprint: String = row
                    .try_get("fingerprint")
                    .map_err(failed("read an answer"))?;
                Ok(Some(Answer {
                    status: u16::try_from(status).unwrap_or(500),
                    body: serde_json::from_str(&body).map_err(failed("decode an answer"))?,
                    fingerprint,
                }))
            }
        }
    }

    async fn turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.write_turn {
            Some(turn) => Some(turn.lock().await),
            None => None,
        }
    }
}

/// Inserts or updates a run's task rows.
async fn write_tasks(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    run: &Run,
    tasks: &[TaskRow],
) -> Result<(), StoreError> {
    for task in tasks {
        let json = serde_json::to_string(&task.task).map_err(failed("encode a task"))?;
        sqlx::query(
            "INSERT INTO workflow_tasks (task_id, run_id, node_id, workflow_name, status, task, \
                 expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                 ON CONFLICT (task_id) DO UPDATE SET status = $5, task = $6, expires_at = $7, \
                 updated_at = $8",
        )
        .bind(&task.task_id)
        .bind(&run.id)
        .bind(&task.node_id)
        .bind(&run.workflow_name)
        .bind(&task.status)
        .bind(json)
        .bind(task.expires_at.map(millis))
        .bind(millis(run.updated_at))
        .execute(&mut **tx)
        .await
        .map_err(failed("write a task"))?;
    }
    Ok(())
}
