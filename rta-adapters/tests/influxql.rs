//! The Influx data identity check, fuzz-style: filters built from a
//! grammar of what InfluxQL allows pass; random text and random edits of
//! valid filters never panic and, when they pass, cannot close the
//! brackets they are wrapped in; every break-out pattern is refused.
#![allow(clippy::unwrap_used, missing_docs)]

use proptest::prelude::*;
use rta_adapters::influxql::{check_filter, fuzz_filter, quote_ident};

/// A string literal with any content, escaped as InfluxQL wants.
fn string_lit() -> impl Strategy<Value = String> {
    "[a-z0-9 ;()'\"/\\\\*-]{0,12}"
        .prop_map(|s| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")))
}

fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_]{0,8}",
        "[a-z ;()'/*-]{1,8}".prop_map(|s| quote_ident(&s))
    ]
}

fn regex_lit() -> impl Strategy<Value = String> {
    "[a-z0-9()|^$.;'\"*-]{0,10}".prop_map(|s| format!("/{s}/"))
}

/// A boolean expression InfluxQL accepts.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (ident(), string_lit()).prop_map(|(i, s)| format!("{i}={s}")),
        (ident(), regex_lit(), any::<bool>())
            .prop_map(|(i, r, neg)| format!("{i} {} {r}", if neg { "!~" } else { "=~" })),
        (ident(), 0u32..1000).prop_map(|(i, n)| format!("{i} / 2 > {n}")),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) OR ({b})")),
            inner.prop_map(|a| format!("( {a} )")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn grammar_filters_pass(e in expr()) {
        prop_assert!(check_filter(&e).is_ok(), "{e}: {:?}", check_filter(&e));
        fuzz_filter(e.as_bytes());
    }

    #[test]
    fn any_text_never_escapes(s in "[a-z0-9 ='\"()/;\\\\*~!-]{0,40}") {
        fuzz_filter(s.as_bytes());
    }

    #[test]
    fn edited_filters_never_escape(
        e in expr(),
        at in any::<prop::sample::Index>(),
        insert in prop_oneof![Just(")"), Just("("), Just("'"), Just("\""), Just(";"), Just("--"), Just("/*"), Just("/"), Just("\\"), Just("') OR ('1'='1")],
    ) {
        let mut s = e.clone();
        let mut i = at.index(s.len() + 1);
        while !s.is_char_boundary(i) { i -= 1; }
        s.insert_str(i, insert);
        fuzz_filter(s.as_bytes());
    }

    #[test]
    fn break_outs_are_refused(e in expr(), tail in prop_oneof![
        Just(") OR (1=1"), Just("); DROP DATABASE rtademo; SELECT (1"), Just(") --"),
        Just("; DELETE FROM data"), Just(") /*"), Just(")"),
    ]) {
        let s = format!("{e}{tail}");
        prop_assert!(check_filter(&s).is_err(), "{s}");
    }
}

#[test]
fn bytes_that_are_not_text_are_ignored() {
    fuzz_filter(&[0xff, b'\'', 0xfe]);
    fuzz_filter(b"");
}

/// The fuzz target's corpus (`fuzz/corpus/influx_filter`, grown by
/// `scripts/fuzz.sh 60 influx_filter`) replayed through the same property.
#[test]
fn fuzz_corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/influx_filter");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        fuzz_filter(&data);
        n += 1;
    }
    assert!(n >= 5, "the corpus in {} has {n} inputs", dir.display());
    assert!(
        check_filter(&String::from_utf8(std::fs::read(dir.join("seed0")).unwrap()).unwrap())
            .is_ok()
    );
    assert!(
        check_filter(&String::from_utf8(std::fs::read(dir.join("seed3")).unwrap()).unwrap())
            .is_err()
    );
}
