//! The operator's backups of the embedded database, and the restore that checks a copy before
//! it is put in place (`renewtwin backup`, `renewtwin restore`, `renewtwin backup-key`).
//!
//! A backup is a consistent copy of the SQLite file taken online (`VACUUM INTO` in one read
//! transaction, beside a running server). It may be encrypted to one or more operator keys in
//! the age format (<https://age-encryption.org/v1>: X25519 recipients, ChaCha20-Poly1305 in
//! 64 KiB chunks), so the copy can leave the server's machine: whoever holds the file without
//! an operator's identity reads nothing, and any change to it is detected on restore. The
//! plaintext copy that encryption starts from lives only in a directory only the owner can
//! enter, beside the output, and is removed whatever happens. The standard `age` tool decrypts
//! these files too (`age -d -i operator.key backup.age > renewtwin.db`).
//!
//! What a backup holds and does not: accounts, password hashes, phone numbers and household
//! codes are in it (it is the database), but no ballot links to a household: ballots are filed
//! under keyed pseudonyms whose key is a separate file (`serve --ballot-key`), never part of
//! the database or its backups (README, Security).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;

/// The first bytes of every age file (the version line of the header).
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// The first bytes of every SQLite 3 database file.
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// SQLite refused the copy or the check.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The destination exists already: a backup or restore never overwrites a file.
    #[error("{0} exists already; choose a new file")]
    Exists(PathBuf),
    /// A line of a recipients file (or a `--to` value) is not an age X25519 recipient.
    #[error("{origin}: {recipient:?} is not an age recipient (age1…): {reason}")]
    Recipient {
        /// Where the recipient came from (file and line, or the option).
        origin: String,
        /// The text given.
        recipient: String,
        /// Why it was refused.
        reason: String,
    },
    /// An identity file holds no usable key.
    #[error("{path}: no age identity (AGE-SECRET-KEY-1…) in the file{detail}")]
    Identity {
        /// The identity file.
        path: PathBuf,
        /// Where it went wrong, if on a line.
        detail: String,
    },
    /// The copy is encrypted and no identity was given.
    #[error("{0} is encrypted: give the operator's identity file (--identity FILE)")]
    NeedsIdentity(PathBuf),
    /// Encryption failed.
    #[error("encrypting to {path}: {source}")]
    Encrypt {
        /// The output file.
        path: PathBuf,
        /// What age said (boxed: age's error is large).
        #[source]
        source: Box<age::EncryptError>,
    },
    /// Decryption failed: not for these identities, or the file was changed.
    #[error("decrypting {path}: {source}")]
    Decrypt {
        /// The backup file.
        path: PathBuf,
        /// What age said (boxed: age's error is large).
        #[source]
        source: Box<age::DecryptError>,
    },
    /// The file is neither a SQLite database nor an age file.
    #[error("{0} is neither a renewtwin backup (SQLite) nor an encrypted one (age)")]
    NotABackup(PathBuf),
    /// The decrypted or plain copy fails SQLite's integrity check or is not renewtwin's.
    #[error("{path} is damaged or not a renewtwin database: {why}")]
    Damaged {
        /// The backup file.
        path: PathBuf,
        /// What the check found.
        why: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_path_buf(), source }
}

/// A new operator key: the identity (secret, for the key file) and its recipient (public, for
/// `renewtwin backup --to`).
pub struct OperatorKey {
    /// `AGE-SECRET-KEY-1…`: whoever holds it can read every backup made to its recipient.
    pub identity: String,
    /// `age1…`: what backups are encrypted to.
    pub recipient: String,
}

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the identity: it reads every backup.
        f.debug_struct("OperatorKey").field("recipient", &self.recipient).finish_non_exhaustive()
    }
}

/// Makes a new operator key (X25519, from the operating system's random source).
pub fn generate_key() -> OperatorKey {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    OperatorKey { identity: identity.to_string().expose_secret().to_owned(), recipient }
}

/// Writes a new key file for `key` (owner-only permissions, never overwriting), in the layout
/// of age's own key files: comments, then the identity line.
pub fn write_key_file(path: &Path, key: &OperatorKey) -> Result<(), BackupError> {
    let mut file = create_private(path)?;
    let text = format!(
        "# renewtwin operator key for encrypted backups; keep it apart from the backups.\n# public key: {}\n{}\n",
        key.recipient, key.identity
    );
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(io_err(path))
}

/// An age X25519 recipient, parsed.
pub type Recipient = age::x25519::Recipient;

