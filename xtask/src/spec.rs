//! Typed models of the machine-readable control plane under `specs/`.
//!
//! Every struct denies unknown fields, so a typo in a spec is a parse error
//! (reported by the `manifests` gate) rather than a silently ignored key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `specs/repo.yaml`.
pub const REPO_SPEC: &str = "specs/repo.yaml";
/// `specs/dependency-rules.yaml`.
pub const DEPENDENCY_RULES: &str = "specs/dependency-rules.yaml";
/// `specs/task-routing.yaml`.
pub const TASK_ROUTING: &str = "specs/task-routing.yaml";
/// `specs/extension-beta-evidence.yaml`.
pub const BETA_EVIDENCE: &str = "specs/extension-beta-evidence.yaml";
/// The folder of change recipes.
pub const RECIPES_DIR: &str = "specs/change-recipes";

/// Architectural layer of a crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Compatibility-carrying library crates.
    Stable,
    /// Optional extension families (`plumego-x`).
    Extension,
    /// The canonical reference service.
    Reference,
    /// Tools: CLI, xtask, benchmarks.
    Tooling,
}

impl Layer {
    /// Every layer, in display order.
    pub const ALL: [Layer; 4] = [
        Layer::Stable,
        Layer::Extension,
        Layer::Reference,
        Layer::Tooling,
    ];

    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Stable => "stable",
            Layer::Extension => "extension",
            Layer::Reference => "reference",
            Layer::Tooling => "tooling",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Maturity of a crate or extension family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Compatibility promise in force.
    Ga,
    /// API frozen between release refs, backed by evidence.
    Beta,
    /// No compatibility promise.
    Experimental,
}

impl Status {
    /// Every status, in display order.
    pub const ALL: [Status; 3] = [Status::Ga, Status::Beta, Status::Experimental];

    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ga => "ga",
            Status::Beta => "beta",
            Status::Experimental => "experimental",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much damage a careless change can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Local, easily reverted.
    Low,
    /// Visible to some users.
    Medium,
    /// Visible to every user of the crate.
    High,
    /// Security or data-loss exposure.
    Critical,
}

impl Risk {
    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `specs/repo.yaml`: repository identity, layers and their crates, the
/// reference layout, and agent workflow defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSpec {
    /// Schema version (1).
    pub version: u32,
    /// Identity and goals.
    pub repo: RepoInfo,
    /// Topic → the files that are authoritative for it.
    pub canonical_authority: BTreeMap<String, Vec<String>>,
    /// Layer → its crates.
    pub layers: BTreeMap<Layer, LayerSpec>,
    /// The canonical layout of the reference service.
    pub reference_layout: ReferenceLayout,
    /// Defaults every change follows.
    pub agent_workflow: AgentWorkflow,
}

/// Repository identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoInfo {
    /// Project name.
    pub name: String,
    /// `agent-first`.
    pub mode: String,
    /// What the repository optimises for.
    pub goals: Vec<String>,
}

/// One layer of `repo.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// What belongs here.
    pub description: String,
    /// The compatibility promise, quoted in the release posture.
    pub compatibility: String,
    /// The crates of this layer.
    pub crates: Vec<CrateRef>,
    /// For the extension layer: the folder whose sub-folders are families.
    #[serde(default)]
    pub families_root: Option<String>,
}

/// A crate named in `repo.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrateRef {
    /// Cargo package name.
    pub name: String,
    /// Directory relative to the repository root (`.` for the facade).
    pub path: String,
}

/// The canonical layout of the reference service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceLayout {
    /// The reference crate's package name.
    #[serde(rename = "crate")]
    pub crate_name: String,
    /// Paths relative to the crate directory; a trailing `/` means a directory.
    pub required_paths: Vec<String>,
    /// Manifest statuses for which the layout is reported but not enforced.
    pub exempt_statuses: Vec<Status>,
}

