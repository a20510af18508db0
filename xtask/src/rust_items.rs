//! A `syn` index of the public items of workspace library crates, used to
//! check that a manifest's `public_entrypoints` exist.
//!
//! Each crate is parsed from its root file, following `mod x;` declarations
//! (`x.rs`, `x/mod.rs`, `#[path]`) and inline modules. `cfg` attributes are
//! ignored, so feature-gated items count as present (the gates build with
//! `--all-features`). A path resolves through public modules, `pub use`
//! re-exports (renames, groups, globs, `crate::`/`self::`/`super::`, and
//! other workspace crates such as `pub use plumego_core as core`), and one
//! trailing associated segment: an inherent or trait-impl method, associated
//! const or type, a public field, an enum variant or a trait item.
//! Re-exports of registry crates are accepted without looking inside them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::{Item, UseTree, Visibility};

#[derive(Debug, Clone)]
enum EntryKind {
    Module(usize),
    Item(&'static str),
    Use { path: Vec<String> },
    Glob { path: Vec<String> },
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    public: bool,
    kind: EntryKind,
}

#[derive(Debug, Default)]
struct Module {
    parent: Option<usize>,
    entries: Vec<Entry>,
}

/// The parsed modules of one crate.
#[derive(Debug, Default)]
pub struct CrateItems {
    modules: Vec<Module>,
    /// Type or trait name → names of its associated items and fields.
    assoc: BTreeMap<String, BTreeSet<String>>,
    /// Files that could not be read or parsed.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Module(String, usize),
    Item(String, &'static str, String),
    External(String),
}

/// Public-item indexes of several crates, keyed by library name
/// (`plumego_core`), so re-exports across crates resolve.
#[derive(Debug, Default)]
pub struct ItemIndex {
    crates: BTreeMap<String, CrateItems>,
}

impl ItemIndex {
    /// An empty index.
    pub fn new() -> Self {
        ItemIndex::default()
    }

    /// Parses the crate whose root file is `root_file` under `lib_name`.
    pub fn add_crate(&mut self, lib_name: &str, root_file: &Path) {
        let mut items = CrateItems::default();
        items.modules.push(Module::default());
        let child_dir = root_file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        match parse(root_file) {
            Ok(file) => fill(&mut items, 0, &file.items, &child_dir, root_file),
            Err(e) => items.errors.push(e),
        }
        self.crates.insert(lib_name.to_owned(), items);
    }

    /// Parse errors of `lib_name`, if any.
    pub fn errors(&self, lib_name: &str) -> &[String] {
        self.crates
            .get(lib_name)
            .map(|c| c.errors.as_slice())
            .unwrap_or_default()
    }

    /// Resolves a public path such as `plumego_core::server::Server` or
    /// `plumego::App::get`. Returns the kind of the item found
    /// (`struct`, `fn`, `mod`, `assoc`, `external`...) or why it is missing.
    pub fn resolve(&self, path: &str) -> Result<&'static str, String> {
        let segs: Vec<&str> = path.split("::").collect();
        let Some((first, rest)) = segs.split_first() else {
            return Err("empty path".to_owned());
        };
        if !self.crates.contains_key(*first) {
            return Err(format!("`{first}` is not an indexed library crate"));
        }
        let mut cur = Target::Module((*first).to_owned(), 0);
        let mut walked = (*first).to_owned();
        let mut rest = rest.iter();
        while let Some(seg) = rest.next() {
            cur = match cur {
                Target::Module(krate, m) => match self.lookup(&krate, m, seg, true, 0).first() {
                    Some(t) => t.clone(),
                    None => return Err(format!("no public item `{seg}` in `{walked}`")),
                },
                Target::Item(krate, _, name) => {
                    if !self.has_assoc(&krate, &name, seg) {
                        return Err(format!("`{walked}` has no public associated item `{seg}`"));
                    }
                    if let Some(next) = rest.next() {
                        return Err(format!("cannot resolve `{next}` below `{walked}::{seg}`"));
                    }
                    return Ok("assoc");
                }
                Target::External(_) => return Ok("external"),
            };
            walked = format!("{walked}::{seg}");
        }
        Ok(match cur {
            Target::Module(..) => "mod",
            Target::Item(_, kind, _) => kind,
            Target::External(_) => "external",
        })
    }

