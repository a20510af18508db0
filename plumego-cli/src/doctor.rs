//! `plumego doctor`: is this repository's control plane complete? The spec
//! files exist and parse, recipes parse and the tasks' recipes exist, and
//! every workspace crate has a `module.yaml` that parses and names it.
//! Exit 0 when ready, 2 when something is missing or broken.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use serde_json::json;

use crate::control::{
    self, BETA_EVIDENCE, BetaEvidence, DEPENDENCY_RULES, DependencyRules, MANIFEST, RECIPES_DIR,
    REPO_SPEC, Recipe, RepoSpec, TASK_ROUTING, TaskRouting,
};
use crate::output::{CmdResult, Exit, Outcome};

/// The spec schema version this CLI reads.
const SCHEMA_VERSION: u32 = 1;

/// `plumego doctor` arguments.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The repository root (default: the nearest Cargo workspace above the current directory).
    #[arg(long)]
    pub root: Option<PathBuf>,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `pass` or `warn`.
    pub status: &'static str,
    /// What was found.
    pub message: String,
    /// What to do (warnings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn pass(&mut self, name: impl Into<String>, message: impl Into<String>) {
        self.0.push(Check {
            name: name.into(),
            status: "pass",
            message: message.into(),
            fix: None,
        });
    }

    fn warn(
        &mut self,
        name: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.0.push(Check {
            name: name.into(),
            status: "warn",
            message: message.into(),
            fix: Some(fix.into()),
        });
    }

    /// Loads a required spec, recording the result.
    fn spec<T: serde::de::DeserializeOwned>(
        &mut self,
        root: &std::path::Path,
        rel: &str,
    ) -> Option<T> {
        if !root.join(rel).is_file() {
            self.warn(
                rel,
                format!("{rel} is missing"),
                format!("add {rel} (see docs/control-plane notes, §1)"),
            );
            return None;
        }
        match control::load_yaml::<T>(root, rel) {
            Ok(v) => {
                self.pass(rel, "present and parses");
                Some(v)
            }
            Err(e) => {
                self.warn(
                    rel,
                    e,
                    format!("fix the YAML in {rel}; `cargo xtask` reports the exact schema"),
                );
                None
            }
        }
    }
}

