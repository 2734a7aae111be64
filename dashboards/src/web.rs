//! The web UI's files, built from `dashboards/web/` by `scripts/build-web.sh` into
//! `dashboards/web/dist/` (committed) and embedded here, so the binary serves the UI with no
//! Node.js and no network at run time.
//!
//! Pages are client-side routes after `#`, so the server has one page (`/`) and its assets.
//! Asset names are fixed; browsers revalidate them with an `ETag` (a hash of the bytes).
//!
//! For working on the UI, `SLUICE_WEB_DIR=dashboards/web/dist` makes the server read the files
//! from that folder at each request instead (no rebuild of the binary after `node build.mjs`).

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Names a folder to serve the UI's files from instead of the embedded ones (UI development).
const WEB_DIR_VARIABLE: &str = "SLUICE_WEB_DIR";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 3] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../web/dist/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../web/dist/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../web/dist/app.css"),
    },
];

/// The routes of the UI: `/` and `/assets/{name}`. Public: the pages hold no data, and the API
/// they call asks for a session.
pub fn web_router() -> Router {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/assets/{name}",
            get(|Path(name): Path<String>, headers: HeaderMap| async move {
                serve(&name, &headers)
            }),
        )
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some((index, asset)) = ASSETS.iter().enumerate().find(|(_, a)| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(dir) = std::env::var_os(WEB_DIR_VARIABLE) {
        return match std::fs::read(std::path::Path::new(&dir).join(asset.name)) {
            Ok(bytes) => (
                [
                    (header::CONTENT_TYPE, asset.content_type),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                bytes,
            )
                .into_response(),
            Err(e) => (StatusCode::NOT_FOUND, format!("{WEB_DIR_VARIABLE}: {e}")).into_response(),
        };
    }
    let etag = &etags()[index];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let common = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.bytes,
    )
        .into_response()
}

/// `"<first 16 bytes of the SHA-256, hex>"` per asset, in `ASSETS` order.
fn etags() -> &'static [HeaderValue] {
    static ETAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = ring::digest::digest(&ring::digest::SHA256, asset.bytes);
                let hex: String = digest.as_ref()[..16]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header")
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_with_its_type_and_revalidates_by_etag() {
        for asset in &ASSETS {
            let response = serve(asset.name, &HeaderMap::new());
            assert_eq!(response.status(), StatusCode::OK, "{}", asset.name);
            assert_eq!(response.headers()[header::CONTENT_TYPE], asset.content_type);
            let etag = response.headers()[header::ETAG].clone();
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, etag);
            assert_eq!(
                serve(asset.name, &headers).status(),
                StatusCode::NOT_MODIFIED
            );
        }
        assert_eq!(
            serve("secrets.json", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn the_page_loads_the_bundle() {
        let page = std::str::from_utf8(ASSETS[0].bytes).unwrap();
        assert!(page.contains("/assets/app.js") && page.contains("/assets/app.css"));
    }
}
