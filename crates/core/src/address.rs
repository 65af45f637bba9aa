//! Address and domain syntax, checked without any network.
//!
//! The rules follow RFC 5321 §4.1.2 (Mailbox, Dot-string, Quoted-string),
//! §4.5.3.1 (length limits), RFC 6531 (UTF-8 local parts), RFC 1035 §2.3.1
//! (LDH labels) and UTS #46 (IDNA) for internationalized domains.

use std::fmt;

use crate::verdict::Reason;

/// RFC 5321 §4.5.3.1.1: the local part is at most 64 octets.
pub const MAX_LOCAL_PART: usize = 64;
/// RFC 5321 §4.5.3.1.3 limits a path to 256 octets including `<` and `>`,
/// which leaves 254 for the address.
pub const MAX_ADDRESS: usize = 254;
/// RFC 1035 §2.3.4: a name is at most 255 octets on the wire, 253 as text.
pub const MAX_DOMAIN: usize = 253;
/// RFC 1035 §2.3.4: a label is at most 63 octets.
pub const MAX_LABEL: usize = 63;

/// A syntactically valid address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// The local part, as written.
    pub local: String,
    /// The domain in ASCII (A-labels), lowercase, without a trailing dot.
    pub domain: String,
}

/// Why an address or domain was refused before any DNS query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// [`Reason::AddressInvalid`], [`Reason::DomainInvalid`] or [`Reason::DomainReserved`].
    pub reason: Reason,
    /// Names the offending character or rule.
    pub detail: String,
    /// The ASCII domain when it could be worked out (a reserved domain, say).
    pub domain: Option<String>,
}

impl SyntaxError {
    fn address(detail: impl Into<String>) -> Self {
        SyntaxError {
            reason: Reason::AddressInvalid,
            detail: detail.into(),
            domain: None,
        }
    }

    fn domain(detail: impl Into<String>) -> Self {
        SyntaxError {
            reason: Reason::DomainInvalid,
            detail: detail.into(),
            domain: None,
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

impl std::error::Error for SyntaxError {}

/// Describes a character for a detail line: `'!'`, `space`, `U+0000`.
fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        c if c.is_control() => format!("control character U+{:04X}", c as u32),
        c => format!("'{c}'"),
    }
}

/// Parses one address: splits at the last `@`, checks the local part and
/// normalizes the domain (see [`normalize_domain`]).
///
/// Surrounding whitespace (and a byte-order mark) is ignored.
///
/// ```
/// use prebounce_core::address::parse_address;
/// let a = parse_address(" Anna@Bücher.Shop.COM ").unwrap();
/// assert_eq!(a.domain, "xn--bcher-kva.shop.com");
/// // A trailing dot (a fully qualified name) is the same domain.
/// assert_eq!(parse_address("anna@shop.com.").unwrap().domain, "shop.com");
/// assert!(parse_address("anna@shop.com..").is_err());
/// ```
pub fn parse_address(input: &str) -> Result<Address, SyntaxError> {
    let input = input.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if input.is_empty() {
        return Err(SyntaxError::address("empty address"));
    }
    // Control characters are below 0x20, 0x7f, or (C1) above it: the
    // characters are looked at only when such a byte is present.
    let maybe_control = input.bytes().any(|b| !(0x20..0x7f).contains(&b));
    if let Some((i, c)) = maybe_control
        .then(|| input.char_indices().find(|(_, c)| c.is_control()))
        .flatten()
    {
        return Err(SyntaxError::address(format!(
            "{} at byte {i}",
            describe_char(c)
        )));
    }
    let Some(at) = input.rfind('@') else {
        return Err(SyntaxError::address("no '@' in the address"));
    };
    let (local, domain) = (&input[..at], &input[at + 1..]);
    if local.is_empty() {
        return Err(SyntaxError::address(
            "empty local part (nothing before '@')",
        ));
    }
    if domain.is_empty() {
        return Err(SyntaxError::address("empty domain (nothing after '@')"));
    }
    check_local_part(local)?;
    if input.len() > MAX_ADDRESS {
        return Err(SyntaxError::address(format!(
            "address is {} octets long, more than {MAX_ADDRESS} (RFC 5321 §4.5.3.1.3)",
            input.len()
        )));
    }
    if domain.starts_with('[') {
        return Err(SyntaxError::domain(format!(
            "address literal {domain} is not accepted for bulk mail (RFC 5321 §4.1.3)"
        )));
    }
    // A fully qualified domain (`user@example.com.`) is the same domain.
    let domain = match domain.strip_suffix('.') {
        Some(d) if !d.is_empty() && !d.ends_with('.') => d,
        _ => domain,
    };
    let domain = normalize_domain(domain)?;
    // The domain goes on the wire in A-labels, which can be longer than
    // the U-labels written: the limit holds for that form too.
    let wire = local.len() + 1 + domain.len();
    if wire > MAX_ADDRESS {
        return Err(SyntaxError::address(format!(
            "address is {wire} octets long with its domain in A-labels ({domain}), more than {MAX_ADDRESS} (RFC 5321 §4.5.3.1.3)"
        )));
    }
    Ok(Address {
        local: local.to_string(),
        domain,
    })
}

/// RFC 5321 §4.1.2 `atext` (RFC 5322 §3.2.3), plus UTF-8 (RFC 6531 §3.3).
const fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '#'
                | '$'
                | '%'
                | '&'
                | '\''
                | '*'
                | '+'
                | '-'
                | '/'
                | '='
                | '?'
                | '^'
                | '_'
                | '`'
                | '{'
                | '|'
                | '}'
                | '~'
        )
        || !c.is_ascii()
}

