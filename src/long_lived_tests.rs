//! A checker in a long-lived process (`cache_ttl`): reports expire and are
//! checked again, temporary ones sooner; checkpoints write history without
//! ending the run. Against the lab DNS server on loopback.

use std::sync::Arc;
use std::time::Duration;

use prebounce_core::evidence::QueryStatus;
use prebounce_core::history::HistoryPolicy;
use prebounce_core::verdict::{Action, Reason};
use prebounce_lab::{Lab, LabServer, Zone};
use prebounce_store::{SqliteStore, Store};

use crate::{Checker, CheckerConfig, Clock, HistorySetup};

const ZONE: &str = "$ORIGIN .\n$TTL 300\n. SOA ns.lab. hostmaster.lab. 1 3600 600 86400 300\n\
    shop.zz. MX 10 mx.shop.zz.\nmx.shop.zz. A 93.184.215.14\n\
    gone.zz. MX 0 .\n\
    ;! fault flaky.zz. servfail\nflaky.zz. MX 10 mx.shop.zz.\n";

async fn lab() -> LabServer {
    lab_serving(ZONE).await
}

/// The lab DNS server on loopback, serving `zone` (a zone file with fault
/// directives).
pub(crate) async fn lab_serving(zone: &str) -> LabServer {
    let (zone, faults) = Zone::parse(zone, None).unwrap();
    let mut lab = Lab::new();
    lab.add_zone(zone, faults).unwrap();
    LabServer::start(lab, "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap()
}

/// History in `store` with the default thresholds, reusing evidence up to
/// an hour old, on the system clock.
pub(crate) fn history_in(store: Arc<dyn Store>) -> HistorySetup {
    HistorySetup {
        store,
        policy: HistoryPolicy::default(),
        max_age: Duration::from_secs(3600),
        reuse: true,
        force: false,
        clock: Clock::system(),
    }
}

fn config(server: &LabServer, ttl: Option<Duration>) -> CheckerConfig {
    CheckerConfig {
        cache_ttl: ttl,
        ..CheckerConfig::with_servers(vec![server.local_addr()])
    }
}

#[tokio::test]
async fn reports_expire_after_their_ttl_and_are_asked_again() {
    let server = lab().await;
    let checker = Checker::new(config(&server, Some(Duration::from_secs(1)))).unwrap();
    let first = checker.check_domain("shop.zz").await;
    assert_eq!(first.verdict.action(), Action::Deliver);
    let asked = server.queries();
    // Within its lifetime: served from the cache, no query.
    let again = checker.check_domain("shop.zz").await;
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(server.queries(), asked);
    // Past it (whole seconds: at most two): asked again, MX and host both.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let later = checker.check_domain("shop.zz").await;
    assert!(!Arc::ptr_eq(&first, &later));
    assert_eq!(later.verdict, first.verdict);
    assert!(
        server.queries() >= asked + 3,
        "MX, A and AAAA asked again: {} then {}",
        asked,
        server.queries()
    );
    // A checkpoint drops what expired, and keeps what is fresh.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    checker.check_domain("gone.zz").await;
    assert_eq!(checker.cached_domains(), 2);
    assert_eq!(checker.resolver().cached_hosts(), 1, "mx.shop.zz");
    checker.checkpoint().await.unwrap();
    assert_eq!(checker.cached_domains(), 1, "shop.zz expired, gone.zz kept");
    assert_eq!(checker.resolver().cached_hosts(), 0, "mx.shop.zz expired");
}

#[tokio::test]
async fn a_run_keeps_its_reports_for_its_whole_lifetime() {
    let server = lab().await;
    let checker = Checker::new(config(&server, None)).unwrap();
    let first = checker.check_domain("shop.zz").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    checker.checkpoint().await.unwrap();
    let again = checker.check_domain("shop.zz").await;
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(checker.cached_domains(), 1);
}

#[tokio::test]
async fn a_temporary_report_expires_sooner_than_the_cache_ttl() {
    let server = lab().await;
    let ttl = Duration::from_secs(3600);
    let checker = Checker::new(config(&server, Some(ttl))).unwrap();
    let flaky = checker.check_domain("flaky.zz").await;
    assert_eq!(flaky.verdict.action(), Action::Retry);
    let gone = checker.check_domain("gone.zz").await;
    assert_eq!(gone.verdict.reason, Reason::NullMx);
    // TEMPORARY_TTL is 30 s: far shorter than the hour, but too long to
    // wait for here; the lifetime function is what decides.
    let lifetime =
        |r: &Arc<crate::DomainReport>| super::report_lifetime(&super::Known::Full(r.clone()), ttl);
    assert_eq!(lifetime(&flaky), prebounce_dns::TEMPORARY_TTL);
    assert_eq!(lifetime(&gone), ttl);
    // A brief report (a run's) has the lifetime of the report it stands for.
    let brief = super::Known::Brief(super::Brief {
        domain: "flaky.zz".into(),
        status: QueryStatus::ServFail,
        observed: super::UNRECORDED,
        rules: Arc::new(checker.inner.rules()),
    });
    assert_eq!(
        super::report_lifetime(&brief, ttl),
        prebounce_dns::TEMPORARY_TTL
    );
}

#[tokio::test]
async fn checkpoints_write_history_while_the_process_lives_on() {
    let server = lab().await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
    let mut cfg = config(&server, Some(Duration::from_secs(60)));
    cfg.history = Some(history_in(store.clone()));
    let checker = Checker::new(cfg).unwrap();
    checker.check_domain("shop.zz").await;
    checker.check_domain("gone.zz").await;
    checker.check_domain("flaky.zz").await;
    // A success goes to the writer thread in batches; failures wait in the
    // window. Neither is written before a checkpoint in a quiet server.
    checker.checkpoint().await.unwrap();
    let mut written = Vec::new();
    for _ in 0..100 {
        written = ["shop.zz", "gone.zz", "flaky.zz"]
            .into_iter()
            .filter(|d| !store.timeline(d).unwrap().is_empty())
            .collect();
        if written.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(written, ["shop.zz", "gone.zz", "flaky.zz"]);
    // The process lives on: later checks are still recorded.
    checker.check_domain("other.zz").await;
    checker.finish_history().unwrap();
    assert_eq!(store.timeline("other.zz").unwrap().len(), 1);
}
