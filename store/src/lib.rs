//! The database of what people say and what sensors read: one SQLite file in WAL mode, with
//! `synchronous = FULL` so that a write is on disk before it is acknowledged, and per-domain
//! schema migrations applied in order at open.
//!
//! Each domain (consultation, sensors, …) owns its tables and declares its migrations as a
//! [`Migrations`] list; the binary passes every domain's list (civic's `MIGRATIONS`, this
//! crate's [`sensors::MIGRATIONS`]) to [`Store::open`], which applies the ones a file has not seen yet, each in its own
//! transaction, and records them in `schema_migrations`.

pub mod sensors;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A migration failed; the file is left at the last good version.
    #[error("database {path}: migration {domain}/{name} failed: {source}")]
    Migration {
        /// The database file.
        path: String,
        /// Domain of the migration.
        domain: &'static str,
        /// Its name.
        name: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The connection's lock was poisoned by a panic elsewhere.
    #[error("database {0}: the connection is unusable after an earlier panic")]
    Poisoned(String),
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


/// The database.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, switches it to WAL with full
    /// synchronisation and applies pending `migrations`.
    pub fn open(path: &Path, migrations: &[Migrations]) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        let sqlite = |source| StoreError::Sqlite { path: name.clone(), source };
        let conn = Connection::open(path).map_err(sqlite)?;
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
        let store = Self { path: path.to_path_buf(), conn: Mutex::new(conn) };
        store.migrate(migrations)?;
        Ok(store)
    }

    /// An in-memory database (tests and `--db :memory:`), migrated.
    pub fn in_memory(migrations: &[Migrations]) -> Result<Self, StoreError> {
        Self::open(Path::new(":memory:"), migrations)
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
                    .map_err(|source| StoreError::Sqlite { path: self.name(), source })?;
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

    /// The file's path as text, for messages.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// The connection, for one unit of work. Hold it briefly: call from blocking contexts
    /// (`tokio::task::spawn_blocking`), never across an `.await`.
    pub fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned(self.name()))
    }

    /// Wraps a SQLite error with this database's name.
    pub fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.name(), source }
    }

    /// Writes a consistent copy of the database to `to` (online backup: `VACUUM INTO`, which
    /// copies one read transaction's snapshot; SQLite refuses a `to` that exists).
    pub fn backup(&self, to: &Path) -> Result<(), StoreError> {
        let conn = self.lock()?;
        conn.execute("VACUUM INTO ?1", [to.display().to_string()]).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Writes a consistent copy of the database file `from` to `to` on a connection of its
    /// own, without migrating or changing `from`: usable while a server writes to the same
    /// file (WAL lets the copy's read transaction run beside the writer). The operator's
    /// backup (`renewtwin backup`); never served over HTTP.
    pub fn backup_file(from: &Path, to: &Path) -> Result<(), StoreError> {
        let name = from.display().to_string();
        let sqlite = |source| StoreError::Sqlite { path: name.clone(), source };
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(from, flags).map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(sqlite)?;
        conn.execute("VACUUM INTO ?1", [to.display().to_string()]).map_err(sqlite)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
