//! Channel expressions: the spec example, parse errors, and property tests
//! against a naive set model.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use proptest::prelude::*;
use rta_core::channels::ChannelExpr;
use rta_core::Error;

fn parse(s: &str) -> ChannelExpr {
    s.parse().unwrap()
}

#[test]
fn spec_example() {
    let e = parse("-5,7,B-D,14-");
    for id in 0..=5 {
        assert!(e.contains(id), "{id}");
    }
    assert!(!e.contains(6));
    assert!(e.contains(7));
    assert!(!e.contains(8));
    assert!(!e.contains(0xA));
    assert!(e.contains(0xB) && e.contains(0xC) && e.contains(0xD));
    assert!(!e.contains(0xE));
    assert!(!e.contains(0x13));
    assert!(e.contains(0x14));
    assert!(e.contains(u32::MAX));
    assert_eq!(e.to_string(), "-5,7,B-D,14-");
    assert_eq!(
        e.ranges().collect::<Vec<_>>(),
        vec![0..=5, 7..=7, 0xB..=0xD, 0x14..=u32::MAX]
    );
    assert_eq!(e.len(), 6 + 1 + 3 + (u64::from(u32::MAX) - 0x14 + 1));
    assert_eq!(e.first(), Some(0));
    assert_eq!(e.last(), Some(u32::MAX));
}

#[test]
fn lenient_forms_normalise() {
    assert_eq!(parse(" 14- , d-f ,7,-5 ").to_string(), "-5,7,D-F,14-");
    assert_eq!(parse("b-d").to_string(), "B-D");
    assert_eq!(parse("000A").to_string(), "A");
    assert_eq!(parse("1,2,3,5").to_string(), "1-3,5");
    assert_eq!(parse("1-5,3-8").to_string(), "1-8");
    assert_eq!(parse("1-5,6-8").to_string(), "1-8");
    assert_eq!(parse("0").to_string(), "0");
    assert_eq!(parse("0-1").to_string(), "-1");
    assert_eq!(parse("FFFFFFFF").to_string(), "FFFFFFFF");
    assert_eq!(parse("FFFFFFFE-FFFFFFFF").to_string(), "FFFFFFFE-");
    assert_eq!(parse("5,5,5").to_string(), "5");
    assert_eq!(parse(" 3 - 4 ").to_string(), "3-4");
}

#[test]
fn all_and_open_ranges() {
    let all = parse("-");
    assert!(all.is_all());
    assert_eq!(all, ChannelExpr::all());
    assert_eq!(all.to_string(), "-");
    assert_eq!(parse("0-FFFFFFFF"), all);
    assert_eq!(parse("-7,8-"), all);
    assert_eq!(parse("0-"), all);
    assert_eq!(parse("-FFFFFFFF"), all);
    assert!(!parse("1-").is_all());
    assert_eq!(all.len(), 1 << 32);
    assert!(all.complement().is_empty());
    assert_eq!(ChannelExpr::empty().complement(), all);
}

