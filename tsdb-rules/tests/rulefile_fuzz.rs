//! The rule file reader never panics, whatever the bytes: arbitrary input, and rule files
//! with random pieces put in the places that matter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use tsdb_rules::parse_rule_file;

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\"".to_string()),
        Just("{{ $labels.x }}".to_string()),
        Just("sum((".to_string()),
        Just("5m".to_string()),
        Just("-1".to_string()),
        Just("[".to_string()),
        Just("&a".to_string()),
        Just("*a".to_string()),
        Just("~".to_string()),
        Just("\u{0}".to_string()),
        "[a-z_:]{0,8}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_rule_file("f.yml", &bytes);
    }

    #[test]
    fn shaped_files_never_panic(
        name in piece(), interval in piece(), kind in prop_oneof![Just("alert"), Just("record"), Just("expr")],
        rule in piece(), expr in piece(), dur in piece(), key in piece(), value in piece(),
    ) {
        let text = format!(
            "groups:\n- name: {name}\n  interval: {interval}\n  rules:\n  - {kind}: {rule}\n    expr: {expr}\n    for: {dur}\n    labels:\n      {key}: {value}\n    annotations:\n      {key}: {value}\n"
        );
        if let Err(errors) = parse_rule_file("f.yml", text.as_bytes()) {
            prop_assert!(!errors.is_empty());
            for e in errors {
                prop_assert!(e.to_string().starts_with("f.yml: "));
            }
        }
    }
}
