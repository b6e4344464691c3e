//! Who is calling: roles, audiences, session tokens and rate limits.
//!
//! Every consultation handler of the server takes a [`Caller`]. The server's extractor
//! (`renewtwin_server::civic`) looks up the matched route in its endpoint table (the one table
//! that also drives the OpenAPI document and the endpoint × role test), resolves the bearer
//! token here ([`resolve`]), refuses roles the endpoint does not allow (401 without a valid
//! token, 403 with the wrong role) and charges writes to a rate limit ([`RateLimits`]): the
//! account's, kept in the database so a restart does not reset it, or, for visitors without an
//! account (sign-up, sign-in, refused writes), the client address's, kept in a bounded map. A
//! route missing from the table is refused: authorisation fails closed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine as _;
use blake2::Digest as _;
use renewtwin_store::db::OptionalExtension as _;

use renewtwin_store::Store;

use super::{ConsultationError, Result, now, with_db};

/// A role in "1 + N + X" governance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The government that leads the renewal (the "1"), with its department (the account's
    /// organisation).
    Government,
    /// An approving authority (planning bureau, fire review, …): decides the approvals that
    /// name it (its organisation is the `authority` of those approvals in `scene.toml`).
    Authority,
    /// A professional body with a declared [`Capacity`] (the "N").
    Professional,
    /// A resident with a household (the "X").
    Resident,
    /// Anyone without an account.
    Public,
}

impl Role {
    /// Every role, for tables and tests.
    pub const ALL: [Role; 5] = [Role::Government, Role::Authority, Role::Professional, Role::Resident, Role::Public];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Government => "government",
            Role::Authority => "authority",
            Role::Professional => "professional",
            Role::Resident => "resident",
            Role::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Government, authorities and professionals see internal fields.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Government | Role::Authority | Role::Professional)
    }
}

/// What a professional body does in the renewal: it decides what the account may do (least
/// privilege: a designer records no construction progress, a contractor reads no audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capacity {
    /// A design institute.
    Designer,
    /// A construction contractor: records actual progress.
    Contractor,
    /// A property manager.
    PropertyManager,
    /// A third-party evaluator: reads the indicators and the audit log, files evaluations.
    Evaluator,
}

impl Capacity {
    /// Every capacity.
    pub const ALL: [Capacity; 4] = [Capacity::Designer, Capacity::Contractor, Capacity::PropertyManager, Capacity::Evaluator];

    pub fn as_str(self) -> &'static str {
        match self {
            Capacity::Designer => "designer",
            Capacity::Contractor => "contractor",
            Capacity::PropertyManager => "property_manager",
            Capacity::Evaluator => "evaluator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A power the government may grant one account beyond its role (recorded in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Publish announcements and policies.
    Publish,
    /// Hide and restore comments and reports.
    Moderate,
}

impl Permission {
    pub const ALL: [Permission; 2] = [Permission::Publish, Permission::Moderate];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Publish => "publish",
            Permission::Moderate => "moderate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Who an endpoint admits: a role, a professional capacity, or a granted permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Every account of this role (any capacity), or visitors for [`Role::Public`].
    Role(Role),
    /// Professionals of this capacity.
    Capacity(Capacity),
    /// Accounts the government granted this permission.
    Granted(Permission),
}

impl Who {
    /// The name in the OpenAPI document and the README: `government`, `professional:contractor`,
    /// `granted:publish`.
    pub fn name(self) -> String {
        match self {
            Who::Role(r) => r.as_str().to_owned(),
            Who::Capacity(c) => format!("professional:{}", c.as_str()),
            Who::Granted(p) => format!("granted:{}", p.as_str()),
        }
    }

