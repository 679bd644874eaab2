//! Request bodies for the JSON endpoints: JSON, URL-encoded forms or multipart forms, as
//! DRF's default parsers accept, read into one field map and checked field by field so
//! that every wrong field is reported at once.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::AppState;
use crate::error::{ApiError, FieldErrors};

/// The most bytes a JSON or form body of these endpoints may have; they carry a few short
/// fields, so anything larger is a mistake or an attack.
const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

const REQUIRED: &str = "This field is required.";
const NOT_NULL: &str = "This field may not be null.";

/// The fields of a request body.
#[derive(Debug, Default)]
pub(crate) struct Payload {
    pub(crate) fields: Map<String, Value>,
    /// Whether the body was a form, whose fields are text and whose lists are repeated
    /// fields, rather than JSON, whose values carry their own types.
    pub(crate) form: bool,
}

impl Payload {
    fn json(fields: Map<String, Value>) -> Self {
        Self {
            fields,
            form: false,
        }
    }

    fn form(fields: Map<String, Value>) -> Self {
        Self { fields, form: true }
    }
}

impl FromRequest<AppState> for Payload {
    type Rejection = ApiError;

    async fn from_request(request: Request<Body>, state: &AppState) -> Result<Self, ApiError> {
        let (content_type, essence) = content_type(request.headers());
        if essence == "multipart/form-data" {
            return read_multipart(request, state).await;
        }
        let bytes = axum::body::to_bytes(request.into_body(), MAX_PAYLOAD_BYTES)
            .await
            .map_err(|_| {
                ApiError::detail(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("The request body is larger than {MAX_PAYLOAD_BYTES} bytes."),
                )
            })?;
        if bytes.is_empty() {
            return Ok(Self::default());
        }
        if essence == "application/json" || essence.ends_with("+json") {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => Ok(Self::json(map)),
                Ok(_) => Err(ApiError::field(
                    "non_field_errors",
                    "Invalid data. Expected a dictionary (a JSON object).",
                )),
                Err(error) => Err(ApiError::detail(
                    StatusCode::BAD_REQUEST,
                    format!("JSON parse error - {error}"),
                )),
            }
        } else if essence == "application/x-www-form-urlencoded" {
            Ok(Self::form(collect_pairs(
                form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())),
            )))
        } else {
            Err(unsupported_media_type(&content_type))
        }
    }
}

/// The `Content-Type` as sent, and its lowercase media type without parameters.
pub(crate) fn content_type(headers: &HeaderMap) -> (String, String) {
    let sent = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = sent
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    (sent.to_owned(), essence)
}

pub(crate) fn unsupported_media_type(content_type: &str) -> ApiError {
    ApiError::detail(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "Unsupported media type \"{content_type}\" in request; send application/json, application/x-www-form-urlencoded or multipart/form-data."
        ),
    )
}

async fn read_multipart(request: Request<Body>, state: &AppState) -> Result<Payload, ApiError> {
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|rejection| ApiError::detail(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let mut pairs = Vec::new();
    let mut total = 0usize;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let text = field.text().await.map_err(multipart_error)?;
        total += text.len();
        if total > MAX_PAYLOAD_BYTES {
            return Err(ApiError::detail(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The request body is larger than {MAX_PAYLOAD_BYTES} bytes."),
            ));
        }
        pairs.push((name, text));
    }
    Ok(Payload::form(collect_pairs(pairs)))
}

pub(crate) fn multipart_error(error: axum::extract::multipart::MultipartError) -> ApiError {
    let status = error.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::detail(status, "The request body is too large.");
    }
    ApiError::detail(
        StatusCode::BAD_REQUEST,
        format!("Multipart form parse error - {}", error.body_text()),
    )
}

/// Form fields as a JSON object: a name given once is a string, a repeated name a list.
fn collect_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, value) in pairs {
        match map.get_mut(&name) {
            Some(Value::Array(items)) => items.push(Value::String(value)),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(value)]);
            }
            None => {
                map.insert(name, Value::String(value));
            }
        }
    }
    map
}

/// Reads typed fields out of a [`Payload`], collecting every error.
#[derive(Debug)]
pub(crate) struct Fields {
    map: Map<String, Value>,
    errors: FieldErrors,
    /// Whether the fields came from a form (see [`Payload::form`]).
    form: bool,
    /// Whether absent fields are fine (`PATCH`).
    partial: bool,
}

impl Fields {
    /// Fields of a full write (`POST`, `PUT`): required fields must be present.
    pub(crate) fn full(payload: Payload) -> Self {
        Self {
            map: payload.fields,
            errors: FieldErrors::default(),
            form: payload.form,
            partial: false,
        }
    }

