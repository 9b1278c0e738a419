//! Checks shared by the targets: line numbers in range, errors displayable, and every
//! sample written as OpenMetrics and parsed again comes back the same.

use tsdb_index::LabelLimits;
use tsdb_text::openmetrics::Writer;
use tsdb_text::prometheus::{Dialect, Options, Parser};
use tsdb_text::{LineError, Sample};

pub fn check(input: &[u8], items: Vec<Result<Sample, LineError>>, limits: &LabelLimits) {
    let lines = input.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut samples = Vec::new();
    for item in items {
        match item {
            Ok(s) => {
                assert!(s.labels.metric_name().is_some(), "sample without a name");
                samples.push(s);
            }
            Err(e) => {
                assert!(e.line >= 1 && e.line <= lines + 1, "line {} of {lines}", e.line);
                if let Some(c) = e.column {
                    assert!(c >= 1);
                }
                let _ = e.to_string();
            }
        }
    }
    // Writer -> parser is the identity on whatever the parser produced.
    for s in samples.iter().take(64) {
        let t = s.timestamp.unwrap_or(0);
        let mut w = Writer::new(Vec::new());
        w.write_sample(&s.labels, t, s.value).expect("writing to a Vec");
        let text = w.finish().expect("writing to a Vec");
        let opts = Options {
            limits: limits.clone(),
            ..Options::new(Dialect::OpenMetrics)
        };
        let back: Vec<_> = Parser::new(&text, opts).collect();
        assert_eq!(back.len(), 1, "{}", String::from_utf8_lossy(&text));
        let b = back.into_iter().next().expect("one item");
        let b = b.unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&text)));
        assert_eq!(b.labels, s.labels);
        assert_eq!(b.timestamp, Some(t));
        assert!(
            (b.value.is_nan() && s.value.is_nan()) || b.value.to_bits() == s.value.to_bits(),
            "{} vs {}",
            b.value,
            s.value
        );
    }
}

/// Label limits chosen by two bits of the mode byte, so limit errors are reached too.
pub fn limits(mode: u8) -> LabelLimits {
    match mode & 3 {
        0 => LabelLimits::default(),
        1 => LabelLimits {
            max_labels: 3,
            max_name_len: 8,
            max_value_len: 8,
            ..LabelLimits::default()
        },
        2 => LabelLimits {
            require_metric_name: false,
            ..LabelLimits::default()
        },
        _ => LabelLimits {
            max_labels: usize::MAX,
            max_name_len: usize::MAX,
            max_value_len: usize::MAX,
            require_metric_name: true,
        },
    }
}
