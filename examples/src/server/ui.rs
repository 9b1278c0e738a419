//! The built-in web UI: the pages of `ui/` (graph, alerts, rules, targets, TSDB status,
//! runtime, config, flags), built by `npm run build` into `ui/dist/` and embedded in the
//! binary, so `cargo run` needs no Node.js. Every UI path answers the same page; its
//! script draws the page the path names and reads the `/api/v1` endpoints like any
//! client. The pages need the read credential, like the API they read: a browser asks
//! for basic-auth credentials and then sends them with each request.
//!
//! The assets are answered with an `ETag` (their SHA-256) and `Cache-Control: no-cache`,
//! so a browser revalidates and gets `304 Not Modified` until the binary changes.

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};

/// The paths the UI answers with its page (the script picks the page by path).
pub const PAGES: &[&str] = &[
    "/graph",
    "/alerts",
    "/rules",
    "/targets",
    "/tsdb-status",
    "/status",
    "/config",
    "/flags",
];

/// One embedded file.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: LazyLock<HeaderValue>,
}

/// An embedded file of `ui/dist/`, its ETag hashed on first use from the same bytes.
macro_rules! asset {
    ($name:ident, $file:literal, $type:literal) => {
        static $name: Asset = Asset {
            body: include_bytes!(concat!("../../../ui/dist/", $file)),
            content_type: $type,
            etag: LazyLock::new(|| etag_of($name.body)),
        };
    };
}

asset!(INDEX, "index.html", "text/html; charset=utf-8");
asset!(APP_JS, "app.js", "text/javascript; charset=utf-8");
asset!(APP_CSS, "app.css", "text/css; charset=utf-8");

fn etag_of(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The page's security headers: scripts and styles only from this server (no CDN, no
/// inline script), no framing, no MIME sniffing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                   script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

fn serve(asset: &'static Asset, request_headers: &HeaderMap) -> Response {
    let etag = &*asset.etag;
    let fresh = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r
}

/// `/`: to the graph page, as Prometheus's `/` goes to its query page.
pub async fn root() -> Redirect {
    Redirect::to("/graph")
}

/// A UI page (any of [`PAGES`]).
pub async fn page(req: Request) -> Response {
    serve(&INDEX, req.headers())
}

/// `/assets/app.js`.
pub async fn app_js(req: Request) -> Response {
    serve(&APP_JS, req.headers())
}

/// `/assets/app.css`.
pub async fn app_css(req: Request) -> Response {
    serve(&APP_CSS, req.headers())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_page_loads_the_embedded_assets() {
        let index = std::str::from_utf8(INDEX.body).expect("utf-8");
        assert!(index.contains(r#"src="/assets/app.js""#));
        assert!(index.contains(r#"href="/assets/app.css""#));
        assert!(APP_JS.body.len() > 10_000, "the script is the built bundle");
        assert!(!APP_CSS.body.is_empty());
    }

    #[test]
    fn a_matching_etag_gets_304_and_others_the_body() {
        let etag = APP_JS.etag.clone();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, etag.clone());
        let r = serve(&APP_JS, &headers);
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers().get(header::ETAG), Some(&etag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        let r = serve(&APP_JS, &headers);
        assert_eq!(r.status(), StatusCode::OK);
        assert_ne!(APP_JS.etag.clone(), APP_CSS.etag.clone());
    }
}
