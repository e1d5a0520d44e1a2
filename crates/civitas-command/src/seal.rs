//! The executor's side of a transactional outbox (docs/operations.md, "Delivery guarantees"):
//! a connector that writes to the civitas database (the built-in directory, in
//! `civitas-directory`) commits a change and its events in one transaction — no user without
//! its event, no event without its user.
//!
//! The executor runs a write command inside a [`Seal`] (a task-local scope) that knows how to
//! make the command's events from its result. The directory's write methods call
//! [`seal_in`] with their result inside their transaction, just before the commit; the events
//! are stored in the outbox's table by the same transaction. Afterwards the executor sees the
//! command sealed, tells the outbox ([`Outbox::stored_elsewhere`]) and publishes nothing more
//! for it. Without a seal in scope (events off, tests, other connectors) [`seal_in`] does
//! nothing and the executor publishes as usual.

use std::future::Future;
use std::sync::{Arc, Mutex};

use civitas_kafka::outbox::Outbox;
use civitas_kafka::{KafkaError, Record};
use serde_json::Value;

/// Makes a command's records from its result and object id; returns them with the
/// `crud.operations` event's id.
pub type MakeEvents =
    Box<dyn Fn(&Value, Option<&str>) -> Result<(Vec<Record>, String), KafkaError> + Send + Sync>;

/// How one command's events are stored with its change.
pub struct Seal {
    outbox: Outbox,
    make: MakeEvents,
    /// The event id and the number of records, once stored in a transaction.
    sealed: Mutex<Option<(String, usize)>>,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seal").finish_non_exhaustive()
    }
}

tokio::task_local! {
    static SEAL: Arc<Seal>;
}

impl Seal {
    pub fn new(outbox: Outbox, make: MakeEvents) -> Arc<Self> {
        Arc::new(Self {
            outbox,
            make,
            sealed: Mutex::new(None),
        })
    }

    /// Runs `command` with this seal in scope.
    pub async fn scope<F: Future>(self: &Arc<Self>, command: F) -> F::Output {
        SEAL.scope(self.clone(), command).await
    }

    /// After the command succeeded (its transaction committed): the event id when its
    /// events were stored with the change, having told the outbox; `None` when they were not
    /// (the caller publishes them).
    pub fn sealed(&self) -> Option<String> {
        let (event_id, count) = self
            .sealed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        self.outbox.stored_elsewhere(count);
        Some(event_id)
    }
}

/// Inside a change's transaction, before its commit: stores the running command's events for
/// `result` in the same transaction, when the command runs in a [`Seal`]. An error rolls the
/// change back.
pub async fn seal_in(
    conn: &mut sqlx::AnyConnection,
    result: &Value,
    object_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    let Ok(seal) = SEAL.try_with(Arc::clone) else {
        return Ok(());
    };
    let (records, event_id) =
        (seal.make)(result, object_id).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let count = seal.outbox.store_in(conn, records).await?;
    *seal.sealed.lock().unwrap_or_else(|p| p.into_inner()) = Some((event_id, count));
    Ok(())
}
