//! The web UI: server-rendered HTML pages under `/ui/` over the same store traits and
//! services as the API. Read-only; no JavaScript; the stylesheet is inlined, so it works
//! offline. Every listing shows at most [`PAGE_SIZE`] rows per page.
//!
//! When the server has auth tokens, a page needs one of: `Authorization: Bearer TOKEN`, the
//! `esteira_ui_token` cookie, or `?token=TOKEN` once, which sets that cookie (HttpOnly,
//! SameSite=Strict) and redirects to the same URL without the token.

mod chart;
mod html;
mod models;
mod monitors;
mod pipelines;
mod serving;
mod tracking;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use esteira_core::ErrorCode;

use crate::{ApiError, AppState, constant_time_eq};

/// Rows per page in every listing.
pub const PAGE_SIZE: usize = 50;

/// The highest page number of listings paged by number (the store returns their newest
/// rows up to a limit, so page N reads N × 50 rows).
pub const MAX_PAGE: usize = 200;

/// The cookie that carries the token after `?token=`.
const TOKEN_COOKIE: &str = "esteira_ui_token";

/// The UI's routes, each behind [`require_token`], and `/` redirecting to `/ui/`.
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/ui/", get(tracking::experiments))
        .route("/ui/experiments", get(tracking::experiments))
        .route("/ui/experiments/{id}", get(tracking::runs))
        .route("/ui/runs/{id}", get(tracking::run))
        .route("/ui/compare", get(tracking::compare))
        .route("/ui/models", get(models::models))
        .route("/ui/models/{name}", get(models::model))
        .route("/ui/lineage", get(models::lineage))
        .route("/ui/pipelines", get(pipelines::pipelines))
        .route("/ui/pipelines/{name}", get(pipelines::pipeline))
        .route("/ui/pipeline-runs/{id}", get(pipelines::run))
        .route("/ui/endpoints", get(serving::endpoints))
        .route("/ui/monitors", get(monitors::monitors))
        .route("/ui/monitors/{name}", get(monitors::monitor))
        .route("/ui/decisions", get(monitors::decisions))
        .route("/ui/{*rest}", get(not_found))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token))
        .route("/", get(|| async { Redirect::to("/ui/") }))
}

/// A page that could not be rendered: its HTTP status and what went wrong, shown as an
/// HTML page.
#[derive(Debug)]
pub struct UiError {
    status: StatusCode,
    message: String,
}

impl UiError {
    /// A 400 naming the problem.
    fn bad_request(message: impl Into<String>) -> Self {
        UiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

/// What a page handler returns.
type UiResult = Result<Html<String>, UiError>;

impl<E: Into<ApiError>> From<E> for UiError {
    fn from(e: E) -> Self {
        let e: ApiError = e.into();
        if e.code == ErrorCode::InternalError {
            tracing::error!(message = %e.message, "A UI page failed with an internal error.");
        }
        UiError {
            status: crate::status(e.code),
            message: e.message,
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let title = format!(
            "{} {}",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or("Error")
        );
        let body = format!(
            "<div class=\"error-box\"><p>{}</p></div><p><a href=\"/ui/\">Back to the start</a></p>",
            html::escape(&self.message)
        );
        (self.status, html::page("", &title, &body)).into_response()
    }
}

async fn not_found(req: Request) -> UiError {
    UiError {
        status: StatusCode::NOT_FOUND,
        message: format!("There is no page at {}.", req.uri().path()),
    }
}

/// A page's query string, pair by pair.
pub struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, `""` when absent.
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// Every non-empty value of `name`, in order.
    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The `page` number (1 when absent).
    ///
    /// # Errors
    /// 400 for a value that is not a whole number in `1..=MAX_PAGE`.
    fn page(&self) -> Result<usize, UiError> {
        let text = self.get("page");
        if text.is_empty() {
            return Ok(1);
        }
        match text.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(UiError::bad_request(format!(
                "Invalid value {text:?} for 'page': it must be a whole number from 1 to {MAX_PAGE}."
            ))),
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Params {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Params::parse(parts.uri.query()))
    }
}

/// Rows `(page − 1) × 50 ..` of `newest_first` (already read up to `page × 50 + 1` rows), and
/// whether there is a next page.
fn page_of<T>(mut newest_first: Vec<T>, page: usize) -> (Vec<T>, bool) {
    let has_next = newest_first.len() > page * PAGE_SIZE;
    newest_first.truncate(page * PAGE_SIZE);
    let rows = newest_first.split_off(((page - 1) * PAGE_SIZE).min(newest_first.len()));
    (rows, has_next)
}

/// The token a request presents: the bearer header, else the cookie.
fn presented_token(req: &Request) -> Option<String> {
    let headers = req.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == TOKEN_COOKIE)
            .map(|(_, value)| {
                form_urlencoded::parse(format!("t={value}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            })
    })
}

/// Lets a request through when no tokens are configured or it presents a valid one;
/// trades a valid `?token=` for the cookie; answers 401 with a token form otherwise.
async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(tokens) = &state.auth_tokens else {
        return next.run(req).await;
    };
    let valid = |t: &str| {
        tokens
            .iter()
            .any(|k| constant_time_eq(k.as_bytes(), t.as_bytes()))
    };
    let params = Params::parse(req.uri().query());
    let in_query = params.get("token");
    if !in_query.is_empty() {
        if !valid(in_query) {
            return login_page("The token is not valid.");
        }
        return token_to_cookie(&req, &params, in_query);
    }
    match presented_token(&req) {
        Some(t) if valid(&t) => next.run(req).await,
        Some(_) => login_page("The token is not valid."),
        None => login_page("This server requires a token."),
    }
}

/// A 303 to the same URL without `token`, setting the cookie.
fn token_to_cookie(req: &Request, params: &Params, token: &str) -> Response {
    let rest: Vec<(&str, &str)> = params
        .0
        .iter()
        .filter(|(k, _)| k != "token")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let target = format!("{}{}", req.uri().path(), html::query(&rest));
    let cookie = format!(
        "{TOKEN_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        html::enc(token)
    );
    let mut response = Redirect::to(&target).into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            response.headers_mut().insert(header::SET_COOKIE, v);
            response
        }
        Err(_) => login_page("The token cannot be stored in a cookie."),
    }
}

fn login_page(problem: &str) -> Response {
    let body = format!(
        "<div class=\"error-box\"><p>{}</p></div>\
         <form class=\"bar\" method=\"get\"><label>Token <input type=\"password\" name=\"token\" autocomplete=\"off\"></label>\
         <input type=\"submit\" value=\"Open\"></form>\
         <p class=\"muted\">The token is kept in an HttpOnly cookie for this browser session.</p>",
        html::escape(problem)
    );
    let mut response = (
        StatusCode::UNAUTHORIZED,
        html::page("", "Authentication required", &body),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_by_number_from_the_newest_rows() {
        let rows: Vec<usize> = (0..120).collect();
        let (first, more) = page_of(rows.clone(), 1);
        assert_eq!((first.len(), first[0], more), (50, 0, true));
        let (third, more) = page_of(rows, 3);
        assert_eq!((third.len(), third[0], more), (20, 100, false));
        let (empty, more) = page_of(vec![1, 2], 2);
        assert!(empty.is_empty() && !more);
    }
}
