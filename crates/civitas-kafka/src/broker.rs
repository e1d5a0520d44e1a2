//! The embedded broker: librdkafka's mock cluster, a Kafka-protocol broker inside this
//! process (docs/architecture.md, "The broker"). It keeps everything in memory and does not implement the admin
//! API, so topics are created through the mock's own call.
//!
//! The mock listens on random loopback ports. To offer a fixed address (`127.0.0.1:9092`, so
//! `kcat -b 127.0.0.1:9092` works) each mock broker gets a small TCP forwarder on
//! `port + i`, and the broker advertises that address in its metadata, so clients never see
//! the random port.

use std::net::SocketAddr;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, DefaultProducerContext, Producer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::error::KafkaError;
use crate::settings::{EMBEDDED_FETCH_WAIT_MS, KafkaSettings};

/// The mock keeps at most this many records per partition and evicts the oldest beyond it
/// (librdkafka's `rdkafka_mock.c`, not configurable).
pub const EVICTION_RECORDS: u64 = 100_000;
/// … or this many bytes per partition, whichever comes first.
pub const EVICTION_BYTES: u64 = 5_000_000;
/// About how many CRUD events of the seed's size (about 210 bytes on the broker each)
/// fit under [`EVICTION_BYTES`]: measured, partition 0 of `crud.operations` began at offset
/// 11 557 after 200 000 `emit` events over three partitions.
pub const EVICTION_CRUD_EVENTS: u64 = 24_000;

/// A running in-process broker. Dropping it stops the broker and its forwarders.
pub struct EmbeddedBroker {
    /// Owns the mock cluster (created through `test.mock.num.brokers`).
    handle: BaseProducer,
    bootstrap: String,
    forwarders: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("bootstrap", &self.bootstrap)
            .field("forwarders", &self.forwarders.len())
            .finish()
    }
}

impl EmbeddedBroker {
    /// Starts `brokers` mock brokers. With `listen` port 0 clients talk to the mock's own
    /// random ports (tests); otherwise broker `i` is reachable at `listen.port() + i`.
    pub async fn start(listen: SocketAddr, brokers: i32) -> Result<Self, KafkaError> {
        let handle: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", brokers.to_string())
            .set("log_level", "3")
            .create()
            .map_err(|e| KafkaError::StartBroker(e.into()))?;
        let internal = handle
            .client()
            .mock_cluster()
            .ok_or_else(|| {
                KafkaError::StartBroker(Box::new(rdkafka::error::KafkaError::MockCluster(
                    rdkafka::types::RDKafkaErrorCode::Fail,
                )))
            })?
            .bootstrap_servers();
        if listen.port() == 0 {
            return Ok(Self {
                handle,
                bootstrap: internal,
                forwarders: Vec::new(),
            });
        }

        let advertised_host = if listen.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            listen.ip().to_string()
        };
        let mut forwarders = Vec::new();
        let mut bootstrap = Vec::new();
        for (index, target) in internal.split(',').enumerate() {
            let addr = SocketAddr::new(listen.ip(), listen.port() + index as u16);
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| KafkaError::Listen {
                    addr: addr.to_string(),
                    source,
                })?;
            let port = listener
                .local_addr()
                .map(|a| a.port())
                .unwrap_or(addr.port());
            advertise(&handle, index as i32 + 1, &advertised_host, port);
            bootstrap.push(format!("{advertised_host}:{port}"));
            forwarders.push(tokio::spawn(forward(listener, target.to_owned())));
        }
        Ok(Self {
            handle,
            bootstrap: bootstrap.join(","),
            forwarders,
        })
    }

    /// The `bootstrap.servers` string clients should use.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Client settings for this broker: its address and its short fetch wait (it answers a
    /// fetch only when the wait is over, [`EMBEDDED_FETCH_WAIT_MS`]).
    pub fn settings(&self) -> KafkaSettings {
        KafkaSettings::new(&self.bootstrap).with_fetch_wait_ms(EMBEDDED_FETCH_WAIT_MS)
    }

    /// Creates a topic (replication factor 1: the mock's brokers share one memory). An
    /// existing topic is left as it is.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), KafkaError> {
        match self.mock().create_topic(name, partitions, 1) {
            Ok(()) => Ok(()),
            Err(rdkafka::error::KafkaError::MockCluster(
                rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
            )) => Ok(()),
            Err(source) => Err(KafkaError::CreateTopic {
                topic: name.to_owned(),
                source: source.into(),
            }),
        }
    }

    /// Creates every topic of a catalog with the catalog's partition count, at most
    /// `max_partitions` (the mock keeps everything in memory, so a laptop run stays small).
    /// Configs (retention, cleanup) do not apply: the mock has none. Returns how many.
    pub fn provision(
        &self,
        topics: &[civitas_topics::TopicSpec],
        max_partitions: i32,
    ) -> Result<usize, KafkaError> {
        let cap = max_partitions.max(1);
        for t in topics {
            let partitions = i32::try_from(t.settings.partitions)
                .unwrap_or(i32::MAX)
                .min(cap);
            self.create_topic(&t.name.to_string(), partitions)?;
        }
        Ok(topics.len())
    }

    /// Fault injection: broker `id` (1-based) stops answering until [`broker_up`](Self::broker_up).
    pub fn broker_down(&self, id: i32) -> Result<(), KafkaError> {
        self.mock()
            .broker_down(id)
            .map_err(|e| KafkaError::Mock(e.into()))
    }

    /// Fault injection: brings broker `id` back.
    pub fn broker_up(&self, id: i32) -> Result<(), KafkaError> {
        self.mock()
            .broker_up(id)
            .map_err(|e| KafkaError::Mock(e.into()))
    }

    /// The mock cluster, for fault injection beyond the helpers above.
    pub fn mock(&self) -> MockCluster<'_, DefaultProducerContext> {
        self.handle
            .client()
            .mock_cluster()
            .expect("the handle was created with test.mock.num.brokers, so it owns a mock cluster")
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        for forwarder in &self.forwarders {
            forwarder.abort();
        }
    }
}