#[test]
fn errors_name_expression_and_reason() {
    for bad in [
        "",
        "  ",
        ",",
        "1,",
        ",1",
        "1,,2",
        "G",
        "0x5",
        "+5",
        "5+",
        "1-2-3",
        "--5",
        "5--",
        "D-B",
        "100000000",
        "1-100000000",
        "1 2",
        "-5,?",
        "é",
        "١",
    ] {
        match bad.parse::<ChannelExpr>() {
            Err(Error::Channels { expr, reason }) => {
                assert_eq!(expr, bad);
                assert!(!reason.is_empty());
            }
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
    let msg = "D-B".parse::<ChannelExpr>().unwrap_err().to_string();
    assert!(msg.contains("D-B") && msg.contains("reversed"), "{msg}");
    let msg = "1,,2".parse::<ChannelExpr>().unwrap_err().to_string();
    assert!(msg.contains("empty"), "{msg}");
    let msg = "123456789".parse::<ChannelExpr>().unwrap_err().to_string();
    assert!(msg.contains("larger"), "{msg}");
}

#[test]
fn iter_is_lazy_and_crosses_max() {
    let e = parse("14-");
    assert_eq!(e.iter().take(3).collect::<Vec<_>>(), vec![0x14, 0x15, 0x16]);
    let top = parse("FFFFFFFD-,2");
    assert_eq!(
        top.iter().collect::<Vec<_>>(),
        vec![2, 0xFFFF_FFFD, 0xFFFF_FFFE, 0xFFFF_FFFF]
    );
    assert_eq!(top.iter().size_hint(), (4, Some(4)));
    assert_eq!((&top).into_iter().count(), 4);
    assert_eq!(ChannelExpr::empty().iter().next(), None);
    let three = parse("3");
    let mut it = three.iter();
    assert_eq!(it.next(), Some(3));
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
}

#[test]
fn shift_clips_and_checked_shift_fails() {
    let e = parse("-5,7,14-");
    assert_eq!(e.shift(-3).to_string(), "-2,4,11-FFFFFFFC");
    assert_eq!(e.shift(0x10).to_string(), "10-15,17,24-");
    assert_eq!(e.shift(i64::MAX), ChannelExpr::empty());
    assert_eq!(e.shift(i64::MIN), ChannelExpr::empty());
    assert_eq!(e.shift(0), e);
    let closed = parse("10-20,30");
    assert_eq!(closed.checked_shift(-0x10).unwrap().to_string(), "-10,20");
    assert_eq!(closed.checked_shift(5).unwrap().to_string(), "15-25,35");
    assert!(matches!(
        closed.checked_shift(-0x11),
        Err(Error::Channels { .. })
    ));
    assert!(e.checked_shift(1).is_err());
    // A data binding: session channels 100-1FF map to data channels from 0.
    let requested = parse("-5,150-160,300");
    let bound = requested.intersect(&ChannelExpr::range(0x100, 0x1FF));
    assert_eq!(bound.shift(-0x100).to_string(), "50-60");
}

#[test]
fn serde_as_string() {
    let e = parse("b-d,7");
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(json, "\"7,B-D\"");
    let back: ChannelExpr = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
    assert!(serde_json::from_str::<ChannelExpr>("\"D-B\"").is_err());
}

#[test]
fn constructors() {
    assert_eq!(ChannelExpr::range(5, 3), ChannelExpr::empty());
    assert_eq!(ChannelExpr::from(3..=5).to_string(), "3-5");
    assert_eq!(ChannelExpr::single(0xAB).to_string(), "AB");
    assert_eq!(
        ChannelExpr::from_ranges([9..=12, 1..=3, 4..=4, RangeInclusive::new(7, 6)]).to_string(),
        "1-4,9-C"
    );
    assert_eq!(
        [u32::MAX, 0, u32::MAX - 1]
            .into_iter()
            .collect::<ChannelExpr>()
            .to_string(),
        "0,FFFFFFFE-"
    );
    assert!(ChannelExpr::empty().is_empty());
    assert_eq!(ChannelExpr::empty().to_string(), "");
}

/// A random id, biased towards small values and the top of the range so that
/// ranges collide and open ends are exercised.
fn id() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..64, (u32::MAX - 64)..=u32::MAX, any::<u32>(),]
}

/// A random expression as written by a client, together with the ranges it denotes.
fn written_expr() -> impl Strategy<Value = (String, Vec<(u32, u32)>)> {
    let item = prop_oneof![
        id().prop_map(|a| (format!("{a:x}"), (a, a))),
        (id(), id()).prop_map(|(a, b)| {
            let (a, b) = (a.min(b), a.max(b));
            (format!("{a:X}-{b:x}"), (a, b))
        }),
        id().prop_map(|b| (format!("-{b:X}"), (0, b))),
        id().prop_map(|a| (format!("{a:X}-"), (a, u32::MAX))),
        id().prop_map(|a| (format!(" 00{a:X} "), (a, a))),
    ];
    prop::collection::vec(item, 1..8).prop_map(|items| {
        let text = items
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>()
            .join(",");
        (text, items.into_iter().map(|(_, r)| r).collect())
    })
}

/// Naive model restricted to probe ids: is `id` in any of the ranges?
fn model_contains(ranges: &[(u32, u32)], id: u32) -> bool {
    ranges.iter().any(|&(a, b)| a <= id && id <= b)
}

/// Ids worth probing: every range bound and its neighbours, plus a few fixed.
fn probes(ranges: &[(u32, u32)]) -> BTreeSet<u32> {
    let mut out: BTreeSet<u32> = [0, 1, u32::MAX, u32::MAX - 1, 0x8000_0000].into();
    for &(a, b) in ranges {
        for x in [a, b] {
            out.insert(x);
            out.insert(x.wrapping_add(1));
            out.insert(x.wrapping_sub(1));
        }
    }
    out
}

