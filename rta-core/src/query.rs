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

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};
use serde_json::Value as Json;

use crate::{Error, Result};

/// Deepest nesting of criteria and `$not` conditions accepted by the parser.
pub const MAX_DEPTH: usize = 64;

fn query_err(msg: impl Into<String>) -> Error {
    Error::Query(msg.into())
}

/// Short name of a JSON value's type, for error messages.
fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------
// Paths

/// A property of the session model named by a query or sort directive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Path {
    /// A top-level property such as `identifier`, `type`, `timestamp`,
    /// `quality`, or any other name the server may know.
    Property(String),
    /// `details.<key>`: an entry of the session's `details`.
    Detail(String),
    /// `extDetails.<group>.<key>`: an entry of an extended details group.
    ExtDetail {
        /// The group name.
        group: String,
        /// The key inside the group.
        key: String,
    },
}

impl Path {
    /// Parses a dotted property path.
    ///
    /// Everything after `details.` is the detail key (it may contain dots);
    /// after `extDetails.` the group runs to the next dot and the rest is the
    /// key. Empty paths, paths starting with `$`, and `details.` or
    /// `extDetails.` paths with an empty group or key are errors.
    ///
    /// ```
    /// use rta_core::query::Path;
    /// assert_eq!(Path::parse("details.Lab Tech").unwrap(), Path::Detail("Lab Tech".into()));
    /// assert_eq!(
    ///     Path::parse("extDetails.CarSetup.RideHeightFront").unwrap(),
    ///     Path::ExtDetail { group: "CarSetup".into(), key: "RideHeightFront".into() }
    /// );
    /// assert_eq!(Path::parse("timestamp").unwrap(), Path::Property("timestamp".into()));
    /// ```
    pub fn parse(text: &str) -> Result<Path> {
        if text.is_empty() {
            return Err(query_err("empty property path"));
        }
        if text.starts_with('$') {
            return Err(query_err(format!(
                "{text:?} is not a property path (paths cannot start with '$')"
            )));
        }
        if let Some(key) = text.strip_prefix("details.") {
            if key.is_empty() {
                return Err(query_err(format!("{text:?} has an empty details key")));
            }
            return Ok(Path::Detail(key.to_owned()));
        }
        if let Some(rest) = text.strip_prefix("extDetails.") {
            return match rest.split_once('.') {
                Some((group, key)) if !group.is_empty() && !key.is_empty() => Ok(Path::ExtDetail {
                    group: group.to_owned(),
                    key: key.to_owned(),
                }),
                _ => Err(query_err(format!(
                    "{text:?} must name a group and a key: extDetails.<group>.<key>"
                ))),
            };
        }
        Ok(Path::Property(text.to_owned()))
    }

    /// `timestamp`, the default sort property.
    pub fn timestamp() -> Path {
        Path::Property("timestamp".to_owned())
    }

    /// True for the session properties that hold ISO 8601 date-times:
    /// `timestamp`, `startTimestamp` and `endTimestamp`.
    pub fn is_date_time(&self) -> bool {
        matches!(self, Path::Property(p) if p == "timestamp" || p == "startTimestamp" || p == "endTimestamp")
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Property(p) => f.write_str(p),
            Path::Detail(k) => write!(f, "details.{k}"),
            Path::ExtDetail { group, key } => write!(f, "extDetails.{group}.{key}"),
        }
    }
}

impl FromStr for Path {
    type Err = Error;

    fn from_str(s: &str) -> Result<Path> {
        Path::parse(s)
    }
}

// ---------------------------------------------------------------------------
// Values

/// A literal operand of a condition (or a property value being compared).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer that fits `i64`.
    Integer(i64),
    /// Any other number (fractional, or beyond `i64`); never NaN or infinite.
    Number(f64),
    /// A string. Strings in RFC 3339 form are also compared as instants, see
    /// [`Value::as_date_time`].
    String(String),
}

