//! Gate `deps`, family level: `plumego-x` families may not reach into each
//! other unless `specs/dependency-rules.yaml` allows it.
//!
//! A family is a directory `plumego-x/src/<family>/` (plus an optional
//! `plumego-x/src/<family>.rs`). Every `.rs` file of a family is tokenised
//! (comments and string literals drop out on their own) and scanned for
//! `crate::<other>`, `$crate::<other>`, `crate::{<other>, ...}` and
//! `super::...` chains that climb to the crate root, in `use` items, paths,
//! and macro arguments alike.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

use crate::report::{CheckReport, Violation};
use crate::spec::{DEPENDENCY_RULES, FamilyRules};
use crate::util::rel;

/// A reference from one file to a top-level module of the crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleRef {
    /// The top-level module named (`cache` in `crate::cache::Store`).
    pub module: String,
    /// 1-based line.
    pub line: usize,
}

/// The families under `families_root`: its sub-directories, sorted.
pub fn families(families_root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(families_root) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                if let Some(name) = e.file_name().to_str() {
                    out.push(name.to_owned());
                }
            }
        }
    }
    out.sort();
    out
}

/// Checks cross-family references under `families_root`.
///
/// `display_root` is stripped from file names in messages. `features`, when
/// given, is the feature set of `plumego-x`: each family must have a
/// same-named feature.
pub fn check_family_imports(
    families_root: &Path,
    display_root: &Path,
    rules: &FamilyRules,
    features: Option<&BTreeSet<String>>,
) -> CheckReport {
    let mut report = CheckReport::new("deps");
    let fams = families(families_root);
    let known: BTreeSet<&str> = fams.iter().map(String::as_str).collect();
    let rule_path = format!("{DEPENDENCY_RULES} extension_families.allowed_imports");

    for (family, allowed) in &rules.allowed_imports {
        for name in std::iter::once(family).chain(allowed) {
            if !known.contains(name.as_str()) {
                report.push(
                    Violation::new(format!(
                        "{DEPENDENCY_RULES}: extension_families names unknown family `{name}`"
                    ))
                    .fix(format!(
                        "remove the stale entry or create {}/{name}/",
                        rel(display_root, families_root)
                    ))
                    .rule(rule_path.clone()),
                );
            }
        }
    }

    for family in &fams {
        if let Some(features) = features {
            if !features.contains(family) {
                report.push(
                    Violation::new(format!(
                        "plumego-x family `{family}` has no cargo feature `{family}`"
                    ))
                    .fix(format!(
                        "add `{family} = [...]` to [features] in plumego-x/Cargo.toml and gate `mod {family}` on it"
                    ))
                    .rule("specs/repo.yaml layers.extension (one cargo feature per family)"),
                );
            }
        }
        let allowed: BTreeSet<&str> = rules
            .allowed_imports
            .get(family)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        for (file, module_path) in family_files(families_root, family) {
            let shown = rel(display_root, &file);
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    report.push(Violation::new(format!("{shown}: cannot read: {e}")));
                    continue;
                }
            };
            let refs = match crate_root_refs(&text, &module_path) {
                Ok(r) => r,
                Err(e) => {
                    report.push(Violation::new(format!("{shown}: cannot tokenize: {e}")));
                    continue;
                }
            };
            for r in refs {
                if r.module == *family
                    || !known.contains(r.module.as_str())
                    || allowed.contains(r.module.as_str())
                {
                    continue;
                }
                report.push(
                    Violation::new(format!(
                        "{shown}:{}: family `{family}` imports family `{}` (crate::{})",
                        r.line, r.module, r.module
                    ))
                    .fix(format!(
                        "move the shared piece into a stable crate, or allow it with `{family}: [{}]` under extension_families.allowed_imports",
                        r.module
                    ))
                    .rule(rule_path.clone()),
                );
            }
        }
    }
    report
}

/// The `.rs` files of `family` with their module paths (`[family, sub, ...]`).
fn family_files(root: &Path, family: &str) -> Vec<(PathBuf, Vec<String>)> {
    let mut out = Vec::new();
    let flat = root.join(format!("{family}.rs"));
    if flat.is_file() {
        out.push((flat, vec![family.to_owned()]));
    }
    walk(&root.join(family), vec![family.to_owned()], &mut out);
    out.sort();
    out
}