/// [`is_atext`] or the dot, by ASCII byte: a dot-string's bytes are
/// looked up here (the bytes of a non-ASCII character, 0x80 and above, are
/// all atext).
const ATEXT_OR_DOT: [bool; 128] = {
    let mut table = [false; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = b == b'.' as usize || is_atext(b as u8 as char);
        b += 1;
    }
    table
};

fn check_local_part(local: &str) -> Result<(), SyntaxError> {
    if local.len() > MAX_LOCAL_PART {
        return Err(SyntaxError::address(format!(
            "local part is {} octets long, more than {MAX_LOCAL_PART} (RFC 5321 §4.5.3.1.1)",
            local.len()
        )));
    }
    if let Some(inner) = local.strip_prefix('"') {
        // Quoted-string: qtextSMTP / quoted-pairSMTP between DQUOTEs.
        let mut chars = inner.chars();
        loop {
            match chars.next() {
                None => {
                    return Err(SyntaxError::address(
                        "unterminated quoted local part (missing closing '\"')",
                    ))
                }
                Some('\\') => {
                    if chars.next().is_none() {
                        return Err(SyntaxError::address(
                            "quoted local part ends with a lone backslash",
                        ));
                    }
                }
                Some('"') => {
                    let rest = chars.as_str();
                    if rest.is_empty() {
                        return Ok(());
                    }
                    return Err(SyntaxError::address(format!(
                        "text after the closing quote of the local part: {rest:?}"
                    )));
                }
                Some(_) => {}
            }
        }
    }
    // Dot-string: Atom *("." Atom).
    if local.starts_with('.') {
        return Err(SyntaxError::address(
            "local part starts with a dot (RFC 5321 §4.1.2)",
        ));
    }
    if local.ends_with('.') {
        return Err(SyntaxError::address(
            "local part ends with a dot (RFC 5321 §4.1.2)",
        ));
    }
    // One pass: two dots in a row anywhere are reported before the first
    // character that is not atext.
    let (mut dots, mut not_atext) = (false, None);
    let mut last = 0;
    for (i, &b) in local.as_bytes().iter().enumerate() {
        dots |= b == b'.' && last == b'.';
        if b < 0x80 && !ATEXT_OR_DOT[usize::from(b)] && not_atext.is_none() {
            not_atext = Some(i);
        }
        last = b;
    }
    if dots {
        return Err(SyntaxError::address(
            "two dots in a row in the local part (RFC 5321 §4.1.2)",
        ));
    }
    // (An ASCII byte is a whole character.)
    if let Some(c) = not_atext.and_then(|i| local[i..].chars().next()) {
        return Err(SyntaxError::address(format!(
            "{} in the local part must be quoted (RFC 5321 §4.1.2)",
            describe_char(c)
        )));
    }
    Ok(())
}

