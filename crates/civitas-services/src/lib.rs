//! The components of one civitas process and the order they stop in, for `civitas up` (the
//! CRUD service, the saga, the outbox, the embedded broker's journal) and `civitas serve
//! crud` (the CRUD service and its outbox): the binary starts what its flags ask for and
//! hands it here; [`Services::stop`] is the one shutdown sequence.
//!
//! The order matters: the HTTP side stops taking work first (its last answers still store
//! their events), then the saga (its last commands and results), then the outbox delivers
//! what waits for up to the timeout (what the broker has not taken stays in the database for
//! the next start), and last the journal copies what the embedded broker took. Every step
//! runs whatever an earlier one reported.

use std::time::Duration;

use civitas_crud::Running;
use civitas_kafka::KafkaSettings;
use civitas_kafka::consume::error_chain;
use civitas_kafka::journal::Journal;
use civitas_kafka::outbox::{Outbox, OutboxSettings};

/// Why a component could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("opening the database: {0}")]
    Database(#[from] civitas_store::StoreError),
    #[error("{0}")]
    Kafka(#[from] civitas_kafka::KafkaError),
}

/// The running components of a process; each is optional (`serve crud` has no saga).
#[derive(Debug, Default)]
pub struct Services {
    pub crud: Option<Running>,
    pub saga: Option<civitas_saga::Running>,
    pub outbox: Option<Outbox>,
    pub journal: Option<Journal>,
}

/// A step of the shutdown, announced before it runs (the binary says it on the terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The HTTP server finishes its requests.
    Http,
    /// The saga's components stop and flush.
    Saga,
    /// The outbox delivers what waits.
    Outbox,
    /// The journal copies the last records.
    Journal,
}

/// How the shutdown went.
#[derive(Debug, Default)]
pub struct Stopped {
    /// What failed, one line each (the HTTP server or the saga did not stop cleanly).
    pub failures: Vec<String>,
    /// Events the broker had not acknowledged: they stay in the outbox for the next start.
    pub undelivered: u64,
    /// Events dropped while the process ran (a full outbox under `--outbox-when-full accept`).
    pub dropped: u64,
}

impl Stopped {
    /// Whether nothing failed and no event was dropped (undelivered ones are kept).
    pub fn clean(&self) -> bool {
        self.failures.is_empty() && self.dropped == 0
    }
}

impl Services {
    /// Stops every component, in order, each within `timeout`; `announce` is told each step
    /// before it runs.
    pub async fn stop(self, timeout: Duration, mut announce: impl FnMut(Stage)) -> Stopped {
        let mut stopped = Stopped::default();
        if let Some(crud) = self.crud {
            announce(Stage::Http);
            if let Err(error) = crud.stop_within(timeout).await {
                stopped.failures.push(format!(
                    "stopping the CRUD service: {}",
                    error_chain(&error)
                ));
            }
        }
        if let Some(saga) = self.saga {
            announce(Stage::Saga);
            if let Err(error) = saga.shutdown(timeout).await {
                stopped
                    .failures
                    .push(format!("stopping the saga: {}", error_chain(&error)));
            }
        }
        if let Some(outbox) = self.outbox {
            announce(Stage::Outbox);
            let left = outbox.shutdown(timeout).await;
            stopped.undelivered = left.backlog_events;
            stopped.dropped = left.dropped;
        }
        if let Some(journal) = self.journal {
            announce(Stage::Journal);
            journal.stop(timeout).await;
        }
        stopped
    }
}

/// Opens the CRUD service's durable outbox in `database_url` and starts its relay, as
/// `instance` (one name per host and port: a restart relays at once, two live instances
/// differ); events an earlier run stored and the broker never acknowledged are sent first.
pub async fn open_outbox(
    database_url: &str,
    kafka: &KafkaSettings,
    mut settings: OutboxSettings,
    instance: String,
) -> Result<Outbox, StartError> {
    let pool = civitas_store::connect(database_url).await?;
    settings.instance = Some(instance);
    Ok(Outbox::start(pool, kafka, settings).await?)
}

/// Writes the embedded broker's history of the last `window` back into it (returns how many
/// records), then starts copying everything it takes.
pub async fn start_journal(
    database_url: &str,
    kafka: &KafkaSettings,
    window: Duration,
) -> Result<(Journal, usize), StartError> {
    let pool = civitas_store::connect(database_url).await?;
    let replayed = civitas_kafka::journal::replay(&pool, kafka, window).await?;
    let journal = Journal::start(pool, kafka, window)?;
    Ok((journal, replayed))
}
