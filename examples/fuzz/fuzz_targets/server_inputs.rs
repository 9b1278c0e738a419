//! Arbitrary bytes through everything the server parses from files and requests before a
//! library sees them: the configuration file, the credentials file, the `Authorization`
//! header, query-string and form parameters, API times and durations. None may panic; a
//! parsed configuration must print back to YAML that parses to the same configuration.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use tsdb_examples::server::auth::{Credentials, Role};
use tsdb_examples::server::config::Config;
use tsdb_examples::server::params::Params;
use tsdb_examples::timearg;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 5 {
        0 => {
            if let Ok(config) = Config::parse(&text) {
                let again = Config::parse(&config.to_yaml()).expect("printed config parses");
                assert_eq!(again.to_yaml(), config.to_yaml());
            }
        }
        1 => {
            let creds = Credentials::parse("read:\n  bearer_tokens: [r]\nwrite:\n  basic_auth: {u: p}\n")
                .expect("fixed credentials");
            for role in [Role::Read, Role::Write, Role::Admin] {
                let _ = creds.check(Some(rest), role);
            }
            let _ = Credentials::parse(&text);
        }
        2 => {
            let (query, body) = rest.split_at(rest.len() / 2);
            let query = String::from_utf8_lossy(query);
            let mut headers = HeaderMap::new();
            headers.insert(
                "content-type",
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            let p = Params::new(&Method::POST, Some(&query), &headers, body);
            let _ = (p.get("query"), p.all("match[]"), p.value("start"));
        }
        3 => {
            let _ = timearg::parse_time(&text);
            let _ = timearg::parse_duration_ns(&text);
            let _ = timearg::prometheus_duration_ms(&text);
        }
        _ => {
            let _ = tsdb_examples::api::series_selector(&text);
        }
    }
});
