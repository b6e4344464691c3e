//! The database of what people say and what sensors read, on one of two backends behind one
//! interface ([`db`]): the embedded SQLite file (the default: WAL mode with
//! `synchronous = FULL`, so that a write is on disk before it is acknowledged) or a
//! PostgreSQL 15 server (`postgres://…`), with per-domain schema migrations applied in order
//! at open.
//!
//! Each domain (consultation, sensors, …) owns its tables and declares its migrations as a
//! [`Migrations`] list in SQLite's dialect; the binary passes every domain's list (civic's
//! `MIGRATIONS`, this crate's [`sensors::MIGRATIONS`]) to [`Store::connect`], which applies the
//! ones a database has not seen yet, each in its own transaction, and records them in
//! `schema_migrations` (PostgreSQL gets them through [`db::translate`]).

pub mod backup;
pub mod db;
pub mod sensors;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

pub use db::Connection;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no, or could not be reached.
    #[error("database {path}: {source}")]
    Database {
        /// The database file or server.
        path: String,
        /// The backend's error.
        source: db::Error,
    },
    /// A migration failed; the database is left at the last good version.
    #[error("database {path}: migration {domain}/{name} failed: {source}")]
    Migration {
        /// The database file or server.
        path: String,
        /// Domain of the migration.
        domain: &'static str,
        /// Its name.
        name: &'static str,
        /// The backend's error.
        source: db::Error,
    },
    /// The connection's lock was poisoned by a panic elsewhere.
    #[error("database {0}: the connection is unusable after an earlier panic")]
    Poisoned(String),
    /// The database URL is not one this build understands.
    #[error("database URL {0:?}: expected a file path, `:memory:` or postgres://…")]
    Url(String),
    /// A test asked for PostgreSQL and none is configured.
    #[error("{0}")]
    NoPostgres(String),
}

impl StoreError {
    /// Whether the database is unreachable or busy: nothing was stored and the caller may
    /// retry later (the server answers 503 with `Retry-After`).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Database { source, .. } => source.is_unavailable(),
            _ => false,
        }
    }
}

/// One domain's migrations, applied in order: `(name, SQL)`. Never edit or reorder a released
/// migration; append a new one.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// Domain name, e.g. `consultation`.
    pub domain: &'static str,
    /// `(name, SQL)` pairs.
    pub steps: &'static [(&'static str, &'static str)],
}

/// Where the database lives.
#[derive(Debug, Clone)]
enum Target {
    Sqlite(PathBuf),
    /// The connection string and the schema a test store lives in (None: the default).
    Postgres { url: String, schema: Option<String> },
}

/// The database.
#[derive(Debug)]
pub struct Store {
    target: Target,
    conn: Mutex<Connection>,
}

