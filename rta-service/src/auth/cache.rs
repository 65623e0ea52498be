//! Tokens already validated, so that a client sending the same token on
//! every request pays for one signature check, not one per request (an
//! ES256 check costs about 0.2 ms with the pure-Rust backend, a tenth of a
//! fast-path read; see `docs/performance.md`).
//!
//! An entry lives until the token expires or [`TOKEN_CACHE_TTL`] passes,
//! whichever is first, so a key the issuer withdraws stops admitting its
//! tokens within that time. Only tokens that passed every check are kept;
//! a failed token is checked again each time. The map holds at most
//! [`TOKEN_CACHE_ENTRIES`] tokens: when full, expired entries are dropped,
//! and if none were, the whole map (the next requests re-validate).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Claims;

/// How long a validated token is trusted without being checked again.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(30);

/// Most tokens kept.
pub const TOKEN_CACHE_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct TokenCache {
    entries: Mutex<HashMap<Box<str>, (Claims, Instant)>>,
}

impl TokenCache {
    /// The claims of `token` if it was validated and is still fresh.
    pub(super) fn get(&self, token: &str) -> Option<Claims> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(token) {
            Some((claims, until)) if Instant::now() < *until => Some(claims.clone()),
            _ => None,
        }
    }

    /// Remembers a token that passed validation.
    pub(super) fn put(&self, token: &str, claims: &Claims) {
        let now = Instant::now();
        let mut until = now + TOKEN_CACHE_TTL;
        if let Some(exp) = claims.exp {
            let unix_now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let left = exp.saturating_sub(unix_now);
            if left <= 0 {
                return;
            }
            until = until.min(now + Duration::from_secs(left as u64));
        }
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= TOKEN_CACHE_ENTRIES {
            map.retain(|_, (_, u)| now < *u);
            if map.len() >= TOKEN_CACHE_ENTRIES {
                map.clear();
            }
        }
        map.insert(token.into(), (claims.clone(), until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_in: i64) -> Claims {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        Claims {
            exp: Some(now + exp_in),
            ..Claims::default()
        }
    }

    #[test]
    fn fresh_tokens_are_found_expired_ones_are_not_kept() {
        let c = TokenCache::default();
        c.put("a", &claims(600));
        c.put("b", &claims(-5));
        assert!(c.get("a").is_some());
        assert!(c.get("b").is_none());
        assert!(c.get("c").is_none());
    }

    #[test]
    fn the_map_stays_bounded() {
        let c = TokenCache::default();
        for i in 0..TOKEN_CACHE_ENTRIES + 10 {
            c.put(&format!("t{i}"), &claims(600));
        }
        let n = c.entries.lock().unwrap().len();
        assert!(n <= TOKEN_CACHE_ENTRIES, "{n}");
        assert!(c.get(&format!("t{}", TOKEN_CACHE_ENTRIES + 9)).is_some());
    }
}
