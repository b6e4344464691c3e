//! Accounts: the first government account (bootstrap, from the server's own machine),
//! invitations, sign-up, sign-in and sign-out.
//!
//! Residents sign up with an invitation code tied to one household (one household, one account,
//! one vote); professionals with a code tied to their organisation. Codes and session tokens are
//! stored as hashes; passwords with argon2id.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use renewtwin_store::db::OptionalExtension as _;
use serde::Deserialize;
use serde_json::Value;

use super::auth::{Capacity, Permission, Role, open_session, random_bytes, token_hash};
use super::privacy::{Class, Field, Record};
use super::{normalise_household, ConsultationError, Result, check_id, check_text, now};

/// An account as a record (what `/api/auth/me` and staff listings show).
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub display_name: String,
    pub organisation: Option<String>,
    pub phone: Option<String>,
    pub household: Option<String>,
    pub building: Option<String>,
    pub capacity: Option<Capacity>,
    pub grants: Vec<Permission>,
}

impl Record for AccountRecord {
    const KIND: &'static str = "account";
    const FIELDS: &'static [Field<Self>] = &[
        Field::new("id", Class::Internal, |r| r.id.into()),
        Field::new("username", Class::Internal, |r| r.username.clone().into()),
        Field::new("role", Class::Public, |r| r.role.as_str().into()),
        Field::new("display_name", Class::Internal, |r| r.display_name.clone().into()),
        Field::new("organisation", Class::Public, |r| r.organisation.clone().into()),
        Field::new("password_hash", Class::Confidential, |_| Value::Null),
        Field::new("phone", Class::Confidential, |r| r.phone.clone().into()),
        Field::new("household", Class::Confidential, |r| r.household.clone().into()),
        Field::new("building", Class::Internal, |r| r.building.clone().into()),
        Field::new("capacity", Class::Public, |r| r.capacity.map(Capacity::as_str).into()),
        Field::new("grants", Class::Internal, |r| r.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>().into()),
    ];
    fn owner(&self) -> Option<i64> {
        Some(self.id)
    }
}

/// `POST /api/auth/signup` and `/api/auth/bootstrap`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    /// Invitation code (not for bootstrap).
    #[serde(default)]
    pub invitation: Option<String>,
    pub username: String,
    pub password: String,
    pub display_name: String,
    #[serde(default)]
    pub phone: Option<String>,
}

/// `POST /api/auth/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// `POST /api/invitations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    pub role: Role,
    /// For residents: the household code, e.g. `B1-2-301`.
    #[serde(default)]
    pub household: Option<String>,
    /// For residents: the building the household lives in, e.g. `B1`.
    #[serde(default)]
    pub building: Option<String>,
    /// For professionals: the organisation; for an authority: its name exactly as the
    /// approvals of `scene.toml` name it; for government: the department.
    #[serde(default)]
    pub organisation: Option<String>,
    /// For professionals: what they do (designer, contractor, property_manager, evaluator).
    #[serde(default)]
    pub capacity: Option<Capacity>,
    /// For residents: the household's own floor area in m² (1-10,000), as declared (e.g. from
    /// its property certificate); consultation tallies count it instead of the model's share.
    #[serde(default)]
    pub floor_area_m2: Option<f64>,
}

fn check_signup(s: &SignUp) -> Result<()> {
    let u = &s.username;
    if u.len() < 3 || u.len() > 32 || !u.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)) {
        return Err(ConsultationError::Invalid("`username` must be 3-32 lowercase letters, digits, '_', '.' or '-'".into()));
    }
    let n = s.password.chars().count();
    if !(10..=128).contains(&n) {
        return Err(ConsultationError::Invalid("`password` must have 10-128 characters".into()));
    }
    check_text("display_name", &s.display_name, 64, false)?;
    if let Some(p) = &s.phone
        && (p.len() > 20 || !p.chars().all(|c| c.is_ascii_digit() || "+- ".contains(c)))
    {
        return Err(ConsultationError::Invalid("`phone` must be at most 20 digits, '+', '-' or spaces".into()));
    }
    Ok(())
}

/// Hashes a password with argon2id (run off the async threads and outside the database lock).
pub fn hash_password(password: &str) -> Result<String> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| ConsultationError::Unavailable("password hashing failed"))
}