/// Special-use names that never receive Internet mail. A domain equal to
/// one of these, or below one, is [`Reason::DomainReserved`].
///
/// - RFC 6761 §6.1-6.5: `test`, `localhost`, `invalid`, `example`, and the
///   second-level `example.com`, `example.net`, `example.org` (also RFC 2606 §3);
/// - RFC 6762 §3: `local` (multicast DNS);
/// - RFC 7686 §2: `onion`;
/// - RFC 6761 §6.1 / RFC 8375: `arpa` (reverse mapping and `home.arpa`);
/// - RFC 9476: `alt`; ICANN's 2024 reservation: `internal`.
pub const SPECIAL_USE: &[&str] = &[
    "invalid",
    "test",
    "example",
    "localhost",
    "local",
    "onion",
    "arpa",
    "alt",
    "internal",
    "example.com",
    "example.net",
    "example.org",
];

/// The special-use suffix `domain` falls under, if any (`domain` in ASCII, lowercase).
pub fn special_use_suffix(domain: &str) -> Option<&'static str> {
    SPECIAL_USE.iter().copied().find(|s| {
        // The last byte first: it turns most names away without a
        // comparison of strings.
        domain.as_bytes().last() == s.as_bytes().last()
            && (domain == *s
                || (domain.len() > s.len()
                    && domain.ends_with(s)
                    && domain.as_bytes()[domain.len() - s.len() - 1] == b'.'))
    })
}

/// Normalizes a mail domain: IDNA (UTS #46) to ASCII, lowercase, then
/// checks RFC 1035 §2.3.1 LDH labels, lengths, the top-level domain and
/// special-use names.
///
/// ```
/// use prebounce_core::address::normalize_domain;
/// assert_eq!(normalize_domain("Bücher.Shop.com").unwrap(), "xn--bcher-kva.shop.com");
/// assert!(normalize_domain("gmail").is_err());
/// ```
pub fn normalize_domain(domain: &str) -> Result<String, SyntaxError> {
    match plain_domain(domain) {
        Some(plain) => Ok(plain),
        None => normalize_domain_in_full(domain),
    }
}

/// The common case of [`normalize_domain`], label by label over the bytes
/// (a table lookup a byte), then lowercased: two
/// labels or more of ASCII letters, digits and inner hyphens, none longer
/// than [`MAX_LABEL`] or an A-label (`xn--`), the last not all digits,
/// under no special-use name; lowercased. `None` for anything else, which
/// the full checks judge (with their errors). A test holds the two equal.
fn plain_domain(domain: &str) -> Option<String> {
    let bytes = domain.as_bytes();
    if bytes.len() > MAX_DOMAIN {
        return None;
    }
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in bytes.split(|&b| b == b'.') {
        let (&first, &end) = (label.first()?, label.last()?);
        if label.len() > MAX_LABEL
            || first == b'-'
            || end == b'-'
            || label
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"))
            || !label.iter().all(|&c| LDH[usize::from(c)])
        {
            return None;
        }
        labels += 1;
        last = label;
    }
    // One label, or a top-level domain of digits: errors of the full checks.
    if labels < 2 || last.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let plain = domain.to_ascii_lowercase();
    special_use_suffix(&plain).is_none().then_some(plain)
}

/// ASCII letters (either case), digits and the hyphen, by byte: the bytes
/// of a plain domain's labels.
const LDH: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-';
        b += 1;
    }
    table
};

