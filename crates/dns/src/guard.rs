//! Defences against blind spoofing, shared by the bulk and stub engines.
//!
//! A blind attacker (one who cannot see our queries) must guess everything
//! a reply is checked for: the source address and port of the server, the
//! destination port we sent from, the 16-bit id, and the question. The
//! engines make that guess expensive:
//!
//! - **Random source ports.** Every UDP socket is bound to port 0, so the
//!   kernel picks a random port of its ephemeral range (Linux randomizes
//!   UDP autobind since the 2008 Kaminsky attack; the range is
//!   `net.ipv4.ip_local_port_range`, 28,232 ports by default). The stub
//!   engine opens one socket per question; the bulk engine rotates a small
//!   pool, retiring each socket after a number of queries or seconds.
//! - **DNS 0x20** (draft-vixie-dnsext-dns0x20): the letters of the query
//!   name get a random case ([`randomize_case`]) and a reply is believed
//!   only when its question echoes that case exactly: one more bit per
//!   letter to guess.
//!
//! A reply whose question matches the query only case-insensitively, from
//! the right server, with the right id and port, is either a forgery or a
//! server that does not preserve the case. Either way it is not believed
//! over UDP: the question is asked again over TCP, which a blind attacker
//! cannot answer. When a server does that [`FALLBACK_STREAK`] times in a
//! row (no reply in between echoed the case), it is a server that does not
//! echo the case: [`CaseCheck`] stops randomizing for it, and the
//! transport's stats say so. The checks on id, source and question stay.
//! An attacker cannot force that downgrade without first guessing port,
//! id and question [`FALLBACK_STREAK`] times in a row, each time before
//! the true reply arrives.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use hickory_proto::op::Message;
use hickory_proto::rr::Name;

/// How many replies in a row, from one server, must match the question
/// only case-insensitively before 0x20 is turned off for that server.
pub const FALLBACK_STREAK: u32 = 8;

/// The largest UDP datagram the engines read (the largest a UDP datagram
/// can be): a reply larger than [`crate::transport::EDNS_PAYLOAD`] is read
/// whole, so that it can be recognised as oversize rather than cut.
pub const MAX_DATAGRAM: usize = 65_535;

/// The question with the case of its letters randomized (DNS 0x20), as
/// [`randomize_wire_case`] does it on the wire.
pub fn randomize_case(name: &Name) -> Name {
    let mut wire = Vec::with_capacity(256);
    push_wire_name(&mut wire, name);
    randomize_wire_case(&mut wire);
    let mut labels = Vec::new();
    let mut at = 0;
    while let Some(&len) = wire.get(at).filter(|&&len| len != 0) {
        labels.push(&wire[at + 1..at + 1 + usize::from(len)]);
        at += 1 + usize::from(len);
    }
    match Name::from_labels(labels) {
        Ok(mut n) => {
            n.set_fqdn(name.is_fqdn());
            n
        }
        Err(_) => name.clone(),
    }
}

