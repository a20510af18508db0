//! `plumego generate handler|layer|resource <Name>`: code that compiles into
//! a service made by `plumego new` (the `api` template), registered in the
//! right `mod.rs`. Nothing is ever overwritten.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::json;

use crate::output::{CmdResult, Failure, Outcome};
use crate::templates;
use crate::util::{self, Names};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// `src/handler/<name>.rs`: an endpoint with a test.
    Handler,
    /// `src/layer/<name>.rs`: a tower Layer + Service skeleton with tests.
    Layer,
    /// `src/domain/<name>.rs` and `src/handler/<names>.rs`: model, store and CRUD handlers.
    Resource,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Handler => "handler",
            Kind::Layer => "layer",
            Kind::Resource => "resource",
        }
    }
}

/// `plumego generate` arguments.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to generate.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Its name: `UserProfile`, `user-profile` or `user_profile`.
    pub name: String,
    /// The project directory (default: the current directory).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// A planned change.
struct Plan {
    /// New files: (relative path, contents).
    create: Vec<(String, String)>,
    /// Module declarations to add: (relative `mod.rs`/`lib.rs` path, module name).
    register: Vec<(String, String)>,
}

fn mod_declared(text: &str, module: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        let l = l.strip_prefix("pub ").unwrap_or(l);
        l == format!("mod {module};")
    })
}

/// `text` with `pub mod <module>;` added to the last block of module
/// declarations, in alphabetical position as rustfmt keeps them (or after
/// the leading `//!` docs when there is none).
fn add_mod(text: &str, module: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mod_name = |l: &str| -> Option<String> {
        let l = l.trim();
        let rest = l
            .strip_prefix("pub mod ")
            .or_else(|| l.strip_prefix("mod "))?;
        rest.strip_suffix(';').map(|n| n.trim().to_owned())
    };
    let decl = format!("pub mod {module};");
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    match lines.iter().rposition(|l| mod_name(l).is_some()) {
        Some(last) => {
            let first = (0..=last)
                .rev()
                .take_while(|&i| mod_name(lines[i]).is_some())
                .last()
                .unwrap_or(last);
            let at = (first..=last)
                .find(|&i| mod_name(lines[i]).is_some_and(|n| n.as_str() > module))
                .unwrap_or(last + 1);
            out.insert(at, decl);
        }
        None => {
            let docs = lines
                .iter()
                .take_while(|l| l.starts_with("//!") || l.starts_with("#!["))
                .count();
            if docs > 0 {
                out.insert(docs, String::new());
                out.insert(docs + 1, decl);
            } else {
                out.insert(0, decl);
            }
        }
    }
    let mut joined = out.join("\n");
    joined.push('\n');
    joined
}

fn require(project: &Path, rel: &str, kind: Kind) -> Result<(), Failure> {
    if project.join(rel).is_file() {
        Ok(())
    } else {
        Err(Failure::error(format!(
            "{} is not a canonical Plumego service ({rel} is missing): `generate {}` works in a project made by `plumego new <name>` (api template)",
            project.display(),
            kind.as_str()
        )))
    }
}

fn plan(kind: Kind, names: &Names, project: &Path) -> Result<Plan, Failure> {
    let plural_snake = util::plural(&names.snake);
    let plural_kebab = util::plural(&names.kebab);
    let vars = [
        ("snake", names.snake.as_str()),
        ("pascal", names.pascal.as_str()),
        ("kebab", names.kebab.as_str()),
        ("plural_snake", plural_snake.as_str()),
        ("plural_kebab", plural_kebab.as_str()),
    ];
    require(project, "Cargo.toml", kind)?;
    require(project, "src/lib.rs", kind)?;
    Ok(match kind {
        Kind::Handler => {
            require(project, "src/handler/mod.rs", kind)?;
            Plan {
                create: vec![(
                    format!("src/handler/{}.rs", names.snake),
                    templates::render(templates::HANDLER, &vars),
                )],
                register: vec![("src/handler/mod.rs".into(), names.snake.clone())],
            }
        }
        Kind::Layer => {
            let mut register = vec![("src/layer/mod.rs".to_owned(), names.snake.clone())];
            if !mod_declared(&util::read(&project.join("src/lib.rs"))?, "layer") {
                register.insert(0, ("src/lib.rs".into(), "layer".into()));
            }
            Plan {
                create: vec![(
                    format!("src/layer/{}.rs", names.snake),
                    templates::render(templates::LAYER, &vars),
                )],
                register,
            }
        }
        Kind::Resource => {
            require(project, "src/handler/mod.rs", kind)?;
            require(project, "src/domain/mod.rs", kind)?;
            Plan {
                create: vec![
                    (
                        format!("src/domain/{}.rs", names.snake),
                        templates::render(templates::RESOURCE_DOMAIN, &vars),
                    ),
                    (
                        format!("src/handler/{plural_snake}.rs"),
                        templates::render(templates::RESOURCE_HANDLER, &vars),
                    ),
                ],
                register: vec![
                    ("src/domain/mod.rs".into(), names.snake.clone()),
                    ("src/handler/mod.rs".into(), plural_snake.clone()),
                ],
            }
        }
    })
}

/// Type names the generated files import or define privately.
const TEMPLATE_NAMES: &[&str] = &[
    "ApiError",
    "App",
    "AppConfig",
    "AppState",
    "Arc",
    "BTreeMap",
    "Body",
    "Context",
    "Deserialize",
    "Envelope",
    "ErrorType",
    "Future",
    "Instant",
    "IntoResponse",
    "Layer",
    "Mutex",
    "Pin",
    "Poll",
    "Request",
    "RequestExt",
    "Response",
    "Serialize",
    "Service",
    "ServiceExt",
    "State",
    "StatusCode",
];

