//! The provisioning diff behind `civitas topics plan` / `apply`, as a pure function: what the
//! catalog wants, what the cluster has, and what to do about it. Reading the cluster and
//! executing the plan is I/O and lives in `civitas-kafka`.
//!
//! Rules: missing topics are created; partition counts are raised, never lowered (Kafka
//! cannot, and re-keying would reorder events); configs the catalog names are set to the
//! catalog's value; a replication factor that differs is reported, not changed (that needs a
//! partition reassignment); topics the catalog does not name are deleted only with
//! `allow_delete`, and only inside a namespace the catalog manages (its crud prefix, platform
//! prefix, `core.civitas`, payload namespaces). Internal topics (`_…`) are never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::catalog::TopicSpec;
use crate::name::TopicName;

/// A topic as the cluster reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExistingTopic {
    /// The topic's name.
    pub name: String,
    /// Its partition count.
    pub partitions: u32,
    /// Its replication factor.
    pub replication: u16,
    /// Topic configs as the broker reports them; a key the broker does not report counts as
    /// different from the catalog's value.
    pub configs: BTreeMap<String, String>,
}

/// One config value to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    /// The Kafka config name, e.g. `retention.ms`.
    pub key: String,
    /// What the broker reports, if anything.
    pub from: Option<String>,
    /// What the catalog wants.
    pub to: String,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create a missing topic.
    Create {
        /// The topic.
        name: String,
        /// Partition count.
        partitions: u32,
        /// Replication factor.
        replicas: u16,
        /// Topic configs.
        configs: BTreeMap<String, String>,
    },
    /// Raise the partition count.
    AddPartitions {
        /// The topic.
        name: String,
        /// The current count.
        from: u32,
        /// The catalog's count.
        to: u32,
    },
    /// Set configs to the catalog's values.
    AlterConfig {
        /// The topic.
        name: String,
        /// Each config that differs.
        changes: Vec<ConfigChange>,
    },
    /// Delete a topic the catalog does not name (only with `allow_delete`).
    Delete {
        /// The topic.
        name: String,
    },
    /// A problem: the catalog asks for fewer partitions than the topic has. Never done.
    RefusedShrink {
        /// The topic.
        name: String,
        /// The cluster's count.
        actual: u32,
        /// The catalog's (lower) count.
        desired: u32,
    },
    /// A problem: a topic to create asks for more replicas than the cluster has brokers;
    /// creating it would fail (InvalidReplicationFactor). Not done.
    TooFewBrokers {
        /// The topic.
        name: String,
        /// The catalog's factor.
        replicas: u16,
        /// Brokers in the cluster.
        brokers: usize,
    },
    /// A problem: the replication factor differs. Reported; changing it is a reassignment.
    ReplicationDiffers {
        /// The topic.
        name: String,
        /// The cluster's factor.
        actual: u16,
        /// The catalog's factor.
        desired: u16,
    },
}

impl Action {
    /// The topic this action is about.
    pub fn topic(&self) -> &str {
        match self {
            Action::Create { name, .. }
            | Action::AddPartitions { name, .. }
            | Action::AlterConfig { name, .. }
            | Action::Delete { name }
            | Action::RefusedShrink { name, .. }
            | Action::TooFewBrokers { name, .. }
            | Action::ReplicationDiffers { name, .. } => name,
        }
    }

    /// True for actions `apply` executes (create, add partitions, alter config, delete).
    pub fn is_change(&self) -> bool {
        !self.is_problem()
    }