/// Agent workflow defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentWorkflow {
    /// Files to read, in order, before a change.
    pub read_path: Vec<String>,
    /// Numeric and boolean defaults.
    pub defaults: WorkflowDefaults,
    /// Fields every task contract states.
    pub task_contract_fields: Vec<String>,
}

/// Numeric and boolean defaults of a change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowDefaults {
    /// Crates a change may primarily touch.
    pub max_primary_crates_per_change: u32,
    /// Files a change may touch before it is split.
    pub max_files_per_change: u32,
    /// Validation commands a change may need before it is split.
    pub max_validation_commands_per_change: u32,
    /// A change keeps the public API unless its task says otherwise.
    pub default_no_public_api_change: bool,
    /// A change adds no dependency unless its task says otherwise.
    pub default_no_new_dependency: bool,
    /// Behaviour changes come with tests.
    pub require_tests_for_behavior_change: bool,
}

impl RepoSpec {
    /// The layer that lists `crate_name`, if any.
    pub fn layer_of(&self, crate_name: &str) -> Option<Layer> {
        self.layers
            .iter()
            .find(|(_, l)| l.crates.iter().any(|c| c.name == crate_name))
            .map(|(layer, _)| *layer)
    }

    /// Every crate of every layer, with its layer.
    pub fn crates(&self) -> Vec<(Layer, &CrateRef)> {
        self.layers
            .iter()
            .flat_map(|(layer, l)| l.crates.iter().map(move |c| (*layer, c)))
            .collect()
    }

    /// The crates of one layer.
    pub fn crates_in(&self, layer: Layer) -> Vec<&CrateRef> {
        self.layers
            .get(&layer)
            .map(|l| l.crates.iter().collect())
            .unwrap_or_default()
    }

    /// The folder holding extension families (`plumego-x/src`).
    pub fn families_root(&self) -> Option<&str> {
        self.layers
            .get(&Layer::Extension)
            .and_then(|l| l.families_root.as_deref())
    }
}

/// `specs/dependency-rules.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependencyRules {
    /// Schema version (1).
    pub version: u32,
    /// Layer → the layers whose workspace crates it may depend on (normal and
    /// build dependencies; dev-dependencies are free).
    pub layer_dependencies: BTreeMap<Layer, Vec<Layer>>,
    /// Crates that crates of some layers must not depend on.
    pub forbidden_dependencies: Vec<ForbiddenDependency>,
    /// Imports between `plumego-x` families.
    pub extension_families: FamilyRules,
}

/// One forbidden dependency.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForbiddenDependency {
    /// Cargo package name; `*` matches any run of characters.
    #[serde(rename = "crate")]
    pub crate_name: String,
    /// The layers the rule applies to.
    pub layers: Vec<Layer>,
    /// Also forbidden through other crates (normal and build edges only).
    #[serde(default = "yes")]
    pub transitive: bool,
    /// Why; printed with every violation.
    pub reason: String,
}

fn yes() -> bool {
    true
}

/// Import permissions between extension families.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyRules {
    /// Family → families it may import. Anything not listed is forbidden.
    #[serde(default)]
    pub allowed_imports: BTreeMap<String, Vec<String>>,
}

/// `specs/task-routing.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRouting {
    /// Schema version (1).
    pub version: u32,
    /// How much to read before working.
    pub context_policy: ContextPolicy,
    /// Conditions that require splitting a task before implementing it.
    pub split_before_implementation_when: Vec<String>,
    /// Task kind → where to start.
    pub tasks: BTreeMap<String, TaskRoute>,
}

/// Context budget.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextPolicy {
    /// The package read first.
    pub initial_package: String,
    /// Package name → files it contains.
    pub packages: BTreeMap<String, Vec<String>>,
}

/// One task kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRoute {
    /// What the task is for.
    pub intent: String,
    /// A key of `context_policy.packages`.
    pub context_package: String,
    /// Files or folders to read first; each must exist.
    pub start_with: Vec<String>,
    /// Paths this task must not touch.
    #[serde(default)]
    pub avoid: Vec<String>,
    /// The change recipe to follow, if any.
    #[serde(default)]
    pub recipe: Option<String>,
}

