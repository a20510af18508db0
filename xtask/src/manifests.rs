//! Gate `manifests`: every workspace crate has a valid `module.yaml` whose
//! facts match the workspace, every `public_entrypoints` entry exists, no
//! manifest describes a missing crate ([`check_manifests`]), and the
//! control-plane specs parse and point at files that exist ([`check_specs`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::deps::manifest_file;
use crate::manifest::{MANIFEST, ModuleManifest};
use crate::report::{CheckReport, Violation};
use crate::rust_items::ItemIndex;
use crate::spec::{
    self, BETA_EVIDENCE, BetaEvidence, DEPENDENCY_RULES, DependencyRules, Layer, RECIPES_DIR,
    REPO_SPEC, Recipe, RepoSpec, Status, TASK_ROUTING, TaskRouting,
};
use crate::util::rel;
use crate::workspace::Workspace;

/// Loads the manifest of every member: parsed ones by package name, plus a
/// violation per missing or unparsable file.
pub fn load_manifests(ws: &Workspace) -> (BTreeMap<String, ModuleManifest>, Vec<Violation>) {
    let mut ok = BTreeMap::new();
    let mut errors = Vec::new();
    for pkg in &ws.members {
        let file = manifest_file(&pkg.rel_dir);
        if !pkg.dir.join(MANIFEST).is_file() {
            errors.push(
                Violation::new(format!(
                    "crate {} has no manifest: {file} is missing",
                    pkg.name
                ))
                .fix(format!(
                    "add {file} (copy a sibling crate's module.yaml and adapt every field)"
                ))
                .rule("every workspace crate has a module.yaml (docs/control-plane.md)"),
            );
            continue;
        }
        match ModuleManifest::load(&pkg.dir, &file) {
            Ok(m) => {
                ok.insert(pkg.name.clone(), m);
            }
            Err(e) => errors.push(
                Violation::new(e)
                    .fix(format!("fix the YAML or the field names in {file}"))
                    .rule("xtask/src/manifest.rs (module.yaml schema)"),
            ),
        }
    }
    (ok, errors)
}