fn small_set() -> impl Strategy<Value = BTreeSet<u32>> {
    prop::collection::btree_set(0u32..200, 0..60)
}

proptest! {
    #[test]
    fn parse_matches_model_and_round_trips((text, ranges) in written_expr(), extra in any::<u32>()) {
        let e: ChannelExpr = text.parse().unwrap();
        let mut probe = probes(&ranges);
        probe.insert(extra);
        for id in probe {
            prop_assert_eq!(e.contains(id), model_contains(&ranges, id), "id {:X} in {}", id, text);
        }
        // canonical form parses back to the same set and is a fixed point
        let canonical = e.to_string();
        let back: ChannelExpr = canonical.parse().unwrap();
        prop_assert_eq!(&back, &e);
        prop_assert_eq!(back.to_string(), canonical.clone());
        prop_assert!(canonical.chars().all(|c| c == ',' || c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()));
        // ranges are sorted, disjoint and not adjacent
        let rs: Vec<_> = e.ranges().collect();
        for w in rs.windows(2) {
            prop_assert!(u64::from(*w[0].end()) + 1 < u64::from(*w[1].start()));
        }
    }

    #[test]
    fn small_sets_against_btreeset(a in small_set(), b in small_set(), shift in -250i64..250) {
        let ea = ChannelExpr::from_ids(a.iter().copied());
        let eb = ChannelExpr::from_ids(b.iter().copied());
        prop_assert_eq!(ea.iter().collect::<BTreeSet<_>>(), a.clone());
        prop_assert_eq!(ea.len(), a.len() as u64);
        prop_assert_eq!(ea.is_empty(), a.is_empty());
        for id in 0..210 {
            prop_assert_eq!(ea.contains(id), a.contains(&id));
        }
        let inter: BTreeSet<u32> = a.intersection(&b).copied().collect();
        prop_assert_eq!(ea.intersect(&eb).iter().collect::<BTreeSet<_>>(), inter.clone());
        prop_assert_eq!(ea.intersect(&eb), ChannelExpr::from_ids(inter));
        let uni: BTreeSet<u32> = a.union(&b).copied().collect();
        prop_assert_eq!(ea.union(&eb), ChannelExpr::from_ids(uni));
        let diff: BTreeSet<u32> = a.difference(&b).copied().collect();
        prop_assert_eq!(ea.difference(&eb), ChannelExpr::from_ids(diff));
        let shifted: BTreeSet<u32> = a
            .iter()
            .filter_map(|&x| u32::try_from(i64::from(x) + shift).ok())
            .collect();
        prop_assert_eq!(ea.shift(shift), ChannelExpr::from_ids(shifted.clone()));
        prop_assert_eq!(ea.checked_shift(shift).is_ok(), shifted.len() == a.len());
        if !a.is_empty() {
            prop_assert_eq!(ea.to_string().parse::<ChannelExpr>().unwrap(), ea.clone());
        }
    }

    #[test]
    fn intersect_with_open_ranges((ta, ra) in written_expr(), (tb, rb) in written_expr()) {
        let ea: ChannelExpr = ta.parse().unwrap();
        let eb: ChannelExpr = tb.parse().unwrap();
        let i = ea.intersect(&eb);
        let u = ea.union(&eb);
        let mut probe = probes(&ra);
        probe.extend(probes(&rb));
        for id in probe {
            let (ia, ib) = (model_contains(&ra, id), model_contains(&rb, id));
            prop_assert_eq!(i.contains(id), ia && ib);
            prop_assert_eq!(u.contains(id), ia || ib);
            prop_assert_eq!(ea.complement().contains(id), !ia);
        }
        prop_assert_eq!(i.len() + u.len(), ea.len() + eb.len());
        prop_assert_eq!(ea.complement().complement(), ea.clone());
    }

    #[test]
    fn arbitrary_text_never_panics(s in "[-,0-9a-fA-FxX +\\t]{0,24}") {
        match s.parse::<ChannelExpr>() {
            Ok(e) => {
                // whatever parsed is non-empty and round-trips
                prop_assert!(!e.is_empty());
                prop_assert_eq!(e.to_string().parse::<ChannelExpr>().unwrap(), e);
            }
            Err(Error::Channels { expr, .. }) => prop_assert_eq!(expr, s),
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }
}
