//! A PostgreSQL outage: while the server is down a write fails with an error the server turns
//! into 503 + Retry-After (nothing acknowledged), and the store reconnects by itself when the
//! server is back. Needs the throw-away cluster of scripts/pg-throwaway.sh (`PGDATA_THROWAWAY`
//! names its directory; .ci/run sets it), which this test stops and starts: it is the only
//! test in this binary, so nothing else uses the cluster meanwhile.

use renewtwin_store::{Migrations, Store, postgres_or_skip};

const NOTES: Migrations = Migrations { domain: "notes", steps: &[("001", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")] };

fn cluster(action: &str, dir: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg-throwaway.sh");
    let status = std::process::Command::new(script).args([action, dir]).status().expect("runs pg-throwaway.sh");
    assert!(status.success(), "pg-throwaway.sh {action} {dir} failed");
}

#[test]
fn a_write_during_an_outage_is_refused_as_unavailable_and_the_store_recovers() {
    let Some(url) = postgres_or_skip("postgres outage") else { return };
    let Some(dir) = std::env::var("PGDATA_THROWAWAY").ok().filter(|d| !d.is_empty()) else {
        if std::env::var("RENEWTWIN_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("RENEWTWIN_REQUIRE_POSTGRES=1 but PGDATA_THROWAWAY names no cluster to stop and start");
        }
        eprintln!("postgres outage: skipped: PGDATA_THROWAWAY (from scripts/pg-throwaway.sh start) is not set");
        return;
    };
    let store = Store::fresh_postgres_schema(&url, &[NOTES]).expect("store");
    let write = |body: &str| store.lock().and_then(|c| c.execute("INSERT INTO notes (body) VALUES (?1)", [body]).map_err(|e| store.err(e)));
    assert_eq!(write("before").expect("a write while the server is up"), 1);

    cluster("stop", &dir);
    let err = write("during").expect_err("no write is acknowledged while the server is down");
    assert!(err.is_unavailable(), "an outage reads as unavailable (503), not as a failed statement: {err}");
    // Still down: the reconnect in lock() fails the same way.
    let again = write("during").expect_err("still down");
    assert!(again.is_unavailable(), "{again}");

    cluster("start-again", &dir);
    assert_eq!(write("after").expect("the store reconnects when the server is back"), 1);
    let bodies: Vec<String> = {
        let c = store.lock().expect("lock");
        let mut stmt = c.prepare("SELECT body FROM notes ORDER BY id").expect("prepare");
        stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows")
    };
    assert_eq!(bodies, ["before", "after"], "exactly the acknowledged writes are stored");
}
