//! Request limits: the per-key rate limit (a token bucket) and the sizes
//! given on the command line.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `--rate-limit`: N requests per second or minute, or off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// The bucket's size: N, the requests a client may make at once after
    /// being idle for one period.
    pub burst: f64,
}

/// `--rate-limit`'s value: a rate, or off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit(pub Option<Rate>);

/// `--rate-limit`: see [`parse_rate`].
pub fn parse_rate_limit(s: &str) -> Result<RateLimit, String> {
    parse_rate(s).map(RateLimit)
}

/// Parses `100/s`, `6000/m`, `100/s,burst=200` or `off` (`None`).
pub fn parse_rate(s: &str) -> Result<Option<Rate>, String> {
    let bad = || {
        format!(
            "'{s}' is not a rate: give N/s or N/m (e.g. 100/s, 600/m), optionally ,burst=B, or off"
        )
    };
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (rate, burst) = match s.split_once(',') {
        Some((r, b)) => {
            let b = b.trim().strip_prefix("burst=").ok_or_else(bad)?;
            let b: u64 = b.trim().parse().map_err(|_| bad())?;
            (r, Some(b))
        }
        None => (s, None),
    };
    let (n, unit) = rate.split_once('/').ok_or_else(bad)?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    let period = match unit.trim() {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        _ => return Err(bad()),
    };
    if !(1..=10_000_000).contains(&n) || burst.is_some_and(|b| !(1..=10_000_000).contains(&b)) {
        return Err(format!(
            "'{s}' is out of range: the rate and the burst are from 1 to 10000000"
        ));
    }
    Ok(Some(Rate {
        per_second: n as f64 / period,
        burst: burst.unwrap_or(n) as f64,
    }))
}

/// Parses a size in bytes: `1048576`, `512KiB`, `1MiB`, `64kb`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 1MiB, 512KiB, 65536)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return Err(format!("'{s}' is not a size (e.g. 1MiB, 512KiB, 65536)")),
    };
    let bytes = n.saturating_mul(mult);
    if !(1024..=256 * 1024 * 1024).contains(&bytes) {
        return Err(format!(
            "'{s}' is out of range: give a size from 1KiB to 256MiB"
        ));
    }
    Ok(bytes)
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets, one per client (an API key, or an address without keys).
pub struct Limiter {
    rate: Option<Rate>,
    buckets: Mutex<HashMap<Box<[u8]>, Bucket>>,
}

/// Buckets kept at most; full buckets are dropped past this.
const MAX_BUCKETS: usize = 100_000;

impl Limiter {
    pub fn new(rate: Option<Rate>) -> Limiter {
        Limiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client`: `Err` is how long until one is there.
    pub fn take(&self, client: &[u8]) -> Result<(), Duration> {
        self.take_at(client, Instant::now())
    }

    fn take_at(&self, client: &[u8], now: Instant) -> Result<(), Duration> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(client) {
            // Forget the clients whose bucket has filled up again: they are
            // as if new.
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() * rate.per_second < rate.burst
            });
            if buckets.len() >= MAX_BUCKETS {
                // Still full: start afresh rather than scan this often
                // (everyone gets a full bucket: the limit errs on letting
                // requests in).
                buckets.clear();
            }
        }
        let b = buckets.entry(client.into()).or_insert(Bucket {
            tokens: rate.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate.per_second).min(rate.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(
            parse_rate("100/s").unwrap(),
            Some(Rate {
                per_second: 100.0,
                burst: 100.0
            })
        );
        assert_eq!(
            parse_rate("60/m,burst=5").unwrap(),
            Some(Rate {
                per_second: 1.0,
                burst: 5.0
            })
        );
        assert_eq!(parse_rate("off").unwrap(), None);
        for bad in ["", "100", "0/s", "10/h", "x/s", "5/s,burst=0", "5/s,b=2"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("65536").unwrap(), 65536);
        for bad in ["", "0", "1", "1GiB", "12q", "-5"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let l = Limiter::new(parse_rate("10/s,burst=3").unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take_at(b"k", t0).is_ok());
        }
        let wait = l.take_at(b"k", t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::from_millis(90));
        // Another client has its own bucket.
        assert!(l.take_at(b"other", t0).is_ok());
        // A tenth of a second later, one more token.
        let t1 = t0 + Duration::from_millis(101);
        assert!(l.take_at(b"k", t1).is_ok());
        assert!(l.take_at(b"k", t1).is_err());
    }
}
