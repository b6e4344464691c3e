//! Public consultation and collaborative governance ("1 + N + X"): the government leads, the
//! professional bodies join, the residents take part.
//!
//! Accounts and roles ([`accounts`], [`auth`]), comments anchored on the model ([`comments`]),
//! consultations with secret-ballot votes ([`votes`]), problem reports tracked to closure
//! ([`reports`]), moderation ([`moderation`]), announcements and policies
//! ([`announcements`]), BCF 3.0 exchange ([`bcf`]) and third-party indicators ([`indicators`]).
//! The domain knows no HTTP: the server crate (`renewtwin-server`) routes requests to these
//! functions and turns their results and [`ConsultationError`]s into responses.
//!
//! Every record leaves the server through [`privacy::view`], which keeps only the fields the
//! viewer's class may see; the HTTP API and the live events ([`live`], the `comments` layer of
//! `/ws`) share it. Data lives in the
//! store (`renewtwin_store::Store`; tables prefixed `c_`, migrations in [`MIGRATIONS`], which
//! the binary registers when it opens the store).

pub mod accounts;
pub mod announcements;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod ballot_key;
pub mod bcf;
pub mod comments;
pub mod decision;
pub mod evaluations;
pub mod guid;
pub mod indicators;
pub mod live;
pub mod moderation;
pub mod objections;
pub mod privacy;
pub mod progress;
pub mod reports;
pub mod votes;

use std::sync::Arc;
use std::time::Duration;

pub use auth::{Audience, Caller, Role};
/// The store connection the domain's functions work on.
pub use renewtwin_store::db::Connection;
use renewtwin_store::{Migrations, Store, StoreError};
use renewtwin_twin::renewal::control::EventError;

/// The consultation domain's tables.
pub const MIGRATIONS: Migrations = Migrations {
    domain: "consultation",
    steps: &[
        ("001_create", SCHEMA_001),
        ("002_rate_limits", SCHEMA_002),
        ("003_decisions", SCHEMA_003),
        ("010_roles", SCHEMA_ROLES),
        ("011_audit", SCHEMA_AUDIT),
        ("012_approvals", SCHEMA_APPROVALS),
        ("013_progress", SCHEMA_PROGRESS),
        ("014_objections", SCHEMA_OBJECTIONS),
        ("015_evaluations", SCHEMA_EVALUATIONS),
        ("020_household_codes", SCHEMA_HOUSEHOLD_CODES),
        ("021_tally_publication", SCHEMA_TALLY_PUBLICATION),
        ("022_secret_ballots", SCHEMA_SECRET_BALLOTS),
    ],
};

/// Professional capacities, authorities' names (in `organisation`) and powers granted beyond a
/// role.
pub const SCHEMA_ROLES: &str = "
ALTER TABLE c_accounts ADD COLUMN capacity TEXT;
ALTER TABLE c_invitations ADD COLUMN capacity TEXT;
CREATE TABLE c_grants (
    account_id INTEGER NOT NULL REFERENCES c_accounts(id), permission TEXT NOT NULL,
    granted_by INTEGER REFERENCES c_accounts(id), granted_at INTEGER NOT NULL, PRIMARY KEY (account_id, permission));
";

/// The hash-chained audit log ([`audit`]).
pub const SCHEMA_AUDIT: &str = "
CREATE TABLE c_audit (
    seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor INTEGER, actor_role TEXT NOT NULL, action TEXT NOT NULL,
    project TEXT, subject TEXT NOT NULL, detail TEXT NOT NULL, personal TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL UNIQUE);
";

/// Authorities' decisions on approvals with their reasons ([`approvals`]).
pub const SCHEMA_APPROVALS: &str = "
CREATE TABLE c_approval_decisions (
    id INTEGER PRIMARY KEY, project TEXT NOT NULL, approval TEXT NOT NULL, granted INTEGER NOT NULL,
    day INTEGER NOT NULL, reason TEXT NOT NULL, decided_by INTEGER NOT NULL REFERENCES c_accounts(id),
    decided_at INTEGER NOT NULL);
