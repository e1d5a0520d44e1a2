//! The topics and consumer groups civitas's own components use, built from the typed names of
//! [`name`](crate::name) — the one place the product's topic names come from.
//!
//! - [`CrudTopics`]: the CRUD service's six topics under the installation's CRUD prefix
//!   ([`NamingContext::crud_prefix`], `KAFKA_TOPIC_PREFIX`).
//! - [`SagaTopics`]: the dataset-provisioning saga's thirteen topics under `core.civitas`. The
//!   saga prefix is fixed (docs/architecture.md, "The saga prefix"): the portal backend and CivitasCore's adapters, which are
//!   not part of civitas, address these names, so an installation cannot rename them alone.
//! - [`groups`]: the consumer group ids, each granted to its principal by the shipped ACL
//!   matrix (`config/acls.yaml`; a test checks every pair).

use crate::name::{CrudKind, CrudTopic, FlowStage, SagaTopic};
use crate::rules::NamingContext;

/// The six topic names of the CRUD service for one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrudTopics {
    pub operations: String,
    pub errors: String,
    pub workflows: String,
    pub secrets: String,
    pub secrets_audit: String,
    pub metrics: String,
}

impl Default for CrudTopics {
    fn default() -> Self {
        Self::in_context(&NamingContext::default())
    }
}

impl CrudTopics {
    /// The names under the context's CRUD prefix (`crud.operations`, … by default).
    pub fn in_context(ctx: &NamingContext) -> Self {
        let name = |kind: CrudKind| CrudTopic::in_context(ctx, kind).to_string();
        Self {
            operations: name(CrudKind::Operations),
            errors: name(CrudKind::Errors),
            workflows: name(CrudKind::Workflows),
            secrets: name(CrudKind::Secrets),
            secrets_audit: name(CrudKind::SecretsAudit),
            metrics: name(CrudKind::Metrics),
        }
    }

    /// The names under `prefix`, which must be a valid CRUD prefix (lowercase DNS-style
    /// labels, disjoint from the other families' prefixes).
    pub fn with_prefix(prefix: &str) -> Result<Self, crate::NameError> {
        Ok(Self::in_context(
            &NamingContext::new().with_crud_prefix(prefix)?,
        ))
    }

    /// All six, in the seed's order.
    pub fn all(&self) -> [&str; 6] {
        [
            &self.operations,
            &self.errors,
            &self.workflows,
            &self.secrets,
            &self.secrets_audit,
            &self.metrics,
        ]
    }
}

/// Every topic the dataset-provisioning saga uses (seed 003:
/// `core.civitas.<system>.<entity>.<operation|result>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaTopics {
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
        // The words below are fixed, valid segments; the unit tests build every name.
        let name = |t: Result<SagaTopic, crate::NameError>| match t {
            Ok(t) => t.to_string(),
            Err(e) => unreachable!("a fixed saga topic name is invalid: {e}"),
        };
        let flow = |stage| name(SagaTopic::flow("dataset", "create", stage));
        Self {
            requested: flow(FlowStage::Requested),
            frost_project_create: name(SagaTopic::command("frost", "project", "create")),
            frost_project_delete: name(SagaTopic::command("frost", "project", "delete")),
            frost_project_result: name(SagaTopic::result("frost", "project")),
            apisix_route_create: name(SagaTopic::command("apisix", "route", "create")),
            apisix_route_delete: name(SagaTopic::command("apisix", "route", "delete")),
            apisix_route_result: name(SagaTopic::result("apisix", "route")),
            completed: flow(FlowStage::Completed),
            failed: flow(FlowStage::Failed),
            intervention: flow(FlowStage::Escalated),
            frost_deadletter: name(SagaTopic::dead_letter("frost", "project")),
            apisix_deadletter: name(SagaTopic::dead_letter("apisix", "route")),
            dataset_deadletter: name(SagaTopic::dead_letter("dataset", "create")),
        }
    }
}

impl SagaTopics {
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

/// Consumer group ids, by the principal (of `config/acls.yaml`) that uses each.
///
/// Readers that only assign partitions (tail, trace, `saga request --wait`) commit nothing,
/// but librdkafka still asks the group coordinator about their group: under an authorizer the
/// group must be granted, or the client logs `GroupAuthorizationFailed`.
pub mod groups {
    /// The saga orchestrator (principal `orchestrator`).
    pub const ORCHESTRATOR: &str = "civitas-saga-orchestrator";
    /// The FROST adapter (principal `frost-adapter`).
    pub const FROST_ADAPTER: &str = "civitas-frost-adapter";
    /// The APISIX adapter (principal `apisix-adapter`).
    pub const APISIX_ADAPTER: &str = "civitas-apisix-adapter";
    /// The portal side: `saga request --wait` and the saga benchmark's requester (principal
    /// `portal-backend`).
    pub const PORTAL: &str = "portal-backend";
    /// Read-only tools: `tail`, `trace`, `saga list/show`, the console (principal
    /// `troubleshooting`, granted the prefix `civitas-troubleshooting-`).
    pub const TROUBLESHOOTING: &str = "civitas-troubleshooting-reader";

    /// Every group with the principal that uses it.
    pub const ALL: [(&str, &str); 5] = [
        ("orchestrator", ORCHESTRATOR),
        ("frost-adapter", FROST_ADAPTER),
        ("apisix-adapter", APISIX_ADAPTER),
        ("portal-backend", PORTAL),
        ("troubleshooting", TROUBLESHOOTING),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AclMatrix, Catalog};

    #[test]
    fn the_saga_names_are_the_seeds_table_plus_compensation_intervention_and_dead_letters() {
        assert_eq!(
            SagaTopics::default().all(),
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
    fn every_topic_the_product_uses_is_in_the_shipped_catalog() {
        // The catalog drives provisioning, ACLs and AsyncAPI; a topic missing there would be
        // created by nobody on a real cluster and granted to no principal.
        let catalog = Catalog::embedded();
        let crud = CrudTopics::default();
        for topic in SagaTopics::default().all().into_iter().chain(crud.all()) {
            assert!(
                catalog.topic(topic).is_some(),
                "{topic} is not in config/catalog.yaml"
            );
        }
    }

    #[test]
    fn the_crud_names_follow_the_prefix_and_a_bad_prefix_is_refused() {
        let t = CrudTopics::with_prefix("staging.crud").expect("a valid prefix");
        assert_eq!(t.operations, "staging.crud.operations");
        assert_eq!(t.secrets_audit, "staging.crud.secrets.audit");
        assert!(CrudTopics::with_prefix("Crud_1").is_err());
        assert!(CrudTopics::with_prefix("core.civitas").is_err());
    }

    #[test]
    fn the_shipped_acl_matrix_grants_every_group_the_product_uses_to_its_principal() {
        let matrix = AclMatrix::embedded();
        for (principal, group) in groups::ALL {
            let p = matrix
                .principals()
                .iter()
                .find(|p| p.name == principal)
                .unwrap_or_else(|| panic!("no principal {principal} in config/acls.yaml"));
            assert!(
                p.groups.iter().any(|g| g.matches(group)),
                "config/acls.yaml does not grant group {group} to {principal}"
            );
        }
    }
}