/// Checks the manifests of `ws` against the workspace and `specs/repo.yaml`.
pub fn check_manifests(root: &Path, ws: &Workspace, repo: &RepoSpec) -> CheckReport {
    let mut report = CheckReport::new("manifests");
    let (manifests, errors) = load_manifests(ws);
    for e in errors {
        report.push(e);
    }

    // repo.yaml ↔ workspace.
    let mut listed = BTreeSet::new();
    for (layer, c) in repo.crates() {
        if !listed.insert(c.name.clone()) {
            report.push(
                Violation::new(format!("{REPO_SPEC}: crate {} is listed twice", c.name))
                    .rule(format!("{REPO_SPEC} layers")),
            );
        }
        match ws.member(&c.name) {
            None => report.push(
                Violation::new(format!(
                    "{REPO_SPEC}: layers.{layer} lists {}, which is not a workspace member",
                    c.name
                ))
                .fix("remove the entry or add the crate to [workspace] members")
                .rule(format!("{REPO_SPEC} layers")),
            ),
            Some(pkg) if pkg.rel_dir != c.path => report.push(
                Violation::new(format!(
                    "{REPO_SPEC}: {} has path `{}` but lives in `{}`",
                    c.name, c.path, pkg.rel_dir
                ))
                .rule(format!("{REPO_SPEC} layers")),
            ),
            Some(_) => {}
        }
    }
    for pkg in &ws.members {
        if !listed.contains(&pkg.name) {
            report.push(
                Violation::new(format!(
                    "crate {} is not listed in any layer of {REPO_SPEC}",
                    pkg.name
                ))
                .fix("add it under layers.<stable|extension|reference|tooling>.crates")
                .rule(format!("{REPO_SPEC} layers")),
            );
        }
    }

    // Each manifest against its crate.
    let mut index = ItemIndex::new();
    for pkg in &ws.members {
        if let Some(lib) = pkg.lib() {
            index.add_crate(&lib.name, &lib.src_path);
        }
    }
    for pkg in &ws.members {
        let Some(m) = manifests.get(&pkg.name) else {
            continue;
        };
        let file = manifest_file(&pkg.rel_dir);
        for v in m.validate_schema(&file, root) {
            report.push(v);
        }
        if m.name != pkg.name {
            report.push(
                Violation::new(format!(
                    "{file}: name `{}` differs from the package name `{}`",
                    m.name, pkg.name
                ))
                .fix(format!("set `name: {}`", pkg.name)),
            );
        }
        if m.path != pkg.rel_dir {
            report.push(
                Violation::new(format!(
                    "{file}: path `{}` differs from the crate directory `{}`",
                    m.path, pkg.rel_dir
                ))
                .fix(format!("set `path: {}`", pkg.rel_dir)),
            );
        }
        if let Some(layer) = repo.layer_of(&pkg.name) {
            if m.layer != layer {
                report.push(
                    Violation::new(format!(
                        "{file}: layer `{}` but {REPO_SPEC} puts {} in `{layer}`",
                        m.layer, pkg.name
                    ))
                    .fix("make the manifest and repo.yaml agree"),
                );
            }
            if layer == Layer::Stable && m.status != Status::Ga {
                report.push(
                    Violation::new(format!(
                        "{file}: stable crate {} has status `{}`; stable crates are `ga`",
                        pkg.name, m.status
                    ))
                    .fix("set `status: ga`, or move the crate out of layers.stable")
                    .rule(format!("{REPO_SPEC} layers.stable")),
                );
            }
        }
        let lib = pkg.lib().map(|l| l.name.clone());
        for entry in &m.public_entrypoints {
            if let Some((kind, name)) = target_entry(entry) {
                let found = pkg
                    .targets
                    .iter()
                    .any(|t| t.name == name && t.kinds.iter().any(|k| k == kind));
                if !found {
                    report.push(
                        Violation::new(format!(
                            "{file}: public entrypoint `{entry}`: {} has no {kind} target `{name}`",
                            pkg.name
                        ))
                        .fix("fix the entry or add the target"),
                    );
                }
                continue;
            }
            let first = entry.split("::").next().unwrap_or_default();
            if lib.as_deref() != Some(first) {
                report.push(
                    Violation::new(format!(
                        "{file}: public entrypoint `{entry}` must start with the crate's library name `{}`",
                        lib.as_deref().unwrap_or("(no lib target)")
                    ))
                    .fix("write entrypoints as full Rust paths, or `bin:<name>` for binaries"),
                );
                continue;
            }
            if let Err(why) = index.resolve(entry) {
                report.push(
                    Violation::new(format!(
                        "{file}: public entrypoint `{entry}` does not exist ({why})"
                    ))
                    .fix("update public_entrypoints to the crate's current public API")
                    .rule("module.yaml public_entrypoints must name existing public items"),
                );
            }
        }
        if let Some(lib) = &lib {
            for e in index.errors(lib) {
                report.push(Violation::new(format!(
                    "{}: {}",
                    pkg.name,
                    e.replace(&format!("{}/", root.display()), "")
                )));
            }
        }
    }

    // Manifests that describe no crate.
    let member_dirs: BTreeSet<String> = ws.members.iter().map(|p| p.rel_dir.clone()).collect();
    for found in find_manifests(root) {
        let dir = found
            .parent()
            .map(|d| rel(root, d))
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| ".".to_owned());
        if !member_dirs.contains(&dir) {
            report.push(
                Violation::new(format!(
                    "{}: describes no workspace crate (no member lives in `{dir}`)",
                    rel(root, &found)
                ))
                .fix("delete the stale manifest, or add the crate to [workspace] members"),
            );
        }
    }

    report
}

/// `bin:plumego` → `("bin", "plumego")`; Rust paths → `None`.
fn target_entry(entry: &str) -> Option<(&str, &str)> {
    if entry.contains("::") {
        return None;
    }
    entry.split_once(':')
}

