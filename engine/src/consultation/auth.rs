//! Who is calling: roles, session tokens, the per-request authorisation check and per-account
//! rate limits.
//!
//! Every consultation handler takes a [`Caller`]. Extracting it looks up the matched route in
//! [`super::routes::ENDPOINTS`] (the one table that also drives the OpenAPI document and the
//! endpoint × role test), resolves the bearer token, refuses roles the endpoint does not allow
//! (401 without a valid token, 403 with the wrong role) and charges writes to the account's
//! rate limit. A route missing from the table is refused: authorisation fails closed.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{Method, header};
use base64::Engine as _;
use blake2::Digest as _;
use rusqlite::OptionalExtension as _;

use super::{ConsultationError, Result, now, with_db};
use crate::server::AppState;

/// A role in "1 + N + X" governance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The government that leads the renewal (the "1").
    Government,
    /// A professional body: design institute, contractor, property manager, finance, legal,
    /// social worker (the "N").
    Professional,
    /// A resident with a household (the "X").
    Resident,
    /// Anyone without an account.
    Public,
}

impl Role {
    /// Every role, for tables and tests.
    pub const ALL: [Role; 4] = [Role::Government, Role::Professional, Role::Resident, Role::Public];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Government => "government",
            Role::Professional => "professional",
            Role::Resident => "resident",
            Role::Public => "public",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Government and professionals see internal fields.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Government | Role::Professional)
    }
}

/// A signed-in account as the server knows it.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: i64,
    pub role: Role,
    pub household_id: Option<i64>,
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
pub(crate) struct Caller {
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

impl FromRequestParts<AppState> for Caller {
    type Rejection = ConsultationError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let hub = parts
            .extensions
            .get::<std::sync::Arc<super::Consultation>>()
            .cloned()
            .ok_or(ConsultationError::Unavailable("the consultation routes are not set up"))?;
        let path = parts.extensions.get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
        let endpoint = super::routes::endpoint(&parts.method, &path)
            .ok_or_else(|| ConsultationError::Forbidden(format!("{} {path} is not classified; refused", parts.method)))?;
        let account = match bearer(&parts.headers)? {
            Some(token) => Some(resolve(state, token).await?),
            None => None,
        };
        let role = account.as_ref().map_or(Role::Public, |a| a.role);
        if !endpoint.allow.contains(&role) {
            return Err(match account {
                None => ConsultationError::Unauthorized("sign in first (Authorization: Bearer TOKEN)"),
                Some(_) => ConsultationError::Forbidden(format!("a {} account may not {} {path}", role.as_str(), parts.method)),
            });
        }
        if parts.method != Method::GET
            && let Some(a) = &account
        {
            hub.limits.charge(&format!("write:{}", a.id), hub.config.writes_per_minute)?;
        }
        Ok(Caller { account, hub })
    }
}

/// The bearer token of a request, if any.
fn bearer(headers: &axum::http::HeaderMap) -> Result<Option<String>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let text = value.to_str().map_err(|_| ConsultationError::Unauthorized("the Authorization header is not text"))?;
    let token = text.strip_prefix("Bearer ").ok_or(ConsultationError::Unauthorized("use Authorization: Bearer TOKEN"))?;
    Ok(Some(token.trim().to_owned()))
}

/// The account of a valid, unexpired session token.
pub(crate) async fn resolve(state: &AppState, token: String) -> Result<Account> {
    if token.is_empty() || token.len() > 128 {
        return Err(ConsultationError::Unauthorized("the session token is invalid or has expired; sign in again"));
    }
    let hash = token_hash(&token);
    with_db(&state.store, move |conn| {
        conn.query_row(
            "SELECT a.id, a.role, a.household_id
             FROM c_sessions s JOIN c_accounts a ON a.id = s.account_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2",
            (hash, now()),
            |r| {
                let role: String = r.get(1)?;
                Ok(Account {
                    id: r.get(0)?,
                    role: Role::parse(&role).unwrap_or(Role::Public),
                    household_id: r.get(2)?,
                })
            },
        )
        .optional()?
        .ok_or(ConsultationError::Unauthorized("the session token is invalid or has expired; sign in again"))
    })
    .await
}

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|_| ConsultationError::Unavailable("the system random source failed"))?;
    Ok(buf)
}

/// A new session token (256 random bits, URL-safe base64).
pub(crate) fn new_token() -> Result<String> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// Tokens and invitation codes are stored as hashes, never as issued.
pub(crate) fn token_hash(token: &str) -> String {
    let digest = blake2::Blake2s256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fixed one-minute windows of request counts per key (`write:ACCOUNT`, `login:USER`).
#[derive(Debug, Default)]
pub(crate) struct RateLimits {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimits {
    /// Counts one request against `key`; refuses it past `per_minute` in the current minute.
    pub fn charge(&self, key: &str, per_minute: u32) -> Result<()> {
        let now = now();
        let minute = now / 60;
        let mut windows = self.windows.lock().map_err(|_| ConsultationError::Unavailable("rate limiter poisoned"))?;
        if windows.len() > 100_000 {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let entry = windows.entry(key.to_owned()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= per_minute {
            return Err(ConsultationError::RateLimited((60 - now % 60).max(1) as u64));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Session rows for `account` that expire after `ttl` seconds; returns `(token, expires_at)`.
pub(crate) fn open_session(conn: &rusqlite::Connection, account: i64, ttl: i64) -> Result<(String, i64)> {
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
    fn rate_limits_refuse_past_the_budget_and_name_a_retry_time() {
        let limits = RateLimits::default();
        for _ in 0..3 {
            limits.charge("write:1", 3).expect("within budget");
        }
        match limits.charge("write:1", 3) {
            Err(ConsultationError::RateLimited(secs)) => assert!((1..=60).contains(&secs)),
            other => panic!("expected a rate limit, got {other:?}"),
        }
        limits.charge("write:2", 3).expect("another account has its own budget");
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
