//! Transpiles the session query dialect and sort directives to PostgreSQL.
//!
//! The same rules as the SQLite transpiler (`session/sql.rs`, checked by
//! the same differential property test): a missing property is `null`;
//! values of different types never compare; numbers compare exactly
//! (through `numeric`); strings compare by code point (`COLLATE "C"`
//! columns), two date-time strings as instants (through the stored instant
//! keys); `$neq`, `$nin` and `$not` are exact negations. Every predicate is
//! two-valued (never SQL `NULL`), so negation is safe.
//!
//! PostgreSQL text cannot hold NUL characters, so no stored string has one;
//! an operand with one is compared through its prefix before the first NUL
//! (`c < "ab\0x"` exactly when `c <= "ab"`), which gives the same answers.

use rta_core::query::{Condition, Expr, Operator, Path, SortDirection, SortKey, SortOrder, Value};
use tokio_postgres::types::{ToSql, Type};

use crate::stores::session::instant_key;
use crate::stores::session::schema::{kind, refkind};

/// How a detail condition names its session. Every value of a condition is
/// a bound parameter, never SQL text, so this text occurs in a statement
/// only where [`Builder`] wrote it: a listing sorted by a detail replaces
/// it to test the conditions on the sort index's rows.
pub(crate) const DETAIL_OF_SESSION: &str = "d.session_id = s.id";

/// A bound parameter.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    /// `text`.
    Text(String),
    /// `bigint`.
    Int(i64),
    /// `numeric`, sent as its exact decimal text.
    Num(String),
}

impl Param {
    pub(crate) fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Text(s) | Param::Num(s) => s,
            Param::Int(i) => i,
        }
    }
}

/// The parameters as the driver takes them.
pub(crate) fn sql_params(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(Param::as_sql).collect()
}

/// The parameters with their wire types, for statements sent unprepared
/// (`query_typed`: one round trip, planned for these values).
pub(crate) fn typed_params(params: &[Param]) -> Vec<(&(dyn ToSql + Sync), Type)> {
    params
        .iter()
        .map(|p| {
            let t = match p {
                Param::Text(_) | Param::Num(_) => Type::TEXT,
                Param::Int(_) => Type::INT8,
            };
            (p.as_sql(), t)
        })
        .collect()
}

