//! Data sets shared by the benches: the bundled NAB files and fleet data from the peers'
//! generator, so that criterion measures exactly what the report commands measure.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::input::{self, Series};

/// The bundled NAB sample (real CloudWatch and machine metrics, MIT, see its LICENSE).
pub fn nab() -> Vec<Series> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/nab");
    read_all(&dir)
}

/// Fleet data from `../shared/peers/gen.py --hosts HOSTS --hours 24` (10 s interval),
/// generated once into the target directory. `None` (with a note on stderr) when the
/// generator or python3 is not there.
pub fn fleet(hosts: u32) -> Option<Vec<Series>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let gen = root.join("../shared/peers/gen.py");
    let out = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join(format!("bench-data/fleet-{hosts}h"));
    let om = out.join("data.om");
    if !om.exists() {
        if !gen.exists() {
            eprintln!("fleet data: {} not found, skipping", gen.display());
            return None;
        }
        let status = Command::new("python3")
            .arg(&gen)
            .args([
                "--hosts",
                &hosts.to_string(),
                "--hours",
                "24",
                "--formats",
                "om",
            ])
            .arg("--out")
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("fleet data: gen.py failed, skipping");
            return None;
        }
    }
    Some(read_all(&out))
}

fn read_all(dir: &Path) -> Vec<Series> {
    let files = input::collect_files(&[dir.to_path_buf()]).unwrap_or_default();
    files
        .iter()
        .filter_map(|f| match input::read_file(f) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("{e}");
                None
            }
        })
        .flatten()
        .collect()
}
