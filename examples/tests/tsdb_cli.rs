//! The `tsdb` tool end to end: import OpenMetrics and Influx files (bad lines reported
//! with their line number, good ones loaded), export, and read the export back: the
//! round trip keeps every sample bit for bit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Command;

use tsdb_text::prometheus::{Dialect, Options, Parser};

fn tsdb(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tsdb"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

type Samples = BTreeMap<String, Vec<(i64, u64)>>;

fn parse(text: &[u8]) -> Samples {
    let mut out = Samples::new();
    for s in Parser::new(text, Options::new(Dialect::OpenMetrics)) {
        let s = s.unwrap();
        out.entry(s.labels.to_string())
            .or_default()
            .push((s.timestamp.unwrap(), s.value.to_bits()));
    }
    out
}

#[test]
fn import_export_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut om = String::from("# TYPE node_cpu gauge\n");
    for i in 0..500 {
        let t = 1_700_000_000 + i * 15;
        om.push_str(&format!(
            "node_cpu{{host=\"a\",mode=\"user\"}} {} {t}.250\n",
            (i % 13) as f64 * 0.5
        ));
        om.push_str(&format!(
            "node_cpu{{host=\"b\",mode=\"user\"}} {} {t}\n",
            i * 7
        ));
    }
    om.push_str("this line is broken\n");
    om.push_str("# TYPE up gauge\nup{job=\"x\"} 1 1700000000\n# EOF\n");
    let om_path = tmp.path().join("in.om");
    std::fs::write(&om_path, &om).unwrap();
    let lp_path = tmp.path().join("in.lp");
    std::fs::write(
        &lp_path,
        "disk,host=a used=12.5,free=3i 1700000100000000000\ndisk,host=a used= 1700000200000000000\n",
    )
    .unwrap();

    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        om_path.to_str().unwrap(),
        lp_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "bad lines make the exit code 2: {err}");
    assert!(
        err.contains("in.om:line 1002,"),
        "the broken OpenMetrics line is reported by number: {err}"
    );
    assert!(
        err.contains("in.lp:line 2,"),
        "the broken Influx line is reported by number: {err}"
    );

    let (code, exported, err) = tsdb(&["export", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let got = parse(exported.as_bytes());
    let mut want = parse(om.replace("this line is broken\n", "").as_bytes());
    want.insert(
        "disk_used{host=\"a\"}".into(),
        vec![(1_700_000_100_000, 12.5f64.to_bits())],
    );
    want.insert(
        "disk_free{host=\"a\"}".into(),
        vec![(1_700_000_100_000, 3f64.to_bits())],
    );
    assert_eq!(got, want);

    // a selector and a time window
    let (code, exported, _) = tsdb(&[
        "export",
        "--data",
        data.to_str().unwrap(),
        "--match",
        r#"node_cpu{host="b"}"#,
        "--start",
        "1700000000",
        "--end",
        "1700000029",
    ]);
    assert_eq!(code, 0);
    let got = parse(exported.as_bytes());
    assert_eq!(got.len(), 1);
    assert_eq!(got.values().next().unwrap().len(), 2);

    // the export imports again into a fresh directory, identically
    let again = tmp.path().join("again");
    let exported_path = tmp.path().join("out.om");
    let (_, all, _) = tsdb(&["export", "--data", data.to_str().unwrap()]);
    std::fs::write(&exported_path, &all).unwrap();
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        again.to_str().unwrap(),
        exported_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, all_again, _) = tsdb(&["export", "--data", again.to_str().unwrap()]);
    assert_eq!(all_again, all);

    let (code, report, _) = tsdb(&["inspect", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(report.contains("1003 samples"), "{report}");
    assert!(report.contains("node_cpu"), "{report}");
}