/// Parses one recipient given on the command line (`origin` names the option for errors).
pub fn parse_recipient(text: &str, origin: &str) -> Result<Recipient, BackupError> {
    Recipient::from_str(text.trim()).map_err(|reason| BackupError::Recipient {
        origin: origin.to_owned(),
        recipient: text.trim().to_owned(),
        reason: reason.to_string(),
    })
}

/// The key lines of an age key or recipients file with their line numbers (from 1): blank
/// lines and `#` comments skipped, surrounding spaces trimmed.
fn key_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(n, l)| (n + 1, l.trim())).filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Reads a recipients file: one `age1…` per line; blank lines and `#` comments are skipped.
pub fn read_recipients_file(path: &Path) -> Result<Vec<Recipient>, BackupError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    let mut out = Vec::new();
    for (n, line) in key_lines(&text) {
        out.push(parse_recipient(line, &format!("{} line {n}", path.display()))?);
    }
    if out.is_empty() {
        return Err(BackupError::Recipient {
            origin: path.display().to_string(),
            recipient: String::new(),
            reason: "the file names no recipient".into(),
        });
    }
    Ok(out)
}

/// Reads the identities of an age key file (`AGE-SECRET-KEY-1…` lines; comments skipped).
pub fn read_identity_file(path: &Path) -> Result<Vec<age::x25519::Identity>, BackupError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    let mut out = Vec::new();
    for (n, line) in key_lines(&text) {
        let identity = age::x25519::Identity::from_str(line)
            .map_err(|e| BackupError::Identity { path: path.to_path_buf(), detail: format!(" (line {n}: {e})") })?;
        out.push(identity);
    }
    if out.is_empty() {
        return Err(BackupError::Identity { path: path.to_path_buf(), detail: String::new() });
    }
    Ok(out)
}

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// Bytes of the database copy.
    pub database_bytes: u64,
    /// Bytes written to the output (the encrypted size when encrypted).
    pub written_bytes: u64,
    /// Whether the output is encrypted.
    pub encrypted: bool,
}

/// Backs up the SQLite database `db` to `out`, which must not exist: a consistent online copy
/// (beside a running server), encrypted to `recipients` when any are given. The output is
/// readable by its owner only.
pub fn backup(db: &Path, out: &Path, recipients: &[Recipient]) -> Result<BackupReport, BackupError> {
    if out.exists() {
        return Err(BackupError::Exists(out.to_path_buf()));
    }
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let private = PrivateDir::create(dir)?;
    let copy = private.path.join("copy.db");
    crate::Store::backup_file(db, &copy).map_err(|e| match e {
        crate::StoreError::Database { source: crate::db::Error::Sqlite(source), .. } => BackupError::Sqlite { path: db.to_path_buf(), source },
        other => BackupError::Damaged { path: db.to_path_buf(), why: other.to_string() },
    })?;
    let database_bytes = fs::metadata(&copy).map_err(io_err(&copy))?.len();
    if recipients.is_empty() {
        // Same directory, so the rename is atomic; never over an existing file.
        if out.exists() {
            return Err(BackupError::Exists(out.to_path_buf()));
        }
        fs::hard_link(&copy, out).or_else(|_| fs::copy(&copy, out).map(|_| ())).map_err(io_err(out))?;
        set_private(out)?;
        return Ok(BackupReport { database_bytes, written_bytes: database_bytes, encrypted: false });
    }
    let file = create_private(out)?;
    let written = (|| -> Result<u64, BackupError> {
        let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|source| BackupError::Encrypt { path: out.to_path_buf(), source: Box::new(source) })?;
        let mut writer = encryptor.wrap_output(BufWriter::new(file)).map_err(io_err(out))?;
        let mut input = BufReader::new(File::open(&copy).map_err(io_err(&copy))?);
        io::copy(&mut input, &mut writer).map_err(io_err(out))?;
        let buffered = writer.finish().map_err(io_err(out))?;
        let file = buffered.into_inner().map_err(|e| BackupError::Io { path: out.to_path_buf(), source: e.into_error() })?;
        file.sync_all().map_err(io_err(out))?;
        Ok(file.metadata().map_err(io_err(out))?.len())
    })();
    match written {
        Ok(written_bytes) => Ok(BackupReport { database_bytes, written_bytes, encrypted: true }),
        Err(e) => {
            // Never leave a truncated backup that looks like one.
            let _ = fs::remove_file(out);
            Err(e)
        }
    }
}

