//! The live revocations held in memory, which every verification consults: revoked token
//! ids, revoked sessions and per-user cut-offs. The file store, the PostgreSQL store and a
//! verify-only node's copy of an issuer's revocation feed each keep one.
//!
//! Revocations only ever end by expiring, so a merge never takes one away: whatever a
//! source says now (a file deleted or put back from an older copy, a database resynced,
//! a feed document replayed by a cache), what was revoked stays revoked until it expires.

// The stores use all of it, a verify-only node's feed a part.
#![cfg_attr(not(feature = "store"), allow(dead_code))]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::jwt::claims::Claims;

/// The revocations a source holds, as it lists them: the file's maps, the database's
/// rows, the feed's document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listed {
    /// Revoked token ids (`jti`) → the time after which the entry may be dropped.
    #[serde(default)]
    pub tokens: BTreeMap<String, u64>,
    /// Revoked login sessions (`sid`) → the same.
    #[serde(default)]
    pub sessions: BTreeMap<String, u64>,
    /// Username → tokens issued before this time are revoked.
    #[serde(default)]
    pub cutoffs: BTreeMap<String, u64>,
}

impl Listed {
    /// How many entries it lists.
    pub fn len(&self) -> usize {
        self.tokens.len() + self.sessions.len() + self.cutoffs.len()
    }

    /// Whether it lists nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One immutable set, swapped whole.
#[derive(Default)]
struct Set {
    tokens: HashMap<String, u64>,
    sessions: HashMap<String, u64>,
    cutoffs: HashMap<String, u64>,
}

/// The revocations in force, shared by readers (every verification) and one writer at a
/// time (a reload).
#[derive(Default)]
pub(crate) struct Revocations {
    set: RwLock<Arc<Set>>,
}

fn live_union(
    old: &HashMap<String, u64>,
    new: BTreeMap<String, u64>,
    now: u64,
) -> HashMap<String, u64> {
    let mut merged: HashMap<String, u64> = old
        .iter()
        .filter(|(_, until)| **until >= now)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for (k, until) in new.into_iter().filter(|(_, until)| *until >= now) {
        let entry = merged.entry(k).or_insert(until);
        *entry = (*entry).max(until);
    }
    merged
}

impl Revocations {
    fn current(&self) -> Arc<Set> {
        crate::sync::read(&self.set).clone()
    }

    /// Adds what `listed` holds to what is in force, dropping entries expired at `now`;
    /// returns whether anything was added or raised.
    pub(crate) fn merge(&self, listed: Listed, now: u64) -> bool {
        let old = self.current();
        let mut cutoffs = old.cutoffs.clone();
        let mut changed = false;
        for (user, cutoff) in listed.cutoffs {
            let entry = cutoffs.entry(user).or_insert(0);
            if cutoff > *entry {
                *entry = cutoff;
                changed = true;
            }
        }
        let known = |m: &HashMap<String, u64>, k: &str, until: u64| {
            m.get(k).is_some_and(|have| *have >= until)
        };
        changed |= listed
            .tokens
            .iter()
            .any(|(k, u)| *u >= now && !known(&old.tokens, k, *u))
            || listed
                .sessions
                .iter()
                .any(|(k, u)| *u >= now && !known(&old.sessions, k, *u));
        let fresh = Arc::new(Set {
            tokens: live_union(&old.tokens, listed.tokens, now),
            sessions: live_union(&old.sessions, listed.sessions, now),
            cutoffs,
        });
        *crate::sync::write(&self.set) = fresh;
        changed
    }

    /// The cut-off of `user` in force.
    pub(crate) fn cutoff(&self, user: &str) -> Option<u64> {
        crate::sync::read(&self.set).cutoffs.get(user).copied()
    }

    /// How many revoked tokens and sessions are in force.
    pub(crate) fn revoked_count(&self) -> usize {
        let s = crate::sync::read(&self.set);
        s.tokens.len() + s.sessions.len()
    }

    /// What is in force at `now`, as a list; cut-offs only from `cutoffs_since` on (an
    /// older one covers tokens that have all expired).
    pub(crate) fn list(&self, now: u64, cutoffs_since: u64) -> Listed {
        let s = self.current();
        let live = |m: &HashMap<String, u64>| {
            m.iter()
                .filter(|(_, until)| **until >= now)
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        };
        Listed {
            tokens: live(&s.tokens),
            sessions: live(&s.sessions),
            cutoffs: s
                .cutoffs
                .iter()
                .filter(|(_, c)| **c >= cutoffs_since)
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        }
    }

    /// Whether `claims` names a revoked token or session, or was issued before its
    /// user's cut-off (a token without `iat` under a cut-off counts as before it).
    pub(crate) fn is_revoked(&self, claims: &Claims) -> bool {
        self.is_revoked_keyed(claims, std::borrow::Cow::Borrowed)
    }

    /// [`is_revoked`](Self::is_revoked), with the cut-offs keyed by `key(subject)`
    /// rather than the subject (the feed's hashed names).
    pub(crate) fn is_revoked_keyed<'c>(
        &self,
        claims: &'c Claims,
        key: impl Fn(&'c str) -> std::borrow::Cow<'c, str>,
    ) -> bool {
        // Under the read lock, without cloning the set's Arc: one shared atomic touched
        // per token, not two. Writers only swap the Arc, so the lock is brief.
        let guard = crate::sync::read(&self.set);
        let s = &**guard;
        if claims
            .token_id()
            .is_some_and(|jti| s.tokens.contains_key(jti))
        {
            return true;
        }
        if claims
            .session_id()
            .is_some_and(|sid| s.sessions.contains_key(sid))
        {
            return true;
        }
        if s.cutoffs.is_empty() {
            return false;
        }
        match claims
            .subject()
            .and_then(|u| s.cutoffs.get(key(u).as_ref()))
        {
            Some(cutoff) => claims.issued_at().is_none_or(|iat| iat < *cutoff),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(v: serde_json::Value) -> Claims {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_merge_adds_and_never_takes_away_until_expiry() {
        let r = Revocations::default();
        let mut first = Listed::default();
        first.tokens.insert("j1".into(), 200);
        first.cutoffs.insert("bob".into(), 150);
        assert!(r.merge(first.clone(), 100));
        assert!(!r.merge(first, 100), "the same list again changes nothing");
        // A source that forgot everything (a replayed or older document) keeps it all.
        assert!(!r.merge(Listed::default(), 150));
        assert!(r.is_revoked(&claims(serde_json::json!({"jti": "j1"}))));
        assert!(r.is_revoked(&claims(serde_json::json!({"sub": "bob", "iat": 149}))));
        assert!(!r.is_revoked(&claims(serde_json::json!({"sub": "bob", "iat": 150}))));
        let mut lower = Listed::default();
        lower.cutoffs.insert("bob".into(), 120);
        assert!(!r.merge(lower, 150), "a cut-off only moves later");
        assert_eq!(r.cutoff("bob"), Some(150));
        // Past its expiry, j1 is dropped; the list leaves out cut-offs too old to matter.
        r.merge(Listed::default(), 201);
        assert!(!r.is_revoked(&claims(serde_json::json!({"jti": "j1"}))));
        assert_eq!(r.list(201, 0).cutoffs.len(), 1);
        assert!(r.list(201, 151).is_empty());
    }
}
