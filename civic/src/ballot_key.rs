//! The key of the secret ballot: ballots are stored under a per-question pseudonym of the
//! household, a keyed hash (BLAKE2s-MAC, RFC 7693) of the question and the household whose key
//! lives in a file outside the database. Without that file nothing in the database, a backup or
//! a log links a choice to a household or a person; with it, the server recognises the
//! household's own ballot (one ballot per household, changeable) and assigns each ballot to its
//! scope at the close.
//!
//! Threat model (README "Security"): whoever holds the database or a backup but not the key
//! learns how many ballots each alternative has and who took part, never who chose what. The
//! operator who holds both can link them by hashing every household, as any server that counts
//! secret ballots per unit can; keep the key file apart from the backups. Losing the key means
//! the server cannot recognise cast ballots any more (a household could vote twice), so the
//! database records the key's fingerprint and the server refuses to start on ballots cast under
//! another key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use blake2::digest::{KeyInit as _, Mac as _};

/// Length of the key file, in bytes.
pub const KEY_BYTES: usize = 32;

/// The errors of loading or creating a key file.
#[derive(Debug, thiserror::Error)]
pub enum BallotKeyError {
    /// The file exists but cannot be read.
    #[error("cannot read the ballot key {}", path.display())]
    Read { path: PathBuf, #[source] source: std::io::Error },
    /// The file has the wrong length.
    #[error("the ballot key {} has {len} bytes; a key file has exactly {KEY_BYTES}", path.display())]
    Length { path: PathBuf, len: usize },
    /// A new key file cannot be written.
    #[error("cannot create the ballot key {}", path.display())]
    Create { path: PathBuf, #[source] source: std::io::Error },
    /// The system's random source failed.
    #[error("the system's random source failed: {0}")]
    Random(String),
}

/// The ballot key (cheap to clone; never printed).
#[derive(Clone)]
pub struct BallotKey(Arc<[u8; KEY_BYTES]>);

impl std::fmt::Debug for BallotKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BallotKey({})", self.fingerprint())
    }
}

impl BallotKey {
    /// A key of these bytes.
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        Self(Arc::new(bytes))
    }

    /// A fresh random key that is kept nowhere: for tests and in-memory databases, whose ballots
    /// die with the process anyway.
    pub fn ephemeral() -> Result<Self, BallotKeyError> {
        let mut bytes = [0u8; KEY_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| BallotKeyError::Random(e.to_string()))?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key in `path`, created (random, readable by its owner only) if the file does not
    /// exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, BallotKeyError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let len = bytes.len();
                let bytes: [u8; KEY_BYTES] =
                    bytes.try_into().map_err(|_| BallotKeyError::Length { path: path.to_owned(), len })?;
                Ok(Self::from_bytes(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::ephemeral()?;
                let create = |e| BallotKeyError::Create { path: path.to_owned(), source: e };
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(create)?;
                std::io::Write::write_all(&mut file, key.0.as_slice()).map_err(create)?;
                file.sync_all().map_err(create)?;
                tracing::info!(path = %path.display(), fingerprint = %key.fingerprint(), "created a new ballot key");
                Ok(key)
            }
            Err(e) => Err(BallotKeyError::Read { path: path.to_owned(), source: e }),
        }
    }

    fn mac(&self, domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        // A 32-byte key is a valid BLAKE2s key: new_from_slice cannot fail here.
        let mut mac = match blake2::Blake2sMac256::new_from_slice(self.0.as_slice()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("a {KEY_BYTES}-byte key is a valid BLAKE2s key"),
        };
        mac.update(domain);
        for p in parts {
            mac.update(&(p.len() as u64).to_le_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// The pseudonym of `household` (its database id) on `question`: 64 hex digits, different
    /// for every question, so ballots of one household on two questions do not link either.
    pub fn pseudonym(&self, question: i64, household: i64) -> String {
        hex(&self.mac(b"renewtwin secret ballot v1", &[&question.to_le_bytes(), &household.to_le_bytes()]))
    }

    /// A public fingerprint of the key (it reveals nothing of the key): what the database
    /// records, so a server started with another key refuses to run rather than count twice.
    pub fn fingerprint(&self) -> String {
        hex(&self.mac(b"renewtwin ballot key fingerprint v1", &[])[..8])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_per_key_and_question_and_unlinkable_across_them() {
        let key = BallotKey::from_bytes([7; KEY_BYTES]);
        let other = BallotKey::from_bytes([8; KEY_BYTES]);
        assert_eq!(key.pseudonym(1, 42), key.pseudonym(1, 42), "one household, one pseudonym per question");
        assert_ne!(key.pseudonym(1, 42), key.pseudonym(2, 42), "another question, another pseudonym");
        assert_ne!(key.pseudonym(1, 42), key.pseudonym(1, 43));
        assert_ne!(key.pseudonym(1, 42), other.pseudonym(1, 42), "without the key, no pseudonym can be recomputed");
        assert_eq!(key.pseudonym(1, 42).len(), 64);
        assert!(!format!("{key:?}").contains("0707"), "the key is never printed");
        assert_ne!(key.fingerprint(), other.fingerprint());
    }

    #[test]
    fn a_key_file_is_created_once_then_read_and_a_bad_one_is_named() {
        let dir = std::env::temp_dir().join(format!("renewtwin-ballot-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("ballot.key");
        let first = BallotKey::load_or_create(&path).expect("created");
        let again = BallotKey::load_or_create(&path).expect("read");
        assert_eq!(first.fingerprint(), again.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
        }
        std::fs::write(&path, b"short").expect("write");
        let e = BallotKey::load_or_create(&path).expect_err("a 5-byte key");
        assert!(e.to_string().contains("ballot.key") && e.to_string().contains("5 bytes"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
