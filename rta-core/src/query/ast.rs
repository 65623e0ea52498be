//! The query syntax tree, its JSON form and its evaluation.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde_json::Value as Json;

use super::errors::{json_type, query_err, MAX_DEPTH};
use super::path::*;
use super::target::*;
use super::value::*;
use crate::{Error, Result};

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
