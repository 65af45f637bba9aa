//! IP addresses written as text without the formatting machinery: the same
//! text as `Display` (RFC 5952 for IPv6: lowercase hex, the longest run of
//! two or more zero groups, the first of equal runs, written `::`; an
//! IPv4-mapped address as `::ffff:a.b.c.d`), at a fraction of its cost.
//! Every report's detail line and every row of JSON output writes a
//! domain's MX addresses, and `Display` spent about a thousand
//! instructions on each. Numbers too ([`push_u64`]): detail lines and the
//! stored evidence write them for every domain.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Appends `n` in decimal, as `Display` writes it.
pub fn push_u64(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    out.extend(u64_digits(n, &mut buf).iter().map(|&d| char::from(d)));
}

/// `n` in decimal ASCII digits, as `Display` writes it, in the end of
/// `buf` (for writers of bytes; [`push_u64`] for strings).
pub fn u64_digits(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[at..]
}

/// Appends `ip` as `Display` writes it.
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => push_v4(out, v4),
        IpAddr::V6(v6) => push_v6(out, v6),
    }
}

/// Appends `ip` as `Display` writes it (`192.0.2.1`).
fn push_v4(out: &mut String, ip: Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_decimal(out, octet);
    }
}

/// Appends `ip` as `Display` writes it (`2001:db8::1`).
fn push_v6(out: &mut String, ip: Ipv6Addr) {
    if let Some(v4) = ip.to_ipv4_mapped() {
        out.push_str("::ffff:");
        push_v4(out, v4);
        return;
    }
    let groups = ip.segments();
    // The longest run of zero groups (the first of equal ones).
    let (mut best_at, mut best_len) = (0, 0);
    let mut i = 0;
    while i < groups.len() {
        if groups[i] == 0 {
            let start = i;
            while i < groups.len() && groups[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                (best_at, best_len) = (start, i - start);
            }
        } else {
            i += 1;
        }
    }
    if best_len > 1 {
        push_groups(out, &groups[..best_at]);
        out.push_str("::");
        push_groups(out, &groups[best_at + best_len..]);
    } else {
        push_groups(out, &groups);
    }
}

fn push_groups(out: &mut String, groups: &[u16]) {
    for (i, &g) in groups.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        push_hex(out, g);
    }
}

fn push_decimal(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

/// Lowercase hex without leading zeros (`0` for zero).
fn push_hex(out: &mut String, n: u16) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12, 8, 4, 0] {
        let d = (n >> shift) & 0xf;
        if d != 0 || started || shift == 0 {
            started = true;
            out.push(char::from(DIGITS[usize::from(d)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_pushed_as_display_writes_them() {
        for n in (0..100_000).chain([u64::MAX, u64::MAX / 10, 1 << 40]) {
            let mut out = String::from("x");
            push_u64(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }

    fn same(ip: IpAddr) {
        let mut text = String::new();
        push_ip(&mut text, ip);
        assert_eq!(text, ip.to_string(), "{ip:?}");
    }

    #[test]
    fn handmade_addresses_read_as_display_writes_them() {
        for text in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "192.0.2.100",
            "9.99.100.109",
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "2001:db8:0:0:1:0:0:1",
            "2001:0:0:1:0:0:0:1",
            "2001:db8:0:1:1:1:1:1",
            "1:0:1:0:1:0:1:0",
            "::ffff:192.0.2.1",
            "::ffff:0.0.0.0",
            "::192.0.2.1",
            "64:ff9b::192.0.2.1",
            "fe80::abcd:ef01:2345:6789",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "2a00::25",
        ] {
            same(text.parse().unwrap());
        }
    }

    #[test]
    fn generated_addresses_read_as_display_writes_them() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let r = next();
            let v4 = Ipv4Addr::from((r >> 32) as u32);
            same(IpAddr::V4(v4));
            // Groups drawn mostly from 0 and a few small values, so that
            // zero runs of every length and position occur.
            let mut groups = [0u16; 8];
            for g in &mut groups {
                let pick = next();
                *g = match pick % 4 {
                    0 | 1 => 0,
                    2 => (pick >> 8) as u16 & 0xf,
                    _ => (pick >> 8) as u16,
                };
            }
            same(IpAddr::V6(Ipv6Addr::from(groups)));
            same(IpAddr::V6(v4.to_ipv6_mapped()));
        }
    }
}