const LAYER_MOD_HEADER: &str = "//! Tower layers of this service, one file each.\n";

/// Runs `plumego generate`.
pub fn run(args: GenerateArgs) -> CmdResult {
    let names = Names::parse(&args.name)?;
    if ["mod", "lib", "main"].contains(&names.snake.as_str()) {
        return Err(Failure::error(format!(
            "invalid name {:?}: `{}` is reserved for Rust module files",
            args.name, names.snake
        )));
    }
    let defined: Vec<String> = match args.kind {
        Kind::Handler => Vec::new(),
        Kind::Layer => vec![names.pascal.clone(), format!("{}Layer", names.pascal)],
        Kind::Resource => vec![
            names.pascal.clone(),
            format!("{}Error", names.pascal),
            format!("{}Store", names.pascal),
            format!("Create{}", names.pascal),
        ],
    };
    if let Some(clash) = defined
        .iter()
        .find(|t| TEMPLATE_NAMES.contains(&t.as_str()))
    {
        return Err(Failure::error(format!(
            "invalid name {:?}: the generated type `{clash}` would clash with a name the generated code imports; pick another name",
            args.name
        )));
    }
    let project = util::canonical(&args.dir);
    let plan = plan(args.kind, &names, &project)?;

    // Refuse before touching anything.
    let mut conflicts = Vec::new();
    for (rel, _) in &plan.create {
        if project.join(rel).exists() {
            conflicts.push(format!("{rel} already exists"));
        }
    }
    for (file, module) in &plan.register {
        let path = project.join(file);
        if path.is_file() && mod_declared(&util::read(&path)?, module) {
            conflicts.push(format!("{file} already declares `mod {module}`"));
        }
        if file != "src/lib.rs"
            && project
                .join(Path::new(file).with_file_name(format!("{module}/mod.rs")))
                .exists()
        {
            conflicts.push(format!(
                "a `{module}` module directory already exists beside {file}"
            ));
        }
    }
    if !conflicts.is_empty() {
        return Err(Failure::conflict(format!(
            "refusing to overwrite: {}; pick another name or remove them",
            conflicts.join("; ")
        ))
        .data(json!({ "type": args.kind.as_str(), "name": args.name, "conflicts": conflicts })));
    }

    let mut created = Vec::new();
    let mut updated = Vec::new();
    for (rel, text) in &plan.create {
        util::write(&project.join(rel), text)?;
        created.push(rel.clone());
    }
    for (file, module) in &plan.register {
        let path = project.join(file);
        let text = if path.is_file() {
            updated.push(file.clone());
            util::read(&path)?
        } else {
            created.push(file.clone());
            LAYER_MOD_HEADER.to_owned()
        };
        util::write(&path, &add_mod(&text, module))?;
    }

    let formatted = util::rustfmt(&project, &created);
    let plural = util::plural(&names.snake);
    let next_steps: Vec<String> = match args.kind {
        Kind::Handler => vec![format!(
            "route it in src/app.rs: app.get(\"/api/v1/{}\", with_state(state.clone(), {}::handle))?.name(\"{}\")?;",
            names.kebab, names.snake, names.snake
        )],
        Kind::Layer => vec![format!(
            "add it in src/app.rs: app.layer(crate::layer::{}::{}Layer::new())?; (first added runs outermost)",
            names.snake, names.pascal
        )],
        Kind::Resource => vec![format!(
            "route it in src/app.rs inside the /api/v1 group: let {plural}_store = Arc::new(crate::domain::{}::{}Store::new()); then v1.get(\"/{}\", with_state({plural}_store.clone(), {plural}::list))?; (see the doc comment of src/handler/{plural}.rs)",
            names.snake,
            names.pascal,
            util::plural(&names.kebab)
        )],
    };
    let mut text = String::new();
    for f in &created {
        text.push_str(&format!("  created {f}\n"));
    }
    for f in &updated {
        text.push_str(&format!("  updated {f}\n"));
    }
    text.push_str("\nNext:\n");
    for s in next_steps
        .iter()
        .chain(std::iter::once(&"cargo test".to_owned()))
    {
        text.push_str(&format!("  {s}\n"));
    }
    Ok(Outcome::ok(
        format!(
            "generated {} {} in {}",
            args.kind.as_str(),
            names.pascal,
            project.display()
        ),
        json!({
            "type": args.kind.as_str(),
            "name": names.pascal,
            "module": names.snake,
            "project": project.display().to_string(),
            "files": { "created": created, "updated": updated },
            "formatted": formatted,
            "next_steps": next_steps,
        }),
    )
    .text(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_mod_after_the_last_declaration() {
        let text = "//! Docs.\n\npub mod api;\npub mod health;\n\nuse std::sync::Arc;\n";
        let out = add_mod(text, "report");
        assert_eq!(
            out,
            "//! Docs.\n\npub mod api;\npub mod health;\npub mod report;\n\nuse std::sync::Arc;\n"
        );
        assert!(mod_declared(&out, "report"));
        assert!(!mod_declared(&out, "rep"));
        assert_eq!(
            add_mod("//! Layers.\n", "audit"),
            "//! Layers.\n\npub mod audit;\n"
        );
        assert_eq!(
            add_mod("pub mod b;\npub mod d;\n", "a"),
            "pub mod a;\npub mod b;\npub mod d;\n"
        );
        assert_eq!(
            add_mod("pub mod b;\npub mod d;\n", "c"),
            "pub mod b;\npub mod c;\npub mod d;\n"
        );
    }
}
