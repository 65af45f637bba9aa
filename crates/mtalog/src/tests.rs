//! Unit tests: one line of each kind per format, the joins, the time rules
//! and arbitrary bytes.

use super::*;

/// 2026-11-30T12:00:00Z.
const REF: i64 = 1_796_040_000;

fn reader() -> Reader {
    let mut r = Reader::new();
    r.start_file(REF, None);
    r
}

fn one(r: &mut Reader, line: &str) -> Delivery {
    match r.feed(line.as_bytes()) {
        Line::Deliveries(mut d) if d.len() == 1 => d.remove(0),
        other => panic!("not one delivery: {other:?} for {line}"),
    }
}

#[test]
fn calendar_helpers_agree() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(rfc3339("2026-11-30T12:00:00Z"), Some(REF));
    assert_eq!(rfc3339("2026-11-30T13:00:00.5+01:00"), Some(REF));
    assert_eq!(civil_year(REF), 2026);
    assert_eq!(
        civil_year(days_from_civil(2024, 12, 31) * 86_400 + 86_399),
        2024
    );
    assert_eq!(civil_year(days_from_civil(2025, 1, 1) * 86_400), 2025);
}

#[test]
fn postfix_delivery_joined_with_qmgr_sender() {
    let mut r = reader();
    assert_eq!(
        r.feed(b"Nov 30 11:00:00 mx1 postfix/qmgr[812]: 4F1A23B9C1: from=<news@shop.zz>, size=512, nrcpt=1 (queue active)"),
        Line::Mta
    );
    let d = one(&mut r, "Nov 30 11:00:01 mx1 postfix/smtp[813]: 4F1A23B9C1: to=<a@NullMX.zz>, relay=127.0.0.1[127.0.0.1]:2525, delay=0.2, delays=0.1/0/0.05/0.05, dsn=2.0.0, status=sent (250 OK, id=1)");
    assert_eq!(d.format, Format::Postfix);
    assert_eq!(d.recipient, "a@NullMX.zz");
    assert_eq!(d.sender.as_deref(), Some("news@shop.zz"));
    assert_eq!(d.relay.as_deref(), Some("127.0.0.1[127.0.0.1]:2525"));
    assert_eq!(d.dsn.as_deref(), Some("2.0.0"));
    assert_eq!(d.status, Status::Sent);
    assert_eq!(d.time, Some(REF - 3600 + 1));
    assert_eq!(r.held_queue_ids(), 1);
    assert_eq!(
        r.feed(b"Nov 30 11:00:01 mx1 postfix/qmgr[812]: 4F1A23B9C1: removed"),
        Line::Mta
    );
    assert_eq!(
        r.held_queue_ids(),
        0,
        "a removed message's state is dropped"
    );
}

#[test]
fn postfix_relay_none_deferred_and_bounced() {
    let mut r = reader();
    let d = one(&mut r, "Nov 30 11:00:01 mx1 postfix/smtp[813]: 4F1A23B9C2: to=<b@gone.zz>, relay=none, delay=0.01, delays=0/0/0/0, dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for name=gone.zz type=AAAA: Host not found)");
    assert_eq!(d.status, Status::Bounced);
    assert_eq!(d.relay, None);
    assert_eq!(d.sender, None, "no qmgr line seen");
    let d = one(&mut r, "2026-11-30T11:00:02.123456+00:00 mx1 postfix-out/error[9]: 4F1A23B9C3: to=<c@dead.zz>, relay=none, delay=3600, delays=3600/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to x[10.0.0.1]:25: Connection refused)");
    assert_eq!(d.status, Status::Deferred);
    assert_eq!(d.time, Some(REF - 3600 + 2));
}

#[test]
fn postfix_file_keeps_other_programs_apart() {
    let mut r = reader();
    assert_eq!(
        r.feed(b"Nov 30 11:00:00 mx1 sshd[1]: Accepted publickey for root"),
        Line::Other
    );
    assert_eq!(r.format(), None, "another program's line decides nothing");
    assert_eq!(
        r.feed(b"Nov 30 11:00:00 mx1 postfix/smtpd[5]: connect from localhost[127.0.0.1]"),
        Line::Mta
    );
    assert_eq!(r.format(), Some(Format::Postfix));
    assert_eq!(r.feed(b"Nov 30 11:00:00 mx1 postfix/smtp[5]: 4F1A23B9C1: to=<x@y.zz>, relay=none, status=expired, returned to sender"), Line::Mta);
    assert_eq!(r.stats().other_program, 1);
    assert_eq!(r.stats().mta_lines, 2);
}

