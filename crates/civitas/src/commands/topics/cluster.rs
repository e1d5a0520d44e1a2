//! What talks to a cluster: `civitas topics plan|apply`, and the topics `civitas up` creates
//! on its embedded broker or finds missing on a cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use civitas_kafka::admin::{Admin, Applied};
use civitas_kafka::{EmbeddedBroker, KafkaSettings};
use civitas_topics::{Family, Plan, TopicSpec, plan};

use super::{CatalogArgs, NamingArgs, emit};
use crate::commands::shared::parse_kafka_options;

/// The cluster `plan` and `apply` talk to.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Bootstrap servers of the cluster. It must implement the admin API (the embedded broker
    /// of `civitas up` does not; `up` provisions it itself).
    #[arg(
        long = "kafka",
        env = "KAFKA_BOOTSTRAP_SERVERS",
        value_name = "HOST:PORT"
    )]
    pub bootstrap: String,
    /// A raw librdkafka option, KEY=VALUE (repeatable), e.g. security.protocol=SASL_SSL.
    #[arg(
        long = "kafka-option",
        value_name = "KEY=VALUE",
        env = "KAFKA_OPTIONS",
        value_delimiter = ','
    )]
    pub options: Vec<String>,
    /// Also delete topics inside the catalog's namespaces that the catalog does not name.
    #[arg(long, env = "CIVITAS_ALLOW_DELETE")]
    pub allow_delete: bool,
    /// Give every topic this replication factor (and at most this min.insync.replicas)
    /// instead of the catalog's: for development clusters with fewer brokers.
    #[arg(long, env = "CIVITAS_REPLICAS", value_parser = clap::value_parser!(u16).range(1..))]
    pub replicas: Option<u16>,
}

impl ClusterArgs {
    fn settings(&self) -> anyhow::Result<KafkaSettings> {
        let options = parse_kafka_options(&self.options)?;
        Ok(KafkaSettings::new(&self.bootstrap).with_client_options(options))
    }
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub catalog: CatalogArgs,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Apply without asking (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub catalog: CatalogArgs,
}

/// What `plan` and `apply` compare: the catalog's topics, the cluster's, and the diff.
struct Compared {
    desired: Vec<TopicSpec>,
    plan: Plan,
    admin: Admin,
    bootstrap: String,
    header: String,
}

async fn compare(cluster: &ClusterArgs, catalog: &CatalogArgs) -> anyhow::Result<Compared> {
    let mut desired = catalog.load()?.topics();
    if let Some(replicas) = cluster.replicas {
        civitas_topics::override_replicas(&mut desired, replicas);
    }
    let settings = cluster.settings()?;
    let admin = Admin::connect(&settings)?;
    let existing = admin.describe().await?;
    let mut plan = plan(&desired, &existing, cluster.allow_delete);
    let brokers = admin.broker_count()?;
    civitas_topics::check_brokers(&mut plan, brokers);
    let header = format!(
        "{} catalog topic(s) compared with {} ({} topic(s), {brokers} broker(s) there){}.\n\n",
        desired.len(),
        cluster.bootstrap,
        existing.len(),
        cluster
            .replicas
            .map(|r| format!("; replicas set to {r} by --replicas"))
            .unwrap_or_default()
    );
    Ok(Compared {
        desired,
        plan,
        admin,
        bootstrap: cluster.bootstrap.clone(),
        header,
    })
}

pub(super) async fn run_plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let c = compare(&args.cluster, &args.catalog).await?;
    emit(&format!("{}{}", c.header, c.plan))?;
    Ok(if c.plan.has_problems() {
        ExitCode::from(1)
    } else if c.plan.is_noop() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

pub(super) async fn run_apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;
    let c = compare(&args.cluster, &args.catalog).await?;
    emit(&format!("{}{}", c.header, c.plan))?;
    let problems = c.plan.has_problems();
    let changes = c.plan.changes().count();
    if changes == 0 {
        return Ok(ExitCode::from(u8::from(problems)));
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "nothing applied to {}: confirm in a terminal, or pass --yes",
                c.bootstrap
            );
        }
        emit(&format!(
            "\nApply {changes} change(s) to {}? [y/N] ",
            c.bootstrap
        ))?;
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .context("reading the answer")?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            emit("Nothing applied.\n")?;
            return Ok(ExitCode::from(1));
        }
    }
    let outcomes = c.admin.apply(&c.plan, &c.desired).await;
    let mut out = String::from("\n");
    let mut failed = 0;
    for Applied { action, error } in &outcomes {
        let what = action.to_string();
        let what = what.lines().next().unwrap_or_default();
        match error {
            None => out.push_str(&format!("done    {what}\n")),
            Some(reason) => {
                failed += 1;
                out.push_str(&format!("FAILED  {what}: {reason}\n"));
            }
        }
    }
    out.push_str(&format!(
        "\nApplied to {}: {} done, {failed} failed",
        c.bootstrap,
        outcomes.len() - failed
    ));
    if problems {
        let n = c.plan.actions.iter().filter(|a| a.is_problem()).count();
        out.push_str(&format!("; {n} problem(s) not applied (see `!` above)"));
    }
    out.push_str(".\n");
    emit(&out)?;
    Ok(ExitCode::from(u8::from(failed > 0 || problems)))
}

