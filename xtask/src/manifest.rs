//! `module.yaml`: the manifest beside every crate.
//!
//! The schema follows the Go project's `module-manifest.schema.yaml` (§3 of
//! the control-plane notes), adapted to Cargo: `name` is the package name,
//! `path` the crate directory, imports are crate names, and
//! `public_entrypoints` are Rust paths checked against the crate's source.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::report::Violation;
use crate::spec::{Layer, Risk, Status};

/// The manifest file name.
pub const MANIFEST: &str = "module.yaml";

/// A parsed `module.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleManifest {
    /// Cargo package name.
    pub name: String,
    /// Crate directory relative to the repository root (`.` for the facade).
    pub path: String,
    /// Must equal the layer `specs/repo.yaml` assigns.
    pub layer: Layer,
    /// ga, beta or experimental.
    pub status: Status,
    /// Owning team tag.
    pub owner: String,
    /// low, medium, high or critical.
    pub risk: Risk,
    /// One line.
    pub summary: String,
    /// What the crate owns (1 to 7).
    pub responsibilities: Vec<String>,
    /// What it deliberately does not do (1 to 7).
    pub non_goals: Vec<String>,
    /// Rust paths (`plumego_core::server::Server`, `Type::method`) or
    /// `<target kind>:<name>` (`bin:plumego`, `bench:router`); each must exist.
    pub public_entrypoints: Vec<String>,
    /// Workspace crates this crate may depend on (enforced by the `deps` gate).
    pub allowed_imports: Vec<String>,
    /// Crate names or `*` patterns it must not depend on (enforced).
    pub forbidden_imports: Vec<String>,
    /// How to test the crate alone (1 to 3).
    pub test_commands: Vec<String>,
    /// Documentation to read; each path must exist.
    #[serde(default)]
    pub doc_paths: Vec<String>,
    /// Short advice for agents (1 to 3).
    pub agent_hints: Vec<String>,
    /// What a reviewer checks (at most 5).
    #[serde(default)]
    pub review_checklist: Vec<String>,
    /// Behaviour that is easy to break.
    #[serde(default)]
    pub change_risks: Vec<String>,
    /// Code role → file or directory (each must exist).
    #[serde(default)]
    pub landing_zones: BTreeMap<String, String>,
}

/// List-length limits: (field, min, max).
const LIMITS: &[(&str, usize, usize)] = &[
    ("responsibilities", 1, 7),
    ("non_goals", 1, 7),
    ("public_entrypoints", 1, 40),
    ("allowed_imports", 0, 12),
    ("forbidden_imports", 1, 20),
    ("test_commands", 1, 3),
    ("agent_hints", 1, 3),
    ("review_checklist", 0, 5),
];

impl ModuleManifest {
    /// Parses manifest text.
    pub fn parse(what: &str, text: &str) -> Result<Self, String> {
        crate::spec::parse_yaml(what, text)
    }

    /// Reads `<dir>/module.yaml`, naming it `shown` in errors.
    pub fn load(dir: &Path, shown: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(dir.join(MANIFEST))
            .map_err(|e| format!("{shown}: cannot read: {e}"))?;
        Self::parse(shown, &text)
    }

    fn list(&self, field: &str) -> &[String] {
        match field {
            "responsibilities" => &self.responsibilities,
            "non_goals" => &self.non_goals,
            "public_entrypoints" => &self.public_entrypoints,
            "allowed_imports" => &self.allowed_imports,
            "forbidden_imports" => &self.forbidden_imports,
            "test_commands" => &self.test_commands,
            "agent_hints" => &self.agent_hints,
            "review_checklist" => &self.review_checklist,
            _ => &[],
        }
    }

    /// Schema rules that need no other input: non-empty scalars, list
    /// limits, no empty list entries, cargo test commands. `file` names the
    /// manifest in messages; `root` resolves `doc_paths` and `landing_zones`.
    pub fn validate_schema(&self, file: &str, root: &Path) -> Vec<Violation> {
        let mut out = Vec::new();
        let rule = "xtask/src/manifest.rs (module.yaml schema)";
        for (field, value) in [
            ("name", &self.name),
            ("path", &self.path),
            ("owner", &self.owner),
            ("summary", &self.summary),
        ] {
            if value.trim().is_empty() {
                out.push(
                    Violation::new(format!("{file}: `{field}` is empty"))
                        .fix(format!("give `{field}` a value"))
                        .rule(rule),
                );
            }
        }
        for &(field, min, max) in LIMITS {
            let list = self.list(field);
            if list.len() < min || list.len() > max {
                out.push(
                    Violation::new(format!(
                        "{file}: `{field}` has {} entries (allowed {min}..={max})",
                        list.len()
                    ))
                    .fix(format!("keep `{field}` between {min} and {max} entries"))
                    .rule(rule),
                );
            }
            if list.iter().any(|s| s.trim().is_empty()) {
                out.push(
                    Violation::new(format!("{file}: `{field}` has an empty entry")).rule(rule),
                );
            }
        }
        for cmd in &self.test_commands {
            if !cmd.starts_with("cargo ") {
                out.push(
                    Violation::new(format!(
                        "{file}: test command `{cmd}` does not start with `cargo `"
                    ))
                    .fix("use a cargo command so every crate tests the same way")
                    .rule(rule),
                );
            }
        }
        for doc in &self.doc_paths {
            if !root.join(doc).exists() {
                out.push(
                    Violation::new(format!("{file}: doc path `{doc}` does not exist"))
                        .fix("create the document or drop the entry")
                        .rule(rule),
                );
            }
        }
        let crate_dir = root.join(&self.path);
        for (role, zone) in &self.landing_zones {
            if !crate_dir.join(zone).exists() {
                out.push(
                    Violation::new(format!(
                        "{file}: landing zone `{role}` → `{zone}` does not exist (relative to `{}`)",
                        self.path
                    ))
                    .rule(rule),
                );
            }
        }
        out
    }
}
