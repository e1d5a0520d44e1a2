//! Serving the app over HTTP/1.1 with hyper, for what `axum::serve` does not offer:
//!
//! - a header read timeout ([`CrudSettings::header_read_timeout`](crate::CrudSettings)): a
//!   client that trickles its headers is disconnected instead of holding a connection;
//! - graceful shutdown that [`Running::stop_within`] stops waiting for at a deadline, so a
//!   slow client cannot hold up the flush of the events after it;
//! - an accept loop that backs off when `accept` fails (out of file descriptors) instead of
//!   spinning a core.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::App;

/// Longest pause after failed `accept`s in a row (it doubles from 10 ms).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the requests in
/// flight (graceful shutdown). The caller flushes the publisher afterwards.
pub async fn serve<F>(listener: TcpListener, app: App, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let upkeep = spawn_upkeep(&app);
    let snapshots = app
        .metrics_interval
        .map(|every| spawn_snapshots(&app, every));
    // The workflow scheduler: runs whose instance stopped, timers that are due.
    let scheduler = app
        .workflows
        .is_some()
        .then(|| tokio::spawn(civitas_workflow::engine::schedule(app.clone())));
    let router = app.router();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => {
                backoff = Duration::ZERO;
                stream
            }
            Err(error) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
                tracing::warn!(%error, pause_ms = backoff.as_millis() as u64,
                    "could not accept a connection; pausing");
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    upkeep.abort();
    if let Some(snapshots) = snapshots {
        snapshots.abort();
        // The last window, up to the shutdown.
        app.publish_metrics().await;
    }
    if let Some(scheduler) = scheduler {
        scheduler.abort();
    }
    Ok(())
}

fn spawn_upkeep(app: &App) -> JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            app.metrics.upkeep();
            if let Some(caller_auth) = &app.caller_auth {
                caller_auth.refresh_if_stale().await;
            }
        }
    })
}

/// Publishes the `crud.metrics` snapshots every `every`.
fn spawn_snapshots(app: &App, every: Duration) -> JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            app.publish_metrics().await;
        }
    })
}

/// An app serving in the background (tests, benchmarks).
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub app: App,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Binds `addr` (port 0 for any) and serves `app` there.
    pub async fn start(app: App, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app.clone(), async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            app,
            stop: Some(stop),
            task,
        })
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes the requests in flight, and returns.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Like [`stop`](Self::stop), but waits for the requests in flight at most `deadline`
    /// (`TimedOut` then): the caller goes on to flush the events, and connections still open
    /// end with the process (each is bounded by the header and body read timeouts anyway).
    pub async fn stop_within(mut self, deadline: Duration) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(deadline, &mut self.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(std::io::Error::other(e)),
            Err(_) => {
                self.task.abort();
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "requests still in flight after {} s were cut off",
                        deadline.as_secs()
                    ),
                ))
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
