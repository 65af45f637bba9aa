//! # prebounce-hygiene
//!
//! Typos, and what they mean for a list:
//!
//! - **MX typos**: a domain owner mistypes a filtering provider's MX
//!   (`mx1.pphosted.con`, `aspmx.l.gogle.com`). When no MX target is usable
//!   and one is a near miss of a provider's MX domain
//!   (`data/mx-providers.txt`), the reason becomes `mx_typo` with the host
//!   meant; when the near miss resolves, the row gets `mx_typo_suspect`.
//! - **Address typos**: a person mistypes their address's domain
//!   (`gmial.com`, `hotmail.con`). For a failing domain close to one
//!   popular mailbox domain (`data/mailbox-domains.txt`), a suggestion.
//!
//! Distances are Damerau-Levenshtein (optimal string alignment: an
//! insertion, a deletion, a substitution or a swap of neighbours costs 1),
//! measured on registrable domains (Public Suffix List, the `psl` crate);
//! top-level domains are checked against the IANA list (`data/tlds.txt`).
//! Never between two known domains, never when two candidates tie.
#![warn(missing_docs)]

use std::sync::OnceLock;

use prebounce_core::evidence::{
    DomainEvidence, ExchangeKind, MxNearMiss, QueryStatus, TypoEvidence,
};

const PROVIDERS: &str = include_str!("../data/mx-providers.txt");
const MAILBOXES: &str = include_str!("../data/mailbox-domains.txt");
const TLDS: &str = include_str!("../data/tlds.txt");

fn lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// A provider's MX domain with its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Provider {
    /// The registrable domain of its MX hosts (`pphosted.com`).
    pub domain: &'static str,
    /// Who it is (`Proofpoint`).
    pub name: &'static str,
}

/// The providers of `data/mx-providers.txt`.
pub fn providers() -> &'static [Provider] {
    static P: OnceLock<Vec<Provider>> = OnceLock::new();
    P.get_or_init(|| {
        lines(PROVIDERS)
            .map(|l| {
                let (domain, name) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
                Provider {
                    domain,
                    name: name.trim(),
                }
            })
            .collect()
    })
}

/// The popular mailbox domains of `data/mailbox-domains.txt`.
pub fn mailbox_domains() -> &'static [&'static str] {
    static M: OnceLock<Vec<&'static str>> = OnceLock::new();
    M.get_or_init(|| lines(MAILBOXES).collect())
}

/// Whether `tld` (lowercase, A-label) is a delegated top-level domain.
pub fn is_tld(tld: &str) -> bool {
    static T: OnceLock<std::collections::HashSet<&'static str>> = OnceLock::new();
    T.get_or_init(|| lines(TLDS).collect()).contains(tld)
}

/// Strings longer than this are never near misses (registrable domains
/// are short): the rows live on the stack.
const MAX_LEN: usize = 64;

/// The Damerau-Levenshtein distance (optimal string alignment: an insertion,
/// a deletion, a substitution or a swap of neighbours costs 1) of two ASCII
/// strings, when it is at most `max`; computed with a cut-off: the lengths
/// must be close, and a row whose every cell exceeds `max` ends it.
pub fn distance_within(a: &str, b: &str, max: usize) -> Option<usize> {
    distance_with_sets(a, byte_set(a.as_bytes()), b, byte_set(b.as_bytes()), max)
}