/// Appends `name` in wire form: length-prefixed labels, then the root's 0
/// (uncompressed).
pub(crate) fn push_wire_name(out: &mut Vec<u8>, name: &Name) {
    for label in name.iter() {
        // A label is at most 63 bytes (Name enforces it).
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

/// Randomizes, in place, the case of the letters of a name in wire form
/// (length-prefixed labels ending with the root's 0): the 0x20 of
/// [`randomize_case`] without building a [`Name`]. Length bytes are left
/// alone (a label is at most 63 bytes, so its length is never a letter).
pub fn randomize_wire_case(wire: &mut [u8]) {
    let mut bits: u64 = rand::random();
    let mut left = 64;
    let mut at = 0;
    while at < wire.len() {
        let len = usize::from(wire[at]);
        if len == 0 {
            return;
        }
        let end = (at + 1 + len).min(wire.len());
        for b in &mut wire[at + 1..end] {
            if !b.is_ascii_alphabetic() {
                continue;
            }
            if left == 0 {
                bits = rand::random();
                left = 64;
            }
            if bits & 1 == 1 {
                *b ^= 0x20;
            }
            bits >>= 1;
            left -= 1;
        }
        at = end;
    }
}

/// How `reply`'s question echoed the case of our query's name, given in
/// wire form (`qname`, as [`crate::transport::encode_query`] wrote it):
/// `None` when it is not the same name even case-insensitively (not an
/// answer to our question). The wire-level twin of [`echo`], for the bulk
/// engine, which keeps no [`Message`] per query.
pub fn wire_echo(qname: &[u8], reply: &Name) -> Option<Echo> {
    let mut theirs = Vec::with_capacity(qname.len());
    push_wire_name(&mut theirs, reply);
    wire_echo_plain(qname, &theirs)
}

/// [`wire_echo`] for a reply's question also in wire form, without
/// compression (`theirs`, as [`crate::wire::read_reply`] found it).
pub fn wire_echo_plain(ours: &[u8], theirs: &[u8]) -> Option<Echo> {
    // Length bytes (at most 63) are never letters, so comparing the whole
    // forms ignoring case compares the labels ignoring case.
    if !ours.eq_ignore_ascii_case(theirs) {
        return None;
    }
    if ours != theirs {
        return Some(Echo::Folded);
    }
    let upper = ours.iter().any(u8::is_ascii_uppercase);
    let lower = ours.iter().any(u8::is_ascii_lowercase);
    Some(if upper && lower {
        Echo::Exact
    } else {
        Echo::Untold
    })
}

/// How a reply's question echoed the case of the query's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// Exactly, and the query's name mixed upper and lower case: the
    /// server echoes the case.
    Exact,
    /// Exactly, but the name had no mix of cases to tell (too few letters,
    /// or the random case came out all one way): no evidence either way.
    Untold,
    /// Only case-insensitively.
    Folded,
}

/// How `reply`'s question echoed the case of `request`'s (call after
/// [`crate::transport::matches_request`] said they match).
pub fn echo(request: &Message, reply: &Message) -> Echo {
    let (Some(q), Some(r)) = (request.queries.first(), reply.queries.first()) else {
        return Echo::Folded;
    };
    if !q.name().eq_ignore_root_case(r.name()) {
        return Echo::Folded;
    }
    let (mut upper, mut lower) = (false, false);
    for label in q.name().iter() {
        for b in label {
            upper |= b.is_ascii_uppercase();
            lower |= b.is_ascii_lowercase();
        }
    }
    if upper && lower {
        Echo::Exact
    } else {
        Echo::Untold
    }
}

/// Puts `name` back as the question of `reply` (the caller's spelling,
/// not the randomized one), so nothing downstream sees the mixed case.
pub fn restore_question(reply: &mut Message, name: &Name) {
    if let Some(q) = reply.queries.first_mut() {
        q.set_name(name.clone());
    }
}

/// What to do with a reply that matched id, source and question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseVerdict {
    /// Believe it.
    Accept,
    /// Do not believe it over UDP: ask again over TCP.
    Tcp,
}

/// The 0x20 state of one server.
#[derive(Debug)]
pub struct CaseCheck {
    /// Read on every query, without the lock.
    on: AtomicBool,
    /// Replies in a row that did not echo the case; decisions are taken
    /// under this lock, so exactly [`FALLBACK_STREAK`] go to TCP.
    streak: Mutex<u32>,
}

impl CaseCheck {
    /// 0x20 on (`true`) or never used (`false`).
    pub fn new(on: bool) -> CaseCheck {
        CaseCheck {
            on: AtomicBool::new(on),
            streak: Mutex::new(0),
        }
    }

