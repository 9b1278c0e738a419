//! The manager on a fake clock: group timers, the notification log, silences, inhibition,
//! time intervals, and a restart that keeps what was notified and silenced.

use std::path::Path;
use std::sync::Arc;

use tsdb_alert::config::Config;
use tsdb_alert::manager::{Manager, ManagerOptions};
use tsdb_alert::model::{Alert, LabelSet, Notification};
use tsdb_alert::silence::{Silence, SilenceMatcher};

const S: i64 = 1_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
/// 2024-01-01T00:00:00Z, a Monday.
const T0: i64 = 1_704_067_200_000;

fn config(text: &str) -> Config {
    match Config::parse(text) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn open(path: &Path, cfg: &str, now: i64) -> Manager {
    let db = match redb::Database::create(path) {
        Ok(db) => Arc::new(db),
        Err(e) => panic!("{e}"),
    };
    let opts = ManagerOptions {
        external_url: "http://am.example".into(),
        ..ManagerOptions::default()
    };
    match Manager::open(config(cfg), db, opts, now) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    }
}

fn alert(pairs: &[(&str, &str)], starts: i64, ends: Option<i64>) -> Alert {
    Alert {
        labels: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<LabelSet>(),
        annotations: LabelSet::new(),
        starts_at_ms: starts,
        ends_at_ms: ends,
        generator_url: String::new(),
        updated_at_ms: starts,
    }
}

fn post(m: &mut Manager, alerts: Vec<Alert>, now: i64) {
    if let Err(e) = m.put_alerts(alerts, now) {
        panic!("{e}");
    }
}

fn tick(m: &mut Manager, now: i64) -> Vec<Notification> {
    match m.tick(now) {
        Ok(n) => n,
        Err(e) => panic!("{e}"),
    }
}

/// Ticks every second from `from` to `to` inclusive, collecting (time, notification).
fn run(m: &mut Manager, from: i64, to: i64) -> Vec<(i64, Notification)> {
    let mut out = Vec::new();
    let mut t = from;
    while t <= to {
        out.extend(tick(m, t).into_iter().map(|n| (t, n)));
        t += S;
    }
    out
}

fn names(n: &Notification) -> Vec<String> {
    n.alerts
        .iter()
        .map(|a| a.labels.get("i").cloned().unwrap_or_default())
        .collect()
}

const BASIC: &str = "
global:
  resolve_timeout: 5m
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
- name: team
";

#[test]
fn group_wait_then_group_interval_then_repeat_then_resolved() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut m = open(&dir.path().join("am.redb"), BASIC, T0);
    let far = Some(T0 + 24 * H);
    post(
        &mut m,
        vec![alert(&[("alertname", "A"), ("i", "1")], T0, far)],
        T0,
    );
    // group_wait: nothing before 30s; then one notification with the alert.
    assert!(run(&mut m, T0, T0 + 29 * S).is_empty());
    let sent = run(&mut m, T0 + 30 * S, T0 + 30 * S);
    assert_eq!(sent.len(), 1);
    let n = &sent[0].1;
    assert_eq!(n.receiver, "team");
    assert_eq!(n.group_key, r#"{}:{alertname="A"}"#);
    assert_eq!(names(n), ["1"]);
    assert_eq!(n.status(), "firing");
    assert_eq!(n.alerts[0].ends_at_ms, None);
    assert_eq!(n.external_url, "http://am.example");
    // A second alert joins: sent at the next group_interval, not before.
    post(
        &mut m,
        vec![alert(&[("alertname", "A"), ("i", "2")], T0 + M, far)],
        T0 + M,
    );
    let sent = run(&mut m, T0 + 31 * S, T0 + 5 * M + 30 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, T0 + 5 * M + 30 * S);
    assert_eq!(names(&sent[0].1), ["1", "2"]);
    // Unchanged: the flushes every 5 minutes send nothing until repeat_interval (4h).
    let last = T0 + 5 * M + 30 * S;
    let sent = run(&mut m, last + S, last + 4 * H);
    assert!(sent.is_empty(), "{sent:?}");
    let sent = run(&mut m, last + 4 * H + S, last + 4 * H + 5 * M);
    assert_eq!(sent.len(), 1);
    let repeat_at = sent[0].0;
    assert_eq!(repeat_at, last + 4 * H + 5 * M);
    // One alert resolves: a notification with it resolved (send_resolved by default).
    let mut resolved = alert(&[("alertname", "A"), ("i", "1")], T0, Some(repeat_at + M));
    resolved.updated_at_ms = repeat_at + M;
    post(&mut m, vec![resolved], repeat_at + M);
    let sent = run(&mut m, repeat_at + S, repeat_at + 5 * M);
    assert_eq!(sent.len(), 1);
    let n = &sent[0].1;
    assert_eq!(names(n), ["1", "2"]);
    assert_eq!(n.alerts[0].ends_at_ms, Some(repeat_at + M));
    assert_eq!(n.status(), "firing");
    // The resolved alert left the group; the last one resolves: a resolved notification.
    post(
        &mut m,
        vec![alert(
            &[("alertname", "A"), ("i", "2")],
            T0 + M,
            Some(repeat_at + 6 * M),
        )],
        repeat_at + 6 * M,
    );
    let sent = run(&mut m, repeat_at + 5 * M + S, repeat_at + 10 * M);
    assert_eq!(sent.len(), 1);
    assert_eq!(names(&sent[0].1), ["2"]);
    assert_eq!(sent[0].1.status(), "resolved");
    // Then the group is gone and nothing more is sent.
    assert!(run(&mut m, repeat_at + 10 * M + S, repeat_at + 30 * M).is_empty());
    assert_eq!(m.dispatcher().groups().count(), 0);
}

