//! The engine's state in one service instance, [`Workflows`]: the definitions, the store, the
//! clock, the lease owner id and the runs driven here (each with the nudge that wakes its
//! driver).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use civitas_command::template::Templates;
use civitas_store::Clock;
use tokio::sync::Notify;

use super::definition::Workflow;
use super::run::RunStatus;
use super::store::WorkflowStore;

/// How long a lease lasts without renewal.
pub(crate) const LEASE: Duration = Duration::from_secs(30);

/// The workflow engine of one service instance.
#[derive(Debug)]
pub struct Workflows {
    pub(crate) definitions: BTreeMap<String, Arc<Workflow>>,
    pub store: WorkflowStore,
    pub(crate) templates: Templates,
    /// The clock deadlines are read against (tests move it forward).
    pub clock: Clock,
    /// This instance's lease owner id.
    pub(crate) instance: String,
    /// How often the scheduler looks for runs to take over and timers that are due.
    pub poll: Duration,
    /// The runs this instance drives now, each with the nudge that wakes its driver (a
    /// decision was stored).
    active: Mutex<HashMap<String, Arc<Notify>>>,
    /// Runs that ended here (id, status), for whoever listens (the benchmark).
    pub(crate) ended: tokio::sync::broadcast::Sender<(String, RunStatus)>,
}

impl Workflows {
    pub fn new(definitions: Vec<Workflow>, store: WorkflowStore, clock: Clock) -> Self {
        Self {
            definitions: definitions
                .into_iter()
                .map(|w| (w.name.clone(), Arc::new(w)))
                .collect(),
            store,
            templates: Templates::new(),
            clock,
            instance: uuid::Uuid::new_v4().to_string(),
            poll: Duration::from_secs(1),
            active: Mutex::default(),
            ended: tokio::sync::broadcast::channel(4096).0,
        }
    }

    pub fn definition(&self, name: &str) -> Option<&Arc<Workflow>> {
        self.definitions.get(name)
    }

    pub fn definitions(&self) -> impl Iterator<Item = &Arc<Workflow>> {
        self.definitions.values()
    }

    /// The runs that end on this instance from now on: (id, final status).
    pub fn subscribe_ended(&self) -> tokio::sync::broadcast::Receiver<(String, RunStatus)> {
        self.ended.subscribe()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn lease_until(&self) -> DateTime<Utc> {
        self.now() + chrono::Duration::from_std(LEASE).unwrap_or_default()
    }

    /// Marks `run_id` as driven here; `None` when it already is.
    pub(crate) fn enter(&self, run_id: &str) -> Option<ActiveGuard<'_>> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if active.contains_key(run_id) {
            return None;
        }
        let nudge = Arc::new(Notify::new());
        active.insert(run_id.to_owned(), nudge.clone());
        Some(ActiveGuard {
            workflows: self,
            run_id: run_id.to_owned(),
            nudge,
        })
    }

    /// Wakes the driver of `run_id` if it runs here; `false` when none does.
    pub(crate) fn nudge(&self, run_id: &str) -> bool {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        match active.get(run_id) {
            Some(nudge) => {
                nudge.notify_one();
                true
            }
            None => false,
        }
    }

    pub(crate) fn is_active(&self, run_id: &str) -> bool {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        active.contains_key(run_id)
    }
}

pub(crate) struct ActiveGuard<'a> {
    workflows: &'a Workflows,
    run_id: String,
    pub(crate) nudge: Arc<Notify>,
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        let mut active = self
            .workflows
            .active
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        active.remove(&self.run_id);
    }
}
