//! `file_sd` files: what Prometheus 2.42's file discovery (`discovery/file`) reads from
//! one file, as a pure function over its bytes, so that the watcher (elsewhere) only
//! finds, reads and re-reads files.
//!
//! A file is a list of target groups, `[{targets: [...], labels: {...}}]`, in JSON
//! (`.json`) or YAML (`.yml`, `.yaml`; the extension read case-insensitively). Unknown
//! keys are refused (Go's `DisallowUnknownFields` and `yaml.UnmarshalStrict`), label
//! names are checked, a `null` group is refused, and every group gets the
//! `__meta_filepath` label with the file's path.

use crate::config::TargetGroup;

/// The label holding the path of the file a target came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// Why a file's content is not a list of target groups.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileSdError {
    /// The path ends in none of `.json`, `.yml`, `.yaml`.
    #[error("{0:?} is not a .json, .yml or .yaml file")]
    UnknownExtension(String),
    /// The JSON does not parse or has the wrong shape.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: String,
        /// serde_json's message (line and column).
        message: String,
    },
    /// The YAML does not parse or has the wrong shape.
    #[error("{path}: {message}")]
    Yaml {
        /// The file.
        path: String,
        /// serde-saphyr's message (line and column).
        message: String,
    },
    /// A `null` entry in the list (Prometheus's message).
    #[error("nil target group item found")]
    NullGroup,
}

/// The target groups of the file at `path` whose content is `content`; each group's
/// labels get `__meta_filepath` = `path` (replacing a label of that name written in the
/// file, as Prometheus does). The format follows the extension of `path`.
pub fn parse_file_sd(path: &str, content: &[u8]) -> Result<Vec<TargetGroup>, FileSdError> {
    let ext = path
        .rsplit_once('.')
        .filter(|(_, ext)| !ext.contains('/'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    let groups: Option<Vec<Option<TargetGroup>>> = match ext.as_deref() {
        Some("json") => serde_json::from_slice(content).map_err(|e| FileSdError::Json {
            path: path.to_string(),
            message: e.to_string(),
        })?,
        Some("yml" | "yaml") => {
            if is_blank_yaml(content) {
                None
            } else {
                serde_saphyr::from_slice(content).map_err(|e| FileSdError::Yaml {
                    path: path.to_string(),
                    message: e.to_string(),
                })?
            }
        }
        _ => return Err(FileSdError::UnknownExtension(path.to_string())),
    };
    let mut out = Vec::new();
    for group in groups.unwrap_or_default() {
        let mut group = group.ok_or(FileSdError::NullGroup)?;
        group
            .labels
            .insert(FILEPATH_LABEL.to_string(), path.to_string());
        out.push(group);
    }
    Ok(out)
}

/// An empty YAML document (nothing, or only blank and comment lines), which Go's YAML
/// decoder reads as an empty list.
fn is_blank_yaml(content: &[u8]) -> bool {
    content.split(|&b| b == b'\n').all(|line| {
        let line = line.trim_ascii();
        line.is_empty() || line.starts_with(b"#")
    })
}