    /// Whether queries to this server get a random case.
    pub fn on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Judges a reply that matched id, source and question by how it
    /// echoed the case. Returns the verdict and whether this reply just
    /// turned 0x20 off for the server.
    pub fn judge(&self, echo: Echo) -> (CaseVerdict, bool) {
        let mut streak = self.streak.lock().unwrap_or_else(|p| p.into_inner());
        match echo {
            Echo::Exact => {
                *streak = 0;
                return (CaseVerdict::Accept, false);
            }
            Echo::Untold => return (CaseVerdict::Accept, false),
            Echo::Folded => {}
        }
        if !self.on() {
            return (CaseVerdict::Accept, false);
        }
        *streak += 1;
        if *streak >= FALLBACK_STREAK {
            self.on.store(false, Ordering::Relaxed);
            return (CaseVerdict::Tcp, true);
        }
        (CaseVerdict::Tcp, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_is_random_and_only_case_changes() {
        let name = Name::from_ascii("mail-1.shop.example.net.").unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let r = randomize_case(&name);
            assert!(r.eq_ignore_root(&name), "{r}");
            assert!(r.is_fqdn());
            assert_eq!(r.to_ascii().to_lowercase(), name.to_ascii());
            seen.insert(r.to_ascii());
        }
        // 18 letters: 2^18 spellings; 50 draws almost surely differ.
        assert!(seen.len() > 40, "{seen:?}");
        assert!(seen
            .iter()
            .any(|s| s.chars().any(|c| c.is_ascii_uppercase())));
        // The wire form carries the case.
        let r = randomize_case(&name);
        let mut q = crate::transport::build_query(&r, hickory_proto::rr::RecordType::MX);
        let back = Message::from_vec(&q.to_vec().unwrap()).unwrap();
        assert!(back.queries[0].name().eq_ignore_root_case(&r));
        let mut lower = back.clone();
        lower.queries[0].set_name(name.clone());
        let mixed =
            r.to_ascii() != name.to_ascii() && r.to_ascii() != name.to_ascii().to_uppercase();
        if mixed {
            assert_eq!(echo(&back, &back), Echo::Exact);
            assert_eq!(echo(&back, &lower), Echo::Folded);
        }
        q.queries[0].set_name(name.clone());
        assert_eq!(
            echo(&q, &lower),
            Echo::Untold,
            "all lowercase tells nothing"
        );
        let one = Name::from_ascii("x.zz.").unwrap();
        let mut single = q.clone();
        single.queries[0].set_name(one.clone());
        assert_eq!(echo(&single, &single), Echo::Untold);
    }

    #[test]
    fn wire_echo_reads_the_case_of_our_question() {
        let name = |t: &str| Name::from_ascii(t).unwrap();
        let wire = |t: &str| {
            let q = crate::transport::encode_query(
                &name(t),
                hickory_proto::rr::RecordType::MX,
                1,
                false,
            );
            let len = crate::transport::question_len(&q);
            q[12..12 + len - 4].to_vec()
        };
        let ours = wire("MaiL.Example.ZZ.");
        assert_eq!(
            wire_echo(&ours, &name("MaiL.Example.ZZ.")),
            Some(Echo::Exact)
        );
        assert_eq!(
            wire_echo(&ours, &name("MaiL.Example.ZZ")),
            Some(Echo::Exact)
        );
        assert_eq!(
            wire_echo(&ours, &name("mail.example.zz.")),
            Some(Echo::Folded)
        );
        assert_eq!(wire_echo(&ours, &name("mail.example.zy.")), None);
        assert_eq!(wire_echo(&ours, &name("mail.example.")), None);
        assert_eq!(wire_echo(&ours, &name("x.mail.example.zz.")), None);
        assert_eq!(wire_echo(&ours, &name(".")), None);
        assert_eq!(wire_echo(&wire("."), &name(".")), Some(Echo::Untold));
        assert_eq!(
            wire_echo(&wire("mail.zz."), &name("mail.zz.")),
            Some(Echo::Untold)
        );
        assert_eq!(
            wire_echo(&wire("1.2.3."), &name("1.2.3.")),
            Some(Echo::Untold)
        );
        // A label that only the length byte tells apart.
        assert_eq!(wire_echo(&wire("ab.c."), &name("a.bc.")), None);
        // The reply's question in wire form reads the same.
        for theirs in [
            "MaiL.Example.ZZ.",
            "mail.example.zz.",
            "mail.example.zy.",
            "mail.example.",
            ".",
            "a.bc.",
        ] {
            assert_eq!(
                wire_echo_plain(&ours, &wire(theirs)),
                wire_echo(&ours, &name(theirs)),
                "{theirs}"
            );
        }
        assert_eq!(wire_echo_plain(&wire("ab.c."), &wire("a.bc.")), None);
        assert_eq!(
            wire_echo_plain(&wire("mail.zz."), &wire("mail.zz.")),
            Some(Echo::Untold)
        );
        // Agrees with the message-level echo on random spellings.
        let plain = name("mail-1.shop.example.net.");
        for _ in 0..50 {
            let r = randomize_case(&plain);
            let q = crate::transport::build_query(&r, hickory_proto::rr::RecordType::MX);
            let mut lower = q.clone();
            lower.queries[0].set_name(plain.clone());
            assert_eq!(wire_echo(&wire(&r.to_ascii()), &r), Some(echo(&q, &q)));
            assert_eq!(
                wire_echo(&wire(&r.to_ascii()), &plain),
                Some(echo(&q, &lower))
            );
        }
    }

    #[test]
    fn fallback_after_a_streak_only() {
        let c = CaseCheck::new(true);
        for _ in 0..FALLBACK_STREAK - 1 {
            assert_eq!(c.judge(Echo::Folded), (CaseVerdict::Tcp, false));
        }
        // One echoed reply starts the count again; an untold one does not.
        assert_eq!(c.judge(Echo::Exact), (CaseVerdict::Accept, false));
        for _ in 0..FALLBACK_STREAK - 1 {
            assert_eq!(c.judge(Echo::Folded), (CaseVerdict::Tcp, false));
            assert_eq!(c.judge(Echo::Untold), (CaseVerdict::Accept, false));
        }
        assert!(c.on());
        assert_eq!(c.judge(Echo::Folded), (CaseVerdict::Tcp, true));
        assert!(!c.on());
        assert_eq!(c.judge(Echo::Folded), (CaseVerdict::Accept, false));
        let never = CaseCheck::new(false);
        assert_eq!(never.judge(Echo::Folded), (CaseVerdict::Accept, false));
    }
}