    /// True for problems that are reported, not executed.
    pub fn is_problem(&self) -> bool {
        matches!(
            self,
            Action::RefusedShrink { .. }
                | Action::ReplicationDiffers { .. }
                | Action::TooFewBrokers { .. }
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Create {
                name,
                partitions,
                replicas,
                configs,
            } => {
                write!(
                    f,
                    "+ create {name} (partitions {partitions}, replicas {replicas})"
                )?;
                let width = configs.keys().map(String::len).max().unwrap_or(0);
                for (k, v) in configs {
                    write!(f, "\n      {k:width$} = {v}")?;
                }
                Ok(())
            }
            Action::AddPartitions { name, from, to } => {
                write!(f, "~ partitions {name} {from} -> {to}")
            }
            Action::AlterConfig { name, changes } => {
                write!(f, "~ config {name}")?;
                for c in changes {
                    let from = c.from.as_deref().unwrap_or("(unset)");
                    write!(f, "\n      {} {from} -> {}", c.key, c.to)?;
                }
                Ok(())
            }
            Action::Delete { name } => write!(f, "- delete {name}"),
            Action::RefusedShrink {
                name,
                actual,
                desired,
            } => write!(
                f,
                "! refused {name}: partitions {actual} -> {desired} (partition counts are never lowered)"
            ),
            Action::TooFewBrokers {
                name,
                replicas,
                brokers,
            } => write!(
                f,
                "! replicas {name}: the catalog asks for {replicas} replicas, the cluster has {brokers} broker(s); \
                 creating it would fail (InvalidReplicationFactor). Fix: add brokers, lower `replicas` and \
                 `min_insync_replicas` in a catalog extension (--catalog), or pass --replicas {brokers} \
                 for a development cluster"
            ),
            Action::ReplicationDiffers {
                name,
                actual,
                desired,
            } => write!(
                f,
                "! replication {name}: the cluster has {actual}, the catalog says {desired} (needs a partition reassignment; not done by apply)"
            ),
        }
    }
}

/// The diff between catalog and cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Every action, in catalog order, deletions last.
    pub actions: Vec<Action>,
    /// Topics in a managed namespace that the catalog does not name, kept because deletion
    /// was not allowed.
    pub unmanaged: Vec<String>,
}

impl Plan {
    /// True when there is nothing to change (problems may remain).
    pub fn is_noop(&self) -> bool {
        !self.actions.iter().any(Action::is_change)
    }

    /// True when something was refused or differs in a way apply will not fix.
    pub fn has_problems(&self) -> bool {
        self.actions.iter().any(Action::is_problem)
    }

    /// The actions `apply` executes.
    pub fn changes(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(|a| a.is_change())
    }