    /// Fields of a partial update (`PATCH`): every field is optional.
    pub(crate) fn partial(payload: Payload) -> Self {
        Self {
            partial: true,
            ..Self::full(payload)
        }
    }

    /// Records an error against a field.
    pub(crate) fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.add(field, message);
    }

    /// Whether the body has `field` at all.
    pub(crate) fn has(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    fn take(&mut self, field: &str, required: bool) -> Option<Value> {
        match self.map.remove(field) {
            Some(Value::Null) => {
                self.error(field, NOT_NULL);
                None
            }
            Some(value) => Some(value),
            None => {
                if required && !self.partial {
                    self.error(field, REQUIRED);
                }
                None
            }
        }
    }

    /// A text field; numbers are taken as their text, as DRF's `CharField` does.
    pub(crate) fn string(&mut self, field: &str, required: bool) -> Option<String> {
        match self.take(field, required)? {
            Value::String(text) => Some(text),
            Value::Number(number) => Some(number.to_string()),
            _ => {
                self.error(field, "Not a valid string.");
                None
            }
        }
    }

    /// A text field that may be null: `Some(None)` for null, `None` when absent or wrong.
    pub(crate) fn nullable_string(&mut self, field: &str) -> Option<Option<String>> {
        match self.map.remove(field)? {
            Value::Null => Some(None),
            Value::String(text) => Some(Some(text)),
            _ => {
                self.error(field, "Not a valid string.");
                None
            }
        }
    }

    /// A field that may be null: `None` when absent, `Some(None)` for null or blank text
    /// (a form's empty input), else `Some(Some(value))` for the caller to read.
    pub(crate) fn nullable_value(&mut self, field: &str) -> Option<Option<Value>> {
        match self.map.remove(field)? {
            Value::Null => Some(None),
            Value::String(text) if text.trim().is_empty() => Some(None),
            value => Some(Some(value)),
        }
    }

    /// An integer field (a JSON integer or a string of digits); other values get `invalid`
    /// as their message.
    pub(crate) fn integer_or(&mut self, field: &str, required: bool, invalid: &str) -> Option<i64> {
        let value = self.take(field, required)?;
        let parsed = parse_integer(&value);
        if parsed.is_none() {
            self.error(field, invalid);
        }
        parsed
    }

    /// A boolean field: `true`/`false`, or the strings DRF accepts (`"true"`, `"1"`, `"on"`, ...).
    pub(crate) fn boolean(&mut self, field: &str, required: bool) -> Option<bool> {
        let value = self.take(field, required)?;
        let parsed = match &value {
            Value::Bool(flag) => Some(*flag),
            Value::Number(number) => match number.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "y" | "t" => Some(true),
                "false" | "0" | "no" | "off" | "n" | "f" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.error(field, "Must be a valid boolean.");
        }
        parsed
    }

    /// A list of integers, as DRF's `ListField(child=IntegerField())` reads one: a JSON
    /// array, or in a form the field's values (a repeated field, or one value for a list of
    /// one). Anything else in JSON (a string, a number, an object) is not a list.
    pub(crate) fn integer_list(&mut self, field: &str, required: bool) -> Option<Vec<i64>> {
        let value = self.take(field, required)?;
        let items: Vec<Value> = match value {
            Value::Array(items) => items,
            single @ Value::String(_) if self.form => vec![single],
            other => {
                self.error(
                    field,
                    format!(
                        "Expected a list of items but got type \"{}\".",
                        python_type(&other)
                    ),
                );
                return None;
            }
        };
        let mut numbers = Vec::with_capacity(items.len());
        for item in &items {
            match parse_integer(item) {
                Some(number) => numbers.push(number),
                None => {
                    self.error(field, "A valid integer is required for every item.");
                    return None;
                }
            }
        }
        Some(numbers)
    }

    /// A list of strings, read as [`Self::integer_list`] reads integers: a JSON array, or
    /// in a form the field's values.
    pub(crate) fn string_list(&mut self, field: &str, required: bool) -> Option<Vec<String>> {
        let value = self.take(field, required)?;
        let items: Vec<Value> = match value {
            Value::Array(items) => items,
            single @ Value::String(_) if self.form => vec![single],
            other => {
                self.error(
                    field,
                    format!(
                        "Expected a list of items but got type \"{}\".",
                        python_type(&other)
                    ),
                );
                return None;
            }
        };
        let mut texts = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::String(text) => texts.push(text),
                _ => {
                    self.error(field, "Not a valid string.");
                    return None;
                }
            }
        }
        Some(texts)
    }

    /// Whether no error was recorded so far.
    pub(crate) fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    /// The collected errors as a 400, or `Ok`.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        self.errors.into_result()
    }
}

