//! The head's append path against head GC (`truncate`) landing between a batch's series
//! resolution and its samples: the interleaving is crafted by calling the two halves of
//! `append_batch` with a `truncate` in between.

use super::*;

fn labels(name: &str, i: usize) -> Labels {
    Labels::new([("__name__", name), ("i", i.to_string().as_str())]).unwrap()
}

fn limits() -> AppendLimits {
    AppendLimits {
        max_t: i64::MAX - 1,
        ooo_window: 0,
        in_order_lag: i64::MAX / 4,
    }
}

/// What the head holds for `labels`: (samples, newest in-order time, log id).
fn stored(head: &Head, labels: &Labels) -> Option<(usize, Option<i64>, u64)> {
    let id = head.index.get(labels)?;
    let (stripe, slot) = slot_of(id);
    let guard = lock(head.stripes.get(stripe)?);
    guard
        .get(slot)?
        .as_ref()
        .map(|s| (s.sample_count(), s.last_t(), s.wal_ref))
}

/// What a batch appended with a head GC between its two halves gave.
struct Raced {
    outcome: BatchOutcome,
    accepted: Vec<Accepted>,
    /// Series records logged, in order.
    logged: Vec<(u64, Labels)>,
    /// The ids the first half resolved.
    resolved: Vec<std::result::Result<SeriesId, SampleError>>,
}

/// Appends one sample of `labels` outside any race; the outcome of that plain append.
fn append_one(head: &Head, labels: &Labels, t: i64, v: f64) -> BatchOutcome {
    let mut batch = Batch::new();
    let s = batch.series(labels.clone());
    batch.sample(s, t, v);
    let mut outcome = BatchOutcome::default();
    head.append_batch(
        &batch,
        limits(),
        &mut |_, _| Ok(()),
        &mut outcome,
        &mut Vec::new(),
    )
    .unwrap();
    outcome
}

/// Appends `batch` to `head` with a persist's head GC (`truncate(t, t)` after raising
/// the write floor to `t`) between resolving its series and applying its samples.
fn append_with_gc_between(head: &Head, batch: &Batch, t: i64) -> Raced {
    let mut logged = Vec::new();
    let mut outcome = BatchOutcome::default();
    let mut accepted = Vec::new();
    let mut on_new = |r: u64, l: &Labels| {
        logged.push((r, l.clone()));
        Ok(())
    };
    let mut ids = head.resolve_series(batch, &mut on_new).unwrap();
    let resolved = ids.clone();
    head.raise_write_floor(t);
    head.truncate(t, t);
    head.apply_samples(
        batch,
        &mut ids,
        limits(),
        &mut on_new,
        &mut outcome,
        &mut accepted,
    )
    .unwrap();
    Raced {
        outcome,
        accepted,
        logged,
        resolved,
    }
}

#[test]
fn a_series_created_by_the_batch_and_collected_before_its_samples_is_created_again() {
    let head = Head::new(ChunkOptions::default(), 0);
    let l = labels("new", 0);
    let mut batch = Batch::new();
    let s = batch.series(l.clone());
    batch.sample(s, 1_000, 1.0);
    batch.sample(s, 2_000, 2.0);
    // the series exists, empty, after the first half; GC drops it (it holds no sample)
    let r = append_with_gc_between(&head, &batch, 500);
    let first = r.resolved[0].clone().unwrap();
    assert!(!head.exists(first).unwrap(), "GC must have dropped it");

    assert!(r.outcome.rejected.is_empty(), "{:?}", r.outcome.rejected);
    assert_eq!(r.outcome.accepted, 2);
    // two series records (the dropped one and the new one); the samples name the new one
    assert_eq!(r.logged.len(), 2);
    let (new_wal_ref, logged_labels) = r.logged[1].clone();
    assert_eq!(logged_labels, l);
    assert_ne!(new_wal_ref, r.logged[0].0);
    assert!(r.accepted.iter().all(|a| a.wal_ref == new_wal_ref));
    // the ref handed back names the live series
    let new_id = r.outcome.refs[0].unwrap().0;
    assert_ne!(new_id, first);
    assert!(head.exists(new_id).unwrap());
    assert_eq!(stored(&head, &l), Some((2, Some(2_000), new_wal_ref)));
}

