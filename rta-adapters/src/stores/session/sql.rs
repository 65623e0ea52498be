//! Transpiles the session query dialect and sort directives to SQL.
//!
//! The SQL reproduces the comparison rules of [`rta_core::query`]: a missing
//! property is `null`; values of different types never compare; numbers
//! compare numerically (integers against reals exactly, as SQLite does);
//! strings compare by code point, except that two date-time strings compare
//! as instants (through a normalized UTC key, see [`instant_key`](super::instant_key));
//! `$neq`, `$nin` and `$not` are exact negations. Every generated predicate
//! is two-valued (never SQL `NULL`), so negation is safe.

use rta_core::query::{Condition, Expr, Operator, Path, SortDirection, SortKey, SortOrder, Value};
use rusqlite::types::Value as Sql;

use super::instant_key;
use super::schema::{kind, refkind};

/// How a listing is ordered.
#[derive(Debug)]
pub(crate) enum OrderPlan {
    /// One `ORDER BY` over every selected session.
    Simple(String),
    /// The first key is the detail `grp`.`key` (parameter placeholders):
    /// sessions having it are read in `details_sort` index order
    /// (`rank`, `sortkey` in `dir`, then `rest`), followed by the sessions
    /// without it ordered by `rest`.
    DetailFirst {
        grp: String,
        key: String,
        dir: &'static str,
        rest: String,
    },
}

/// Ties: most recent first (the default order), then latest created.
fn tie_break(order: &SortOrder, terms: &mut Vec<String>) {
    if !order.keys().iter().any(|k| k.path == Path::timestamp()) {
        terms.push("s.ts_nanos DESC".to_string());
    }
    terms.push("s.id DESC".to_string());
}

/// SQL text with its positional parameters.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    pub params: Vec<Sql>,
    pub joins: Vec<String>,
}

/// Where a property lives.
#[derive(Debug, Clone)]
enum Prop {
    /// A string column (may be NULL).
    Text(&'static str),
    /// A date-time: its text column and nanosecond column.
    DateTime {
        text: &'static str,
        nanos: &'static str,
    },
    /// A numeric column (may be NULL).
    Number(&'static str),
    /// A detail (`grp` is `""` for `details`).
    Detail { grp: String, key: String },
    /// An object or array: only present or absent.
    Presence(String),
    /// A property sessions never have.
    Missing,
}

fn prop(path: &Path) -> Prop {
    match path {
        Path::Detail(key) => Prop::Detail {
            grp: String::new(),
            key: key.clone(),
        },
        Path::ExtDetail { group, key } => Prop::Detail {
            grp: group.clone(),
            key: key.clone(),
        },
        Path::Property(name) => match name.as_str() {
            "identity" => Prop::Text("s.identity"),
            "identifier" => Prop::Text("s.identifier"),
            "state" => Prop::Text("s.state_name"),
            "type" => Prop::Text("s.type"),
            "group" => Prop::Text("s.grp"),
            "version" => Prop::Text("s.version"),
            "quality" => Prop::Number("s.quality"),
            "timestamp" => Prop::DateTime {
                text: "s.ts_text",
                nanos: "s.ts_nanos",
            },
            "startTimestamp" => Prop::DateTime {
                text: "s.start_text",
                nanos: "s.start_time",
            },
            "endTimestamp" => Prop::DateTime {
                text: "s.end_text",
                nanos: "s.end_time",
            },
            "timeRange.startTime" => Prop::Number("s.start_time"),
            "timeRange.endTime" => Prop::Number("s.end_time"),
            "timeRange" => Prop::Presence("s.start_time IS NOT NULL".into()),
            "details" => Prop::Presence(
                "EXISTS (SELECT 1 FROM details x WHERE x.session_id = s.id AND x.grp = '')".into(),
            ),
            "extDetails" => Prop::Presence(
                "EXISTS (SELECT 1 FROM details x WHERE x.session_id = s.id AND x.grp <> '')".into(),
            ),
            "configBindings" => Prop::Presence(
                "EXISTS (SELECT 1 FROM config_bindings x WHERE x.session_id = s.id)".into(),
            ),
            "markers" => {
                Prop::Presence("EXISTS (SELECT 1 FROM markers x WHERE x.session_id = s.id)".into())
            }
            "children" => Prop::Presence(related_exists(refkind::CHILD_OF)),
            "alternates" => Prop::Presence(related_exists(refkind::ALTERNATE_OF)),
            _ => Prop::Missing,
        },
    }
}

/// True when some other session refers to one of this session's anchors.
fn related_exists(kind: i64) -> String {
    format!(
        "EXISTS (SELECT 1 FROM refs a JOIN refs r ON r.uri = a.uri AND r.kind = {kind} \
         WHERE a.session_id = s.id AND a.kind = {anchor} AND r.session_id <> s.id)",
        anchor = refkind::ANCHOR
    )
}

/// The condition excluding sub-sessions (children and alternates of
/// another session) from a listing.
pub(crate) fn top_level_condition() -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM refs r JOIN refs a ON a.uri = r.uri AND a.kind = {anchor} \
         WHERE r.session_id = s.id AND r.kind IN ({child}, {alt}) AND a.session_id <> s.id)",
        anchor = refkind::ANCHOR,
        child = refkind::CHILD_OF,
        alt = refkind::ALTERNATE_OF
    )
}