/// The name DRF's messages give the type of a parsed JSON value (Python's type names).
fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(number) if number.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// The integer a field's value holds: a JSON integer (or a float without fraction) or a
/// string of digits, as integer fields read it.
pub(crate) fn parse_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                .map(|f| f as i64)
        }),
        Value::String(text) => {
            let text = text.trim();
            let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            text.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const INVALID: &str = "A valid integer is required.";

    fn fields(value: Value) -> Fields {
        match value {
            Value::Object(map) => Fields::full(Payload::json(map)),
            _ => unreachable!("test payloads are objects"),
        }
    }

    #[test]
    fn integers_accept_numbers_and_digit_strings() {
        let mut f = fields(
            json!({"a": 300, "b": "300", "c": " 42 ", "d": "3e2", "e": 3.5, "g": "", "h": 300.0}),
        );
        assert_eq!(f.integer_or("a", true, INVALID), Some(300));
        assert_eq!(f.integer_or("b", true, INVALID), Some(300));
        assert_eq!(f.integer_or("c", true, INVALID), Some(42));
        assert_eq!(f.integer_or("d", true, INVALID), None);
        assert_eq!(f.integer_or("e", true, INVALID), None);
        assert_eq!(f.integer_or("g", true, INVALID), None);
        assert_eq!(f.integer_or("h", true, INVALID), Some(300));
        let error = f.finish().unwrap_err();
        let body = serde_json::to_value(error.body()).unwrap();
        assert_eq!(body["d"], json!(["A valid integer is required."]));
        assert_eq!(body.as_object().unwrap().len(), 3);
    }

    #[test]
    fn missing_and_null_fields_are_reported_together() {
        let mut f = fields(json!({"b": null}));
        assert_eq!(f.string("a", true), None);
        assert_eq!(f.string("b", true), None);
        let body = serde_json::to_value(f.finish().unwrap_err().body()).unwrap();
        assert_eq!(
            body,
            json!({"a": ["This field is required."], "b": ["This field may not be null."]})
        );
    }

    #[test]
    fn partial_updates_need_nothing() {
        let mut f = Fields::partial(Payload::default());
        assert_eq!(f.integer_or("expiry_in_seconds", true, INVALID), None);
        assert!(f.finish().is_ok());
    }

    #[test]
    fn booleans_and_lists_parse_like_drf() {
        let mut f = fields(
            json!({"a": "on", "b": false, "c": "maybe", "d": [200, "400"], "e": "200, 400", "f": [1, "x"]}),
        );
        assert_eq!(f.boolean("a", true), Some(true));
        assert_eq!(f.boolean("b", true), Some(false));
        assert_eq!(f.boolean("c", true), None);
        assert_eq!(f.integer_list("d", true), Some(vec![200, 400]));
        assert_eq!(f.integer_list("e", true), None);
        assert_eq!(f.integer_list("f", true), None);
        assert!(!f.is_clean());
    }

    #[test]
    fn only_a_json_array_is_a_list() {
        let mut f = fields(json!({"s": "200", "n": 200, "o": {"a": 1}, "f": 2.5, "b": true}));
        for field in ["s", "n", "o", "f", "b"] {
            assert_eq!(f.integer_list(field, true), None, "{field}");
        }
        let body = serde_json::to_value(f.finish().unwrap_err().body()).unwrap();
        for (field, kind) in [
            ("s", "str"),
            ("n", "int"),
            ("o", "dict"),
            ("f", "float"),
            ("b", "bool"),
        ] {
            assert_eq!(
                body[field],
                json!([format!("Expected a list of items but got type \"{kind}\".")])
            );
        }
    }

    #[test]
    fn a_form_field_given_once_is_a_list_of_one() {
        let mut f = Fields::full(Payload::form(collect_pairs([
            ("one".to_owned(), "200".to_owned()),
            ("joined".to_owned(), "200,400".to_owned()),
        ])));
        assert_eq!(f.integer_list("one", true), Some(vec![200]));
        assert_eq!(f.integer_list("joined", true), None);
    }

    #[test]
    fn repeated_form_fields_become_lists() {
        let map = collect_pairs([
            ("h".to_owned(), "1".to_owned()),
            ("h".to_owned(), "2".to_owned()),
            ("h".to_owned(), "3".to_owned()),
            ("n".to_owned(), "x".to_owned()),
        ]);
        assert_eq!(Value::Object(map), json!({"h": ["1", "2", "3"], "n": "x"}));
    }
}
