//! The observer's `written` and `deleted` events, which results caches rely on to drop
//! stale answers: every batch with accepted samples reports their exact time span (late
//! samples included), a batch refused whole reports nothing, a deletion reports its range.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use parking_lot::Mutex;
use tsdb_core::observe::Observer;
use tsdb_core::{Batch, Db, ManualClock, Options};
use tsdb_index::{Labels, Matcher};

#[derive(Debug, Default)]
struct Spans {
    written: Mutex<Vec<(i64, i64)>>,
    deleted: Mutex<Vec<(i64, i64)>>,
}

impl Observer for Spans {
    fn written(&self, min_t: i64, max_t: i64) {
        self.written.lock().push((min_t, max_t));
    }
    fn deleted(&self, min_t: i64, max_t: i64) {
        self.deleted.lock().push((min_t, max_t));
    }
}

const T0: i64 = 1_700_000_000_000;

#[test]
fn writes_and_deletions_report_their_time_spans() {
    let dir = tempfile::tempdir().unwrap();
    let spans = Arc::new(Spans::default());
    let db = Db::open(
        dir.path(),
        Options {
            observer: spans.clone(),
            clock: Arc::new(ManualClock::new(T0)),
            out_of_order_window_ms: 3_600_000,
            ..Options::default()
        },
    )
    .unwrap();
    let a = Labels::new([("__name__", "a")]).unwrap();
    let b = Labels::new([("__name__", "b")]).unwrap();
    let mut batch = Batch::new();
    let sa = batch.series(a.clone());
    let sb = batch.series(b.clone());
    batch.sample(sa, T0 - 1000, 1.0);
    batch.sample(sb, T0 - 5000, 1.0);
    batch.sample(sa, T0, 2.0);
    db.append_batch(&batch).unwrap();
    // a late sample (behind the newest of its series, inside the window) and one refused
    // for being out of the window: only the accepted one counts
    let mut batch = Batch::new();
    let sa = batch.series(a.clone());
    batch.sample(sa, T0 - 600_000, 3.0);
    batch.sample(sa, T0 - 7_200_000, 4.0);
    let outcome = db.append_batch(&batch).unwrap();
    assert_eq!((outcome.accepted, outcome.rejected.len()), (1, 1));
    // refused whole: nothing reported
    let mut batch = Batch::new();
    let sa = batch.series(a);
    batch.sample(sa, T0 - 9_000_000, 5.0);
    assert_eq!(db.append_batch(&batch).unwrap().accepted, 0);
    assert_eq!(
        *spans.written.lock(),
        vec![(T0 - 5000, T0), (T0 - 600_000, T0 - 600_000)]
    );
    db.delete(&[Matcher::equal("__name__", "b")], T0 - 10_000, T0 - 2000)
        .unwrap();
    assert_eq!(*spans.deleted.lock(), vec![(T0 - 10_000, T0 - 2000)]);
}