/// The exact decimal expansion of a finite `f64` (every binary fraction
/// has a finite one), so that `numeric` compares it exactly with integers.
pub(crate) fn exact_decimal(f: f64) -> String {
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mantissa = bits & ((1 << 52) - 1);
    let mut e = if exp == 0 {
        -1074
    } else {
        mantissa |= 1 << 52;
        exp - 1075
    };
    while mantissa != 0 && mantissa & 1 == 0 {
        mantissa >>= 1;
        e += 1;
    }
    let digits = if e < 0 { (-e) as usize } else { 0 };
    let s = format!("{f:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// How a listing is ordered.
#[derive(Debug)]
pub(crate) enum OrderPlan {
    /// One `ORDER BY` over every selected session.
    Simple(String),
    /// The first key is the detail `grp`.`key` (placeholders): sessions
    /// having it are read in `details_sort` order, then the others.
    DetailFirst {
        grp: String,
        key: String,
        dir: &'static str,
        rest: String,
    },
}

fn tie_break(order: &SortOrder, terms: &mut Vec<String>) {
    if !order.keys().iter().any(|k| k.path == Path::timestamp()) {
        terms.push("s.ts_nanos DESC".to_string());
    }
    terms.push("s.id DESC".to_string());
}

/// SQL text with its positional parameters.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    pub params: Vec<Param>,
    pub joins: Vec<String>,
}

#[derive(Debug, Clone)]
enum Prop {
    /// A string column and its instant-key column, if any.
    Text(&'static str, Option<&'static str>),
    DateTime {
        text: &'static str,
        nanos: &'static str,
    },
    /// A `bigint` or `numeric` column.
    Number(&'static str),
    Detail {
        grp: String,
        key: String,
    },
    Presence(String),
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
            "identity" => Prop::Text("s.identity", Some("s.identity_instant")),
            "identifier" => Prop::Text("s.identifier", Some("s.identifier_instant")),
            "state" => Prop::Text("s.state_name", None),
            "type" => Prop::Text("s.type", Some("s.type_instant")),
            "group" => Prop::Text("s.grp", Some("s.grp_instant")),
            "version" => Prop::Text("s.version", Some("s.version_instant")),
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

fn related_exists(kind: i64) -> String {
    format!(
        "EXISTS (SELECT 1 FROM refs a JOIN refs r ON r.uri = a.uri AND r.kind = {kind} \
         WHERE a.session_id = s.id AND a.kind = {anchor} AND r.session_id <> s.id)",
        anchor = refkind::ANCHOR
    )
}

/// The condition excluding sub-sessions from a listing.
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
        Operator::Neq => "<>",
        Operator::StartsWith | Operator::EndsWith | Operator::Contains => "=",
    }
}

impl Builder {
    /// Binds a parameter; the placeholder carries its type.
    pub(crate) fn bind(&mut self, v: Param) -> String {
        let cast = match &v {
            Param::Text(_) => "text",
            Param::Int(_) => "int8",
            Param::Num(_) => "text::numeric",
        };
        self.params.push(v);
        format!("${}::{cast}", self.params.len())
    }

    fn text(&mut self, s: &str) -> String {
        self.bind(Param::Text(s.to_string()))
    }

    /// A predicate for a whole query.
    pub(crate) fn expr(&mut self, e: &Expr) -> String {
        match e {
            Expr::And(es) if es.is_empty() => "TRUE".into(),
            Expr::And(es) => self.join(es, " AND "),
            Expr::Or(es) if es.is_empty() => "FALSE".into(),
            Expr::Or(es) => self.join(es, " OR "),
            Expr::Nor(es) if es.is_empty() => "TRUE".into(),
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
            Condition::In(vs) if vs.is_empty() => "FALSE".into(),
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
            } => format!("NOT ({})", self.compare(p, Operator::Eq, value)),
            Condition::Compare { op, value } => self.compare(p, *op, value),
        }
    }

    fn presence(&mut self, p: &Prop) -> String {
        match p {
            Prop::Text(col, _) | Prop::Number(col) => format!("{col} IS NOT NULL"),
            Prop::DateTime { nanos, .. } => format!("{nanos} IS NOT NULL"),
            Prop::Detail { grp, key } => self.detail_exists(grp, key, "TRUE"),
            Prop::Presence(sql) => sql.clone(),
            Prop::Missing => "FALSE".into(),
        }
    }

    /// A text match on a non-NULL string expression.
    fn text_match(&mut self, col: &str, op: Operator, t: &str) -> String {
        if t.is_empty() {
            return "TRUE".into();
        }
        if t.contains('\0') {
            return "FALSE".into();
        }
        let b = self.text(t);
        match op {
            Operator::StartsWith => format!("starts_with({col}, {b})"),
            Operator::EndsWith => format!("right({col}, length({b})) = {b}"),
            _ => format!("strpos({col}, {b}) > 0"),
        }
    }

    /// `col op s` for a string operand, by code point.
    fn plain_compare(&mut self, col: &str, op: Operator, s: &str) -> String {
        match s.split_once('\0') {
            None => {
                let t = self.text(s);
                format!("{col} {} {t}", sql_op(op))
            }
            // No stored string has a NUL: compare with the prefix before it.
            Some((prefix, _)) => {
                let t = self.text(prefix);
                match op {
                    Operator::Lt | Operator::Lte => format!("{col} <= {t}"),
                    Operator::Gt | Operator::Gte => format!("{col} > {t}"),
                    _ => "FALSE".into(),
                }
            }
        }
    }

    /// A string expression against a string operand, as instants when both
    /// are date-times (`key_expr` is the stored instant key).
    fn string_compare(
        &mut self,
        col: &str,
        key_expr: Option<&str>,
        op: Operator,
        s: &str,
    ) -> String {
        match (key_expr, instant_key(s)) {
            (Some(key_expr), Some(key)) => {
                let k = self.text(&key);
                let plain = self.plain_compare(col, op, s);
                let o = sql_op(op);
                format!(
                    "(CASE WHEN {key_expr} IS NOT NULL THEN {key_expr} {o} {k} ELSE {plain} END)"
                )
            }
            _ => self.plain_compare(col, op, s),
        }
    }

    /// `op` is never `Neq` here.
    fn compare(&mut self, p: &Prop, op: Operator, v: &Value) -> String {
        if let Value::Null = v {
            return match op {
                Operator::Eq | Operator::Gte | Operator::Lte => {
                    format!("NOT ({})", self.presence(p))
                }
                _ => "FALSE".into(),
            };
        }
        if op.is_text() {
            let Value::String(t) = v else {
                return "FALSE".into();
            };
            return match p {
                Prop::Text(col, _) => {
                    let m = self.text_match(col, op, t);
                    format!("({col} IS NOT NULL AND {m})")
                }
                Prop::DateTime { text, .. } => {
                    let m = self.text_match(text, op, t);
                    format!("({text} IS NOT NULL AND {m})")
                }
                Prop::Detail { grp, key } => {
                    let m = self.text_match("d.txt", op, t);
                    self.detail_exists(grp, key, &format!("d.kind = {} AND {m}", kind::TEXT))
                }
                Prop::Number(_) | Prop::Presence(_) | Prop::Missing => "FALSE".into(),
            };
        }
        let o = sql_op(op);
        match (p, v) {
            (Prop::Text(col, key), Value::String(s)) => {
                let cmp = self.string_compare(col, *key, op, s);
                format!("({col} IS NOT NULL AND {cmp})")
            }
            (Prop::DateTime { text, nanos }, Value::String(s)) => {
                match Value::String(s.clone()).as_date_time() {
                    Some(dt) => {
                        let n = dt.timestamp_nanos_opt().unwrap_or(if dt.timestamp() < 0 {
                            i64::MIN
                        } else {
                            i64::MAX
                        });
                        let b = self.bind(Param::Int(n));
                        format!("({nanos} IS NOT NULL AND {nanos} {o} {b})")
                    }
                    None => {
                        let cmp = self.plain_compare(text, op, s);
                        format!("({text} IS NOT NULL AND {cmp})")
                    }
                }
            }
            (Prop::Number(col), Value::Integer(i)) => {
                let b = self.bind(Param::Num(i.to_string()));
                format!("({col} IS NOT NULL AND {col}::numeric {o} {b})")
            }
            (Prop::Number(col), Value::Number(n)) if n.is_finite() => {
                let b = self.bind(Param::Num(exact_decimal(*n)));
                format!("({col} IS NOT NULL AND {col}::numeric {o} {b})")
            }
            (Prop::Detail { grp, key }, v) => {
                let cond = match v {
                    Value::Bool(b) => {
                        let b = self.bind(Param::Num(i64::from(*b).to_string()));
                        format!("d.kind = {} AND d.num {o} {b}", kind::BOOL)
                    }
                    Value::Integer(i) => {
                        let b = self.bind(Param::Num(i.to_string()));
                        format!(
                            "d.kind IN ({}, {}) AND d.num {o} {b}",
                            kind::INT,
                            kind::REAL
                        )
                    }
                    Value::Number(n) if n.is_finite() => {
                        let b = self.bind(Param::Num(exact_decimal(*n)));
                        format!(
                            "d.kind IN ({}, {}) AND d.num {o} {b}",
                            kind::INT,
                            kind::REAL
                        )
                    }
                    Value::String(s) => {
                        let cmp = self.string_compare("d.txt", Some("d.instant"), op, s);
                        format!("d.kind = {} AND {cmp}", kind::TEXT)
                    }
                    _ => return "FALSE".into(),
                };
                self.detail_exists(grp, key, &cond)
            }
            _ => "FALSE".into(),
        }
    }

    fn detail_exists(&mut self, grp: &str, key: &str, cond: &str) -> String {
        let g = self.text(grp);
        let k = self.text(key);
        format!(
            "EXISTS (SELECT 1 FROM details d WHERE {DETAIL_OF_SESSION} AND d.grp = {g} AND d.key = {k} AND {cond})"
        )
    }

    /// `ORDER BY` terms: missing values last in both directions, ties by
    /// timestamp (most recent first), then creation order (latest first).
    pub(crate) fn order_by(&mut self, order: &SortOrder) -> String {
        let mut terms = Vec::new();
        for (i, key) in order.keys().iter().enumerate() {
            self.sort_key(i, key, &mut terms);
        }
        tie_break(order, &mut terms);
        terms.join(", ")
    }

    /// Plans the order (see [`OrderPlan`]).
    pub(crate) fn plan_order(&mut self, order: &SortOrder) -> OrderPlan {
        let keys = order.keys();
        if let Some(first) = keys.first() {
            if let Prop::Detail { grp, key } = prop(&first.path) {
                let grp = self.text(&grp);
                let key = self.text(&key);
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
            Prop::Text(col, instant) => {
                if col != "s.identity" && col != "s.identifier" && col != "s.state_name" {
                    terms.push(format!("{col} IS NULL"));
                }
                match instant {
                    Some(k) => terms.push(format!("COALESCE({k}, {col}) {dir}")),
                    None => terms.push(format!("{col} {dir}")),
                }
            }
            Prop::Detail { grp, key } => {
                let alias = format!("o{i}");
                let g = self.text(&grp);
                let k = self.text(&key);
                self.joins.push(format!(
                    "LEFT JOIN details {alias} ON {alias}.session_id = s.id AND {alias}.grp = {g} AND {alias}.key = {k}"
                ));
                terms.push(format!("{alias}.kind IS NULL"));
                terms.push(format!("{alias}.rank {dir}"));
                terms.push(format!("{alias}.num {dir}"));
                terms.push(format!("{alias}.skey {dir}"));
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

    #[test]
    fn exact_decimals() {
        assert_eq!(exact_decimal(0.5), "0.5");
        assert_eq!(exact_decimal(-1.5), "-1.5");
        assert_eq!(exact_decimal(2.0), "2");
        assert_eq!(exact_decimal(0.0), "0");
        assert_eq!(
            exact_decimal(0.1),
            "0.1000000000000000055511151231257827021181583404541015625"
        );
        assert_eq!(exact_decimal(2f64.powi(62)), "4611686018427387904");
        let tiny = exact_decimal(f64::MIN_POSITIVE);
        assert!(tiny.starts_with("0.0000") && tiny.len() > 1000, "{tiny}");
    }

    #[test]
    fn nul_operands_compare_through_their_prefix() {
        let mut b = Builder::default();
        assert_eq!(b.plain_compare("c", Operator::Lt, "ab\0x"), "c <= $1::text");
        assert_eq!(b.plain_compare("c", Operator::Gte, "ab\0x"), "c > $2::text");
        assert_eq!(b.plain_compare("c", Operator::Eq, "ab\0x"), "FALSE");
    }
}
