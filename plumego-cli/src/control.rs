//! The repository's control plane as the CLI reads it: `specs/*.yaml`,
//! `specs/change-recipes/*.yaml` and the `module.yaml` beside every crate.
//!
//! The structs follow the xtask's schema (`xtask/src/spec.rs`,
//! `xtask/src/manifest.rs`) but only hold the fields the CLI uses and accept
//! unknown keys: the xtask `manifests` gate is the strict validator, the CLI
//! is a reader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::output::Failure;
use crate::util;

/// `specs/repo.yaml`.
pub const REPO_SPEC: &str = "specs/repo.yaml";
/// `specs/task-routing.yaml`.
pub const TASK_ROUTING: &str = "specs/task-routing.yaml";
/// `specs/dependency-rules.yaml`.
pub const DEPENDENCY_RULES: &str = "specs/dependency-rules.yaml";
/// `specs/extension-beta-evidence.yaml` (optional for the CLI).
pub const BETA_EVIDENCE: &str = "specs/extension-beta-evidence.yaml";
/// The folder of change recipes.
pub const RECIPES_DIR: &str = "specs/change-recipes";
/// The manifest file beside every crate.
pub const MANIFEST: &str = "module.yaml";

/// `specs/repo.yaml`.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoSpec {
    /// Schema version.
    pub version: u32,
    /// Identity.
    pub repo: RepoInfo,
    /// Layer name → its crates.
    pub layers: BTreeMap<String, LayerSpec>,
}

/// Repository identity.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoInfo {
    /// Project name.
    pub name: String,
}

/// One layer of `repo.yaml`.
#[derive(Debug, Clone, Deserialize)]
pub struct LayerSpec {
    /// Its crates.
    #[serde(default)]
    pub crates: Vec<CrateRef>,
}

/// A crate named in `repo.yaml`.
#[derive(Debug, Clone, Deserialize)]
pub struct CrateRef {
    /// Cargo package name.
    pub name: String,
    /// Directory relative to the root.
    pub path: String,
}

/// `specs/task-routing.yaml`.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskRouting {
    /// Schema version.
    pub version: u32,
    /// Task kind → where to start.
    pub tasks: BTreeMap<String, TaskRoute>,
}

/// One task kind.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TaskRoute {
    /// What the task is for.
    pub intent: String,
    /// The context package to load.
    #[serde(default)]
    pub context_package: Option<String>,
    /// Files or folders to read first.
    #[serde(default)]
    pub start_with: Vec<String>,
    /// Paths not to touch.
    #[serde(default)]
    pub avoid: Vec<String>,
    /// The change recipe (a name or a path under `specs/change-recipes/`).
    #[serde(default)]
    pub recipe: Option<String>,
}

/// `specs/dependency-rules.yaml` (the CLI only checks that it parses).
#[derive(Debug, Clone, Deserialize)]
pub struct DependencyRules {
    /// Schema version.
    pub version: u32,
    /// Layer → layers it may depend on.
    pub layer_dependencies: BTreeMap<String, Vec<String>>,
}

/// `specs/extension-beta-evidence.yaml` (the CLI only checks that it parses).
#[derive(Debug, Clone, Deserialize)]
pub struct BetaEvidence {
    /// Schema version.
    pub version: u32,
    /// The status a complete entry may claim.
    pub promotion_target: String,
}

/// `specs/change-recipes/<name>.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Recipe {
    /// File stem.
    pub name: String,
    /// One line.
    pub scope: String,
    /// Ordered steps.
    pub steps: Vec<String>,
    /// Conditions that stop the change.
    #[serde(default)]
    pub stop_conditions: Vec<String>,
    /// Commands that validate the change.
    #[serde(default)]
    pub validation: Vec<String>,
}

