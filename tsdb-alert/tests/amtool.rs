//! Differential tests against Alertmanager 0.25's own `amtool` (Debian's
//! `prometheus-alertmanager` package): the receivers a label set routes to
//! (`amtool config routes test`) and which configurations are valid (`amtool
//! check-config`), on the same files. Both run offline on a file; no server is started.

use std::path::{Path, PathBuf};
use std::process::Command;

use tsdb_alert::config::Config;
use tsdb_alert::route::Route;

fn amtool() -> PathBuf {
    for p in ["/usr/bin/amtool", "/usr/local/bin/amtool"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "amtool (Alertmanager 0.25) is missing: install it with \
         `apt-get install prometheus-alertmanager`"
    );
}

const TREE: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  routes:
  - matchers: ['severity="page"', 'team=~"db|web"']
    receiver: pager
    continue: true
  - match: {team: db}
    receiver: db
    routes:
    - matchers: ['env!="prod"']
      receiver: db-nonprod
    - matchers: ['{service=~"pg.*", env="prod"}']
      receiver: db-pg
      continue: true
    - match_re: {service: '.*sql'}
      receiver: db-sql
  - matchers: [team!~"db|web", 'severity=~"warn|page"']
    receiver: others
    continue: true
  - matchers: ['env=""']
    receiver: no-env
receivers:
- name: default
- name: pager
- name: db
- name: db-nonprod
- name: db-pg
- name: db-sql
- name: others
- name: no-env
"#;

#[test]
fn routing_matches_amtool() {
    let amtool = amtool();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("am.yml");
    std::fs::write(&file, TREE).unwrap_or_else(|e| panic!("{e}"));
    let config = Config::parse(TREE).unwrap_or_else(|e| panic!("{e}"));
    let tree = Route::new(&config.route);
    let mut compared = 0;
    for severity in ["", "page", "warn", "info"] {
        for team in ["", "db", "web", "ops"] {
            for env in ["", "prod", "dev"] {
                for service in ["", "pgbouncer", "mysql"] {
                    let pairs: Vec<(&str, &str)> = [
                        ("severity", severity),
                        ("team", team),
                        ("env", env),
                        ("service", service),
                    ]
                    .into_iter()
                    .filter(|(_, v)| !v.is_empty())
                    .collect();
                    let args: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let out = Command::new(&amtool)
                        .args(["config", "routes", "test", "--config.file"])
                        .arg(&file)
                        .args(&args)
                        .output()
                        .unwrap_or_else(|e| panic!("running amtool: {e}"));
                    assert!(out.status.success(), "amtool {args:?}: {out:?}");
                    let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
                        .trim()
                        .split(',')
                        .map(str::to_owned)
                        .collect();
                    let labels = pairs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    let ours: Vec<String> = tree
                        .matches(&labels)
                        .into_iter()
                        .map(|r| r.opts.receiver.clone())
                        .collect();
                    assert_eq!(ours, theirs, "labels {args:?}");
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 4 * 4 * 3 * 3);
}

#[test]
fn validity_matches_amtool_check_config() {
    let amtool = amtool();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cases: &[&str] = &[
        TREE,
        "route: {receiver: r}\nreceivers: [{name: r}]\n",
        "route: {receiver: r, routes: [{matchers: ['a=b', 'c=~\"x|y\"'], group_by: ['...']}]}\nreceivers: [{name: r}]\n",
        "receivers: [{name: r}]\n",
        "route: {group_by: [a]}\nreceivers: [{name: r}]\n",
        "route: {receiver: r, matchers: [a=b]}\nreceivers: [{name: r}]\n",
        "route: {receiver: r, continue: true}\nreceivers: [{name: r}]\n",
        "route: {receiver: r, routes: [{receiver: x}]}\nreceivers: [{name: r}]\n",
        "route: {receiver: r}\nreceivers: [{name: r}, {name: r}]\n",
        "route: {receiver: r, routes: [{mute_time_intervals: [n]}]}\nreceivers: [{name: r}]\n",
        "route: {receiver: r, routes: [{mute_time_intervals: [n]}]}\nreceivers: [{name: r}]\nmute_time_intervals: [{name: n, time_intervals: [{weekdays: [monday]}]}]\n",
        "route: {receiver: r, group_by: ['...', a]}\nreceivers: [{name: r}]\n",
        "route: {receiver: r, group_by: [a, a]}\nreceivers: [{name: r}]\n",
        "route: {receiver: r, group_interval: 0s}\nreceivers: [{name: r}]\n",
        "route: {receiver: r, group_wait: 5x}\nreceivers: [{name: r}]\n",
        "route: {receiver: r, routes: [{matchers: ['a b']}]}\nreceivers: [{name: r}]\n",
        "route: {receiver: r}\nreceivers: [{name: r, email_configs: [{to: a@example.org}]}]\n",
        "global: {smtp_smarthost: 'localhost:25', smtp_from: am@example.org}\nroute: {receiver: r}\nreceivers: [{name: r, email_configs: [{to: a@example.org}]}]\n",
        "route: {receiver: r}\nreceivers: [{name: r}]\ninhibit_rules: [{source_matchers: [a=b], target_matchers: ['c=~\"d\"'], equal: [e]}]\n",
        "route: {receiver: r}\nreceivers: [{name: r}]\ntime_intervals: [{name: t, time_intervals: [{weekdays: ['friday:monday']}]}]\n",
        "route: {receiver: r}\nreceivers: [{name: r}]\ntime_intervals: [{name: t, time_intervals: [{months: ['13', '0:3'], years: ['-5'], weekdays: [Monday]}]}]\n",
        "route: {receiver: r}\nreceivers: [{name: r}]\ntime_intervals: [{name: t, time_intervals: [{days_of_month: ['32']}]}]\n",
        "route: {receiver: r}\nreceivers: [{name: r}]\ntime_intervals: [{name: t, time_intervals: [{location: 'Etc/GMT+5'}]}]\n",
        "route: {receiver: r}\nreceivers: [{name: r}]\ntime_intervals: [{name: t, time_intervals: [{days_of_month: ['-1:5']}]}]\n",
        "route: {receiver: r}\nreceivers: [{name: r}]\ntime_intervals: [{name: t, time_intervals: [{times: [{start_time: '10:00', end_time: '09:00'}]}]}]\n",
    ];
    for (i, text) in cases.iter().enumerate() {
        let file = dir.path().join(format!("c{i}.yml"));
        std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
        let out = Command::new(&amtool)
            .arg("check-config")
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("running amtool: {e}"));
        let ours = Config::parse(text);
        assert_eq!(
            ours.is_ok(),
            out.status.success(),
            "case {i}:\n{text}\nours: {:?}\namtool: {}",
            ours.err(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