    /// Whether `account` (`None`: a visitor) is admitted.
    pub fn admits(self, account: Option<&Account>) -> bool {
        match (self, account) {
            (Who::Role(Role::Public), _) => true,
            (_, None) => false,
            (Who::Role(r), Some(a)) => a.role == r,
            (Who::Capacity(c), Some(a)) => a.role == Role::Professional && a.capacity == Some(c),
            (Who::Granted(p), Some(a)) => a.grants.contains(&p),
        }
    }
}

/// A signed-in account as the server knows it.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub role: Role,
    pub household_id: Option<i64>,
    /// A professional's capacity.
    pub capacity: Option<Capacity>,
    /// The department, body or authority the account acts for.
    pub organisation: Option<String>,
    /// Powers granted beyond the role.
    pub grants: Vec<Permission>,
}

impl Account {
    /// The role and capacity as shown in the audit log: `government`, `professional/contractor`.
    pub fn label(&self) -> String {
        match self.capacity {
            Some(c) => format!("{}/{}", self.role.as_str(), c.as_str()),
            None => self.role.as_str().to_owned(),
        }
    }
}

/// Who sees a record: the privacy class of each field is checked against this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A visitor without an account.
    Public,
    /// A signed-in account; `staff` for government and professionals.
    Account {
        /// The account id (a resident sees the internal fields of their own records).
        id: i64,
        /// Whether the account is government or professional.
        staff: bool,
    },
}

impl Audience {
    /// Whether this audience sees internal fields.
    pub fn is_staff(self) -> bool {
        matches!(self, Audience::Account { staff: true, .. })
    }

    /// The account id, if signed in.
    pub fn account(self) -> Option<i64> {
        match self {
            Audience::Public => None,
            Audience::Account { id, .. } => Some(id),
        }
    }
}

/// The authorised caller of a consultation endpoint.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Option<Account>,
    /// The domain's shared state (settings, rate limits, live feed).
    pub hub: std::sync::Arc<super::Consultation>,
}

impl Caller {
    pub fn audience(&self) -> Audience {
        match &self.account {
            None => Audience::Public,
            Some(a) => Audience::Account { id: a.id, staff: a.role.is_staff() },
        }
    }

    /// The account; endpoints that allow no public visitor can rely on it.
    pub fn signed_in(&self) -> Result<&Account> {
        self.account.as_ref().ok_or(ConsultationError::Unauthorized("sign in first (Authorization: Bearer TOKEN)"))
    }
}

/// The account of a valid, unexpired session token.
pub async fn resolve(store: &std::sync::Arc<Store>, token: String) -> Result<Account> {
    if token.is_empty() || token.len() > 128 {
        return Err(ConsultationError::Unauthorized("the session token is invalid or has expired; sign in again"));
    }
    let hash = token_hash(&token);
    with_db(store, move |conn| {
        let account = conn
            .query_row(
                "SELECT a.id, a.role, a.household_id, a.capacity, a.organisation
                 FROM c_sessions s JOIN c_accounts a ON a.id = s.account_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                (hash, now()),
                |r| {
                    let role: String = r.get(1)?;
                    let capacity: Option<String> = r.get(3)?;
                    Ok(Account {
                        id: r.get(0)?,
                        role: Role::parse(&role).unwrap_or(Role::Public),
                        household_id: r.get(2)?,
                        capacity: capacity.as_deref().and_then(Capacity::parse),
                        organisation: r.get(4)?,
                        grants: Vec::new(),
                    })
                },
            )
            .optional()?;
        let mut account = account.ok_or(ConsultationError::Unauthorized("the session token is invalid or has expired; sign in again"))?;
        account.grants = grants_of(conn, account.id)?;
        Ok(account)
    })
    .await
}

/// The permissions granted to account `id`.
pub fn grants_of(conn: &renewtwin_store::db::Connection, id: i64) -> Result<Vec<Permission>> {
    let mut stmt = conn.prepare("SELECT permission FROM c_grants WHERE account_id = ?1 ORDER BY permission")?;
    let names: Vec<String> = stmt.query_map([id], |r| r.get(0))?.collect::<renewtwin_store::db::Result<_>>()?;
    Ok(names.iter().filter_map(|n| Permission::parse(n)).collect())
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|_| ConsultationError::Unavailable("the system random source failed"))?;
    Ok(buf)
}

