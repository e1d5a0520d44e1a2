//! Logs and traces of civitas.
//!
//! - [`init`]: the process's tracing subscriber — JSON lines (services) or compact text
//!   (one-shot commands) on stderr, filtered by `RUST_LOG` — and, when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, an
//!   OpenTelemetry layer that exports every span over OTLP/HTTP (`OTEL_EXPORTER_OTLP_PROTOCOL`
//!   `http/protobuf`, the default, or `http/json`), named by `OTEL_SERVICE_NAME`.
//! - [`event_trace`]: the W3C trace context an event carries. With export on it is the
//!   current span's, so the `trace_id`/`span_id` in an event are those of an exported span;
//!   with export off, a child of the caller's `traceparent` or a new root, as before.
//! - [`continue_trace`]: makes a span the child of a `traceparent` that arrived over HTTP or
//!   in a Kafka header, so a request and the saga's hops are one trace.
//!
//! The crates below the binary only create `tracing` spans and call these functions; which
//! subscriber collects them is the binary's choice.

use std::env;

use civitas_events::TraceContext;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The standard variables that switch export on.
const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// The installed telemetry; dropping it flushes the spans not yet exported.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(Err(error)) = self.provider.take().map(|p| p.shutdown()) {
            eprintln!("civitas: could not flush the last spans: {error}");
        }
    }
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "OTEL_EXPORTER_OTLP_PROTOCOL is {0:?}; civitas exports over http/protobuf or http/json"
    )]
    Protocol(String),
    #[error("could not build the OTLP exporter")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Installs the global subscriber. `service`: a long-running service (JSON logs, `info`)
/// rather than a one-shot command (text, `warn`); `service_name`: the OpenTelemetry service
/// name unless `OTEL_SERVICE_NAME` says otherwise.
pub fn init(service: bool, service_name: &str) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(if service { "info,rdkafka=warn" } else { "warn" }));
    let provider = if ENDPOINT_VARS.iter().any(|v| env::var_os(v).is_some()) {
        Some(provider(service_name)?)
    } else {
        None
    };
    // RUST_LOG filters the logs only: the exported spans are civitas's own (and the HTTP
    // layer's) at INFO and above, whatever the log level of a one-shot command.
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("civitas"))
            .with_filter(filter_fn(|meta| {
                meta.level() <= &tracing::Level::INFO
                    && (meta.target().starts_with("civitas")
                        || meta.target().starts_with("tower_http"))
            }))
    });
    let json = service && env::var_os("CIVITAS_LOG_TEXT").is_none();
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(otel);
    if json {
        registry
            .with(fmt.json().flatten_event(true).with_filter(filter))
            .init();
    } else {
        registry.with(fmt.compact().with_filter(filter)).init();
    }
    Ok(Telemetry { provider })
}

/// A tracer provider exporting in batches (its own thread) to the OTLP endpoint of the
/// standard variables.
fn provider(service_name: &str) -> Result<SdkTracerProvider, TelemetryError> {
    let protocol = match env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .as_deref()
    {
        Err(_) | Ok("http/protobuf") => Protocol::HttpBinary,
        Ok("http/json") => Protocol::HttpJson,
        Ok(other) => return Err(TelemetryError::Protocol(other.to_owned())),
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()?;
    let mut resource = Resource::builder();
    if env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service_name.to_owned());
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// The exported context of `span`, when spans are exported and it has one.
pub fn trace_of(span: &tracing::Span) -> Option<TraceContext> {
    let context = span.context();
    let otel = context.span();
    let sc = otel.span_context();
    if !sc.is_valid() {
        return None;
    }
    Some(TraceContext {
        trace_id: sc.trace_id().to_string(),
        span_id: sc.span_id().to_string(),
        flags: sc.trace_flags().to_u8(),
    })
}

/// Makes `span` a child of the W3C `traceparent` (checked; an invalid one is ignored).
/// Without export this changes nothing.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    let Some(parent) = TraceContext::parse(traceparent) else {
        return;
    };
    let (Ok(trace_id), Ok(span_id)) = (
        TraceId::from_hex(&parent.trace_id),
        SpanId::from_hex(&parent.span_id),
    ) else {
        return;
    };
    let remote = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(parent.flags),
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

/// The trace an event of the current work carries: the current span's when spans are
/// exported; else a child of the caller's `traceparent` (if valid); else a new root.
pub fn event_trace(traceparent: Option<&str>) -> TraceContext {
    trace_of(&tracing::Span::current()).unwrap_or_else(|| {
        traceparent
            .and_then(TraceContext::parse)
            .map(|caller| caller.child())
            .unwrap_or_else(TraceContext::new_root)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn without_export_an_event_is_a_child_of_the_caller_or_a_new_root() {
        let child = event_trace(Some(CALLER));
        assert_eq!(child.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(child.span_id, "00f067aa0ba902b7");
        let root = event_trace(Some("not a traceparent"));
        assert_ne!(root.trace_id, child.trace_id);
    }

    #[test]
    fn with_export_an_event_carries_the_exported_span_which_continues_the_callers_trace() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let trace = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("http.request");
            continue_trace(&span, CALLER);
            let _entered = span.enter();
            event_trace(None)
        });
        provider.force_flush().unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1);
        let exported = &spans[0];
        assert_eq!(trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(exported.span_context.trace_id().to_string(), trace.trace_id);
        assert_eq!(exported.span_context.span_id().to_string(), trace.span_id);
        assert_eq!(exported.parent_span_id.to_string(), "00f067aa0ba902b7");
    }
}
