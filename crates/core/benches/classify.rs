//! Micro-benchmarks of the pure parts: address parsing and judging.
//! `cargo bench -p prebounce-core`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prebounce_core::address::parse_address;
use prebounce_core::evidence::{
    DomainEvidence, HostEvidence, Lookup, MxRecord, MxTarget, QueryStatus,
};
use prebounce_core::rules::{judge, Policy};

fn addresses() -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..1000 {
        v.push(match i % 5 {
            0 => format!("user{i}@example-{i}.com"),
            1 => format!("First.Last+tag{i}@Mail.Provider{}.co.uk", i % 7),
            2 => format!("jürgen{i}@bücher-{i}.de"),
            3 => format!("bad address {i}@x.com"),
            _ => format!("\"quoted {i}\"@d{i}.zz"),
        });
    }
    v
}

fn host(name: &str, ips: &[&str]) -> Arc<HostEvidence> {
    Arc::new(HostEvidence {
        name: name.into(),
        a: Lookup {
            status: QueryStatus::Answer,
            records: ips.iter().map(|s| s.parse().unwrap()).collect(),
            cname: vec![],
        },
        aaaa: Lookup::empty(QueryStatus::NoData),
    })
}

fn evidence() -> Vec<DomainEvidence> {
    let mx = |p: u16, e: &str, h: Option<Arc<HostEvidence>>| MxTarget {
        mx: MxRecord {
            preference: p,
            exchange: e.into(),
        },
        host: h,
    };
    let with = |targets: Vec<MxTarget>| DomainEvidence {
        domain: "d.zz".into(),
        mx: Lookup {
            status: QueryStatus::Answer,
            records: targets.iter().map(|t| t.mx.clone()).collect(),
            cname: vec![],
        },
        targets,
        implicit: None,
        probe: None,
        typos: Default::default(),
    };
    vec![
        with(vec![
            mx(
                10,
                "mx1.provider.zz",
                Some(host("mx1.provider.zz", &["45.0.0.25"])),
            ),
            mx(
                20,
                "mx2.provider.zz",
                Some(host("mx2.provider.zz", &["45.0.1.25"])),
            ),
        ]),
        with(vec![mx(0, ".", None)]),
        with(vec![mx(
            10,
            "mx.d.zz",
            Some(host("mx.d.zz", &["127.0.0.1"])),
        )]),
        with(vec![mx(
            10,
            "gone.d.zz",
            Some(Arc::new(HostEvidence {
                name: "gone.d.zz".into(),
                a: Lookup::empty(QueryStatus::NxDomain),
                aaaa: Lookup::empty(QueryStatus::NxDomain),
            })),
        )]),
        DomainEvidence {
            domain: "d.zz".into(),
            mx: Lookup::empty(QueryStatus::ServFail),
            targets: vec![],
            implicit: None,
            probe: None,
            typos: Default::default(),
        },
    ]
}

fn bench(c: &mut Criterion) {
    let list = addresses();
    let mut g = c.benchmark_group("parse_address");
    g.throughput(Throughput::Elements(list.len() as u64));
    g.bench_function("mixed 1000", |b| {
        b.iter(|| {
            for a in &list {
                let _ = black_box(parse_address(black_box(a)));
            }
        })
    });
    g.finish();

    let ev = evidence();
    let policy = Policy::default();
    let mut g = c.benchmark_group("judge");
    g.throughput(Throughput::Elements(ev.len() as u64));
    g.bench_function("five shapes", |b| {
        b.iter(|| {
            for e in &ev {
                black_box(judge(black_box(e), &policy));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