/// [`normalize_domain`] for any input: IDNA, every check, and the error of
/// the first that fails.
fn normalize_domain_in_full(domain: &str) -> Result<String, SyntaxError> {
    if let Some(c) = domain.chars().find(|c| c.is_control() || *c == ' ') {
        return Err(SyntaxError::domain(format!(
            "{} in the domain",
            describe_char(c)
        )));
    }
    let ascii = if domain.is_ascii() {
        let lower = domain.to_ascii_lowercase();
        check_ldh(&lower, domain)?;
        if lower.split('.').any(|l| l.starts_with("xn--")) {
            // Validate the Punycode of A-labels.
            idna::domain_to_ascii(&lower).map_err(|_| {
                SyntaxError::domain(format!(
                    "'{domain}' has an A-label (xn--) that is not valid Punycode"
                ))
            })?;
        }
        lower
    } else {
        let ascii = idna::domain_to_ascii(domain).map_err(|_| {
            SyntaxError::domain(format!(
                "'{domain}' is not a valid internationalized domain name (UTS #46)"
            ))
        })?;
        check_ldh(&ascii, domain)?;
        ascii
    };
    if let Some(suffix) = special_use_suffix(&ascii) {
        return Err(SyntaxError {
            reason: Reason::DomainReserved,
            detail: format!(
                "'{ascii}' is under the special-use name '{suffix}', which receives no Internet mail (RFC 6761)"
            ),
            domain: Some(ascii),
        });
    }
    let mut labels = ascii.rsplit('.');
    let tld = labels.next().unwrap_or_default();
    if labels.next().is_none() {
        return Err(SyntaxError::domain(format!(
            "single-label domain '{ascii}' (a mail domain needs a dot and a top-level domain)"
        )));
    }
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        let what = if ascii.parse::<std::net::Ipv4Addr>().is_ok() {
            "is an IPv4 address, not a domain"
        } else {
            "has an all-numeric top-level domain"
        };
        return Err(SyntaxError {
            domain: Some(ascii.clone()),
            ..SyntaxError::domain(format!("'{ascii}' {what} (RFC 3696 §2)"))
        });
    }
    Ok(ascii)
}

