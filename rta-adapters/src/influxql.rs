//! InfluxQL text: quoting identifiers, checking a data identity's filter,
//! and the `SELECT` the adapter sends.
//!
//! The data identity is an InfluxQL boolean expression the service wraps in
//! brackets in the `WHERE` clause. [`check_filter`] tokenizes it (strings,
//! quoted identifiers, regular expressions, parentheses) and refuses
//! anything that could reach outside its brackets: unbalanced parentheses,
//! an unterminated string, identifier or regex, a `;` (a second
//! statement), or a comment (which would hide the time bounds that follow).

use rta_core::{Error, Result};

/// Longest identity accepted (bytes).
pub const MAX_FILTER_LEN: usize = 4096;

/// A double-quoted InfluxQL identifier: `"` and `\` escaped.
///
/// ```
/// use rta_adapters::influxql::quote_ident;
/// assert_eq!(quote_ident(r#"a"b\c"#), r#""a\"b\\c""#);
/// ```
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        // A line break inside an identifier cannot be escaped in InfluxQL:
        // it is replaced, so the query stays one statement on one line.
        out.push(if c == '\n' || c == '\r' { ' ' } else { c });
    }
    out.push('"');
    out
}

fn refuse(filter: &str, at: usize, what: &str) -> Error {
    let shown: String = filter.chars().take(80).collect();
    Error::InvalidArgument(format!(
        "data identity {shown:?} is not a usable InfluxQL filter: {what} at byte {at}"
    ))
}

/// Checks that `filter` stays inside the brackets it is wrapped in.
///
/// ```
/// use rta_adapters::influxql::check_filter;
/// assert!(check_filter("session='a1' AND (car =~ /^E(A|B)/ OR lap > 3)").is_ok());
/// for bad in ["session='a') OR (1=1", "x='a'; DROP DATABASE d", "x='a", "(x=1", "x=1 -- hide"] {
///     assert!(check_filter(bad).is_err(), "{bad}");
/// }
/// ```
pub fn check_filter(filter: &str) -> Result<()> {
    if filter.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "the data identity is empty: it must be an InfluxQL filter such as session='...'"
                .into(),
        ));
    }
    if filter.len() > MAX_FILTER_LEN {
        return Err(refuse(filter, MAX_FILTER_LEN, "longer than 4096 bytes"));
    }
    let b = filter.as_bytes();
    let mut depth = 0usize;
    // A regex literal may follow `=~` or `!~` (and whitespace).
    let mut regex_allowed = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' => {
                i = skip_quoted(filter, i, c)?;
                regex_allowed = false;
                continue;
            }
            b'/' if regex_allowed => {
                i = skip_quoted(filter, i, b'/')?;
                regex_allowed = false;
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                if depth == 0 {
                    return Err(refuse(filter, i, "a ')' closes more than was opened"));
                }
                depth -= 1;
            }
            b';' => return Err(refuse(filter, i, "';' would start another statement")),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                return Err(refuse(filter, i, "a '--' comment"));
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                return Err(refuse(filter, i, "a '/*' comment"));
            }
            c if c < 0x20 && c != b' ' && c != b'\t' => {
                return Err(refuse(filter, i, "a control character"));
            }
            _ => {}
        }
        if c == b'~' && i > 0 && (b[i - 1] == b'=' || b[i - 1] == b'!') {
            regex_allowed = true;
        } else if !c.is_ascii_whitespace() {
            regex_allowed = false;
        }
        i += 1;
    }
    if depth > 0 {
        return Err(refuse(filter, b.len(), "an unclosed '('"));
    }
    Ok(())
}

/// The fuzz target's property: whatever `data` is, checking it never
/// panics, and a filter that passes cannot close the bracket it is
/// wrapped in, nor hide what follows it: `filter)` is refused and
/// `(filter) AND x` passes. Panics when the property fails.
///
/// ```
/// rta_adapters::influxql::fuzz_filter(b"session='a' AND (x = 1)");
/// rta_adapters::influxql::fuzz_filter(b"x') OR ('1");
/// ```
pub fn fuzz_filter(data: &[u8]) {
    let Ok(filter) = std::str::from_utf8(data) else {
        return;
    };
    if check_filter(filter).is_ok() {
        assert!(
            check_filter(&format!("{filter})")).is_err(),
            "{filter:?} passes and leaves a ')' able to close its bracket"
        );
        let wrapped = format!("({filter}) AND time >= 0");
        assert!(
            wrapped.len() > MAX_FILTER_LEN || check_filter(&wrapped).is_ok(),
            "{filter:?} passes but does not end where it started"
        );
    }
}

