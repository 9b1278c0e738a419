//! SIGKILL at random moments while clients write: nothing the server acknowledged is
//! lost. Two kinds of acknowledged writes: deletions (`/api/v1/admin/tsdb/delete_series`
//! answers 204 only once the request is durable) while self-monitoring appends into the
//! WAL every 50 ms, and push writes (Influx line protocol and remote write, 204 only once
//! the samples are in the WAL) from two concurrent clients. Each round starts the server,
//! lets the clients write, kills the server after a random delay, restarts it and checks
//! that every acknowledged write is there. Bounded: 5 rounds each, a few seconds at most.

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

/// Pushes request after request (each a batch of new series `pushed_v{client, req}`)
/// until the server dies; returns how many were acknowledged.
fn push_until_killed(url: String, client: &'static str, first: usize, t: i64) -> usize {
    let agent = server_common::agent();
    let mut req = first;
    loop {
        let body: String = (0..20)
            .map(|k| format!("pushed,client={client},req={req},k={k} v={req} {t}\n"))
            .collect();
        let r = if client == "influx" {
            agent.post(format!("{url}/write?precision=ms")).send(&body)
        } else {
            use prost::Message;
            use tsdb_ingest::proto::prometheus as pb;
            let label = |n: &str, v: String| pb::Label {
                name: n.into(),
                value: v,
            };
            let w = pb::WriteRequest {
                timeseries: (0..20)
                    .map(|k| pb::TimeSeries {
                        labels: vec![
                            label("__name__", "pushed_v".into()),
                            label("client", client.into()),
                            label("k", k.to_string()),
                            label("req", req.to_string()),
                        ],
                        samples: vec![pb::Sample {
                            value: req as f64,
                            timestamp: t,
                        }],
                        ..Default::default()
                    })
                    .collect(),
                metadata: vec![],
            };
            let body = snap::raw::Encoder::new()
                .compress_vec(&w.encode_to_vec())
                .unwrap();
            agent
                .post(format!("{url}/api/v1/write"))
                .header("Content-Type", "application/x-protobuf")
                .header("Content-Encoding", "snappy")
                .send(&body[..])
        };
        match r {
            Ok(resp) if resp.status() == 204 => req += 1,
            Ok(resp) => panic!("{client}: write answered {}", resp.status()),
            // the server died under us: this one is not acknowledged
            Err(_) => return req,
        }
    }
}

/// The `req` labels present for `client`, each with all 20 series.
fn pushed_requests(s: &Server, client: &str) -> std::collections::BTreeSet<usize> {
    let q = format!("count by (req) (pushed_v{{client=\"{client}\"}}) == 20");
    let r = s.get(&format!("/api/v1/query?query={}", server_common::enc(&q)));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["metric"]["req"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn sigkill_loses_no_acknowledged_push() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next_delay = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        Duration::from_millis(60 + (seed >> 33) % 300)
    };
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut acked = [0usize; 2];
    for round in 0..5 {
        let mut server = Server::start(&data, &["--self-scrape-interval", "0"]);
        server.wait_ready();
        for (i, client) in ["influx", "remote_write"].into_iter().enumerate() {
            let present = pushed_requests(&server, client);
            for req in 0..acked[i] {
                assert!(
                    present.contains(&req),
                    "round {round}: {client}'s acknowledged request {req} lost"
                );
            }
        }
        let writers: Vec<_> = ["influx", "remote_write"]
            .into_iter()
            .enumerate()
            .map(|(i, client)| {
                let url = server.url("");
                let first = acked[i];
                std::thread::spawn(move || push_until_killed(url, client, first, t))
            })
            .collect();
        std::thread::sleep(next_delay());
        server.kill();
        for (i, w) in writers.into_iter().enumerate() {
            let upto = w.join().unwrap();
            assert!(upto >= acked[i]);
            acked[i] = upto;
        }
    }
    assert!(acked.iter().all(|&n| n > 5), "{acked:?}");
    let s = Server::start(&data, &["--self-scrape-interval", "0"]);
    s.wait_ready();
    for (i, client) in ["influx", "remote_write"].into_iter().enumerate() {
        let present = pushed_requests(&s, client);
        for req in 0..acked[i] {
            assert!(
                present.contains(&req),
                "{client}'s acknowledged request {req} lost"
            );
        }
    }
}