#[test]
fn alerts_without_end_resolve_after_resolve_timeout() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut m = open(&dir.path().join("am.redb"), BASIC, T0);
    post(
        &mut m,
        vec![alert(&[("alertname", "A"), ("i", "1")], T0, None)],
        T0,
    );
    let stored = m
        .alerts()
        .values()
        .next()
        .map(|s| (s.timeout, s.alert.ends_at_ms));
    assert_eq!(stored, Some((true, Some(T0 + 5 * M))));
    assert_eq!(run(&mut m, T0, T0 + 30 * S).len(), 1);
    // No update: resolved at 5m; the flush at 5m30s tells the receiver.
    let sent = run(&mut m, T0 + 31 * S, T0 + 5 * M + 30 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.status(), "resolved");
    // A re-post before the timeout extends it instead.
    post(
        &mut m,
        vec![alert(&[("alertname", "B")], T0 + 6 * M, None)],
        T0 + 6 * M,
    );
    post(
        &mut m,
        vec![alert(&[("alertname", "B")], T0 + 6 * M, None)],
        T0 + 10 * M,
    );
    let b = m
        .alerts()
        .values()
        .find(|s| s.alert.labels.get("alertname").map(String::as_str) == Some("B"))
        .map(|s| s.alert.ends_at_ms);
    assert_eq!(b, Some(Some(T0 + 15 * M)));
}

fn silence(name: &str, value: &str, start: i64, end: i64) -> Silence {
    Silence {
        id: String::new(),
        matchers: vec![SilenceMatcher {
            name: name.into(),
            value: value.into(),
            is_regex: false,
            is_equal: true,
        }],
        starts_at_ms: start,
        ends_at_ms: end,
        updated_at_ms: start,
        created_by: "test".into(),
        comment: "quiet".into(),
    }
}

#[test]
fn silenced_alerts_are_not_sent_until_the_silence_expires() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut m = open(&dir.path().join("am.redb"), BASIC, T0);
    let id = m
        .silences_mut()
        .set(silence("i", "1", T0, T0 + H), T0)
        .unwrap_or_else(|e| panic!("{e}"));
    let far = Some(T0 + 24 * H);
    post(
        &mut m,
        vec![
            alert(&[("alertname", "A"), ("i", "1")], T0, far),
            alert(&[("alertname", "A"), ("i", "2")], T0, far),
        ],
        T0,
    );
    let sent = run(&mut m, T0, T0 + 30 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(names(&sent[0].1), ["2"]);
    let labels1: LabelSet = [("alertname", "A"), ("i", "1")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(m.status(&labels1, T0 + M).silenced_by, vec![id.clone()]);
    assert_eq!(m.status(&labels1, T0 + M).state(), "suppressed");
    // Expiring the silence: the next flush brings the now unsilenced alert.
    m.silences_mut()
        .expire(&id, T0 + 10 * M)
        .unwrap_or_else(|e| panic!("{e}"));
    let sent = run(&mut m, T0 + 31 * S, T0 + 11 * M);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, T0 + 10 * M + 30 * S);
    assert_eq!(names(&sent[0].1), ["1", "2"]);
}