/// Whether `url` names a PostgreSQL server (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let auth = &url[s + 3..at];
            match auth.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &auth[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn connect_postgres(url: &str, schema: Option<&str>) -> Result<Connection, db::Error> {
    let mut config: postgres::Config = url.parse()?;
    config.connect_timeout(std::time::Duration::from_secs(5));
    config.application_name("renewtwin");
    let schema = schema.map(str::to_owned);
    Connection::connect_postgres(move || {
        let mut client = config.connect(postgres::NoTls)?;
        if let Some(schema) = schema {
            client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"))?;
        }
        Ok(client)
    })
}

impl Store {
    /// Opens the database `url` names: a PostgreSQL server (`postgres://…`) or a SQLite file
    /// path (`:memory:` for a throw-away one), and applies pending `migrations`.
    pub fn connect(url: &str, migrations: &[Migrations]) -> Result<Self, StoreError> {
        if is_postgres_url(url) {
            Self::open_postgres(url, None, migrations)
        } else if url.contains("://") {
            Err(StoreError::Url(redact(url)))
        } else {
            Self::open(Path::new(url), migrations)
        }
    }

    fn open_postgres(url: &str, schema: Option<String>, migrations: &[Migrations]) -> Result<Self, StoreError> {
        let name = redact(url);
        let conn = connect_postgres(url, schema.as_deref()).map_err(|source| StoreError::Database { path: name.clone(), source })?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                domain TEXT NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                PRIMARY KEY (domain, name))",
        )
        .map_err(|source| StoreError::Database { path: name, source })?;
        let store = Self { target: Target::Postgres { url: url.to_owned(), schema }, conn: Mutex::new(conn) };
        store.migrate(migrations)?;
        Ok(store)
    }

    /// Opens (creating if needed) the SQLite database at `path`, switches it to WAL with full
    /// synchronisation and applies pending `migrations`.
    pub fn open(path: &Path, migrations: &[Migrations]) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        let sqlite = |source: rusqlite::Error| StoreError::Database { path: name.clone(), source: source.into() };
        let conn = rusqlite::Connection::open(path).map_err(sqlite)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sqlite)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                domain TEXT NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
                PRIMARY KEY (domain, name))",
        )
        .map_err(sqlite)?;
        let store = Self { target: Target::Sqlite(path.to_path_buf()), conn: Mutex::new(Connection::from_sqlite(conn)) };
        store.migrate(migrations)?;
        Ok(store)
    }

    /// An in-memory SQLite database (tests and `--database :memory:`), migrated.
    pub fn in_memory(migrations: &[Migrations]) -> Result<Self, StoreError> {
        Self::open(Path::new(":memory:"), migrations)
    }

    /// An empty, migrated database for one test: a fresh schema of the PostgreSQL server
    /// `RENEWTWIN_TEST_POSTGRES` names when it is set, an in-memory SQLite database otherwise.
    /// So the same tests run against both backends.
    pub fn for_test(migrations: &[Migrations]) -> Result<Self, StoreError> {
        match test_postgres_url() {
            Some(url) => Self::fresh_postgres_schema(&url, migrations),
            None => Self::in_memory(migrations),
        }
    }

    /// A migrated store in a new, uniquely named schema of the PostgreSQL server at `url`
    /// (tests: each gets its own tables).
    pub fn fresh_postgres_schema(url: &str, migrations: &[Migrations]) -> Result<Self, StoreError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let schema = format!("t_{}_{}_{}", std::process::id(), nanos, n);
        Self::open_postgres(url, Some(schema), migrations)
    }

    /// A second store on the same database with its own connection (a PostgreSQL store: the
    /// same server and schema; a SQLite file: the same file), as another server replica
    /// would open it. An in-memory SQLite database cannot be shared and is refused.
    pub fn reopen(&self, migrations: &[Migrations]) -> Result<Self, StoreError> {
        match &self.target {
            Target::Postgres { url, schema } => Self::open_postgres(url, schema.clone(), migrations),
            Target::Sqlite(path) if path.as_os_str() != ":memory:" && !path.as_os_str().is_empty() => Self::open(path, migrations),
            Target::Sqlite(_) => Err(StoreError::Url(":memory: (an in-memory database cannot be opened twice)".into())),
        }
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> db::Backend {
        match self.target {
            Target::Sqlite(_) => db::Backend::Sqlite,
            Target::Postgres { .. } => db::Backend::Postgres,
        }
    }

    fn migrate(&self, migrations: &[Migrations]) -> Result<(), StoreError> {
        let mut conn = self.lock()?;
        for m in migrations {
            for (name, sql) in m.steps {
                let done: bool = conn
                    .query_row(
                        "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE domain = ?1 AND name = ?2)",
                        (m.domain, name),
                        |r| r.get(0),
                    )
                    .map_err(|source| StoreError::Database { path: self.name(), source })?;
                if done {
                    continue;
                }
                let failed = |source| StoreError::Migration { path: self.name(), domain: m.domain, name, source };
                let tx = conn.transaction().map_err(failed)?;
                tx.execute_batch(sql).map_err(failed)?;
                tx.execute("INSERT INTO schema_migrations (domain, name) VALUES (?1, ?2)", (m.domain, name)).map_err(failed)?;
                tx.commit().map_err(failed)?;
                tracing::info!(domain = m.domain, migration = name, "database migrated");
            }
        }
        Ok(())
    }

    /// The file's path or the server's URL (without password), for messages.
    pub fn name(&self) -> String {
        match &self.target {
            Target::Sqlite(path) => path.display().to_string(),
            Target::Postgres { url, .. } => redact(url),
        }
    }

    /// The connection, for one unit of work. Hold it briefly: call from blocking contexts
    /// (`tokio::task::spawn_blocking`), never across an `.await`. A PostgreSQL connection
    /// found broken (the server restarted or was unreachable) is re-opened here; while the
    /// server stays away this fails with an error for which [`StoreError::is_unavailable`]
    /// holds.
    pub fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        let mut conn = self.conn.lock().map_err(|_| StoreError::Poisoned(self.name()))?;
        if conn.is_broken()
            && let Target::Postgres { url, schema } = &self.target
        {
            let fresh = connect_postgres(url, schema.as_deref()).map_err(|e| self.err(e))?;
            tracing::info!(database = %self.name(), "reconnected to the database");
            *conn = fresh;
        }
        Ok(conn)
    }

    /// Wraps a database error with this database's name.
    pub fn err(&self, source: impl Into<db::Error>) -> StoreError {
        StoreError::Database { path: self.name(), source: source.into() }
    }

    /// Writes a consistent copy of the SQLite database to `to` (online backup: `VACUUM
    /// INTO`, which copies one read transaction's snapshot; SQLite refuses a `to` that
    /// exists). A PostgreSQL store is backed up with PostgreSQL's own tools (`pg_dump`).
    pub fn backup(&self, to: &Path) -> Result<(), StoreError> {
        let conn = self.lock()?;
        let Some(sqlite) = conn.sqlite() else {
            return Err(self.err(db::Error::Unsupported("backup of a PostgreSQL database: use pg_dump".into())));
        };
        sqlite.execute("VACUUM INTO ?1", [to.display().to_string()]).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Takes the database-wide lock `key` for this store's connection without waiting: `true`
    /// when taken. On PostgreSQL a session advisory lock (`pg_try_advisory_lock`), so processes
    /// sharing the database (the replicas of a cluster) exclude each other; it is released by
    /// [`Store::unlock`], or by the server when this connection ends (a killed process holds
    /// nothing). Taken again by the same connection it stacks (unlock as often). On SQLite,
    /// whose file one server process owns, always `true`.
    pub fn try_lock_shared(&self, key: i64) -> Result<bool, StoreError> {
        let conn = self.lock()?;
        match conn.backend() {
            db::Backend::Sqlite => Ok(true),
            db::Backend::Postgres => conn.query_row("SELECT pg_try_advisory_lock(?1)", [key], |r| r.get(0)).map_err(|e| self.err(e)),
        }
    }

    /// Releases the lock [`Store::try_lock_shared`] took once.
    pub fn unlock_shared(&self, key: i64) -> Result<(), StoreError> {
        let conn = self.lock()?;
        match conn.backend() {
            db::Backend::Sqlite => Ok(()),
            db::Backend::Postgres => {
                let _released: bool = conn.query_row("SELECT pg_advisory_unlock(?1)", [key], |r| r.get(0)).map_err(|e| self.err(e))?;
                Ok(())
            }
        }
    }

    /// Writes a consistent copy of the database file `from` to `to` on a connection of its
    /// own, without migrating or changing `from`: usable while a server writes to the same
    /// file (WAL lets the copy's read transaction run beside the writer). The operator's
    /// backup (`renewtwin backup`); never served over HTTP.
    pub fn backup_file(from: &Path, to: &Path) -> Result<(), StoreError> {
        let name = from.display().to_string();
        let sqlite = |source: rusqlite::Error| StoreError::Database { path: name.clone(), source: source.into() };
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(from, flags).map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(sqlite)?;
        conn.execute("VACUUM INTO ?1", [to.display().to_string()]).map_err(sqlite)?;
        Ok(())
    }
}