impl Value {
    /// Converts a JSON scalar; arrays and objects give `None`.
    pub fn from_json(v: &Json) -> Option<Value> {
        Some(match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Integer(i),
                None => Value::Number(n.as_f64()?),
            },
            Json::String(s) => Value::String(s.clone()),
            Json::Array(_) | Json::Object(_) => return None,
        })
    }

    /// The JSON form of the value (a non-finite number becomes `null`).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Integer(i) => Json::from(*i),
            Value::Number(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Value::String(s) => Json::String(s.clone()),
        }
    }

    /// The instant denoted by a string value in RFC 3339 form (ISO 8601 with
    /// an offset), keeping its offset.
    pub fn as_date_time(&self) -> Option<DateTime<FixedOffset>> {
        match self {
            Value::String(s) => parse_date_time(s),
            _ => None,
        }
    }

    /// Typed comparison as described in the [module documentation](self):
    /// `None` when the values are of different kinds and so incomparable.
    ///
    /// ```
    /// use rta_core::query::Value;
    /// use std::cmp::Ordering;
    /// let a = Value::String("2021-01-01T12:00:00+01:00".into());
    /// let b = Value::String("2021-01-01T11:00:00Z".into());
    /// assert_eq!(a.compare(&b), Some(Ordering::Equal));
    /// assert_eq!(Value::Integer(2).compare(&Value::Number(2.5)), Some(Ordering::Less));
    /// assert_eq!(Value::Integer(2).compare(&Value::String("2".into())), None);
    /// ```
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Null, Value::Null) => Some(Ordering::Equal),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Value::Integer(a), Value::Integer(b)) => Some(a.cmp(b)),
            (Value::Integer(a), Value::Number(b)) => cmp_int_float(*a, *b),
            (Value::Number(a), Value::Integer(b)) => cmp_int_float(*b, *a).map(Ordering::reverse),
            (Value::Number(a), Value::Number(b)) => a.partial_cmp(b),
            (Value::String(a), Value::String(b)) => {
                match (parse_date_time(a), parse_date_time(b)) {
                    (Some(x), Some(y)) => Some(x.cmp(&y)),
                    _ => Some(a.as_str().cmp(b.as_str())),
                }
            }
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Integer(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Number(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

fn parse_date_time(s: &str) -> Option<DateTime<FixedOffset>> {
    // Cheap pre-check: RFC 3339 starts with four digits and a dash.
    let b = s.as_bytes();
    if b.len() < 20 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// Exact comparison of an integer with a finite float.
fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // 2^63 as f64 is exact.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_63 {
        return Some(Ordering::Greater);
    }
    let whole = f.trunc();
    // In range, so the conversion is exact.
    let t = whole as i64;
    Some(match i.cmp(&t) {
        Ordering::Equal => {
            let frac = f - whole;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    })
}

/// The scalar view of a property value: missing and null are both `Null`;
/// arrays and objects are `None` (never comparable).
fn scalar(actual: Option<&Json>) -> Option<Value> {
    match actual {
        None => Some(Value::Null),
        Some(v) => Value::from_json(v),
    }
}

// ---------------------------------------------------------------------------
// AST

/// A condition operator taking one literal operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `$eq`: equal to.
    Eq,
    /// `$neq`: not equal to (also read from `$ne`).
    Neq,
    /// `$gt`: greater than.
    Gt,
    /// `$gte`: greater than or equal to.
    Gte,
    /// `$lt`: less than.
    Lt,
    /// `$lte`: less than or equal to.
    Lte,
    /// `$startsWith`: string starts with the text.
    StartsWith,
    /// `$endsWith`: string ends with the text.
    EndsWith,
    /// `$contains`: string contains the text.
    Contains,
}

impl Operator {
    /// Every operator, in schema order.
    pub const ALL: [Operator; 9] = [
        Operator::Eq,
        Operator::Gt,
        Operator::Gte,
        Operator::Lt,
        Operator::Lte,
        Operator::Neq,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::Contains,
    ];

    /// The operator's name in the dialect, e.g. `$gte`.
    pub fn name(self) -> &'static str {
        match self {
            Operator::Eq => "$eq",
            Operator::Neq => "$neq",
            Operator::Gt => "$gt",
            Operator::Gte => "$gte",
            Operator::Lt => "$lt",
            Operator::Lte => "$lte",
            Operator::StartsWith => "$startsWith",
            Operator::EndsWith => "$endsWith",
            Operator::Contains => "$contains",
        }
    }

    /// Looks an operator up by name (`$ne` is accepted for `$neq`).
    pub fn from_name(name: &str) -> Option<Operator> {
        if name == "$ne" {
            return Some(Operator::Neq);
        }
        Operator::ALL.into_iter().find(|op| op.name() == name)
    }

    /// True for the text matches, whose operand must be a string.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Operator::StartsWith | Operator::EndsWith | Operator::Contains
        )
    }

    /// Applies the operator to a property value (`None` when missing).
    pub fn eval(self, actual: Option<&Json>, operand: &Value) -> bool {
        if self.is_text() {
            let (Some(Json::String(s)), Value::String(t)) = (actual, operand) else {
                return false;
            };
            return match self {
                Operator::StartsWith => s.starts_with(t.as_str()),
                Operator::EndsWith => s.ends_with(t.as_str()),
                _ => s.contains(t.as_str()),
            };
        }
        if self == Operator::Neq {
            return !Operator::Eq.eval(actual, operand);
        }
        let Some(ord) = scalar(actual).and_then(|a| a.compare(operand)) else {
            return false;
        };
        match self {
            Operator::Eq => ord == Ordering::Equal,
            Operator::Gt => ord == Ordering::Greater,
            Operator::Gte => ord != Ordering::Less,
            Operator::Lt => ord == Ordering::Less,
            Operator::Lte => ord != Ordering::Greater,
            // handled above
            Operator::Neq | Operator::StartsWith | Operator::EndsWith | Operator::Contains => false,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A condition on one property value.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A comparison or text match with one operand.
    Compare {
        /// The operator.
        op: Operator,
        /// Its operand (a string for the text matches).
        value: Value,
    },
    /// `$in`: equal to one of the values.
    In(Vec<Value>),
    /// `$nin`: equal to none of the values.
    Nin(Vec<Value>),
    /// `$not`: the nested condition does not match.
    Not(Box<Condition>),
}

impl Condition {
    /// `$eq` with the given value.
    pub fn eq(value: impl Into<Value>) -> Condition {
        Condition::Compare {
            op: Operator::Eq,
            value: value.into(),
        }
    }

    /// A comparison or text match.
    pub fn compare(op: Operator, value: impl Into<Value>) -> Condition {
        Condition::Compare {
            op,
            value: value.into(),
        }
    }

    /// Evaluates the condition against a property value (`None` when the
    /// property is missing).
    pub fn matches(&self, actual: Option<&Json>) -> bool {
        match self {
            Condition::Compare { op, value } => op.eval(actual, value),
            Condition::In(values) => values.iter().any(|v| Operator::Eq.eval(actual, v)),
            Condition::Nin(values) => !values.iter().any(|v| Operator::Eq.eval(actual, v)),
            Condition::Not(c) => !c.matches(actual),
        }
    }

    /// The JSON form, e.g. `{"$gte": 0.5}`.
    pub fn to_json(&self) -> Json {
        let mut m = serde_json::Map::new();
        match self {
            Condition::Compare { op, value } => {
                m.insert(op.name().to_owned(), value.to_json());
            }
            Condition::In(vs) => {
                m.insert("$in".to_owned(), vs.iter().map(Value::to_json).collect());
            }
            Condition::Nin(vs) => {
                m.insert("$nin".to_owned(), vs.iter().map(Value::to_json).collect());
            }
            Condition::Not(c) => {
                m.insert("$not".to_owned(), c.to_json());
            }
        }
        Json::Object(m)
    }
}

/// A node of the criteria tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All must match (`$and`, or several keys in one object). Empty: true.
    And(Vec<Expr>),
    /// Any must match (`$or`). Empty: false.
    Or(Vec<Expr>),
    /// None may match (`$nor`). Empty: true.
    Nor(Vec<Expr>),
    /// The criteria must not match (`$not` at criteria level).
    Not(Box<Expr>),
    /// A property must meet a condition.
    Property {
        /// The property.
        path: Path,
        /// The condition its value must meet.
        condition: Condition,
    },
}