/// [`distance_within`] with the strings' byte sets ([`byte_set`]) already
/// computed: a known domain is compared with every written one.
fn distance_with_sets(a: &str, set_a: u64, b: &str, set_b: u64, max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max || a.len() >= MAX_LEN || b.len() >= MAX_LEN {
        return None;
    }
    // An edit changes the set of bytes present by at most two: a cheap
    // test that turns most pairs away before the table.
    if (set_a ^ set_b).count_ones() as usize > 2 * max {
        return None;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    // Cells fit a byte (strings are shorter than MAX_LEN): three small rows
    // on the stack, cheap to clear (this runs for every failing domain
    // against every popular one).
    let mut prev2 = [0u8; MAX_LEN + 1];
    let mut prev = [0u8; MAX_LEN + 1];
    for (j, p) in prev.iter_mut().enumerate().take(b.len() + 1) {
        *p = j as u8;
    }
    let mut cur = [0u8; MAX_LEN + 1];
    for i in 1..=a.len() {
        cur[0] = i as u8;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = u8::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
            row_min = row_min.min(cur[j]);
        }
        if usize::from(row_min) > max + 1 {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = usize::from(prev[b.len()]);
    (d <= max).then_some(d)
}

/// The set of bytes present in `s`, folded into 64 bits (letters, digits
/// and `-`/`.` each get their own; anything else shares with them, which
/// only makes the test weaker, never wrong).
fn byte_set(s: &[u8]) -> u64 {
    s.iter().fold(0u64, |m, &c| m | 1 << (c % 64))
}

/// `label.suffix` of a registrable domain: its first label and the rest.
fn split(domain: &str) -> (&str, &str) {
    domain.split_once('.').unwrap_or((domain, ""))
}

/// The registrable domain of a host name (Public Suffix List); an unknown
/// top-level domain (`.con`) counts as a suffix of its own.
pub fn registrable(host: &str) -> Option<&str> {
    psl::domain_str(host)
}

/// The most edits [`Written::near`] allows.
const MAX_EDITS: usize = 2;

/// Known domains, sorted by length for [`closest`].
fn by_length(domains: impl Iterator<Item = &'static str>) -> Vec<Known> {
    let mut known: Vec<Known> = domains.map(Known::new).collect();
    known.sort_by_key(|k| k.whole.len());
    known
}

/// A domain split into its first label and the rest, with the byte sets
/// of the whole and of the rest ([`byte_set`]), once: it is compared with
/// many others.
struct Split<'a> {
    whole: &'a str,
    label: &'a str,
    suffix: &'a str,
    whole_set: u64,
    suffix_set: u64,
}

impl<'a> Split<'a> {
    fn new(whole: &'a str) -> Split<'a> {
        let (label, suffix) = split(whole);
        Split {
            whole,
            label,
            suffix,
            whole_set: byte_set(whole.as_bytes()),
            suffix_set: byte_set(suffix.as_bytes()),
        }
    }
}

/// A known domain (a provider's MX domain, a popular mailbox domain): every
/// written domain is compared with all of them.
type Known = Split<'static>;

/// A written domain, split once for comparison with many known ones.
struct Written<'a> {
    domain: Split<'a>,
    /// Whether its top-level domain is a real one.
    real_tld: bool,
}

impl<'a> Written<'a> {
    fn new(whole: &'a str) -> Self {
        Written {
            domain: Split::new(whole),
            real_tld: is_tld(whole.rsplit('.').next().unwrap_or_default()),
        }
    }

    /// How far this written domain is from `known`, when close enough to
    /// count as its typo: the same first label with a top-level domain one
    /// edit away (two when the written one is not a real TLD), or, for
    /// first labels of 4 letters or more, one edit in all (two from 7
    /// letters).
    fn near(&self, known: &Known) -> Option<usize> {
        let d = &self.domain;
        if d.whole == known.whole {
            return None;
        }
        if d.label == known.label {
            let limit = if self.real_tld { 1 } else { 2 };
            return distance_with_sets(
                d.suffix,
                d.suffix_set,
                known.suffix,
                known.suffix_set,
                limit,
            );
        }
        let limit = match known.label.len() {
            0..=3 => return None,
            4..=6 => 1,
            _ => 2,
        };
        distance_with_sets(d.whole, d.whole_set, known.whole, known.whole_set, limit)
    }
}

/// The one closest of `known` to `written`, unless two tie.
///
/// `known` is sorted by length: only those within [`MAX_EDITS`] of the
/// written one's length can be near (each edit changes the length by one
/// at most), so only they are compared.
fn closest<'k>(written: &Written<'_>, known: &'k [Known]) -> Option<&'k Known> {
    let len = written.domain.whole.len();
    let from = known.partition_point(|k| k.whole.len() + MAX_EDITS < len);
    let to = known.partition_point(|k| k.whole.len() <= len + MAX_EDITS);
    closest_of(written, &known[from..to.max(from)])
}

/// [`closest`] among all of `candidates`.
fn closest_of<'k>(written: &Written<'_>, candidates: &'k [Known]) -> Option<&'k Known> {
    let mut best: Option<(usize, &Known)> = None;
    let mut tie = false;
    for k in candidates {
        let Some(d) = written.near(k) else { continue };
        match best {
            Some((bd, _)) if d > bd => {}
            Some((bd, _)) if d == bd => tie = true,
            _ => {
                best = Some((d, k));
                tie = false;
            }
        }
    }
    if tie {
        None
    } else {
        best.map(|(_, k)| k)
    }
}

/// An MX host that looks like a typo of a provider's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NearMiss {
    /// The host as published.
    pub host: String,
    /// The provider it was probably meant for.
    pub provider: Provider,
    /// The host probably meant.
    pub meant: String,
}

