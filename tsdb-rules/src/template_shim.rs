//! TEMPORARY stand-in for `template` (written on branch `rules-template`) with its API:
//! parses nothing and expands text unchanged. Removed when that branch is merged.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;

/// A parsed template.
pub struct Template {
    text: String,
}

/// What the template sees.
pub struct TemplateData<'a> {
    /// `$labels`.
    pub labels: &'a BTreeMap<String, String>,
    /// `$externalLabels`.
    pub external_labels: &'a BTreeMap<String, String>,
    /// `$externalURL`.
    pub external_url: &'a str,
    /// `$value`.
    pub value: f64,
}

/// One sample of a `query` result.
pub struct QuerySample {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// A template error.
#[derive(Debug)]
pub enum TemplateError {
    /// Any.
    Other(String),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Other(m) => f.write_str(m),
        }
    }
}

impl Template {
    /// Parses.
    pub fn parse(_name: &str, text: &str) -> Result<Template, TemplateError> {
        Ok(Template {
            text: text.to_string(),
        })
    }

    /// Expands.
    pub fn expand(
        &self,
        _data: &TemplateData<'_>,
        _query: &mut dyn FnMut(&str) -> Result<Vec<QuerySample>, String>,
    ) -> Result<String, TemplateError> {
        Ok(self.text.clone())
    }
}