    /// Whether type `ty` of `krate` has the public field, variant or
    /// trait item `name`.
    fn has_assoc(&self, krate: &str, ty: &str, name: &str) -> bool {
        self.crates
            .get(krate)
            .and_then(|c| c.assoc.get(ty))
            .is_some_and(|s| s.contains(name))
    }

    fn lookup(
        &self,
        krate: &str,
        module: usize,
        name: &str,
        require_pub: bool,
        depth: usize,
    ) -> Vec<Target> {
        let Some(c) = self.crates.get(krate) else {
            return Vec::new();
        };
        if depth > 24 {
            return Vec::new();
        }
        let mut out = Vec::new();
        let entries = &c.modules[module].entries;
        for e in entries
            .iter()
            .filter(|e| e.name == name && (e.public || !require_pub))
        {
            match &e.kind {
                EntryKind::Module(m) => out.push(Target::Module(krate.to_owned(), *m)),
                EntryKind::Item(kind) => {
                    out.push(Target::Item(krate.to_owned(), kind, name.to_owned()))
                }
                EntryKind::Use { path } => {
                    if let Some(t) = self.resolve_use(krate, module, path, depth + 1) {
                        out.push(t);
                    }
                }
                EntryKind::Glob { .. } => {}
            }
        }
        if out.is_empty() {
            for e in entries.iter().filter(|e| e.public || !require_pub) {
                if let EntryKind::Glob { path } = &e.kind {
                    match self.resolve_use(krate, module, path, depth + 1) {
                        Some(Target::Module(k, m)) => {
                            out.extend(self.lookup(&k, m, name, true, depth + 1))
                        }
                        Some(Target::Item(k, "enum", ty)) if self.has_assoc(&k, &ty, name) => {
                            out.push(Target::Item(k, "variant", name.to_owned()));
                        }
                        _ => {}
                    }
                }
            }
        }
        out
    }

    fn resolve_use(
        &self,
        krate: &str,
        module: usize,
        path: &[String],
        depth: usize,
    ) -> Option<Target> {
        let c = self.crates.get(krate)?;
        let (first, rest) = path.split_first()?;
        let mut cur = match first.as_str() {
            "crate" => Target::Module(krate.to_owned(), 0),
            "self" => Target::Module(krate.to_owned(), module),
            "super" => Target::Module(krate.to_owned(), c.modules[module].parent?),
            "" => self.extern_crate(rest.first()?, path),
            name => match self
                .lookup(krate, module, name, false, depth)
                .into_iter()
                .next()
            {
                Some(t) => t,
                None => self.extern_crate(name, path),
            },
        };
        let rest = if first.is_empty() { &rest[1..] } else { rest };
        for seg in rest {
            cur = match cur {
                Target::Module(k, m) => match seg.as_str() {
                    "super" => Target::Module(k.clone(), self.crates.get(&k)?.modules[m].parent?),
                    "self" => Target::Module(k, m),
                    _ => self
                        .lookup(&k, m, seg, false, depth + 1)
                        .into_iter()
                        .next()?,
                },
                Target::Item(k, _, ty) => {
                    if !self.has_assoc(&k, &ty, seg) {
                        return None;
                    }
                    Target::Item(k, "variant", seg.clone())
                }
                Target::External(p) => Target::External(p),
            };
        }
        Some(cur)
    }

    fn extern_crate(&self, name: &str, path: &[String]) -> Target {
        if self.crates.contains_key(name) {
            Target::Module(name.to_owned(), 0)
        } else {
            Target::External(path.join("::"))
        }
    }
}

fn parse(file: &Path) -> Result<syn::File, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    syn::parse_file(&text).map_err(|e| format!("{}: cannot parse: {e}", file.display()))
}

fn is_pub(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| {
        if !a.path().is_ident("path") {
            return None;
        }
        match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        }
    })
}

fn has_attr(attrs: &[syn::Attribute], name: &str) -> bool {
    attrs.iter().any(|a| a.path().is_ident(name))
}

fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        syn::Type::Reference(r) => type_name(&r.elem),
        syn::Type::Paren(p) => type_name(&p.elem),
        syn::Type::Group(g) => type_name(&g.elem),
        _ => None,
    }
}

fn push_entry(items: &mut CrateItems, module: usize, name: String, public: bool, kind: EntryKind) {
    items.modules[module]
        .entries
        .push(Entry { name, public, kind });
}