impl Expr {
    /// A property condition.
    pub fn property(path: Path, condition: Condition) -> Expr {
        Expr::Property { path, condition }
    }

    /// Evaluates the criteria against a target.
    pub fn matches<T: QueryTarget + ?Sized>(&self, target: &T) -> bool {
        match self {
            Expr::And(es) => es.iter().all(|e| e.matches(target)),
            Expr::Or(es) => es.iter().any(|e| e.matches(target)),
            Expr::Nor(es) => !es.iter().any(|e| e.matches(target)),
            Expr::Not(e) => !e.matches(target),
            Expr::Property { path, condition } => {
                let v = target.value(path);
                condition.matches(v.as_deref())
            }
        }
    }

    /// The JSON form: `{"$and": [...]}`, `{"path": {"$op": value}}`...
    pub fn to_json(&self) -> Json {
        let mut m = serde_json::Map::new();
        let list = |es: &[Expr]| Json::Array(es.iter().map(Expr::to_json).collect());
        match self {
            Expr::And(es) => {
                m.insert("$and".to_owned(), list(es));
            }
            Expr::Or(es) => {
                m.insert("$or".to_owned(), list(es));
            }
            Expr::Nor(es) => {
                m.insert("$nor".to_owned(), list(es));
            }
            Expr::Not(e) => {
                m.insert("$not".to_owned(), e.to_json());
            }
            Expr::Property { path, condition } => {
                m.insert(path.to_string(), condition.to_json());
            }
        }
        Json::Object(m)
    }

