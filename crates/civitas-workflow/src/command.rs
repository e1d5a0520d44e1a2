//! One action node's command: rendered from the run's context and run through the host's
//! executor, with the run's id as the correlation id and the starter's claims as grants.

use civitas_events::TraceContext;
use civitas_kafka::EventContext;
use serde_json::{Map, Value};

use super::definition::NodeKind;
use super::host::Host;
use super::run::Run;
use super::workflows::Workflows;
use civitas_command::executor::Invocation;
use civitas_command::request::ExecuteRequest;
use civitas_command::template;

/// A command in flight: its node and outcome.
pub(crate) type Finished = (
    String,
    Result<(Value, Option<String>), String>,
    Option<String>,
);

/// Runs one action node's command through the executor.
pub(crate) async fn run_action<H: Host>(app: H, run: Run, node_id: String) -> Finished {
    let outcome = async {
        let engine: &Workflows = app
            .workflows()
            .ok_or("no workflows are configured (--workflows)")?;
        let workflow = engine
            .definition(&run.workflow_name)
            .ok_or("the workflow is no longer configured")?;
        let Some(NodeKind::Action(action)) = workflow.nodes.get(&node_id).map(|n| &n.kind) else {
            return Err("not an action node".to_owned());
        };
        let ctx = template::context(&run.context());
        let object_id = match &action.object_id {
            Some(t) => Some(
                engine
                    .templates
                    .render_string("object_id", t, &ctx)
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let params = match engine
            .templates
            .render_value("params", &action.params, &ctx)
            .map_err(|e| e.to_string())?
        {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let command = ExecuteRequest {
            system: action.system.clone(),
            object_type: action.object_type.clone(),
            action: action.action.clone(),
            params,
            object_id: object_id.filter(|id| !id.is_empty()),
        };
        let trace = run
            .traceparent
            .as_deref()
            .and_then(TraceContext::parse)
            .map(|t| t.child())
            .unwrap_or_else(TraceContext::new_root);
        let context = EventContext {
            correlation_id: Some(run.id.clone()),
            trace: Some(trace),
            user_context: run.user_context.clone(),
        };
        let executor = app.executor();
        let execute = executor.execute(
            command,
            Invocation {
                grants: run.grants.as_ref(),
                context: &context,
            },
        );
        let outcome = match action.timeout {
            Some(limit) => match tokio::time::timeout(limit, execute).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(format!(
                        "timed out after {} s; the command's outcome is unknown",
                        limit.as_secs()
                    ));
                }
            },
            None => execute.await,
        };
        Ok(outcome.result)
    }
    .await;
    match outcome {
        Ok(Ok(executed)) => (
            node_id,
            Ok((executed.result, executed.object_id)),
            executed.event_id,
        ),
        Ok(Err(error)) => {
            let mut text = app.failure_text(&error);
            app.masker().mask_text_in_place(&mut text);
            (node_id, Err(text), None)
        }
        Err(error) => (node_id, Err(error), None),
    }
}
