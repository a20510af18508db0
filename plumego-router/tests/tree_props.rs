//! Property tests for `plumego_router::tree`, checked against a naive
//! reference matcher, plus the GitHub API route table. Allocations and timing
//! of lookups are measured in `benches/` (`cargo bench -p plumego-benches`).

use plumego_router::tree::{Params, Pattern, Segment, Tree, parse};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Reference matcher: the documented semantics, written the slow obvious way.

/// Segment kinds in priority order.
fn kinds(p: &Pattern) -> Vec<u8> {
    p.segments()
        .iter()
        .map(|s| match s {
            Segment::Static(_) => 0,
            Segment::Param(_) => 1,
            Segment::CatchAll(_) => 2,
        })
        .collect()
}

/// Values captured if `p` matches `path` (a normalised path).
fn ref_match(p: &Pattern, path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('/')?;
    let segs: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    let mut vals = Vec::new();
    let mut i = 0;
    for s in p.segments() {
        match s {
            Segment::Static(lit) => {
                if segs.get(i) != Some(&&**lit) {
                    return None;
                }
            }
            Segment::Param(_) => {
                let v = segs.get(i).filter(|v| !v.is_empty())?;
                vals.push((*v).to_owned());
            }
            Segment::CatchAll(_) => {
                if i >= segs.len() || segs[i..].iter().any(|s| s.is_empty()) {
                    return None;
                }
                vals.push(segs[i..].join("/"));
                return Some(vals);
            }
        }
        i += 1;
    }
    (i == segs.len()).then_some(vals)
}

/// Best accepted match: backtracking static > param > catch-all per segment
/// is the lexicographically smallest kind sequence among all matches.
fn ref_find<'a>(
    routes: &'a [(Pattern, usize)],
    path: &str,
    accept: impl Fn(usize) -> bool,
) -> Option<(&'a Pattern, Vec<String>)> {
    routes
        .iter()
        .filter(|(_, id)| accept(*id))
        .filter_map(|(p, _)| ref_match(p, path).map(|v| (p, v)))
        .min_by_key(|(p, _)| kinds(p))
}

/// Run the tree; return the matched value and captured strings.
fn tree_find(
    t: &Tree<usize>,
    path: &str,
    accept: impl Fn(usize) -> bool,
) -> Option<(usize, Vec<String>)> {
    let mut params = Params::new();
    let id = *t.find(path, &mut params, |v| accept(*v))?;
    let vals = params.iter().map(|(s, e)| path[s..e].to_owned()).collect();
    Some((id, vals))
}

/// Register patterns, skipping parse errors, conflicts and duplicates.
fn build(raws: &[String]) -> (Tree<usize>, Vec<(Pattern, usize)>) {
    let mut t = Tree::new();
    let mut routes = Vec::new();
    for raw in raws {
        let Ok(p) = parse(raw) else { continue };
        let Ok(slot) = t.insert(&p) else { continue };
        if slot.is_none() {
            *slot = Some(routes.len());
            routes.push((p, routes.len()));
        }
    }
    (t, routes)
}

// ---------------------------------------------------------------------------
// Generators.

/// A pattern over a tiny alphabet so that patterns overlap a lot, spelled in
/// either syntax.
fn pattern_strategy() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "ab", "c"]).prop_map(String::from),
        2 => (prop::sample::select(vec!["x", "y"]), any::<bool>())
            .prop_map(|(n, brace)| if brace { format!("{{{n}}}") } else { format!(":{n}") }),
        1 => (prop::sample::select(vec!["r", "s"]), any::<bool>())
            .prop_map(|(n, brace)| if brace { format!("{{*{n}}}") } else { format!("*{n}") }),
    ];
    prop::collection::vec(seg, 0..5).prop_map(|segs| {
        let mut s = String::new();
        for seg in segs {
            s.push('/');
            s.push_str(&seg);
        }
        s
    })
}

fn path_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "ab", "c", "1", "x", "abc"]),
        0..6,
    )
    .prop_map(|segs| format!("/{}", segs.join("/")))
}

