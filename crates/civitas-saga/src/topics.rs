//! The saga's topic names, in one place (seed 003: `core.civitas.<system>.<entity>.<operation|result>`).
//!
//! Built from a configurable prefix (default `core.civitas`). When `civitas-topics` offers
//! the saga family as types, this module is the one file to switch over.

/// The default prefix of the saga topics (ADR 031).
pub const DEFAULT_PREFIX: &str = "core.civitas";

/// Every topic the saga uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaTopics {
    pub prefix: String,
    /// Portal → orchestrator: start provisioning.
    pub requested: String,
    /// Orchestrator → FROST adapter.
    pub frost_project_create: String,
    /// Orchestrator → FROST adapter (compensation).
    pub frost_project_delete: String,
    /// FROST adapter → orchestrator (answers to create and delete).
    pub frost_project_result: String,
    /// Orchestrator → APISIX adapter.
    pub apisix_route_create: String,
    /// Orchestrator → APISIX adapter (compensation).
    pub apisix_route_delete: String,
    /// APISIX adapter → orchestrator (answers to create and delete).
    pub apisix_route_result: String,
    /// Orchestrator → portal: the saga succeeded.
    pub completed: String,
    /// Orchestrator → portal: the saga failed (compensated or not).
    pub failed: String,
    /// Orchestrator → operators: stale resources to remove by hand.
    pub intervention: String,
    /// Commands the FROST adapter could not read.
    pub frost_deadletter: String,
    /// Commands the APISIX adapter could not read.
    pub apisix_deadletter: String,
    /// Requests and results the orchestrator could not read.
    pub dataset_deadletter: String,
}

impl Default for SagaTopics {
    fn default() -> Self {
        Self::new(DEFAULT_PREFIX)
    }
}

impl SagaTopics {
    /// The topic names under `prefix` (no trailing dot), e.g. `core.civitas`.
    pub fn new(prefix: &str) -> Self {
        let t = |rest: &str| format!("{prefix}.{rest}");
        Self {
            prefix: prefix.to_owned(),
            requested: t("dataset.create.requested"),
            frost_project_create: t("frost.project.create"),
            frost_project_delete: t("frost.project.delete"),
            frost_project_result: t("frost.project.result"),
            apisix_route_create: t("apisix.route.create"),
            apisix_route_delete: t("apisix.route.delete"),
            apisix_route_result: t("apisix.route.result"),
            completed: t("dataset.create.completed"),
            failed: t("dataset.create.failed"),
            intervention: t("dataset.create.escalated"),
            frost_deadletter: t("frost.project.deadletter"),
            apisix_deadletter: t("apisix.route.deadletter"),
            dataset_deadletter: t("dataset.create.deadletter"),
        }
    }

    /// All thirteen names: the seed's eight, then the ones compensation, operators and
    /// poison messages need.
    pub fn all(&self) -> Vec<&str> {
        vec![
            &self.requested,
            &self.frost_project_create,
            &self.frost_project_delete,
            &self.frost_project_result,
            &self.apisix_route_create,
            &self.apisix_route_result,
            &self.completed,
            &self.failed,
            &self.apisix_route_delete,
            &self.intervention,
            &self.frost_deadletter,
            &self.apisix_deadletter,
            &self.dataset_deadletter,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_names_are_the_seeds_table_plus_compensation_intervention_and_dead_letters() {
        let topics = SagaTopics::default();
        assert_eq!(
            topics.all(),
            [
                "core.civitas.dataset.create.requested",
                "core.civitas.frost.project.create",
                "core.civitas.frost.project.delete",
                "core.civitas.frost.project.result",
                "core.civitas.apisix.route.create",
                "core.civitas.apisix.route.result",
                "core.civitas.dataset.create.completed",
                "core.civitas.dataset.create.failed",
                "core.civitas.apisix.route.delete",
                "core.civitas.dataset.create.escalated",
                "core.civitas.frost.project.deadletter",
                "core.civitas.apisix.route.deadletter",
                "core.civitas.dataset.create.deadletter",
            ]
        );
    }

    #[test]
    fn every_topic_the_saga_uses_is_in_the_shipped_catalog() {
        // The catalog drives provisioning, ACLs and AsyncAPI; a topic missing there would be
        // created by nobody on a real cluster and granted to no principal.
        let catalog = civitas_topics::Catalog::embedded();
        for topic in SagaTopics::default().all() {
            assert!(
                catalog.topic(topic).is_some(),
                "{topic} is not in config/catalog.yaml"
            );
        }
    }

    #[test]
    fn a_custom_prefix_is_applied_to_every_name() {
        let topics = SagaTopics::new("test.x");
        assert!(topics.all().iter().all(|t| t.starts_with("test.x.")));
    }
}
