//! Workflow definitions: one YAML file per workflow, read from the workflows directory and
//! checked at start-up against the configured systems. A file with a problem stops the start
//! with `file:line`, the key and the reason (docs/workflows.md has the format).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use civitas_command::config::ConfigError;
use civitas_command::systems::Systems;
use civitas_command::template;
use civitas_config::{Locator, yaml_error};

/// Largest workflow file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most nodes in one workflow: a run's state is one database row.
const MAX_NODES: usize = 200;

/// A checked workflow.
#[derive(Debug)]
pub struct Workflow {
    pub name: String,
    pub description: Option<String>,
    /// The file it came from, for messages.
    pub file: String,
    /// The JSON Schema of the start request's `data`, as written.
    pub input_schema: Option<Value>,
    validator: Option<jsonschema::Validator>,
    /// The nodes, by id.
    pub nodes: BTreeMap<String, Node>,
    /// Every edge, `depends_on` included (as edges that fire when their source finished).
    pub edges: Vec<Edge>,
}

/// One node.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Action(ActionNode),
    Set(SetNode),
    Approval(ApprovalNode),
    Wait(WaitNode),
}

impl NodeKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeKind::Action(_) => "action",
            NodeKind::Set(_) => "set",
            NodeKind::Approval(_) => "approval",
            NodeKind::Wait(_) => "wait",
        }
    }
}

/// What to do when an action's command fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The run fails.
    #[default]
    Fail,
    /// The node is FAILED and the run goes on along its edges.
    Continue,
}

/// What to do with an action found in flight after a restart (its outcome was not recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInterrupted {
    /// Run the command again (at-least-once: safe for reads and idempotent commands).
    Rerun,
    /// Mark the node FAILED with "outcome unknown", for an operator to check.
    Fail,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionNode {
    pub system: String,
    pub object_type: String,
    pub action: String,
    /// A template over the run's context.
    #[serde(default)]
    pub object_id: Option<String>,
    /// A value whose strings are templates.
    #[serde(default = "empty_object")]
    pub params: Value,
    #[serde(default, deserialize_with = "de_duration")]
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub on_error: OnError,
    /// Default: `rerun` for read and list commands, `fail` for the others.
    #[serde(default)]
    pub on_interrupted: Option<OnInterrupted>,
    /// Filled in by the check: the command's kind (`create`, `read`, …).
    #[serde(skip)]
    pub kind: String,
}

