//! API errors: every failure is a JSON body `{"code": "...", "message": "..."}` with the
//! HTTP status that fits it. `code` is a stable machine-readable word; `message` is for
//! people and never carries internals (those go to the log).

use hyper::StatusCode;
use moxide_actors::DirectoryError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `too_many_requests`,
    /// `internal`, `unavailable`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

/// A failed request: status, code and message.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code (see [`ErrorBody::code`]).
    pub code: &'static str,
    /// Message for people.
    pub message: String,
}

impl ApiError {
    /// 400: the request is malformed or a value is unacceptable.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into() }
    }

    /// 401: no valid credentials.
    pub fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "a valid bearer token is required (POST /api/v0/login)".into(),
        }
    }

    /// 403: valid credentials, not allowed here.
    pub fn forbidden() -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: "not allowed with this token".into(),
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, code: "not_found", message: message.into() }
    }

    /// 405.
    pub fn method_not_allowed() -> ApiError {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            message: "method not allowed on this path".into(),
        }
    }

    /// 409: the change conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::CONFLICT, code: "conflict", message: message.into() }
    }

    /// 413.
    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: format!("request body over {limit} bytes"),
        }
    }

    /// 429.
    pub fn too_many_requests(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::TOO_MANY_REQUESTS, code: "too_many_requests", message: message.into() }
    }

    /// 500: our fault; `cause` goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "admin API request failed");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error (see the server log)".into(),
        }
    }

    /// 503: try again later.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, code: "unavailable", message: message.into() }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody { code: self.code.to_string(), message: self.message.clone() }
    }
}

impl From<DirectoryError> for ApiError {
    fn from(error: DirectoryError) -> ApiError {
        let message = error.to_string();
        match error {
            DirectoryError::NoSuchDomain(_)
            | DirectoryError::NoSuchAccount(_)
            | DirectoryError::NoSuchAddress { .. }
            | DirectoryError::NoSuchAlias(_) => ApiError::not_found(message),
            DirectoryError::DuplicateAddress { .. }
            | DirectoryError::DuplicateAccount(_)
            | DirectoryError::DuplicateDomain(_)
            | DirectoryError::DomainInUse { .. }
            | DirectoryError::PostmasterAccount(_) => ApiError::conflict(message),
            _ => ApiError::bad_request(message),
        }
    }
}

/// The error responses any authenticated endpoint may give, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code, reason = "only describes responses in the OpenAPI document")]
pub(crate) enum CommonErrors {
    /// The request or a value in it is not acceptable.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No valid bearer token.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The token may not do this.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// The thing named does not exist.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// The change conflicts with the current state.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// Body too large.
    #[response(status = 413)]
    PayloadTooLarge(ErrorBody),
    /// Too many requests or failed logins from this network.
    #[response(status = 429)]
    TooManyRequests(ErrorBody),
    /// Our fault.
    #[response(status = 500)]
    Internal(ErrorBody),
    /// Shutting down, or a core could not be reached.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}
