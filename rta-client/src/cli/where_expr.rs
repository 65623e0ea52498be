//! `rta sessions ls --where EXPR`: a short form of the REST query dialect
//! for shells, turned into the dialect's JSON (and checked by its parser).
//!
//! `EXPR` is comparisons joined by `and` (any case):
//! `PATH OP VALUE`, with `OP` one of `=`, `!=`, `>`, `>=`, `<`, `<=` and `~`
//! (contains). `VALUE` is a number, `true`, `false`, `null`, a quoted
//! string (`'…'` or `"…"`), or else the bare text as a string:
//!
//! ```text
//! state = open and details.Driver = 'A. Smith' and quality >= 0.5
//! identifier ~ FP1
//! ```

use serde_json::{json, Value};

use crate::{Error, Result};

/// Operators, longest first so `>=` is not read as `>`.
const OPERATORS: [(&str, &str); 7] = [
    (">=", "$gte"),
    ("<=", "$lte"),
    ("!=", "$neq"),
    ("=", "$eq"),
    (">", "$gt"),
    ("<", "$lt"),
    ("~", "$contains"),
];

/// The query-dialect JSON of `expr`.
pub(super) fn to_query(expr: &str) -> Result<String> {
    if expr.trim().is_empty() {
        return Err(bad(expr, "an empty expression"));
    }
    let mut clauses = Vec::new();
    for clause in split_and(expr) {
        clauses.push(comparison(clause.trim())?);
    }
    let query = match clauses.len() {
        1 => clauses.remove(0),
        _ => json!({ "$and": clauses }),
    };
    let text = query.to_string();
    rta_core::query::Query::parse(&text).map_err(|e| bad(expr, &e.to_string()))?;
    Ok(text)
}

/// `expr` cut at every ` and ` outside quotes.
fn split_and(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quote) = (0, None::<char>);
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < expr.len() {
        let c = bytes[i] as char;
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None => {
                let rest = &expr[i..];
                if rest.len() >= 5
                    && rest.is_char_boundary(5)
                    && rest[..5].eq_ignore_ascii_case(" and ")
                {
                    out.push(&expr[start..i]);
                    i += 5;
                    start = i;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push(&expr[start..]);
    out
}

/// `{"path": {"$op": value}}` of one `PATH OP VALUE`.
fn comparison(clause: &str) -> Result<Value> {
    let found = OPERATORS
        .iter()
        .filter_map(|(sym, op)| clause.find(sym).map(|at| (at, *sym, *op)))
        .min_by_key(|(at, sym, _)| (*at, std::cmp::Reverse(sym.len())));
    let Some((at, sym, op)) = found else {
        return Err(bad(clause, "no operator (=, !=, >, >=, <, <=, ~)"));
    };
    let path = clause[..at].trim();
    let value = clause[at + sym.len()..].trim();
    if path.is_empty() {
        return Err(bad(clause, "no property before the operator"));
    }
    if value.is_empty() {
        return Err(bad(clause, "no value after the operator"));
    }
    Ok(json!({ path: { op: literal(value) } }))
}

/// A value as JSON: quoted text, a number, a keyword, or bare text.
fn literal(v: &str) -> Value {
    let quoted = |q: char| v.len() >= 2 && v.starts_with(q) && v.ends_with(q);
    if quoted('\'') || quoted('"') {
        return Value::String(v[1..v.len() - 1].to_string());
    }
    match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => {
            if let Ok(i) = v.parse::<i64>() {
                json!(i)
            } else if let Some(n) = v.parse::<f64>().ok().filter(|n| n.is_finite()) {
                json!(n)
            } else {
                Value::String(v.to_string())
            }
        }
    }
}

fn bad(what: &str, why: &str) -> Error {
    Error::InvalidArgument(format!("--where {what:?}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(expr: &str) -> Value {
        serde_json::from_str(&to_query(expr).unwrap()).unwrap()
    }

    #[test]
    fn comparisons_become_the_dialect() {
        assert_eq!(q("state = open"), json!({"state": {"$eq": "open"}}));
        assert_eq!(q("quality>=0.5"), json!({"quality": {"$gte": 0.5}}));
        assert_eq!(q("details.Lap != 3"), json!({"details.Lap": {"$neq": 3}}));
        assert_eq!(
            q("identifier ~ FP1"),
            json!({"identifier": {"$contains": "FP1"}})
        );
        assert_eq!(
            q("state = open AND details.Driver = 'A. Smith and co' and quality < 1"),
            json!({"$and": [
                {"state": {"$eq": "open"}},
                {"details.Driver": {"$eq": "A. Smith and co"}},
                {"quality": {"$lt": 1}},
            ]})
        );
        assert_eq!(
            q("details.Wet = true"),
            json!({"details.Wet": {"$eq": true}})
        );
        assert_eq!(
            q("details.Run = \"7\""),
            json!({"details.Run": {"$eq": "7"}})
        );
    }

    #[test]
    fn bad_expressions_are_named() {
        for (expr, why) in [
            ("", "empty"),
            ("state open", "no operator"),
            ("= open", "no property"),
            ("state =", "no value"),
            ("state = open and ", "no operator"),
        ] {
            let e = to_query(expr).unwrap_err().to_string();
            assert!(e.contains("--where") && e.contains(why), "{expr:?}: {e}");
        }
    }
}