fn walk(dir: &Path, module: Vec<String>, out: &mut Vec<(PathBuf, Vec<String>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let Some(name) = p.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if p.is_dir() {
            let mut m = module.clone();
            m.push(name);
            walk(&p, m, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut m = module.clone();
            if stem != "mod" {
                m.push(stem.to_owned());
            }
            out.push((p, m));
        }
    }
}

/// Every reference to a top-level module of the crate in `source`, a file
/// whose module path is `module_path` (empty for the crate root).
pub fn crate_root_refs(source: &str, module_path: &[String]) -> Result<Vec<ModuleRef>, String> {
    let stream = TokenStream::from_str(source).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    scan(stream, module_path, &mut out);
    Ok(out)
}

fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    matches!(
        (tokens.get(i), tokens.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) if a.as_char() == ':' && b.as_char() == ':'
    )
}

fn ident_at(tokens: &[TokenTree], i: usize) -> Option<String> {
    match tokens.get(i) {
        Some(TokenTree::Ident(id)) => Some(id.to_string()),
        _ => None,
    }
}

fn scan(stream: TokenStream, module_path: &[String], out: &mut Vec<ModuleRef>) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Ident(id) if id == "mod" => {
                if let (Some(name), Some(TokenTree::Group(g))) =
                    (ident_at(&tokens, i + 1), tokens.get(i + 2))
                {
                    if g.delimiter() == Delimiter::Brace {
                        let mut inner = module_path.to_vec();
                        inner.push(name);
                        scan(g.stream(), &inner, out);
                        i += 3;
                        continue;
                    }
                }
            }
            TokenTree::Ident(id) if id == "crate" && is_path_sep(&tokens, i + 1) => {
                let line = id.span().start().line;
                named_after(&tokens, i + 3, line, out);
                i += 3;
                continue;
            }
            TokenTree::Ident(id) if id == "super" => {
                let line = id.span().start().line;
                let mut depth = 0;
                let mut j = i;
                while ident_at(&tokens, j).as_deref() == Some("super")
                    && is_path_sep(&tokens, j + 1)
                {
                    depth += 1;
                    j += 3;
                }
                // Climbing fewer levels than the module depth stays inside
                // the family; climbing to the root names a top-level module.
                if depth > 0 && depth >= module_path.len() {
                    named_after(&tokens, j, line, out);
                }
                i = j.max(i + 1);
                continue;
            }
            TokenTree::Group(g) => scan(g.stream(), module_path, out),
            _ => {}
        }
        i += 1;
    }
}

/// Records the module named at `tokens[i]` (an identifier or a `{...}` group).
fn named_after(tokens: &[TokenTree], i: usize, line: usize, out: &mut Vec<ModuleRef>) {
    match tokens.get(i) {
        Some(TokenTree::Ident(id)) => {
            let name = id.to_string();
            if name != "self" && name != "super" {
                out.push(ModuleRef {
                    module: name.trim_start_matches("r#").to_owned(),
                    line,
                });
            }
        }
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
            // `crate::{a::X, b, c as d}`: the first identifier of each part.
            let parts: Vec<TokenTree> = g.stream().into_iter().collect();
            let mut at_start = true;
            for (k, t) in parts.iter().enumerate() {
                match t {
                    TokenTree::Punct(p) if p.as_char() == ',' => at_start = true,
                    TokenTree::Ident(_) if at_start => {
                        named_after(&parts, k, t.span().start().line, out);
                        at_start = false;
                    }
                    _ => at_start = false,
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::crate_root_refs;

    fn refs(src: &str, module: &[&str]) -> Vec<String> {
        let m: Vec<String> = module.iter().map(|s| s.to_string()).collect();
        crate_root_refs(src, &m)
            .unwrap()
            .into_iter()
            .map(|r| r.module)
            .collect()
    }

    #[test]
    fn finds_paths_uses_groups_and_macros() {
        let src = r#"
            use crate::cache::Store;
            use crate::{auth::Jwt, ws};
            fn f() { let _ = crate::queue::push(); println!("{}", crate::metrics::X); }
            // crate::commented::Out
            const S: &str = "crate::in_string";
            pub(crate) fn g() {}
        "#;
        assert_eq!(
            refs(src, &["auth"]),
            ["cache", "auth", "ws", "queue", "metrics"]
        );
    }

    #[test]
    fn resolves_super_chains() {
        // auth/jwt.rs: super::super::cache climbs to the root.
        assert_eq!(
            refs("use super::super::cache::X;", &["auth", "jwt"]),
            ["cache"]
        );
        // super::claims stays inside auth.
        assert!(refs("use super::claims::X;", &["auth", "jwt"]).is_empty());
        // An inline module adds a level.
        assert_eq!(
            refs("mod inner { use super::super::cache::X; }", &["auth"]),
            ["cache"]
        );
    }
}
