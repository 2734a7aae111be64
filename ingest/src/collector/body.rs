//! Reading request bodies: size limits counted after decompression, as Amplitude counts them.

use std::io::Read;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;

use super::Rejection;

/// The body of an upload, decompressed.
///
/// `Content-Encoding: gzip` is decoded; any other encoding is refused. The limit applies to the
/// decompressed bytes (so a small gzip bomb cannot expand past it), and to the bytes on the wire.
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max_bytes: usize,
) -> Result<Vec<u8>, Rejection> {
    let wire = axum::body::to_bytes(body, max_bytes)
        .await
        .map_err(|_| Rejection::PayloadTooLarge)?;
    match content_encoding(headers)? {
        Encoding::Identity => Ok(wire.to_vec()),
        Encoding::Gzip => gunzip(&wire, max_bytes),
    }
}

enum Encoding {
    Identity,
    Gzip,
}

fn content_encoding(headers: &HeaderMap) -> Result<Encoding, Rejection> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    let value = value
        .to_str()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match value.as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        _ => Err(Rejection::UnsupportedEncoding(value)),
    }
}

/// Decompresses at most `max_bytes`; one byte more means the request is too large.
fn gunzip(compressed: &[u8], max_bytes: usize) -> Result<Vec<u8>, Rejection> {
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(max_bytes));
    flate2::read::MultiGzDecoder::new(compressed)
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| Rejection::InvalidGzip)?;
    if out.len() > max_bytes {
        return Err(Rejection::PayloadTooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use axum::http::HeaderValue;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn headers(encoding: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(e) = encoding {
            h.insert(CONTENT_ENCODING, HeaderValue::from_str(e).unwrap());
        }
        h
    }

    async fn read(
        encoding: Option<&str>,
        bytes: Vec<u8>,
        max: usize,
    ) -> Result<Vec<u8>, Rejection> {
        read_body(&headers(encoding), Body::from(bytes), max).await
    }

    #[tokio::test]
    async fn plain_and_gzip_bodies_read_the_same() {
        let json = br#"{"api_key":"k","events":[]}"#.to_vec();
        assert_eq!(read(None, json.clone(), 100).await.unwrap(), json);
        assert_eq!(read(Some("gzip"), gzip(&json), 100).await.unwrap(), json);
        assert_eq!(read(Some("GZIP"), gzip(&json), 100).await.unwrap(), json);
    }

    #[tokio::test]
    async fn the_limit_counts_decompressed_bytes() {
        let big = vec![b' '; 10_000];
        let compressed = gzip(&big);
        assert!(compressed.len() < 100);
        assert_eq!(
            read(Some("gzip"), compressed.clone(), 9_999).await,
            Err(Rejection::PayloadTooLarge)
        );
        assert_eq!(
            read(Some("gzip"), compressed, 10_000).await.unwrap().len(),
            10_000
        );
        assert_eq!(
            read(None, big, 9_999).await,
            Err(Rejection::PayloadTooLarge)
        );
    }

    #[tokio::test]
    async fn corrupt_gzip_and_unknown_encodings_are_refused() {
        assert_eq!(
            read(Some("gzip"), b"not gzip".to_vec(), 100).await,
            Err(Rejection::InvalidGzip)
        );
        assert_eq!(
            read(Some("br"), b"{}".to_vec(), 100).await,
            Err(Rejection::UnsupportedEncoding("br".into()))
        );
    }
}