/// A crate's `module.yaml`.
#[derive(Debug, Clone, Deserialize)]
pub struct ModuleManifest {
    /// Cargo package name.
    pub name: String,
    /// Crate directory relative to the root (`.` for the facade).
    pub path: String,
    /// stable, extension, reference or tooling.
    pub layer: String,
    /// ga, beta or experimental.
    pub status: String,
    /// Owning team.
    pub owner: String,
    /// low, medium, high or critical.
    pub risk: String,
    /// One line.
    pub summary: String,
    /// Workspace crates it may depend on.
    #[serde(default)]
    pub allowed_imports: Vec<String>,
    /// Crates it must not depend on.
    #[serde(default)]
    pub forbidden_imports: Vec<String>,
    /// How to test the crate alone.
    pub test_commands: Vec<String>,
    /// Advice for agents.
    #[serde(default)]
    pub agent_hints: Vec<String>,
    /// What a reviewer checks.
    #[serde(default)]
    pub review_checklist: Vec<String>,
    /// Behaviour that is easy to break.
    #[serde(default)]
    pub change_risks: Vec<String>,
    /// Documentation to read.
    #[serde(default)]
    pub doc_paths: Vec<String>,
    /// Code role → file or directory, relative to the crate.
    #[serde(default)]
    pub landing_zones: BTreeMap<String, String>,
}

/// Parses YAML text, naming `what` in the error.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, String> {
    serde_yaml_ng::from_str(text).map_err(|e| format!("{what}: invalid: {e}"))
}

/// Reads and parses `<root>/<rel>`.
pub fn load_yaml<T: serde::de::DeserializeOwned>(root: &Path, rel: &str) -> Result<T, String> {
    let text =
        std::fs::read_to_string(root.join(rel)).map_err(|e| format!("{rel}: cannot read: {e}"))?;
    parse_yaml(rel, &text)
}

/// The recipe files, sorted, relative to `root`.
pub fn recipe_files(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root.join(RECIPES_DIR))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name.ends_with(".yaml") || name.ends_with(".yml"))
                        .then(|| format!("{RECIPES_DIR}/{name}"))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Loads the recipe a task names: `add-http-endpoint`,
/// `add-http-endpoint.yaml` or `specs/change-recipes/add-http-endpoint.yaml`.
pub fn load_recipe(root: &Path, reference: &str) -> Result<(String, Recipe), String> {
    let rel = if reference.contains('/') {
        reference.to_owned()
    } else if reference.ends_with(".yaml") || reference.ends_with(".yml") {
        format!("{RECIPES_DIR}/{reference}")
    } else {
        format!("{RECIPES_DIR}/{reference}.yaml")
    };
    load_yaml(root, &rel).map(|r| (rel, r))
}

/// One workspace member.
#[derive(Debug, Clone)]
pub struct Member {
    /// Cargo package name.
    pub name: String,
    /// Its directory relative to the root (`.` for the root package).
    pub rel_dir: String,
    /// Its absolute directory.
    pub dir: PathBuf,
}

impl Member {
    /// Its `module.yaml` relative to the root, as messages show it.
    pub fn manifest_file(&self) -> String {
        if self.rel_dir == "." {
            MANIFEST.to_owned()
        } else {
            format!("{}/{MANIFEST}", self.rel_dir)
        }
    }
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
    workspace_members: Vec<String>,
}

#[derive(Deserialize)]
struct MetaPackage {
    id: String,
    name: String,
    manifest_path: PathBuf,
}

