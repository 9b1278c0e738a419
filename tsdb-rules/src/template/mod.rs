//! Prometheus's template language for alert annotations and labels: Go's `text/template`
//! with the function map of Prometheus's `template` package, as rule files use it.
//!
//! A template is parsed (and its functions and variables checked) once, when the rule file
//! is loaded, so an unknown function is a load-time error as it is in Prometheus; it is
//! expanded at every evaluation with the alert's labels and value. The text is prefixed
//! with the variable definitions Prometheus prepends (`$labels`, `$externalLabels`,
//! `$externalURL`, `$value`), so columns in error messages match Prometheus's.
//!
//! Modules: `lex` (Go's lexer: delimiters, trim markers, comments), `parse` (the tree and
//! the load-time checks), `exec` (Go's evaluation rules: pipelines, variables, control
//! structures, field access, `missingkey=zero`), `funcs` (Go's builtins and Prometheus's
//! functions), `gofmt` (Go's `fmt` verbs and float formatting) and `gotime` (the `*time.Time`
//! that `toTime` returns).

mod exec;
mod funcs;
mod gofmt;
mod gotime;
mod lex;
mod parse;

use std::collections::BTreeMap;
use std::fmt;

/// The variable definitions Prometheus prepends to every alert template
/// (`rules/alerting.go`), so `$labels.x` and friends work.
const PROMETHEUS_DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// A parsed and checked template.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    tree: parse::List,
}

/// What a template sees: the alert's labels, the server's external labels and URL, and
/// the value of the sample that fired (Prometheus's `AlertTemplateData`).
#[derive(Debug, Clone, Copy)]
pub struct TemplateData<'a> {
    /// `.Labels` / `$labels`.
    pub labels: &'a BTreeMap<String, String>,
    /// `.ExternalLabels` / `$externalLabels`.
    pub external_labels: &'a BTreeMap<String, String>,
    /// `.ExternalURL` / `$externalURL`, also what `externalURL` and `pathPrefix` read.
    pub external_url: &'a str,
    /// `.Value` / `$value`.
    pub value: f64,
}

/// One sample of an instant-vector result of the template function `query`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    /// The series' labels, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// The sample value.
    pub value: f64,
}

/// A template that does not parse, or whose expansion failed. The text is Go's (and so
/// Prometheus's) message: the template's name, the line (and at expansion the byte column
/// and the failing command). A parse error reads as Go's `text/template` error
/// (`template: NAME:LINE: …`), which is what rulefmt reports at load time; an expansion
/// error as Prometheus's `Expand` (`error executing template NAME: template: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// Syntax error, unknown function or undefined variable, found at load time.
    Parse {
        /// The template's name (Prometheus: `__alert_` + the alert name).
        name: String,
        /// 1-based line of the offending token.
        line: usize,
        /// Go's message, e.g. `function "foo" not defined`.
        message: String,
    },
    /// A failure while expanding: a function error, a bad comparison, a failed query.
    Exec {
        /// The template's name.
        name: String,
        /// 1-based line of the failing node.
        line: usize,
        /// 0-based byte column of the failing node in its line, as Go counts it.
        column: usize,
        /// The failing command or node as written.
        context: String,
        /// What went wrong, e.g. `error calling first: first() called on vector with no elements`.
        message: String,
    },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Parse {
                name,
                line,
                message,
            } => write!(f, "template: {name}:{line}: {message}"),
            TemplateError::Exec {
                name,
                line,
                column,
                context,
                message,
            } => write!(
                f,
                "error executing template {name}: template: {name}:{line}:{column}: executing \"{name}\" at <{context}>: {message}"
            ),
        }
    }
}

impl std::error::Error for TemplateError {}

impl Template {
    /// Parses `text` with Prometheus's variable definitions prepended. An unknown function,
    /// an undefined variable or a syntax error is an error here, at load time.
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let full = format!("{PROMETHEUS_DEFS}{text}");
        let tree = parse::parse(&full).map_err(|e| TemplateError::Parse {
            name: name.to_string(),
            line: e.line,
            message: e.message,
        })?;
        Ok(Template {
            name: name.to_string(),
            tree,
        })
    }

    /// The template's name, as given to [`Template::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Expands the template for one alert. `query` answers the template function `query`
    /// (an instant query at the evaluation time); its error becomes the expansion's error.
    pub fn expand(
        &self,
        data: &TemplateData<'_>,
        query: &mut dyn FnMut(&str) -> Result<Vec<QuerySample>, String>,
    ) -> Result<String, TemplateError> {
        exec::execute(&self.tree, data, query).map_err(|e| TemplateError::Exec {
            name: self.name.clone(),
            line: e.line,
            column: e.column,
            context: e.context,
            message: e.message,
        })
    }
}

/// Go's `strconv.Quote`, for other modules' messages (promtool's `%q`).
pub(crate) fn go_quote(s: &str) -> String {
    parse::go_quote(s)
}

/// Go's `%v` of a float64 (`1`, `0.5`, `1e+06`, `+Inf`).
pub(crate) fn go_float_text(v: f64) -> String {
    gofmt::float_v(v)
}

#[cfg(test)]
mod tests;
