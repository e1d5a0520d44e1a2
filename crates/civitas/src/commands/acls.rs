//! `civitas acls render|who`: the ACL matrix — render it for Kafka or Strimzi, or ask who may
//! read and write a topic.

use std::path::PathBuf;
use std::process::ExitCode;

use civitas_topics::acl::{EMBEDDED_ACLS, EMBEDDED_ACLS_FILE};
use civitas_topics::{
    Access, AclError, AclMatrix, NamingContext, TopicName, render_kafka_acls_script,
    render_kafka_bindings, render_strimzi_users,
};

use super::topics::{NamingArgs, emit, read};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Render the matrix as Kafka ACL bindings, Strimzi KafkaUser resources, or kafka-acls.sh lines.
    Render(RenderArgs),
    /// Which principals may read and which may write TOPIC.
    Who(WhoArgs),
}

/// The ACL matrix: the shipped one, or the operator's own.
#[derive(Debug, Clone, clap::Args)]
pub struct MatrixArgs {
    /// An ACL matrix file used instead of the shipped one.
    #[arg(long, value_name = "FILE", env = "CIVITAS_ACL_MATRIX")]
    pub matrix: Option<PathBuf>,
    #[command(flatten)]
    pub naming: NamingArgs,
}

impl MatrixArgs {
    fn load(&self) -> anyhow::Result<(AclMatrix, NamingContext)> {
        let ctx = self.naming.apply(NamingContext::default())?;
        let (src, file) = match &self.matrix {
            Some(path) => (read(path)?, path.display().to_string()),
            None => (EMBEDDED_ACLS.to_owned(), EMBEDDED_ACLS_FILE.to_owned()),
        };
        let matrix = AclMatrix::from_yaml(&src, &file, &ctx)
            .map_err(|e: AclError| anyhow::anyhow!("{e}"))?;
        Ok((matrix, ctx))
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AclFormat {
    /// ACL bindings, one a line: `User:x ALLOW WRITE TOPIC LITERAL name`.
    Kafka,
    /// Strimzi `KafkaUser` resources (SCRAM-SHA-512, simple authorization).
    Strimzi,
    /// A shell script of `kafka-acls.sh --add` calls (needs $BOOTSTRAP).
    KafkaAcls,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Output format.
    #[arg(long, value_enum)]
    pub format: AclFormat,
    /// The Strimzi Kafka cluster (label strimzi.io/cluster), for --format strimzi.
    #[arg(long, env = "CIVITAS_STRIMZI_CLUSTER", default_value = "my-cluster")]
    pub cluster: String,
    /// Kubernetes namespace written into the resources, for --format strimzi.
    #[arg(long, env = "CIVITAS_STRIMZI_NAMESPACE")]
    pub namespace: Option<String>,
    /// The Strimzi API version, for --format strimzi: v1 (Strimzi 0.49 and later; the only
    /// one from 1.0 on) or v1beta2 (releases older than 0.49).
    #[arg(
        long,
        value_enum,
        env = "CIVITAS_STRIMZI_VERSION",
        default_value = "v1"
    )]
    pub strimzi_version: super::topics::StrimziApi,
    #[command(flatten)]
    pub matrix: MatrixArgs,
}

#[derive(Debug, clap::Args)]
pub struct WhoArgs {
    /// The topic, e.g. de.civitascore.idm.user.created.
    pub topic: String,
    #[command(flatten)]
    pub matrix: MatrixArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Render(a) => {
            let (matrix, _) = a.matrix.load()?;
            let out = match a.format {
                AclFormat::Kafka => render_kafka_bindings(&matrix),
                AclFormat::KafkaAcls => render_kafka_acls_script(&matrix),
                AclFormat::Strimzi => render_strimzi_users(
                    &matrix,
                    &a.strimzi_version
                        .target(&a.cluster, a.namespace.as_deref())?,
                ),
            };
            emit(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Who(a) => {
            let (matrix, ctx) = a.matrix.load()?;
            let head = match TopicName::parse(&a.topic, &ctx) {
                Ok(name) => format!("{} (family: {})", a.topic, name.family()),
                Err(e) => format!("{} (not a valid topic name: {})", a.topic, e.detail()),
            };
            let who = matrix.who(&a.topic);
            emit(&format!(
                "{head}\n  write: {}\n  read:  {}\n",
                list(&who.writers),
                list(&who.readers)
            ))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list(access: &[Access]) -> String {
    if access.is_empty() {
        return "nobody".to_owned();
    }
    access
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