/// Runs `plumego doctor`.
pub fn run(args: DoctorArgs) -> CmdResult {
    let root = control::repo_root(args.root.as_deref())?;
    let mut checks = Checks::default();

    if root.join("specs").is_dir() {
        checks.pass("specs/", "present");
    } else {
        checks.warn("specs/", "specs/ is missing", "create specs/ with repo.yaml, task-routing.yaml, dependency-rules.yaml and change-recipes/");
    }
    let repo: Option<RepoSpec> = checks.spec(&root, REPO_SPEC);
    let routing: Option<TaskRouting> = checks.spec(&root, TASK_ROUTING);
    let rules: Option<DependencyRules> = checks.spec(&root, DEPENDENCY_RULES);
    let evidence: Option<BetaEvidence> = if root.join(BETA_EVIDENCE).is_file() {
        checks.spec(&root, BETA_EVIDENCE)
    } else {
        None
    };
    for (file, version) in [
        (REPO_SPEC, repo.as_ref().map(|r| r.version)),
        (TASK_ROUTING, routing.as_ref().map(|r| r.version)),
        (DEPENDENCY_RULES, rules.as_ref().map(|r| r.version)),
        (BETA_EVIDENCE, evidence.as_ref().map(|r| r.version)),
    ] {
        if let Some(v) = version.filter(|v| *v != SCHEMA_VERSION) {
            checks.warn(
                file,
                format!("schema version {v} is not the supported {SCHEMA_VERSION}"),
                "update the CLI or the spec",
            );
        }
    }
    if let (Some(repo), Some(rules)) = (&repo, &rules) {
        for (layer, allowed) in &rules.layer_dependencies {
            for l in std::iter::once(layer).chain(allowed) {
                if !repo.layers.contains_key(l) {
                    checks.warn(
                        format!("{DEPENDENCY_RULES} layer_dependencies"),
                        format!("layer {l:?} is not a layer of {REPO_SPEC}"),
                        format!("use the layer names of {REPO_SPEC}"),
                    );
                }
            }
        }
    }

    let recipe_files = control::recipe_files(&root);
    if recipe_files.is_empty() {
        checks.warn(
            RECIPES_DIR,
            format!("no recipes in {RECIPES_DIR}/"),
            format!("add change recipes as {RECIPES_DIR}/<name>.yaml"),
        );
    }
    for rel in &recipe_files {
        match control::load_yaml::<Recipe>(&root, rel) {
            Ok(r) => {
                checks.pass(rel.clone(), format!("recipe {} parses", r.name));
            }
            Err(e) => checks.warn(rel.clone(), e, format!("fix {rel}")),
        }
    }
    if let Some(routing) = &routing {
        for (task, route) in &routing.tasks {
            if let Some(recipe) = &route.recipe {
                match control::load_recipe(&root, recipe) {
                    Ok(_) => {}
                    Err(e) => checks.warn(
                        format!("{TASK_ROUTING} tasks.{task}.recipe"),
                        format!("task {task} names recipe {recipe:?}, which does not load: {e}"),
                        format!("add the recipe under {RECIPES_DIR}/ or fix the name"),
                    ),
                }
            }
        }
    }

    // Module manifests.
    let members = control::workspace_members(&root)?;
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    if let Some(repo) = &repo {
        for layer in repo.layers.values() {
            listed.extend(
                layer
                    .crates
                    .iter()
                    .map(|c| (c.name.clone(), c.path.clone())),
            );
        }
    }
    for m in &members {
        let file = m.manifest_file();
        if !m.dir.join(MANIFEST).is_file() {
            checks.warn(
                file.clone(),
                format!("crate {} has no manifest: {file} is missing", m.name),
                format!("add {file} (copy a sibling crate's module.yaml and adapt every field)"),
            );
        } else {
            match control::load_manifest(m) {
                Ok(man) if man.name != m.name => checks.warn(
                    file.clone(),
                    format!("{file} names {:?} but the crate is {:?}", man.name, m.name),
                    format!("set `name: {}`", m.name),
                ),
                Ok(man) if man.test_commands.is_empty() => checks.warn(
                    file.clone(),
                    format!("{file} has no test_commands"),
                    "list how to test the crate alone (e.g. `cargo test -p <crate>`)",
                ),
                Ok(_) => checks.pass(file.clone(), format!("manifest of {} parses", m.name)),
                Err(e) => checks.warn(
                    file.clone(),
                    e,
                    format!("fix the YAML or the field names in {file}"),
                ),
            }
        }
        match listed.get(&m.name) {
            _ if repo.is_none() => {}
            None => checks.warn(
                format!("{REPO_SPEC} layers"),
                format!("crate {} is in no layer of {REPO_SPEC}", m.name),
                format!("list {} under the right layer in {REPO_SPEC}", m.name),
            ),
            Some(path) if path.trim_end_matches('/') != m.rel_dir => checks.warn(
                format!("{REPO_SPEC} layers"),
                format!(
                    "{REPO_SPEC} gives crate {} the path {path:?} but it lives in {:?}",
                    m.name, m.rel_dir
                ),
                format!("set `path: {}`", m.rel_dir),
            ),
            Some(_) => {}
        }
    }

    let checks = checks.0;
    let passed = checks.iter().filter(|c| c.status == "pass").count();
    let warned = checks.len() - passed;
    let (exit, status, message) = if warned == 0 {
        (
            Exit::Ok,
            "ready",
            format!("control plane complete: {passed} checks passed"),
        )
    } else {
        (
            Exit::Warning,
            "partial",
            format!(
                "control plane incomplete: {warned} of {} checks need attention",
                checks.len()
            ),
        )
    };
    let mut text = String::new();
    for c in &checks {
        text.push_str(&format!(
            "  {} {}: {}\n",
            if c.status == "pass" { "ok  " } else { "warn" },
            c.name,
            c.message
        ));
        if let Some(fix) = &c.fix {
            text.push_str(&format!("       fix: {fix}\n"));
        }
    }
    Ok(Outcome::new(
        exit,
        message,
        json!({
            "status": status,
            "repo": root.display().to_string(),
            "name": repo.as_ref().map(|r| r.repo.name.clone()),
            "beta_promotion_target": evidence.as_ref().map(|e| e.promotion_target.clone()),
            "passed": passed,
            "warned": warned,
            "crates": members.iter().map(|m| json!({ "name": m.name, "path": m.rel_dir })).collect::<Vec<_>>(),
            "checks": checks,
        }),
    )
    .text(text))
}
