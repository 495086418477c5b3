//! Audit records and their hash chain.
//!
//! Every record carries the hash of the one before it; its own hash covers that link and every
//! field, so changing, removing or reordering records breaks the chain at a point
//! [`verify_chain`] reports. Records never hold values or tokens.

use coffer_core::Timestamp;
use sha2::{Digest, Sha256};

/// The hash before the first record.
pub const GENESIS: [u8; 32] = [0; 32];

/// What happened, by whom, to what. No values, no token text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When.
    pub time: Timestamp,
    /// The request's id (`x-request-id`).
    pub request_id: String,
    /// The token's public id; empty when the caller was not authenticated.
    pub token_id: String,
    /// The token's name.
    pub token_name: String,
    /// The permission exercised, e.g. `secrets.create`.
    pub action: String,
    /// Org (empty when not applicable).
    pub org: String,
    /// Project (empty when absent).
    pub project: String,
    /// Domain (empty when absent).
    pub domain: String,
    /// The secret's name, or a token id for token actions; empty when not applicable.
    pub target: String,
    /// The version read or written.
    pub version: Option<u32>,
    /// `ok`, `denied`, or the error code.
    pub outcome: String,
}

/// A stored record: its position, its entry, and the chain hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the log, from 1, no gaps.
    pub seq: i64,
    /// The entry.
    pub entry: AuditEntry,
    /// The previous record's hash ([`GENESIS`] for the first).
    pub prev_hash: [u8; 32],
    /// This record's hash.
    pub hash: [u8; 32],
}

/// Which records to list.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only records at or after this time.
    pub since: Option<Timestamp>,
    /// Only records about this secret (or token id).
    pub target: Option<String>,
    /// Only records in this org.
    pub org: Option<String>,
    /// Start after this sequence number.
    pub after_seq: Option<i64>,
    /// At most this many (engines cap it at 1000).
    pub limit: u32,
}

/// The hash of `entry` at position `seq` after `prev`: SHA-256 over a length-prefixed
/// canonical encoding, so no two different records encode alike.
pub fn chain_hash(prev: &[u8; 32], seq: i64, e: &AuditEntry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"coffer-audit-v1\0");
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(e.time.as_millis().to_be_bytes());
    for field in
        [&e.request_id, &e.token_id, &e.token_name, &e.action, &e.org, &e.project, &e.domain, &e.target, &e.outcome]
    {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    match e.version {
        Some(v) => {
            h.update([1]);
            h.update(v.to_be_bytes());
        }
        None => h.update([0]),
    }
    h.finalize().into()
}

/// The first problem in a run of records, read in `seq` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// A record's content no longer matches its hash.
    Altered {
        /// The record.
        seq: i64,
    },
    /// A record's link does not match the record before it: one was removed or reordered.
    Link {
        /// The record whose link is wrong.
        seq: i64,
        /// The sequence number expected at this position.
        expected_seq: i64,
    },
}

// === impl ChainBreak ===

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Altered { seq } => write!(f, "record {seq} was altered: its content does not match its hash"),
            ChainBreak::Link { seq, expected_seq } if seq != expected_seq => write!(
                f,
                "the chain breaks at record {seq}: expected record {expected_seq} here (records removed or reordered)"
            ),
            ChainBreak::Link { seq, .. } => write!(
                f,
                "the chain breaks at record {seq}: it does not follow the record before it (records removed, \
                 inserted or reordered)"
            ),
        }
    }
}

/// Checks records continuing a chain whose last verified record had hash `prev` and sequence
/// number `prev_seq` (0 and [`GENESIS`] at the start). Returns the new tail or the first break.
pub fn verify_chain(
    mut prev: [u8; 32],
    mut prev_seq: i64,
    records: &[AuditRecord],
) -> Result<([u8; 32], i64), ChainBreak> {
    for r in records {
        if r.seq != prev_seq + 1 || r.prev_hash != prev {
            return Err(ChainBreak::Link { seq: r.seq, expected_seq: prev_seq + 1 });
        }
        if chain_hash(&r.prev_hash, r.seq, &r.entry) != r.hash {
            return Err(ChainBreak::Altered { seq: r.seq });
        }
        prev = r.hash;
        prev_seq = r.seq;
    }
    Ok((prev, prev_seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            time: Timestamp::from_millis(1),
            request_id: "r".into(),
            token_id: "tok_1".into(),
            token_name: "n".into(),
            action: action.into(),
            org: "acme".into(),
            project: String::new(),
            domain: String::new(),
            target: "db".into(),
            version: Some(1),
            outcome: "ok".into(),
        }
    }

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let e = entry(&format!("a{seq}"));
                let hash = chain_hash(&prev, seq, &e);
                let r = AuditRecord { seq, entry: e, prev_hash: prev, hash };
                prev = hash;
                r
            })
            .collect()
    }

    #[test]
    fn detects_alter_remove_reorder() {
        let good = chain(5);
        assert!(verify_chain(GENESIS, 0, &good).is_ok());
        let mut altered = good.clone();
        altered[2].entry.target = "other".into();
        assert_eq!(verify_chain(GENESIS, 0, &altered), Err(ChainBreak::Altered { seq: 3 }));
        let mut removed = good.clone();
        removed.remove(2);
        assert_eq!(verify_chain(GENESIS, 0, &removed), Err(ChainBreak::Link { seq: 4, expected_seq: 3 }));
        let mut reordered = good.clone();
        reordered.swap(1, 2);
        assert_eq!(verify_chain(GENESIS, 0, &reordered), Err(ChainBreak::Link { seq: 3, expected_seq: 2 }));
        // Renumbering after a removal does not help: the links still break.
        let mut renumbered = good.clone();
        renumbered.remove(2);
        for (i, r) in renumbered.iter_mut().enumerate() {
            r.seq = i as i64 + 1;
        }
        assert!(verify_chain(GENESIS, 0, &renumbered).is_err());
        // Fields are length-prefixed: moving a boundary changes the hash.
        let mut a = entry("x");
        a.org = "ab".into();
        a.project = "c".into();
        let mut b = a.clone();
        b.org = "a".into();
        b.project = "bc".into();
        assert_ne!(chain_hash(&GENESIS, 1, &a), chain_hash(&GENESIS, 1, &b));
    }
}