fn verify_password(password: &str, hash: &str) -> bool {
    argon2::Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// Creates the first government account. Refused once any government account exists.
pub fn bootstrap(conn: &mut renewtwin_store::db::Connection, s: &SignUp, hash: String, ttl: i64) -> Result<Value> {
    check_signup(s)?;
    let tx = conn.transaction()?;
    let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM c_accounts WHERE role = 'government')", [], |r| r.get(0))?;
    if exists {
        return Err(ConsultationError::Conflict("a government account exists already; ask it for an invitation".into()));
    }
    let id = insert_account(&tx, s, Role::Government, hash, None, None, None)?;
    let (token, expires) = open_session(&tx, id, ttl)?;
    tx.commit()?;
    Ok(serde_json::json!({"id": id, "role": "government", "token": token, "expires_at": super::rfc3339(expires)}))
}

fn insert_account(
    tx: &renewtwin_store::db::Transaction<'_>,
    s: &SignUp,
    role: Role,
    hash: String,
    organisation: Option<String>,
    household: Option<i64>,
    capacity: Option<Capacity>,
) -> Result<i64> {
    let taken: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM c_accounts WHERE username = ?1)", [&s.username], |r| r.get(0))?;
    if taken {
        return Err(ConsultationError::Conflict(format!("the user name {:?} is taken", s.username)));
    }
    tx.execute(
        "INSERT INTO c_accounts (username, password_hash, role, display_name, organisation, phone, household_id, created_at, capacity)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        (&s.username, hash, role.as_str(), &s.display_name, organisation, &s.phone, household, now(), capacity.map(Capacity::as_str)),
    )?;
    Ok(tx.last_insert_rowid()?)
}

/// Validates a sign-up before the (slow) password hash is computed.
pub fn precheck_signup(s: &SignUp) -> Result<()> {
    check_signup(s)?;
    match &s.invitation {
        Some(code) if !code.is_empty() && code.len() <= 64 => Ok(()),
        _ => Err(ConsultationError::Invalid("`invitation` is required: ask the government office for a code".into())),
    }
}

/// An invitation as stored: role, household, organisation, who used it, capacity.
type InvitationRow = (String, Option<i64>, Option<String>, Option<i64>, Option<String>);

