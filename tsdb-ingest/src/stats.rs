//! [`IngestStats`]: counters of everything the ingest path accepted and refused, by
//! protocol and reason, for a server to export (Prometheus `/metrics`) without this crate
//! knowing any metrics library.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::outcome::Outcome;
use crate::reason::{FailureKind, Protocol, Reason};

const PROTOCOLS: usize = Protocol::ALL.len();

/// Monotonic counters, updated once per request with relaxed atomics (cheap on the hot
/// path, read at scrape time). Shared by every clone of an [`crate::Ingester`].
#[derive(Debug, Default)]
pub struct IngestStats {
    cells: [ProtocolCells; PROTOCOLS],
}

#[derive(Debug, Default)]
struct ProtocolCells {
    requests: AtomicU64,
    accepted: AtomicU64,
    string_fields_skipped: AtomicU64,
    refused: [AtomicU64; Reason::COUNT],
    failed: [AtomicU64; FailureKind::COUNT],
}

impl IngestStats {
    /// Requests handled (failed ones included).
    pub fn requests(&self, p: Protocol) -> u64 {
        self.cell(p).requests.load(Ordering::Relaxed)
    }

    /// Samples written.
    pub fn accepted(&self, p: Protocol) -> u64 {
        self.cell(p).accepted.load(Ordering::Relaxed)
    }

    /// Items refused for `reason` (in the unit [`Reason`] documents), requests that
    /// failed whole not included.
    pub fn refused(&self, p: Protocol, reason: Reason) -> u64 {
        self.cell(p).refused[reason.index()].load(Ordering::Relaxed)
    }

    /// Requests refused whole, by kind.
    pub fn failed(&self, p: Protocol, kind: FailureKind) -> u64 {
        self.cell(p).failed[kind.index()].load(Ordering::Relaxed)
    }

    /// Influx string fields skipped (they have no numeric value to store).
    pub fn string_fields_skipped(&self, p: Protocol) -> u64 {
        self.cell(p).string_fields_skipped.load(Ordering::Relaxed)
    }

    /// Calls `f(protocol, reason, count)` for every non-zero refusal counter: the shape
    /// of a `samples_refused_total{protocol, reason}` metric family.
    pub fn for_each_refused(&self, mut f: impl FnMut(Protocol, Reason, u64)) {
        for p in Protocol::ALL {
            for r in Reason::ALL {
                let n = self.refused(p, r);
                if n > 0 {
                    f(p, r, n);
                }
            }
        }
    }

    /// Calls `f(protocol, kind, count)` for every non-zero failure counter.
    pub fn for_each_failed(&self, mut f: impl FnMut(Protocol, FailureKind, u64)) {
        for p in Protocol::ALL {
            for k in FailureKind::ALL {
                let n = self.failed(p, k);
                if n > 0 {
                    f(p, k, n);
                }
            }
        }
    }

    fn cell(&self, p: Protocol) -> &ProtocolCells {
        // `index` is below PROTOCOLS by construction of Protocol::ALL
        &self.cells[p.index() % PROTOCOLS]
    }

    /// Adds one request's outcome.
    pub(crate) fn record(&self, o: &Outcome) {
        let c = self.cell(o.protocol);
        c.requests.fetch_add(1, Ordering::Relaxed);
        if o.accepted > 0 {
            c.accepted.fetch_add(o.accepted, Ordering::Relaxed);
        }
        if o.string_fields_skipped > 0 {
            c.string_fields_skipped
                .fetch_add(o.string_fields_skipped, Ordering::Relaxed);
        }
        for r in Reason::ALL {
            let n = o.refused(r);
            if n > 0 {
                c.refused[r.index()].fetch_add(n, Ordering::Relaxed);
            }
        }
        if let Some(f) = &o.failure {
            c.failed[f.kind().index()].fetch_add(1, Ordering::Relaxed);
        }
    }
}