/// The workspace members of `root`, from `cargo metadata --no-deps`.
pub fn workspace_members(root: &Path) -> Result<Vec<Member>, Failure> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = root.join("Cargo.toml");
    let out = Command::new(&cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .map_err(|e| Failure::error(format!("cannot run `{cargo} metadata`: {e}")))?;
    if !out.status.success() {
        return Err(Failure::error(format!(
            "`cargo metadata` failed for {}: {}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let meta: Metadata = serde_json::from_slice(&out.stdout)
        .map_err(|e| Failure::error(format!("cannot parse `cargo metadata` output: {e}")))?;
    let root = util::canonical(root);
    let mut members: Vec<Member> = meta
        .packages
        .into_iter()
        .filter(|p| meta.workspace_members.contains(&p.id))
        .map(|p| {
            let dir = util::canonical(p.manifest_path.parent().unwrap_or(&root));
            let rel_dir = match util::rel_to(&dir, &root) {
                Some(r) if r.is_empty() => ".".to_owned(),
                Some(r) => r,
                None => dir.display().to_string(),
            };
            Member {
                name: p.name,
                rel_dir,
                dir,
            }
        })
        .collect();
    members.sort_by(|a, b| a.rel_dir.cmp(&b.rel_dir));
    Ok(members)
}

/// The paths the root package (`.`) owns; everything else at the top level
/// (specs, docs, CI files, other crates) belongs to no crate.
const ROOT_PACKAGE_PATHS: &[&str] = &[
    "Cargo.toml",
    "build.rs",
    "src",
    "tests",
    "examples",
    "benches",
];

/// Whether `rel` (a root-relative file path) is `dir` or lies under it.
pub fn under(rel: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    dir.is_empty() || dir == "." || rel == dir || rel.starts_with(&format!("{dir}/"))
}

/// The member owning the root-relative file `rel`: the deepest crate
/// directory containing it.
pub fn owner_of<'a>(members: &'a [Member], rel: &str) -> Option<&'a Member> {
    members
        .iter()
        .filter(|m| {
            if m.rel_dir == "." {
                ROOT_PACKAGE_PATHS.iter().any(|p| under(rel, p))
            } else {
                under(rel, &m.rel_dir)
            }
        })
        .max_by_key(|m| if m.rel_dir == "." { 0 } else { m.rel_dir.len() })
}

/// Loads `<member>/module.yaml`.
pub fn load_manifest(member: &Member) -> Result<ModuleManifest, String> {
    let shown = member.manifest_file();
    let text = std::fs::read_to_string(member.dir.join(MANIFEST))
        .map_err(|e| format!("{shown}: cannot read: {e}"))?;
    parse_yaml(&shown, &text)
}

/// The repository root for the agent commands: `--root`, else the nearest
/// workspace above the current directory.
pub fn repo_root(explicit: Option<&Path>) -> Result<PathBuf, Failure> {
    match explicit {
        Some(dir) => {
            if !dir.join("Cargo.toml").is_file() {
                return Err(Failure::error(format!(
                    "{} has no Cargo.toml: pass the repository root",
                    dir.display()
                )));
            }
            Ok(util::canonical(dir))
        }
        None => {
            let cwd = std::env::current_dir()
                .map_err(|e| Failure::error(format!("no current directory: {e}")))?;
            util::find_workspace_root(&cwd).ok_or_else(|| {
                Failure::error(format!(
                    "no Cargo workspace above {}: run inside the repository or pass --root",
                    cwd.display()
                ))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, rel: &str) -> Member {
        Member {
            name: name.into(),
            rel_dir: rel.into(),
            dir: PathBuf::from("/r").join(rel),
        }
    }

    #[test]
    fn owner_prefers_the_deepest_crate_and_limits_the_root_package() {
        let members = [
            member("plumego", "."),
            member("plumego-core", "plumego-core"),
            member("x", "plumego-core/x"),
        ];
        let owner = |p: &str| owner_of(&members, p).map(|m| m.name.clone());
        assert_eq!(owner("src/lib.rs").as_deref(), Some("plumego"));
        assert_eq!(owner("Cargo.toml").as_deref(), Some("plumego"));
        assert_eq!(
            owner("plumego-core/src/lib.rs").as_deref(),
            Some("plumego-core")
        );
        assert_eq!(owner("plumego-core/x/src/lib.rs").as_deref(), Some("x"));
        assert_eq!(owner("plumego-corex/src/lib.rs"), None);
        assert_eq!(owner("specs/repo.yaml"), None);
    }
}