/// Skips a quoted token starting at `start` (the quote); returns the index
/// after its closing quote. A backslash escapes the next byte.
fn skip_quoted(filter: &str, start: usize, quote: u8) -> Result<usize> {
    let b = filter.as_bytes();
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return Ok(i + 1),
            b'\n' | b'\r' if quote == b'/' => break,
            _ => i += 1,
        }
    }
    let what = match quote {
        b'\'' => "an unterminated string",
        b'"' => "an unterminated quoted identifier",
        _ => "an unterminated regular expression",
    };
    Err(refuse(filter, start, what))
}

/// Where a query reads from: `"database"."retention_policy"."measurement"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Database.
    pub database: String,
    /// Retention policy.
    pub retention_policy: String,
    /// Measurement.
    pub measurement: String,
}

/// `SELECT "f1","f2" FROM "db"."rp"."m" WHERE (filter) AND time >= lo AND time <= hi`
/// (`SELECT *::field` when `fields` is empty).
/// The filter must have passed [`check_filter`]; names are quoted here.
///
/// ```
/// use rta_adapters::influxql::{select, Source};
/// let src = Source { database: "mydb".into(), retention_policy: "autogen".into(), measurement: "mydata".into() };
/// assert_eq!(
///     select(&["bbb", "ccc"], &src, "someData='5083'", None, None),
///     r#"SELECT "bbb","ccc" FROM "mydb"."autogen"."mydata" WHERE (someData='5083')"#
/// );
/// assert!(select(&["a"], &src, "x=1", Some(10), Some(20)).ends_with("WHERE (x=1) AND time >= 10 AND time <= 20"));
/// ```
pub fn select(
    fields: &[&str],
    from: &Source,
    filter: &str,
    start: Option<i64>,
    end: Option<i64>,
) -> String {
    let fields: Vec<String> = fields.iter().map(|f| quote_ident(f)).collect();
    let fields = if fields.is_empty() {
        "*::field".to_string() // every field, no tags
    } else {
        fields.join(",")
    };
    let mut q = format!(
        "SELECT {fields} FROM {}.{}.{} WHERE ({filter})",
        quote_ident(&from.database),
        quote_ident(&from.retention_policy),
        quote_ident(&from.measurement),
    );
    if let Some(s) = start {
        q.push_str(&format!(" AND time >= {s}"));
    }
    if let Some(e) = end {
        q.push_str(&format!(" AND time <= {e}"));
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_the_toolkit_docs_show_pass() {
        for ok in [
            "someData='50835ebe-a7f6-453b-9efd-c956e6da09f4'",
            "car_reg='EA04 LFG' AND trip_id='cd15a409'",
            "session='it\\'s' AND \"odd\"\"name\"=1",
            "\"tag\"='a;b' OR x = 'c)--d'",
            "host =~ /^(web|db)\\/[0-9]+$/ AND (a / 2 > 1)",
            "a !~ /x;y/",
        ] {
            assert!(check_filter(ok).is_ok(), "{ok}: {:?}", check_filter(ok));
        }
    }

    #[test]
    fn escapes_are_refused_with_a_reason() {
        for (bad, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("x='a') OR (1=1", "closes more"),
            ("x='a')", "closes more"),
            ("(x='a'", "unclosed"),
            ("x='a", "unterminated string"),
            ("\"x='a'", "unterminated quoted identifier"),
            ("x =~ /abc", "unterminated regular expression"),
            ("x='a'; DROP DATABASE rtademo", "another statement"),
            ("x=1 -- rest", "comment"),
            ("x=1 /* rest", "comment"),
            ("x=1\n;", "control character"),
            ("x='\\'", "unterminated string"),
        ] {
            let e = check_filter(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        assert!(check_filter(&"a".repeat(MAX_FILTER_LEN + 1)).is_err());
    }
}