/// Registrable MX domains remembered by [`provider_near`] at most.
const MEMO_MAX: usize = 16_384;

/// The provider a registrable domain is a near miss of, remembered: MX
/// hosts are shared by many domains.
fn provider_near(reg: &str) -> Option<Provider> {
    static MEMO: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Option<Provider>>>> =
        OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    if let Some(hit) = memo.lock().unwrap_or_else(|p| p.into_inner()).get(reg) {
        return *hit;
    }
    let found = if providers().iter().any(|p| p.domain == reg) {
        None
    } else {
        closest(&Written::new(reg), provider_domains())
            .and_then(|k| providers().iter().find(|p| p.domain == k.whole).copied())
    };
    let mut memo = memo.lock().unwrap_or_else(|p| p.into_inner());
    // Bounded: a run over millions of domains with their own MX hosts must
    // not keep one entry each.
    if memo.len() >= MEMO_MAX {
        memo.clear();
    }
    memo.insert(reg.to_string(), found);
    found
}

/// Whether `host` (lowercase, no trailing dot) is a near miss of a
/// provider's MX domain.
pub fn mx_near_miss(host: &str) -> Option<NearMiss> {
    let reg = registrable(host)?;
    let provider = provider_near(reg)?;
    let domain = provider.domain;
    let prefix = &host[..host.len() - reg.len()];
    Some(NearMiss {
        host: host.to_string(),
        provider,
        meant: format!("{prefix}{domain}"),
    })
}

/// The popular mailbox domain a failing `domain` was probably meant to be.
/// A domain that is itself popular gets none; a single label gets the one
/// popular domain with that first label, if only one.
pub fn suggest_domain(domain: &str) -> Option<&'static str> {
    let domain = domain.trim().trim_end_matches('.');
    let lower;
    let domain = if domain.bytes().any(|b| b.is_ascii_uppercase()) {
        lower = domain.to_ascii_lowercase();
        lower.as_str()
    } else {
        domain
    };
    let popular = popular_split();
    if domain.is_empty() || popular.exact.contains(domain) {
        return None;
    }
    if !domain.contains('.') {
        let mut same = popular.all.iter().filter(|p| p.label == domain);
        let first = same.next()?;
        return same.next().is_none().then_some(first.whole);
    }
    closest(&Written::new(domain), &popular.all).map(|k| k.whole)
}

/// The popular mailbox domains, split once (by length), and as a set.
struct PopularSplit {
    all: Vec<Known>,
    exact: std::collections::HashSet<&'static str>,
}

fn popular_split() -> &'static PopularSplit {
    static P: OnceLock<PopularSplit> = OnceLock::new();
    P.get_or_init(|| PopularSplit {
        all: by_length(mailbox_domains().iter().copied()),
        exact: mailbox_domains().iter().copied().collect(),
    })
}

/// The providers' MX domains, split once.
fn provider_domains() -> &'static [Known] {
    static K: OnceLock<Vec<Known>> = OnceLock::new();
    K.get_or_init(|| by_length(providers().iter().map(|p| p.domain)))
}

pub use prebounce_core::decide::SUGGEST_FOR;

