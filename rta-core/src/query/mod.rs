//! The session query dialect, sort directives and paging of the session list
//! (`GET`/`POST /rta/v2/sessions`, and the gRPC `SessionStore` list call).
//!
//! # Queries
//!
//! A query is a JSON object in a small MongoDB-like dialect (the schema is
//! `query.schema.json`). [`Query::parse`] turns it into an [`Expr`] tree that
//! can be evaluated here ([`Query::matches`]) or transpiled by a store (for
//! example to SQL) by walking the public enums.
//!
//! - Each non-`$` key of an object is a property [`Path`] (`identifier`,
//!   `timestamp`, `details.Driver`, `extDetails.CarSetup.RideHeight`...) and its
//!   value either a literal (shorthand for `$eq`) or a condition object.
//! - Several keys in one object must all match (implicit AND).
//! - Logical operators: `$and`, `$or`, `$nor` take arrays of criteria;
//!   `$not` takes one criteria object (`{"$not": {"type": "test"}}`).
//! - Conditions ([`Operator`]): `$eq $neq $gt $gte $lt $lte` (any literal),
//!   `$startsWith $endsWith $contains` (string operand), `$in $nin` (array of
//!   literals) and `$not` (a nested condition).
//!
//! Leniencies beyond the schema, all with an unambiguous meaning: `$ne` is
//! read as `$neq`; a condition object with several operators means all of them
//! (`{"quality": {"$gte": 0.5, "$lt": 1}}`); `$not` also accepts a bare literal
//! (`{"type": {"$not": "test"}}` is "not equal"); an empty or blank query text
//! matches everything. Anything else unknown (operators, operand types,
//! nested documents, arrays where a literal is due) is an [`Error::Query`].
//! Nesting is limited to [`MAX_DEPTH`] levels.
//!
//! # Comparison semantics
//!
//! These are the rules a store should reproduce when it transpiles a query:
//!
//! - A missing property behaves exactly like `null`.
//! - Numbers compare numerically (integers exactly, integers against floats
//!   without rounding), booleans `false < true`, strings by code point
//!   (case-sensitive).
//! - Two strings that both parse as RFC 3339 date-times compare as instants,
//!   so `2021-01-01T12:00:00+01:00` equals `2021-01-01T11:00:00Z`.
//! - A literal compared with `timestamp`, `startTimestamp` or `endTimestamp`
//!   that starts like a date-time (`YYYY-MM-DDT...`) must be a valid RFC 3339
//!   date-time with an offset: `2021-13-01T00:00:00Z` or a local time without
//!   an offset is an [`Error::Query`], never a silent text comparison. Other
//!   strings (`"2021-01-02"`, `"x"`) keep the text comparison above.
//! - `null` equals only `null`; values of different types (and arrays or
//!   objects) are never equal, greater or less. So `$gte: null` matches null
//!   or missing properties, and `$gt: null` matches nothing.
//! - `$neq` is exactly "not `$eq`", and `$nin` exactly "not `$in`": they match
//!   missing properties. `$not` is the negation of its condition.
//! - Text matches are case-sensitive and only match string properties.
//!
//! ```
//! use rta_core::query::Query;
//! use serde_json::json;
//!
//! let q = Query::parse(r#"{
//!     "identifier": {"$contains": "-20200313-"},
//!     "details.driver": {"$in": ["SAI", "RIC"]}
//! }"#).unwrap();
//!
//! let session = json!({
//!     "identity": "a1",
//!     "identifier": "Run-20200313-05",
//!     "timestamp": "2020-03-13T10:00:00+00:00",
//!     "details": {"driver": "SAI"}
//! });
//! assert!(q.matches(&session));
//! ```
//!
//! # Sorting and paging
//!
//! [`SortOrder::parse`] reads `sort` arguments such as `timestamp:asc` or
//! `details.Engineer:desc`; with none the order is `timestamp` descending.
//! Unknown properties are accepted: a missing value sorts after every present
//! value whatever the direction. [`Paging`] validates `pageIndex`/`pageSize`.

mod ast;
mod errors;
mod paging;
mod path;
mod sort;
mod target;
mod value;

pub use ast::*;
pub use errors::MAX_DEPTH;
pub use paging::*;
pub use path::*;
pub use sort::*;
pub use target::*;
pub use value::*;