/// A path for `p` with each param replaced by a non-empty value (digits, so
/// never equal to a literal of `pattern_strategy`), plus those values.
fn instantiate(p: &Pattern, values: &[String], tail: &[String]) -> (String, Vec<String>) {
    let mut path = String::new();
    let mut vals = Vec::new();
    for (i, s) in p.segments().iter().enumerate() {
        path.push('/');
        match s {
            Segment::Static(lit) => path.push_str(lit),
            Segment::Param(_) => {
                let v = &values[i % values.len()];
                path.push_str(v);
                vals.push(v.clone());
            }
            Segment::CatchAll(_) => {
                let v = tail.join("/");
                path.push_str(&v);
                vals.push(v);
            }
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    (path, vals)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_insert_find_never_panic(
        raws in prop::collection::vec(
            prop_oneof![any::<String>(), "[/:*{}a_1é.]{0,24}"], 0..16),
        paths in prop::collection::vec(
            prop_oneof![any::<String>(), "[/:*{}a_1é.]{0,24}"], 0..16),
    ) {
        let mut t: Tree<usize> = Tree::new();
        for (i, raw) in raws.iter().enumerate() {
            if let Ok(p) = parse(raw) {
                // Canonical form re-parses to the same pattern.
                prop_assert_eq!(parse(p.as_str()), Ok(p.clone()));
                if let Ok(slot) = t.insert(&p) {
                    *slot = Some(i);
                }
            }
        }
        let mut params = Params::new();
        for path in paths.iter().chain(&raws) {
            if t.find(path, &mut params, |_| true).is_some() {
                for (s, e) in params.iter() {
                    prop_assert!(s < e && e <= path.len());
                    prop_assert!(path.get(s..e).is_some());
                }
            } else {
                prop_assert!(params.is_empty());
            }
        }
    }

    #[test]
    fn static_patterns_find_themselves(
        raws in prop::collection::vec("(/[a-z0-9._-][a-z0-9._:*-]{0,5}){0,5}/?", 1..40),
    ) {
        let (t, routes) = build(&raws);
        prop_assert_eq!(routes.len(),
            raws.iter().map(|r| parse(r).unwrap()).collect::<std::collections::HashSet<_>>().len());
        for (p, id) in &routes {
            prop_assert_eq!(tree_find(&t, p.as_str(), |_| true), Some((*id, vec![])));
        }
    }

    #[test]
    fn param_patterns_find_substituted_paths(
        raws in prop::collection::vec(pattern_strategy(), 1..12),
        values in prop::collection::vec("[0-9]{1,3}", 1..4),
        tail in prop::collection::vec("[0-9a-c]{1,3}", 1..4),
    ) {
        let (t, routes) = build(&raws);
        for (p, id) in &routes {
            let (path, vals) = instantiate(p, &values, &tail);
            let want = ref_find(&routes, &path, |_| true);
            let want = want.map(|(wp, wv)| (routes.iter().find(|(q, _)| q == wp).unwrap().1, wv));
            prop_assert!(want.is_some(), "{} does not match its own path {}", p, path);
            prop_assert_eq!(tree_find(&t, &path, |_| true), want.clone(), "path {}", path);
            if want.as_ref().map(|(w, _)| w) == Some(id) {
                prop_assert_eq!(want.unwrap().1, vals);
            }
        }
    }

    #[test]
    fn matches_reference_with_backtracking_and_accept(
        raws in prop::collection::vec(pattern_strategy(), 1..16),
        paths in prop::collection::vec(path_strategy(), 1..16),
        rejected in prop::collection::vec(any::<bool>(), 16),
    ) {
        let (t, routes) = build(&raws);
        let accept = |id: usize| !rejected[id];
        for path in &paths {
            let want = ref_find(&routes, path, accept).map(|(p, v)| {
                (routes.iter().find(|(q, _)| q == p).unwrap().1, v)
            });
            prop_assert_eq!(tree_find(&t, path, accept), want, "path {}", path);
        }
    }
}

// ---------------------------------------------------------------------------
// The GitHub API GET route table from matchit's benchmark (which counts
// 130 routes; this transcription has 131).

// The same table the router benchmarks use.
include!("../../benches/src/github.rs");

/// Request paths for the table: each param replaced by a value.
fn github_paths() -> Vec<String> {
    GITHUB
        .iter()
        .map(|r| {
            r.split('/')
                .map(|s| if s.starts_with(':') { "v42x" } else { s })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

fn github_tree() -> Tree<usize> {
    let mut t = Tree::new();
    for (i, r) in GITHUB.iter().enumerate() {
        let slot = t.insert(&parse(r).unwrap()).unwrap();
        assert!(slot.is_none(), "duplicate {r}");
        *slot = Some(i);
    }
    t
}

#[test]
fn github_table_routes_find_themselves() {
    assert_eq!(GITHUB.len(), 131);
    let t = github_tree();
    let paths = github_paths();
    let mut params = Params::new();
    for (i, path) in paths.iter().enumerate() {
        assert_eq!(t.find(path, &mut params, |_| true), Some(&i), "{path}");
        let n = parse(GITHUB[i]).unwrap().param_count();
        assert_eq!(params.len(), n);
        for j in 0..n {
            assert_eq!(params.value(j, path), Some("v42x"));
        }
    }
}

#[test]
fn many_params_spill_without_truncation() {
    let n = 300;
    let pattern: String = (0..n).map(|i| format!("/s{i}/:p{i}")).collect();
    let path: String = (0..n).map(|i| format!("/s{i}/v{i}")).collect();
    let mut t: Tree<()> = Tree::new();
    *t.insert(&parse(&pattern).unwrap()).unwrap() = Some(());
    let mut params = Params::new();
    assert!(t.find(&path, &mut params, |_| true).is_some());
    assert_eq!(params.len(), n);
    for i in 0..n {
        assert_eq!(params.value(i, &path), Some(&*format!("v{i}")));
    }
}
