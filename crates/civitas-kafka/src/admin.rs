//! Topic administration against a real cluster: read what exists, execute a provisioning
//! plan (`civitas topics plan|apply`). The diff itself is pure and lives in
//! `civitas_topics::plan`. The embedded broker has no admin API; `civitas up` provisions it
//! through [`EmbeddedBroker::create_topic`](crate::EmbeddedBroker::create_topic) instead.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use civitas_topics::TopicSpec;
use civitas_topics::plan::{Action, ExistingTopic, Plan};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;

use crate::error::KafkaError;
use crate::settings::KafkaSettings;

const TIMEOUT: Duration = Duration::from_secs(30);

/// An admin connection to one cluster.
pub struct Admin {
    client: AdminClient<DefaultClientContext>,
    bootstrap: String,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

/// The outcome of one action of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The action that was run.
    pub action: Action,
    /// `None` when it succeeded, else the broker's reason.
    pub error: Option<String>,
}

impl Admin {
    /// Connects an admin client.
    pub fn connect(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        let client = settings
            .client_config_with(&[("log_level", "3")])
            .create()
            .map_err(|source| KafkaError::CreateClient {
                bootstrap: settings.bootstrap_servers.clone(),
                source: source.into(),
            })?;
        Ok(Self {
            client,
            bootstrap: settings.bootstrap_servers.clone(),
        })
    }

    /// The names of `topics` the cluster does not have, in catalog order.
    pub fn missing(
        &self,
        topics: &[civitas_topics::TopicSpec],
        timeout: Duration,
    ) -> Result<Vec<String>, KafkaError> {
        let existing = self.topic_names(timeout)?;
        Ok(topics
            .iter()
            .map(|t| t.name.to_string())
            .filter(|n| !existing.contains(n))
            .collect())
    }

