//! The [`Resolver`] over the [`MemoryTransport`]: CNAME chases, how each
//! query outcome shows in the evidence, merged lookups and the host cache.
//! No sockets; Tokio's clock is paused, so timeouts take no real time.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::future::join_all;
use hickory_proto::rr::{Name, RecordType};
use prebounce_core::evidence::{DomainEvidence, QueryStatus};
use tokio::time::Instant;

use crate::memory::MemoryTransport;
use crate::resolver::Resolver;
use crate::transport::Transport;

/// A TLD-like zone holding many mail domains, with every fault.
const ZZ: &str = "\
$ORIGIN zz.
$TTL 300
@ SOA ns.zz. hostmaster.zz. 1 3600 600 86400 300
@ NS ns.zz.
ns A 192.0.2.53
shop MX 10 mx.shop
shop MX 20 mx.provider.yy.
mx.shop A 192.0.2.25
mx.shop AAAA 2001:db8::25
web A 192.0.2.80
nohost MX 10 gone.nohost
alias MX 10 mxalias.alias
mxalias.alias CNAME mx.shop
aliased CNAME shop
away CNAME mail.far.yy.
dangling CNAME gone
loop-a CNAME loop-b
loop-b CNAME loop-a
xloop CNAME xloop.far.yy.
broken MX 10 mx.shop
slow MX 10 mx.shop
big MX 10 mx.shop
junk MX 10 mx.shop
refuse MX 10 mx.shop
lame MX 10 mx.shop
formerr MX 10 mx.shop
;! fault broken.zz. servfail
;! fault slow.zz. timeout MX
;! fault big.zz. truncate
;! fault junk.zz. malformed
;! fault refuse.zz. refused
;! fault lame.zz. lame
;! fault formerr.zz. formerr
";

/// Another zone, for chases across zones.
const FAR: &str = "\
$ORIGIN far.yy.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 192.0.2.54
mail MX 10 mx.shop.zz.
xloop CNAME xloop.zz.
";

/// A mail provider's zone: one MX host shared by many domains.
const PROVIDER: &str = "\
$ORIGIN provider.yy.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 192.0.2.55
mx A 198.51.100.7
mx AAAA 2001:db8::7
";

fn world() -> MemoryTransport {
    MemoryTransport::from_zones([ZZ, FAR, PROVIDER]).unwrap()
}

/// The world plus `n` domains `d0.hosted.yy` ... whose only MX is the
/// provider's host.
fn hosted_world(n: usize) -> MemoryTransport {
    let mut hosted = String::from(
        "$ORIGIN hosted.yy.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.56\n",
    );
    for i in 0..n {
        hosted.push_str(&format!("d{i} MX 10 mx.provider.yy.\n"));
    }
    MemoryTransport::from_zones([ZZ, FAR, PROVIDER, hosted.as_str()]).unwrap()
}