impl ActionNode {
    /// What a restart does with this action when it was in flight.
    pub fn interrupted_policy(&self) -> OnInterrupted {
        self.on_interrupted.unwrap_or(match self.kind.as_str() {
            "read" | "list" => OnInterrupted::Rerun,
            _ => OnInterrupted::Fail,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetNode {
    /// Variable name → expression.
    pub set: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalNode {
    pub approvers: Approvers,
    /// Approvals needed (N of M); at least 1.
    #[serde(default = "one")]
    pub required: u32,
    /// May the person who started the run approve it?
    #[serde(default)]
    pub allow_initiator: bool,
    /// After this the task is EXPIRED.
    #[serde(default, deserialize_with = "de_duration")]
    pub ttl: Option<Duration>,
    /// What the approvers are asked (a template).
    #[serde(default)]
    pub title: Option<String>,
}

/// Who may decide an approval: any one of these.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvers {
    /// Callers' subjects (the token's subject claim).
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Members of this group of the built-in directory (their usernames are matched against
    /// the caller's subject).
    #[serde(default)]
    pub group: Option<String>,
    /// The directory system the group is in.
    #[serde(default = "local_system")]
    pub directory: String,
    /// Holders of this role (`realm_access.roles` or `roles`).
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitNode {
    #[serde(default, deserialize_with = "de_duration")]
    pub duration: Option<Duration>,
    /// A template giving an RFC 3339 time.
    #[serde(default)]
    pub until: Option<String>,
}

/// When an edge fires (besides its condition).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeOn {
    /// The source finished: COMPLETED, or FAILED under `on_error: continue`.
    #[default]
    Finished,
    /// The source's command failed under `on_error: continue`.
    Failed,
    /// The approval was rejected.
    Rejected,
    /// The approval expired.
    Expired,
}

/// An edge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// A minijinja expression over the run's context.
    #[serde(default)]
    pub condition: Option<String>,
    #[serde(default)]
    pub on: EdgeOn,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowFile {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    inputs: Option<Value>,
    nodes: BTreeMap<String, NodeFile>,
    #[serde(default)]
    edges: Vec<Edge>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    #[serde(rename = "type")]
    node_type: String,
    #[serde(default = "empty_object")]
    config: Value,
    #[serde(default)]
    depends_on: Vec<String>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}
fn one() -> u32 {
    1
}
fn local_system() -> String {
    civitas_directory::LOCAL_SYSTEM.to_owned()
}

impl Workflow {
    /// Checks `data` against the input schema: the problems, as (JSON path, message).
    pub fn check_inputs(&self, data: &Value) -> Vec<(Vec<String>, String)> {
        let Some(validator) = &self.validator else {
            return Vec::new();
        };
        validator
            .iter_errors(data)
            .take(50)
            .map(|error| {
                let path = error
                    .instance_path()
                    .as_str()
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.replace("~1", "/").replace("~0", "~"))
                    .collect();
                (path, error.to_string())
            })
            .collect()
    }

    /// The edges into `node`.
    pub fn incoming<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.to == node)
    }
}

/// The workflows of a directory (`*.yaml`, `*.yml`), checked; every problem of every file.
pub fn load_dir(dir: &Path, systems: &Systems) -> Result<Vec<Workflow>, Vec<ConfigError>> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| vec![ConfigError::new(&shown, ".", format!("cannot read: {e}"))])?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    let mut workflows: Vec<Workflow> = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let file = path.display().to_string();
        let text = match read_capped(&path) {
            Ok(text) => text,
            Err(reason) => {
                errors.push(ConfigError::new(&file, ".", reason));
                continue;
            }
        };
        match parse(&file, &text, systems) {
            Ok(workflow) => {
                if let Some(other) = workflows.iter().find(|w| w.name == workflow.name) {
                    errors.push(ConfigError::new(
                        &format!("{file}:{}", Locator::new(&text).key(&["name"])),
                        "name",
                        format!(
                            "workflow '{}' is also defined in {}",
                            workflow.name, other.file
                        ),
                    ));
                } else {
                    workflows.push(workflow);
                }
            }
            Err(mut found) => errors.append(&mut found),
        }
    }
    if errors.is_empty() {
        Ok(workflows)
    } else {
        Err(errors)
    }
}

fn read_capped(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read: {e}"))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(text)
}