";

/// Household codes in their one spelling ([`normalise_household`]). Codes were ASCII
/// before (`check_id`), so upper-casing is the whole normalisation of a stored one; a code whose
/// upper-case form is already stored is left as it is (two rows an operator must merge by hand:
/// guessing which account is the real household's would be worse).
pub const SCHEMA_HOUSEHOLD_CODES: &str = "
UPDATE c_households SET code = UPPER(code)
WHERE code <> UPPER(code)
  AND NOT EXISTS (SELECT 1 FROM c_households other WHERE other.code = UPPER(c_households.code));
";

/// When an open consultation's tallies are published ([`votes::TallyPublication`]): the batch
/// size (`NULL`: only at the close), ballots cast or changed so far, and the last published
/// tallies. Consultations opened before this migration published each ballot, and keep doing so.
pub const SCHEMA_TALLY_PUBLICATION: &str = "
ALTER TABLE c_consultations ADD COLUMN tally_every INTEGER DEFAULT 1;
ALTER TABLE c_consultations ADD COLUMN ballot_changes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE c_consultations ADD COLUMN published_tally TEXT;
";

/// Ballots under per-question pseudonyms of their households ([`ballot_key`]): no column links
/// a ballot to a household, the row id is random (the table's order is not the voting order)
/// and the time is the day only. `c_ballot_keys` holds the fingerprint of the key they were cast
/// under. Ballots of `c_ballots` (beside their households) are moved here by
/// [`votes::adopt_key`] when the server starts with its key.
pub const SCHEMA_SECRET_BALLOTS: &str = "
CREATE TABLE c_secret_ballots (
    id INTEGER PRIMARY KEY, question_id INTEGER NOT NULL REFERENCES c_questions(id), voter TEXT NOT NULL,
    alternative INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE (question_id, voter));
CREATE TABLE c_ballot_keys (fingerprint TEXT PRIMARY KEY, adopted_at INTEGER NOT NULL);
";

/// Actual progress per task and building ([`progress`]).
pub const SCHEMA_PROGRESS: &str = "
CREATE TABLE c_progress (
    id INTEGER PRIMARY KEY, project TEXT NOT NULL, task TEXT NOT NULL, building TEXT,
    actual_start TEXT, actual_finish TEXT, percent REAL NOT NULL, delay_reason TEXT, actual_cost REAL,
    recorded_by INTEGER NOT NULL REFERENCES c_accounts(id), recorded_at INTEGER NOT NULL);
CREATE INDEX c_progress_task ON c_progress(project, task, building);
";

/// Objections to decided consultations and their answers ([`objections`]), and the day each
/// decision took effect in the plan (after its objection window; rows closed before this step
/// took effect at their close, their decision's `effective_day`).
pub const SCHEMA_OBJECTIONS: &str = "
CREATE TABLE c_objections (
    id INTEGER PRIMARY KEY, consultation_id INTEGER NOT NULL REFERENCES c_consultations(id),
    filed_by INTEGER REFERENCES c_accounts(id), text TEXT NOT NULL, filed_day INTEGER NOT NULL, filed_at INTEGER NOT NULL,
    answer TEXT, answered_by INTEGER REFERENCES c_accounts(id), answered_day INTEGER, answered_at INTEGER);
CREATE INDEX c_objections_consultation ON c_objections(consultation_id);
ALTER TABLE c_consultations ADD COLUMN in_effect_day INTEGER;
UPDATE c_consultations SET in_effect_day = closed_day WHERE closed_at IS NOT NULL;
";

/// Third-party evaluations ([`evaluations`]), and a household's own declared floor area (m²),
/// which consultation tallies count instead of the model's share ([`decision`]).
pub const SCHEMA_EVALUATIONS: &str = "
CREATE TABLE c_evaluations (
    id INTEGER PRIMARY KEY, project TEXT NOT NULL, score INTEGER NOT NULL, body TEXT NOT NULL,
    filed_by INTEGER NOT NULL REFERENCES c_accounts(id), organisation TEXT, filed_day INTEGER NOT NULL, filed_at INTEGER NOT NULL);