    fn count(&self, f: impl Fn(&Action) -> bool) -> usize {
        self.actions.iter().filter(|a| f(a)).count()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for a in &self.actions {
            writeln!(f, "{a}")?;
        }
        if !self.actions.is_empty() {
            writeln!(f)?;
        }
        let create = self.count(|a| matches!(a, Action::Create { .. }));
        let change_topics: BTreeSet<&str> = self
            .actions
            .iter()
            .filter(|a| matches!(a, Action::AddPartitions { .. } | Action::AlterConfig { .. }))
            .map(Action::topic)
            .collect();
        let delete = self.count(|a| matches!(a, Action::Delete { .. }));
        let problems = self.count(Action::is_problem);
        if self.is_noop() && problems == 0 {
            writeln!(f, "No changes: the cluster matches the catalog.")?;
        } else {
            writeln!(
                f,
                "Plan: {create} to create, {} to change, {delete} to delete, {problems} problem(s).",
                change_topics.len()
            )?;
        }
        if !self.unmanaged.is_empty() {
            writeln!(
                f,
                "{} topic(s) in managed namespaces are not in the catalog and are kept (--allow-delete deletes them): {}",
                self.unmanaged.len(),
                self.unmanaged.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Compares the catalog's topics with the cluster's. Pure; see the module docs for the rules.
/// Turns every create that asks for more replicas than the cluster's `brokers` into a
/// [`Action::TooFewBrokers`] problem (apply would fail on it).
pub fn check_brokers(plan: &mut Plan, brokers: usize) {
    for action in &mut plan.actions {
        if let Action::Create { name, replicas, .. } = action
            && usize::from(*replicas) > brokers
        {
            *action = Action::TooFewBrokers {
                name: std::mem::take(name),
                replicas: *replicas,
                brokers,
            };
        }
    }
}

/// Sets every topic's replication factor to `replicas` (a development cluster with fewer
/// brokers than the catalog assumes); `min.insync.replicas` is lowered to it where higher.
pub fn override_replicas(desired: &mut [TopicSpec], replicas: u16) {
    for spec in desired {
        spec.settings.replicas = replicas;
        if let Some(min) = &mut spec.settings.min_insync_replicas {
            *min = (*min).min(replicas);
        }
    }
}

pub fn plan(desired: &[TopicSpec], actual: &[ExistingTopic], allow_delete: bool) -> Plan {
    let by_name: BTreeMap<&str, &ExistingTopic> =
        actual.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut p = Plan::default();
    let mut wanted = BTreeSet::new();
    for spec in desired {
        let name = spec.name.to_string();
        let s = &spec.settings;
        let configs = s.configs();
        let Some(have) = by_name.get(name.as_str()) else {
            p.actions.push(Action::Create {
                name: name.clone(),
                partitions: s.partitions,
                replicas: s.replicas,
                configs,
            });
            wanted.insert(name);
            continue;
        };
        if s.partitions > have.partitions {
            p.actions.push(Action::AddPartitions {
                name: name.clone(),
                from: have.partitions,
                to: s.partitions,
            });
        } else if s.partitions < have.partitions {
            p.actions.push(Action::RefusedShrink {
                name: name.clone(),
                actual: have.partitions,
                desired: s.partitions,
            });
        }
        if s.replicas != have.replication {
            p.actions.push(Action::ReplicationDiffers {
                name: name.clone(),
                actual: have.replication,
                desired: s.replicas,
            });
        }
        let changes: Vec<ConfigChange> = configs
            .into_iter()
            .filter(|(k, v)| have.configs.get(k) != Some(v))
            .map(|(key, to)| ConfigChange {
                from: have.configs.get(&key).cloned(),
                key,
                to,
            })
            .collect();
        if !changes.is_empty() {
            p.actions.push(Action::AlterConfig {
                name: name.clone(),
                changes,
            });
        }
        wanted.insert(name);
    }
    let namespaces = managed_namespaces(desired);
    let mut extra: Vec<&str> = actual
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| !n.starts_with('_') && !wanted.contains(*n))
        .filter(|n| namespaces.iter().any(|ns| n.starts_with(ns.as_str())))
        .collect();
    extra.sort_unstable();
    for name in extra {
        if allow_delete {
            p.actions.push(Action::Delete {
                name: name.to_owned(),
            });
        } else {
            p.unmanaged.push(name.to_owned());
        }
    }
    p
}

/// The namespaces (with trailing dot) the catalog's topics live in.
fn managed_namespaces(desired: &[TopicSpec]) -> BTreeSet<String> {
    desired
        .iter()
        .map(|s| match &s.name {
            TopicName::Crud(t) => format!("{}.", t.prefix()),
            TopicName::ConfigEvent(t) => format!("{}.", t.prefix()),
            TopicName::Saga(_) => format!("{}.", crate::rules::SAGA_PREFIX),
            TopicName::Payload(t) => format!("{}.", t.namespace()),
        })
        .collect()
}

#[cfg(test)]
mod broker_tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn creates_needing_more_brokers_than_there_are_become_problems_with_the_fix() {
        let desired = Catalog::embedded().topics();
        let mut p = plan(&desired, &[], false);
        check_brokers(&mut p, 1);
        assert!(p.has_problems());
        let text = p.to_string();
        assert!(text.contains("the cluster has 1 broker(s)"), "{text}");
        assert!(text.contains("--replicas 1"), "{text}");
        assert!(!p.actions.iter().any(|a| matches!(a, Action::Create { .. })));

        let mut desired = desired;
        override_replicas(&mut desired, 1);
        let mut p = plan(&desired, &[], false);
        check_brokers(&mut p, 1);
        assert!(!p.has_problems(), "{p}");
        assert!(
            desired.iter().all(|t| t.settings.replicas == 1
                && t.settings.min_insync_replicas.is_none_or(|m| m <= 1))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TopicSettings;
    use crate::name::{CrudKind, CrudTopic, SagaTopic};
    use crate::rules::NamingContext;

    fn spec(name: &str, partitions: u32) -> TopicSpec {
        TopicSpec {
            name: TopicName::parse(name, &NamingContext::default()).unwrap(),
            settings: TopicSettings {
                partitions,
                ..TopicSettings::default()
            },
        }
    }

    fn existing(spec: &TopicSpec) -> ExistingTopic {
        ExistingTopic {
            name: spec.name.to_string(),
            partitions: spec.settings.partitions,
            replication: spec.settings.replicas,
            configs: spec.settings.configs(),
        }
    }

    #[test]
    fn a_cluster_that_matches_needs_nothing() {
        let d = vec![spec("crud.operations", 3), spec("crud.errors", 3)];
        let a: Vec<ExistingTopic> = d.iter().map(existing).collect();
        let p = plan(&d, &a, true);
        assert!(p.is_noop());
        assert!(!p.has_problems());
        assert_eq!(
            p.to_string(),
            "No changes: the cluster matches the catalog.\n"
        );
    }

    #[test]
    fn missing_topics_are_created_with_their_settings() {
        let d = vec![spec("crud.operations", 3)];
        let p = plan(&d, &[], false);
        assert_eq!(
            p.actions,
            vec![Action::Create {
                name: "crud.operations".into(),
                partitions: 3,
                replicas: 3,
                configs: d[0].settings.configs(),
            }]
        );
    }

    #[test]
    fn partitions_are_raised_but_never_lowered() {
        let d = vec![spec("crud.operations", 6), spec("crud.errors", 1)];
        let mut a: Vec<ExistingTopic> = d.iter().map(existing).collect();
        a[0].partitions = 3;
        a[1].partitions = 4;
        let p = plan(&d, &a, false);
        assert_eq!(
            p.actions,
            vec![
                Action::AddPartitions {
                    name: "crud.operations".into(),
                    from: 3,
                    to: 6
                },
                Action::RefusedShrink {
                    name: "crud.errors".into(),
                    actual: 4,
                    desired: 1
                },
            ]
        );
        assert!(p.has_problems());
    }

    #[test]
    fn configs_that_differ_or_are_unreported_are_altered() {
        let d = vec![spec("crud.operations", 3)];
        let mut a: Vec<ExistingTopic> = d.iter().map(existing).collect();
        a[0].configs.insert("retention.ms".into(), "1000".into());
        a[0].configs.remove("cleanup.policy");
        a[0].configs.insert("segment.bytes".into(), "1".into());
        let p = plan(&d, &a, false);
        assert_eq!(
            p.actions,
            vec![Action::AlterConfig {
                name: "crud.operations".into(),
                changes: vec![
                    ConfigChange {
                        key: "cleanup.policy".into(),
                        from: None,
                        to: "delete".into()
                    },
                    ConfigChange {
                        key: "retention.ms".into(),
                        from: Some("1000".into()),
                        to: "604800000".into()
                    },
                ]
            }]
        );
    }

    #[test]
    fn deletion_needs_permission_and_stays_inside_managed_namespaces() {
        let d = vec![
            spec("crud.operations", 3),
            spec("core.civitas.frost.project.create", 3),
        ];
        let mut a: Vec<ExistingTopic> = d.iter().map(existing).collect();
        for n in [
            "crud.legacy",
            "core.civitas.old.thing.create",
            "__consumer_offsets",
            "connect-offsets",
        ] {
            a.push(ExistingTopic {
                name: n.into(),
                partitions: 1,
                replication: 1,
                configs: BTreeMap::new(),
            });
        }
        let kept = plan(&d, &a, false);
        assert!(kept.is_noop());
        assert_eq!(
            kept.unmanaged,
            vec!["core.civitas.old.thing.create", "crud.legacy"]
        );
        let deleted = plan(&d, &a, true);
        assert_eq!(
            deleted.actions,
            vec![
                Action::Delete {
                    name: "core.civitas.old.thing.create".into()
                },
                Action::Delete {
                    name: "crud.legacy".into()
                },
            ]
        );
    }

    #[test]
    fn replication_differences_are_reported_not_changed() {
        let d = vec![spec("crud.metrics", 3)];
        let mut a: Vec<ExistingTopic> = d.iter().map(existing).collect();
        a[0].replication = 1;
        let p = plan(&d, &a, false);
        assert!(p.is_noop());
        assert!(p.has_problems());
    }

    #[test]
    fn the_diff_reads_like_terraform() {
        let ctx = NamingContext::default();
        let mut d = vec![
            TopicSpec {
                name: CrudTopic::in_context(&ctx, CrudKind::Operations).into(),
                settings: TopicSettings::default(),
            },
            spec("crud.errors", 3),
            spec("crud.metrics", 1),
        ];
        d.push(TopicSpec {
            name: SagaTopic::result("frost", "project").unwrap().into(),
            settings: TopicSettings::default(),
        });
        let mut a: Vec<ExistingTopic> = d[1..].iter().map(existing).collect();
        a[0].partitions = 1;
        a[0].configs
            .insert("retention.ms".into(), "86400000".into());
        a[1].partitions = 6;
        a.push(ExistingTopic {
            name: "crud.legacy".into(),
            partitions: 1,
            replication: 3,
            configs: BTreeMap::new(),
        });
        let p = plan(&d, &a, true);
        insta::assert_snapshot!(p.to_string());
    }
}
