//! `civitas topics lint|list|render|plan|apply|asyncapi`: the topic catalog — check it, show
//! it, render it, provision a cluster from it, describe it for other teams. Also the catalog
//! provisioning of `civitas up` ([`provision_embedded`], [`hint_missing_topics`]), which
//! [`cluster`] holds with `plan` and `apply`: what talks to a cluster.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use civitas_topics::acl::{EMBEDDED_ACLS, EMBEDDED_ACLS_FILE};
use civitas_topics::catalog::{EMBEDDED_CATALOG, EMBEDDED_CATALOG_FILE};
use civitas_topics::{
    AclMatrix, Catalog, CatalogError, Family, NamingContext, asyncapi, lint, render_strimzi_topics,
};

mod cluster;

pub use cluster::{ApplyArgs, PlanArgs, hint_missing_topics, provision_embedded};
use cluster::{run_apply, run_plan};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check catalog files (or lists of names) against the naming rules.
    ///
    /// Without FILE, checks the catalog shipped with civitas. Name lists have one topic name a
    /// line. Prints `file:line: rule-id: message (segment N "text")`; exit code 1 on any
    /// violation.
    Lint(LintArgs),
    /// Every topic the catalog yields, by family, with its settings.
    List(ListArgs),
    /// Render the catalog as Kubernetes resources (Strimzi KafkaTopic).
    Render(RenderArgs),
    /// Compare the catalog with a cluster and print what `apply` would do.
    ///
    /// Exit code: 0 the cluster matches, 2 changes are pending, 1 problems (a refused
    /// partition shrink, a different replication factor) or an error.
    Plan(PlanArgs),
    /// Make a cluster match the catalog: create missing topics, raise partition counts, set
    /// configs; delete topics the catalog does not name only with --allow-delete.
    ///
    /// Prints the plan, asks for confirmation (or takes --yes), then each action's outcome.
    /// Partition counts are never lowered. Exit code: 0 everything applied and no problems
    /// remain, 1 otherwise.
    Apply(ApplyArgs),
    /// The AsyncAPI 3.0 document of every catalog topic: channels, messages with CloudEvents
    /// headers and JSON Schemas of the values, operations from the ACL matrix.
    Asyncapi(AsyncApiArgs),
}

/// Naming of this installation; each overrides what the catalog files say.
#[derive(Debug, Clone, clap::Args)]
pub struct NamingArgs {
    /// Prefix of the CRUD service's topics.
    #[arg(long, env = "KAFKA_TOPIC_PREFIX")]
    pub crud_prefix: Option<String>,
    /// Prefix of configuration events (reverse DNS).
    #[arg(long, env = "CIVITAS_PLATFORM_PREFIX")]
    pub platform_prefix: Option<String>,
    /// Customer domain of payload topics (reverse DNS, e.g. de.musterstadt).
    #[arg(long, env = "CIVITAS_CUSTOMER_DOMAIN")]
    pub customer_domain: Option<String>,
}

impl NamingArgs {
    fn any(&self) -> bool {
        self.crud_prefix.is_some()
            || self.platform_prefix.is_some()
            || self.customer_domain.is_some()
    }

    /// `base` with the flags applied.
    pub fn apply(&self, base: NamingContext) -> anyhow::Result<NamingContext> {
        let mut ctx = base;
        if let Some(p) = &self.crud_prefix {
            ctx = ctx
                .with_crud_prefix(p)
                .context("--crud-prefix / KAFKA_TOPIC_PREFIX")?;
        }
        if let Some(p) = &self.platform_prefix {
            ctx = ctx
                .with_platform_prefix(p)
                .context("--platform-prefix / CIVITAS_PLATFORM_PREFIX")?;
        }
        if let Some(d) = &self.customer_domain {
            ctx = ctx
                .with_customer_domain(Some(d))
                .context("--customer-domain / CIVITAS_CUSTOMER_DOMAIN")?;
        }
        Ok(ctx)
    }
}

