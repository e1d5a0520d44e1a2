//! Logging: JSON lines for services, compact text for one-shot commands; `RUST_LOG` filters.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Logs go to stderr so stdout stays pipeable.
pub fn init(service: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(if service { "info,rdkafka=warn" } else { "warn" }));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if service && std::env::var_os("CIVITAS_LOG_TEXT").is_none() {
        builder.json().flatten_event(true).init();
    } else {
        builder.compact().init();
    }
}