fn sql_op(op: Operator) -> &'static str {
    match op {
        Operator::Eq => "=",
        Operator::Gt => ">",
        Operator::Gte => ">=",
        Operator::Lt => "<",
        Operator::Lte => "<=",
        // Neq and the text matches are handled separately.
        Operator::Neq => "<>",
        Operator::StartsWith | Operator::EndsWith | Operator::Contains => "=",
    }
}

impl Builder {
    fn bind(&mut self, v: Sql) -> String {
        self.params.push(v);
        format!("?{}", self.params.len())
    }

    /// A predicate for a whole query.
    pub(crate) fn expr(&mut self, e: &Expr) -> String {
        match e {
            Expr::And(es) if es.is_empty() => "1".into(),
            Expr::And(es) => self.join(es, " AND "),
            Expr::Or(es) if es.is_empty() => "0".into(),
            Expr::Or(es) => self.join(es, " OR "),
            Expr::Nor(es) if es.is_empty() => "1".into(),
            Expr::Nor(es) => format!("NOT {}", self.join(es, " OR ")),
            Expr::Not(e) => format!("NOT ({})", self.expr(e)),
            Expr::Property { path, condition } => self.condition(&prop(path), condition),
        }
    }

    fn join(&mut self, es: &[Expr], sep: &str) -> String {
        let parts: Vec<String> = es.iter().map(|e| self.expr(e)).collect();
        format!("({})", parts.join(sep))
    }

    fn condition(&mut self, p: &Prop, c: &Condition) -> String {
        match c {
            Condition::Not(inner) => format!("NOT ({})", self.condition(p, inner)),
            Condition::In(vs) if vs.is_empty() => "0".into(),
            Condition::In(vs) => {
                let parts: Vec<String> = vs
                    .iter()
                    .map(|v| self.compare(p, Operator::Eq, v))
                    .collect();
                format!("({})", parts.join(" OR "))
            }
            Condition::Nin(vs) => {
                let inner = self.condition(p, &Condition::In(vs.clone()));
                format!("NOT {inner}")
            }
            Condition::Compare {
                op: Operator::Neq,
                value,
            } => {
                format!("NOT ({})", self.compare(p, Operator::Eq, value))
            }
            Condition::Compare { op, value } => self.compare(p, *op, value),
        }
    }

    /// SQL that is true when the property is present (not null).
    fn presence(&mut self, p: &Prop) -> String {
        match p {
            Prop::Text(col) | Prop::Number(col) => format!("{col} IS NOT NULL"),
            Prop::DateTime { nanos, .. } => format!("{nanos} IS NOT NULL"),
            Prop::Detail { grp, key } => {
                let g = self.bind(Sql::Text(grp.clone()));
                let k = self.bind(Sql::Text(key.clone()));
                format!(
                    "EXISTS (SELECT 1 FROM details d WHERE d.session_id = s.id AND d.grp = {g} AND d.key = {k})"
                )
            }
            Prop::Presence(sql) => sql.clone(),
            Prop::Missing => "0".into(),
        }
    }

    /// A text match on a string expression (`col` is not NULL here).
    fn text_match(&mut self, col: &str, op: Operator, t: &str) -> String {
        if t.is_empty() {
            return "1".into();
        }
        let b = self.bind(Sql::Text(t.to_string()));
        match op {
            Operator::StartsWith => format!("substr({col}, 1, length({b})) = {b}"),
            Operator::EndsWith => {
                format!("(length({col}) >= length({b}) AND substr({col}, -length({b})) = {b})")
            }
            _ => format!("instr({col}, {b}) > 0"),
        }
    }