/// A new session token (256 random bits, URL-safe base64).
pub fn new_token() -> Result<String> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// Tokens and invitation codes are stored as hashes, never as issued.
pub fn token_hash(token: &str) -> String {
    let digest = blake2::Blake2s256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Client addresses whose visitor writes are counted at once; past that, new addresses share
/// one count until the minute turns (so a flood from many addresses cannot grow the map).
pub const MAX_ADDRESSES: usize = 10_000;

/// Fixed one-minute windows of request counts: per key in the database (`write:ACCOUNT`,
/// `login:USER`), per client address in memory.
#[derive(Debug, Default)]
pub struct RateLimits {
    /// Visitor writes per address (IPv6 per /64 prefix; `None`: unknown or overflow).
    addresses: Mutex<HashMap<Option<IpAddr>, (i64, u32)>>,
    /// The minute whose stale database rows were last swept.
    swept: AtomicI64,
}

/// The refusal for a window that ends at the next minute.
fn limited(now: i64) -> ConsultationError {
    ConsultationError::RateLimited((60 - now.rem_euclid(60)).max(1) as u64)
}

/// The address a visitor is counted under: IPv4 as is, IPv6 by its /64 prefix (one host may
/// hold a whole /64), IPv4-mapped IPv6 as IPv4.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

impl RateLimits {
    /// Counts one visitor write from `address` at `now`; refuses it past `per_minute` in that
    /// minute. Memory stays under [`MAX_ADDRESSES`] entries.
    pub fn charge_address(&self, address: Option<IpAddr>, per_minute: u32, now: i64) -> Result<()> {
        let minute = now.div_euclid(60);
        let mut counts = self.addresses.lock().map_err(|_| ConsultationError::Unavailable("rate limiter poisoned"))?;
        let mut key = address.map(address_key);
        if !counts.contains_key(&key) && counts.len() >= MAX_ADDRESSES {
            counts.retain(|_, (m, _)| *m == minute);
            if counts.len() >= MAX_ADDRESSES {
                key = None;
            }
        }
        let entry = counts.entry(key).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= per_minute {
            return Err(limited(now));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Counts one request against `key` in the database at `now`; refuses it past `per_minute`
    /// in that minute. Rows of past minutes are swept once a minute.
    pub fn charge_stored(&self, conn: &renewtwin_store::db::Connection, key: &str, per_minute: u32, now: i64) -> Result<()> {
        let minute = now.div_euclid(60);
        if self.swept.swap(minute, Ordering::Relaxed) != minute {
            conn.execute("DELETE FROM c_rate_limits WHERE minute < ?1", [minute])?;
        }
        let used: u32 = conn
            .query_row("SELECT count FROM c_rate_limits WHERE key = ?1 AND minute = ?2", (key, minute), |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        if used >= per_minute {
            return Err(limited(now));
        }
        conn.execute(
            "INSERT INTO c_rate_limits (key, minute, count) VALUES (?1, ?2, 1)
             ON CONFLICT (key) DO UPDATE SET count = CASE WHEN c_rate_limits.minute = excluded.minute THEN c_rate_limits.count + 1 ELSE 1 END, minute = excluded.minute",
            (key, minute),
        )?;
        Ok(())
    }
}

/// Counts one request against `key` in the database (the check and the count run together on
/// the store's single connection, so concurrent requests cannot both take the last one).
pub async fn charge(hub: &std::sync::Arc<super::Consultation>, key: String, per_minute: u32) -> Result<()> {
    let hub = hub.clone();
    let store = hub.store.clone();
    with_db(&store, move |conn| hub.limits.charge_stored(conn, &key, per_minute, now())).await
}

/// Session rows for `account` that expire after `ttl` seconds; returns `(token, expires_at)`.
pub fn open_session(conn: &renewtwin_store::db::Connection, account: i64, ttl: i64) -> Result<(String, i64)> {
    let token = new_token()?;
    let expires = now() + ttl;
    conn.execute("DELETE FROM c_sessions WHERE expires_at <= ?1", [now()])?;
    conn.execute("INSERT INTO c_sessions (token_hash, account_id, expires_at) VALUES (?1, ?2, ?3)", (token_hash(&token), account, expires))?;
    Ok((token, expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_rate_limits_refuse_past_the_budget_and_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("renewtwin-ratelimits-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("limits.db");
        let now = 1_714_552_200 + 17;
        {
            let store = renewtwin_store::Store::open(&path, &[crate::MIGRATIONS]).expect("store");
            let conn = store.lock().expect("lock");
            let limits = RateLimits::default();
            for _ in 0..3 {
                limits.charge_stored(&conn, "write:1", 3, now).expect("within budget");
            }
            match limits.charge_stored(&conn, "write:1", 3, now + 1) {
                Err(ConsultationError::RateLimited(secs)) => assert_eq!(secs, 42),
                other => panic!("expected a rate limit, got {other:?}"),
            }
            limits.charge_stored(&conn, "write:2", 3, now).expect("another account has its own budget");
        }
        // A restart (a new process: new limits, the same file) keeps the count.
        let store = renewtwin_store::Store::open(&path, &[crate::MIGRATIONS]).expect("reopen");
        let conn = store.lock().expect("lock");
        let limits = RateLimits::default();
        assert!(matches!(limits.charge_stored(&conn, "write:1", 3, now + 2), Err(ConsultationError::RateLimited(_))));
        // The next minute starts afresh, and sweeps the rows of past minutes.
        limits.charge_stored(&conn, "write:1", 3, now + 60).expect("a new minute");
        let rows: i64 = conn.query_row("SELECT COUNT(*) FROM c_rate_limits", [], |r| r.get(0)).expect("count");
        assert_eq!(rows, 1, "write:2 of the past minute was swept");
        drop(conn);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn visitor_limits_count_per_address_and_stay_bounded() {
        let limits = RateLimits::default();
        let now = 1_714_552_200;
        let a: IpAddr = "203.0.113.7".parse().expect("ip");
        for _ in 0..2 {
            limits.charge_address(Some(a), 2, now).expect("within budget");
        }
        assert!(matches!(limits.charge_address(Some(a), 2, now), Err(ConsultationError::RateLimited(60))));
        // The same host under IPv4-mapped IPv6, and another address in the same IPv6 /64.
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("ip");
        assert!(limits.charge_address(Some(mapped), 2, now).is_err(), "IPv4-mapped is the same address");
        let (p1, p2): (IpAddr, IpAddr) = ("2001:db8:1:2::1".parse().expect("ip"), "2001:db8:1:2:ffff::9".parse().expect("ip"));
        limits.charge_address(Some(p1), 1, now).expect("first of the prefix");
        assert!(limits.charge_address(Some(p2), 1, now).is_err(), "one /64 is one visitor");
        // Many addresses: the map stops growing and the newcomers share one count.
        for i in 0..(MAX_ADDRESSES as u32 + 50) {
            let _ = limits.charge_address(Some(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i))), 5, now);
        }
        assert!(limits.addresses.lock().expect("lock").len() <= MAX_ADDRESSES + 1);
        // A new minute frees the map for new addresses.
        limits.charge_address(Some("198.51.100.1".parse().expect("ip")), 5, now + 60).expect("a new minute");
        assert!(limits.addresses.lock().expect("lock").len() <= 2);
    }

    #[test]
    fn tokens_are_random_and_stored_as_hashes() {
        let a = new_token().expect("token");
        let b = new_token().expect("token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