/// What a restore put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// Whether the backup was encrypted.
    pub was_encrypted: bool,
    /// Migrations recorded in the restored database, `(domain, name)`.
    pub migrations: usize,
    /// Bytes of the restored database.
    pub bytes: u64,
}

/// Restores the backup `from` (plain or encrypted) as the new database file `to`, which must
/// not exist: decrypts it with `identity_file` if it is encrypted, checks it (SQLite's
/// integrity check, and that it is a renewtwin database: it records its migrations), and only
/// then puts it in place. Start the server on `to` afterwards.
pub fn restore(from: &Path, to: &Path, identity_file: Option<&Path>) -> Result<RestoreReport, BackupError> {
    for existing in [to.to_path_buf(), sidecar(to, "-wal"), sidecar(to, "-shm")] {
        if existing.exists() {
            return Err(BackupError::Exists(existing));
        }
    }
    let mut head = [0u8; 22];
    let n = File::open(from).and_then(|mut f| read_up_to(&mut f, &mut head)).map_err(io_err(from))?;
    let head = &head[..n];
    let dir = to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let private = PrivateDir::create(dir)?;
    let staged = private.path.join("restore.db");
    let was_encrypted = head.starts_with(AGE_MAGIC);
    if was_encrypted {
        let Some(identity_file) = identity_file else {
            return Err(BackupError::NeedsIdentity(from.to_path_buf()));
        };
        let identities = read_identity_file(identity_file)?;
        let input = BufReader::new(File::open(from).map_err(io_err(from))?);
        let decryptor = age::Decryptor::new_buffered(input)
            .map_err(|source| BackupError::Decrypt { path: from.to_path_buf(), source: Box::new(source) })?;
        let mut reader = decryptor
            .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
            .map_err(|source| BackupError::Decrypt { path: from.to_path_buf(), source: Box::new(source) })?;
        let mut out = BufWriter::new(create_private(&staged)?);
        // A chunk that fails authentication is an error here, never a silently short file.
        io::copy(&mut reader, &mut out).map_err(|source| BackupError::Damaged { path: from.to_path_buf(), why: source.to_string() })?;
        out.flush().map_err(io_err(&staged))?;
    } else if head.starts_with(SQLITE_MAGIC) {
        fs::copy(from, &staged).map_err(io_err(&staged))?;
        set_private(&staged)?;
    } else {
        return Err(BackupError::NotABackup(from.to_path_buf()));
    }
    let migrations = check_database(&staged).map_err(|why| BackupError::Damaged { path: from.to_path_buf(), why })?;
    let bytes = fs::metadata(&staged).map_err(io_err(&staged))?.len();
    File::open(&staged).and_then(|f| f.sync_all()).map_err(io_err(&staged))?;
    if to.exists() {
        return Err(BackupError::Exists(to.to_path_buf()));
    }
    fs::rename(&staged, to).map_err(io_err(to))?;
    Ok(RestoreReport { was_encrypted, migrations, bytes })
}

/// SQLite's integrity check and renewtwin's mark (its migrations table): the number of
/// migrations recorded, or what is wrong.
fn check_database(path: &Path) -> Result<usize, String> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(|e| e.to_string())?;
    let verdict: String = conn.query_row("PRAGMA integrity_check(1)", [], |r| r.get(0)).map_err(|e| e.to_string())?;
    if verdict != "ok" {
        return Err(format!("integrity check: {verdict}"));
    }
    let migrations: i64 = conn
        .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
        .map_err(|e| format!("no renewtwin migrations table ({e})"))?;
    drop(conn);
    Ok(usize::try_from(migrations).unwrap_or(0))
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates `path` (never over an existing file), readable and writable by its owner only.
fn create_private(path: &Path) -> Result<File, BackupError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => BackupError::Exists(path.to_path_buf()),
        _ => BackupError::Io { path: path.to_path_buf(), source },
    })
}

