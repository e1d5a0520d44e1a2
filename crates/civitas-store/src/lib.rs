//! The database of civitas (docs/architecture.md, "State"): SQLite by default (a file under the data
//! directory), PostgreSQL at scale, one schema for both.
//!
//! The pool is an [`sqlx::AnyPool`], so every query is written once in SQL both backends
//! accept (numbered `$1` placeholders, `TEXT`/`BIGINT` columns, timestamps as RFC 3339
//! text or epoch milliseconds, JSON as text). The migrations in the repository's
//! `migrations/` folder are embedded and run at connect time, by whichever component
//! connects first; every component shares the one migration history.

pub mod clock;

use std::path::Path;
use std::str::FromStr;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, Transaction};

pub use clock::Clock;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL {0:?} is neither sqlite:… nor postgres://…")]
    UnsupportedUrl(String),
    #[error("could not create the directory {path} for the SQLite database")]
    CreateDirectory {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not connect to the database {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("could not migrate the database {url}")]
    Migrate {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

/// The embedded migrations, shared by every component.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Opens (creating a SQLite file and its directory if needed) and migrates the database.
pub async fn connect(url: &str) -> Result<AnyPool, StoreError> {
    sqlx::any::install_default_drivers();
    let is_sqlite = url.starts_with("sqlite:");
    if !is_sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    }
    if is_sqlite {
        prepare_sqlite(url).await?;
    }
    let connect_error = |source| StoreError::Connect {
        url: redact(url),
        source,
    };
    let pool = AnyPoolOptions::new()
        // SQLite allows one writer; a small pool avoids "database is locked" storms.
        .max_connections(if is_sqlite { 4 } else { 16 })
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if is_sqlite {
                    // Per connection: WAL lets readers run beside the writer (persistent,
                    // but harmless to repeat); busy_timeout waits instead of failing;
                    // synchronous=NORMAL is safe with WAL and much faster.
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA busy_timeout = 5000",
                        "PRAGMA synchronous = NORMAL",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(connect_error)?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|source| StoreError::Migrate {
            url: redact(url),
            source,
        })?;
    Ok(pool)
}

/// Begins a transaction that will write.
///
/// On SQLite this is `BEGIN IMMEDIATE`, which takes the write lock at once, waiting up to the
/// busy timeout for it. A plain (deferred) transaction that reads before it writes fails with
/// "database is locked" (`SQLITE_BUSY_SNAPSHOT`) when another connection committed in between,
/// and the busy timeout does not help: concurrent creates got 500s. On PostgreSQL it is a plain
/// `BEGIN`.
pub async fn begin_write(pool: &AnyPool) -> Result<Transaction<'static, Any>, sqlx::Error> {
    if is_sqlite(pool) {
        pool.begin_with("BEGIN IMMEDIATE").await
    } else {
        pool.begin().await
    }
}

/// Whether `error` means the database is unreachable for now (connection refused or lost, no
/// connection free within the acquire timeout, the server shutting down), not that the query
/// is wrong: worth a 503 and a retry, not a 500.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        // SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown, cannot connect now),
        // SQLite's "database is locked" (busy beyond the busy timeout).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "5" | "6")
        }),
        _ => false,
    }
}

/// How long a query waits for a free connection (or a new one) before it fails: a database
/// that is down turns into an answer within seconds, not a request hanging for 30.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether `pool` is a SQLite database.
pub fn is_sqlite(pool: &AnyPool) -> bool {
    pool.connect_options().database_url.scheme() == "sqlite"
}

/// Creates the SQLite file's directory and the file itself (sqlx would refuse a missing one).
async fn prepare_sqlite(url: &str) -> Result<(), StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|_| StoreError::UnsupportedUrl(url.to_owned()))?
        .create_if_missing(true);
    let filename = options.get_filename();
    if let Some(parent) = Path::new(filename)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDirectory {
            path: parent.display().to_string(),
            source,
        })?;
    }
    if filename.as_os_str() != ":memory:" && !filename.exists() {
        // Opening once with create_if_missing creates the file.
        let conn = sqlx::SqlitePool::connect_with(options)
            .await
            .map_err(|source| StoreError::Connect {
                url: url.to_owned(),
                source,
            })?;
        conn.close().await;
    }
    Ok(())
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:****{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The URL of the PostgreSQL server the tests may use (`CIVITAS_TEST_POSTGRES_URL`), which
/// `scripts/test.sh` starts. Tests that need it print why they skip when it is unset.
pub fn test_postgres_url() -> Option<String> {
    std::env::var("CIVITAS_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_redacted() {
        assert_eq!(
            redact("postgres://civitas:s3cret@db:5432/x"),
            "postgres://civitas:****@db:5432/x"
        );
        assert_eq!(
            redact("sqlite://data/civitas.db"),
            "sqlite://data/civitas.db"
        );
    }

    #[tokio::test]
    async fn a_sqlite_database_and_its_directory_are_created_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/civitas.db", dir.path().display());
        let pool = connect(&url).await.unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(applied as usize, MIGRATOR.iter().count());
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_refused_with_the_url() {
        let err = connect("mysql://x").await.unwrap_err();
        assert!(err.to_string().contains("mysql://x"));
    }
}
