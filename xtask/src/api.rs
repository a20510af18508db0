//! Gate `api`: public API snapshots of the stable crates.
//!
//! `cargo rustdoc -p <crate> --lib --all-features -- -Z unstable-options
//! --output-format json` (with `RUSTC_BOOTSTRAP=1`) produces rustdoc JSON,
//! which [`snapshot_lines`] reduces to one sorted line per public item:
//! `<kind> <public path> <signature>`. Items are reached by walking public
//! modules from the crate root and following re-exports, so moving an item
//! between private modules changes nothing, while removing an item,
//! changing a signature, a field type, a trait impl or `Send`/`Sync`
//! does. Re-exports of other crates are recorded as `re-export` lines
//! (their items belong to those crates' snapshots).
//!
//! [`diff`] classifies differences against the committed
//! `docs/api-snapshots/<crate>.txt`: removed and changed items fail the gate,
//! added items are reported and pass (record them with `cargo xtask snapshot`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use rustdoc_types::{
    Crate, GenericArg, GenericArgs, GenericBound, GenericParamDef, GenericParamDefKind, Generics,
    Id, Item, ItemEnum, Path as RPath, StructKind, Term, TraitBoundModifier, Type, VariantKind,
    WherePredicate,
};

use crate::report::{CheckReport, Violation};

/// Where committed snapshots live.
pub const SNAPSHOT_DIR: &str = "docs/api-snapshots";

/// The committed snapshot of `crate_name`, relative to the repository root.
pub fn snapshot_path(crate_name: &str) -> String {
    format!("{SNAPSHOT_DIR}/{crate_name}.txt")
}

/// Runs `cargo rustdoc` for `package` and returns the JSON file. The build
/// uses `target_dir` (a separate directory, so `RUSTC_BOOTSTRAP` never
/// invalidates the normal build cache).
pub fn generate_rustdoc_json(
    root: &Path,
    target_dir: &Path,
    package: &str,
    lib_name: &str,
) -> Result<PathBuf, String> {
    let cargo = crate::util::cargo();
    let status = Command::new(cargo)
        .current_dir(root)
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "rustdoc",
            "-p",
            package,
            "--lib",
            "--all-features",
            "--target-dir",
        ])
        .arg(target_dir)
        .args(["--", "-Z", "unstable-options", "--output-format", "json"])
        // Doc lints are the clippy/doc gates' business, not this one's.
        .args(["--cap-lints", "allow"])
        .status()
        .map_err(|e| format!("cannot run cargo rustdoc: {e}"))?;
    if !status.success() {
        return Err(format!("cargo rustdoc -p {package} failed ({status})"));
    }
    let json = target_dir.join("doc").join(format!("{lib_name}.json"));
    if json.is_file() {
        Ok(json)
    } else {
        Err(format!("rustdoc JSON not found at {}", json.display()))
    }
}

/// Parses rustdoc JSON, checking the format version first.
pub fn parse_rustdoc_json(text: &str) -> Result<Crate, String> {
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: u32,
    }
    let v: Version =
        serde_json::from_str(text).map_err(|e| format!("rustdoc JSON: no format_version: {e}"))?;
    if v.format_version != rustdoc_types::FORMAT_VERSION {
        return Err(format!(
            "rustdoc JSON has format_version {}, but xtask is built with rustdoc-types for {}: \
             set rustdoc-types in the root Cargo.toml to the release documenting that format",
            v.format_version,
            rustdoc_types::FORMAT_VERSION
        ));
    }
    serde_json::from_str(text).map_err(|e| format!("rustdoc JSON: {e}"))
}

/// Reduces a rustdoc crate to sorted snapshot lines. Items of other crates
/// are named by their definition path (or a prelude name); use
/// [`snapshot_lines_with`] to name them by their public path instead.
pub fn snapshot_lines(krate: &Crate) -> Vec<String> {
    snapshot_lines_with(krate, &HashMap::new())
}

fn walker<'a>(krate: &'a Crate, external: &'a HashMap<String, String>) -> Walker<'a> {
    let mut w = Walker {
        k: krate,
        external,
        public: HashMap::new(),
        lines: BTreeSet::new(),
        stack: HashSet::new(),
        emit: false,
    };
    let root_name = krate
        .index
        .get(&krate.root)
        .and_then(|i| i.name.clone())
        .unwrap_or_default();
    // Pass 1 records each local item's public path.
    w.module(krate.root, &root_name);
    w
}