    /// Calls `f` on every property path the criteria refer to (depth first).
    pub fn visit_paths<'a>(&'a self, f: &mut impl FnMut(&'a Path)) {
        match self {
            Expr::And(es) | Expr::Or(es) | Expr::Nor(es) => {
                es.iter().for_each(|e| e.visit_paths(f));
            }
            Expr::Not(e) => e.visit_paths(f),
            Expr::Property { path, .. } => f(path),
        }
    }
}

/// A parsed session query: the root of the criteria tree.
///
/// ```
/// use rta_core::query::{Condition, Expr, Path, Query};
/// let q = Query::parse(r#"{"type": "foo", "details.thang": "bar"}"#).unwrap();
/// assert_eq!(
///     q.filter,
///     Expr::And(vec![
///         Expr::property(Path::parse("type").unwrap(), Condition::eq("foo")),
///         Expr::property(Path::Detail("thang".into()), Condition::eq("bar")),
///     ])
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The criteria. A query matching everything is `Expr::And(vec![])`.
    pub filter: Expr,
}

impl Default for Query {
    fn default() -> Self {
        Query::all()
    }
}

impl Query {
    /// The query that matches every session (`{}`).
    pub fn all() -> Query {
        Query {
            filter: Expr::And(Vec::new()),
        }
    }

    /// True for a query with no criteria at all.
    pub fn is_all(&self) -> bool {
        matches!(&self.filter, Expr::And(es) if es.is_empty())
    }

    /// Parses query text (JSON). Blank text gives [`Query::all`]; malformed
    /// JSON and anything outside the dialect give [`Error::Query`].
    pub fn parse(text: &str) -> Result<Query> {
        if text.trim().is_empty() {
            return Ok(Query::all());
        }
        let json: Json = serde_json::from_str(text)
            .map_err(|e| query_err(format!("query is not valid JSON: {e}")))?;
        Query::from_json(&json)
    }

    /// Parses a query from a JSON value, which must be an object.
    pub fn from_json(json: &Json) -> Result<Query> {
        Ok(Query {
            filter: parse_criteria(json, 1)?,
        })
    }

    /// The JSON form of the query; parsing it gives back an equal query.
    pub fn to_json(&self) -> Json {
        match &self.filter {
            Expr::And(es) if es.is_empty() => Json::Object(serde_json::Map::new()),
            e => e.to_json(),
        }
    }

    /// True when the target meets the criteria.
    pub fn matches<T: QueryTarget + ?Sized>(&self, target: &T) -> bool {
        self.filter.matches(target)
    }

    /// Every property path the query refers to, in order of appearance.
    pub fn paths(&self) -> Vec<&Path> {
        let mut out = Vec::new();
        self.filter.visit_paths(&mut |p| out.push(p));
        out
    }
}