/// Makes mock broker `id` advertise `host:port` in its metadata.
///
/// rdkafka's safe `MockCluster` does not wrap `rd_kafka_mock_broker_set_host_port`, so this
/// is the one place that calls librdkafka directly.
#[allow(unsafe_code)]
fn advertise(handle: &BaseProducer, id: i32, host: &str, port: u16) {
    let Ok(host) = std::ffi::CString::new(host) else {
        return;
    };
    // SAFETY: `handle` is a live client created with `test.mock.num.brokers`, so
    // `rd_kafka_handle_mock_cluster` returns its live mock cluster (or null, checked); the
    // cluster outlives this call because `handle` does. The function copies `host` into the
    // broker under the cluster's lock, so the CString may be freed afterwards.
    unsafe {
        let cluster = rdkafka::bindings::rd_kafka_handle_mock_cluster(handle.client().native_ptr());
        if !cluster.is_null() {
            rdkafka::bindings::rd_kafka_mock_broker_set_host_port(
                cluster,
                id,
                host.as_ptr(),
                i32::from(port),
            );
        }
    }
}

/// Accepts connections on `listener` and pipes each to `target`.
/// A failed `accept` (out of file descriptors) pauses the loop, doubling from 10 ms up to
/// a second, instead of retrying at once and spinning a core.
async fn forward(listener: TcpListener, target: String) {
    let mut backoff = Duration::ZERO;
    loop {
        let mut inbound = match listener.accept().await {
            Ok((inbound, _)) => {
                backoff = Duration::ZERO;
                inbound
            }
            Err(error) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                tracing::warn!(%error, pause_ms = backoff.as_millis() as u64,
                    "embedded broker forwarder could not accept a connection; pausing");
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let target = target.clone();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(&target).await else {
                tracing::warn!(%target, "embedded broker not reachable behind the forwarder");
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
    }
}