/// Definition path (`plumego_core::error::api_error::ApiError`) → public
/// path (`plumego_core::ApiError`) of every public item of `krate`. Passing
/// the maps of sibling crates to [`snapshot_lines_with`] keeps a crate's
/// snapshot stable when a dependency moves items between private modules.
pub fn public_paths(krate: &Crate) -> HashMap<String, String> {
    let empty = HashMap::new();
    let w = walker(krate, &empty);
    w.public
        .iter()
        .filter_map(|(id, public)| {
            let summary = krate.paths.get(id)?;
            Some((summary.path.join("::"), public.clone()))
        })
        .collect()
}

/// Like [`snapshot_lines`], naming other crates' items through `external`
/// (definition path → public path, see [`public_paths`]) when listed.
pub fn snapshot_lines_with(krate: &Crate, external: &HashMap<String, String>) -> Vec<String> {
    let mut w = walker(krate, external);
    let root_name = krate
        .index
        .get(&krate.root)
        .and_then(|i| i.name.clone())
        .unwrap_or_default();
    // Pass 2 renders, naming local items by the public paths of pass 1.
    w.emit = true;
    w.stack.clear();
    w.module(krate.root, &root_name);
    w.lines
        .into_iter()
        .map(|(path, rank, sig)| {
            let kind = KIND_NAMES.get(rank as usize).copied().unwrap_or("item");
            if sig.is_empty() {
                format!("{kind} {path}")
            } else {
                format!("{kind} {path} {sig}")
            }
        })
        .collect()
}

struct Walker<'a> {
    k: &'a Crate,
    /// Other crates' definition paths → public paths.
    external: &'a HashMap<String, String>,
    /// Local id → the shortest (then smallest) public path.
    public: HashMap<Id, String>,
    lines: BTreeSet<(String, u8, String)>,
    stack: HashSet<Id>,
    emit: bool,
}

/// Items of the Rust 2024 prelude, named as users write them.
const PRELUDE: &[(&str, &str)] = &[
    ("core::option::Option", "Option"),
    ("core::result::Result", "Result"),
    ("alloc::string::String", "String"),
    ("alloc::vec::Vec", "Vec"),
    ("alloc::boxed::Box", "Box"),
    ("core::marker::Send", "Send"),
    ("core::marker::Sync", "Sync"),
    ("core::marker::Sized", "Sized"),
    ("core::marker::Copy", "Copy"),
    ("core::marker::Unpin", "Unpin"),
    ("core::clone::Clone", "Clone"),
    ("core::default::Default", "Default"),
    ("core::convert::From", "From"),
    ("core::convert::Into", "Into"),
    ("core::convert::TryFrom", "TryFrom"),
    ("core::convert::TryInto", "TryInto"),
    ("core::convert::AsRef", "AsRef"),
    ("core::convert::AsMut", "AsMut"),
    ("core::ops::function::Fn", "Fn"),
    ("core::ops::function::FnMut", "FnMut"),
    ("core::ops::function::FnOnce", "FnOnce"),
    ("core::ops::drop::Drop", "Drop"),
    ("core::cmp::PartialEq", "PartialEq"),
    ("core::cmp::Eq", "Eq"),
    ("core::cmp::PartialOrd", "PartialOrd"),
    ("core::cmp::Ord", "Ord"),
    ("core::iter::traits::iterator::Iterator", "Iterator"),
    ("core::iter::traits::collect::IntoIterator", "IntoIterator"),
    ("core::future::future::Future", "Future"),
    ("core::future::into_future::IntoFuture", "IntoFuture"),
    ("alloc::string::ToString", "ToString"),
    ("alloc::borrow::ToOwned", "ToOwned"),
];

const KIND_NAMES: &[&str] = &[
    "mod",
    "re-export",
    "struct",
    "union",
    "enum",
    "variant",
    "field",
    "trait",
    "trait_const",
    "trait_type",
    "trait_fn",
    "trait_alias",
    "type",
    "const",
    "static",
    "fn",
    "macro",
    "proc_macro",
    "assoc_const",
    "assoc_type",
    "method",
    "impl",
];

fn kind_rank(kind: &str) -> u8 {
    KIND_NAMES.iter().position(|k| *k == kind).unwrap_or(99) as u8
}

