//! Arbitrary bytes through remote read: snappy block, protobuf `ReadRequest`, matchers,
//! the queries against a small database, the response. Must never panic. The first byte
//! picks the path: even, the rest is taken as the protobuf message and snappy-compressed
//! here first; odd, the rest is fed as the raw body.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tsdb_core::{Db, Options};
use tsdb_index::Labels;
use tsdb_ingest::{remote_read, ReadLimits};

fn db() -> &'static Db {
    static DB: OnceLock<(tempfile::TempDir, Db)> = OnceLock::new();
    &DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(
            dir.path(),
            Options {
                background_maintenance: false,
                max_future_ms: i64::MAX / 4,
                ..Options::default()
            },
        )
        .expect("open");
        for host in ["a", "b"] {
            let l = Labels::new([("__name__", "m"), ("host", host)]).expect("labels");
            for i in 0..20 {
                db.append(&l, i * 1000, i as f64).expect("append");
            }
        }
        (dir, db)
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let body = if mode & 1 == 0 {
        match snap::raw::Encoder::new().compress_vec(rest) {
            Ok(b) => b,
            Err(_) => return,
        }
    } else {
        rest.to_vec()
    };
    let limits = ReadLimits {
        max_samples: 1000,
        ..ReadLimits::default()
    };
    match remote_read(db(), &body, &limits) {
        Ok(r) => assert_eq!(r.status, 200),
        Err(e) => assert!(e.response().status >= 400),
    }
});