impl FromStr for Query {
    type Err = Error;

    fn from_str(s: &str) -> Result<Query> {
        Query::parse(s)
    }
}

impl fmt::Display for Query {
    /// Compact JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl serde::Serialize for Query {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.to_json(), s)
    }
}

impl<'de> serde::Deserialize<'de> for Query {
    /// Accepts the query object itself, or a string holding its JSON text.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let json = Json::deserialize(d)?;
        match &json {
            Json::String(text) => Query::parse(text),
            other => Query::from_json(other),
        }
        .map_err(serde::de::Error::custom)
    }
}

fn check_depth(depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        Err(query_err(format!(
            "query is nested more than {MAX_DEPTH} levels deep"
        )))
    } else {
        Ok(())
    }
}

fn parse_criteria(json: &Json, depth: usize) -> Result<Expr> {
    check_depth(depth)?;
    let Json::Object(obj) = json else {
        return Err(query_err(format!(
            "criteria must be a JSON object, found {}",
            json_type(json)
        )));
    };
    let mut exprs = Vec::with_capacity(obj.len());
    for (key, value) in obj {
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let Json::Array(items) = value else {
                    return Err(query_err(format!(
                        "{key} takes an array of criteria, found {}",
                        json_type(value)
                    )));
                };
                let list = items
                    .iter()
                    .map(|item| parse_criteria(item, depth + 1))
                    .collect::<Result<Vec<_>>>()?;
                exprs.push(match key.as_str() {
                    "$and" => Expr::And(list),
                    "$or" => Expr::Or(list),
                    _ => Expr::Nor(list),
                });
            }
            "$not" => exprs.push(Expr::Not(Box::new(parse_criteria(value, depth + 1)?))),
            k if k.starts_with('$') => {
                return Err(query_err(format!(
                    "unknown logical operator {k:?} (expected $and, $or, $nor or $not)"
                )));
            }
            k => {
                let path = Path::parse(k)?;
                for condition in parse_property_value(&path, value, depth)? {
                    exprs.push(Expr::Property {
                        path: path.clone(),
                        condition,
                    });
                }
            }
        }
    }
    Ok(if exprs.len() == 1 {
        exprs.pop().unwrap_or(Expr::And(Vec::new()))
    } else {
        Expr::And(exprs)
    })
}

/// The conditions of one property: a literal, or an object of operators.
fn parse_property_value(path: &Path, value: &Json, depth: usize) -> Result<Vec<Condition>> {
    match value {
        Json::Object(ops) => {
            if ops.is_empty() {
                return Err(query_err(format!("{path}: empty condition object")));
            }
            ops.iter()
                .map(|(name, operand)| parse_operator(path, name, operand, depth))
                .collect()
        }
        Json::Array(_) => Err(query_err(format!(
            "{path}: an array is not a valid value (use $in for a list)"
        ))),
        literal => Ok(vec![Condition::eq(literal_value(path, "$eq", literal)?)]),
    }
}

fn literal_value(path: &Path, op: &str, v: &Json) -> Result<Value> {
    let value = Value::from_json(v).ok_or_else(|| {
        query_err(format!(
            "{path}: {op} takes a string, number, boolean or null, found {}",
            json_type(v)
        ))
    })?;
    if let Value::String(s) = &value {
        // Whatever a session timestamp may be written as is accepted here too.
        if path.is_date_time()
            && looks_like_date_time(s)
            && parse_date_time(s).is_none()
            && crate::time::Timestamp::parse(s).is_err()
        {
            return Err(query_err(format!(
                "{path}: {op} operand {s:?} is not a valid ISO 8601 date-time with an offset \
                 (for example 2021-05-06T18:58:56.20289+01:00)"
            )));
        }
    }
    Ok(value)
}

/// True when `s` starts like a date-time (`YYYY-MM-DDT`), so that a client
/// comparing a date-time property with it means an instant. Such an operand
/// that does not parse is a mistake (bad date, missing offset), not text.
fn looks_like_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() > 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
}

