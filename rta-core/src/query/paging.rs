//! Paging of the session list.

use std::ops::Range;

use super::errors::query_err;
use crate::Result;

/// A page of the session list: `pageIndex` (from 0) and `pageSize`.
///
/// ```
/// use rta_core::query::Paging;
/// let p = Paging::from_params(Some("2"), Some("10")).unwrap();
/// assert_eq!(p.offset(), 20);
/// assert_eq!(p.range(25), 20..25);
/// assert!(Paging::from_params(Some("-1"), None).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Paging {
    /// 0-based page number.
    pub page_index: u32,
    /// Sessions per page; 0 gives empty pages.
    pub page_size: u32,
}

impl Default for Paging {
    fn default() -> Self {
        Paging {
            page_index: 0,
            page_size: Paging::DEFAULT_PAGE_SIZE,
        }
    }
}

impl Paging {
    /// Page size used when a request gives none (the spec leaves it to the
    /// implementation).
    pub const DEFAULT_PAGE_SIZE: u32 = 100;

    /// Validates signed values as received: negative or above `u32::MAX` is
    /// [`Error::Query`].
    pub fn new(page_index: i64, page_size: i64) -> Result<Paging> {
        let check = |name: &str, v: i64| {
            u32::try_from(v).map_err(|_| {
                query_err(if v < 0 {
                    format!("{name} must not be negative, got {v}")
                } else {
                    format!("{name} {v} is too large")
                })
            })
        };
        Ok(Paging {
            page_index: check("pageIndex", page_index)?,
            page_size: check("pageSize", page_size)?,
        })
    }

    /// Reads the `pageIndex` and `pageSize` arguments of a request (absent:
    /// 0 and [`Paging::DEFAULT_PAGE_SIZE`]).
    pub fn from_params(page_index: Option<&str>, page_size: Option<&str>) -> Result<Paging> {
        let num = |name: &str, v: Option<&str>, default: u32| -> Result<i64> {
            match v.map(str::trim) {
                None | Some("") => Ok(i64::from(default)),
                Some(s) => s
                    .parse::<i64>()
                    .map_err(|_| query_err(format!("{name} must be an integer, got {s:?}"))),
            }
        };
        Paging::new(
            num("pageIndex", page_index, 0)?,
            num("pageSize", page_size, Paging::DEFAULT_PAGE_SIZE)?,
        )
    }

    /// Number of items before the page.
    pub fn offset(&self) -> u64 {
        u64::from(self.page_index) * u64::from(self.page_size)
    }

    /// Index range of the page within `total` items (empty past the end).
    pub fn range(&self, total: usize) -> Range<usize> {
        let start = usize::try_from(self.offset())
            .unwrap_or(usize::MAX)
            .min(total);
        let end = start
            .saturating_add(usize::try_from(self.page_size).unwrap_or(usize::MAX))
            .min(total);
        start..end
    }

    /// The page's slice of `items`.
    pub fn page<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        &items[self.range(items.len())]
    }
}
