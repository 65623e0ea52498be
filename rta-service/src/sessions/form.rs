//! `application/x-www-form-urlencoded` pairs, keeping repeated keys.

/// Decodes `a=1&b=x+y&sort=a&sort=b` into pairs in order. A bare item
/// without `=` becomes a pair with an empty value.
pub(crate) fn parse_pairs(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|item| match item.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(item), String::new()),
        })
        .collect()
}

/// Percent-decodes, with `+` as space; invalid escapes are kept as written.
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 3 <= bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_keep_order_and_repeats() {
        let p = parse_pairs("sort=timestamp%3Aasc&quality:desc&folder=a%2Fb&q=x+y&bad=%zz&end=%4");
        assert_eq!(
            p,
            vec![
                ("sort".into(), "timestamp:asc".into()),
                ("quality:desc".into(), String::new()),
                ("folder".into(), "a/b".into()),
                ("q".into(), "x y".into()),
                ("bad".into(), "%zz".into()),
                ("end".into(), "%4".into()),
            ]
        );
    }
}