fn parse_operator(path: &Path, name: &str, operand: &Json, depth: usize) -> Result<Condition> {
    match name {
        "$in" | "$nin" => {
            let Json::Array(items) = operand else {
                return Err(query_err(format!(
                    "{path}: {name} takes an array of values, found {}",
                    json_type(operand)
                )));
            };
            let values = items
                .iter()
                .map(|v| literal_value(path, name, v))
                .collect::<Result<Vec<_>>>()?;
            Ok(if name == "$in" {
                Condition::In(values)
            } else {
                Condition::Nin(values)
            })
        }
        "$not" => {
            check_depth(depth + 1)?;
            let inner = match operand {
                Json::Object(ops) if ops.len() == 1 => {
                    let (n, o) = ops.iter().next().ok_or_else(|| query_err("unreachable"))?;
                    parse_operator(path, n, o, depth + 1)?
                }
                Json::Object(ops) => {
                    return Err(query_err(format!(
                        "{path}: $not takes a condition with exactly one operator, found {}",
                        ops.len()
                    )))
                }
                Json::Array(_) => {
                    return Err(query_err(format!(
                        "{path}: $not takes a condition or a value, found an array"
                    )))
                }
                literal => Condition::eq(literal_value(path, "$not", literal)?),
            };
            Ok(Condition::Not(Box::new(inner)))
        }
        _ => {
            let Some(op) = Operator::from_name(name) else {
                return Err(query_err(if name.starts_with('$') {
                    format!("{path}: unknown operator {name:?}")
                } else {
                    format!(
                        "{path}: expected an operator such as $eq, found key {name:?} \
                         (nested documents are not supported)"
                    )
                }));
            };
            let value = if op.is_text() {
                match operand {
                    Json::String(s) => Value::String(s.clone()),
                    other => {
                        return Err(query_err(format!(
                            "{path}: {name} takes a string, found {}",
                            json_type(other)
                        )))
                    }
                }
            } else {
                literal_value(path, name, operand)?
            };
            Ok(Condition::Compare { op, value })
        }
    }
}

// ---------------------------------------------------------------------------
// Targets

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

// ---------------------------------------------------------------------------
// Sorting

/// Direction of a sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortDirection {
    /// Smallest first (`:asc`, and the default for a bare property).
    #[default]
    Ascending,
    /// Largest first (`:desc`).
    Descending,
}

/// One sort directive: a property and a direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortKey {
    /// The property to sort by.
    pub path: Path,
    /// The direction.
    pub direction: SortDirection,
}

impl SortKey {
    /// Parses `property:asc`, `property:desc` (suffix case-insensitive) or a
    /// bare `property` (ascending).
    ///
    /// When the text after the last `:` is neither `asc` nor `desc`, the whole
    /// text is taken as the property name, so names containing `:` work.
    /// Names that are not valid query paths are kept as plain properties
    /// (they just sort as missing). Only an empty property is an error.
    ///
    /// ```
    /// use rta_core::query::{Path, SortDirection, SortKey};
    /// let k = SortKey::parse("extDetails.CarSetup.TyrePressure:DESC").unwrap();
    /// assert_eq!(k.direction, SortDirection::Descending);
    /// assert_eq!(k.path.to_string(), "extDetails.CarSetup.TyrePressure");
    /// assert_eq!(SortKey::parse("quality").unwrap().direction, SortDirection::Ascending);
    /// ```
    pub fn parse(text: &str) -> Result<SortKey> {
        let text = text.trim();
        let (name, direction) = match text.rsplit_once(':') {
            Some((name, dir)) if dir.trim().eq_ignore_ascii_case("asc") => {
                (name.trim(), SortDirection::Ascending)
            }
            Some((name, dir)) if dir.trim().eq_ignore_ascii_case("desc") => {
                (name.trim(), SortDirection::Descending)
            }
            _ => (text, SortDirection::Ascending),
        };
        if name.is_empty() {
            return Err(query_err(format!(
                "sort directive {text:?} names no property"
            )));
        }
        let path = Path::parse(name).unwrap_or_else(|_| Path::Property(name.to_owned()));
        Ok(SortKey { path, direction })
    }