/// LDH rule for `ascii`; `shown` is what the user wrote, for the detail.
fn check_ldh(ascii: &str, shown: &str) -> Result<(), SyntaxError> {
    if ascii.len() > MAX_DOMAIN {
        return Err(SyntaxError::domain(format!(
            "domain is {} octets long, more than {MAX_DOMAIN} (RFC 1035 §2.3.4)",
            ascii.len()
        )));
    }
    for label in ascii.split('.') {
        if label.is_empty() {
            let why = if ascii.starts_with('.') {
                "starts with a dot"
            } else if ascii.ends_with('.') {
                "ends with a dot"
            } else {
                "has two dots in a row"
            };
            return Err(SyntaxError::domain(format!("domain '{shown}' {why}")));
        }
        if label.len() > MAX_LABEL {
            return Err(SyntaxError::domain(format!(
                "label '{label}' is {} octets long, more than {MAX_LABEL} (RFC 1035 §2.3.4)",
                label.len()
            )));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(SyntaxError::domain(format!(
                "{} in the domain '{shown}' (host names use letters, digits and '-', RFC 1035 §2.3.1)",
                describe_char(c)
            )));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(SyntaxError::domain(format!(
                "label '{label}' starts or ends with a hyphen (RFC 1035 §2.3.1)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(input: &str) -> Reason {
        match parse_address(input) {
            Ok(_) => Reason::Deliverable,
            Err(e) => e.reason,
        }
    }

    #[test]
    fn valid_addresses() {
        for (input, domain) in [
            ("user@example.co.uk", "example.co.uk"),
            ("  User.Name+tag@Mail.Shop.COM\r", "mail.shop.com"),
            ("\u{feff}a@b.de", "b.de"),
            ("x@bücher.de", "xn--bcher-kva.de"),
            ("x@BÜCHER.de", "xn--bcher-kva.de"),
            ("\"john doe\"@ex.org.uk", "ex.org.uk"),
            ("\"a@b\"@ex.io", "ex.io"),
            ("o'brien@ex.ie", "ex.ie"),
            ("!#$%&'*+-/=?^_`{|}~@ex.net.au", "ex.net.au"),
            ("用户@例子.广告", "xn--fsqu00a.xn--4rr70v"),
            ("a@xn--bcher-kva.de", "xn--bcher-kva.de"),
            ("a@1-2-3.com", "1-2-3.com"),
            ("a@123.com", "123.com"),
        ] {
            let parsed = parse_address(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(parsed.domain, domain, "{input:?}");
        }
    }

    #[test]
    fn invalid_addresses_name_the_rule() {
        for (input, want, needle) in [
            ("", Reason::AddressInvalid, "empty address"),
            ("   ", Reason::AddressInvalid, "empty address"),
            ("nobody", Reason::AddressInvalid, "no '@'"),
            ("@example.de", Reason::AddressInvalid, "empty local part"),
            ("user@", Reason::AddressInvalid, "empty domain"),
            ("jo hn@ex.de", Reason::AddressInvalid, "a space"),
            ("a\0b@ex.de", Reason::AddressInvalid, "U+0000"),
            ("a\tb@ex.de", Reason::AddressInvalid, "U+0009"),
            ("a(b)@ex.de", Reason::AddressInvalid, "'('"),
            ("a,b@ex.de", Reason::AddressInvalid, "','"),
            ("a\\b@ex.de", Reason::AddressInvalid, "'\\'"),
            ("a@b@ex.de", Reason::AddressInvalid, "'@'"),
            ("<a@ex.de>", Reason::AddressInvalid, "'<'"),
            (".a@ex.de", Reason::AddressInvalid, "starts with a dot"),
            ("a.@ex.de", Reason::AddressInvalid, "ends with a dot"),
            ("a..b@ex.de", Reason::AddressInvalid, "two dots"),
            ("\"abc@ex.de", Reason::AddressInvalid, "unterminated"),
            (
                "\"a\"b@ex.de",
                Reason::AddressInvalid,
                "after the closing quote",
            ),
            ("user@gmail", Reason::DomainInvalid, "single-label"),
            ("user@[192.0.2.1]", Reason::DomainInvalid, "address literal"),
            ("user@ex_ample.com", Reason::DomainInvalid, "'_'"),
            ("user@ex ample.com", Reason::DomainInvalid, "a space"),
            ("user@-ex.com", Reason::DomainInvalid, "hyphen"),
            ("user@ex-.com", Reason::DomainInvalid, "hyphen"),
            ("user@ex..com", Reason::DomainInvalid, "two dots"),
            ("user@ex.com..", Reason::DomainInvalid, "ends with a dot"),
            ("user@.ex.com", Reason::DomainInvalid, "starts with a dot"),
            ("user@ex.123", Reason::DomainInvalid, "all-numeric"),
            ("user@192.0.2.1", Reason::DomainInvalid, "IPv4 address"),
            ("user@xn--zz.com", Reason::DomainInvalid, "Punycode"),
            (
                "user@a\u{200b}\u{fffd}.com",
                Reason::DomainInvalid,
                "UTS #46",
            ),
            ("user@localhost", Reason::DomainReserved, "localhost"),
            ("user@mail.localhost", Reason::DomainReserved, "localhost"),
            ("user@foo.invalid", Reason::DomainReserved, "invalid"),
            ("user@foo.test", Reason::DomainReserved, "test"),
            ("user@foo.example", Reason::DomainReserved, "example"),
            ("user@example.com", Reason::DomainReserved, "example.com"),
            (
                "user@sub.example.org",
                Reason::DomainReserved,
                "example.org",
            ),
            ("user@printer.local", Reason::DomainReserved, "local"),
            ("user@abc.onion", Reason::DomainReserved, "onion"),
            ("user@home.arpa", Reason::DomainReserved, "arpa"),
            ("user@x.internal", Reason::DomainReserved, "internal"),
            ("user@FOO.TEST", Reason::DomainReserved, "test"),
        ] {
            let err = parse_address(input).expect_err(input);
            assert_eq!(err.reason, want, "{input:?}: {}", err.detail);
            assert!(
                err.detail.contains(needle),
                "{input:?}: detail {:?} lacks {needle:?}",
                err.detail
            );
        }
    }

    #[test]
    fn not_reserved_lookalikes() {
        for input in [
            "a@mytest.com",
            "a@example.community",
            "a@notexample.com",
            "a@testing.io",
            "a@local.de",
        ] {
            assert_eq!(reason(input), Reason::Deliverable, "{input}");
        }
    }

    #[test]
    fn length_limits() {
        let local64 = "a".repeat(64);
        assert!(parse_address(&format!("{local64}@ex.de")).is_ok());
        let e = parse_address(&format!("{local64}a@ex.de")).unwrap_err();
        assert!(e.detail.contains("local part is 65 octets"), "{}", e.detail);
        let label63 = "b".repeat(63);
        assert!(parse_address(&format!("a@{label63}.de")).is_ok());
        let e = parse_address(&format!("a@{label63}b.de")).unwrap_err();
        assert_eq!(e.reason, Reason::DomainInvalid);
        // 254 octets is the limit for the whole address.
        let domain = format!(
            "{}.{}.{}.de",
            "c".repeat(63),
            "d".repeat(63),
            "e".repeat(63)
        );
        let ok = format!("{}@{domain}", "f".repeat(254 - domain.len() - 1));
        assert_eq!(ok.len(), 254);
        assert!(parse_address(&ok).is_ok());
        let e = parse_address(&format!("g{ok}")).unwrap_err();
        assert!(e.detail.contains("255 octets"), "{}", e.detail);
    }

    /// Found by the `address` fuzz target: an address of 186 octets as
    /// written whose domain is 255 octets in A-labels was accepted, and
    /// its own normal form was then refused.
    #[test]
    fn length_limit_holds_for_the_a_label_form() {
        // Found by the `address` fuzz target: 186 octets as written, 255
        // with the domain in A-labels. It was accepted, and its own normal
        // form was then refused.
        let written = "ivan@no-suchn\u{4d1}\u{2ff}12.ccDeonherbcvdeexample.opgtb\u{fc}cDen\u{4d1}\u{2ff}05.cexample.opgtb\u{fc}cDeon\u{4d1}\u{2ff}on\u{4d1}\u{2ff}11.ccDeon\u{4d1}\u{2ff}05.con\u{4d1}\u{2ff}12.ccDeon\u{4d1}\u{2ff}05.cexample.opgtb\u{fc}cDen\u{4d1}\u{2ff}05.cexample.opgtb\u{fc}cDeon\u{4d1}\u{2ff}o5.c";
        assert_eq!(written.len(), 186);
        let e = parse_address(written).unwrap_err();
        assert_eq!(e.reason, Reason::AddressInvalid);
        assert!(
            e.detail
                .contains("255 octets long with its domain in A-labels"),
            "{}",
            e.detail
        );
        // One octet less fits, and its normal form parses the same.
        let a = parse_address(&written[1..]).unwrap();
        assert_eq!(a.domain.len() + 1 + a.local.len(), 254);
        assert_eq!(parse_address(&format!("{}@{}", a.local, a.domain)), Ok(a));
    }

    #[test]
    fn junk_never_panics() {
        let long = "x".repeat(1 << 20);
        for input in [
            long.as_str(),
            "\u{fffd}\u{fffd}@\u{fffd}",
            "@",
            "@@",
            "\"",
            "\"\\",
            "a@\u{0}",
            "a@.",
            "a@..",
            "a@ü",
        ] {
            let _ = parse_address(input);
        }
    }
}

/// Property tests: generated valid addresses parse and round-trip, and any
/// text at all gets a verdict with a reason, never a panic.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// An LDH label, mixed case, never an A-label.
    fn label() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9]([a-zA-Z0-9-]{0,14}[a-zA-Z0-9])?".prop_filter("not an A-label", |l| {
            !l.to_ascii_lowercase().starts_with("xn--")
        })
    }

    /// A domain below an ordinary top-level domain, not a special-use name.
    fn domain() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(label(), 1..4),
            prop::sample::select(vec!["com", "NET", "Org", "de", "zz", "shop"]),
        )
            .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
            .prop_filter("not special-use", |d| {
                special_use_suffix(&d.to_ascii_lowercase()).is_none()
            })
    }

    /// A dot-atom local part (ASCII atext and some UTF-8), or a quoted one.
    fn local() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::collection::vec("[a-zA-Z0-9!#$%&'*+/=?^_`{|}~äøé-]{1,8}", 1..4)
                .prop_map(|atoms| atoms.join(".")),
            "\"[a-z0-9 @,.()<>]{0,12}\"",
        ]
    }

    fn check_accepted(a: &Address) {
        assert!(a.domain.len() <= MAX_DOMAIN);
        assert!(a
            .domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
        assert_eq!(normalize_domain(&a.domain).as_ref(), Ok(&a.domain));
        let again = parse_address(&format!("{}@{}", a.local, a.domain));
        assert_eq!(again.as_ref(), Ok(a), "the normal form parses the same");
    }

    proptest! {
        #[test]
        fn valid_addresses_parse_and_round_trip(
            local in local(),
            domain in domain(),
            pad in "[ \t\u{feff}]{0,2}",
        ) {
            let input = format!("{pad}{local}@{domain}{pad}");
            let a = parse_address(&input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            prop_assert_eq!(&a.local, &local);
            prop_assert_eq!(&a.domain, &domain.to_ascii_lowercase());
            check_accepted(&a);
        }

        #[test]
        fn internationalized_domains_become_a_labels(
            local in "[a-z]{1,8}",
            labels in prop::collection::vec("[a-zäöüéßçñ]{1,10}", 1..3),
        ) {
            let input = format!("{local}@{}.de", labels.join("."));
            let a = parse_address(&input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            check_accepted(&a);
        }

        /// The one-pass path and the full checks agree wherever the fast
        /// one answers, and it answers for ordinary domains. The inputs
        /// are near the edges: hyphens, digits, dots, A-label prefixes,
        /// special-use names, long labels and other bytes.
        #[test]
        fn the_plain_path_agrees_with_the_full_checks(
            input in prop_oneof![
                "[a-zA-Z0-9.-]{0,30}",
                "[a-z0-9-]{1,8}\\.(xn--[a-z0-9]{0,6}|XN--a|com|123|1a|local|example\\.com|Test|arpa|-a|a-)",
                "[a-z]{60,70}\\.[a-z]{62,66}\\.com",
                "[a-z]{1,4}[\\x00 _ä\\[@][a-z]{1,4}\\.com",
            ],
        ) {
            let full = normalize_domain_in_full(&input);
            match plain_domain(&input) {
                Some(plain) => prop_assert_eq!(Ok(plain), full, "{:?}", input),
                None => prop_assert!(
                    full.is_err()
                        || !input.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                        || input.to_ascii_lowercase().split('.').any(|l| l.starts_with("xn--"))
                        || input.len() > MAX_DOMAIN,
                    "{:?}: the full checks accept {:?}, the plain path should too", input, full
                ),
            }
        }

        /// The byte-wise dot-string checks give the error the character
        /// by character rules give (two dots first, then the first
        /// character that is neither atext nor a dot).
        #[test]
        fn local_parts_are_judged_as_by_their_characters(
            local in r"[a-z.!#(),:;<>@\\\[\] \x7fäß€-]{1,12}",
        ) {
            let by_chars = if local.starts_with('.') || local.ends_with('.') {
                None
            } else if local.contains("..") {
                Some("two dots in a row in the local part (RFC 5321 §4.1.2)".to_string())
            } else {
                Some(match local.chars().find(|&c| c != '.' && !is_atext(c)) {
                    Some(c) => format!("{} in the local part must be quoted (RFC 5321 §4.1.2)", describe_char(c)),
                    None => String::new(),
                })
            };
            if let Some(expected) = by_chars {
                let got = check_local_part(&local).err().map(|e| e.detail).unwrap_or_default();
                prop_assert_eq!(got, expected, "{:?}", local);
            }
        }

        #[test]
        fn valid_domains_take_the_plain_path(domain in domain()) {
            prop_assert_eq!(plain_domain(&domain), Some(domain.to_ascii_lowercase()));
        }

        #[test]
        fn any_text_gets_a_reason(
            input in prop_oneof![
                any::<String>(),
                "[a-zA-Z0-9@.\"\\\\ \t\u{0}\u{feff}äß\\[\\]-]{0,80}",
            ],
        ) {
            for result in [parse_address(&input), normalize_domain(&input).map(|domain| Address {
                local: "x".into(),
                domain,
            })] {
                match result {
                    Ok(a) => check_accepted(&a),
                    Err(e) => {
                        prop_assert!(matches!(
                            e.reason,
                            Reason::AddressInvalid | Reason::DomainInvalid | Reason::DomainReserved
                        ));
                        prop_assert!(!e.detail.is_empty());
                    }
                }
            }
        }
    }
}