fn resolver(t: &MemoryTransport) -> Resolver {
    Resolver::new(t.clone(), 64)
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn exchanges(e: &DomainEvidence) -> Vec<&str> {
    e.mx.records.iter().map(|r| r.exchange.as_str()).collect()
}

#[tokio::test(start_paused = true)]
async fn in_zone_cname_is_answered_in_one_question() {
    let t = world();
    let r = resolver(&t);
    // The domain itself is an alias: the lab follows it inside its zone.
    let e = r.gather("aliased.zz").await;
    assert_eq!(e.mx.status, QueryStatus::Answer);
    assert_eq!(e.mx.cname, ["shop.zz"]);
    assert_eq!(exchanges(&e), ["mx.shop.zz", "mx.provider.yy"]);
    assert_eq!(t.questions("aliased.zz", RecordType::MX), 1);
    assert_eq!(t.questions("shop.zz", RecordType::MX), 0);
    // An MX exchange that is an alias: the host's lookups show the chain,
    // answered by the lab in the same reply.
    let before = t.total_questions();
    let e = r.gather("alias.zz").await;
    let host = e.targets[0].host.as_ref().unwrap();
    assert_eq!(host.a.status, QueryStatus::Answer);
    assert_eq!(host.a.records, ["192.0.2.25".parse::<IpAddr>().unwrap()]);
    assert_eq!(host.a.cname, ["mx.shop.zz"]);
    assert_eq!(host.aaaa.cname, ["mx.shop.zz"]);
    assert_eq!(t.questions("mxalias.alias.zz", RecordType::A), 1);
    assert_eq!(t.total_questions(), before + 3);
}

#[tokio::test(start_paused = true)]
async fn cname_to_another_zone_is_chased() {
    let t = world();
    let e = resolver(&t).gather("away.zz").await;
    assert_eq!(e.mx.status, QueryStatus::Answer);
    assert_eq!(e.mx.cname, ["mail.far.yy"]);
    assert_eq!(exchanges(&e), ["mx.shop.zz"]);
    assert_eq!(t.questions("away.zz", RecordType::MX), 1);
    assert_eq!(t.questions("mail.far.yy", RecordType::MX), 1);
}

#[tokio::test(start_paused = true)]
async fn cname_loops_are_servfail_not_endless() {
    let t = world();
    let r = resolver(&t);
    // Inside one zone: the lab's answer holds the loop.
    let e = r.gather("loop-a.zz").await;
    assert_eq!(e.mx.status, QueryStatus::ServFail);
    assert!(e.mx.status.is_temporary());
    assert_eq!(t.questions("loop-a.zz", RecordType::MX), 1);
    // Across zones: each zone sends the resolver to the other.
    let e = r.gather("xloop.zz").await;
    assert_eq!(e.mx.status, QueryStatus::ServFail);
    assert_eq!(e.mx.cname, ["xloop.far.yy"]);
    assert_eq!(t.questions("xloop.zz", RecordType::MX), 1);
    assert_eq!(t.questions("xloop.far.yy", RecordType::MX), 1);
    assert_eq!(t.total_questions(), 3);
}

#[tokio::test(start_paused = true)]
async fn overlong_cname_chain_stops() {
    // 40 aliases in one zone: the lab follows 8 per answer, the resolver
    // chases on until the chain is 16 long, then gives up.
    let mut zone =
        String::from("$ORIGIN chain.yy.\n$TTL 60\n@ SOA ns h 1 1 1 1 1\n@ NS ns\nns A 192.0.2.1\n");
    for i in 0..40 {
        zone.push_str(&format!("c{i} CNAME c{}\n", i + 1));
    }
    zone.push_str("c40 MX 10 mx.shop.zz.\n");
    let t = MemoryTransport::from_zones([zone.as_str()]).unwrap();
    let start = Instant::now();
    let e = resolver(&t).gather("c0.chain.yy").await;
    assert_eq!(e.mx.status, QueryStatus::ServFail);
    assert_eq!(e.mx.cname.len(), 16);
    assert_eq!(t.total_questions(), 2);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn nodata_nxdomain_servfail_and_timeout_are_told_apart() {
    let t = world();
    let r = resolver(&t);
    // NODATA: the name exists without MX; the implicit MX is looked up.
    let web = r.gather("web.zz").await;
    assert_eq!(web.mx.status, QueryStatus::NoData);
    let implicit = web.implicit.as_ref().unwrap();
    assert_eq!(implicit.a.status, QueryStatus::Answer);
    assert_eq!(implicit.aaaa.status, QueryStatus::NoData);
    // NXDOMAIN: no such name; nothing more is asked.
    let nx = r.gather("nowhere.zz").await;
    assert_eq!(nx.mx.status, QueryStatus::NxDomain);
    assert!(nx.implicit.is_none() && nx.targets.is_empty());
    assert_eq!(t.questions("nowhere.zz", RecordType::A), 0);
    // NXDOMAIN at the end of an alias.
    let dangling = r.gather("dangling.zz").await;
    assert_eq!(dangling.mx.status, QueryStatus::NxDomain);
    assert_eq!(dangling.mx.cname, ["gone.zz"]);
    // An MX host that does not exist: the domain's MX is fine, the host's
    // A and AAAA are NXDOMAIN.
    let nohost = r.gather("nohost.zz").await;
    let host = nohost.targets[0].host.as_ref().unwrap();
    assert_eq!(
        (host.a.status, host.aaaa.status),
        (QueryStatus::NxDomain, QueryStatus::NxDomain)
    );
    // The temporary failures, each as itself.
    for (domain, status) in [
        ("broken.zz", QueryStatus::ServFail),
        ("refuse.zz", QueryStatus::Refused),
        ("lame.zz", QueryStatus::Lame),
        ("junk.zz", QueryStatus::Malformed),
        ("formerr.zz", QueryStatus::Rcode(1)),
    ] {
        let e = r.gather(domain).await;
        assert_eq!(e.mx.status, status, "{domain}");
        assert!(e.mx.status.is_temporary(), "{domain}");
        assert!(e.targets.is_empty() && e.implicit.is_none(), "{domain}");
        // A failure reply is final with one server: asked once, sent once.
        assert_eq!(t.copies(domain, RecordType::MX), 1, "{domain}");
    }
    assert_eq!(t.stats().retransmits, 0);
}

#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_is_a_timeout_after_timeout_x_attempts() {
    let t = world();
    let start = Instant::now();
    let e = resolver(&t).gather("slow.zz").await;
    assert_eq!(e.mx.status, QueryStatus::Timeout);
    assert!(e.targets.is_empty());
    // 3 s x 2 attempts, sent at 0, 0.5, 1.5 and 3.5 s.
    assert_eq!(start.elapsed(), Duration::from_secs(6));
    assert_eq!(t.questions("slow.zz", RecordType::MX), 1);
    assert_eq!(t.copies("slow.zz", RecordType::MX), 4);
    assert_eq!(t.stats().retransmits, 3);
}

#[tokio::test(start_paused = true)]
async fn truncated_answers_are_asked_again_over_tcp() {
    let t = world();
    let e = resolver(&t).gather("big.zz").await;
    assert_eq!(e.mx.status, QueryStatus::Answer);
    assert_eq!(exchanges(&e), ["mx.shop.zz"]);
    assert_eq!(t.stats().tcp, 1);
    assert_eq!(t.copies("big.zz", RecordType::MX), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_gathers_of_domains_sharing_an_mx_host_ask_it_once() {
    const N: usize = 50;
    let t = hosted_world(N);
    // Replies take 10 ms, so all fifty MX answers come back together and
    // the host lookups overlap in flight.
    t.set_delay(Duration::from_millis(10));
    let r = resolver(&t);
    let start = Instant::now();
    let domains: Vec<String> = (0..N).map(|i| format!("d{i}.hosted.yy")).collect();
    let all = join_all(domains.iter().map(|d| r.gather(d))).await;
    // Two round trips in all: the MX, then the host's A and AAAA together.
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    for e in &all {
        let host = e.targets[0].host.as_ref().unwrap();
        assert_eq!(host.name, "mx.provider.yy");
        assert_eq!(host.a.records, ["198.51.100.7".parse::<IpAddr>().unwrap()]);
        assert_eq!(
            host.aaaa.records,
            ["2001:db8::7".parse::<IpAddr>().unwrap()]
        );
    }
    assert_eq!(t.questions("mx.provider.yy", RecordType::A), 1);
    assert_eq!(t.questions("mx.provider.yy", RecordType::AAAA), 1);
    for d in &domains {
        assert_eq!(t.questions(d, RecordType::MX), 1, "{d}");
    }
    assert_eq!(t.total_questions(), N as u64 + 2);
    let stats = r.stats();
    assert_eq!(stats.queries, N as u64 + 2);
    assert_eq!(stats.cache_hits, N as u64 - 1);
    assert_eq!(stats.transport.sent, N as u64 + 2);
}

#[tokio::test(start_paused = true)]
async fn host_lookups_are_cached_for_the_run_and_shared_by_clones() {
    let t = world();
    let r = resolver(&t);
    let first = r.host(&name("mx.shop.zz.")).await;
    // Again, in another case, through a clone of the resolver.
    let again = r.clone().host(&name("MX.Shop.ZZ")).await;
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    assert_eq!(t.questions("mx.shop.zz", RecordType::A), 1);
    assert_eq!(t.questions("mx.shop.zz", RecordType::AAAA), 1);
    assert_eq!(r.stats().cache_hits, 1);
    // Gathering a domain whose MX is that host asks only its MX.
    let e = r.gather("shop.zz").await;
    assert_eq!(e.targets.len(), 2);
    assert!(std::sync::Arc::ptr_eq(
        e.targets[0].host.as_ref().unwrap(),
        &first
    ));
    assert_eq!(t.questions("mx.shop.zz", RecordType::A), 1);
    assert_eq!(t.questions("mx.provider.yy", RecordType::A), 1);
    assert_eq!(t.total_questions(), 5);
    assert_eq!(r.stats().cache_hits, 2);
    // `lookup` is not cached: each call asks.
    r.lookup(&name("mx.shop.zz."), RecordType::A).await;
    assert_eq!(t.questions("mx.shop.zz", RecordType::A), 2);
}

#[tokio::test(start_paused = true)]
async fn lost_datagrams_are_retransmitted_and_the_answer_still_counts() {
    let t = world();
    t.set_delay(Duration::from_millis(5));
    t.drop_first("mx.shop.zz", RecordType::A, 2);
    let r = resolver(&t);
    let start = Instant::now();
    let host = r.host(&name("mx.shop.zz.")).await;
    assert_eq!(host.a.status, QueryStatus::Answer);
    assert_eq!(host.aaaa.status, QueryStatus::Answer);
    // AAAA answered at once; A lost at 0 and 0.5 s, sent again at 1.5 s.
    assert_eq!(start.elapsed(), Duration::from_millis(1505));
    assert_eq!(t.questions("mx.shop.zz", RecordType::A), 1);
    assert_eq!(t.copies("mx.shop.zz", RecordType::A), 3);
    assert_eq!(t.copies("mx.shop.zz", RecordType::AAAA), 1);
    assert_eq!(r.stats().queries, 2);
    assert_eq!(r.stats().transport.retransmits, 2);
    // The AAAA's round trip was measured (5 ms, the A's was not: it was
    // sent more than once): the RTO is 100 ms now, and copies go out at
    // 0, 0.1, 0.3, 0.7 and 1.5 s.
    assert_eq!(t.srtt(), Some(Duration::from_millis(5)));
    t.drop_first("shop.zz", RecordType::MX, 4);
    let start = Instant::now();
    let e = r.gather("shop.zz").await;
    assert_eq!(e.mx.status, QueryStatus::Answer);
    assert_eq!(t.copies("shop.zz", RecordType::MX), 5);
    // 1.5 s + 5 ms for the MX, 5 ms for mx.provider.yy (mx.shop.zz is cached).
    assert_eq!(start.elapsed(), Duration::from_millis(1510));
    // More losses than the time allows: a timeout, never an NXDOMAIN.
    t.drop_first("nowhere.zz", RecordType::MX, 6);
    let start = Instant::now();
    let e = r.gather("nowhere.zz").await;
    assert_eq!(e.mx.status, QueryStatus::Timeout);
    assert_eq!(t.copies("nowhere.zz", RecordType::MX), 6);
    assert_eq!(start.elapsed(), Duration::from_secs(6));
}
