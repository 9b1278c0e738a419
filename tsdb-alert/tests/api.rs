//! The v2 API functions: request bodies and query pairs in, Alertmanager's JSON out.

use std::sync::Arc;

use serde_json::{json, Value};
use tsdb_alert::api;
use tsdb_alert::config::Config;
use tsdb_alert::manager::{Manager, ManagerOptions};

/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;
const M: i64 = 60_000;

const CFG: &str = "
route:
  receiver: team
  group_by: [alertname]
  routes:
  - matchers: [severity=page]
    receiver: pager
    continue: true
  - matchers: ['alertname=~.+']
    receiver: team
receivers:
- name: team
- name: pager
  pagerduty_configs:
  - routing_key: secret-key
inhibit_rules:
- source_matchers: [severity=page]
  target_matchers: [severity=info]
  equal: [alertname]
";

fn manager(dir: &tempfile::TempDir) -> Manager {
    let db = Arc::new(
        redb::Database::create(dir.path().join("am.redb")).unwrap_or_else(|e| panic!("{e}")),
    );
    let cfg = Config::parse(CFG).unwrap_or_else(|e| panic!("{e}"));
    Manager::open(cfg, db, ManagerOptions::default(), T0).unwrap_or_else(|e| panic!("{e}"))
}

fn body(r: &api::Reply) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn posting_alerts_validates_as_alertmanager() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut m = manager(&dir);
    let ok = json!([{"labels": {"alertname": "A", "severity": "page"}, "annotations": {"summary": "s"},
                     "startsAt": "2024-01-01T00:00:00Z", "generatorURL": "http://prom/graph"}]);
    let r = api::post_alerts(&mut m, ok.to_string().as_bytes(), T0);
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    // Best effort: the valid alert is taken, the invalid ones reported together.
    let mixed = json!([
        {"labels": {"alertname": "B"}},
        {"labels": {"bad-name": "x"}},
        {"labels": {"alertname": "C"}, "startsAt": "2024-01-01T01:00:00Z", "endsAt": "2024-01-01T00:00:00Z"},
        {"labels": {"empty": ""}},
    ]);
    let r = api::post_alerts(&mut m, mixed.to_string().as_bytes(), T0);
    assert_eq!(r.status, 400);
    assert_eq!(
        body(&r),
        json!("invalid label set: invalid name \"bad-name\"; start time must be before end time; at least one label pair required")
    );
    assert_eq!(m.alerts().len(), 2);
    let r = api::post_alerts(&mut m, b"{not json", T0);
    assert_eq!(r.status, 400);
    let r = api::post_alerts(&mut m, br#"[{"annotations": {}}]"#, T0);
    assert_eq!(r.status, 422);
}

