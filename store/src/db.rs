//! One small synchronous SQL layer over two backends: the embedded SQLite file (`rusqlite`)
//! and PostgreSQL 15 (the `postgres` crate, the blocking wrapper of `tokio-postgres`).
//!
//! The domains write one dialect, SQLite's, with numbered placeholders (`?1`), and read rows
//! through [`Row::get`] into Rust types ([`FromValue`]). Everything that differs between the
//! two databases is translated here, in one place ([`translate`]): placeholders (`?1` → `$1`),
//! column types in migrations (`INTEGER` → `BIGINT`, `INTEGER PRIMARY KEY` → an identity
//! column, `REAL` → `DOUBLE PRECISION`, `BLOB` → `BYTEA`, no `WITHOUT ROWID`),
//! `INSERT OR IGNORE` (→ `ON CONFLICT DO NOTHING`), `GROUP_CONCAT` (→ `STRING_AGG`) and the
//! null-safe comparison `a IS b` (→ `IS NOT DISTINCT FROM`). Values cross as [`Value`]s,
//! which adapt to the type PostgreSQL infers for each parameter (a Rust `bool` into a
//! `BIGINT` flag column, an `i64` into a `DOUBLE PRECISION`), so the domains never see a type
//! of either driver.
//!
//! The API mirrors the subset of `rusqlite` the domains used (`execute`, `query_row`,
//! `prepare` + `query_map`, `transaction` + `commit`, [`OptionalExtension::optional`],
//! [`params!`]), so converting a domain is mechanical.

use std::collections::HashMap;
use std::fmt;

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite said no.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL said no, or its connection failed.
    #[error("{}", pg_message(.0))]
    Postgres(#[from] postgres::Error),
    /// A query that must return a row returned none.
    #[error("the query returned no rows")]
    NoRows,
    /// A column's value does not convert to the Rust type asked for.
    #[error("column {column}: cannot read {found} as {wanted}")]
    Conversion {
        /// Index of the column.
        column: usize,
        /// The Rust type asked for.
        wanted: &'static str,
        /// What the column held.
        found: &'static str,
    },
    /// A value does not convert to the domain's type (an invalid JSON body, …).
    #[error("column {column}: {source}")]
    FromSql {
        /// Index of the column.
        column: usize,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The PostgreSQL client thread is gone.
    #[error("the database connection is gone: {0}")]
    Gone(String),
    /// The SQL uses a construct this layer does not translate for PostgreSQL.
    #[error("SQL not supported on PostgreSQL: {0}")]
    Unsupported(String),
}

fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl Error {
    /// Whether the database is unreachable or busy rather than refusing the statement: the
    /// caller may retry later (HTTP 503 with `Retry-After`), and nothing was stored.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            }
            Self::Postgres(e) => {
                if e.is_closed() {
                    return true;
                }
                match e.code() {
                    // Class 08 (connection exception), 57P01-57P03 (the server shuts down or
                    // starts), 53 (insufficient resources): PostgreSQL's error codes, appendix A
                    // of its manual.
                    Some(code) => {
                        let c = code.code();
                        c.starts_with("08") || c.starts_with("57P") || c.starts_with("53")
                    }
                    // No SQLSTATE: the connection or its socket failed.
                    None => true,
                }
            }
            Self::Gone(_) => true,
            _ => false,
        }
    }
}

/// Shorthand for results of this layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One SQL value, as stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `NULL`.
    Null,
    /// An integer (flags and booleans are 0/1).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Self::Null => "NULL",
            Self::Int(_) => "an integer",
            Self::Real(_) => "a real",
            Self::Text(_) => "text",
            Self::Blob(_) => "bytes",
        }
    }
}

/// A Rust value that binds to a parameter.
pub trait ToValue {
    /// The value to bind.
    fn to_value(&self) -> Value;
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
    )*};
}
int_to_value!(i8, i16, i32, i64, u8, u16, u32, isize);

