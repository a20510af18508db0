//! Gate `deps`, crate level: layer rules, forbidden dependencies and the
//! manifests' import lists, all read from `cargo metadata`.
//!
//! Only normal and build dependencies count (what ships with the crate);
//! dev-dependencies are free, so stable crates may test against axum.

use std::collections::BTreeMap;

use crate::manifest::ModuleManifest;
use crate::report::{CheckReport, Violation};
use crate::spec::{DEPENDENCY_RULES, DependencyRules, RepoSpec, glob_match};
use crate::workspace::{DepKind, Workspace};

/// Checks every workspace member against `specs/dependency-rules.yaml` and
/// against its own manifest's `allowed_imports` / `forbidden_imports`.
///
/// `manifests` maps package names to parsed manifests; members without one
/// are skipped here (the `manifests` gate reports them).
pub fn check_crate_dependencies(
    ws: &Workspace,
    repo: &RepoSpec,
    rules: &DependencyRules,
    manifests: &BTreeMap<String, ModuleManifest>,
) -> CheckReport {
    let mut report = CheckReport::new("deps");
    for pkg in &ws.members {
        let Some(layer) = repo.layer_of(&pkg.name) else {
            continue;
        };
        let shipped: Vec<_> = pkg
            .dependencies
            .iter()
            .filter(|d| d.kind != DepKind::Dev)
            .collect();

        // 1. Layer DAG between workspace crates.
        let allowed_layers = rules
            .layer_dependencies
            .get(&layer)
            .cloned()
            .unwrap_or_default();
        for dep in &shipped {
            if !ws.is_member(&dep.name) {
                continue;
            }
            let Some(dep_layer) = repo.layer_of(&dep.name) else {
                continue;
            };
            if !allowed_layers.contains(&dep_layer) {
                report.push(
                    Violation::new(format!(
                        "{} ({layer}) depends on {} ({dep_layer}) in {}",
                        pkg.name,
                        dep.name,
                        dep.kind.section()
                    ))
                    .fix(format!(
                        "remove the dependency, or move it to [dev-dependencies] if only tests need it; \
                         {layer} crates may depend on: {}",
                        join(allowed_layers.iter().map(|l| l.as_str()))
                    ))
                    .rule(format!("{DEPENDENCY_RULES} layer_dependencies.{layer}")),
                );
            }
        }

        // 2. Forbidden dependencies, direct and transitive.
        let closure = ws.shipped_closure(pkg);
        for rule in rules
            .forbidden_dependencies
            .iter()
            .filter(|r| r.layers.contains(&layer))
        {
            let mut direct = false;
            for dep in shipped
                .iter()
                .filter(|d| glob_match(&rule.crate_name, &d.name))
            {
                direct = true;
                report.push(
                    Violation::new(format!(
                        "{} ({layer}) depends on forbidden crate {} in {}{}",
                        pkg.name,
                        dep.name,
                        dep.kind.section(),
                        if dep.optional { " (optional)" } else { "" }
                    ))
                    .fix(format!(
                        "remove it, or move it to [dev-dependencies] if only tests need it ({})",
                        rule.reason
                    ))
                    .rule(format!(
                        "{DEPENDENCY_RULES} forbidden_dependencies[{}]",
                        rule.crate_name
                    )),
                );
            }
            if direct || !rule.transitive {
                continue;
            }
            for (name, chain) in &closure {
                if glob_match(&rule.crate_name, name) {
                    report.push(
                        Violation::new(format!(
                            "{} ({layer}) depends on forbidden crate {name} through {}",
                            pkg.name,
                            chain.join(" → ")
                        ))
                        .fix(format!(
                            "drop or replace the dependency that pulls it in ({})",
                            rule.reason
                        ))
                        .rule(format!(
                            "{DEPENDENCY_RULES} forbidden_dependencies[{}] (transitive)",
                            rule.crate_name
                        )),
                    );
                }
            }
        }

        // 3. The manifest's own import lists.
        let Some(manifest) = manifests.get(&pkg.name) else {
            continue;
        };
        let file = manifest_file(&pkg.rel_dir);
        for dep in &shipped {
            if ws.is_member(&dep.name) && !manifest.allowed_imports.contains(&dep.name) {
                report.push(
                    Violation::new(format!(
                        "{} depends on workspace crate {} but {file} does not allow it",
                        pkg.name, dep.name
                    ))
                    .fix(format!(
                        "add `{}` to allowed_imports in {file} (if the layer rules permit it) or remove the dependency",
                        dep.name
                    ))
                    .rule(format!("{file} allowed_imports")),
                );
            }
            if let Some(pat) = manifest
                .forbidden_imports
                .iter()
                .find(|p| glob_match(p, &dep.name))
            {
                report.push(
                    Violation::new(format!(
                        "{} depends on {} in {}, forbidden by `{pat}` in {file}",
                        pkg.name,
                        dep.name,
                        dep.kind.section()
                    ))
                    .fix("remove the dependency or move it to [dev-dependencies]")
                    .rule(format!("{file} forbidden_imports")),
                );
            }
        }
        for allowed in &manifest.allowed_imports {
            if !ws.is_member(allowed) {
                report.push(
                    Violation::new(format!(
                        "{file}: allowed_imports names `{allowed}`, which is not a workspace crate"
                    ))
                    .fix("allowed_imports lists workspace crates only; registry crates are governed by forbidden lists")
                    .rule(format!("{file} allowed_imports")),
                );
            }
        }
    }
    report
}

/// `module.yaml` or `<dir>/module.yaml`.
pub fn manifest_file(rel_dir: &str) -> String {
    if rel_dir == "." {
        crate::manifest::MANIFEST.to_owned()
    } else {
        format!("{rel_dir}/{}", crate::manifest::MANIFEST)
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "nothing in the workspace".to_owned()
    } else {
        v.join(", ")
    }
}