/// The PostgreSQL server tests run against (`RENEWTWIN_TEST_POSTGRES`), if any.
pub fn test_postgres_url() -> Option<String> {
    std::env::var("RENEWTWIN_TEST_POSTGRES").ok().filter(|u| !u.trim().is_empty())
}

/// For a test that needs PostgreSQL: the server's URL, or `None` after printing why the test
/// is skipped; with `RENEWTWIN_REQUIRE_POSTGRES=1` (CI) a missing server fails the test.
pub fn postgres_or_skip(test: &str) -> Option<String> {
    match test_postgres_url() {
        Some(url) => Some(url),
        None if std::env::var("RENEWTWIN_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
            panic!("{test}: RENEWTWIN_REQUIRE_POSTGRES=1 but RENEWTWIN_TEST_POSTGRES names no server")
        }
        None => {
            eprintln!("{test}: skipped: set RENEWTWIN_TEST_POSTGRES=postgres://… to run it against PostgreSQL");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_lock_excludes_another_connection_until_released() {
        let Some(url) = postgres_or_skip("a_shared_lock_excludes_another_connection_until_released") else { return };
        let a = Store::connect(&url, &[]).expect("a connection");
        let b = Store::connect(&url, &[]).expect("another connection");
        let key = 0x5e11_0000 + i64::from(std::process::id());
        assert!(a.try_lock_shared(key).expect("asks"), "the first connection takes it");
        assert!(!b.try_lock_shared(key).expect("asks"), "another connection cannot while it is held");
        assert!(a.try_lock_shared(key).expect("asks"), "the holder takes it again (stacked)");
        a.unlock_shared(key).expect("releases once");
        assert!(!b.try_lock_shared(key).expect("asks"), "still held once");
        a.unlock_shared(key).expect("releases twice");
        assert!(b.try_lock_shared(key).expect("asks"), "released: the other connection takes it");
        drop(b);
        // The server lets go of a closed session's locks when its backend notices the close:
        // at once, but not synchronously with our side's drop.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !a.try_lock_shared(key).expect("asks") {
            assert!(std::time::Instant::now() < deadline, "a connection that ended holds nothing (within 10 s)");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        a.unlock_shared(key).expect("releases");
    }

    const NOTES: Migrations = Migrations {
        domain: "notes",
        steps: &[
            ("001_create", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"),
            ("002_author", "ALTER TABLE notes ADD COLUMN author TEXT"),
        ],
    };

    #[test]
    fn migrations_apply_once_and_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("renewtwin-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("test.db");
        let _ = std::fs::remove_file(&path);
        {
            let store = Store::open(&path, &[NOTES]).expect("open");
            store.lock().expect("lock").execute("INSERT INTO notes (body, author) VALUES ('hi', 'a')", []).expect("insert");
        }
        let store = Store::open(&path, &[NOTES]).expect("reopen applies nothing twice");
        let (count, mode): (i64, String) = {
            let conn = store.lock().expect("lock");
            let count = conn.query_row("SELECT COUNT(*) FROM notes", [], |r| r.get(0)).expect("count");
            let mode = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("mode");
            (count, mode)
        };
        assert_eq!(count, 1);
        assert_eq!(mode, "wal");
        let backup = dir.join("backup.db");
        let _ = std::fs::remove_file(&backup);
        store.backup(&backup).expect("backup");
        let copy = Store::open(&backup, &[NOTES]).expect("the backup opens");
        let n: i64 = copy.lock().expect("lock").query_row("SELECT COUNT(*) FROM notes", [], |r| r.get(0)).expect("count");
        assert_eq!(n, 1);
        // The file-level backup on its own connection, while `store` stays open (as a running
        // server would), sees the same rows; it never overwrites an existing file.
        let second = dir.join("second.db");
        let _ = std::fs::remove_file(&second);
        Store::backup_file(&path, &second).expect("online backup of the file");
        let copy = Store::open(&second, &[NOTES]).expect("the copy opens");
        let n: i64 = copy.lock().expect("lock").query_row("SELECT COUNT(*) FROM notes", [], |r| r.get(0)).expect("count");
        assert_eq!(n, 1);
        assert!(Store::backup_file(&path, &second).is_err(), "an existing file is not overwritten");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_broken_migration_names_itself_and_leaves_earlier_ones_applied() {
        const BAD: Migrations = Migrations { domain: "bad", steps: &[("001_ok", "CREATE TABLE a (x)"), ("002_broken", "CREATE TABLE")] };
        let err = Store::in_memory(&[BAD]).expect_err("broken migration").to_string();
        assert!(err.contains("bad/002_broken"), "{err}");
    }
}