CREATE INDEX c_evaluations_project ON c_evaluations(project);
ALTER TABLE c_households ADD COLUMN floor_area REAL;
";

/// Consultations decided from their ballots: the simulated day each opened, the scopes it
/// decides for, the decision computed at the close (rule, tallies, thresholds), and each
/// question's kind (`consent` or `choice`).
const SCHEMA_003: &str = "
ALTER TABLE c_consultations ADD COLUMN opened_day INTEGER;
ALTER TABLE c_consultations ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE c_consultations ADD COLUMN decision TEXT;
ALTER TABLE c_questions ADD COLUMN kind TEXT NOT NULL DEFAULT 'consent';
";

/// Rate-limit windows that outlive a restart: one row per key (`write:ACCOUNT`, `login:USER`),
/// swept once a minute.
const SCHEMA_002: &str = "
CREATE TABLE c_rate_limits (key TEXT PRIMARY KEY, minute INTEGER NOT NULL, count INTEGER NOT NULL) WITHOUT ROWID;
";

pub const SCHEMA_001: &str = "
CREATE TABLE c_households (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, building TEXT NOT NULL);
CREATE TABLE c_accounts (
    id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, role TEXT NOT NULL,
    display_name TEXT NOT NULL, organisation TEXT, phone TEXT,
    household_id INTEGER UNIQUE REFERENCES c_households(id), created_at INTEGER NOT NULL);
CREATE TABLE c_invitations (
    code_hash TEXT PRIMARY KEY, role TEXT NOT NULL, household_id INTEGER REFERENCES c_households(id),
    organisation TEXT, created_by INTEGER REFERENCES c_accounts(id), created_at INTEGER NOT NULL,
    used_by INTEGER REFERENCES c_accounts(id));
CREATE TABLE c_sessions (
    token_hash TEXT PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES c_accounts(id), expires_at INTEGER NOT NULL);
CREATE TABLE c_comments (
    id INTEGER PRIMARY KEY, project TEXT, parent_id INTEGER REFERENCES c_comments(id),
    author_id INTEGER NOT NULL REFERENCES c_accounts(id), body TEXT NOT NULL, element TEXT, point TEXT,
    viewpoint TEXT, created_at INTEGER NOT NULL, hidden INTEGER NOT NULL DEFAULT 0, hidden_reason TEXT,
    review TEXT, bcf_guid TEXT UNIQUE);
CREATE INDEX c_comments_parent ON c_comments(parent_id);
CREATE TABLE c_consultations (
    id INTEGER PRIMARY KEY, project TEXT NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL,
    opened_by INTEGER NOT NULL REFERENCES c_accounts(id), opened_at INTEGER NOT NULL,
    closed_at INTEGER, closed_day INTEGER, outcome TEXT);
CREATE TABLE c_questions (
    id INTEGER PRIMARY KEY, consultation_id INTEGER NOT NULL REFERENCES c_consultations(id),
    text TEXT NOT NULL, alternatives TEXT NOT NULL);
CREATE TABLE c_ballots (
    question_id INTEGER NOT NULL REFERENCES c_questions(id), household_id INTEGER NOT NULL REFERENCES c_households(id),
    alternative INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (question_id, household_id));
CREATE TABLE c_surveys (
    project TEXT NOT NULL, household_id INTEGER NOT NULL REFERENCES c_households(id),
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5), updated_at INTEGER NOT NULL, PRIMARY KEY (project, household_id));
CREATE TABLE c_reports (
    id INTEGER PRIMARY KEY, project TEXT, reporter_id INTEGER NOT NULL REFERENCES c_accounts(id),
    category TEXT NOT NULL, description TEXT NOT NULL, element TEXT, point TEXT, photo BLOB, photo_type TEXT,
    status TEXT NOT NULL, created_at INTEGER NOT NULL, first_answer_at INTEGER, closed_at INTEGER,
    hidden INTEGER NOT NULL DEFAULT 0, hidden_reason TEXT, review TEXT, bcf_guid TEXT UNIQUE);
