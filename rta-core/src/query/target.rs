//! What a query is evaluated against.

use std::borrow::Cow;

use serde_json::Value as Json;

use super::path::*;

/// Something a query can be evaluated against: it hands out property values
/// by path, as JSON (`None` when the property is absent).
///
/// Implemented for a session's JSON (`serde_json::Value` or its object map),
/// so the simplest way to filter a model type is to serialize it first.
pub trait QueryTarget {
    /// The value at `path`, or `None` if there is none.
    fn value(&self, path: &Path) -> Option<Cow<'_, Json>>;
}

impl QueryTarget for serde_json::Map<String, Json> {
    fn value(&self, path: &Path) -> Option<Cow<'_, Json>> {
        let found = match path {
            Path::Property(name) => self.get(name).or_else(|| {
                // A dotted name that is not a top-level key: walk the objects.
                let mut parts = name.split('.');
                let first = self.get(parts.next()?)?;
                parts.try_fold(first, |v, p| v.get(p))
            }),
            Path::Detail(key) => self.get("details").and_then(|d| d.get(key)),
            Path::ExtDetail { group, key } => self
                .get("extDetails")
                .and_then(|x| x.get(group))
                .and_then(|g| g.get(key)),
        };
        found.map(Cow::Borrowed)
    }
}

impl QueryTarget for Json {
    fn value(&self, path: &Path) -> Option<Cow<'_, Json>> {
        match self {
            Json::Object(m) => m.value(path),
            _ => None,
        }
    }
}

impl<T: QueryTarget + ?Sized> QueryTarget for &T {
    fn value(&self, path: &Path) -> Option<Cow<'_, Json>> {
        (**self).value(path)
    }
}