    /// A comparison of a string expression with a string operand, as instants
    /// when both are date-times.
    fn string_compare(&mut self, col: &str, key_expr: &str, op: Operator, s: &str) -> String {
        let o = sql_op(op);
        match instant_key(s) {
            Some(key) => {
                let k = self.bind(Sql::Text(key));
                let t = self.bind(Sql::Text(s.to_string()));
                format!(
                    "(CASE WHEN {key_expr} IS NOT NULL THEN {key_expr} {o} {k} ELSE {col} {o} {t} END)"
                )
            }
            None => {
                let t = self.bind(Sql::Text(s.to_string()));
                format!("{col} {o} {t}")
            }
        }
    }

    /// `op` is never `Neq` here.
    fn compare(&mut self, p: &Prop, op: Operator, v: &Value) -> String {
        if let Value::Null = v {
            // Only null equals null; `>=`/`<=` include equality.
            return match op {
                Operator::Eq | Operator::Gte | Operator::Lte => {
                    format!("NOT ({})", self.presence(p))
                }
                _ => "0".into(),
            };
        }
        if op.is_text() {
            let Value::String(t) = v else {
                return "0".into();
            };
            return match p {
                Prop::Text(col) => {
                    let m = self.text_match(col, op, t);
                    format!("({col} IS NOT NULL AND {m})")
                }
                Prop::DateTime { text, .. } => {
                    let m = self.text_match(text, op, t);
                    format!("({text} IS NOT NULL AND {m})")
                }
                Prop::Detail { grp, key } => {
                    let m = self.text_match("d.value", op, t);
                    self.detail_exists(grp, key, &format!("d.kind = {} AND {m}", kind::TEXT))
                }
                Prop::Number(_) | Prop::Presence(_) | Prop::Missing => "0".into(),
            };
        }
        let o = sql_op(op);
        match (p, v) {
            (Prop::Text(col), Value::String(s)) => {
                let cmp = self.string_compare(col, &format!("rta_instant({col})"), op, s);
                format!("({col} IS NOT NULL AND {cmp})")
            }
            (Prop::DateTime { text, nanos }, Value::String(s)) => {
                match rta_core::query::Value::String(s.clone()).as_date_time() {
                    Some(dt) => {
                        // Stored timestamps are within the i64 nanosecond range;
                        // an operand outside it is clamped, which keeps the order.
                        let n = dt.timestamp_nanos_opt().unwrap_or(if dt.timestamp() < 0 {
                            i64::MIN
                        } else {
                            i64::MAX
                        });
                        let b = self.bind(Sql::Integer(n));
                        format!("({nanos} IS NOT NULL AND {nanos} {o} {b})")
                    }
                    None => {
                        let t = self.bind(Sql::Text(s.clone()));
                        format!("({text} IS NOT NULL AND {text} {o} {t})")
                    }
                }
            }
            (Prop::Number(col), Value::Integer(i)) => {
                let b = self.bind(Sql::Integer(*i));
                format!("({col} IS NOT NULL AND {col} {o} {b})")
            }
            (Prop::Number(col), Value::Number(n)) => {
                let b = self.bind(Sql::Real(*n));
                format!("({col} IS NOT NULL AND {col} {o} {b})")
            }
            (Prop::Detail { grp, key }, v) => {
                let cond = match v {
                    Value::Bool(b) => {
                        let b = self.bind(Sql::Integer(i64::from(*b)));
                        format!("d.kind = {} AND d.value {o} {b}", kind::BOOL)
                    }
                    Value::Integer(i) => {
                        let b = self.bind(Sql::Integer(*i));
                        format!(
                            "d.kind IN ({}, {}) AND d.value {o} {b}",
                            kind::INT,
                            kind::REAL
                        )
                    }
                    Value::Number(n) => {
                        let b = self.bind(Sql::Real(*n));
                        format!(
                            "d.kind IN ({}, {}) AND d.value {o} {b}",
                            kind::INT,
                            kind::REAL
                        )
                    }
                    Value::String(s) => {
                        let cmp = self.string_compare("d.value", "d.instant", op, s);
                        format!("d.kind = {} AND {cmp}", kind::TEXT)
                    }
                    Value::Null => return "0".into(),
                };
                self.detail_exists(grp, key, &cond)
            }
            // Different types, objects, arrays and missing properties never compare.
            _ => "0".into(),
        }
    }

