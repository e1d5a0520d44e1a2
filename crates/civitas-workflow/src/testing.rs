//! Fixtures of the unit tests: the shipped system types with one built-in directory system,
//! `local`, whose connector is never called (definitions are checked, runs advanced, no
//! command is sent).

use std::sync::Arc;

use civitas_command::config::{Catalog, SystemConfig};
use civitas_command::connectors::{Command, Connector, ConnectorError, Executed};
use civitas_command::credentials::LocalResolver;
use civitas_command::systems::Systems;
use civitas_command::template::Templates;
use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::definition::{self, Workflow};

#[derive(Debug)]
struct NeverCalled;

impl Connector for NeverCalled {
    fn execute<'a>(
        &'a self,
        _command: Command<'a>,
        _params: &'a Map<String, Value>,
        _object_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Executed, ConnectorError>> {
        Box::pin(async { Err(ConnectorError::Internal("not in a unit test".into())) })
    }
}

/// The systems a definition is checked against: `local`, a directory.
pub fn systems() -> Systems {
    let mut catalog = Catalog::builtin().expect("the shipped system types load");
    catalog
        .add_system("test", SystemConfig::new("local", "directory"))
        .expect("a directory system");
    let directory = |_: &str| -> Arc<dyn Connector> { Arc::new(NeverCalled) };
    Systems::build(
        &catalog,
        Some(&directory),
        Arc::new(LocalResolver),
        Arc::new(Templates::new()),
    )
    .expect("the systems build")
}

/// `yaml` as a checked definition; panics with the problems when it is not one.
pub fn workflow(yaml: &str) -> Workflow {
    definition::parse("test.yaml", yaml, &systems())
        .unwrap_or_else(|errors| panic!("the definition has problems: {errors:?}"))
}

/// The problems of `yaml`, one `key: reason` a line.
pub fn problems(yaml: &str) -> Vec<String> {
    match definition::parse("test.yaml", yaml, &systems()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|e| format!("{}: {}", e.key, e.reason))
            .collect(),
    }
}
