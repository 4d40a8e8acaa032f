//! JSON replies serialized straight from the entities into the response body (no
//! intermediate `serde_json::Value`, which costs an allocation per field).

use axum::Json;
use axum::response::{IntoResponse, Response};
use esteira_store::Page;
use serde::Serialize;
use serde::ser::SerializeMap;

struct One<'a, T>(&'static str, &'a T);

impl<T: Serialize> Serialize for One<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

struct Paged<'a, T>(&'static str, &'a Page<T>);

impl<T: Serialize> Serialize for Paged<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(self.0, &self.1.items)?;
        if let Some(token) = &self.1.next_page_token {
            map.serialize_entry("next_page_token", token)?;
        }
        map.end()
    }
}

/// `{"<field>": value}`.
pub(crate) fn one<T: Serialize>(field: &'static str, value: T) -> Response {
    Json(One(field, &value)).into_response()
}

/// `{"<field>": [items], "next_page_token": "..."}`, the token only when there is a next page.
pub(crate) fn page<T: Serialize>(field: &'static str, page: Page<T>) -> Response {
    Json(Paged(field, &page)).into_response()
}