impl ToValue for u64 {
    fn to_value(&self) -> Value {
        // SQLite and PostgreSQL store signed 64-bit integers; larger counts do not occur here.
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToValue for usize {
    fn to_value(&self) -> Value {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for f32 {
    fn to_value(&self) -> Value {
        Value::Real(f64::from(*self))
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue + ?Sized> ToValue for Box<T> {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

/// The parameters of one statement: `[]`, an array, a tuple, or [`params!`].
pub trait Params {
    /// The values, in placeholder order.
    fn values(self) -> Vec<Value>;
}

impl Params for [&dyn ToValue; 0] {
    fn values(self) -> Vec<Value> {
        Vec::new()
    }
}
impl Params for () {
    fn values(self) -> Vec<Value> {
        Vec::new()
    }
}
impl Params for &[&dyn ToValue] {
    fn values(self) -> Vec<Value> {
        self.iter().map(|v| v.to_value()).collect()
    }
}
impl Params for Vec<Value> {
    fn values(self) -> Vec<Value> {
        self
    }
}

macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: ToValue> Params for [T; $n] {
            fn values(self) -> Vec<Value> {
                self.iter().map(ToValue::to_value).collect()
            }
        }
        impl<T: ToValue> Params for &[T; $n] {
            fn values(self) -> Vec<Value> {
                self.iter().map(ToValue::to_value).collect()
            }
        }
    )*};
}
array_params!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);

macro_rules! tuple_params {
    ($(($($t:ident $i:tt),+)),*) => {$(
        impl<$($t: ToValue),+> Params for ($($t,)+) {
            fn values(self) -> Vec<Value> {
                vec![$(self.$i.to_value()),+]
            }
        }
    )*};
}
tuple_params!(
    (A 0),
    (A 0, B 1),
    (A 0, B 1, C 2),
    (A 0, B 1, C 2, D 3),
    (A 0, B 1, C 2, D 3, E 4),
    (A 0, B 1, C 2, D 3, E 4, F 5),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13)
);

/// Parameters of mixed types: `params![a, b, c]`.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::db::ToValue]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::db::ToValue),+] as &[&dyn $crate::db::ToValue]
    };
}
pub use crate::params;

/// A Rust type a column converts to.
pub trait FromValue: Sized {
    /// The value of column `column`, or why it does not convert.
    fn from_value(value: &Value, column: usize) -> Result<Self>;
}

fn mismatch<T>(value: &Value, column: usize) -> Result<T> {
    Err(Error::Conversion { column, wanted: std::any::type_name::<T>(), found: value.kind() })
}

impl FromValue for i64 {
    fn from_value(value: &Value, column: usize) -> Result<Self> {
        match value {
            Value::Int(i) => Ok(*i),
            // PostgreSQL's SUM and AVG of integers are NUMERIC; a whole number reads as one.
            Value::Real(r) if r.fract() == 0.0 && r.abs() < 9.0e15 => Ok(*r as i64),
            _ => mismatch(value, column),
        }
    }
}
macro_rules! narrow_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value, column: usize) -> Result<Self> {
                let wide = i64::from_value(value, column)?;
                <$t>::try_from(wide).or_else(|_| mismatch(value, column))
            }
        }
    )*};
}
narrow_from_value!(i32, u32, u64, usize, u8, u16, i16);

impl FromValue for bool {
    fn from_value(value: &Value, column: usize) -> Result<Self> {
        Ok(i64::from_value(value, column)? != 0)
    }
}
impl FromValue for f64 {
    fn from_value(value: &Value, column: usize) -> Result<Self> {
        match value {
            Value::Int(i) => Ok(*i as f64),
            Value::Real(r) => Ok(*r),
            _ => mismatch(value, column),
        }
    }
}
impl FromValue for f32 {
    fn from_value(value: &Value, column: usize) -> Result<Self> {
        Ok(f64::from_value(value, column)? as f32)
    }
}
impl FromValue for String {
    fn from_value(value: &Value, column: usize) -> Result<Self> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            _ => mismatch(value, column),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(value: &Value, column: usize) -> Result<Self> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            Value::Text(s) => Ok(s.as_bytes().to_vec()),
            _ => mismatch(value, column),
        }
    }
}
impl FromValue for Value {
    fn from_value(value: &Value, _: usize) -> Result<Self> {
        Ok(value.clone())
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value, column: usize) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            v => T::from_value(v, column).map(Some),
        }
    }
}

/// A column index (`0`, `1`, …).
pub trait RowIndex {
    /// As a `usize`.
    fn index(&self) -> usize;
}
impl RowIndex for usize {
    fn index(&self) -> usize {
        *self
    }
}

/// One result row.
#[derive(Debug)]
pub struct Row<'a> {
    values: Vec<Value>,
    _conn: std::marker::PhantomData<&'a ()>,
}