CREATE TABLE c_report_updates (
    id INTEGER PRIMARY KEY, report_id INTEGER NOT NULL REFERENCES c_reports(id),
    author_id INTEGER NOT NULL REFERENCES c_accounts(id), status TEXT NOT NULL, message TEXT NOT NULL,
    created_at INTEGER NOT NULL);
CREATE TABLE c_flags (
    target TEXT NOT NULL, target_id INTEGER NOT NULL, account_id INTEGER NOT NULL REFERENCES c_accounts(id),
    reason TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (target, target_id, account_id));
CREATE TABLE c_moderation_log (
    id INTEGER PRIMARY KEY, target TEXT NOT NULL, target_id INTEGER NOT NULL, action TEXT NOT NULL,
    reason TEXT NOT NULL, account_id INTEGER REFERENCES c_accounts(id), created_at INTEGER NOT NULL);
CREATE TABLE c_announcements (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, project TEXT, title TEXT NOT NULL, body TEXT NOT NULL,
    author_id INTEGER NOT NULL REFERENCES c_accounts(id), published_at INTEGER NOT NULL);
CREATE TABLE c_follows (
    account_id INTEGER NOT NULL REFERENCES c_accounts(id), project TEXT NOT NULL, PRIMARY KEY (account_id, project));
";

/// Settings of the consultation domain.
#[derive(Debug, Clone)]
pub struct ConsultationConfig {
    /// How long a session token stays valid.
    pub session_ttl: Duration,
    /// Writes one account may make per minute.
    pub writes_per_minute: u32,
    /// Sign-in and sign-up attempts per user name per minute.
    pub logins_per_minute: u32,
    /// Writes (sign-up, sign-in, anything without a valid account) per client address per
    /// minute; IPv6 addresses count per /64.
    pub anonymous_writes_per_minute: u32,
    /// Distinct flags after which a comment or report is hidden pending review.
    pub auto_hide_flags: u32,
    /// BCF imports one account may make per minute (each archive also within
    /// [`bcf::MAX_TOPICS`], [`bcf::MAX_COMMENTS`] and the other per-import limits).
    pub imports_per_minute: u32,
}

impl Default for ConsultationConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            writes_per_minute: 60,
            logins_per_minute: 10,
            anonymous_writes_per_minute: 60,
            auto_hide_flags: 3,
            imports_per_minute: 2,
        }
    }
}

/// The consultation domain's shared state: settings, rate limits, the live event feed and
/// the store.
#[derive(Debug)]
pub struct Consultation {
    pub config: ConsultationConfig,
    pub limits: auth::RateLimits,
    pub feed: live::Feed,
    /// Serialises closing consultations, so an outcome is recorded in the plan once.
    pub closing: tokio::sync::Mutex<()>,
    /// Where accounts, comments, ballots and reports are kept.
    pub store: Arc<Store>,
    /// The key of the ballots' pseudonyms (kept outside the database).
    pub ballot_key: ballot_key::BallotKey,
}

impl Consultation {
    /// The domain with `config` over `store`, its ballots under `ballot_key`, before any replay
    /// (call [`votes::adopt_key`] on the store first: it refuses a key the ballots were not cast
    /// under).
    pub fn new(config: ConsultationConfig, store: Arc<Store>, ballot_key: ballot_key::BallotKey) -> Arc<Self> {
        Arc::new(Self {
            config,
            limits: auth::RateLimits::default(),
            feed: live::Feed::default(),
            closing: tokio::sync::Mutex::new(()),
            store,
            ballot_key,
        })
    }

