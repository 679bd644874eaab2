//! Cursor pagination on the HTTP side: `?limit=` and `?cursor=` in, absolute `next` and
//! `previous` URLs out, with the request's other filters carried along.

use imagevault_core::page::{Cursor, ListKind};
use imagevault_core::{Page, PageLimit, PageRequest};

use crate::AppState;
use crate::error::{ApiError, FieldErrors};
use crate::schema::{PageBody, PageLimitParam};

/// The paging parameters of every list, for the OpenAPI document.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct PageParams {
    /// Items per page, from `minimum` to `maximum`; `default` when absent.
    #[param(value_type = Option<PageLimitParam>, inline)]
    limit: Option<u32>,
    /// Taken from a page's `next` or `previous`.
    cursor: Option<String>,
}

/// The query string of a list request, as name/value pairs in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct ListQuery {
    pairs: Vec<(String, String)>,
}

impl ListQuery {
    /// Parses a raw query string.
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        Self {
            pairs: raw
                .map(|raw| {
                    form_urlencoded::parse(raw.as_bytes())
                        .map(|(name, value)| (name.into_owned(), value.into_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The last value of `name`, as Django's `QueryDict.get` returns it.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The page asked for, checking `limit` and `cursor` together.
    pub(crate) fn page_request(&self, kind: ListKind) -> Result<PageRequest, ApiError> {
        let mut errors = FieldErrors::default();
        let limit = match self.get("limit") {
            None | Some("") => PageLimit::default(),
            Some(text) => match text.trim().parse::<i64>() {
                Ok(number) => PageLimit::new(number).unwrap_or_else(|error| {
                    errors.add_validation(error);
                    PageLimit::default()
                }),
                Err(_) => {
                    errors.add(
                        "limit",
                        format!(
                            "A valid integer is required: between 1 and {}.",
                            PageLimit::MAX
                        ),
                    );
                    PageLimit::default()
                }
            },
        };
        let cursor = match self.get("cursor") {
            None | Some("") => None,
            Some(text) => Cursor::decode(text, kind)
                .map_err(|error| errors.add_validation(error))
                .ok(),
        };
        errors.into_result()?;
        Ok(PageRequest { limit, cursor })
    }

    /// The absolute URL of the same list at `cursor`.
    fn url_at(&self, state: &AppState, path: &str, cursor: &Cursor) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.pairs {
            if name != "cursor" {
                query.append_pair(name, value);
            }
        }
        query.append_pair("cursor", &cursor.encode());
        format!("{}?{}", state.absolute(path), query.finish())
    }

    /// The response body for `page` of the list at `path`.
    pub(crate) fn body<T, U>(
        &self,
        state: &AppState,
        path: &str,
        page: Page<T>,
        convert: impl FnMut(T) -> U,
    ) -> PageBody<U> {
        PageBody {
            next: page
                .next
                .as_ref()
                .map(|cursor| self.url_at(state, path, cursor)),
            previous: page
                .previous
                .as_ref()
                .map(|cursor| self.url_at(state, path, cursor)),
            results: page.items.into_iter().map(convert).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors_are_checked_together() {
        let query = ListQuery::parse(Some("limit=0&cursor=nonsense"));
        let error = query.page_request(ListKind::Images).unwrap_err();
        let body = serde_json::to_value(error.body()).unwrap();
        assert!(
            body["limit"][0]
                .as_str()
                .unwrap()
                .contains("between 1 and 100")
        );
        assert!(
            body["cursor"][0]
                .as_str()
                .unwrap()
                .contains("Invalid cursor")
        );

        let query = ListQuery::parse(Some("limit=abc"));
        assert!(query.page_request(ListKind::Images).is_err());
        let query = ListQuery::parse(Some("limit=100"));
        assert_eq!(
            query.page_request(ListKind::Images).unwrap().limit.get(),
            100
        );
        let query = ListQuery::parse(None);
        assert_eq!(
            query.page_request(ListKind::Images).unwrap().limit.get(),
            20
        );
    }

    #[test]
    fn the_last_value_wins() {
        let query = ListQuery::parse(Some("limit=5&limit=7"));
        assert_eq!(query.get("limit"), Some("7"));
    }
}