/// Records a named item of `kind`.
fn push(
    items: &mut CrateItems,
    module: usize,
    ident: &syn::Ident,
    vis: &syn::Visibility,
    kind: &'static str,
) {
    push_entry(
        items,
        module,
        ident.to_string(),
        is_pub(vis),
        EntryKind::Item(kind),
    );
}

/// Records a type and the names reachable through it (public fields,
/// variants, trait items), for `Type::name` paths.
fn push_type(
    items: &mut CrateItems,
    module: usize,
    ident: &syn::Ident,
    vis: &syn::Visibility,
    kind: &'static str,
    names: impl Iterator<Item = String>,
) {
    items
        .assoc
        .entry(ident.to_string())
        .or_default()
        .extend(names);
    push(items, module, ident, vis, kind);
}

/// Adds `list` (the items of module `module`) to `items`. `child_dir` is
/// where `mod x;` files of this module live; `file` is the source file.
fn fill(items: &mut CrateItems, module: usize, list: &[Item], child_dir: &Path, file: &Path) {
    for item in list {
        match item {
            Item::Mod(m) => {
                let id = items.modules.len();
                items.modules.push(Module {
                    parent: Some(module),
                    entries: Vec::new(),
                });
                push_entry(
                    items,
                    module,
                    m.ident.to_string(),
                    is_pub(&m.vis),
                    EntryKind::Module(id),
                );
                let name = m.ident.to_string();
                if let Some((_, content)) = &m.content {
                    fill(items, id, content, &child_dir.join(&name), file);
                    continue;
                }
                let candidates: Vec<(PathBuf, PathBuf)> = match path_attr(&m.attrs) {
                    Some(p) => {
                        let base = file.parent().unwrap_or(child_dir).join(p);
                        let dir = base.parent().map(Path::to_path_buf).unwrap_or_default();
                        vec![(base, dir)]
                    }
                    None => vec![
                        (child_dir.join(format!("{name}.rs")), child_dir.join(&name)),
                        (child_dir.join(&name).join("mod.rs"), child_dir.join(&name)),
                    ],
                };
                if let Some((path, dir)) = candidates.into_iter().find(|(p, _)| p.is_file()) {
                    match parse(&path) {
                        Ok(f) => fill(items, id, &f.items, &dir, &path),
                        Err(e) => items.errors.push(e),
                    }
                }
            }
            Item::Use(u) => {
                let mut flat = Vec::new();
                flatten_use(&u.tree, Vec::new(), u.leading_colon.is_some(), &mut flat);
                for (name, path, glob) in flat {
                    let kind = if glob {
                        EntryKind::Glob { path }
                    } else {
                        EntryKind::Use { path }
                    };
                    push_entry(items, module, name, is_pub(&u.vis), kind);
                }
            }
            Item::ExternCrate(e) => {
                let name = e
                    .rename
                    .as_ref()
                    .map(|(_, id)| id.to_string())
                    .unwrap_or_else(|| e.ident.to_string());
                let path = vec![String::new(), e.ident.to_string()];
                push_entry(items, module, name, is_pub(&e.vis), EntryKind::Use { path });
            }
            Item::Const(i) => push(items, module, &i.ident, &i.vis, "const"),
            Item::Static(i) => push(items, module, &i.ident, &i.vis, "static"),
            Item::Fn(i) => push(items, module, &i.sig.ident, &i.vis, "fn"),
            Item::Type(i) => push(items, module, &i.ident, &i.vis, "type"),
            Item::TraitAlias(i) => push(items, module, &i.ident, &i.vis, "trait_alias"),
            Item::Union(i) => {
                let fields = i.fields.named.iter().filter(|f| is_pub(&f.vis));
                let names = fields.filter_map(|f| f.ident.as_ref().map(|x| x.to_string()));
                push_type(items, module, &i.ident, &i.vis, "union", names);
            }
            Item::Struct(i) => {
                let names = i
                    .fields
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| is_pub(&f.vis))
                    .map(|(n, f)| {
                        f.ident
                            .as_ref()
                            .map(|x| x.to_string())
                            .unwrap_or_else(|| n.to_string())
                    });
                push_type(items, module, &i.ident, &i.vis, "struct", names);
            }
            Item::Enum(i) => {
                let names = i.variants.iter().map(|v| v.ident.to_string());
                push_type(items, module, &i.ident, &i.vis, "enum", names);
            }
            Item::Trait(i) => {
                let names = i.items.iter().filter_map(|t| match t {
                    syn::TraitItem::Const(c) => Some(c.ident.to_string()),
                    syn::TraitItem::Fn(f) => Some(f.sig.ident.to_string()),
                    syn::TraitItem::Type(t) => Some(t.ident.to_string()),
                    _ => None,
                });
                push_type(items, module, &i.ident, &i.vis, "trait", names);
            }
            Item::Impl(i) => {
                let Some(ty) = type_name(&i.self_ty) else {
                    continue;
                };
                let via_trait = i.trait_.is_some();
                let names: Vec<String> = i
                    .items
                    .iter()
                    .filter_map(|it| match it {
                        syn::ImplItem::Fn(f) if via_trait || is_pub(&f.vis) => {
                            Some(f.sig.ident.to_string())
                        }
                        syn::ImplItem::Const(c) if via_trait || is_pub(&c.vis) => {
                            Some(c.ident.to_string())
                        }
                        syn::ImplItem::Type(t) if via_trait || is_pub(&t.vis) => {
                            Some(t.ident.to_string())
                        }
                        _ => None,
                    })
                    .collect();
                items.assoc.entry(ty).or_default().extend(names);
            }
            Item::Macro(m) => {
                if let Some(id) = &m.ident {
                    if has_attr(&m.attrs, "macro_export") {
                        push_entry(items, 0, id.to_string(), true, EntryKind::Item("macro"));
                    }
                    // Items a local macro_rules! expands to usually land in
                    // this module: record the `pub <kind> Name` it spells out.
                    scan_macro_tokens(items, module, m.mac.tokens.clone());
                } else {
                    // An invocation such as `pin_project! { pub struct X .. }`:
                    // parse its body as items when possible, else scan tokens.
                    match syn::parse2::<syn::File>(m.mac.tokens.clone()) {
                        Ok(f) => fill(items, module, &f.items, child_dir, file),
                        Err(_) => scan_macro_tokens(items, module, m.mac.tokens.clone()),
                    }
                }
            }
            _ => {}
        }
    }
}