    /// Waits for the right to decide (close a consultation, put a decision into effect, decide
    /// an approval): one decision at a time in this process and, on a database the replicas of
    /// a cluster share, across them (a session lock of the database, [`DECIDING_LOCK`]), so two
    /// can never both pass an "undecided" check. Gives up with `Unavailable` after
    /// [`DECIDING_WAIT`].
    pub async fn deciding(&self) -> Result<Deciding<'_>> {
        let local = self.closing.lock().await;
        let deadline = std::time::Instant::now() + DECIDING_WAIT;
        loop {
            let store = self.store.clone();
            let taken = tokio::task::spawn_blocking(move || store.try_lock_shared(DECIDING_LOCK))
                .await
                .map_err(|_| ConsultationError::Unavailable("a database worker stopped"))??;
            if taken {
                return Ok(Deciding { _local: local, store: self.store.clone() });
            }
            if std::time::Instant::now() > deadline {
                return Err(ConsultationError::Unavailable("another replica has been deciding for too long"));
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Runs `work` on the store's connection in a blocking thread ([`with_db`]).
    pub async fn db<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut renewtwin_store::db::Connection) -> Result<T> + Send + 'static,
    {
        with_db(&self.store, work).await
    }
}

/// The database lock of [`Consultation::deciding`] (an arbitrary constant: "RTDECIDE").
pub const DECIDING_LOCK: i64 = 0x5254_4445_4349_4445;
/// How long [`Consultation::deciding`] waits for another replica's decision.
pub const DECIDING_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The right to decide, held until dropped ([`Consultation::deciding`]).
#[derive(Debug)]
pub struct Deciding<'a> {
    _local: tokio::sync::MutexGuard<'a, ()>,
    store: Arc<Store>,
}

impl Drop for Deciding<'_> {
    fn drop(&mut self) {
        // The release is a database call: on a runtime it runs on a blocking thread, so the
        // async worker dropping the guard never waits for the database. The in-process lock
        // (dropped after this body) may then pass before the release has run; the next decider
        // of this process takes the lock again on the same database session, where a session
        // lock counts its holds, and every hold is released once, so the count returns to zero.
        let store = self.store.clone();
        let release = move || {
            if let Err(e) = store.unlock_shared(DECIDING_LOCK) {
                tracing::warn!(error = %e, "cannot release the deciding lock (the database releases it when the connection ends)");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(release)),
            Err(_) => release(),
        }
    }
}

/// Why a consultation request failed. Each variant maps to an HTTP status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ConsultationError {
    /// The request is malformed or a field is out of bounds.
    #[error("{0}")]
    Invalid(String),
    /// No valid session token was given where one is needed.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The thing named does not exist (or is not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (name taken, consultation closed, …).
    #[error("{0}")]
    Conflict(String),
    /// The caller spent a budget (named as the server's configuration names it, e.g.
    /// `imports_per_minute`); retry after `retry_after` seconds.
    #[error("too many requests: the {budget} budget ({per_minute} a minute) is spent; retry in {retry_after} s")]
    RateLimited { retry_after: u64, budget: &'static str, per_minute: u32 },
    /// The plan refused the recorded outcome.
    #[error("the plan refused the event")]
    Plan(#[source] EventError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request body is larger than the endpoint accepts.
    #[error("the request body is too large: {0}")]
    TooLarge(String),
    /// The simulation or a worker stopped.
    #[error("{0}")]
    Unavailable(&'static str),
}

impl ConsultationError {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } => "rate_limited",
            Self::Plan(_) => "plan_rejected",
            Self::TooLarge(_) => "too_large",
            Self::Store(_) => "storage_failed",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

impl From<renewtwin_store::db::Error> for ConsultationError {
    fn from(e: renewtwin_store::db::Error) -> Self {
        Self::Store(StoreError::Database { path: "consultation".into(), source: e })
    }
}

/// Shorthand for results of this domain.
pub type Result<T, E = ConsultationError> = std::result::Result<T, E>;

/// Runs `work` on the store's connection in a blocking thread.
pub async fn with_db<T, F>(store: &Arc<Store>, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut renewtwin_store::db::Connection) -> Result<T> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = store.lock()?;
        work(&mut conn)
    })
    .await
    .map_err(|_| ConsultationError::Unavailable("a database worker stopped"))?
}