/// Creates an account from an invitation; the invitation is used up.
pub fn sign_up(conn: &mut renewtwin_store::db::Connection, s: &SignUp, hash: String, ttl: i64) -> Result<Value> {
    let code = s.invitation.as_deref().unwrap_or_default().trim().to_ascii_uppercase();
    let tx = conn.transaction()?;
    let invitation: Option<InvitationRow> = tx
        .query_row(
            "SELECT role, household_id, organisation, used_by, capacity FROM c_invitations WHERE code_hash = ?1",
            [token_hash(&code)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((role, household, organisation, used_by, capacity)) = invitation else {
        return Err(ConsultationError::Forbidden("the invitation code is not valid".into()));
    };
    if used_by.is_some() {
        return Err(ConsultationError::Conflict("the invitation code has been used".into()));
    }
    let role = Role::parse(&role).ok_or_else(|| ConsultationError::Invalid("the invitation has an unknown role".into()))?;
    if let Some(h) = household {
        let has_account: bool =
            tx.query_row("SELECT EXISTS(SELECT 1 FROM c_accounts WHERE household_id = ?1)", [h], |r| r.get(0))?;
        if has_account {
            return Err(ConsultationError::Conflict("this household has an account already (one household, one vote)".into()));
        }
    }
    let capacity = capacity.as_deref().and_then(Capacity::parse);
    let id = insert_account(&tx, s, role, hash, organisation, household, capacity)?;
    tx.execute("UPDATE c_invitations SET used_by = ?1 WHERE code_hash = ?2", (id, token_hash(&code)))?;
    let (token, expires) = open_session(&tx, id, ttl)?;
    tx.commit()?;
    Ok(serde_json::json!({"id": id, "role": role.as_str(), "token": token, "expires_at": super::rfc3339(expires)}))
}

/// The stored password hash and account id of `username`, for a sign-in check outside the lock.
pub fn credentials(conn: &renewtwin_store::db::Connection, username: &str) -> Result<Option<(i64, String, String)>> {
    Ok(conn
        .query_row("SELECT id, password_hash, role FROM c_accounts WHERE username = ?1", [username], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?)
}

/// Checks a password against the stored hash (or a dummy, so unknown names take as long).
pub fn check_login(login: &Login, stored: Option<&(i64, String, String)>) -> bool {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8r0Q2mJtZ3dPj0S0o7vG9yZ2lKqyG5dX8w0u9Q0jzQk";
    match stored {
        Some((_, hash, _)) => verify_password(&login.password, hash),
        None => {
            let _ = verify_password(&login.password, DUMMY);
            false
        }
    }
}

/// Ends the session of `token`.
pub fn logout(conn: &renewtwin_store::db::Connection, token: &str) -> Result<()> {
    conn.execute("DELETE FROM c_sessions WHERE token_hash = ?1", [token_hash(token)])?;
    Ok(())
}

/// The record of account `id`.
pub fn account(conn: &renewtwin_store::db::Connection, id: i64) -> Result<AccountRecord> {
    conn.query_row(
        "SELECT a.id, a.username, a.role, a.display_name, a.organisation, a.phone, h.code, h.building, a.capacity
         FROM c_accounts a LEFT JOIN c_households h ON h.id = a.household_id WHERE a.id = ?1",
        [id],
        |r| {
            let role: String = r.get(2)?;
            let capacity: Option<String> = r.get(8)?;
            Ok(AccountRecord {
                capacity: capacity.as_deref().and_then(Capacity::parse),
                grants: Vec::new(),
                id: r.get(0)?,
                username: r.get(1)?,
                role: Role::parse(&role).unwrap_or(Role::Public),
                display_name: r.get(3)?,
                organisation: r.get(4)?,
                phone: r.get(5)?,
                household: r.get(6)?,
                building: r.get(7)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| ConsultationError::NotFound(format!("no account {id}")))
    .and_then(|mut a| {
        a.grants = super::auth::grants_of(conn, id)?;
        Ok(a)
    })
}

/// A new invitation code like `K7QX-M2PA-9HRT` (no 0/O/1/I).
fn new_code() -> Result<String> {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let bytes = random_bytes::<12>()?;
    let chars: Vec<char> = bytes.iter().map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char).collect();
    Ok(chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-"))
}

/// Creates an invitation; returns the code (shown once; only its hash is stored).
pub fn invite(conn: &mut renewtwin_store::db::Connection, by: i64, r: &InvitationRequest) -> Result<Value> {
    let tx = conn.transaction()?;
    let (household, organisation) = match r.role {
        Role::Resident => {
            let code = r.household.as_deref().ok_or_else(|| ConsultationError::Invalid("a resident invitation names the `household`".into()))?;
            let building = r.building.as_deref().ok_or_else(|| ConsultationError::Invalid("a resident invitation names the `building`".into()))?;
            let code = &normalise_household(code);
            check_id("household", code)?;
            // As the model names it (`1号楼`, its `Reference` or GlobalId) to count against the
            // model's households; any other short label counts against the invited ones.
            super::check_text("building", building, 64, false)?;
            tx.execute("INSERT OR IGNORE INTO c_households (code, building) VALUES (?1, ?2)", (code, building))?;
            let (id, stored_building): (i64, String) =
                tx.query_row("SELECT id, building FROM c_households WHERE code = ?1", [code], |row| Ok((row.get(0)?, row.get(1)?)))?;
            if stored_building != building {
                return Err(ConsultationError::Conflict(format!("household {code} is in building {stored_building}")));
            }
            let has_account: bool =
                tx.query_row("SELECT EXISTS(SELECT 1 FROM c_accounts WHERE household_id = ?1)", [id], |row| row.get(0))?;
            if has_account {
                return Err(ConsultationError::Conflict(format!("household {code} has an account already")));
            }
            if let Some(area) = r.floor_area_m2 {
                if !(area.is_finite() && (1.0..=10_000.0).contains(&area)) {
                    return Err(ConsultationError::Invalid(format!("`floor_area_m2` {area} is not a floor area of 1 to 10,000 m²")));
                }
                tx.execute("UPDATE c_households SET floor_area = ?1 WHERE id = ?2", (area, id))?;
            }
            (Some(id), None)
        }
        Role::Professional => {
            let org = r.organisation.as_deref().ok_or_else(|| ConsultationError::Invalid("a professional invitation names the `organisation`".into()))?;
            check_text("organisation", org, 100, false)?;
            if r.capacity.is_none() {
                return Err(ConsultationError::Invalid(
                    "a professional invitation declares the `capacity`: designer, contractor, property_manager or evaluator".into(),
                ));
            }
            (None, Some(org.to_owned()))
        }
        Role::Authority => {
            let org = r.organisation.as_deref().ok_or_else(|| {
                ConsultationError::Invalid("an authority invitation names the authority (`organisation`) as the scene's approvals name it".into())
            })?;
            check_text("organisation", org, 100, false)?;
            (None, Some(org.to_owned()))
        }
        Role::Government => (None, r.organisation.clone()),
        Role::Public => return Err(ConsultationError::Invalid("public visitors need no account".into())),
    };
    if r.capacity.is_some() && r.role != Role::Professional {
        return Err(ConsultationError::Invalid("only a professional invitation declares a `capacity`".into()));
    }
    let capacity = r.capacity.map(Capacity::as_str);
    let code = new_code()?;
    tx.execute(
        "INSERT INTO c_invitations (code_hash, role, household_id, organisation, created_by, created_at, capacity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        (token_hash(&code), r.role.as_str(), household, &organisation, by, now(), capacity),
    )?;
    // Role grants are decisions: the log keeps who invited whom to act in which role (the
    // household code is personal).
    super::audit::append(
        &tx,
        &super::audit::Entry {
            actor: Some(by),
            actor_role: "government".into(),
            action: "invitation_issued".into(),
            project: None,
            subject: format!("role {}", r.role.as_str()),
            detail: serde_json::json!({"role": r.role.as_str(), "capacity": capacity, "organisation": if r.role == Role::Resident { None } else { organisation.clone() }}),
            personal: serde_json::json!({"household": r.household, "building": r.building}),
        },
    )?;
    tx.commit()?;
    Ok(serde_json::json!({"code": code, "role": r.role.as_str(), "household": r.household, "building": r.building, "organisation": r.organisation, "capacity": capacity}))
}

/// `POST /api/grants`: give or take a power beyond the account's role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub account: i64,
    pub permission: Permission,
    /// `false` takes the permission back.
    #[serde(default = "yes")]
    pub granted: bool,
}

fn yes() -> bool {
    true
}

/// Grants (or revokes) `g.permission` to `g.account`, logged in the audit trail.
pub fn grant(conn: &mut renewtwin_store::db::Connection, by: i64, g: &GrantRequest) -> Result<Value> {
    let tx = conn.transaction()?;
    let role: Option<String> =
        tx.query_row("SELECT role FROM c_accounts WHERE id = ?1", [g.account], |r| r.get(0)).optional()?;
    let role = role.ok_or_else(|| ConsultationError::NotFound(format!("no account {}", g.account)))?;
    if role == "government" {
        return Err(ConsultationError::Conflict("government accounts hold every power already".into()));
    }
    if g.granted {
        tx.execute(
            "INSERT OR IGNORE INTO c_grants (account_id, permission, granted_by, granted_at) VALUES (?1, ?2, ?3, ?4)",
            (g.account, g.permission.as_str(), by, now()),
        )?;
    } else {
        tx.execute("DELETE FROM c_grants WHERE account_id = ?1 AND permission = ?2", (g.account, g.permission.as_str()))?;
    }
    super::audit::append(
        &tx,
        &super::audit::Entry {
            actor: Some(by),
            actor_role: "government".into(),
            action: if g.granted { "role_granted".into() } else { "role_revoked".into() },
            project: None,
            subject: format!("account {}", g.account),
            detail: serde_json::json!({"permission": g.permission.as_str(), "account_role": role}),
            personal: Value::Null,
        },
    )?;
    let grants = super::auth::grants_of(&tx, g.account)?;
    tx.commit()?;
    Ok(serde_json::json!({"account": g.account, "grants": grants.iter().map(|p| p.as_str()).collect::<Vec<_>>()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> renewtwin_store::db::Connection {
        let conn = renewtwin_store::db::Connection::open_in_memory().expect("conn");
        conn.execute_batch(crate::SCHEMA_001).expect("schema");
        conn.execute_batch(crate::SCHEMA_ROLES).expect("roles");
        conn.execute_batch(crate::SCHEMA_AUDIT).expect("audit");
        conn
    }

    fn signup(invitation: Option<String>, username: &str) -> SignUp {
        SignUp { invitation, username: username.into(), password: "correct horse".into(), display_name: "王芳".into(), phone: None }
    }

    #[test]
    fn one_household_gets_one_account() {
        let mut conn = db();
        let gov = bootstrap(&mut conn, &signup(None, "gov"), "x".into(), 60).expect("bootstrap");
        let gov_id = gov["id"].as_i64().expect("id");
        assert!(bootstrap(&mut conn, &signup(None, "gov2"), "x".into(), 60).is_err(), "only one bootstrap");
        let req = InvitationRequest { role: Role::Resident, household: Some("B1-1-101".into()), building: Some("B1".into()), organisation: None, capacity: None, floor_area_m2: None };
        let first = invite(&mut conn, gov_id, &req).expect("invite");
        let second = invite(&mut conn, gov_id, &req).expect("a second code for the same household");
        let code = first["code"].as_str().expect("code").to_owned();
        sign_up(&mut conn, &signup(Some(code.clone()), "fang"), "x".into(), 60).expect("sign up");
        let again = sign_up(&mut conn, &signup(Some(code), "fang2"), "x".into(), 60);
        assert!(matches!(again, Err(ConsultationError::Conflict(_))), "a used code is refused");
        let other = sign_up(&mut conn, &signup(second["code"].as_str().map(str::to_owned), "fang3"), "x".into(), 60);
        assert!(matches!(other, Err(ConsultationError::Conflict(_))), "the household has an account");
        assert!(matches!(invite(&mut conn, gov_id, &req), Err(ConsultationError::Conflict(_))));
    }

    #[test]
    fn household_codes_are_one_spelling() {
        assert_eq!(normalise_household("b1-1-101"), "B1-1-101");
        assert_eq!(normalise_household("Ｂ１－１－１０１"), "B1-1-101");
        assert_eq!(normalise_household(" B1 – 1 — 101\u{3000}"), "B1-1-101");
        let mut conn = db();
        let gov = bootstrap(&mut conn, &signup(None, "gov"), "x".into(), 60).expect("bootstrap");
        let gov_id = gov["id"].as_i64().expect("id");
        let invite_as = |conn: &mut renewtwin_store::db::Connection, code: &str| {
            invite(conn, gov_id, &InvitationRequest { role: Role::Resident, household: Some(code.into()), building: Some("B1".into()), organisation: None, capacity: None, floor_area_m2: None })
        };
        let first = invite_as(&mut conn, "b1-1-101").expect("first spelling");
        assert_eq!(first["household"], "b1-1-101", "the answer echoes the request");
        let code = first["code"].as_str().expect("code").to_owned();
        sign_up(&mut conn, &signup(Some(code), "li"), "x".into(), 60).expect("sign up");
        for spelling in ["B1-1-101", "Ｂ１－１－１０１", "b1 - 1 - 101"] {
            let again = invite_as(&mut conn, spelling);
            assert!(matches!(again, Err(ConsultationError::Conflict(_))), "{spelling}: the same household has an account");
        }
        let households: i64 = conn.query_row("SELECT COUNT(*) FROM c_households", [], |r| r.get(0)).expect("count");
        assert_eq!(households, 1);
    }

    #[test]
    fn passwords_are_hashed_with_argon2id_and_verified() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        let login = Login { username: "a".into(), password: "correct horse".into() };
        assert!(check_login(&login, Some(&(1, hash.clone(), "resident".into()))));
        let wrong = Login { username: "a".into(), password: "wrong horse!".into() };
        assert!(!check_login(&wrong, Some(&(1, hash, "resident".into()))));
        assert!(!check_login(&login, None));
    }
}