/// The typo analysis of a domain's evidence, for the decision
/// ([`prebounce_core::decide`]): every MX exchange (a host name) that is a
/// near miss of a provider's MX domain and, when the domain shows no mail
/// route at all (NXDOMAIN, no MX, or MX hosts without any address), the
/// popular mailbox domain it was probably meant to be. Never a suggestion
/// for a domain that works.
pub fn analyse(ev: &DomainEvidence) -> TypoEvidence {
    let near_misses = ev
        .targets
        .iter()
        .filter(|t| t.kind() == ExchangeKind::Host)
        .filter_map(|t| mx_near_miss(&t.mx.exchange))
        .map(|m| MxNearMiss {
            host: m.host,
            provider: m.provider.name.to_string(),
            provider_domain: m.provider.domain.to_string(),
            meant: m.meant,
        })
        .collect();
    // Only where a suggestion can be shown (the reasons of SUGGEST_FOR):
    // NXDOMAIN, no MX, or MX hosts that all resolve to nothing. Not for a
    // null MX, an explicit refusal of mail.
    let no_route = match ev.mx.status {
        QueryStatus::NxDomain | QueryStatus::NoData => true,
        QueryStatus::Answer => ev.targets.iter().all(|t| {
            t.kind() == ExchangeKind::Host
                && t.host
                    .as_ref()
                    .is_none_or(|h| h.addresses().next().is_none())
        }),
        _ => false,
    };
    TypoEvidence {
        near_misses,
        meant: no_route
            .then(|| suggest_domain(&ev.domain).map(str::to_string))
            .flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic random source (xorshift): `next(n)` is in
    /// `0..n`.
    fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    /// Makes `edits` random edits to `s` (an insertion, a deletion, a
    /// substitution or a swap of neighbours), with bytes of `alphabet`.
    fn edit(next: &mut impl FnMut(u64) -> u64, s: &mut Vec<u8>, alphabet: &[u8], edits: u64) {
        for _ in 0..edits {
            let at = next(s.len() as u64 + 1) as usize;
            match next(4) {
                0 => s.insert(at, alphabet[next(alphabet.len() as u64) as usize]),
                1 if at < s.len() => {
                    s.remove(at);
                }
                2 if at < s.len() => s[at] = alphabet[next(alphabet.len() as u64) as usize],
                _ if at + 1 < s.len() => s.swap(at, at + 1),
                _ => {}
            }
        }
    }

    /// The plain Damerau-Levenshtein distance (optimal string alignment), as
    /// the reference for [`distance_within`].
    fn distance(a: &str, b: &str) -> usize {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let mut prev2 = vec![0usize; b.len() + 1];
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        let mut cur = vec![0usize; b.len() + 1];
        for i in 1..=a.len() {
            cur[0] = i;
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    cur[j] = cur[j].min(prev2[j - 2] + 1);
                }
            }
            std::mem::swap(&mut prev2, &mut prev);
            std::mem::swap(&mut prev, &mut cur);
        }
        prev[b.len()]
    }

    /// Comparing only the known domains of nearby lengths finds what
    /// comparing all of them finds, on mutations of every known domain.
    #[test]
    fn the_length_window_misses_nothing() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let alphabet = b"abcdeilmnoqrt.-";
        let mut found = 0;
        for known in [provider_domains(), &popular_split().all[..]] {
            for _ in 0..4_000 {
                let mut d = known[next(known.len() as u64) as usize]
                    .whole
                    .as_bytes()
                    .to_vec();
                let edits = 1 + next(3);
                edit(&mut next, &mut d, alphabet, edits);
                let d = String::from_utf8(d).unwrap();
                let w = Written::new(&d);
                let (windowed, all) = (closest(&w, known), closest_of(&w, known));
                assert_eq!(windowed.map(|k| k.whole), all.map(|k| k.whole), "{d}");
                found += usize::from(all.is_some());
            }
        }
        assert!(
            found > 1_000,
            "only {found} near misses: the test tests little"
        );
    }

    #[test]
    fn data_files_parse() {
        assert!(providers().len() >= 40);
        assert!(
            providers()
                .iter()
                .all(|p| p.domain.contains('.') && !p.name.is_empty()),
            "every provider has a name"
        );
        assert!(mailbox_domains().len() >= 80);
        assert!(mailbox_domains()
            .iter()
            .all(|d| d.contains('.') && *d == d.to_ascii_lowercase()));
        for tld in ["com", "de", "uk", "io", "xn--p1ai", "cm", "co"] {
            assert!(is_tld(tld), "{tld}");
        }
        for not in ["con", "cmo", "zz", "test", "example"] {
            assert!(!is_tld(not), "{not}");
        }
        // Every listed domain's TLD is real.
        for d in mailbox_domains()
            .iter()
            .copied()
            .chain(providers().iter().map(|p| p.domain))
        {
            assert!(is_tld(d.rsplit('.').next().unwrap()), "{d}");
        }
    }

    /// The cut-off computation (byte-set test, early row exit) agrees with
    /// the plain distance on many pairs: random strings over a small
    /// alphabet, and their random edits (so that near pairs are common).
    #[test]
    fn distance_within_agrees_with_the_reference() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let alphabet = b"abcdo.-1";
        for _ in 0..20_000 {
            let len = next(12) as usize;
            let a: Vec<u8> = (0..len).map(|_| alphabet[next(8) as usize]).collect();
            let mut b = a.clone();
            let edits = next(4);
            edit(&mut next, &mut b, alphabet, edits);
            let (a, b) = (String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
            let full = distance(&a, &b);
            for max in 0..4 {
                assert_eq!(
                    distance_within(&a, &b, max),
                    (full <= max).then_some(full),
                    "{a:?} {b:?} {max}"
                );
            }
        }
    }

    #[test]
    fn distances() {
        for (a, b) in [
            ("gmail", "gmial"),
            ("pphosted.con", "pphosted.com"),
            ("abc", ""),
            ("kitten", "sitting"),
            ("ab", "ba"),
            ("", ""),
        ] {
            for max in 0..4 {
                let full = distance(a, b);
                assert_eq!(
                    distance_within(a, b, max),
                    (full <= max).then_some(full),
                    "{a} {b} {max}"
                );
            }
        }
        assert_eq!(distance("gmail", "gmial"), 1);
        assert_eq!(distance("pphosted.con", "pphosted.com"), 1);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("hotmail", "hotmial"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn mx_typos() {
        for (host, meant) in [
            ("mx1.pphosted.con", "mx1.pphosted.com"),
            ("mx0a-001.pphosted.cm", "mx0a-001.pphosted.com"),
            ("aspmx.l.gogle.com", "aspmx.l.google.com"),
            ("aspmx.l.google.co", "aspmx.l.google.com"),
            (
                "contoso-com.mail.protection.outlok.com",
                "contoso-com.mail.protection.outlook.com",
            ),
            (
                "us-smtp-inbound-1.mimecats.com",
                "us-smtp-inbound-1.mimecast.com",
            ),
            ("mx1.iphmx.con", "mx1.iphmx.com"),
            ("cluster1.eu.messagelabs.cmo", "cluster1.eu.messagelabs.com"),
            ("d12.barracudanetwork.com", "d12.barracudanetworks.com"),
            ("mx.zoho.con", "mx.zoho.com"),
        ] {
            let m = mx_near_miss(host).unwrap_or_else(|| panic!("{host}"));
            assert_eq!(m.meant, meant, "{host}");
        }
        for host in [
            "aspmx.l.google.com",
            "mx1.pphosted.com",
            "mx.zoho.eu",
            "mx.example-corp.de",
            "mail.protection.outlook.com",
            "mx1.hostedmail.net",
            "in1-smtp.messagingengine.com",
            "mx.yandex.net",
            "mx01.mail.icloud.com",
            "mx.gmail.com",
        ] {
            assert_eq!(mx_near_miss(host), None, "{host}");
        }
    }

    /// Fifty real typos, each with its correction.
    #[test]
    fn address_typos_are_suggested() {
        let cases = [
            ("gmial.com", "gmail.com"),
            ("gmai.com", "gmail.com"),
            ("gmil.com", "gmail.com"),
            ("gmail.con", "gmail.com"),
            ("gmail.cmo", "gmail.com"),
            ("gmail.co", "gmail.com"),
            ("gamil.com", "gmail.com"),
            ("gnail.com", "gmail.com"),
            ("gmaill.com", "gmail.com"),
            ("gmail.comm", "gmail.com"),
            ("gmali.com", "gmail.com"),
            ("gmail.om", "gmail.com"),
            ("hotmial.com", "hotmail.com"),
            ("hotmal.com", "hotmail.com"),
            ("hotmai.com", "hotmail.com"),
            ("hotmail.con", "hotmail.com"),
            ("hotamil.com", "hotmail.com"),
            ("hormail.com", "hotmail.com"),
            ("hotmsil.com", "hotmail.com"),
            ("hotmail.co", "hotmail.com"),
            ("yaho.com", "yahoo.com"),
            ("yahooo.com", "yahoo.com"),
            ("yahoo.con", "yahoo.com"),
            ("yhoo.com", "yahoo.com"),
            ("tahoo.com", "yahoo.com"),
            ("yahoo.coom", "yahoo.com"),
            ("outlok.com", "outlook.com"),
            ("outllook.com", "outlook.com"),
            ("outlook.con", "outlook.com"),
            ("otulook.com", "outlook.com"),
            ("iclod.com", "icloud.com"),
            ("icoud.com", "icloud.com"),
            ("icloud.con", "icloud.com"),
            ("aol.con", "aol.com"),
            ("aol.cm", "aol.com"),
            ("comcast.ent", "comcast.net"),
            ("comcst.net", "comcast.net"),
            ("verizon.ent", "verizon.net"),
            ("sbcglobal.ner", "sbcglobal.net"),
            ("btinternet.co", "btinternet.com"),
            ("btinterent.com", "btinternet.com"),
            ("t-onlien.de", "t-online.de"),
            ("yandex.r", "yandex.ru"),
            ("protonmial.com", "protonmail.com"),
            ("libreo.it", "libero.it"),
            ("orange.ft", "orange.fr"),
            ("laposte.ner", "laposte.net"),
            ("googlemial.com", "googlemail.com"),
            ("rocketmial.com", "rocketmail.com"),
            ("gmail", "gmail.com"),
        ];
        assert!(cases.len() >= 50);
        for (typo, want) in cases {
            assert_eq!(suggest_domain(typo), Some(want), "{typo}");
        }
    }

    /// Fifty real domains (or ambiguous ones) that must be left alone.
    #[test]
    fn lookalikes_are_left_alone() {
        let cases = [
            "mac.com",
            "mail.com",
            "me.com",
            "email.com",
            "gmx.com",
            "gmx.net",
            "gmx.de",
            "gmx.at",
            "ymail.com",
            "aim.com",
            "aol.com",
            "msn.com",
            "live.com",
            "live.co.uk",
            "live.fr",
            "web.de",
            "wp.pl",
            "o2.pl",
            "qq.com",
            "163.com",
            "126.com",
            "sky.com",
            "cox.net",
            "att.net",
            "pm.me",
            "hey.com",
            "tuta.io",
            "ya.ru",
            "bk.ru",
            "mail.ru",
            "list.ru",
            "hotmail.de",
            "hotmail.fr",
            "hotmail.it",
            "hotmail.es",
            "outlook.fr",
            "outlook.de",
            "yahoo.de",
            "yahoo.fr",
            "yahoo.es",
            "yahoo.it",
            "yahoo.ca",
            "gmail.com",
            "icloud.com",
            "proton.me",
            "free.fr",
            "sfr.fr",
            "alice.it",
            "seznam.cz",
            "naver.com",
            // Ambiguous: two candidates at the same distance.
            "yahoo",
            "hotmail",
            "live",
            "gmx",
            // Too short to guess from.
            "aal.com",
            "msm.com",
            // Far from everything.
            "example-corp.de",
            "northwind.io",
        ];
        assert!(cases.len() >= 50);
        for d in cases {
            assert_eq!(suggest_domain(d), None, "{d}");
        }
    }
}