fn set_private(path: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err(path))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A directory only its owner may enter, removed with everything in it when dropped.
struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    fn create(beside: &Path) -> Result<Self, BackupError> {
        let nonce: u64 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let path = beside.join(format!(".renewtwin-backup-{}-{nonce:x}", std::process::id()));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path).map_err(io_err(&path))?;
        Ok(Self { path })
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("renewtwin-backup-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    const NOTES: crate::Migrations = crate::Migrations {
        domain: "notes",
        steps: &[("001_notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);")],
    };

    fn live_database(dir: &Path) -> (PathBuf, crate::Store) {
        let db = dir.join("live.db");
        let store = crate::Store::open(&db, &[NOTES]).expect("opens");
        store.lock().expect("lock").execute("INSERT INTO notes (body) VALUES ('keep the camphor tree')", []).expect("insert");
        (db, store)
    }

    fn note(db: &Path) -> String {
        let store = crate::Store::open(db, &[NOTES]).expect("the restored copy opens");
        store.lock().expect("lock").query_row("SELECT body FROM notes", [], |r| r.get(0)).expect("the note")
    }

    #[test]
    fn an_encrypted_backup_hides_the_data_and_restores_only_with_the_operators_key() {
        let dir = temp_dir("encrypted");
        let (db, _live) = live_database(&dir);
        let key = generate_key();
        let key_file = dir.join("operator.key");
        write_key_file(&key_file, &key).expect("key file");
        let recipient = parse_recipient(&key.recipient, "--to").expect("recipient");
        let out = dir.join("backup.age");
        let report = backup(&db, &out, &[recipient]).expect("backup");
        assert!(report.encrypted && report.written_bytes > report.database_bytes / 2);
        let bytes = fs::read(&out).expect("read");
        assert!(bytes.starts_with(AGE_MAGIC), "an age file");
        assert!(!bytes.windows(SQLITE_MAGIC.len()).any(|w| w == SQLITE_MAGIC), "no SQLite page in clear");
        assert!(!bytes.windows(12).any(|w| w == b"camphor tree"), "no data in clear");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&out).expect("meta").permissions().mode() & 0o777, 0o600);
            assert_eq!(fs::metadata(&key_file).expect("meta").permissions().mode() & 0o777, 0o600);
        }
        // No plaintext copy stays behind.
        let left: Vec<_> = fs::read_dir(&dir).expect("dir").map(|e| e.expect("entry").file_name()).collect();
        assert!(left.iter().all(|n| !n.to_string_lossy().starts_with(".renewtwin-backup")), "{left:?}");

        // Without a key: refused, naming what is needed. With another operator's key: refused.
        let restored = dir.join("restored.db");
        assert!(matches!(restore(&out, &restored, None), Err(BackupError::NeedsIdentity(_))));
        let other = dir.join("other.key");
        write_key_file(&other, &generate_key()).expect("key file");
        assert!(matches!(restore(&out, &restored, Some(&other)), Err(BackupError::Decrypt { .. })));
        assert!(!restored.exists());

        // A changed byte in the ciphertext is detected, and nothing is put in place.
        let mut tampered = bytes.clone();
        let at = tampered.len() - 40;
        tampered[at] ^= 1;
        let tampered_file = dir.join("tampered.age");
        fs::write(&tampered_file, &tampered).expect("write");
        assert!(restore(&tampered_file, &restored, Some(&key_file)).is_err());
        assert!(!restored.exists(), "a damaged backup is not restored");

        // The restore drill: the operator's key reads the copy back, checked.
        let report = restore(&out, &restored, Some(&key_file)).expect("restore");
        assert!(report.was_encrypted);
        assert_eq!(report.migrations, 1);
        assert_eq!(note(&restored), "keep the camphor tree");
        // Never over an existing database.
        assert!(matches!(restore(&out, &restored, Some(&key_file)), Err(BackupError::Exists(_))));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_plain_backup_restores_and_foreign_files_are_refused() {
        let dir = temp_dir("plain");
        let (db, _live) = live_database(&dir);
        let out = dir.join("copy.db");
        let report = backup(&db, &out, &[]).expect("backup");
        assert!(!report.encrypted);
        assert!(matches!(backup(&db, &out, &[]), Err(BackupError::Exists(_))));
        let restored = dir.join("restored.db");
        let report = restore(&out, &restored, None).expect("restore");
        assert!(!report.was_encrypted);
        assert_eq!(note(&restored), "keep the camphor tree");

        let text = dir.join("notes.txt");
        fs::write(&text, "not a database").expect("write");
        assert!(matches!(restore(&text, &dir.join("x.db"), None), Err(BackupError::NotABackup(_))));
        // A SQLite file that is not renewtwin's is refused by name.
        let foreign = dir.join("foreign.db");
        rusqlite::Connection::open(&foreign).expect("open").execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").expect("make");
        let refused = restore(&foreign, &dir.join("y.db"), None).expect_err("refused");
        assert!(refused.to_string().contains("not a renewtwin database"), "{refused}");
        assert!(matches!(parse_recipient("age1nope", "--to"), Err(BackupError::Recipient { .. })));
        let _ = fs::remove_dir_all(&dir);
    }
}
