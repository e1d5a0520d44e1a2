//! What the engine needs of the service it runs in, and nothing more: the [`Host`]. The CRUD
//! service's app implements it; the engine never sees the HTTP layer.

use std::sync::Arc;

use civitas_auth::Policy;
use civitas_command::events::Events;
use civitas_command::{CommandError, CommandExecutor};
use civitas_directory::DirectoryStore;
use civitas_events::Masker;

use super::workflows::Workflows;

/// The service around the engine. Cheap to clone (drivers and commands run on tasks of
/// their own and keep a clone).
pub trait Host: Clone + Send + Sync + 'static {
    /// The engine; `None` when no workflows are configured.
    fn workflows(&self) -> Option<&Arc<Workflows>>;
    /// Runs a run's commands: the service's systems, policy and events.
    fn executor(&self) -> CommandExecutor<'_>;
    /// Where `crud.workflows` events go.
    fn events(&self) -> &Events;
    /// Masks inputs, results and decision data in views and events.
    fn masker(&self) -> &Masker;
    /// A failed command's error as a run's step keeps it (the CRUD API's status, then the
    /// message: `404 user 'x' not found`).
    fn failure_text(&self, error: &CommandError) -> String;
    /// Counts one `crud.workflows` event (the service's metrics).
    fn count_event(&self, event_type: &str);
    /// The authorization policy; `None`: every caller may start every workflow.
    fn policy(&self) -> Option<&Policy>;
    /// Whether callers are authenticated; without, there is no identity to check an approver
    /// against and anyone may decide.
    fn authenticates_callers(&self) -> bool;
    /// The built-in directory, where approver groups live; `None` without a database.
    fn directory(&self) -> Option<DirectoryStore>;
}