    /// The names of the cluster's topics (a metadata request, no configs), waiting at most
    /// `timeout`. Blocking.
    pub fn topic_names(&self, timeout: Duration) -> Result<BTreeSet<String>, KafkaError> {
        let metadata = self
            .client
            .inner()
            .fetch_metadata(None, timeout)
            .map_err(|source| KafkaError::Metadata {
                what: "the cluster's topics".to_owned(),
                bootstrap: self.bootstrap.clone(),
                source: source.into(),
            })?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| t.name().to_owned())
            .collect())
    }

    /// How many brokers the cluster has (a metadata request). Blocking.
    pub fn broker_count(&self) -> Result<usize, KafkaError> {
        let metadata = self
            .client
            .inner()
            .fetch_metadata(None, TIMEOUT)
            .map_err(|source| KafkaError::Metadata {
                what: "the cluster's brokers".to_owned(),
                bootstrap: self.bootstrap.clone(),
                source: source.into(),
            })?;
        Ok(metadata.brokers().len())
    }

    /// Every non-internal topic with its partition count, replication factor and the configs
    /// the broker reports (all sources, so a default equal to the catalog's value counts).
    pub async fn describe(&self) -> Result<Vec<ExistingTopic>, KafkaError> {
        let metadata = self
            .client
            .inner()
            .fetch_metadata(None, TIMEOUT)
            .map_err(|source| KafkaError::Metadata {
                what: "the cluster's topics".to_owned(),
                bootstrap: self.bootstrap.clone(),
                source: source.into(),
            })?;
        let mut topics: Vec<ExistingTopic> = metadata
            .topics()
            .iter()
            .filter(|t| !t.name().starts_with("__") && t.error().is_none())
            .map(|t| ExistingTopic {
                name: t.name().to_owned(),
                partitions: t.partitions().len() as u32,
                replication: t
                    .partitions()
                    .first()
                    .map(|p| p.replicas().len() as u16)
                    .unwrap_or(0),
                configs: BTreeMap::new(),
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));

        let specifiers: Vec<ResourceSpecifier<'_>> = topics
            .iter()
            .map(|t| ResourceSpecifier::Topic(&t.name))
            .collect();
        if specifiers.is_empty() {
            return Ok(topics);
        }
        let described = self
            .client
            .describe_configs(&specifiers, &options())
            .await
            .map_err(|source| self.admin_error("describe topic configs", source))?;
        let mut configs: Vec<BTreeMap<String, String>> = Vec::with_capacity(described.len());
        for resource in described {
            // A broker that cannot describe configs leaves them empty: every catalog config
            // then shows as a change, which apply sets explicitly.
            let map = resource
                .map(|r| {
                    r.entries
                        .into_iter()
                        .filter_map(|e| e.value.map(|v| (e.name, v)))
                        .collect()
                })
                .unwrap_or_default();
            configs.push(map);
        }
        for (topic, map) in topics.iter_mut().zip(configs) {
            topic.configs = map;
        }
        Ok(topics)
    }

    /// Executes every change of `plan` (problems such as refused shrinks are skipped) and
    /// reports each outcome; one failure, even of a whole request, does not stop the others.
    /// `desired` is the catalog the plan was made from.
    pub async fn apply(&self, plan: &Plan, desired: &[TopicSpec]) -> Vec<Applied> {
        let mut outcomes = Vec::new();
        for action in plan.changes() {
            let error = self.execute(action, desired).await.err();
            outcomes.push(Applied {
                action: action.clone(),
                error,
            });
        }
        outcomes
    }

    /// Runs one action; the error says which request failed and why.
    async fn execute(&self, action: &Action, desired: &[TopicSpec]) -> Result<(), String> {
        let opts = options();
        let (request, results) = match action {
            Action::Create {
                name,
                partitions,
                replicas,
                configs,
            } => {
                let mut topic = NewTopic::new(
                    name,
                    i32::try_from(*partitions).unwrap_or(i32::MAX),
                    TopicReplication::Fixed(i32::from(*replicas)),
                );
                for (key, value) in configs {
                    topic = topic.set(key, value);
                }
                (
                    "CreateTopics",
                    self.client.create_topics([&topic], &opts).await,
                )
            }
            Action::AddPartitions { name, to, .. } => {
                let partitions = NewPartitions::new(name, *to as usize);
                (
                    "CreatePartitions",
                    self.client.create_partitions([&partitions], &opts).await,
                )
            }
            Action::AlterConfig { name, changes } => {
                // AlterConfigs (not the incremental variant) replaces all dynamic configs of
                // the topic, so every config the catalog names is sent, not just the changed
                // ones; configs the catalog does not name return to the broker's defaults.
                let mut wanted: BTreeMap<String, String> = desired
                    .iter()
                    .find(|spec| spec.name.to_string() == *name)
                    .map(|spec| spec.settings.configs())
                    .unwrap_or_default();
                for change in changes {
                    wanted.insert(change.key.clone(), change.to.clone());
                }
                let mut alter = AlterConfig::new(ResourceSpecifier::Topic(name));
                for (key, value) in &wanted {
                    alter = alter.set(key, value);
                }
                let results = self
                    .client
                    .alter_configs([&alter], &opts)
                    .await
                    .map_err(|e| format!("AlterConfigs request failed: {e}"))?;
                return match results.into_iter().find_map(Result::err) {
                    Some((_, code)) => Err(format!("AlterConfigs: {code}")),
                    None => Ok(()),
                };
            }
            Action::Delete { name } => (
                "DeleteTopics",
                self.client.delete_topics(&[name.as_str()], &opts).await,
            ),
            Action::RefusedShrink { .. }
            | Action::ReplicationDiffers { .. }
            | Action::TooFewBrokers { .. } => return Ok(()),
        };
        let results = results.map_err(|e| format!("{request} request failed: {e}"))?;
        match results.into_iter().find_map(Result::err) {
            Some((_, code)) => Err(format!("{request}: {code}")),
            None => Ok(()),
        }
    }

    fn admin_error(&self, what: &str, source: rdkafka::error::KafkaError) -> KafkaError {
        KafkaError::Admin {
            what: what.to_owned(),
            bootstrap: self.bootstrap.clone(),
            source: source.into(),
        }
    }
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(TIMEOUT))
        .operation_timeout(Some(TIMEOUT))
}
