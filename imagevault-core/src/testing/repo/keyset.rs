//! The keyset list harness: pages from every anchor, in both directions, with every limit,
//! compared with [`KeysetQuery::select`](crate::page::KeysetQuery::select).

use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;
use uuid::Uuid;

use crate::page::{Direction, Keyset, KeysetQuery};
use crate::repo::RepoError;

use super::fixtures::micros;

/// Whether a list holds only the check's rows or other rows too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// The list (one owner's) holds exactly the check's rows: pages are compared exactly.
    Own,
    /// The list (all plans, all users) holds other rows too, none of them between the
    /// check's rows: only the check's rows and their order are compared.
    Shared,
}

/// Anchors to query from: every item, positions just before and after every item's time
/// (on ties the id decides) and positions beyond both ends.
pub(super) fn anchors(newest_first: &[Keyset]) -> Vec<Keyset> {
    let (lowest, highest) = (Uuid::nil(), Uuid::from_u128(u128::MAX));
    let mut anchors = newest_first.to_vec();
    for position in newest_first {
        anchors.push(Keyset {
            created_at: position.created_at,
            id: lowest,
        });
        anchors.push(Keyset {
            created_at: position.created_at,
            id: highest,
        });
    }
    if let (Some(newest), Some(oldest)) = (newest_first.first(), newest_first.last()) {
        anchors.push(Keyset {
            created_at: micros(newest.created_at, 1),
            id: lowest,
        });
        anchors.push(Keyset {
            created_at: micros(oldest.created_at, -1),
            id: highest,
        });
    }
    anchors.sort_unstable();
    anchors.dedup();
    anchors
}

/// Asks `fetch` for pages from every anchor of [`anchors`] in both directions with every
/// limit up to one more than the check's rows, and from the start, and compares each
/// page with [`KeysetQuery::select`] applied to `ours`.
pub(super) async fn check_keyset_list<T, F, Fut>(
    list: &str,
    scope: Scope,
    ours: &[T],
    position: fn(&T) -> Keyset,
    fetch: F,
) where
    T: Clone + Debug + PartialEq,
    F: Fn(KeysetQuery) -> Fut,
    Fut: Future<Output = Result<Vec<T>, RepoError>>,
{
    let mut newest_first = ours.to_vec();
    newest_first.sort_by_key(|item| std::cmp::Reverse(position(item)));
    let positions: Vec<Keyset> = newest_first.iter().map(position).collect();
    let most = newest_first.len() + 1;
    let mut queries: Vec<KeysetQuery> = (1..=most)
        .map(|limit| KeysetQuery {
            anchor: None,
            limit,
        })
        .collect();
    if scope == Scope::Own {
        queries.push(KeysetQuery::first(1000));
    }
    for anchor in anchors(&positions) {
        for direction in [Direction::Older, Direction::Newer] {
            for limit in 1..=most {
                queries.push(KeysetQuery {
                    anchor: Some((anchor, direction)),
                    limit,
                });
            }
        }
    }
    for query in queries {
        let page = fetch(query)
            .await
            .unwrap_or_else(|error| panic!("{list} failed for {query:?}: {error:?}"));
        check_page(
            list,
            scope,
            &query,
            &page,
            &newest_first,
            &positions,
            position,
        );
    }
}

/// Checks one page of [`check_keyset_list`].
pub(super) fn check_page<T: Clone + Debug + PartialEq>(
    list: &str,
    scope: Scope,
    query: &KeysetQuery,
    page: &[T],
    ours: &[T],
    our_positions: &[Keyset],
    position: fn(&T) -> Keyset,
) {
    let got: Vec<Keyset> = page.iter().map(position).collect();
    assert!(
        page.len() <= query.limit,
        "{list} returned more than `limit` items for {query:?}"
    );
    assert!(
        got.windows(2).all(|pair| pair[0] > pair[1]),
        "{list} must return items newest first by (created_at, id), without repeats, for {query:?}: {got:?}"
    );
    assert!(
        got.iter().all(|item| query.admits(item)),
        "{list} returned items not strictly on the anchor's side for {query:?}: {got:?}"
    );
    let expected = query.select(ours, position);
    match scope {
        Scope::Own => {
            assert_eq!(
                page, expected,
                "{list} must return exactly the nearest `limit` items for {query:?}"
            );
        }
        Scope::Shared => {
            let ours_set: HashSet<Keyset> = our_positions.iter().copied().collect();
            let mine: Vec<T> = page
                .iter()
                .filter(|item| ours_set.contains(&position(item)))
                .cloned()
                .collect();
            match query.anchor {
                None => {
                    let first = got
                        .first()
                        .expect("a list that holds the check's rows returned nothing");
                    assert!(
                        *first >= our_positions[0],
                        "{list} must start at the newest item; {first:?} is older than {:?}",
                        our_positions[0]
                    );
                    assert_eq!(
                        mine,
                        ours[..mine.len()],
                        "{list} from the start must list the check's rows newest first without gaps"
                    );
                    if page.len() < query.limit {
                        assert_eq!(
                            mine, ours,
                            "{list} ended before all of the check's rows for {query:?}"
                        );
                    }
                }
                Some((_, Direction::Older)) => {
                    assert!(
                        page.len() >= expected.len() && page[..expected.len()] == expected[..],
                        "{list} must start an older page with the nearest older items for {query:?}: \
                         expected {expected:?} first, got {page:?}"
                    );
                    assert_eq!(
                        mine.len(),
                        expected.len(),
                        "{list} repeated or skipped items for {query:?}"
                    );
                }
                Some((_, Direction::Newer)) => {
                    let start = page.len().saturating_sub(expected.len());
                    assert!(
                        page.len() >= expected.len() && page[start..] == expected[..],
                        "{list} must end a newer page with the nearest newer items for {query:?}: \
                         expected {expected:?} last, got {page:?}"
                    );
                    assert_eq!(
                        mine.len(),
                        expected.len(),
                        "{list} repeated or skipped items for {query:?}"
                    );
                }
            }
        }
    }
}