impl Row<'_> {
    /// Column `i` as `T`.
    pub fn get<I: RowIndex, T: FromValue>(&self, i: I) -> Result<T> {
        let i = i.index();
        match self.values.get(i) {
            Some(v) => T::from_value(v, i),
            None => Err(Error::Conversion { column: i, wanted: std::any::type_name::<T>(), found: "no such column" }),
        }
    }
}

/// `Err(NoRows)` as `Ok(None)`.
pub trait OptionalExtension<T> {
    /// The row, none, or the error.
    fn optional(self) -> Result<Option<T>>;
}
impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Which database a [`Connection`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The PostgreSQL client lives on a thread of its own and runs the jobs it is sent: the
/// `postgres` crate blocks on a runtime of its own, which must not run inside tokio's (the
/// server calls the store from async code at start-up and from `spawn_blocking` threads).
struct PgState {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

type Job = Box<dyn FnOnce(&mut PgState) + Send>;

struct Pg {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Pg {
    /// Connects with `connect` on a new client thread.
    fn spawn(connect: impl FnOnce() -> Result<postgres::Client> + Send + 'static) -> Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let (ready, connected) = std::sync::mpsc::sync_channel::<Result<()>>(1);
        std::thread::Builder::new()
            .name("renewtwin-postgres".into())
            .spawn(move || {
                let client = match connect() {
                    Ok(c) => {
                        let _ = ready.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let mut state = PgState { client, statements: HashMap::new() };
                for job in queue {
                    job(&mut state);
                }
            })
            .map_err(|e| Error::Gone(e.to_string()))?;
        connected.recv().map_err(|_| Error::Gone("the client thread stopped".into()))??;
        Ok(Self { jobs })
    }

    /// Runs `f` on the client thread and waits for its result.
    fn call<T: Send + 'static>(&self, f: impl FnOnce(&mut PgState) -> T + Send + 'static) -> Result<T> {
        let (done, result) = std::sync::mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |state| {
                let _ = done.send(f(state));
            }))
            .map_err(|_| Error::Gone("the client thread stopped".into()))?;
        result.recv().map_err(|_| Error::Gone("the client thread stopped".into()))
    }
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(Pg),
}

/// A connection to either database.
pub struct Connection {
    inner: Inner,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Connection({:?})", self.backend())
    }
}

impl Connection {
    /// An in-memory SQLite database (unit tests).
    pub fn open_in_memory() -> Result<Self> {
        Ok(Self::from_sqlite(rusqlite::Connection::open_in_memory()?))
    }

    /// Wraps an open SQLite connection.
    pub fn from_sqlite(conn: rusqlite::Connection) -> Self {
        Self { inner: Inner::Sqlite(conn) }
    }

    /// Connects to PostgreSQL with `connect`, which runs on the connection's own client
    /// thread (see `Pg`).
    pub fn connect_postgres(connect: impl FnOnce() -> Result<postgres::Client> + Send + 'static) -> Result<Self> {
        Ok(Self { inner: Inner::Postgres(Pg::spawn(connect)?) })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Whether the connection is known to be broken (PostgreSQL's socket closed); SQLite's
    /// never is.
    pub fn is_broken(&self) -> bool {
        match &self.inner {
            Inner::Sqlite(_) => false,
            Inner::Postgres(pg) => pg.call(|st| st.client.is_closed()).unwrap_or(true),
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas, `VACUUM INTO`).
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Postgres(_) => None,
        }
    }

    /// Runs several statements without parameters (migrations).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Postgres(pg) => {
                let translated = translate(sql)?;
                Ok(pg.call(move |st| st.client.batch_execute(&translated))??)
            }
        }
    }

    /// Runs one statement; returns how many rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        let values = params.values();
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(values.iter()))?)
            }
            Inner::Postgres(pg) => {
                let sql = sql.to_owned();
                pg.call(move |st| {
                    let stmt = st.statement(&sql)?;
                    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values.iter().map(|v| v as _).collect();
                    Ok(st.client.execute(&stmt, &refs)? as usize)
                })?
            }
        }
    }

    fn rows(&self, sql: &str, values: &[Value]) -> Result<Vec<Vec<Value>>> {
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let n = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut row = Vec::with_capacity(n);
                    for i in 0..n {
                        row.push(match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => Value::Null,
                            rusqlite::types::ValueRef::Integer(i) => Value::Int(i),
                            rusqlite::types::ValueRef::Real(f) => Value::Real(f),
                            rusqlite::types::ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                            rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                        });
                    }
                    out.push(row);
                }
                Ok(out)
            }
            Inner::Postgres(pg) => {
                let sql = sql.to_owned();
                let values = values.to_vec();
                pg.call(move |st| {
                    let stmt = st.statement(&sql)?;
                    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values.iter().map(|v| v as _).collect();
                    let rows = st.client.query(&stmt, &refs)?;
                    let mut out = Vec::with_capacity(rows.len());
                    for r in rows {
                        let mut row = Vec::with_capacity(r.len());
                        for i in 0..r.len() {
                            row.push(r.try_get::<_, Value>(i)?);
                        }
                        out.push(row);
                    }
                    Ok(out)
                })?
            }
        }
    }

    /// The first row of a query through `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T, P: Params, F: FnOnce(&Row<'_>) -> Result<T>>(&self, sql: &str, params: P, f: F) -> Result<T> {
        let rows = self.rows(sql, &params.values())?;
        match rows.into_iter().next() {
            Some(values) => f(&Row { values, _conn: std::marker::PhantomData }),
            None => Err(Error::NoRows),
        }
    }

    /// A statement to run with [`Statement::query_map`] or [`Statement::execute`].
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement { conn: self, sql: sql.to_owned() })
    }

    /// The id given to the row the last `INSERT` on this connection added: SQLite's rowid,
    /// PostgreSQL's `lastval()` (the identity column's sequence).
    pub fn last_insert_rowid(&self) -> Result<i64> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.last_insert_rowid()),
            Inner::Postgres(pg) => pg.call(|st| -> Result<i64> {
                let row = st.client.query_one("SELECT lastval()", &[])?;
                Ok(row.try_get::<_, i64>(0)?)
            })?,
        }
    }

    /// Starts a transaction; it rolls back unless [`Transaction::commit`]ted.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        match &self.inner {
            Inner::Sqlite(c) => c.execute_batch("BEGIN DEFERRED")?,
            Inner::Postgres(pg) => pg.call(|st| st.client.batch_execute("BEGIN"))??,
        }
        Ok(Transaction { conn: self, done: false })
    }
}