/// The classification of every record's fields, as served at `/api/consultation/classification`.
pub fn classification() -> serde_json::Value {
    fn entry<R: privacy::Record>() -> (String, serde_json::Value) {
        let fields: serde_json::Map<String, serde_json::Value> =
            R::FIELDS.iter().map(|f| (f.name.to_owned(), serde_json::to_value(f.class).unwrap_or(serde_json::Value::Null))).collect();
        (R::KIND.to_owned(), serde_json::Value::Object(fields))
    }
    serde_json::Value::Object(
        [
            entry::<crate::accounts::AccountRecord>(),
            entry::<crate::comments::Comment>(),
            entry::<crate::reports::Report>(),
            entry::<crate::reports::ReportUpdate>(),
            entry::<crate::votes::ConsultationRecord>(),
            entry::<crate::votes::Ballot>(),
            entry::<crate::votes::PlanChange>(),
            entry::<crate::objections::Objection>(),
            entry::<crate::evaluations::Evaluation>(),
            entry::<crate::announcements::Announcement>(),
        ]
        .into_iter()
        .collect(),
    )
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// `secs` since the epoch as RFC 3339 UTC, e.g. `2024-05-01T08:30:00Z`.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Checks a free text field: trimmed non-empty (unless `may_be_empty`), at most `max` characters,
/// no control characters other than newline and tab. The text is stored as typed.
pub fn check_text(field: &str, text: &str, max: usize, may_be_empty: bool) -> Result<()> {
    if !may_be_empty && text.trim().is_empty() {
        return Err(ConsultationError::Invalid(format!("`{field}` is empty")));
    }
    let n = text.chars().count();
    if n > max {
        return Err(ConsultationError::Invalid(format!("`{field}` has {n} characters; at most {max} are allowed")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ConsultationError::Invalid(format!("`{field}` contains control characters")));
    }
    Ok(())
}

/// A household code as stored and compared: full-width forms (as a Chinese input method types
/// them) folded to ASCII, every dash form to `-`, spaces (also the ideographic space) removed,
/// letters upper-cased. `b1-1-101`, `Ｂ１－１－１０１` and ` B1 - 1 - 101 ` are one household,
/// so a household cannot hold two accounts (and two ballots) by spelling its code twice.
pub fn normalise_household(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            // Full-width ASCII variants (U+FF01–U+FF5E) sit 0xFEE0 above their ASCII forms.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' => '-',
            c => c,
        })
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Checks an identifier such as a project id, building or household code.
pub fn check_id(field: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(ConsultationError::Invalid(format!("`{field}` must be 1-64 letters, digits, '-', '_' or '.'")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_714_552_200), "2024-05-01T08:30:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn text_checks_bound_length_and_refuse_control_characters() {
        assert!(check_text("body", "<script>alert(1)</script>", 100, false).is_ok());
        assert!(check_text("body", "  ", 100, false).is_err());
        assert!(check_text("body", &"字".repeat(101), 100, false).is_err());
        assert!(check_text("body", "a\u{0}b", 100, false).is_err());
        assert!(check_text("body", "line\nline", 100, false).is_ok());
    }

    #[test]
    fn the_schema_migrates_on_an_empty_database() {
        let store = Store::for_test(&[MIGRATIONS]).expect("migrates");
        // SQLite lists its tables in sqlite_master, PostgreSQL in information_schema (the
        // test's own schema, first on its search path).
        let sql = match store.backend() {
            renewtwin_store::db::Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'c_%' AND type = 'table'",
            renewtwin_store::db::Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name LIKE 'c_%' AND table_schema = current_schema()"
            }
        };
        let n: i64 = store.lock().expect("lock").query_row(sql, [], |r| r.get(0)).expect("count");
        assert_eq!(n, 24);
    }
}