/// The catalog `civitas up` provisions: the shipped one, the operator's extensions, the CRUD
/// topics under the service's prefix (`KAFKA_TOPIC_PREFIX`).
fn up_catalog(extensions: &[PathBuf], crud_prefix: &str) -> anyhow::Result<Vec<TopicSpec>> {
    let args = CatalogArgs {
        catalogs: extensions.to_vec(),
        naming: NamingArgs {
            crud_prefix: Some(crud_prefix.to_owned()),
            platform_prefix: None,
            customer_domain: None,
        },
    };
    Ok(args.load()?.topics())
}

/// `civitas up` with the embedded broker: creates every catalog topic with the catalog's
/// partition count, at most `max_partitions` (`--partitions`; the mock keeps everything in
/// memory, so a laptop run stays small), replication 1 (the mock's brokers share one memory),
/// and prints how many. Configs (retention, cleanup) do not apply: the mock has none.
pub fn provision_embedded(
    broker: &EmbeddedBroker,
    extensions: &[PathBuf],
    crud_prefix: &str,
    max_partitions: i32,
) -> anyhow::Result<usize> {
    let topics = up_catalog(extensions, crud_prefix)?;
    broker.provision(&topics, max_partitions)?;
    let cap = max_partitions.max(1);
    let per_family: Vec<String> = Family::ALL
        .iter()
        .map(|f| {
            let n = topics.iter().filter(|t| t.family() == *f).count();
            format!("{n} {}", f.id())
        })
        .collect();
    println!(
        "civitas: created {} catalog topics on the embedded broker ({}); partitions as in the \
         catalog, at most {cap} (--partitions); `civitas topics list` names them",
        topics.len(),
        per_family.join(", ")
    );
    Ok(topics.len())
}

/// `civitas up --kafka`: creates nothing, but says in one line when catalog topics are
/// missing on the cluster (or that it could not look).
pub async fn hint_missing_topics(
    settings: &KafkaSettings,
    extensions: &[PathBuf],
    crud_prefix: &str,
) {
    let bootstrap = settings.bootstrap_servers.clone();
    let topics = match up_catalog(extensions, crud_prefix) {
        Ok(t) => t,
        Err(e) => {
            println!("civitas: could not load the topic catalog to check {bootstrap}: {e:#}");
            return;
        }
    };
    let settings = settings.clone();
    let total = topics.len();
    let missing = tokio::task::spawn_blocking(move || {
        Admin::connect(&settings)?.missing(&topics, std::time::Duration::from_secs(5))
    })
    .await;
    match missing {
        Ok(Ok(missing)) => {
            if let Some(first) = missing.first() {
                println!(
                    "civitas: {} of {} catalog topics are missing on {bootstrap} (e.g. {first}); \
                     run civitas topics plan --kafka {bootstrap}, then civitas topics apply",
                    missing.len(),
                    total
                );
            }
        }
        Ok(Err(e)) => println!("civitas: could not check the catalog topics on {bootstrap}: {e}"),
        Err(e) => println!("civitas: could not check the catalog topics on {bootstrap}: {e}"),
    }
}
