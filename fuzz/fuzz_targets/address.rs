//! `parse_address` and `normalize_domain` on arbitrary text.
//!
//! Invariants: never a panic; a refusal names one of the three syntax
//! reasons with a detail; an accepted domain is lowercase LDH ASCII within
//! the RFC 1035 lengths, normalizes to itself, and `local@domain` parses
//! back to the same address.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prebounce_core::address::{
    normalize_domain, parse_address, SyntaxError, MAX_DOMAIN, MAX_LABEL, MAX_LOCAL_PART,
};
use prebounce_core::verdict::Reason;

fn check_ascii_domain(domain: &str) {
    assert!(
        !domain.is_empty() && domain.len() <= MAX_DOMAIN,
        "{domain:?}"
    );
    assert!(
        domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'),
        "domain {domain:?} is not lowercase LDH ASCII"
    );
    assert!(domain.contains('.'), "single label {domain:?}");
    for label in domain.split('.') {
        assert!(!label.is_empty() && label.len() <= MAX_LABEL, "{domain:?}");
        assert!(
            !label.starts_with('-') && !label.ends_with('-'),
            "{domain:?}"
        );
    }
    assert_eq!(
        normalize_domain(domain).as_deref(),
        Ok(domain),
        "an accepted domain normalizes to itself"
    );
}

fn check_refusal(e: &SyntaxError) {
    assert!(
        matches!(
            e.reason,
            Reason::AddressInvalid | Reason::DomainInvalid | Reason::DomainReserved
        ),
        "{e:?}"
    );
    assert!(!e.detail.is_empty(), "a refusal without a detail");
    if let Some(d) = &e.domain {
        assert!(
            d.is_ascii() && !d.bytes().any(|b| b.is_ascii_uppercase()),
            "{e:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_address(&text) {
        Ok(a) => {
            assert!(!a.local.is_empty() && a.local.len() <= MAX_LOCAL_PART);
            check_ascii_domain(&a.domain);
            let again = format!("{}@{}", a.local, a.domain);
            assert_eq!(
                parse_address(&again),
                Ok(a.clone()),
                "{text:?} parsed, but its normal form {again:?} does not parse the same"
            );
        }
        Err(e) => check_refusal(&e),
    }
    match normalize_domain(&text) {
        Ok(d) => check_ascii_domain(&d),
        Err(e) => check_refusal(&e),
    }
});
