//! The generated protobuf code is checked in (see `proto/README.md`): each generated file
//! names the CRC-32 of the `.proto` files it came from, and this test fails when a
//! `.proto` was changed without running the generator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn generated_code_matches_the_vendored_protos() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sets: [(&str, &str, &[&str]); 3] = [
        (
            "prometheus.rs",
            "prometheus",
            &["types.proto", "remote.proto"],
        ),
        (
            "prometheus_write_v2.rs",
            "prometheus",
            &["io/prometheus/write/v2/types.proto"],
        ),
        (
            "otlp.rs",
            "otlp",
            &[
                "opentelemetry/proto/common/v1/common.proto",
                "opentelemetry/proto/resource/v1/resource.proto",
                "opentelemetry/proto/metrics/v1/metrics.proto",
                "opentelemetry/proto/collector/metrics/v1/metrics_service.proto",
            ],
        ),
    ];
    for (generated, dir, files) in sets {
        let mut hasher = crc32fast::Hasher::new();
        for f in files {
            let bytes = std::fs::read(root.join("proto").join(dir).join(f)).unwrap();
            hasher.update(&bytes);
        }
        let want = format!("// proto-crc32: {:08x}", hasher.finalize());
        let code = std::fs::read_to_string(root.join("src/proto").join(generated)).unwrap();
        assert!(
            code.lines().take(3).any(|l| l == want),
            "{generated} is stale: run `cargo run --manifest-path tsdb-ingest/proto/gen/Cargo.toml`"
        );
    }
}
