//! The dialect the domains write runs the same on both backends (Store::for_test: SQLite in
//! memory, or a fresh schema of RENEWTWIN_TEST_POSTGRES's server when it is set).

use renewtwin_store::{Migrations, Store};

const ITEMS: Migrations = Migrations {
    domain: "items",
    steps: &[("001", "CREATE TABLE items (id INTEGER PRIMARY KEY, kind TEXT, parent INTEGER)")],
};

/// An optional filter, `(col = ?n OR ?n IS NULL)`: every row when the parameter is NULL, the
/// matching rows otherwise, for a text and an integer column. PostgreSQL types a parameter at
/// its first use, so the typed comparison comes first (db::translate refuses the other order).
#[test]
fn optional_filters_match_everything_when_null_and_the_value_otherwise() {
    let store = Store::for_test(&[ITEMS]).expect("store");
    let conn = store.lock().expect("lock");
    for (kind, parent) in [("a", None), ("b", Some(1i64)), ("a", Some(1))] {
        conn.execute("INSERT INTO items (kind, parent) VALUES (?1, ?2)", (kind, parent)).expect("insert");
    }
    let ids = |kind: Option<&str>, parent: Option<i64>| -> Vec<i64> {
        let mut stmt = conn
            .prepare("SELECT id FROM items WHERE (kind = ?1 OR ?1 IS NULL) AND (parent = ?2 OR ?2 IS NULL) ORDER BY id")
            .expect("prepare");
        stmt.query_map((kind, parent), |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows")
    };
    assert_eq!(ids(None, None), [1, 2, 3]);
    assert_eq!(ids(Some("a"), None), [1, 3]);
    assert_eq!(ids(None, Some(1)), [2, 3]);
    assert_eq!(ids(Some("a"), Some(1)), [3]);
    assert_eq!(ids(Some("c"), None), Vec::<i64>::new());
}