const ITEM_KEYWORDS: &[&str] = &[
    "struct", "enum", "trait", "type", "fn", "const", "static", "union", "mod",
];

/// Best-effort token scan of macro bodies: `pub <kind> Name` becomes a public
/// item of `module`, `pub enum`'s variants and the `fn`/`const` names inside
/// `impl Name { .. }` become associated items of `Name`. Names spelled with
/// `$var` are unknowable and skipped.
fn scan_macro_tokens(items: &mut CrateItems, module: usize, tokens: proc_macro2::TokenStream) {
    use proc_macro2::{Delimiter, TokenTree};
    let toks: Vec<TokenTree> = tokens.into_iter().collect();
    let ident = |i: usize| match toks.get(i) {
        Some(TokenTree::Ident(id)) => Some(id.to_string()),
        _ => None,
    };
    let mut i = 0;
    while i < toks.len() {
        if ident(i).as_deref() == Some("pub") {
            // `pub(crate)` and friends are not public.
            let restricted = matches!(toks.get(i + 1), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis);
            let kw = ident(i + 1);
            let kind = kw
                .as_deref()
                .and_then(|k| ITEM_KEYWORDS.iter().copied().find(|w| *w == k));
            if let (false, Some(kind), Some(name)) = (restricted, kind, ident(i + 2)) {
                if kind == "enum" {
                    if let Some(TokenTree::Group(g)) = toks[i + 3..].iter().find(
                        |t| matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace),
                    ) {
                        let mut at_start = true;
                        for t in g.stream() {
                            match &t {
                                TokenTree::Punct(p) if p.as_char() == ',' => at_start = true,
                                TokenTree::Ident(v) if at_start => {
                                    items
                                        .assoc
                                        .entry(name.clone())
                                        .or_default()
                                        .insert(v.to_string());
                                    at_start = false;
                                }
                                TokenTree::Punct(p) if p.as_char() == '#' => {}
                                TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket => {}
                                _ => at_start = false,
                            }
                        }
                    }
                }
                push_entry(items, module, name, true, EntryKind::Item(kind));
                i += 3;
                continue;
            }
        }
        if ident(i).as_deref() == Some("impl") {
            // The type is the last identifier before the body, after `for` if any.
            let mut j = i + 1;
            let mut last = None;
            let mut via_trait = false;
            while j < toks.len() {
                match &toks[j] {
                    TokenTree::Ident(id) if id == "for" => via_trait = true,
                    TokenTree::Ident(id) if id == "where" => break,
                    TokenTree::Ident(id) => last = Some(id.to_string()),
                    TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => break,
                    _ => {}
                }
                j += 1;
            }
            while j < toks.len()
                && !matches!(&toks[j], TokenTree::Group(g) if g.delimiter() == Delimiter::Brace)
            {
                j += 1;
            }
            if let (Some(ty), Some(TokenTree::Group(body))) = (last, toks.get(j)) {
                let inner: Vec<TokenTree> = body.stream().into_iter().collect();
                for k in 0..inner.len() {
                    let is_pub =
                        k > 0 && matches!(&inner[k - 1], TokenTree::Ident(p) if p == "pub");
                    if let (TokenTree::Ident(kw), Some(TokenTree::Ident(n))) =
                        (&inner[k], inner.get(k + 1))
                    {
                        if (kw == "fn" || kw == "const" || kw == "type") && (via_trait || is_pub) {
                            items
                                .assoc
                                .entry(ty.clone())
                                .or_default()
                                .insert(n.to_string());
                        }
                    }
                }
                i = j + 1;
                continue;
            }
        }
        if let TokenTree::Group(g) = &toks[i] {
            scan_macro_tokens(items, module, g.stream());
        }
        i += 1;
    }
}

