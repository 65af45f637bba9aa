//! API keys: read from `--api-keys FILE` (one per line, blank lines and
//! `#` comments ignored; read again on SIGHUP) or `PREBOUNCE_API_KEYS`
//! (separated by commas or white space), compared in constant time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use subtle::{Choice, ConstantTimeEq};

/// Where the keys come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A file, read again on SIGHUP.
    File(PathBuf),
    /// The environment, read once.
    Env,
}

/// The keys in force; `None` when authentication is off.
pub struct Keys {
    source: Option<Source>,
    keys: RwLock<Arc<Vec<Box<[u8]>>>>,
}

/// The keys of a key file's text: one per line, surrounding white space
/// trimmed, blank lines and lines starting with `#` ignored.
pub fn parse_file(text: &str) -> Vec<Box<[u8]>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.as_bytes().into())
        .collect()
}

/// The keys of `PREBOUNCE_API_KEYS`: separated by commas or white space.
pub fn parse_env(text: &str) -> Vec<Box<[u8]>> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|k| !k.is_empty())
        .map(|k| k.as_bytes().into())
        .collect()
}

fn read_file(path: &Path) -> anyhow::Result<Vec<Box<[u8]>>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the API keys {}: {e}", path.display()))?;
    Ok(parse_file(&text))
}

impl Keys {
    /// Authentication off: every request is let in.
    pub fn off() -> Keys {
        Keys {
            source: None,
            keys: RwLock::new(Arc::new(Vec::new())),
        }
    }

    /// The keys of `--api-keys FILE`, else of `PREBOUNCE_API_KEYS` when set
    /// and not empty; authentication is off when neither is given.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Keys> {
        let (source, keys) = match file {
            Some(p) => (Source::File(p.to_path_buf()), read_file(p)?),
            None => match std::env::var("PREBOUNCE_API_KEYS") {
                Ok(v) if !v.trim().is_empty() => (Source::Env, parse_env(&v)),
                _ => return Ok(Keys::off()),
            },
        };
        Ok(Keys {
            source: Some(source),
            keys: RwLock::new(Arc::new(keys)),
        })
    }

    /// Whether requests need a key.
    pub fn on(&self) -> bool {
        self.source.is_some()
    }

    /// How many keys are in force.
    pub fn count(&self) -> usize {
        self.current().len()
    }

    fn current(&self) -> Arc<Vec<Box<[u8]>>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the key file again (SIGHUP). On an error the keys in force
    /// stay; an empty file leaves no key (every request is refused).
    pub fn reload(&self) -> anyhow::Result<usize> {
        let Some(Source::File(path)) = &self.source else {
            return Ok(self.count());
        };
        let keys = read_file(path)?;
        let n = keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(n)
    }

    /// The key that matches `given`, compared with every key in force in
    /// constant time (only a length that differs ends a comparison early).
    pub fn find(&self, given: &[u8]) -> Option<Box<[u8]>> {
        let keys = self.current();
        let mut found = Choice::from(0);
        let mut which = 0usize;
        for (i, k) in keys.iter().enumerate() {
            let eq = k.as_ref().ct_eq(given);
            // Record the index without a branch on the secret comparison.
            which |=
                i & 0usize.wrapping_sub(eq.unwrap_u8() as usize & !(found.unwrap_u8() as usize));
            found |= eq;
        }
        bool::from(found).then(|| keys[which].clone())
    }
}

/// The key of an `Authorization: Bearer KEY` header value.
pub fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let key = rest.trim_ascii();
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_skip_blank_lines_and_comments() {
        let keys = parse_file("# ops\n\n  alpha  \r\n#beta\nga#mma\n");
        assert_eq!(keys, vec![b"alpha"[..].into(), b"ga#mma"[..].into()]);
        assert_eq!(
            parse_env(" a, b  c,,"),
            vec![b"a"[..].into(), b"b"[..].into(), b"c"[..].into()]
        );
    }

    #[test]
    fn keys_match_exactly() {
        let keys = Keys {
            source: Some(Source::Env),
            keys: RwLock::new(Arc::new(parse_env("one,two,three"))),
        };
        assert_eq!(keys.find(b"two").as_deref(), Some(&b"two"[..]));
        assert_eq!(keys.find(b"three").as_deref(), Some(&b"three"[..]));
        assert_eq!(keys.find(b"one").as_deref(), Some(&b"one"[..]));
        assert!(keys.find(b"tw").is_none());
        assert!(keys.find(b"twoo").is_none());
        assert!(keys.find(b"").is_none());
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bearer"), None);
    }
}
