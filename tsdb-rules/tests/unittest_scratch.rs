#![allow(missing_docs)]
#[test]
fn scratch() {
    let files: Vec<std::path::PathBuf> = std::env::var("H2_FILES").unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(Into::into).collect();
    let (mut o, mut e) = (Vec::new(), Vec::new());
    let ok = tsdb_rules::unittest::run_test_files(&files, &mut o, &mut e);
    std::fs::write("/tmp/h2/our.out", &o).ok();
    std::fs::write("/tmp/h2/our.err", &e).ok();
    println!("ok={ok}");
}