/// Every `module.yaml` under `root`, skipping `target`, hidden directories,
/// `fixtures` directories and nested Cargo workspaces (test fixtures).
pub fn find_manifests(root: &Path) -> Vec<std::path::PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<std::path::PathBuf>) {
        if dir != root {
            let cargo = dir.join("Cargo.toml");
            if let Ok(text) = std::fs::read_to_string(cargo) {
                if text.lines().any(|l| l.trim() == "[workspace]") {
                    return;
                }
            }
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if p.is_dir() {
                if name == "target"
                    || name == "fixtures"
                    || name == "node_modules"
                    || name.starts_with('.')
                {
                    continue;
                }
                walk(&p, root, out);
            } else if name == MANIFEST {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// The control-plane specs parse and their path references exist.
pub fn check_specs(root: &Path, repo: &RepoSpec) -> CheckReport {
    let mut report = CheckReport::new("manifests");
    let exists = |p: &str| root.join(p.trim_end_matches('/')).exists();
    let missing = |report: &mut CheckReport, file: &str, what: &str, p: &str| {
        report.push(
            Violation::new(format!("{file}: {what} `{p}` does not exist"))
                .fix("fix the path or create the file"),
        );
    };

    for (topic, paths) in &repo.canonical_authority {
        for p in paths {
            if !exists(p) {
                missing(
                    &mut report,
                    REPO_SPEC,
                    &format!("canonical_authority.{topic}"),
                    p,
                );
            }
        }
    }
    for p in &repo.agent_workflow.read_path {
        if !exists(p) {
            missing(&mut report, REPO_SPEC, "agent_workflow.read_path", p);
        }
    }
    let workflow: BTreeSet<&str> = repo
        .canonical_authority
        .get("workflow")
        .map(|v| v.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let recipes = spec::recipe_files(root);
    if recipes.is_empty() {
        report.push(Violation::new(format!("{RECIPES_DIR}/ has no recipe")));
    }
    for r in &recipes {
        if !workflow.contains(r.as_str()) {
            report.push(
                Violation::new(format!(
                    "{REPO_SPEC}: canonical_authority.workflow does not list {r}"
                ))
                .fix("list every change recipe under canonical_authority.workflow"),
            );
        }
        match spec::load_yaml::<Recipe>(root, r) {
            Ok(recipe) => {
                let stem = r
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches(".yaml");
                if recipe.name != stem {
                    report.push(Violation::new(format!(
                        "{r}: name `{}` differs from the file name `{stem}`",
                        recipe.name
                    )));
                }
                if recipe.steps.is_empty() || recipe.stop_conditions.is_empty() {
                    report.push(Violation::new(format!(
                        "{r}: steps and stop_conditions must not be empty"
                    )));
                }
            }
            Err(e) => report.push(Violation::new(e)),
        }
    }
    if let Some(families_root) = repo.families_root() {
        if !exists(families_root) {
            missing(
                &mut report,
                REPO_SPEC,
                "layers.extension.families_root",
                families_root,
            );
        }
    }
    let ref_layer = repo.crates_in(Layer::Reference);
    if !ref_layer
        .iter()
        .any(|c| c.name == repo.reference_layout.crate_name)
    {
        report.push(Violation::new(format!(
            "{REPO_SPEC}: reference_layout.crate `{}` is not in layers.reference",
            repo.reference_layout.crate_name
        )));
    }

    if let Err(e) = spec::load_yaml::<DependencyRules>(root, DEPENDENCY_RULES) {
        report.push(Violation::new(e));
    }
    if let Err(e) = spec::load_yaml::<BetaEvidence>(root, BETA_EVIDENCE) {
        report.push(Violation::new(e));
    }
    match spec::load_yaml::<TaskRouting>(root, TASK_ROUTING) {
        Err(e) => report.push(Violation::new(e)),
        Ok(routing) => {
            if !routing
                .context_policy
                .packages
                .contains_key(&routing.context_policy.initial_package)
            {
                report.push(Violation::new(format!(
                    "{TASK_ROUTING}: initial_package `{}` is not a context package",
                    routing.context_policy.initial_package
                )));
            }
            for (pkg, files) in &routing.context_policy.packages {
                for p in files {
                    if !exists(p) {
                        missing(
                            &mut report,
                            TASK_ROUTING,
                            &format!("context package {pkg}"),
                            p,
                        );
                    }
                }
            }
            for (task, route) in &routing.tasks {
                if route.start_with.is_empty() {
                    report.push(Violation::new(format!(
                        "{TASK_ROUTING}: task `{task}` has no start_with"
                    )));
                }
                for p in &route.start_with {
                    if !exists(p) {
                        missing(
                            &mut report,
                            TASK_ROUTING,
                            &format!("tasks.{task}.start_with"),
                            p,
                        );
                    }
                }
                if !routing
                    .context_policy
                    .packages
                    .contains_key(&route.context_package)
                {
                    report.push(Violation::new(format!(
                        "{TASK_ROUTING}: task `{task}` names unknown context package `{}`",
                        route.context_package
                    )));
                }
                if let Some(r) = &route.recipe {
                    if !recipes.contains(r) {
                        missing(
                            &mut report,
                            TASK_ROUTING,
                            &format!("tasks.{task}.recipe"),
                            r,
                        );
                    }
                }
            }
        }
    }
    report
}