/// Flattens a use tree into `(bound name, full path, is_glob)`. A leading
/// `::` is kept as an empty first segment.
fn flatten_use(
    tree: &UseTree,
    prefix: Vec<String>,
    leading_colon: bool,
    out: &mut Vec<(String, Vec<String>, bool)>,
) {
    let base = |prefix: &Vec<String>| {
        let mut p = Vec::new();
        if leading_colon {
            p.push(String::new());
        }
        p.extend(prefix.iter().cloned());
        p
    };
    match tree {
        UseTree::Path(p) => {
            let mut next = prefix;
            next.push(p.ident.to_string());
            flatten_use(&p.tree, next, leading_colon, out);
        }
        UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                if let Some(last) = prefix.last().cloned() {
                    out.push((last, base(&prefix), false));
                }
            } else {
                let mut p = base(&prefix);
                p.push(name.clone());
                out.push((name, p, false));
            }
        }
        UseTree::Rename(r) => {
            let mut p = base(&prefix);
            if r.ident != "self" {
                p.push(r.ident.to_string());
            }
            out.push((r.rename.to_string(), p, false));
        }
        UseTree::Glob(_) => out.push(("*".to_owned(), base(&prefix), true)),
        UseTree::Group(g) => {
            for t in &g.items {
                flatten_use(t, prefix.clone(), leading_colon, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ItemIndex;

    fn index(files: &[(&str, &str)]) -> (ItemIndex, std::path::PathBuf) {
        let dir = crate::util::temp_dir("rust-items");
        for (p, text) in files {
            let path = dir.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let mut idx = ItemIndex::new();
        idx.add_crate("demo", &dir.join("src/lib.rs"));
        (idx, dir)
    }

    #[test]
    fn resolves_modules_reexports_and_methods() {
        let (idx, dir) = index(&[
            (
                "src/lib.rs",
                "pub mod server; mod builder; pub use builder::{Builder as B, Kind::*}; \
                 pub use server::*; #[macro_export] macro_rules! m { () => {} }",
            ),
            (
                "src/server/mod.rs",
                "mod inner; pub use self::inner::Server; pub(crate) fn hidden() {}",
            ),
            (
                "src/server/inner.rs",
                "pub struct Server { pub addr: u16 } impl Server { pub fn bind() {} fn private() {} }",
            ),
            (
                "src/builder.rs",
                "pub struct Builder; pub enum Kind { A, B }",
            ),
        ]);
        for ok in [
            "demo::server",
            "demo::server::Server",
            "demo::server::Server::bind",
            "demo::server::Server::addr",
            "demo::Server",
            "demo::B",
            "demo::A",
            "demo::m",
        ] {
            assert!(idx.resolve(ok).is_ok(), "{ok}: {:?}", idx.resolve(ok));
        }
        for bad in [
            "demo::builder::Builder",
            "demo::Builder",
            "demo::server::hidden",
            "demo::server::Server::private",
            "demo::server::Missing",
            "other::X",
        ] {
            assert!(idx.resolve(bad).is_err(), "{bad} should not resolve");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
