//! Configuration events (seed 003): which topic a successful command announces.
//!
//! A system type maps an object type to a catalog entity (`entity: idm.user`) and a command
//! to an event (`event: created`); the topic is the catalog's
//! `de.civitascore.<domain>.<entity>.<event>`. The catalog is the source of truth: a pair the
//! catalog does not hold is reported once at start-up and never published, so no topic
//! appears that provisioning, ACLs and AsyncAPI do not know.

use std::collections::HashMap;

use civitas_topics::Catalog;

use crate::config::Catalog as Systems;

/// `(domain.entity, event)` → topic name.
#[derive(Debug, Clone, Default)]
pub struct ConfigTopics {
    topics: HashMap<(String, String), String>,
}

impl ConfigTopics {
    /// Every configuration-event topic of `catalog`.
    pub fn from_catalog(catalog: &Catalog) -> Self {
        let topics = catalog
            .config_event_topics()
            .into_iter()
            .map(|t| {
                let key = (
                    format!("{}.{}", t.domain(), t.entity()),
                    t.event().to_owned(),
                );
                (key, t.to_string())
            })
            .collect();
        Self { topics }
    }

    /// The topic of `entity` (`idm.user`) and `event` (`created`), if the catalog has it.
    pub fn topic(&self, entity: &str, event: &str) -> Option<&str> {
        self.topics
            .get(&(entity.to_owned(), event.to_owned()))
            .map(String::as_str)
    }

    /// `system_type/object/action: domain.entity.event` for every declared pair the catalog
    /// lacks.
    pub fn missing(&self, systems: &Systems) -> Vec<String> {
        let mut missing = Vec::new();
        for (type_name, system_type) in &systems.types {
            for (object_name, object) in &system_type.objects {
                let Some(entity) = object.entity.as_deref() else {
                    continue;
                };
                for (action, command) in &object.commands {
                    if let Some(event) = command.event
                        && self.topic(entity, event.as_str()).is_none()
                    {
                        missing.push(format!(
                            "{type_name}/{object_name}/{action}: {entity}.{}",
                            event.as_str()
                        ));
                    }
                }
            }
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_the_shipped_system_types_declare_is_in_the_shipped_catalog() {
        let systems = Systems::builtin().expect("the shipped types load");
        let topics = ConfigTopics::from_catalog(&Catalog::embedded());
        assert_eq!(topics.missing(&systems), Vec::<String>::new());
        assert_eq!(
            topics.topic("idm.user", "password.changed"),
            Some("de.civitascore.idm.user.password.changed")
        );
        assert_eq!(topics.topic("idm.user", "exploded"), None);
    }
}