/// `specs/change-recipes/*.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// File stem.
    pub name: String,
    /// One line.
    pub scope: String,
    /// The layers where the recipe applies.
    pub applies_to: Vec<Layer>,
    /// Ordered steps.
    pub steps: Vec<String>,
    /// "Do not ..." conditions that stop the change.
    pub stop_conditions: Vec<String>,
    /// Commands that validate the change.
    pub validation: Vec<String>,
}

/// `specs/extension-beta-evidence.yaml`: the ledger of evidence for
/// promoting extension families from experimental to beta.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BetaEvidence {
    /// Schema version (1).
    pub version: u32,
    /// The status a complete entry may claim.
    pub promotion_target: Status,
    /// The policy document.
    pub policy: String,
    /// What a complete entry needs.
    pub required_evidence: RequiredEvidence,
    /// One entry per extension family (may be empty).
    #[serde(default)]
    pub families: Vec<FamilyEvidence>,
}

/// Thresholds of a complete entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredEvidence {
    /// Tagged refs with an unchanged API.
    pub release_refs: usize,
    /// Committed API snapshots (one per ref).
    pub api_snapshots: usize,
    /// Sign-off values that count as signed.
    pub owner_signoff_values: Vec<String>,
}

/// Evidence for one family.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyEvidence {
    /// Family name: `plumego-x/src/<family>/` and cargo feature `<family>`.
    pub family: String,
    /// Owning team.
    pub owner: String,
    /// Claimed status.
    pub current_status: Status,
    /// Evidence document, if any (must exist).
    #[serde(default)]
    pub evidence_doc: Option<String>,
    /// Git refs (tags or commits) the API was compared across.
    #[serde(default)]
    pub release_refs: Vec<String>,
    /// Snapshot files, one per release ref (must exist).
    #[serde(default)]
    pub api_snapshots: Vec<String>,
    /// `signed`, `complete`, `approved` or anything else (= missing).
    pub owner_signoff: String,
    /// Must equal the computed blockers exactly.
    #[serde(default)]
    pub blockers: Vec<Blocker>,
}

/// Why a family cannot be promoted yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Blocker {
    /// Fewer release refs than required.
    ReleaseHistoryMissing,
    /// Fewer snapshots than required, or a listed snapshot does not exist.
    ApiSnapshotMissing,
    /// The owner has not signed off.
    OwnerSignoffMissing,
}

impl Blocker {
    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Blocker::ReleaseHistoryMissing => "release_history_missing",
            Blocker::ApiSnapshotMissing => "api_snapshot_missing",
            Blocker::OwnerSignoffMissing => "owner_signoff_missing",
        }
    }
}

/// Reads and parses one YAML file relative to `root`.
pub fn load_yaml<T: serde::de::DeserializeOwned>(root: &Path, rel: &str) -> Result<T, String> {
    let path = root.join(rel);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{rel}: cannot read: {e}"))?;
    parse_yaml(rel, &text)
}

/// Parses YAML text, naming `what` in the error.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, String> {
    serde_yaml_ng::from_str(text).map_err(|e| format!("{what}: invalid: {e}"))
}

/// The recipe files, sorted, relative to `root`.
pub fn recipe_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root.join(RECIPES_DIR)) {
        for e in entries.flatten() {
            let p: PathBuf = e.path();
            if p.extension().is_some_and(|x| x == "yaml") {
                if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
                    out.push(format!("{RECIPES_DIR}/{name}"));
                }
            }
        }
    }
    out.sort();
    out
}

/// `*`-glob match on a crate name (`openssl*`, `*-sys`, exact names).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("axum", "axum"));
        assert!(!glob_match("axum", "axum-core"));
        assert!(glob_match("axum*", "axum-core"));
        assert!(glob_match("*-sys", "openssl-sys"));
        assert!(!glob_match("*-sys", "openssl"));
    }
}
