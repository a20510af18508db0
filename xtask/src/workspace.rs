//! The workspace as `cargo metadata` describes it (the subset the gates use).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

#[derive(Deserialize)]
struct RawMetadata {
    packages: Vec<RawPackage>,
    workspace_members: Vec<String>,
    resolve: Option<RawResolve>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct RawPackage {
    id: String,
    name: String,
    manifest_path: PathBuf,
    dependencies: Vec<RawDep>,
    targets: Vec<RawTarget>,
    #[serde(default)]
    features: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct RawDep {
    name: String,
    kind: Option<String>,
    #[serde(default)]
    optional: bool,
}

#[derive(Deserialize)]
struct RawTarget {
    name: String,
    kind: Vec<String>,
    src_path: PathBuf,
}

#[derive(Deserialize)]
struct RawResolve {
    nodes: Vec<RawNode>,
}

#[derive(Deserialize)]
struct RawNode {
    id: String,
    #[serde(default)]
    deps: Vec<RawNodeDep>,
}

#[derive(Deserialize)]
struct RawNodeDep {
    pkg: String,
    #[serde(default)]
    dep_kinds: Vec<RawDepKind>,
}

#[derive(Deserialize)]
struct RawDepKind {
    kind: Option<String>,
}

/// Kind of a dependency edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DepKind {
    /// `[dependencies]`.
    Normal,
    /// `[build-dependencies]`.
    Build,
    /// `[dev-dependencies]`.
    Dev,
}

impl DepKind {
    fn parse(kind: Option<&str>) -> DepKind {
        match kind {
            Some("dev") => DepKind::Dev,
            Some("build") => DepKind::Build,
            _ => DepKind::Normal,
        }
    }

    /// How Cargo.toml spells the section.
    pub fn section(self) -> &'static str {
        match self {
            DepKind::Normal => "[dependencies]",
            DepKind::Build => "[build-dependencies]",
            DepKind::Dev => "[dev-dependencies]",
        }
    }
}

/// A declared dependency of a workspace package.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// Package name (not the rename).
    pub name: String,
    /// Section.
    pub kind: DepKind,
    /// Behind a feature.
    pub optional: bool,
}

/// A build target of a package.
#[derive(Debug, Clone)]
pub struct Target {
    /// Target name (`plumego_core` for a lib, `plumego` for a bin).
    pub name: String,
    /// `lib`, `bin`, `test`, `bench`, `example`, `custom-build`...
    pub kinds: Vec<String>,
    /// The root source file.
    pub src_path: PathBuf,
}

/// A workspace member.
#[derive(Debug, Clone)]
pub struct Package {
    /// Cargo package id.
    pub id: String,
    /// Package name.
    pub name: String,
    /// Absolute directory.
    pub dir: PathBuf,
    /// Directory relative to the workspace root (`.` for the root package).
    pub rel_dir: String,
    /// Declared dependencies, every section.
    pub dependencies: Vec<Dependency>,
    /// Targets.
    pub targets: Vec<Target>,
    /// Feature names.
    pub features: BTreeSet<String>,
}

impl Package {
    /// The library target, if any.
    pub fn lib(&self) -> Option<&Target> {
        self.targets
            .iter()
            .find(|t| t.kinds.iter().any(|k| k == "lib" || k == "rlib"))
    }
}

/// The workspace: members plus the resolved dependency graph.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Workspace root.
    pub root: PathBuf,
    /// Cargo's target directory.
    pub target_dir: PathBuf,
    /// Members, sorted by name.
    pub members: Vec<Package>,
    names: BTreeMap<String, String>,
    edges: BTreeMap<String, Vec<(String, BTreeSet<DepKind>)>>,
}

impl Workspace {
    /// Runs `cargo metadata --all-features` for the workspace at `root`.
    pub fn load(root: &Path) -> Result<Self, String> {
        let cargo = crate::util::cargo();
        let out = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--all-features"])
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml"))
            .output()
            .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Self::from_json(&String::from_utf8_lossy(&out.stdout))
    }

    /// Builds the model from `cargo metadata --format-version 1` output.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let raw: RawMetadata =
            serde_json::from_str(json).map_err(|e| format!("cargo metadata: invalid JSON: {e}"))?;
        let root = raw.workspace_root.clone();
        let member_ids: BTreeSet<&str> = raw.workspace_members.iter().map(String::as_str).collect();
        let names: BTreeMap<String, String> = raw
            .packages
            .iter()
            .map(|p| (p.id.clone(), p.name.clone()))
            .collect();
        let mut members = Vec::new();
        for p in &raw.packages {
            if !member_ids.contains(p.id.as_str()) {
                continue;
            }
            let dir = p
                .manifest_path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let rel_dir = match dir.strip_prefix(&root) {
                Ok(r) if r.as_os_str().is_empty() => ".".to_owned(),
                Ok(r) => r.to_string_lossy().replace('\\', "/"),
                Err(_) => dir.to_string_lossy().into_owned(),
            };
            members.push(Package {
                id: p.id.clone(),
                name: p.name.clone(),
                dir,
                rel_dir,
                dependencies: p
                    .dependencies
                    .iter()
                    .map(|d| Dependency {
                        name: d.name.clone(),
                        kind: DepKind::parse(d.kind.as_deref()),
                        optional: d.optional,
                    })
                    .collect(),
                targets: p
                    .targets
                    .iter()
                    .map(|t| Target {
                        name: t.name.clone(),
                        kinds: t.kind.clone(),
                        src_path: t.src_path.clone(),
                    })
                    .collect(),
                features: p.features.keys().cloned().collect(),
            });
        }
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let mut edges = BTreeMap::new();
        if let Some(resolve) = raw.resolve {
            for node in resolve.nodes {
                let deps = node
                    .deps
                    .into_iter()
                    .map(|d| {
                        let kinds = if d.dep_kinds.is_empty() {
                            BTreeSet::from([DepKind::Normal])
                        } else {
                            d.dep_kinds
                                .iter()
                                .map(|k| DepKind::parse(k.kind.as_deref()))
                                .collect()
                        };
                        (d.pkg, kinds)
                    })
                    .collect();
                edges.insert(node.id, deps);
            }
        }
        Ok(Workspace {
            root,
            target_dir: raw.target_directory,
            members,
            names,
            edges,
        })
    }

    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&Package> {
        self.members.iter().find(|p| p.name == name)
    }

    /// True when `name` is a workspace member.
    pub fn is_member(&self, name: &str) -> bool {
        self.member(name).is_some()
    }

    /// Every package reachable from `pkg` through normal and build edges
    /// (dev edges are not followed, not even from `pkg` itself), with the
    /// shortest chain of package names leading to it (starting at `pkg`).
    pub fn shipped_closure(&self, pkg: &Package) -> BTreeMap<String, Vec<String>> {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut queue = VecDeque::from([(pkg.id.clone(), vec![pkg.name.clone()])]);
        let mut visited = BTreeSet::from([pkg.id.clone()]);
        while let Some((id, chain)) = queue.pop_front() {
            for (dep, kinds) in self.edges.get(&id).into_iter().flatten() {
                if kinds.iter().all(|k| *k == DepKind::Dev) || !visited.insert(dep.clone()) {
                    continue;
                }
                let name = self.names.get(dep).cloned().unwrap_or_else(|| dep.clone());
                let mut next = chain.clone();
                next.push(name.clone());
                seen.entry(name).or_insert_with(|| next.clone());
                queue.push_back((dep.clone(), next));
            }
        }
        seen
    }
}
