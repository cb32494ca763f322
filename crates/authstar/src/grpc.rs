//! gRPC callers get gRPC statuses. A refusal the layer answers itself (401, 403, 429, 503) is,
//! for a request whose `content-type` is `application/grpc` (or `application/grpc+proto`...), a
//! *trailers-only* response: HTTP 200, `content-type: application/grpc`, `grpc-status` and
//! `grpc-message` in the headers, no body; `WWW-Authenticate` and `Retry-After` stay, as
//! metadata. HTTP callers of the same server still get their 401/403. Nothing to configure:
//! the request says which it is.
//!
//! | HTTP refusal | gRPC status |
//! |---|---|
//! | 401, missing, malformed or refused credentials | `UNAUTHENTICATED` (16) |
//! | 403, missing scope or outside the network | `PERMISSION_DENIED` (7) |
//! | 429, too many failed attempts | `RESOURCE_EXHAUSTED` (8) |
//! | 503, the authenticator's backend is down | `UNAVAILABLE` (14) |
//! | anything else | `INTERNAL` (13) |
//!
//! Guards answer the same way ([`Refusal::shaped_for`](crate::Refusal::shaped_for)).

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

/// The `grpc-status` metadata key.
pub(crate) const GRPC_STATUS: &str = "grpc-status";
/// The `grpc-message` metadata key.
pub(crate) const GRPC_MESSAGE: &str = "grpc-message";

/// Whether a request with these headers is a gRPC call: its `content-type` is
/// `application/grpc`, alone or with a `+format` suffix or parameters (gRPC over HTTP/2, §
/// Requests). `application/grpc-web` is not: a gRPC-Web proxy or layer (tonic-web) translates
/// those to gRPC before they reach a service.
#[inline]
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    let value = value.as_bytes();
    let prefix = b"application/grpc";
    value.len() >= prefix.len()
        && value[..prefix.len()].eq_ignore_ascii_case(prefix)
        && matches!(value.get(prefix.len()), None | Some(b'+' | b';' | b' '))
}

/// The gRPC status code and message for an HTTP refusal's status.
pub(crate) fn status_for(status: StatusCode) -> (u8, &'static str) {
    match status {
        StatusCode::UNAUTHORIZED => (16, "missing, malformed or refused credentials"),
        StatusCode::FORBIDDEN => (7, "the client may not call this method"),
        StatusCode::TOO_MANY_REQUESTS => (8, "too many failed attempts; retry later"),
        StatusCode::SERVICE_UNAVAILABLE => (14, "authentication is unavailable; retry later"),
        _ => (13, "the request could not be authenticated"),
    }
}

/// `refusal` as the caller expects it: unchanged for HTTP callers; for gRPC callers (by
/// `request_headers`), the trailers-only response of the table above, its headers (the
/// challenges, `Retry-After`) kept as metadata and its body replaced by an empty one.
pub(crate) fn for_caller<B: Default>(
    request_headers: &HeaderMap,
    refusal: Response<B>,
) -> Response<B> {
    if !is_grpc(request_headers) {
        return refusal;
    }
    let (mut parts, _) = refusal.into_parts();
    let (code, message) = status_for(parts.status);
    parts.status = StatusCode::OK;
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    parts
        .headers
        .insert(GRPC_STATUS, HeaderValue::from(u16::from(code)));
    // The messages are fixed ASCII text without `%`: nothing to percent-encode.
    parts
        .headers
        .insert(GRPC_MESSAGE, HeaderValue::from_static(message));
    Response::from_parts(parts, B::default())
}

/// A refusal answered before the request's body was read (the layer's 401, 429 and 503, a
/// guard's 401 and 403), as its caller expects it: a gRPC caller gets its status
/// ([`for_caller`]); an HTTP/1 request that announced a body gets `Connection: close`, because
/// the server will close that connection rather than read a body nobody wants, and a client
/// told so opens a new one for its next request instead of failing it.
pub(crate) fn early_refusal<B, R: Default>(
    request: &http::Request<B>,
    refusal: Response<R>,
) -> Response<R> {
    let headers = request.headers();
    if is_grpc(headers) {
        return for_caller(headers, refusal);
    }
    let announced_body = headers
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|length| length.as_bytes() != b"0")
        || headers.contains_key(http::header::TRANSFER_ENCODING);
    let http1 = request.version() <= http::Version::HTTP_11;
    let mut refusal = refusal;
    if announced_body && http1 {
        refusal
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    refusal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        headers
    }

    #[test]
    fn grpc_content_types_are_recognised_and_nothing_else() {
        for yes in [
            "application/grpc",
            "application/grpc+proto",
            "application/GRPC+json",
            "application/grpc; charset=utf-8",
        ] {
            assert!(is_grpc(&headers(yes)), "{yes}");
        }
        for no in [
            "application/json",
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/grpcx",
            "text/plain",
            "application/grp",
        ] {
            assert!(!is_grpc(&headers(no)), "{no}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn a_refusal_keeps_its_challenge_as_metadata_and_loses_its_body() {
        let refusal = Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Bearer realm=\"api\"")
            .header("content-length", "12")
            .body("unauthorized".to_owned())
            .unwrap();
        let answer = for_caller(&headers("application/grpc"), refusal);
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers()[GRPC_STATUS], "16");
        assert_eq!(answer.headers()["www-authenticate"], "Bearer realm=\"api\"");
        assert!(answer.headers().get(CONTENT_LENGTH).is_none());
        assert_eq!(answer.body(), "");
        for (status, code) in [(403, "7"), (429, "8"), (503, "14"), (500, "13")] {
            let refusal = Response::builder()
                .status(status)
                .body(String::new())
                .unwrap();
            let answer = for_caller(&headers("application/grpc+proto"), refusal);
            assert_eq!(answer.headers()[GRPC_STATUS], code, "{status}");
        }
    }

    #[test]
    fn http_callers_get_the_refusal_unchanged() {
        let refusal = Response::builder().status(401).body(String::new()).unwrap();
        let answer = for_caller(&headers("application/json"), refusal);
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert!(answer.headers().get(GRPC_STATUS).is_none());
    }
}