impl Walker<'_> {
    fn line(&mut self, kind: &str, path: &str, sig: String) {
        if self.emit {
            self.lines.insert((path.to_owned(), kind_rank(kind), sig));
        }
    }

    fn record(&mut self, id: Id, path: &str) {
        if self.emit {
            return;
        }
        let better = match self.public.get(&id) {
            None => true,
            Some(old) => (path.len(), path) < (old.len(), old.as_str()),
        };
        if better {
            self.public.insert(id, path.to_owned());
        }
    }

    fn module(&mut self, id: Id, path: &str) {
        let Some(item) = self.k.index.get(&id) else {
            return;
        };
        let ItemEnum::Module(m) = &item.inner else {
            return;
        };
        if !self.stack.insert(id) {
            return;
        }
        self.record(id, path);
        self.line("mod", path, String::new());
        for child in &m.items {
            self.child(*child, path);
        }
        self.stack.remove(&id);
    }

    fn child(&mut self, id: Id, parent: &str) {
        let Some(item) = self.k.index.get(&id) else {
            return;
        };
        match &item.inner {
            ItemEnum::Use(u) => {
                let target = u.id.and_then(|t| self.k.index.get(&t));
                if u.is_glob {
                    match target.map(|t| &t.inner) {
                        Some(ItemEnum::Module(m)) => {
                            let tid = u.id.unwrap_or(id);
                            if self.stack.insert(tid) {
                                for c in &m.items {
                                    self.child(*c, parent);
                                }
                                self.stack.remove(&tid);
                            }
                        }
                        Some(ItemEnum::Enum(e)) => {
                            for v in &e.variants {
                                if let Some(vi) = self.k.index.get(v) {
                                    let name = vi.name.clone().unwrap_or_default();
                                    self.item(vi, &format!("{parent}::{name}"));
                                }
                            }
                        }
                        _ => {
                            let src = self.use_source(u.id, &u.source);
                            self.line("re-export", &format!("{parent}::*"), format!("= {src}::*"));
                        }
                    }
                    return;
                }
                let path = format!("{parent}::{}", u.name);
                match target {
                    Some(t) => self.item(t, &path),
                    None => {
                        let src = self.use_source(u.id, &u.source);
                        self.line("re-export", &path, format!("= {src}"));
                    }
                }
            }
            _ => {
                let Some(name) = &item.name else {
                    return;
                };
                self.item(item, &format!("{parent}::{name}"));
            }
        }
    }

    fn use_source(&self, id: Option<Id>, source: &str) -> String {
        id.and_then(|i| self.k.paths.get(&i))
            .map(|s| self.external_name(s.path.join("::")))
            .unwrap_or_else(|| source.to_owned())
    }

    /// Public path of another crate's item when known, else the prelude
    /// name for prelude items, else the definition path.
    fn external_name(&self, def: String) -> String {
        if let Some(public) = self.external.get(&def) {
            return public.clone();
        }
        match PRELUDE.iter().find(|(full, _)| *full == def) {
            Some((_, short)) => (*short).to_owned(),
            None => def,
        }
    }

    fn item(&mut self, item: &Item, path: &str) {
        self.record(item.id, path);
        let ne = if item
            .attrs
            .iter()
            .any(|a| matches!(a, rustdoc_types::Attribute::NonExhaustive))
        {
            "#[non_exhaustive] "
        } else {
            ""
        };
        match &item.inner {
            ItemEnum::Module(_) => self.module(item.id, path),
            ItemEnum::Struct(s) => {
                let shape = match &s.kind {
                    StructKind::Unit => ";".to_owned(),
                    StructKind::Tuple(fields) => {
                        let tys: Vec<String> = fields
                            .iter()
                            .map(|f| match f.and_then(|f| self.k.index.get(&f)) {
                                Some(Item {
                                    inner: ItemEnum::StructField(t),
                                    ..
                                }) => self.ty(t),
                                _ => "_".to_owned(),
                            })
                            .collect();
                        format!("({})", tys.join(", "))
                    }
                    StructKind::Plain {
                        fields,
                        has_stripped_fields,
                    } => {
                        self.fields(fields, path);
                        if *has_stripped_fields {
                            "{ .. }".to_owned()
                        } else {
                            "{}".to_owned()
                        }
                    }
                };
                if let StructKind::Tuple(fields) = &s.kind {
                    for (n, f) in fields.iter().enumerate() {
                        if let Some(Item {
                            inner: ItemEnum::StructField(t),
                            ..
                        }) = f.and_then(|f| self.k.index.get(&f))
                        {
                            let sig = format!(": {}", self.ty(t));
                            self.line("field", &format!("{path}::{n}"), sig);
                        }
                    }
                }
                let sig = format!(
                    "{ne}{}{} {shape}",
                    self.generics(&s.generics),
                    self.where_(&s.generics)
                );
                self.line("struct", path, sig.trim().to_owned());
                self.impls(&s.impls, path);
            }
            ItemEnum::Union(u) => {
                self.fields(&u.fields, path);
                let sig = format!("{}{}", self.generics(&u.generics), self.where_(&u.generics));
                self.line("union", path, sig);
                self.impls(&u.impls, path);
            }
            ItemEnum::Enum(e) => {
                let sig = format!(
                    "{ne}{}{}",
                    self.generics(&e.generics),
                    self.where_(&e.generics)
                );
                self.line("enum", path, sig.trim().to_owned());
                for v in &e.variants {
                    if let Some(vi) = self.k.index.get(v) {
                        let name = vi.name.clone().unwrap_or_default();
                        self.item(vi, &format!("{path}::{name}"));
                    }
                }
                self.impls(&e.impls, path);
            }
            ItemEnum::Variant(v) => {
                let shape = match &v.kind {
                    VariantKind::Plain => String::new(),
                    VariantKind::Tuple(fields) => {
                        let tys: Vec<String> = fields
                            .iter()
                            .map(|f| match f.and_then(|f| self.k.index.get(&f)) {
                                Some(Item {
                                    inner: ItemEnum::StructField(t),
                                    ..
                                }) => self.ty(t),
                                _ => "_".to_owned(),
                            })
                            .collect();
                        format!("({})", tys.join(", "))
                    }
                    VariantKind::Struct {
                        fields,
                        has_stripped_fields,
                    } => {
                        self.fields(fields, path);
                        if *has_stripped_fields {
                            "{ .. }".to_owned()
                        } else {
                            "{}".to_owned()
                        }
                    }
                };
                let disc = v
                    .discriminant
                    .as_ref()
                    .map(|d| format!(" = {}", d.value))
                    .unwrap_or_default();
                self.line(
                    "variant",
                    path,
                    format!("{ne}{shape}{disc}").trim().to_owned(),
                );
            }
            ItemEnum::Function(f) => {
                let sig = self.fn_sig(f);
                self.line("fn", path, sig);
            }
            ItemEnum::Trait(t) => {
                let mut sig = String::new();
                if t.is_unsafe {
                    sig.push_str("unsafe ");
                }
                if t.is_auto {
                    sig.push_str("auto ");
                }
                sig.push_str(&self.generics(&t.generics));
                if !t.bounds.is_empty() {
                    sig.push_str(&format!(": {}", self.bounds(&t.bounds)));
                }
                sig.push_str(&self.where_(&t.generics));
                if !t.is_dyn_compatible {
                    sig.push_str(" (not dyn-compatible)");
                }
                self.line("trait", path, sig.trim().to_owned());
                for ti in &t.items {
                    let Some(it) = self.k.index.get(ti) else {
                        continue;
                    };
                    let name = it.name.clone().unwrap_or_default();
                    let p = format!("{path}::{name}");
                    match &it.inner {
                        ItemEnum::Function(f) => {
                            let s = self.fn_sig(f);
                            self.line("trait_fn", &p, s);
                        }
                        ItemEnum::AssocConst { type_, .. } => {
                            let s = format!(": {}", self.ty(type_));
                            self.line("trait_const", &p, s);
                        }
                        ItemEnum::AssocType {
                            generics,
                            bounds,
                            type_,
                        } => {
                            let mut s = self.generics(generics);
                            if !bounds.is_empty() {
                                s.push_str(&format!(": {}", self.bounds(bounds)));
                            }
                            if let Some(t) = type_ {
                                s.push_str(&format!(" = {}", self.ty(t)));
                            }
                            self.line("trait_type", &p, s.trim().to_owned());
                        }
                        _ => {}
                    }
                }
            }
            ItemEnum::TraitAlias(t) => {
                let sig = format!(
                    "{} = {}",
                    self.generics(&t.generics),
                    self.bounds(&t.params)
                );
                self.line("trait_alias", path, sig.trim().to_owned());
            }
            ItemEnum::TypeAlias(t) => {
                let sig = format!(
                    "{}{} = {}",
                    self.generics(&t.generics),
                    self.where_(&t.generics),
                    self.ty(&t.type_)
                );
                self.line("type", path, sig.trim().to_owned());
            }
            ItemEnum::Constant { type_, .. } => {
                let sig = format!(": {}", self.ty(type_));
                self.line("const", path, sig);
            }
            ItemEnum::Static(s) => {
                let m = if s.is_mutable { "mut " } else { "" };
                let sig = format!(": {m}{}", self.ty(&s.type_));
                self.line("static", path, sig);
            }
            ItemEnum::Macro(_) => self.line("macro", path, String::new()),
            ItemEnum::ProcMacro(pm) => {
                let kind = format!("{:?}", pm.kind).to_lowercase();
                self.line("proc_macro", path, kind);
            }
            _ => {}
        }
    }

    fn fields(&mut self, fields: &[Id], path: &str) {
        for f in fields {
            if let Some(fi) = self.k.index.get(f) {
                if let ItemEnum::StructField(t) = &fi.inner {
                    let name = fi.name.clone().unwrap_or_default();
                    let sig = format!(": {}", self.ty(t));
                    self.line("field", &format!("{path}::{name}"), sig);
                }
            }
        }
    }

    fn impls(&mut self, impls: &[Id], path: &str) {
        for id in impls {
            let Some(Item {
                inner: ItemEnum::Impl(imp),
                ..
            }) = self.k.index.get(id)
            else {
                continue;
            };
            if imp.blanket_impl.is_some() {
                continue;
            }
            let neg = if imp.is_negative { "!" } else { "" };
            match &imp.trait_ {
                None => {
                    for it in &imp.items {
                        let Some(item) = self.k.index.get(it) else {
                            continue;
                        };
                        if item.visibility != rustdoc_types::Visibility::Public {
                            continue;
                        }
                        let name = item.name.clone().unwrap_or_default();
                        let p = format!("{path}::{name}");
                        let generics = self.generics(&imp.generics);
                        let on = if generics.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "impl{generics} {}{}: ",
                                self.ty(&imp.for_),
                                self.where_(&imp.generics)
                            )
                        };
                        match &item.inner {
                            ItemEnum::Function(f) => {
                                let s = format!("{on}{}", self.fn_sig(f));
                                self.line("method", &p, s);
                            }
                            ItemEnum::AssocConst { type_, .. } => {
                                let s = format!("{on}: {}", self.ty(type_));
                                self.line("assoc_const", &p, s);
                            }
                            ItemEnum::AssocType { type_, .. } => {
                                let s = type_.as_ref().map(|t| self.ty(t)).unwrap_or_default();
                                self.line("assoc_type", &p, format!("{on}= {s}"));
                            }
                            _ => {}
                        }
                    }
                }
                Some(tr) => {
                    if imp.is_synthetic {
                        let last = tr.path.rsplit("::").next().unwrap_or("");
                        if last == "Send" || last == "Sync" {
                            self.line("impl", path, format!("{neg}{last}"));
                        }
                        continue;
                    }
                    // A compiler-internal marker that derive(PartialEq) adds.
                    if self.path_name(tr) == "core::marker::StructuralPartialEq" {
                        continue;
                    }
                    let unsafe_ = if imp.is_unsafe { "unsafe " } else { "" };
                    let sig = format!(
                        "{unsafe_}impl{} {neg}{} for {}{}",
                        self.generics(&imp.generics),
                        self.path(tr),
                        self.ty(&imp.for_),
                        self.where_(&imp.generics)
                    );
                    self.line("impl", path, sig);
                }
            }
        }
    }

    fn fn_sig(&self, f: &rustdoc_types::Function) -> String {
        let mut s = String::new();
        if f.header.is_const {
            s.push_str("const ");
        }
        if f.header.is_async {
            s.push_str("async ");
        }
        if f.header.is_unsafe {
            s.push_str("unsafe ");
        }
        if f.header.abi != rustdoc_types::Abi::Rust {
            s.push_str(&format!("extern {:?} ", f.header.abi));
        }
        s.push_str("fn");
        s.push_str(&self.generics(&f.generics));
        let inputs: Vec<String> = f
            .sig
            .inputs
            .iter()
            .map(|(name, t)| {
                if name == "self" {
                    match t {
                        Type::Generic(g) if g == "Self" => "self".to_owned(),
                        Type::BorrowedRef {
                            lifetime,
                            is_mutable,
                            type_,
                        } if matches!(&**type_, Type::Generic(g) if g == "Self") => {
                            let lt = lifetime
                                .as_ref()
                                .map(|l| format!("{l} "))
                                .unwrap_or_default();
                            let m = if *is_mutable { "mut " } else { "" };
                            format!("&{lt}{m}self")
                        }
                        other => format!("self: {}", self.ty(other)),
                    }
                } else {
                    self.ty(t)
                }
            })
            .collect();
        s.push_str(&format!("({})", inputs.join(", ")));
        if let Some(out) = &f.sig.output {
            s.push_str(&format!(" -> {}", self.ty(out)));
        }
        s.push_str(&self.where_(&f.generics));
        s
    }

    fn generics(&self, g: &Generics) -> String {
        let params: Vec<String> = g
            .params
            .iter()
            .filter(|p| {
                !matches!(
                    p.kind,
                    GenericParamDefKind::Type {
                        is_synthetic: true,
                        ..
                    }
                )
            })
            .map(|p| self.param(p))
            .collect();
        if params.is_empty() {
            String::new()
        } else {
            format!("<{}>", params.join(", "))
        }
    }

    fn param(&self, p: &GenericParamDef) -> String {
        match &p.kind {
            GenericParamDefKind::Lifetime { outlives } => {
                if outlives.is_empty() {
                    p.name.clone()
                } else {
                    format!("{}: {}", p.name, outlives.join(" + "))
                }
            }
            GenericParamDefKind::Type {
                bounds, default, ..
            } => {
                let mut s = p.name.clone();
                if !bounds.is_empty() {
                    s.push_str(&format!(": {}", self.bounds(bounds)));
                }
                if let Some(d) = default {
                    s.push_str(&format!(" = {}", self.ty(d)));
                }
                s
            }
            GenericParamDefKind::Const { type_, default } => {
                let mut s = format!("const {}: {}", p.name, self.ty(type_));
                if let Some(d) = default {
                    s.push_str(&format!(" = {d}"));
                }
                s
            }
        }
    }

    fn where_(&self, g: &Generics) -> String {
        if g.where_predicates.is_empty() {
            return String::new();
        }
        let preds: Vec<String> = g
            .where_predicates
            .iter()
            .map(|p| match p {
                WherePredicate::BoundPredicate {
                    type_,
                    bounds,
                    generic_params,
                } => format!(
                    "{}{}: {}",
                    self.hrtb(generic_params),
                    self.ty(type_),
                    self.bounds(bounds)
                ),
                WherePredicate::LifetimePredicate { lifetime, outlives } => {
                    format!("{lifetime}: {}", outlives.join(" + "))
                }
                WherePredicate::EqPredicate { lhs, rhs } => {
                    format!("{} == {}", self.ty(lhs), self.term(rhs))
                }
            })
            .collect();
        format!(" where {}", preds.join(", "))
    }

    fn hrtb(&self, params: &[GenericParamDef]) -> String {
        if params.is_empty() {
            String::new()
        } else {
            let ps: Vec<String> = params.iter().map(|p| self.param(p)).collect();
            format!("for<{}> ", ps.join(", "))
        }
    }

    fn bounds(&self, bounds: &[GenericBound]) -> String {
        let v: Vec<String> = bounds
            .iter()
            .map(|b| match b {
                GenericBound::TraitBound {
                    trait_,
                    generic_params,
                    modifier,
                } => {
                    let m = match modifier {
                        TraitBoundModifier::None => "",
                        TraitBoundModifier::Maybe => "?",
                        TraitBoundModifier::MaybeConst => "~const ",
                    };
                    format!("{}{m}{}", self.hrtb(generic_params), self.path(trait_))
                }
                GenericBound::Outlives(l) => l.clone(),
                GenericBound::Use(args) => {
                    let a: Vec<String> = args
                        .iter()
                        .map(|a| match a {
                            rustdoc_types::PreciseCapturingArg::Lifetime(l) => l.clone(),
                            rustdoc_types::PreciseCapturingArg::Param(p) => p.clone(),
                        })
                        .collect();
                    format!("use<{}>", a.join(", "))
                }
            })
            .collect();
        v.join(" + ")
    }

    fn term(&self, t: &Term) -> String {
        match t {
            Term::Type(t) => self.ty(t),
            Term::Constant(c) => c.expr.clone(),
        }
    }

    fn path_name(&self, p: &RPath) -> String {
        if let Some(public) = self.public.get(&p.id) {
            return public.clone();
        }
        match self.k.paths.get(&p.id) {
            Some(s) => self.external_name(s.path.join("::")),
            None => p.path.clone(),
        }
    }

    fn path(&self, p: &RPath) -> String {
        let mut s = self.path_name(p);
        if let Some(args) = &p.args {
            s.push_str(&self.args(args));
        }
        s
    }

    fn args(&self, a: &GenericArgs) -> String {
        match a {
            GenericArgs::AngleBracketed { args, constraints } => {
                let mut v: Vec<String> = args
                    .iter()
                    .map(|a| match a {
                        GenericArg::Lifetime(l) => l.clone(),
                        GenericArg::Type(t) => self.ty(t),
                        GenericArg::Const(c) => c.expr.clone(),
                        GenericArg::Infer => "_".to_owned(),
                    })
                    .collect();
                for c in constraints {
                    let args = c.args.as_ref().map(|a| self.args(a)).unwrap_or_default();
                    v.push(match &c.binding {
                        rustdoc_types::AssocItemConstraintKind::Equality(t) => {
                            format!("{}{args} = {}", c.name, self.term(t))
                        }
                        rustdoc_types::AssocItemConstraintKind::Constraint(b) => {
                            format!("{}{args}: {}", c.name, self.bounds(b))
                        }
                    });
                }
                if v.is_empty() {
                    String::new()
                } else {
                    format!("<{}>", v.join(", "))
                }
            }
            GenericArgs::Parenthesized { inputs, output } => {
                let ins: Vec<String> = inputs.iter().map(|t| self.ty(t)).collect();
                let out = output
                    .as_ref()
                    .map(|t| format!(" -> {}", self.ty(t)))
                    .unwrap_or_default();
                format!("({}){out}", ins.join(", "))
            }
            GenericArgs::ReturnTypeNotation => "(..)".to_owned(),
        }
    }

    fn ty(&self, t: &Type) -> String {
        match t {
            Type::ResolvedPath(p) => self.path(p),
            Type::DynTrait(d) => {
                let mut v: Vec<String> = d
                    .traits
                    .iter()
                    .map(|pt| format!("{}{}", self.hrtb(&pt.generic_params), self.path(&pt.trait_)))
                    .collect();
                if let Some(l) = &d.lifetime {
                    v.push(l.clone());
                }
                format!("dyn {}", v.join(" + "))
            }
            Type::Generic(s) | Type::Primitive(s) => s.clone(),
            Type::FunctionPointer(fp) => {
                let ins: Vec<String> = fp.sig.inputs.iter().map(|(_, t)| self.ty(t)).collect();
                let out = fp
                    .sig
                    .output
                    .as_ref()
                    .map(|t| format!(" -> {}", self.ty(t)))
                    .unwrap_or_default();
                let unsafe_ = if fp.header.is_unsafe { "unsafe " } else { "" };
                format!(
                    "{}{unsafe_}fn({}){out}",
                    self.hrtb(&fp.generic_params),
                    ins.join(", ")
                )
            }
            Type::Tuple(ts) => {
                let v: Vec<String> = ts.iter().map(|t| self.ty(t)).collect();
                if v.len() == 1 {
                    format!("({},)", v[0])
                } else {
                    format!("({})", v.join(", "))
                }
            }
            Type::Slice(t) => format!("[{}]", self.ty(t)),
            Type::Array { type_, len } => format!("[{}; {len}]", self.ty(type_)),
            Type::Pat { type_, .. } => self.ty(type_),
            Type::ImplTrait(b) => format!("impl {}", self.bounds(b)),
            Type::Infer => "_".to_owned(),
            Type::RawPointer { is_mutable, type_ } => {
                format!(
                    "*{} {}",
                    if *is_mutable { "mut" } else { "const" },
                    self.ty(type_)
                )
            }
            Type::BorrowedRef {
                lifetime,
                is_mutable,
                type_,
            } => {
                let lt = lifetime
                    .as_ref()
                    .map(|l| format!("{l} "))
                    .unwrap_or_default();
                let m = if *is_mutable { "mut " } else { "" };
                format!("&{lt}{m}{}", self.ty(type_))
            }
            Type::QualifiedPath {
                name,
                args,
                self_type,
                trait_,
            } => {
                let a = args.as_ref().map(|a| self.args(a)).unwrap_or_default();
                match trait_ {
                    Some(tr) => format!("<{} as {}>::{name}{a}", self.ty(self_type), self.path(tr)),
                    None => format!("{}::{name}{a}", self.ty(self_type)),
                }
            }
        }
    }
}

