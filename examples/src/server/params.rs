//! Request parameters as Prometheus reads them (Go's `Request.ParseForm`): the query
//! string, plus for POST and PUT a body of type `application/x-www-form-urlencoded`,
//! whose values come first (Go: "request body parameters take precedence over URL query
//! string values"). A parameter may repeat (`match[]`); a single-valued one is its first
//! value, and an empty value counts as absent, as `r.FormValue(..) == ""` does in
//! Prometheus.

use axum::http::{HeaderMap, Method};

/// The parameters of one request, in order.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parameters from the query string and, for POST/PUT forms, the body.
    pub fn new(method: &Method, query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Params {
        let mut out = Vec::new();
        let is_form = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if (method == Method::POST || method == Method::PUT || method == Method::PATCH) && is_form {
            out.extend(form_urlencoded::parse(body).into_owned());
        }
        if let Some(q) = query {
            out.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        Params(out)
    }

    /// The first value of `name`, `None` when it is missing or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The first value of `name`, `""` when missing (Go's `FormValue`).
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// Every value of `name`, in order (Go's `r.Form[name]`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_first_then_query_and_repeats() {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        let p = Params::new(
            &Method::POST,
            Some("query=from_url&match%5B%5D=b&time="),
            &h,
            b"query=up+%3D%3D+1&match[]=a",
        );
        assert_eq!(p.get("query"), Some("up == 1"));
        assert_eq!(p.all("match[]"), ["a", "b"]);
        assert_eq!(p.get("time"), None);
        assert_eq!(p.value("missing"), "");
        // a GET's body and a POST of another type are not read
        let p = Params::new(&Method::GET, None, &h, b"query=x");
        assert_eq!(p.get("query"), None);
        let p = Params::new(&Method::POST, None, &HeaderMap::new(), b"query=x");
        assert_eq!(p.get("query"), None);
    }
}