#[test]
fn syslog_year_inferred_from_the_reference_time() {
    // The file was last written on 2027-01-02: December lines are 2026's,
    // January lines 2027's.
    let mut r = Reader::new();
    let jan2 = days_from_civil(2027, 1, 2) * 86_400 + 3600;
    r.start_file(jan2, None);
    let line = |m: &str| {
        format!("{m} 10:00:00 h postfix/smtp[1]: ABCDE12345: to=<a@b.zz>, relay=none, dsn=5.4.4, status=bounced (x)")
    };
    let dec = one(&mut r, &line("Dec 31"));
    assert_eq!(
        dec.time,
        Some(days_from_civil(2026, 12, 31) * 86_400 + 36_000)
    );
    let jan = one(&mut r, &line("Jan  1"));
    assert_eq!(
        jan.time,
        Some(days_from_civil(2027, 1, 1) * 86_400 + 36_000)
    );
    // A fixed year wins.
    r.start_file(jan2, Some(2020));
    let fixed = one(&mut r, &line("Dec 31"));
    assert_eq!(
        fixed.time,
        Some(days_from_civil(2020, 12, 31) * 86_400 + 36_000)
    );
}

#[test]
fn exim_flags() {
    let mut r = reader();
    assert_eq!(r.feed(b"2026-11-30 10:00:00 1tXYZa-000abc-AB <= news@shop.zz H=localhost [127.0.0.1] P=esmtp S=812 id=1@shop.zz"), Line::Mta);
    let d = one(&mut r, "2026-11-30 10:00:01 1tXYZa-000abc-AB => a@nullmx.zz R=smarthost T=remote_smtp_smarthost H=relay.ok.zz [192.0.2.25] X=TLS1.3 C=\"250 2.0.0 OK id=1\"");
    assert_eq!(
        (d.status, d.sender.as_deref(), d.relay.as_deref()),
        (
            Status::Sent,
            Some("news@shop.zz"),
            Some("relay.ok.zz[192.0.2.25]")
        )
    );
    assert_eq!(d.dsn.as_deref(), Some("2.0.0"));
    assert_eq!(d.time, Some(REF - 7200 + 1));
    let d = one(&mut r, "2026-11-30 10:00:01 1tXYZa-000abc-AB -> b@nullmx.zz R=smarthost T=remote_smtp_smarthost H=relay.ok.zz [192.0.2.25]");
    assert_eq!(d.status, Status::Sent);
    let d = one(
        &mut r,
        "2026-11-30 10:00:02 +0100 1tXYZa-000abc-AB ** c@gone.zz: Unrouteable address",
    );
    assert_eq!(
        (d.status, d.recipient.as_str(), d.time),
        (Status::Bounced, "c@gone.zz", Some(REF - 7200 + 2 - 3600))
    );
    let d = one(&mut r, "2026-11-30 10:00:03 [4242] 1tXYZa-000abc-AB == d@dead.zz R=dnslookup T=remote_smtp defer (-44) H=mx.dead.zz [10.1.2.3]: SMTP error from remote mail server after RCPT TO:<d@dead.zz>: 451 4.3.0 Try again later");
    assert_eq!(
        (d.status, d.relay.as_deref(), d.dsn.as_deref()),
        (
            Status::Deferred,
            Some("mx.dead.zz[10.1.2.3]"),
            Some("4.3.0")
        )
    );
    assert_eq!(
        r.feed(b"2026-11-30 10:00:04 1tXYZa-000abc-AB Completed"),
        Line::Mta
    );
    assert_eq!(r.held_queue_ids(), 0);
    assert_eq!(r.format(), Some(Format::Exim));
}

