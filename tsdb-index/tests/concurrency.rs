//! Readers query the in-memory index while one writer adds series: every answer is a
//! consistent prefix of the writes, and every id a reader sees resolves to its labels.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tsdb_index::{Labels, Matcher, MemIndex};

const N: u32 = 20_000;

fn series(i: u32) -> Labels {
    let l = Labels::new([
        ("__name__", if i.is_multiple_of(2) { "even" } else { "odd" }),
        ("i", &i.to_string()),
        ("mod7", &(i % 7).to_string()),
    ]);
    match l {
        Ok(l) => l,
        Err(e) => panic!("series {i}: {e}"),
    }
}

#[test]
fn readers_see_consistent_prefixes_while_a_writer_inserts() {
    let idx = Arc::new(MemIndex::new());
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (idx, done) = (Arc::clone(&idx), Arc::clone(&done));
            std::thread::spawn(move || {
                let q = [
                    Matcher::equal("__name__", "even"),
                    Matcher::regex("mod7", "0|3").unwrap(),
                ];
                let mut last = 0u64;
                let mut rounds = 0u32;
                while !done.load(Ordering::Acquire) || rounds == 0 {
                    let hits = idx.select(&q).unwrap();
                    assert!(hits.len() >= last, "reader {r}: results went backwards");
                    last = hits.len();
                    for id in hits.iter().rev().take(3) {
                        let l = idx.labels(id).expect("a selected id resolves");
                        assert_eq!(l, series(id));
                    }
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    for chunk in (0..N).collect::<Vec<_>>().chunks(100) {
        let batch: Vec<Labels> = chunk.iter().map(|&i| series(i)).collect();
        for (k, r) in idx.get_or_insert_batch(&batch).into_iter().enumerate() {
            assert_eq!(r.unwrap(), chunk[k]);
        }
    }
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    let want = (0..N)
        .filter(|i| i % 2 == 0 && matches!(i % 7, 0 | 3))
        .count() as u64;
    let q = [
        Matcher::equal("__name__", "even"),
        Matcher::regex("mod7", "0|3").unwrap(),
    ];
    assert_eq!(idx.select(&q).unwrap().len(), want);
    assert_eq!(idx.len(), N as usize);
}
