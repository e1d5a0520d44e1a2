//! Who may start, read, cancel and decide.
//!
//! - Start: under an authorization policy, the caller must be allowed every action command
//!   of the workflow (the commands then run with the starter's claims, and each is checked
//!   again when it runs). Without a policy, every (authenticated) caller may.
//! - Read and cancel: whoever may start the workflow, its starter, and (read) its approvers.
//! - Decide: an approver of the task — a listed subject (`sub`), a holder of the role, or a
//!   member of the directory group (the directory username is the caller's subject claim);
//!   the starter only when the node allows it. Without caller authentication there is no
//!   identity to check and anyone may decide: the start-up log and every task say so.

use civitas_events::UserContext;

use super::definition::{ApprovalNode, NodeKind, Workflow};
use super::error::WorkflowError;
use super::host::Host;
use super::run::Run;
use civitas_auth::authz::{Grants, Target};
use civitas_command::config::Kind;

/// The caller of a workflow route.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub grants: Option<&'a Grants>,
    pub user: Option<&'a UserContext>,
}

impl Who<'_> {
    /// The caller's subject (the configured subject claim).
    pub fn subject(&self) -> Option<&str> {
        self.user.and_then(|u| u.subject.as_deref())
    }

    /// Whether the caller started the run: the same `sub` (unique at the issuer), or, for a
    /// token without one, the same subject claim.
    fn is_starter(&self, run: &Run) -> bool {
        let starter = run.user_context.as_ref();
        match (
            self.user.and_then(|u| u.unique_id.as_deref()),
            starter.and_then(|u| u.unique_id.as_deref()),
        ) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => run.started_by.is_some() && self.subject() == run.started_by.as_deref(),
        }
    }
}

/// Whether the policy lets the caller run every action of `workflow`.
pub fn may_start(app: &impl Host, workflow: &Workflow, who: Who<'_>) -> Result<(), WorkflowError> {
    let Some(policy) = app.policy() else {
        return Ok(());
    };
    for node in workflow.nodes.values() {
        let NodeKind::Action(action) = &node.kind else {
            continue;
        };
        let Some(kind) = Kind::from_name(&action.kind) else {
            return Err(WorkflowError::Forbidden(format!(
                "node '{}' runs a command of unknown kind '{}'",
                node.id, action.kind
            )));
        };
        let target = Target {
            system: &action.system,
            object_type: &action.object_type,
            action: &action.action,
            kind,
        };
        policy.check(who.grants, &target).map_err(|denied| {
            WorkflowError::Forbidden(format!(
                "workflow '{}' runs a command you may not run (node '{}'): {denied}",
                workflow.name, node.id
            ))
        })?;
    }
    Ok(())
}

/// Whether the caller may see the run.
pub async fn may_read(app: &impl Host, workflow: &Workflow, run: &Run, who: Who<'_>) -> bool {
    if app.policy().is_none() || who.is_starter(run) || may_start(app, workflow, who).is_ok() {
        return true;
    }
    for (id, node) in &workflow.nodes {
        if let NodeKind::Approval(approval) = &node.kind
            && run.nodes.get(id).is_some_and(|n| n.approval.is_some())
            && is_approver(app, approval, who).await
        {
            return true;
        }
    }
    false
}

/// Whether the caller may cancel the run.
pub fn may_cancel(
    app: &impl Host,
    workflow: &Workflow,
    run: &Run,
    who: Who<'_>,
) -> Result<(), WorkflowError> {
    if who.is_starter(run) {
        return Ok(());
    }
    may_start(app, workflow, who)
}

/// Whether the caller is one of the approvers (ignoring the initiator rule).
pub async fn is_approver(app: &impl Host, approval: &ApprovalNode, who: Who<'_>) -> bool {
    if !app.authenticates_callers() {
        return true;
    }
    let approvers = &approval.approvers;
    if let Some(grants) = who.grants {
        if approvers
            .subjects
            .iter()
            .any(|s| grants.subjects.contains(s))
        {
            return true;
        }
        if approvers
            .role
            .as_ref()
            .is_some_and(|r| grants.roles.contains(r))
        {
            return true;
        }
    }
    if let (Some(group), Some(subject), Some(store)) =
        (&approvers.group, who.subject(), app.directory())
    {
        match store.group(&approvers.directory, group).await {
            Ok(group) => return group.members.iter().any(|m| m == subject),
            Err(error) => {
                tracing::warn!(%error, group = %group, "could not read an approver group");
            }
        }
    }
    false
}

/// Whether the caller may decide the approval node `node_id` of `run`.
pub async fn may_decide(
    app: &impl Host,
    workflow: &Workflow,
    run: &Run,
    node_id: &str,
    who: Who<'_>,
) -> Result<(), WorkflowError> {
    let Some(NodeKind::Approval(approval)) = workflow.nodes.get(node_id).map(|n| &n.kind) else {
        return Err(WorkflowError::NotFound("no such task".to_owned()));
    };
    if !app.authenticates_callers() {
        return Ok(());
    }
    if who.is_starter(run) && !approval.allow_initiator {
        return Err(WorkflowError::Forbidden(
            "you started this run, and this approval does not let its initiator decide".to_owned(),
        ));
    }
    if is_approver(app, approval, who).await {
        Ok(())
    } else {
        Err(WorkflowError::Forbidden(format!(
            "you are not an approver of this task ({})",
            describe(approval)
        )))
    }
}

fn describe(approval: &ApprovalNode) -> String {
    let a = &approval.approvers;
    let mut parts = Vec::new();
    if !a.subjects.is_empty() {
        parts.push(format!("{} listed subject(s)", a.subjects.len()));
    }
    if let Some(group) = &a.group {
        parts.push(format!("members of group '{group}' of '{}'", a.directory));
    }
    if let Some(role) = &a.role {
        parts.push(format!("holders of role '{role}'"));
    }
    parts.join(", or ")
}