/// The catalog: the shipped one plus the operator's extension files.
#[derive(Debug, Clone, clap::Args)]
pub struct CatalogArgs {
    /// An extension catalog merged over the shipped one (repeatable).
    #[arg(long = "catalog", value_name = "FILE", env = "CIVITAS_CATALOG")]
    pub catalogs: Vec<PathBuf>,
    #[command(flatten)]
    pub naming: NamingArgs,
}

impl CatalogArgs {
    /// Loads the shipped catalog, merges every extension, applies the naming flags.
    pub fn load(&self) -> anyhow::Result<Catalog> {
        let mut catalog = Catalog::try_embedded().map_err(explain)?;
        for path in &self.catalogs {
            let src = read(path)?;
            let ext = Catalog::from_yaml(&src, &path.display().to_string()).map_err(explain)?;
            catalog.merge(ext);
        }
        if self.naming.any() {
            let ctx = self.naming.apply(catalog.naming())?;
            catalog.set_naming(&ctx);
        }
        Ok(catalog)
    }
}

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Catalog files (YAML) or name lists (one name a line); `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub naming: NamingArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RenderFormat {
    /// Strimzi `KafkaTopic` resources (kafka.strimzi.io/v1; --strimzi-version), multi-document YAML.
    Strimzi,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "strimzi")]
    pub format: RenderFormat,
    /// The Strimzi Kafka cluster the resources belong to (label strimzi.io/cluster).
    #[arg(long, env = "CIVITAS_STRIMZI_CLUSTER", default_value = "my-cluster")]
    pub cluster: String,
    /// Kubernetes namespace written into the resources (default: none, kubectl decides).
    #[arg(long, env = "CIVITAS_STRIMZI_NAMESPACE")]
    pub namespace: Option<String>,
    /// The Strimzi API version: v1 (Strimzi 0.49 and later; the only one from 1.0 on) or
    /// v1beta2 (releases older than 0.49).
    #[arg(
        long,
        value_enum,
        env = "CIVITAS_STRIMZI_VERSION",
        default_value = "v1"
    )]
    pub strimzi_version: StrimziApi,
    #[command(flatten)]
    pub catalog: CatalogArgs,
}

/// `--strimzi-version`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StrimziApi {
    V1,
    V1beta2,
}

impl StrimziApi {
    /// The checked target of the rendered resources.
    pub fn target(
        self,
        cluster: &str,
        namespace: Option<&str>,
    ) -> anyhow::Result<civitas_topics::StrimziTarget> {
        let version = match self {
            StrimziApi::V1 => civitas_topics::StrimziVersion::V1,
            StrimziApi::V1beta2 => civitas_topics::StrimziVersion::V1beta2,
        };
        Ok(civitas_topics::StrimziTarget::new(
            version, cluster, namespace,
        )?)
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Lint(a) => run_lint(a),
        Command::List(a) => run_list(a),
        Command::Render(a) => run_render(a),
        Command::Plan(a) => run_plan(a).await,
        Command::Apply(a) => run_apply(a).await,
        Command::Asyncapi(a) => run_asyncapi(a),
    }
}

fn run_lint(args: LintArgs) -> anyhow::Result<ExitCode> {
    let ctx = args.naming.apply(NamingContext::default())?;
    let mut inputs: Vec<(String, String)> = Vec::new();
    if args.files.is_empty() {
        inputs.push((
            EMBEDDED_CATALOG_FILE.to_owned(),
            EMBEDDED_CATALOG.to_owned(),
        ));
    }
    for path in &args.files {
        inputs.push((path.display().to_string(), read(path)?));
    }
    let mut out = String::new();
    let mut total = 0;
    let mut failing = 0;
    for (file, src) in &inputs {
        let violations = lint(src, file, &ctx);
        for v in &violations {
            out.push_str(&format!("{v}\n"));
        }
        total += violations.len();
        failing += usize::from(!violations.is_empty());
    }
    if total == 0 {
        out.push_str(&format!(
            "{} file(s) checked: no violations.\n",
            inputs.len()
        ));
    } else {
        out.push_str(&format!(
            "{total} violation(s) in {failing} of {} file(s).\n",
            inputs.len()
        ));
    }
    emit(&out)?;
    Ok(if total == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_list(args: ListArgs) -> anyhow::Result<ExitCode> {
    use std::fmt::Write as _;
    let catalog = args.catalog.load()?;
    let topics = catalog.topics();
    let width = topics
        .iter()
        .map(|t| t.name.to_string().len())
        .max()
        .unwrap_or(0)
        .max("NAME".len());
    let mut out = String::new();
    let row = |cells: [&str; 7]| {
        let line = format!(
            "  {:width$}  {:>10}  {:>8}  {:>9}  {:14}  {:>7}  {}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
        );
        format!("{}\n", line.trim_end())
    };
    for family in Family::ALL {
        let of_family: Vec<_> = topics.iter().filter(|t| t.family() == family).collect();
        if of_family.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{} ({})", family.title(), of_family.len());
        out.push_str(&row([
            "NAME",
            "PARTITIONS",
            "REPLICAS",
            "RETENTION",
            "CLEANUP",
            "MIN.ISR",
            "OTHER",
        ]));
        for t in of_family {
            let s = &t.settings;
            let other: Vec<String> = s.config.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&row([
                &t.name.to_string(),
                &s.partitions.to_string(),
                &s.replicas.to_string(),
                &s.retention_human(),
                s.cleanup_policy.as_str(),
                &s.min_insync_replicas
                    .map_or_else(|| "-".to_owned(), |m| m.to_string()),
                &other.join(" "),
            ]));
        }
        out.push('\n');
    }
    let ctx = catalog.naming();
    let _ = writeln!(
        out,
        "{} topics. Naming: crud prefix {:?}, platform prefix {:?}, payload namespace {:?}{}.",
        topics.len(),
        ctx.crud_prefix(),
        ctx.platform_prefix(),
        ctx.payload_namespace(),
        if ctx.customer_domain().is_none() {
            " (fallback: no customer domain)"
        } else {
            ""
        }
    );
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn run_render(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let catalog = args.catalog.load()?;
    match args.format {
        RenderFormat::Strimzi => {
            let target = args
                .strimzi_version
                .target(&args.cluster, args.namespace.as_deref())?;
            emit(&render_strimzi_topics(&catalog, &target))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

/// Reads a file the user named (`-` is stdin).
pub fn read(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        return std::io::read_to_string(std::io::stdin()).context("reading stdin");
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// A catalog error with every violation on its own line.
fn explain(e: CatalogError) -> anyhow::Error {
    match e {
        CatalogError::Invalid { file, violations } => {
            let lines: Vec<String> = violations.iter().map(ToString::to_string).collect();
            anyhow::anyhow!(
                "{file} is not a valid catalog ({} violation(s); `civitas topics lint {file}` shows them):\n{}",
                violations.len(),
                lines.join("\n")
            )
        }
        CatalogError::Embedded(inner) => {
            let inner = explain(*inner);
            anyhow::anyhow!("the catalog built into civitas is invalid (a defect): {inner:#}")
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DocumentFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct AsyncApiArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: DocumentFormat,
    /// The ACL matrix the operations come from, instead of the shipped one.
    #[arg(long, value_name = "FILE", env = "CIVITAS_ACL_MATRIX")]
    pub matrix: Option<PathBuf>,
    #[command(flatten)]
    pub catalog: CatalogArgs,
}

fn run_asyncapi(args: AsyncApiArgs) -> anyhow::Result<ExitCode> {
    let catalog = args.catalog.load()?;
    let (src, file) = match &args.matrix {
        Some(path) => (read(path)?, path.display().to_string()),
        None => (EMBEDDED_ACLS.to_owned(), EMBEDDED_ACLS_FILE.to_owned()),
    };
    let matrix =
        AclMatrix::from_yaml(&src, &file, &catalog.naming()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let doc = asyncapi(&catalog, &matrix);
    emit(&match args.format {
        DocumentFormat::Yaml => doc.to_yaml(),
        DocumentFormat::Json => doc.to_json(),
    })?;
    Ok(ExitCode::SUCCESS)
}