#[test]
fn kumomta_records() {
    let mut r = reader();
    let d = one(
        &mut r,
        r#"{"type":"Delivery","id":"1d98076abbbc11ed940250ebf67f93bd","sender":"news@shop.zz","recipient":"a@nullmx.zz","queue":"nullmx.zz","site":"x","size":1047,"response":{"code":250,"enhanced_code":{"class":2,"subject":0,"detail":0},"content":"OK","command":"."},"peer_address":{"name":"relay.ok.zz","addr":"192.0.2.25"},"timestamp":1796036400,"created":1796036399,"num_attempts":0}"#,
    );
    assert_eq!(
        (d.status, d.relay.as_deref(), d.dsn.as_deref(), d.time),
        (
            Status::Sent,
            Some("relay.ok.zz[192.0.2.25]"),
            Some("2.0.0"),
            Some(REF - 3600)
        )
    );
    let l = r.feed(br#"{"type":"Bounce","id":"x","sender":"","recipient":["b@gone.zz","c@gone.zz"],"timestamp":"2026-11-30T11:00:00Z"}"#);
    let Line::Deliveries(ds) = l else {
        panic!("{l:?}")
    };
    assert_eq!(ds.len(), 2);
    assert_eq!(ds[1].sender.as_deref(), Some(""));
    assert_eq!(
        r.feed(br#"{"type":"Reception","recipient":"a@b.zz"}"#),
        Line::Mta
    );
    assert_eq!(
        r.feed(br#"{"type":"TransientFailure","recipient":"a@b.zz","peer_address":null}"#)
            .clone(),
        Line::Deliveries(vec![Delivery {
            format: Format::Kumo,
            time: None,
            queue_id: String::new(),
            recipient: "a@b.zz".into(),
            sender: None,
            relay: None,
            dsn: None,
            status: Status::Deferred
        }])
    );
}

#[test]
fn garbage_is_counted_not_fatal() {
    let mut r = reader();
    let input: &[u8] = b"\xff\xfe not a log\n\nNov 30 11:00:01 mx1 postfix/smtp[813]: 4F1A23B9C2: to=<b@gone.zz>, relay=none, dsn=5.4.4, status=bounced (x)\r\n{\"type\":\n";
    let mut got = Vec::new();
    r.read(input, |d| got.push(d)).unwrap();
    assert_eq!(got.len(), 1);
    let s = r.stats();
    assert_eq!(
        (
            s.lines,
            s.invalid_utf8,
            s.blank,
            s.unrecognized,
            s.deliveries
        ),
        (4, 1, 1, 2, 1)
    );
}

#[test]
fn long_lines_are_cut() {
    let mut r = reader();
    let mut input = vec![b'x'; MAX_LINE * 3];
    input.extend_from_slice(b"\nNov 30 11:00:01 mx1 postfix/smtp[813]: 4F1A23B9C2: to=<b@gone.zz>, relay=none, status=bounced (x)\n");
    let mut n = 0;
    r.read(&input[..], |_| n += 1).unwrap();
    assert_eq!((n, r.stats().too_long, r.stats().lines), (1, 1, 2));
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A fixed-seed xorshift: reproducible noise, plus mutations of real lines.
    let seeds: &[&[u8]] = &[
        b"Nov 30 11:00:01 mx1 postfix/smtp[813]: 4F1A23B9C2: to=<b@gone.zz>, relay=none, dsn=5.4.4, status=bounced (x)",
        b"2026-11-30 10:00:02 +0100 1tXYZa-000abc-AB ** c@gone.zz: Unrouteable address",
        br#"{"type":"Delivery","recipient":["a@b.zz"],"timestamp":1.5e300,"peer_address":{"name":1}}"#,
        b"2026-11-30T11:00:02.1+99:99 h postfix/qmgr[1]: ABCDE: from=<, size",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut r = reader();
    for i in 0..20_000 {
        let mut line = seeds[i % seeds.len()].to_vec();
        for _ in 0..(next() % 6) {
            let pos = (next() as usize) % (line.len() + 1);
            match next() % 3 {
                0 if pos < line.len() => line[pos] = next() as u8,
                1 if pos < line.len() => {
                    line.truncate(pos);
                }
                _ => line.insert(pos.min(line.len()), next() as u8),
            }
        }
        r.start_file(next() as i64 % (1 << 40), None);
        let _ = r.feed(&line);
    }
}

#[test]
fn an_empty_recipient_is_no_delivery() {
    let mut r = reader();
    assert_eq!(
        r.feed(b"Nov 30 11:00:01 mx1 postfix/smtp[1]: ABCDE12345: to=<>, relay=none, dsn=5.1.3, status=bounced (bad address syntax)"),
        Line::Mta
    );
    r.start_file(REF, None);
    assert_eq!(
        r.feed(br#"{"type":"Bounce","recipient":["",""]}"#),
        Line::Mta
    );
    assert_eq!((r.stats().delivery_lines, r.stats().deliveries), (0, 0));
}