#[test]
fn an_idle_series_resolved_by_labels_and_collected_before_its_samples_is_created_again() {
    let head = Head::new(ChunkOptions::default(), 0);
    let l = labels("idle", 0);
    let outcome = append_one(&head, &l, 100, 1.0);
    assert_eq!(outcome.accepted, 1);

    // resolved (exists, newest sample 100), then a persist up to 1000 collects it
    let mut batch = Batch::new();
    let s = batch.series(l.clone());
    batch.sample(s, 1_500, 2.0);
    let r = append_with_gc_between(&head, &batch, 1_000);
    assert!(r.outcome.rejected.is_empty(), "{:?}", r.outcome.rejected);
    assert_eq!(r.outcome.accepted, 1);
    assert_eq!(r.logged.len(), 1, "the re-created series is logged");
    assert_eq!(r.accepted[0].wal_ref, r.logged[0].0);
    assert_eq!(stored(&head, &l), Some((1, Some(1_500), r.logged[0].0)));
}

#[test]
fn a_series_named_by_a_collected_ref_is_still_unknown() {
    let head = Head::new(ChunkOptions::default(), 0);
    let l = labels("by_ref", 0);
    let outcome = append_one(&head, &l, 100, 1.0);
    let r0 = outcome.refs[0].unwrap();

    let mut batch = Batch::new();
    let s = batch.series_ref(r0);
    batch.sample(s, 1_500, 2.0);
    batch.sample(s, 1_600, 3.0);
    let r = append_with_gc_between(&head, &batch, 1_000);
    assert_eq!(
        r.resolved[0].clone().unwrap(),
        r0.0,
        "it existed when resolved"
    );
    assert_eq!(r.outcome.accepted, 0);
    assert_eq!(r.outcome.rejected.len(), 2);
    assert!(r
        .outcome
        .rejected
        .iter()
        .all(|x| matches!(x.error, SampleError::UnknownSeriesRef(id) if id == r0.0)));
    assert_eq!(r.outcome.refs, vec![None]);
    assert!(r.logged.is_empty() && r.accepted.is_empty());
    assert_eq!(stored(&head, &l), None, "a ref never re-creates a series");
}

#[test]
fn many_collected_series_across_stripes_keep_every_sample_in_order() {
    let head = Head::new(ChunkOptions::default(), 0);
    const N: usize = 3 * STRIPES + 7;
    let mut batch = Batch::new();
    let handles: Vec<_> = (0..N).map(|i| batch.series(labels("many", i))).collect();
    // interleaved, so each series' samples are spread over the batch
    for k in 0..3 {
        for (i, &h) in handles.iter().enumerate() {
            batch.sample(h, 1_000 + k * 10, (i * 3) as f64 + k as f64);
        }
    }
    let r = append_with_gc_between(&head, &batch, 500);
    assert!(
        r.outcome.rejected.is_empty(),
        "{:?}",
        &r.outcome.rejected[..1]
    );
    assert_eq!(r.outcome.accepted, 3 * N);
    assert_eq!(r.logged.len(), 2 * N, "every series logged twice");
    assert_eq!(head.series_count(), N);
    for i in 0..N {
        let l = labels("many", i);
        let (samples, last, wal_ref) = stored(&head, &l).unwrap();
        assert_eq!((samples, last), (3, Some(1_020)), "series {i}");
        // the samples are logged under the live series' log id, after its record
        let record_at = r.logged.iter().rposition(|(w, _)| *w == wal_ref).unwrap();
        assert!(record_at >= N, "series {i} logged by the second creation");
        assert_eq!(
            r.accepted.iter().filter(|a| a.wal_ref == wal_ref).count(),
            3
        );
        let id = r.outcome.refs[i].unwrap().0;
        assert!(head.exists(id).unwrap());
    }
}
