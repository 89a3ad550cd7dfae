//! JSON responses.

use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use serde::Serialize;

use super::{ApiError, Body, Response, JSON};

/// A JSON response with the given status. A value that cannot be serialized
/// (a bug, e.g. a map with non-string keys) becomes a 500 `internal` error.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut response = Response::new(Body::new(bytes.into()));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
            response
        }
        Err(e) => ApiError::internal(format!("could not encode response: {e}")).to_response(),
    }
}

/// A 200 JSON response.
pub fn ok_json<T: Serialize + ?Sized>(value: &T) -> Response {
    json(StatusCode::OK, value)
}

/// 405 `method-not-allowed` with the `Allow` header listing `allowed`.
pub fn method_not_allowed(method: &Method, path: &str, allowed: &[Method]) -> Response {
    let list = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = ApiError::method_not_allowed(format!(
        "method {method} is not allowed on {path}; allowed: {list}"
    ))
    .to_response();
    if let Ok(value) = HeaderValue::from_str(&list) {
        response.headers_mut().insert(ALLOW, value);
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn json_sets_status_type_and_body() {
        let response = json(StatusCode::CREATED, &serde_json::json!({"a": 1}));
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[CONTENT_TYPE], JSON);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"a":1}"#);
    }

    #[test]
    fn unserializable_value_is_an_internal_error() {
        let mut map = std::collections::HashMap::new();
        map.insert((1, 2), 3);
        assert_eq!(ok_json(&map).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn method_not_allowed_lists_methods() {
        let response = method_not_allowed(&Method::PUT, "/nodes", &[Method::GET, Method::POST]);
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[ALLOW], "GET, POST");
    }
}
