//! InfluxDB 1.x query responses (`epoch=ns`), one JSON document per line
//! when `chunked=true`, parsed straight into columns: a time column and
//! one `f64` column per selected field (`NaN` where the row has no value;
//! InfluxDB cannot store `NaN`, so it never stands for a real sample).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

/// One response document.
#[derive(Debug, Deserialize)]
pub(crate) struct Response {
    #[serde(default)]
    pub results: Vec<StatementResult>,
    #[serde(default)]
    pub error: Option<String>,
}

/// The result of one statement.
#[derive(Debug, Deserialize)]
pub(crate) struct StatementResult {
    #[serde(default)]
    pub series: Vec<Series>,
    #[serde(default)]
    pub error: Option<String>,
}

/// Rows of one series, column by column.
#[derive(Debug, Deserialize)]
pub(crate) struct Series {
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub values: Columns,
}

/// `values` as columns: times, then the value columns in `columns` order
/// (after `time`).
#[derive(Debug, Default)]
pub(crate) struct Columns {
    pub times: Vec<i64>,
    pub values: Vec<Vec<f64>>,
}

impl<'de> Deserialize<'de> for Columns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Rows;
        impl<'de> Visitor<'de> for Rows {
            type Value = Columns;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of rows")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Columns, A::Error> {
                let mut cols = Columns::default();
                let n = seq.size_hint().unwrap_or(0);
                cols.times.reserve(n);
                while seq.next_element_seed(RowSeed(&mut cols))?.is_some() {}
                Ok(cols)
            }
        }
        d.deserialize_seq(Rows)
    }
}

/// Appends one row to the columns.
struct RowSeed<'a>(&'a mut Columns);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row [time, value, ...]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let cols = self.0;
        let Some(t) = seq.next_element::<i64>()? else {
            return Err(serde::de::Error::custom("a row without a time"));
        };
        let row = cols.times.len();
        cols.times.push(t);
        let mut k = 0;
        while let Some(v) = seq.next_element::<Value>()? {
            if cols.values.len() <= k {
                cols.values.push(vec![f64::NAN; row]);
            }
            cols.values[k].push(v.0);
            k += 1;
        }
        // Columns this row did not have.
        for col in cols.values.iter_mut().skip(k) {
            col.push(f64::NAN);
        }
        Ok(())
    }
}

/// A field value as `f64`: numbers as they are, booleans as 0 or 1, null
/// and strings as `NaN` (no sample).
struct Value(f64);

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field value")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
                Ok(Value(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
                Ok(Value(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
                Ok(Value(v as f64))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
                Ok(Value(if v { 1.0 } else { 0.0 }))
            }
            fn visit_str<E>(self, _: &str) -> Result<Value, E> {
                Ok(Value(f64::NAN))
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value(f64::NAN))
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value(f64::NAN))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Value(f64::NAN))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_columns_with_gaps() {
        let doc = r#"{"results":[{"statement_id":0,"series":[{"name":"data","columns":["time","alpha","beta"],
            "values":[[2000000000,2.5,null],[3000000000,3.5,4],[4000000000,true,"x"]]}],"partial":true}]}"#;
        let r: Response = serde_json::from_str(doc).unwrap();
        let s = &r.results[0].series[0];
        assert_eq!(s.columns, ["time", "alpha", "beta"]);
        assert_eq!(
            s.values.times,
            [2_000_000_000, 3_000_000_000, 4_000_000_000]
        );
        assert_eq!(s.values.values[0], [2.5, 3.5, 1.0]);
        assert!(s.values.values[1][0].is_nan() && s.values.values[1][2].is_nan());
        assert_eq!(s.values.values[1][1], 4.0);
        let r: Response = serde_json::from_str(r#"{"error":"error parsing query"}"#).unwrap();
        assert_eq!(r.error.as_deref(), Some("error parsing query"));
        let r: Response = serde_json::from_str(r#"{"results":[{"statement_id":0}]}"#).unwrap();
        assert!(r.results[0].series.is_empty());
    }
}