#[test]
fn inhibited_alerts_are_not_sent() {
    let cfg = format!(
        "{BASIC}inhibit_rules:\n- source_matchers: [severity=critical]\n  target_matchers: [severity=warning]\n  equal: [cluster]\n"
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut m = open(&dir.path().join("am.redb"), &cfg, T0);
    let far = Some(T0 + 24 * H);
    post(
        &mut m,
        vec![
            alert(
                &[
                    ("alertname", "Down"),
                    ("severity", "critical"),
                    ("cluster", "a"),
                    ("i", "s"),
                ],
                T0,
                far,
            ),
            alert(
                &[
                    ("alertname", "Slow"),
                    ("severity", "warning"),
                    ("cluster", "a"),
                    ("i", "t"),
                ],
                T0,
                far,
            ),
            alert(
                &[
                    ("alertname", "Slow"),
                    ("severity", "warning"),
                    ("cluster", "b"),
                    ("i", "u"),
                ],
                T0,
                far,
            ),
        ],
        T0,
    );
    let sent = run(&mut m, T0, T0 + 30 * S);
    let mut all: Vec<String> = sent.iter().flat_map(|(_, n)| names(n)).collect();
    all.sort();
    assert_eq!(all, ["s", "u"]);
}

#[test]
fn mute_and_active_time_intervals() {
    let cfg = "
route:
  receiver: team
  group_wait: 0s
  group_interval: 1m
  routes:
  - matchers: [kind=muted]
    receiver: team
    mute_time_intervals: [nights]
  - matchers: [kind=office]
    receiver: team
    active_time_intervals: [office]
receivers:
- name: team
time_intervals:
- name: office
  time_intervals:
  - times: [{start_time: '09:00', end_time: '17:00'}]
    weekdays: ['monday:friday']
mute_time_intervals:
- name: nights
  time_intervals:
  - times: [{start_time: '00:00', end_time: '06:00'}]
";
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut m = open(&dir.path().join("am.redb"), cfg, T0);
    let far = Some(T0 + 48 * H);
    post(
        &mut m,
        vec![
            alert(&[("kind", "muted")], T0, far),
            alert(&[("kind", "office")], T0, far),
        ],
        T0,
    );
    // Midnight to 6: the muted route is muted and the office route is outside its hours.
    assert!(run(&mut m, T0, T0 + 6 * H - S).is_empty());
    // 06:00: the muted route speaks; 09:00: the office route.
    let sent = run(&mut m, T0 + 6 * H, T0 + 9 * H);
    let kinds: Vec<(i64, String)> = sent
        .iter()
        .map(|(t, n)| {
            (
                *t,
                n.alerts[0].labels.get("kind").cloned().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (T0 + 6 * H, "muted".to_owned()),
            (T0 + 9 * H, "office".to_owned())
        ]
    );
}

#[test]
fn continue_routes_notify_every_receiver() {
    let cfg = "
route:
  receiver: default
  group_wait: 10s
  routes:
  - matchers: [severity=page]
    receiver: pager
    continue: true
  - matchers: [team=db]
    receiver: db
receivers:
- name: default
- name: pager
- name: db
";
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut m = open(&dir.path().join("am.redb"), cfg, T0);
    post(
        &mut m,
        vec![alert(
            &[("severity", "page"), ("team", "db")],
            T0,
            Some(T0 + H),
        )],
        T0,
    );
    let mut receivers: Vec<String> = run(&mut m, T0, T0 + 10 * S)
        .into_iter()
        .map(|(_, n)| n.receiver)
        .collect();
    receivers.sort();
    assert_eq!(receivers, ["db", "pager"]);
}

#[test]
fn a_restart_keeps_silences_alerts_and_the_notification_log() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("am.redb");
    let far = Some(T0 + 24 * H);
    let silence_id;
    {
        let mut m = open(&path, BASIC, T0);
        silence_id = m
            .silences_mut()
            .set(silence("i", "9", T0, T0 + 2 * H), T0)
            .unwrap_or_else(|e| panic!("{e}"));
        post(
            &mut m,
            vec![
                alert(&[("alertname", "A"), ("i", "1")], T0, far),
                alert(&[("alertname", "A"), ("i", "9")], T0, far),
            ],
            T0,
        );
        assert_eq!(run(&mut m, T0, T0 + 30 * S).len(), 1);
        assert_eq!(m.nflog().len(), 1);
    }
    // Reopened a minute later: the alerts are known, the silence still mutes, and the
    // group (flushed at once, its alerts being older than group_wait) is not sent again.
    let mut m = open(&path, BASIC, T0 + M);
    assert_eq!(m.alerts().len(), 2);
    assert!(m.silences().get(&silence_id).is_some());
    assert_eq!(m.nflog().len(), 1);
    assert_eq!(m.next_wakeup_ms(), Some(T0 + M));
    assert!(run(&mut m, T0 + M, T0 + 2 * H).is_empty());
    // The silence ends at 2h: the next flush brings the alert it muted.
    let sent = run(&mut m, T0 + 2 * H + S, T0 + 2 * H + 5 * M);
    assert_eq!(sent.len(), 1);
    assert_eq!(names(&sent[0].1), ["1", "9"]);
}

#[test]
fn send_resolved_false_skips_resolved_only_news() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = Arc::new(
        redb::Database::create(dir.path().join("am.redb")).unwrap_or_else(|e| panic!("{e}")),
    );
    let opts = ManagerOptions {
        send_resolved: Arc::new(|_| false),
        ..ManagerOptions::default()
    };
    let mut m = Manager::open(config(BASIC), db, opts, T0).unwrap_or_else(|e| panic!("{e}"));
    let far = Some(T0 + 24 * H);
    post(
        &mut m,
        vec![
            alert(&[("alertname", "A"), ("i", "1")], T0, far),
            alert(&[("alertname", "A"), ("i", "2")], T0, far),
        ],
        T0,
    );
    assert_eq!(run(&mut m, T0, T0 + 30 * S).len(), 1);
    post(
        &mut m,
        vec![alert(&[("alertname", "A"), ("i", "1")], T0, Some(T0 + M))],
        T0 + M,
    );
    // One resolved, one still firing: not news for a receiver without send_resolved.
    assert!(run(&mut m, T0 + 31 * S, T0 + 30 * M).is_empty());
    // All resolved: the log is cleared, but nothing is sent (no firing alert to tell).
    post(
        &mut m,
        vec![alert(
            &[("alertname", "A"), ("i", "2")],
            T0,
            Some(T0 + 31 * M),
        )],
        T0 + 31 * M,
    );
    assert!(run(&mut m, T0 + 30 * M + S, T0 + 40 * M).is_empty());
    assert_eq!(m.dispatcher().groups().count(), 0);
}

