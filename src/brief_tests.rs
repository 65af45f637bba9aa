//! A run keeps the report of a domain whose MX query found nothing (a name
//! that does not exist, a failure, a timeout) as that status alone, and
//! makes the same report again for its later rows. Against the lab DNS
//! server on loopback.

use std::time::Duration;

use prebounce_core::rules::{ImplicitMx, Policy};
use prebounce_core::verdict::Reason;
use prebounce_lab::LabServer;

use std::sync::Arc;

use prebounce_store::{SqliteStore, Store};

use crate::{Checker, CheckerConfig, HistorySetup};

const ZONE: &str = "$ORIGIN .\n$TTL 300\n. SOA ns.lab. hostmaster.lab. 1 3600 600 86400 300\n\
    shop.zz. MX 10 mx.shop.zz.\nmx.shop.zz. A 93.184.215.14\n\
    gone.zz. MX 0 .\n\
    web.zz. A 93.184.215.15\n\
    alias.zz. CNAME nothere.zz.\n\
    ;! fault flaky.zz. servfail\nflaky.zz. MX 10 mx.shop.zz.\n\
    ;! fault slow.zz. timeout\nslow.zz. MX 10 mx.shop.zz.\n";

async fn lab() -> LabServer {
    crate::long_lived_tests::lab_serving(ZONE).await
}

async fn later_rows_get_the_first_rows_report(policy: Policy, history: Option<HistorySetup>) {
    let server = lab().await;
    let checker = Checker::new(CheckerConfig {
        timeout: Duration::from_millis(300),
        attempts: 1,
        policy,
        history,
        ..CheckerConfig::with_servers(vec![server.local_addr()])
    })
    .unwrap();
    // (domain, reason, kept brief)
    let cases = [
        ("nope.zz", Reason::Nxdomain, true),
        ("alias.zz", Reason::Nxdomain, false), // a CNAME chain: kept whole
        ("flaky.zz", Reason::DnsFailure, true),
        ("slow.zz", Reason::DnsFailure, true),
        ("shop.zz", Reason::Deliverable, false),
        ("gone.zz", Reason::NullMx, false),
        ("gmial.com", Reason::Nxdomain, false), // a typo finding: kept whole
    ];
    let mut first = Vec::new();
    for (domain, reason, _) in cases {
        let r = checker.check_domain(domain).await;
        assert_eq!(r.verdict.reason, reason, "{domain}: {:?}", r.verdict);
        first.push(r);
    }
    let asked = server.queries();
    for ((domain, _, brief), first) in cases.iter().zip(&first) {
        assert_eq!(checker.kept_brief(domain), Some(*brief), "{domain}");
        let again = checker.check_domain(domain).await;
        assert_eq!(*again, **first, "{domain}: the later row's report differs");
    }
    assert_eq!(server.queries(), asked, "later rows asked DNS again");
}

#[tokio::test]
async fn later_rows_get_the_first_rows_report_under_the_default_policy() {
    later_rows_get_the_first_rows_report(Policy::default(), None).await;
}

#[tokio::test]
async fn later_rows_get_the_first_rows_report_with_history() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.sqlite")).unwrap());
    let history = crate::long_lived_tests::history_in(store);
    later_rows_get_the_first_rows_report(Policy::default(), Some(history)).await;
}

#[tokio::test]
async fn later_rows_get_the_first_rows_report_under_another_policy() {
    later_rows_get_the_first_rows_report(
        Policy {
            implicit_mx: ImplicitMx::Suppress,
            ..Policy::default()
        },
        None,
    )
    .await;
}

#[tokio::test]
async fn a_long_lived_checker_keeps_reports_whole() {
    let server = lab().await;
    let checker = Checker::new(CheckerConfig {
        cache_ttl: Some(Duration::from_secs(60)),
        ..CheckerConfig::with_servers(vec![server.local_addr()])
    })
    .unwrap();
    checker.check_domain("nope.zz").await;
    assert_eq!(checker.kept_brief("nope.zz"), Some(false));
}