impl PgState {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let translated = translate(sql)?;
        let s = self.client.prepare(&translated)?;
        if self.statements.len() >= 512 {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

/// A prepared statement.
#[derive(Debug)]
pub struct Statement<'c> {
    conn: &'c Connection,
    sql: String,
}

impl Statement<'_> {
    /// Every row through `f`.
    pub fn query_map<T, P: Params, F: FnMut(&Row<'_>) -> Result<T>>(&mut self, params: P, mut f: F) -> Result<std::vec::IntoIter<Result<T>>> {
        let rows = self.conn.rows(&self.sql, &params.values())?;
        Ok(rows.into_iter().map(|values| f(&Row { values, _conn: std::marker::PhantomData })).collect::<Vec<_>>().into_iter())
    }

    /// The first row through `f`.
    pub fn query_row<T, P: Params, F: FnOnce(&Row<'_>) -> Result<T>>(&mut self, params: P, f: F) -> Result<T> {
        self.conn.query_row(&self.sql, params, f)
    }

    /// Runs the statement; returns how many rows it changed.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.conn.execute(&self.sql, params)
    }
}

/// A transaction: statements run through it (it dereferences to the [`Connection`]); dropped
/// without [`commit`](Self::commit), it rolls back.
#[derive(Debug)]
pub struct Transaction<'c> {
    conn: &'c mut Connection,
    done: bool,
}