#[test]
fn tick_with_stores_in_the_same_transaction_and_retries_on_failure() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut m = open(&dir.path().join("am.redb"), BASIC, T0);
    post(
        &mut m,
        vec![alert(&[("alertname", "A"), ("i", "1")], T0, Some(T0 + H))],
        T0,
    );
    let failed = m.tick_with(T0 + 30 * S, |_, ns| {
        assert_eq!(ns.len(), 1);
        Err("outbox full")
    });
    assert!(failed.is_err());
    assert_eq!(m.nflog().len(), 0, "nothing logged when the outbox refused");
    // Retried at the next tick, and stored this time.
    let table: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("outbox_test");
    let sent = m
        .tick_with(T0 + 31 * S, |txn, ns| {
            let mut t = txn.open_table(table).map_err(|e| e.to_string())?;
            t.insert(ns[0].group_key.as_str(), ns.len() as u64)
                .map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sent.len(), 1);
    assert_eq!(m.nflog().len(), 1);
}

#[test]
fn by_default_a_receiver_sends_resolved_if_one_of_its_integrations_does() {
    let cfg = "
global: {smtp_smarthost: 'localhost:25', smtp_from: am@example.org}
route:
  receiver: mail
  group_by: [alertname]
  group_wait: 30s
  routes:
  - {matchers: [to=hook], receiver: hook}
receivers:
- name: mail
  email_configs: [{to: a@example.org}]
- name: hook
  webhook_configs: [{url: 'http://127.0.0.1:1/'}]
";
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut m = open(&dir.path().join("am.redb"), cfg, T0);
    let far = Some(T0 + 24 * H);
    let both = |to: &str, ends: [Option<i64>; 2]| {
        vec![
            alert(&[("alertname", "A"), ("to", to), ("i", "1")], T0, ends[0]),
            alert(&[("alertname", "A"), ("to", to), ("i", "2")], T0, ends[1]),
        ]
    };
    post(&mut m, both("mail", [far, far]), T0);
    post(&mut m, both("hook", [far, far]), T0);
    assert_eq!(run(&mut m, T0, T0 + 30 * S).len(), 2);
    // One alert of each group resolves: news for the webhook (send_resolved defaults to
    // true), not for the email (false).
    post(&mut m, both("mail", [Some(T0 + M), far]), T0 + M);
    post(&mut m, both("hook", [Some(T0 + M), far]), T0 + M);
    let sent = run(&mut m, T0 + 31 * S, T0 + 10 * M);
    let receivers: Vec<&str> = sent.iter().map(|(_, n)| n.receiver.as_str()).collect();
    assert_eq!(receivers, ["hook"]);
}