/// The key of a snapshot line: `kind path` (for `impl` lines, the whole line,
/// since a type may implement one trait several times).
fn key(line: &str) -> String {
    let mut parts = line.splitn(3, ' ');
    let kind = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    if kind == "impl" {
        line.to_owned()
    } else {
        format!("{kind} {path}")
    }
}

/// Differences between a committed snapshot and the current API.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SnapshotDiff {
    /// Lines whose key is gone.
    pub removed: Vec<String>,
    /// Keys whose lines differ: (old lines, new lines).
    pub changed: Vec<(Vec<String>, Vec<String>)>,
    /// Lines whose key is new.
    pub added: Vec<String>,
}

impl SnapshotDiff {
    /// True when nothing was removed or changed.
    pub fn is_compatible(&self) -> bool {
        self.removed.is_empty() && self.changed.is_empty()
    }

    /// True when the snapshots are identical.
    pub fn is_empty(&self) -> bool {
        self.is_compatible() && self.added.is_empty()
    }
}

/// Parses snapshot text: one line per item, `#` comments and blank lines skipped.
pub fn parse_snapshot(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Compares `old` (committed) with `new` (current).
pub fn diff(old: &[String], new: &[String]) -> SnapshotDiff {
    fn group(lines: &[String]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in lines {
            m.entry(key(l)).or_default().push(l.clone());
        }
        for v in m.values_mut() {
            v.sort();
        }
        m
    }
    let (o, n) = (group(old), group(new));
    let mut d = SnapshotDiff::default();
    for (k, ol) in &o {
        match n.get(k) {
            None => d.removed.extend(ol.iter().cloned()),
            Some(nl) if nl != ol => d.changed.push((ol.clone(), nl.clone())),
            Some(_) => {}
        }
    }
    for (k, nl) in &n {
        if !o.contains_key(k) {
            d.added.extend(nl.iter().cloned());
        }
    }
    d
}

/// Renders a snapshot file.
pub fn render_snapshot(crate_name: &str, lines: &[String]) -> String {
    let mut s = format!(
        "# Public API of {crate_name} (rustdoc JSON, --all-features).\n\
         # Generated by `cargo xtask snapshot`: do not edit. The `api` gate fails when\n\
         # an item is removed or changed; re-run `cargo xtask snapshot` to accept a change.\n"
    );
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// Compares the current API of each crate (`current`: crate → lines) with
/// its committed snapshot under `root`.
pub fn check_snapshots(root: &Path, current: &BTreeMap<String, Vec<String>>) -> CheckReport {
    let mut report = CheckReport::new("api");
    for (crate_name, lines) in current {
        let rel = snapshot_path(crate_name);
        let Ok(text) = std::fs::read_to_string(root.join(&rel)) else {
            report.push(
                Violation::new(format!("{crate_name}: no committed API snapshot at {rel}"))
                    .fix("run `cargo xtask snapshot` and commit the file")
                    .rule("specs/repo.yaml layers.stable (stable crates carry API snapshots)"),
            );
            continue;
        };
        let d = diff(&parse_snapshot(&text), lines);
        for l in &d.removed {
            report.push(
                Violation::new(format!("{crate_name}: public item removed: {l}"))
                    .fix("restore it, or accept the break deliberately with `cargo xtask snapshot`")
                    .rule(format!("{rel} (stable API)")),
            );
        }
        for (old, new) in &d.changed {
            report.push(
                Violation::new(format!(
                    "{crate_name}: public item changed:\n     - {}\n     + {}",
                    old.join("\n     - "),
                    new.join("\n     + ")
                ))
                .fix("restore the old signature, or accept the change deliberately with `cargo xtask snapshot`")
                .rule(format!("{rel} (stable API)")),
            );
        }
        if !d.added.is_empty() {
            report.note(format!(
                "{crate_name}: {} public item(s) added (compatible; record with `cargo xtask snapshot`):",
                d.added.len()
            ));
            for l in &d.added {
                report.note(format!("  + {l}"));
            }
        }
    }
    report
}