    fn detail_exists(&mut self, grp: &str, key: &str, cond: &str) -> String {
        let g = self.bind(Sql::Text(grp.to_string()));
        let k = self.bind(Sql::Text(key.to_string()));
        format!(
            "EXISTS (SELECT 1 FROM details d WHERE d.session_id = s.id AND d.grp = {g} AND d.key = {k} AND {cond})"
        )
    }

    /// `ORDER BY` terms for a sort order; joins needed for detail keys are
    /// collected for [`joins`](Self::joins). Missing values sort last in
    /// both directions; ties are broken by timestamp (most recent first),
    /// then by creation order (latest first).
    pub(crate) fn order_by(&mut self, order: &SortOrder) -> String {
        let mut terms = Vec::new();
        for (i, key) in order.keys().iter().enumerate() {
            self.sort_key(i, key, &mut terms);
        }
        tie_break(order, &mut terms);
        terms.join(", ")
    }

    /// Plans the order: when the first key is a detail, the listing can read
    /// the `details_sort` index in order (see [`OrderPlan::DetailFirst`]).
    pub(crate) fn plan_order(&mut self, order: &SortOrder) -> OrderPlan {
        let keys = order.keys();
        if let Some(first) = keys.first() {
            if let Prop::Detail { grp, key } = prop(&first.path) {
                let grp = self.bind(Sql::Text(grp));
                let key = self.bind(Sql::Text(key));
                let mut terms = Vec::new();
                for (i, k) in keys.iter().enumerate().skip(1) {
                    self.sort_key(i, k, &mut terms);
                }
                tie_break(order, &mut terms);
                return OrderPlan::DetailFirst {
                    grp,
                    key,
                    dir: match first.direction {
                        SortDirection::Ascending => "ASC",
                        SortDirection::Descending => "DESC",
                    },
                    rest: terms.join(", "),
                };
            }
        }
        OrderPlan::Simple(self.order_by(order))
    }

    fn sort_key(&mut self, i: usize, key: &SortKey, terms: &mut Vec<String>) {
        let dir = match key.direction {
            SortDirection::Ascending => "ASC",
            SortDirection::Descending => "DESC",
        };
        match prop(&key.path) {
            Prop::DateTime { nanos, .. } => {
                if nanos != "s.ts_nanos" {
                    terms.push(format!("{nanos} IS NULL"));
                }
                terms.push(format!("{nanos} {dir}"));
            }
            Prop::Number(col) => {
                terms.push(format!("{col} IS NULL"));
                terms.push(format!("{col} {dir}"));
            }
            Prop::Text(col) => {
                if col != "s.identity" && col != "s.identifier" && col != "s.state_name" {
                    terms.push(format!("{col} IS NULL"));
                }
                // date-time strings order as instants
                terms.push(format!("COALESCE(rta_instant({col}), {col}) {dir}"));
            }
            Prop::Detail { grp, key } => {
                let alias = format!("o{i}");
                let g = self.bind(Sql::Text(grp));
                let k = self.bind(Sql::Text(key));
                self.joins.push(format!(
                    "LEFT JOIN details {alias} ON {alias}.session_id = s.id AND {alias}.grp = {g} AND {alias}.key = {k}"
                ));
                terms.push(format!("{alias}.kind IS NULL"));
                // booleans < numbers < strings, reversed for descending
                terms.push(format!("{alias}.rank {dir}"));
                terms.push(format!("{alias}.sortkey {dir}"));
            }
            Prop::Presence(_) | Prop::Missing => {}
        }
    }

    /// The joins the sort terms need.
    pub(crate) fn joins(&self) -> String {
        self.joins.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rta_core::query::Query;

    #[test]
    fn predicates_bind_parameters() {
        let q = Query::parse(
            r#"{"details.Run": {"$gt": 5}, "$or": [{"type": "a"}, {"identifier": {"$contains": "x"}}]}"#,
        )
        .unwrap();
        let mut b = Builder::default();
        let sql = b.expr(&q.filter);
        assert!(sql.contains("EXISTS"), "{sql}");
        assert!(sql.contains(" OR "), "{sql}");
        assert_eq!(b.params.len(), 5, "{sql}");
    }

    #[test]
    fn negation_and_null() {
        let mut b = Builder::default();
        let q = Query::parse(r#"{"type": {"$neq": null}, "nothing": null}"#).unwrap();
        let sql = b.expr(&q.filter);
        assert!(sql.contains("NOT (NOT (s.type IS NOT NULL))"), "{sql}");
        assert!(sql.contains("NOT (0)"), "{sql}");
    }
}
