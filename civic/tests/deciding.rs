//! One decision at a time across processes sharing a PostgreSQL database (the replicas of a
//! cluster, issue 18): while one holds the right to decide, another waits for it, and a
//! decider whose connection ends holds nothing. Skips, saying why, without PostgreSQL
//! (`RENEWTWIN_REQUIRE_POSTGRES=1` makes that a failure).

use std::sync::Arc;
use std::time::{Duration, Instant};

use renewtwin_civic::ballot_key::BallotKey;
use renewtwin_civic::{Consultation, ConsultationConfig, MIGRATIONS};
use renewtwin_store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_replica_waits_for_the_first_ones_decision() {
    let Some(pg) = renewtwin_store::postgres_or_skip("a_second_replica_waits_for_the_first_ones_decision") else { return };
    let a = Arc::new(Store::fresh_postgres_schema(&pg, &[MIGRATIONS]).expect("a PostgreSQL schema"));
    let b = Arc::new(a.reopen(&[MIGRATIONS]).expect("another connection"));
    let key = BallotKey::from_bytes([7; 32]);
    let first = Consultation::new(ConsultationConfig::default(), a, key.clone());
    let second = Consultation::new(ConsultationConfig::default(), b, key);

    let held = first.deciding().await.expect("the first replica decides");
    let other = second.clone();
    let waiting = tokio::spawn(async move {
        let _deciding = other.deciding().await.expect("the second replica decides in turn");
        Instant::now()
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!waiting.is_finished(), "the second replica waits while the first decides");
    let released = Instant::now();
    drop(held);
    let got = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("in time").expect("joined");
    assert!(got >= released, "the second replica decided only after the first released");

    // A replica whose process dies mid-decision holds nothing: its connection's lock ends with it.
    let gone = Store::connect(&pg, &[]).expect("a third connection");
    assert!(gone.try_lock_shared(renewtwin_civic::DECIDING_LOCK).expect("asks"), "the third takes the lock");
    drop(gone);
    let after = tokio::time::timeout(Duration::from_secs(10), second.deciding()).await.expect("the lock died with its connection");
    assert!(after.is_ok());
    drop(after);

    // A guard's release runs on a blocking thread, so one replica's next decision may take the
    // session lock again before the last release ran: every hold is still released once, and
    // the other replica gets the lock afterwards.
    for _ in 0..20 {
        drop(first.deciding().await.expect("the first replica decides again"));
    }
    let last = tokio::time::timeout(Duration::from_secs(10), second.deciding()).await;
    assert!(matches!(last, Ok(Ok(_))), "every hold of the first replica was released");
}
