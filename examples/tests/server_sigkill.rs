//! SIGKILL at random moments while a client writes: nothing the server acknowledged is
//! lost. The acknowledged writes here are deletions (`/api/v1/admin/tsdb/delete_series`
//! answers 204 only once the request is durable) while self-monitoring appends into the
//! WAL every 50 ms; push ingestion's writes join this test when its endpoints are wired.
//! Each round starts the server, has a client delete series one by one, kills the server
//! after a random delay, restarts it and checks: every acknowledged deletion is in force,
//! every series not yet touched is intact. Bounded: 5 rounds, each a few seconds at most.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use server_common::{form, Server};

const VICTIMS: usize = 400;

fn series_count(s: &Server, metric: &str) -> usize {
    let r = s.get(&format!("/api/v1/series?match[]={metric}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["data"].as_array().unwrap().len()
}

#[test]
fn sigkill_loses_no_acknowledged_write() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    {
        let db = tsdb_core::Db::open(&data, tsdb_core::Options::default()).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let mut batch = tsdb_core::Batch::new();
        for i in 0..VICTIMS {
            let l = tsdb_index::Labels::new([("__name__", format!("victim_{i}"))]).unwrap();
            let s = batch.series(l);
            batch.sample(s, now - 60_000, i as f64);
        }
        assert_eq!(db.append_batch(&batch).unwrap().accepted, VICTIMS);
        db.close().unwrap();
    }
    // deterministic "random" delays (an LCG), 40..290 ms
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next_delay = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        Duration::from_millis(40 + (seed >> 33) % 250)
    };
    let acked_upto = Arc::new(AtomicUsize::new(0)); // victims [0, acked_upto) acknowledged
    for round in 0..5 {
        let server = Server::start(&data, &["--self-scrape-interval", "50ms"]);
        server.wait_ready();
        // everything acknowledged before is still deleted, the rest intact
        let done = acked_upto.load(Ordering::SeqCst);
        for i in 0..done {
            assert_eq!(
                series_count(&server, &format!("victim_{i}")),
                0,
                "round {round}: acknowledged deletion {i} lost"
            );
        }
        // the one in flight at the kill may or may not have happened; later ones are intact
        for i in (done + 1).min(VICTIMS)..(done + 20).min(VICTIMS) {
            assert_eq!(
                series_count(&server, &format!("victim_{i}")),
                1,
                "round {round}: victim {i} lost"
            );
        }
        let start = acked_upto.load(Ordering::SeqCst);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let url = server.url("/api/v1/admin/tsdb/delete_series");
            let acked = acked_upto.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let agent = server_common::agent();
                for i in start..VICTIMS {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let body = form(&[("match[]", &format!("victim_{i}"))]);
                    let r = agent
                        .post(&url)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .send(&body);
                    match r {
                        Ok(resp) if resp.status() == 204 => acked.store(i + 1, Ordering::SeqCst),
                        // the server died under us: this one is not acknowledged
                        _ => return,
                    }
                }
            })
        };
        std::thread::sleep(next_delay());
        let mut server = server;
        server.kill();
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap();
        assert!(
            acked_upto.load(Ordering::SeqCst) > start || start == VICTIMS,
            "round {round}: no write acknowledged before the kill"
        );
    }
    let s = Server::start(&data, &["--self-scrape-interval", "0"]);
    s.wait_ready();
    let done = acked_upto.load(Ordering::SeqCst);
    assert!(done > 5, "{done}");
    for i in 0..done {
        assert_eq!(
            series_count(&s, &format!("victim_{i}")),
            0,
            "acknowledged deletion {i} lost"
        );
    }
    // self-monitoring's samples survived the kills too (the WAL replayed)
    let r = s.get("/api/v1/query?query=count_over_time(up%5B1h%5D)");
    assert!(r.body.contains(r#""value""#), "{}", r.body);
}
