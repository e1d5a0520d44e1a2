-- The workflow engine's runs, approval tasks and resume answers (crates/civitas-crud
-- src/workflow, docs/workflows.md). Times are epoch milliseconds; JSON is text.

-- One row per run; `state` is the whole run as JSON (nodes, results, approvals, timeline),
-- the other columns are what queries select on. Every change raises `state_version` by one
-- and is written with `WHERE state_version = <the version read>`, so two instances never
-- both apply a change to one run.
CREATE TABLE workflow_runs (
    run_id        TEXT PRIMARY KEY,
    workflow_name TEXT NOT NULL,
    status        TEXT NOT NULL,
    state         TEXT NOT NULL,
    state_version BIGINT NOT NULL,
    started_by    TEXT,
    -- earliest timer of a waiting node (wait, approval TTL); NULL when none
    next_deadline BIGINT,
    -- the instance that advances the run, until lease_until; NULL: nobody does
    lease_owner   TEXT,
    lease_until   BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX workflow_runs_status ON workflow_runs (status, updated_at);
CREATE INDEX workflow_runs_next_deadline ON workflow_runs (next_deadline);

-- One row per approval task, written in the same transaction as its run.
CREATE TABLE workflow_tasks (
    task_id       TEXT PRIMARY KEY,
    run_id        TEXT NOT NULL,
    node_id       TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    status        TEXT NOT NULL,
    task          TEXT NOT NULL,
    expires_at    BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX workflow_tasks_status ON workflow_tasks (status, created_at);
CREATE INDEX workflow_tasks_run ON workflow_tasks (run_id);

-- The first answer to each (task, idempotency key): a repeated resume gets it again.
CREATE TABLE workflow_resumes (
    task_id         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    status_code     BIGINT NOT NULL,
    response        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (task_id, idempotency_key)
);
