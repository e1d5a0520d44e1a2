//! The saga store as the web console reads it (`/console/sagas`): the sagas as
//! `civitas saga show --json` prints them.

use civitas_console::SagaSource;
use civitas_saga::SagaStore;
use futures::future::BoxFuture;
use serde_json::Value;

#[derive(Debug)]
pub struct ConsoleSagas {
    store: SagaStore,
}

impl ConsoleSagas {
    pub fn new(store: SagaStore) -> Self {
        Self { store }
    }
}

fn to_json(saga: &civitas_saga::machine::Saga) -> Result<Value, String> {
    serde_json::to_value(saga).map_err(|e| e.to_string())
}

impl SagaSource for ConsoleSagas {
    fn list(&self, limit: i64) -> BoxFuture<'_, Result<Vec<Value>, String>> {
        Box::pin(async move {
            let sagas = self
                .store
                .list(None, limit)
                .await
                .map_err(|e| e.to_string())?;
            sagas.iter().map(to_json).collect()
        })
    }

    fn show<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Value>, String>> {
        Box::pin(async move {
            let saga = self.store.find(id).await.map_err(|e| e.to_string())?;
            saga.as_ref().map(to_json).transpose()
        })
    }
}