    /// Compares two targets by this key. Missing or null values come after
    /// every present value in both directions.
    pub fn compare<T: QueryTarget + ?Sized>(&self, a: &T, b: &T) -> Ordering {
        let va = a.value(&self.path);
        let vb = b.value(&self.path);
        let present = |v: &Option<Cow<'_, Json>>| v.as_deref().filter(|j| !j.is_null()).cloned();
        match (present(&va), present(&vb)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => {
                let o = sort_cmp(&x, &y);
                match self.direction {
                    SortDirection::Ascending => o,
                    SortDirection::Descending => o.reverse(),
                }
            }
        }
    }
}

/// Total order on present JSON values for sorting: typed comparison within
/// a kind, and booleans < numbers < strings < arrays/objects across kinds.
fn sort_cmp(a: &Json, b: &Json) -> Ordering {
    fn rank(v: &Json) -> u8 {
        match v {
            Json::Null => 4,
            Json::Bool(_) => 0,
            Json::Number(_) => 1,
            Json::String(_) => 2,
            Json::Array(_) | Json::Object(_) => 3,
        }
    }
    match (Value::from_json(a), Value::from_json(b)) {
        (Some(x), Some(y)) => x.compare(&y).unwrap_or_else(|| rank(a).cmp(&rank(b))),
        _ => rank(a).cmp(&rank(b)),
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match self.direction {
            SortDirection::Ascending => "asc",
            SortDirection::Descending => "desc",
        };
        write!(f, "{}:{dir}", self.path)
    }
}

impl FromStr for SortKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<SortKey> {
        SortKey::parse(s)
    }
}

/// A list of sort keys, highest priority first. Defaults to `timestamp`
/// descending (most recent first).
///
/// ```
/// use rta_core::query::SortOrder;
/// use serde_json::json;
///
/// let order = SortOrder::parse(["quality:desc", "timestamp:asc"]).unwrap();
/// let mut sessions = vec![
///     json!({"identity": "a", "quality": 0.5, "timestamp": "2021-05-22T14:30:00+01:00"}),
///     json!({"identity": "b", "timestamp": "2021-05-22T13:00:00Z"}),
///     json!({"identity": "c", "quality": 0.9, "timestamp": "2021-05-22T13:00:00Z"}),
///     json!({"identity": "d", "quality": 0.5, "timestamp": "2021-05-22T13:20:00Z"}),
/// ];
/// order.sort(&mut sessions);
/// let ids: Vec<_> = sessions.iter().map(|s| s["identity"].as_str().unwrap()).collect();
/// assert_eq!(ids, ["c", "d", "a", "b"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortOrder {
    keys: Vec<SortKey>,
}

impl Default for SortOrder {
    fn default() -> Self {
        SortOrder {
            keys: vec![SortKey {
                path: Path::timestamp(),
                direction: SortDirection::Descending,
            }],
        }
    }
}

impl SortOrder {
    /// Parses the `sort` arguments of a request, highest priority first.
    /// Blank items are skipped; with no items left the order is the default
    /// (`timestamp` descending).
    pub fn parse<I>(items: I) -> Result<SortOrder>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let keys = items
            .into_iter()
            .filter(|s| !s.as_ref().trim().is_empty())
            .map(|s| SortKey::parse(s.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        Ok(SortOrder::from_keys(keys))
    }

    /// An order from keys; an empty list gives the default order.
    pub fn from_keys(keys: Vec<SortKey>) -> SortOrder {
        if keys.is_empty() {
            SortOrder::default()
        } else {
            SortOrder { keys }
        }
    }

    /// The keys, highest priority first (never empty).
    pub fn keys(&self) -> &[SortKey] {
        &self.keys
    }

    /// Compares two targets key by key.
    pub fn compare<T: QueryTarget + ?Sized>(&self, a: &T, b: &T) -> Ordering {
        self.keys
            .iter()
            .map(|k| k.compare(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// Sorts targets in place (stable).
    pub fn sort<T: QueryTarget>(&self, items: &mut [T]) {
        items.sort_by(|a, b| self.compare(a, b));
    }
}

impl fmt::Display for SortOrder {
    /// The keys joined by commas, e.g. `quality:desc,timestamp:asc`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Paging

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