impl Transaction<'_> {
    /// Makes the transaction's writes durable.
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.conn.execute_batch("COMMIT")
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::debug!(error = %e, "rollback failed (the connection is gone or nothing was open)");
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Null => ValueRef::Null,
            Self::Int(i) => ValueRef::Integer(*i),
            Self::Real(f) => ValueRef::Real(*f),
            Self::Text(s) => ValueRef::Text(s.as_bytes()),
            Self::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl postgres::types::ToSql for Value {
    fn to_sql(&self, ty: &postgres::types::Type, out: &mut bytes::BytesMut) -> std::result::Result<postgres::types::IsNull, BoxError> {
        use postgres::types::{IsNull, Type};
        let bad = || -> BoxError { format!("cannot bind {} to a {} parameter", self.kind(), ty.name()).into() };
        match (self, ty) {
            (Self::Null, _) => return Ok(IsNull::Yes),
            (Self::Int(i), &Type::INT8) => i.to_sql(ty, out)?,
            (Self::Int(i), &Type::INT4) => i32::try_from(*i).map_err(|_| bad())?.to_sql(ty, out)?,
            (Self::Int(i), &Type::INT2) => i16::try_from(*i).map_err(|_| bad())?.to_sql(ty, out)?,
            (Self::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out)?,
            (Self::Int(i), &Type::FLOAT4) => (*i as f32).to_sql(ty, out)?,
            (Self::Int(i), &Type::BOOL) => (*i != 0).to_sql(ty, out)?,
            (Self::Int(i), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME | &Type::UNKNOWN) => i.to_string().to_sql(ty, out)?,
            (Self::Real(f), &Type::FLOAT8) => f.to_sql(ty, out)?,
            (Self::Real(f), &Type::FLOAT4) => (*f as f32).to_sql(ty, out)?,
            (Self::Real(f), &Type::INT8) if f.fract() == 0.0 => (*f as i64).to_sql(ty, out)?,
            (Self::Real(f), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::UNKNOWN) => f.to_string().to_sql(ty, out)?,
            (Self::Text(s), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME | &Type::UNKNOWN) => s.to_sql(ty, out)?,
            (Self::Text(s), &Type::BYTEA) => s.as_bytes().to_sql(ty, out)?,
            (Self::Blob(b), &Type::BYTEA) => b.to_sql(ty, out)?,
            _ => return Err(bad()),
        };
        Ok(IsNull::No)
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

impl<'a> postgres::types::FromSql<'a> for Value {
    fn from_sql(ty: &postgres::types::Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        use postgres::types::Type;
        Ok(match *ty {
            Type::INT8 => Self::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Self::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Self::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::BOOL => Self::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => Self::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Self::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::NUMERIC => numeric(raw)?,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => Self::Text(String::from_sql(ty, raw)?),
            Type::BYTEA => Self::Blob(raw.to_vec()),
            _ => return Err(format!("a column of type {} has no SQL value here", ty.name()).into()),
        })
    }

    fn from_sql_null(_: &postgres::types::Type) -> std::result::Result<Self, BoxError> {
        Ok(Self::Null)
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }
}

/// PostgreSQL's binary NUMERIC (what `SUM` and `AVG` of integers return): `ndigits`,
/// `weight`, `sign`, `dscale` (16 bits each), then `ndigits` base-10000 digits, the first
/// worth 10000^weight (PostgreSQL's `numeric_send` in src/backend/utils/adt/numeric.c).
fn numeric(raw: &[u8]) -> std::result::Result<Value, BoxError> {
    let word = |i: usize| -> std::result::Result<i16, BoxError> {
        raw.get(i * 2..i * 2 + 2).map(|b| i16::from_be_bytes([b[0], b[1]])).ok_or_else(|| "a truncated NUMERIC".into())
    };
    let ndigits = word(0)?.max(0) as usize;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let dscale = word(3)?;
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let mut v = 0.0f64;
    for i in 0..ndigits {
        v += f64::from(word(4 + i)?) * 10_000f64.powi(weight - i as i32);
    }
    if sign == 0x4000 {
        v = -v;
    }
    Ok(if dscale == 0 && v.abs() < 9.0e15 { Value::Int(v as i64) } else { Value::Real(v) })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Param(String),
    Space(String),
    Other(String),
}

fn tokens(sql: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c == '\'' || c == '"' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(Error::Unsupported(format!("an unterminated quote in {sql}"))),
                    Some(&q) if q == c => {
                        if chars.get(i + 1) == Some(&c) {
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
            out.push(Token::Other(chars[start..i].iter().collect()));
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            out.push(Token::Space(" ".into()));
        } else if c.is_whitespace() {
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            out.push(Token::Space(chars[start..i].iter().collect()));
        } else if c.is_alphanumeric() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else if c == '?' {
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Token::Param(chars[start + 1..i].iter().collect()));
        } else {
            i += 1;
            out.push(Token::Other(c.to_string()));
        }
    }
    Ok(out)
}

fn is_word(t: Option<&Token>, w: &str) -> bool {
    matches!(t, Some(Token::Word(x)) if x.eq_ignore_ascii_case(w))
}

/// SQLite's dialect, as the domains write it, in PostgreSQL's (see the module's comment for
/// what is translated). Statements are separated by `;`.
pub fn translate(sql: &str) -> Result<String> {
    let mut out = String::with_capacity(sql.len() + 32);
    let mut next_param = 0u32;
    for statement in split_statements(&tokens(sql)?) {
        // Indices of the tokens that are not blanks, for lookahead; blanks are kept as written.
        let t = &statement;
        let solid: Vec<usize> = (0..t.len()).filter(|&i| !matches!(t[i], Token::Space(_))).collect();
        if solid.is_empty() {
            continue;
        }
        let at = |k: usize| solid.get(k).map(|&i| &t[i]);
        let ddl = is_word(at(0), "CREATE") || is_word(at(0), "ALTER");
        let mut ignore = false;
        let mut seen = std::collections::HashSet::new();
        let mut s = String::new();
        let mut k = 0;
        // Blanks between solid tokens, as written.
        let gap = |k: usize| -> String {
            match (solid.get(k), solid.get(k + 1)) {
                (Some(&a), Some(&b)) => t[a + 1..b].iter().map(|x| if let Token::Space(w) = x { w.as_str() } else { "" }).collect(),
                _ => String::new(),
            }
        };
        while k < solid.len() {
            match &t[solid[k]] {
                Token::Param(n) => {
                    // PostgreSQL types a parameter at its first use; one first met in
                    // `?n IS NULL` stays untyped there, and a later `col = ?n` gives it a
                    // type the first use does not share: "could not determine data type of
                    // parameter". So the typed use must come first: `(col = ?n OR ?n IS NULL)`.
                    let first = !n.is_empty() && seen.insert(n.clone());
                    let null_test = is_word(at(k + 1), "IS")
                        && (is_word(at(k + 2), "NULL") || (is_word(at(k + 2), "NOT") && is_word(at(k + 3), "NULL")));
                    let used_later = solid[k + 1..].iter().any(|&i| matches!(&t[i], Token::Param(m) if m == n));
                    if first && null_test && used_later {
                        return Err(Error::Unsupported(format!(
                            "?{n} IS NULL before ?{n}'s typed use (PostgreSQL cannot type it): write `col = ?{n} OR ?{n} IS NULL` in {sql}"
                        )));
                    }
                    let n = if n.is_empty() {
                        next_param += 1;
                        next_param
                    } else {
                        let n: u32 = n.parse().map_err(|_| Error::Unsupported(format!("parameter ?{n}")))?;
                        next_param = next_param.max(n);
                        n
                    };
                    s.push_str(&format!("${n}"));
                }
                Token::Word(w) => {
                    let upper = w.to_ascii_uppercase();
                    match upper.as_str() {
                        "INSERT" if is_word(at(k + 1), "OR") => {
                            if is_word(at(k + 2), "IGNORE") {
                                ignore = true;
                                s.push_str("INSERT");
                                k += 2;
                            } else {
                                return Err(Error::Unsupported(format!("INSERT OR … other than IGNORE in {sql}")));
                            }
                        }
                        "GROUP_CONCAT" => s.push_str("STRING_AGG"),
                        "IS" => {
                            let not = is_word(at(k + 1), "NOT");
                            let after = at(k + 1 + usize::from(not));
                            let plain = ["NULL", "TRUE", "FALSE", "DISTINCT"].iter().any(|w| is_word(after, w));
                            if plain {
                                s.push_str(w);
                            } else {
                                s.push_str(if not { "IS DISTINCT FROM" } else { "IS NOT DISTINCT FROM" });
                                k += usize::from(not);
                            }
                        }
                        "INTEGER" if ddl && is_word(at(k + 1), "PRIMARY") && is_word(at(k + 2), "KEY") => {
                            s.push_str("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
                            k += 2;
                        }
                        "INTEGER" if ddl => s.push_str("BIGINT"),
                        "REAL" if ddl => s.push_str("DOUBLE PRECISION"),
                        "BLOB" if ddl => s.push_str("BYTEA"),
                        "WITHOUT" if ddl && is_word(at(k + 1), "ROWID") => k += 1,
                        _ => s.push_str(w),
                    }
                }
                Token::Other(o) => s.push_str(o),
                Token::Space(_) => {}
            }
            s.push_str(&gap(k));
            k += 1;
        }
        let s = s.trim_end();
        if !out.is_empty() {
            out.push_str(";\n");
        }
        out.push_str(s);
        if ignore {
            out.push_str(" ON CONFLICT DO NOTHING");
        }
    }
    Ok(out)
}

fn split_statements(tokens: &[Token]) -> Vec<Vec<Token>> {
    let mut out = vec![Vec::new()];
    for t in tokens {
        if matches!(t, Token::Other(o) if o == ";") {
            out.push(Vec::new());
        } else if let Some(last) = out.last_mut() {
            last.push(t.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_dialect_translate_to_postgres() {
        assert_eq!(translate("SELECT a FROM t WHERE x >= ?1 AND y = ?2").expect("translates"), "SELECT a FROM t WHERE x >= $1 AND y = $2");
        assert_eq!(
            translate("INSERT OR IGNORE INTO t (a, b) VALUES (?1, ?2)").expect("translates"),
            "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        );
        assert_eq!(translate("SELECT 1 WHERE q.b IS p.b AND c IS NULL").expect("translates"), "SELECT 1 WHERE q.b IS NOT DISTINCT FROM p.b AND c IS NULL");
        assert_eq!(translate("SELECT GROUP_CONCAT(r, ' | ') FROM t").expect("translates"), "SELECT STRING_AGG(r, ' | ') FROM t");
        assert_eq!(translate("SELECT '?1 IS x'").expect("translates"), "SELECT '?1 IS x'", "quoted text is left alone");
        assert_eq!(
            translate("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, r REAL, b BLOB) WITHOUT ROWID;\nCREATE INDEX i ON t(n);").expect("translates"),
            "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL, r DOUBLE PRECISION, b BYTEA);\nCREATE INDEX i ON t(n)"
        );
        assert!(translate("INSERT OR REPLACE INTO t VALUES (1)").is_err());
        // An optional filter: the typed use first, then the null test (PostgreSQL types the
        // parameter at its first use).
        assert_eq!(translate("SELECT 1 WHERE (c = ?1 OR ?1 IS NULL)").expect("translates"), "SELECT 1 WHERE (c = $1 OR $1 IS NULL)");
        let refused = translate("SELECT 1 WHERE (?1 IS NULL OR c = ?1)").expect_err("the null test first is refused");
        assert!(refused.to_string().contains("?1 IS NULL before ?1's typed use"), "{refused}");
        assert!(translate("SELECT 1 WHERE ?1 IS NOT NULL").is_ok(), "a lone null test is left to PostgreSQL");
    }

    #[test]
    fn numeric_decodes_postgres_binary_format() {
        // 12345.5 = digits [1, 2345, 5000], weight 1, dscale 1.
        let raw: Vec<u8> = [3i16, 1, 0, 1, 1, 2345, 5000].iter().flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!(numeric(&raw).expect("translates"), Value::Real(12_345.5));
        // -7 = digits [7], weight 0, negative, dscale 0.
        let raw: Vec<u8> = [1i16, 0, 0x4000, 0, 7].iter().flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!(numeric(&raw).expect("translates"), Value::Int(-7));
        assert!(numeric(&[0, 1]).is_err(), "truncated input is an error, not a panic");
    }

    #[test]
    fn rows_convert_to_rust_types_and_name_the_column_that_does_not() {
        let c = Connection::open_in_memory().expect("translates");
        c.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c REAL, d BLOB)").expect("translates");
        c.execute("INSERT INTO t VALUES (?1, ?2, ?3, ?4)", params![1i64, "x", 2.5, vec![1u8, 2]]).expect("translates");
        let (a, b, cc, d): (bool, String, f64, Vec<u8>) = c.query_row("SELECT a, b, c, d FROM t", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).expect("translates");
        assert!(a);
        assert_eq!((b.as_str(), cc, d), ("x", 2.5, vec![1, 2]));
        let err = c.query_row("SELECT b FROM t", [], |r| r.get::<_, i64>(0)).expect_err("a text is not an integer").to_string();
        assert!(err.contains("column 0"), "{err}");
        assert!(c.query_row("SELECT a FROM t WHERE a = 2", [], |r| r.get::<_, i64>(0)).optional().expect("translates").is_none());
    }
}