#[test]
fn listing_alerts_with_status_receivers_and_filters() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut m = manager(&dir);
    let alerts = json!([
        {"labels": {"alertname": "A", "severity": "page"}, "startsAt": "2024-01-01T00:00:00Z"},
        {"labels": {"alertname": "A", "severity": "info"}, "startsAt": "2024-01-01T00:00:00Z"},
        {"labels": {"alertname": "B", "severity": "info"}, "startsAt": "2024-01-01T00:00:00Z",
         "endsAt": "2024-01-01T00:00:30Z"},
    ]);
    assert_eq!(
        api::post_alerts(&mut m, alerts.to_string().as_bytes(), T0).status,
        200
    );
    let r = api::get_alerts(&m, &[], T0 + 10_000);
    assert_eq!(r.status, 200);
    let list = body(&r);
    let list = list.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 3);
    let page = list
        .iter()
        .find(|a| a["labels"]["severity"] == "page")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        page["receivers"],
        json!([{"name": "pager"}, {"name": "team"}])
    );
    assert_eq!(
        page["status"],
        json!({"state": "active", "silencedBy": [], "inhibitedBy": []})
    );
    assert_eq!(page["startsAt"], "2024-01-01T00:00:00.000Z");
    // No end given: resolve_timeout (5m) from the post.
    assert_eq!(page["endsAt"], "2024-01-01T00:05:00.000Z");
    assert_eq!(page["updatedAt"], "2024-01-01T00:00:00.000Z");
    assert_eq!(page["fingerprint"].as_str().map(str::len), Some(16));
    let info = list
        .iter()
        .find(|a| a["labels"] == json!({"alertname": "A", "severity": "info"}))
        .cloned()
        .unwrap_or_default();
    assert_eq!(info["status"]["state"], "suppressed");
    assert_eq!(info["status"]["inhibitedBy"], json!([page["fingerprint"]]));
    // Sorted by fingerprint.
    let fps: Vec<String> = list
        .iter()
        .map(|a| a["fingerprint"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut sorted = fps.clone();
    sorted.sort();
    assert_eq!(fps, sorted);
    // Filters.
    let count = |pairs: &[(&str, &str)], now: i64| {
        body(&api::get_alerts(&m, &q(pairs), now))
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(count(&[("filter", "alertname=A")], T0), 2);
    assert_eq!(
        count(
            &[("filter", "alertname=A"), ("filter", "severity=~\"p.*\"")],
            T0
        ),
        1
    );
    assert_eq!(count(&[("inhibited", "false")], T0), 2);
    assert_eq!(count(&[("active", "false")], T0), 1);
    assert_eq!(count(&[("receiver", "pager")], T0), 1);
    // Resolved alerts are not listed.
    assert_eq!(count(&[], T0 + M), 2);
    assert_eq!(
        api::get_alerts(&m, &q(&[("filter", "a b")]), T0).status,
        400
    );
    assert_eq!(
        api::get_alerts(&m, &q(&[("receiver", "(")]), T0).status,
        400
    );
    assert_eq!(
        api::get_alerts(&m, &q(&[("active", "maybe")]), T0).status,
        400
    );
}

#[test]
fn alert_groups() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut m = manager(&dir);
    let alerts = json!([
        {"labels": {"alertname": "A", "severity": "page", "instance": "1"}},
        {"labels": {"alertname": "A", "severity": "page", "instance": "2"}},
        {"labels": {"alertname": "B"}},
    ]);
    assert_eq!(
        api::post_alerts(&mut m, alerts.to_string().as_bytes(), T0).status,
        200
    );
    let groups = body(&api::get_alert_groups(&m, &[], T0));
    let summary: Vec<(Value, Value, usize)> = groups
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|g| {
            (
                g["labels"].clone(),
                g["receiver"]["name"].clone(),
                g["alerts"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!({"alertname": "A"}), json!("pager"), 2),
            (json!({"alertname": "A"}), json!("team"), 2),
            (json!({"alertname": "B"}), json!("team"), 1),
        ]
    );
    let pager_only = body(&api::get_alert_groups(&m, &q(&[("receiver", "pager")]), T0));
    assert_eq!(pager_only.as_array().map(Vec::len), Some(1));
}

#[test]
fn silences_through_the_api() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut m = manager(&dir);
    let post =
        |m: &mut Manager, v: Value, now: i64| api::post_silences(m, v.to_string().as_bytes(), now);
    let sil = json!({"matchers": [{"name": "alertname", "value": "A", "isRegex": false, "isEqual": true}],
                     "startsAt": "2024-01-01T00:00:00Z", "endsAt": "2024-01-01T02:00:00Z",
                     "createdBy": "me", "comment": "maintenance"});
    let r = post(&mut m, sil.clone(), T0);
    assert_eq!(r.status, 200, "{}", r.body);
    let id = body(&r)["silenceID"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(id.len(), 36);
    let got = body(&api::get_silence(&m, &id, T0 + M));
    assert_eq!(got["status"]["state"], "active");
    assert_eq!(got["matchers"], sil["matchers"]);
    assert_eq!(got["createdBy"], "me");
    assert_eq!(got["endsAt"], "2024-01-01T02:00:00.000Z");
    // The alert it matches shows as silenced.
    let a = json!([{"labels": {"alertname": "A"}}]);
    api::post_alerts(&mut m, a.to_string().as_bytes(), T0 + M);
    let alerts = body(&api::get_alerts(&m, &[], T0 + M));
    assert_eq!(alerts[0]["status"]["silencedBy"], json!([id]));
    assert_eq!(alerts[0]["status"]["state"], "suppressed");
    // Updating the end in place keeps the id; changing matchers makes a new silence.
    let mut longer = sil.clone();
    longer["id"] = json!(id);
    longer["endsAt"] = json!("2024-01-01T03:00:00Z");
    assert_eq!(
        body(&post(&mut m, longer, T0 + 2 * M))["silenceID"],
        json!(id)
    );
    let mut other = sil.clone();
    other["id"] = json!(id);
    other["matchers"][0]["value"] = json!("B");
    let new_id = body(&post(&mut m, other, T0 + 3 * M))["silenceID"].clone();
    assert_ne!(new_id, json!(id));
    assert_eq!(
        body(&api::get_silence(&m, &id, T0 + 4 * M))["status"]["state"],
        "expired"
    );
    // Listing: active first; filter by silence matchers.
    let list = body(&api::get_silences(&m, &[], T0 + 4 * M));
    let states: Vec<Value> = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| s["status"]["state"].clone())
        .collect();
    assert_eq!(states, [json!("active"), json!("expired")]);
    let filtered = body(&api::get_silences(
        &m,
        &q(&[("filter", "alertname=B")]),
        T0 + 4 * M,
    ));
    assert_eq!(filtered.as_array().map(Vec::len), Some(1));
    assert_eq!(filtered[0]["id"], new_id);
    // Expire, and the errors Alertmanager gives.
    let new_id = new_id.as_str().unwrap_or_default().to_owned();
    assert_eq!(api::delete_silence(&mut m, &new_id, T0 + 5 * M).status, 200);
    assert_eq!(
        body(&api::get_silence(&m, &new_id, T0 + 6 * M))["status"]["state"],
        "expired"
    );
    assert_eq!(api::delete_silence(&mut m, "nope", T0).status, 500);
    assert_eq!(api::get_silence(&m, "nope", T0).status, 404);
    let mut backwards = sil.clone();
    backwards["endsAt"] = json!("2023-12-31T00:00:00Z");
    let r = post(&mut m, backwards, T0);
    assert_eq!(
        (r.status, body(&r)),
        (
            400,
            json!("Failed to create silence: start time must be before end time")
        )
    );
    let mut past = sil.clone();
    past["startsAt"] = json!("2023-12-30T00:00:00Z");
    past["endsAt"] = json!("2023-12-31T00:00:00Z");
    let r = post(&mut m, past, T0);
    assert_eq!(
        (r.status, body(&r)),
        (
            400,
            json!("Failed to create silence: end time can't be in the past")
        )
    );
    let mut unknown = sil.clone();
    unknown["id"] = json!("00000000-0000-0000-0000-000000000000");
    assert_eq!(post(&mut m, unknown, T0).status, 404);
    let mut empty = sil;
    empty["matchers"] = json!([{"name": "a", "value": "", "isRegex": false, "isEqual": true}]);
    let r = post(&mut m, empty, T0);
    assert_eq!(
        (r.status, body(&r)),
        (
            400,
            json!("silence invalid: at least one matcher must not match the empty string")
        )
    );
}

#[test]
fn status_and_receivers() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let m = manager(&dir);
    let s = body(&api::get_status(&m, T0));
    assert_eq!(s["cluster"], json!({"status": "disabled", "peers": []}));
    assert_eq!(s["uptime"], "2024-01-01T00:00:00.000Z");
    for k in [
        "branch",
        "buildDate",
        "buildUser",
        "goVersion",
        "revision",
        "version",
    ] {
        assert!(s["versionInfo"][k].is_string(), "{k}");
    }
    let original = s["config"]["original"].as_str().unwrap_or_default();
    assert!(original.contains("receiver: team"));
    assert!(!original.contains("secret-key"), "{original}");
    assert_eq!(
        body(&api::get_receivers(&m)),
        json!([{"name": "team"}, {"name": "pager"}])
    );
}