/// Parses and checks one workflow file.
pub fn parse(file: &str, text: &str, systems: &Systems) -> Result<Workflow, Vec<ConfigError>> {
    let raw: WorkflowFile = serde_norway::from_str(text).map_err(|e| {
        let mut error = yaml_error(file, &e);
        if let Some(location) = e.location() {
            error.file = format!("{file}:{}", location.line());
        }
        vec![error]
    })?;
    let mut errors = Vec::new();
    let locator = Locator::new(text);
    let at = |path: &[&str]| format!("{file}:{}", locator.key(path));
    let push = |errors: &mut Vec<ConfigError>, path: &[&str], reason: String| {
        errors.push(ConfigError::new(&at(path), path.join("."), reason));
    };
    if !is_name(&raw.name) {
        push(
            &mut errors,
            &["name"],
            "must be 1 to 64 of a-z, 0-9, '-' and '_'".to_owned(),
        );
    }
    if raw.nodes.is_empty() {
        push(
            &mut errors,
            &["nodes"],
            "a workflow needs at least one node".to_owned(),
        );
    }
    if raw.nodes.len() > MAX_NODES {
        push(
            &mut errors,
            &["nodes"],
            format!("at most {MAX_NODES} nodes"),
        );
    }
    let validator = match &raw.inputs {
        None => None,
        Some(schema) => match jsonschema::validator_for(schema) {
            Ok(v) => Some(v),
            Err(e) => {
                push(
                    &mut errors,
                    &["inputs"],
                    format!("not a usable JSON Schema: {e}"),
                );
                None
            }
        },
    };
    let mut nodes = BTreeMap::new();
    let mut edges = Vec::new();
    for (id, node) in &raw.nodes {
        if !is_name(id) {
            push(
                &mut errors,
                &["nodes", id],
                "a node id is 1 to 64 of a-z, 0-9, '-' and '_'".to_owned(),
            );
        }
        let path = ["nodes", id.as_str(), "config"];
        let kind = match parse_kind(&node.node_type, &node.config, systems) {
            Ok(kind) => kind,
            Err(NodeProblem { key, reason }) => {
                let mut full: Vec<&str> = path.to_vec();
                if key == "type" {
                    full = vec!["nodes", id, "type"];
                } else if !key.is_empty() {
                    full.push(&key);
                }
                push(&mut errors, &full, reason);
                continue;
            }
        };
        for dep in &node.depends_on {
            edges.push(Edge {
                from: dep.clone(),
                to: id.clone(),
                condition: None,
                on: EdgeOn::Finished,
            });
        }
        nodes.insert(
            id.clone(),
            Node {
                id: id.clone(),
                kind,
            },
        );
    }
    for (index, edge) in raw.edges.iter().enumerate() {
        let index = index.to_string();
        let path = ["edges", index.as_str()];
        for end in [&edge.from, &edge.to] {
            if !raw.nodes.contains_key(end) {
                push(&mut errors, &path, format!("unknown node '{end}'"));
            }
        }
        if let Some(condition) = &edge.condition
            && let Err(reason) = template::check_expression(condition)
        {
            push(&mut errors, &path, format!("bad condition: {reason}"));
        }
        edges.push(edge.clone());
    }
    // depends_on naming unknown nodes
    for (id, node) in &raw.nodes {
        for dep in &node.depends_on {
            if !raw.nodes.contains_key(dep) {
                push(
                    &mut errors,
                    &["nodes", id, "depends_on"],
                    format!("unknown node '{dep}'"),
                );
            }
        }
    }
    if errors.is_empty() {
        let mut possible = Vec::new();
        for edge in &edges {
            if edge.condition.as_deref().map(str::trim) == Some("false") {
                continue;
            }
            let Some(reason) = impossible_edge(edge, &nodes) else {
                possible.push(edge.clone());
                continue;
            };
            let index = raw
                .edges
                .iter()
                .position(|e| e.from == edge.from && e.to == edge.to)
                .map(|i| i.to_string());
            match &index {
                Some(i) => push(&mut errors, &["edges", i], reason),
                None => push(&mut errors, &["nodes", &edge.to, "depends_on"], reason),
            }
        }
        if let Some(cycle) = find_cycle(&nodes, &edges) {
            push(
                &mut errors,
                &["nodes", &cycle[0]],
                format!("cycle: {}", cycle.join(" → ")),
            );
        } else {
            for id in unreachable(&nodes, &edges, &possible) {
                push(
                    &mut errors,
                    &["nodes", &id],
                    "unreachable: none of the edges into it can ever fire".to_owned(),
                );
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Workflow {
        name: raw.name,
        description: raw.description,
        file: file.to_owned(),
        input_schema: raw.inputs,
        validator,
        nodes,
        edges,
    })
}

struct NodeProblem {
    /// The key under `config` (empty: the config itself; `type`: the node's type).
    key: String,
    reason: String,
}

fn problem(key: &str, reason: impl Into<String>) -> NodeProblem {
    NodeProblem {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

fn parse_kind(node_type: &str, config: &Value, systems: &Systems) -> Result<NodeKind, NodeProblem> {
    fn typed<T: serde::de::DeserializeOwned>(config: &Value) -> Result<T, NodeProblem> {
        serde_json::from_value(config.clone()).map_err(|e| problem("", e.to_string()))
    }
    match node_type {
        "action" => {
            let mut action: ActionNode = typed(config)?;
            let resolved = systems
                .resolve(&action.system, &action.object_type, &action.action)
                .map_err(|e| problem("", e.message()))?;
            action.kind = resolved.spec.kind.as_str().to_owned();
            if let Some(id) = &action.object_id {
                template::check_string(id).map_err(|r| problem("object_id", r))?;
            }
            if !action.params.is_object() {
                return Err(problem("params", "must be a map"));
            }
            template::check_value(&action.params).map_err(|r| problem("params", r))?;
            Ok(NodeKind::Action(action))
        }
        "set" => {
            let set: SetNode = typed(config)?;
            if set.set.is_empty() {
                return Err(problem("set", "names at least one variable"));
            }
            for (name, expression) in &set.set {
                if !is_name(name) {
                    return Err(problem("set", format!("'{name}' is not a variable name")));
                }
                template::check_expression(expression)
                    .map_err(|r| problem("set", format!("{name}: bad expression: {r}")))?;
            }
            Ok(NodeKind::Set(set))
        }
        "approval" => {
            let approval: ApprovalNode = typed(config)?;
            let a = &approval.approvers;
            if a.subjects.is_empty() && a.group.is_none() && a.role.is_none() {
                return Err(problem(
                    "approvers",
                    "name subjects, a group or a role: nobody could approve",
                ));
            }
            if a.group.is_some() {
                match systems.get(&a.directory) {
                    Some(s) if s.config.system_type == "directory" => {}
                    _ => {
                        return Err(problem(
                            "approvers",
                            format!("'{}' is not a directory system", a.directory),
                        ));
                    }
                }
            }
            if approval.required == 0 || approval.required > 100 {
                return Err(problem("required", "must be between 1 and 100"));
            }
            if !a.subjects.is_empty()
                && a.group.is_none()
                && a.role.is_none()
                && approval.required as usize > a.subjects.len()
            {
                return Err(problem(
                    "required",
                    "more approvals required than subjects listed",
                ));
            }
            if let Some(title) = &approval.title {
                template::check_string(title).map_err(|r| problem("title", r))?;
            }
            Ok(NodeKind::Approval(approval))
        }
        "wait" => {
            let wait: WaitNode = typed(config)?;
            match (&wait.duration, &wait.until) {
                (Some(_), None) => {}
                (None, Some(until)) => {
                    template::check_string(until).map_err(|r| problem("until", r))?
                }
                _ => return Err(problem("", "give exactly one of duration and until")),
            }
            Ok(NodeKind::Wait(wait))
        }
        other => Err(problem(
            "type",
            format!("unknown node type '{other}': action, set, approval or wait"),
        )),
    }
}

/// Why an edge can never fire, if it cannot.
fn impossible_edge(edge: &Edge, nodes: &BTreeMap<String, Node>) -> Option<String> {
    let source = nodes.get(&edge.from)?;
    match (edge.on, &source.kind) {
        (EdgeOn::Failed, NodeKind::Action(a)) if a.on_error == OnError::Continue => None,
        (EdgeOn::Failed, _) => Some(format!(
            "on: failed needs '{}' to be an action with on_error: continue",
            edge.from
        )),
        (EdgeOn::Rejected, NodeKind::Approval(_)) => None,
        (EdgeOn::Expired, NodeKind::Approval(a)) if a.ttl.is_some() => None,
        (EdgeOn::Rejected | EdgeOn::Expired, _) => Some(
            format!(
                "on: {:?} needs '{}' to be an approval{}",
                edge.on,
                edge.from,
                if edge.on == EdgeOn::Expired {
                    " with a ttl"
                } else {
                    ""
                }
            )
            .to_lowercase(),
        ),
        (EdgeOn::Finished, _) => None,
    }
}

/// A cycle, if the graph has one (its nodes in order, the first repeated at the end).
fn find_cycle(nodes: &BTreeMap<String, Node>, edges: &[Edge]) -> Option<Vec<String>> {
    // Kahn's algorithm; what is left over lies on or behind a cycle.
    let mut indegree: BTreeMap<&str, usize> = nodes.keys().map(|k| (k.as_str(), 0)).collect();
    for edge in edges {
        *indegree.entry(edge.to.as_str()).or_default() += 1;
    }
    let mut queue: VecDeque<&str> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(k, _)| *k)
        .collect();
    while let Some(node) = queue.pop_front() {
        for edge in edges.iter().filter(|e| e.from == node) {
            let d = indegree.entry(edge.to.as_str()).or_default();
            *d -= 1;
            if *d == 0 {
                queue.push_back(&edge.to);
            }
        }
    }
    let left: BTreeSet<&str> = indegree
        .iter()
        .filter(|(_, d)| **d > 0)
        .map(|(k, _)| *k)
        .collect();
    let start = *left.iter().next()?;
    // Walk backwards along edges inside `left` until a node repeats.
    let mut path = vec![start];
    let mut current = start;
    loop {
        let previous = edges
            .iter()
            .find(|e| e.to == current && left.contains(e.from.as_str()))?
            .from
            .as_str();
        if let Some(at) = path.iter().position(|n| *n == previous) {
            let mut cycle: Vec<String> = path[at..].iter().rev().map(|s| s.to_string()).collect();
            cycle.push(cycle[0].clone());
            return Some(cycle);
        }
        path.push(previous);
        current = previous;
    }
}

/// Nodes no root reaches along `possible` edges (those that can fire: not impossible, not
/// `condition: false`); a root is a node with no edges in at all (`all`).
fn unreachable(nodes: &BTreeMap<String, Node>, all: &[Edge], possible: &[Edge]) -> Vec<String> {
    let mut reached: BTreeSet<&str> = nodes
        .keys()
        .filter(|id| !all.iter().any(|e| &e.to == *id))
        .map(String::as_str)
        .collect();
    let mut changed = true;
    while changed {
        changed = false;
        for edge in possible {
            if reached.contains(edge.from.as_str()) && reached.insert(edge.to.as_str()) {
                changed = true;
            }
        }
    }
    nodes
        .keys()
        .filter(|id| !reached.contains(id.as_str()))
        .cloned()
        .collect()
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A timeout, wait or ttl: a number of seconds, or the configuration files' one duration
/// grammar (`civitas_config::duration`: `500ms`, `30s`, `5m`, `2h`, `1d`, `1w`); a year at
/// most (a deadline is stored in milliseconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => civitas_config::duration::parse(text)?,
    };
    (duration <= Duration::from_secs(366 * 86_400)).then_some(duration)
}

fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let value = Value::deserialize(d)?;
    let text = match &value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => return Ok(None),
        _ => {
            return Err(serde::de::Error::custom(
                "a duration like 30s, 5m, 2h or 1d",
            ));
        }
    };
    parse_duration(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "'{text}' is not a duration like 30s, 5m, 2h or 1d (at most a year)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{problems, workflow};

    #[test]
    fn the_shipped_onboarding_workflow_loads_with_its_five_nodes() {
        let wf = workflow(include_str!("../../../config/workflows/onboarding.yaml"));
        assert_eq!(wf.name, "onboarding");
        assert_eq!(wf.nodes.len(), 5);
        assert!(matches!(wf.nodes["approve"].kind, NodeKind::Approval(_)));
    }

    #[test]
    fn a_cycle_is_refused_and_named_node_by_node() {
        let found = problems(
            r#"
name: loop
nodes:
  a: {type: action, depends_on: [b], config: {system: local, object_type: user, action: read, object_id: x}}
  b: {type: action, depends_on: [a], config: {system: local, object_type: user, action: read, object_id: x}}
"#,
        );
        assert!(found.iter().any(|p| p.contains("cycle: ")), "{found:?}");
    }

    #[test]
    fn an_action_of_a_system_that_is_not_configured_is_refused() {
        let found = problems(
            r#"
name: elsewhere
nodes:
  a: {type: action, config: {system: nowhere, object_type: user, action: read, object_id: x}}
"#,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("nowhere"), "{found:?}");
    }

    #[test]
    fn a_dependency_on_an_unknown_node_is_refused() {
        let found = problems(
            r#"
name: dangling
nodes:
  a: {type: action, depends_on: [ghost], config: {system: local, object_type: user, action: read, object_id: x}}
"#,
        );
        assert!(
            found.iter().any(|p| p.contains("unknown node 'ghost'")),
            "{found:?}"
        );
    }

    #[test]
    fn durations_are_seconds_or_a_number_and_a_unit_up_to_a_year() {
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("3d"), Some(Duration::from_secs(3 * 86_400)));
        assert_eq!(parse_duration("367d"), None);
        assert_eq!(parse_duration("2w"), Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_duration("1y"), None);
        assert_eq!(parse_duration("-1s"), None);
    }
}
