//! File templates for `new` and `generate`, embedded at compile time.
//!
//! Placeholders are `{{key}}`; [`render`] replaces every one it is given and
//! the tests below check that no template keeps an unknown one.

/// A file to write: its path relative to the project and its template.
pub type FileTemplate = (&'static str, &'static str);

/// `--template api`: the canonical layout.
pub const API: &[FileTemplate] = &[
    (
        "Cargo.toml",
        include_str!("../templates/api/Cargo.toml.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("../templates/api/gitignore.tmpl"),
    ),
    (
        ".env.example",
        include_str!("../templates/api/env.example.tmpl"),
    ),
    ("README.md", include_str!("../templates/api/README.md.tmpl")),
    (
        "src/main.rs",
        include_str!("../templates/api/src/main.rs.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../templates/api/src/lib.rs.tmpl"),
    ),
    (
        "src/config.rs",
        include_str!("../templates/api/src/config.rs.tmpl"),
    ),
    (
        "src/app.rs",
        include_str!("../templates/api/src/app.rs.tmpl"),
    ),
    (
        "src/handler/mod.rs",
        include_str!("../templates/api/src/handler/mod.rs.tmpl"),
    ),
    (
        "src/handler/api.rs",
        include_str!("../templates/api/src/handler/api.rs.tmpl"),
    ),
    (
        "src/handler/health.rs",
        include_str!("../templates/api/src/handler/health.rs.tmpl"),
    ),
    (
        "src/handler/items.rs",
        include_str!("../templates/api/src/handler/items.rs.tmpl"),
    ),
    (
        "src/domain/mod.rs",
        include_str!("../templates/api/src/domain/mod.rs.tmpl"),
    ),
    (
        "src/domain/item.rs",
        include_str!("../templates/api/src/domain/item.rs.tmpl"),
    ),
    (
        "tests/smoke.rs",
        include_str!("../templates/api/tests/smoke.rs.tmpl"),
    ),
];

/// `--template minimal`: one file.
pub const MINIMAL: &[FileTemplate] = &[
    (
        "Cargo.toml",
        include_str!("../templates/minimal/Cargo.toml.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("../templates/minimal/gitignore.tmpl"),
    ),
    (
        ".env.example",
        include_str!("../templates/minimal/env.example.tmpl"),
    ),
    (
        "README.md",
        include_str!("../templates/minimal/README.md.tmpl"),
    ),
    (
        "src/main.rs",
        include_str!("../templates/minimal/src/main.rs.tmpl"),
    ),
];

/// `generate handler`.
pub const HANDLER: &str = include_str!("../templates/generate/handler.rs.tmpl");
/// `generate layer`.
pub const LAYER: &str = include_str!("../templates/generate/layer.rs.tmpl");
/// `generate resource`: the domain module.
pub const RESOURCE_DOMAIN: &str = include_str!("../templates/generate/domain.rs.tmpl");
/// `generate resource`: the handler module.
pub const RESOURCE_HANDLER: &str = include_str!("../templates/generate/resource_handler.rs.tmpl");

/// Replaces each `{{key}}` with its value.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (key, value) in vars {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

/// `s` as a TOML basic string, quotes included.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW_VARS: &[&str] = &["name", "crate", "plumego_dep"];
    const GEN_VARS: &[&str] = &["snake", "pascal", "kebab", "plural_snake", "plural_kebab"];

    fn leftovers(text: &str, known: &[&str]) -> Vec<String> {
        let vars: Vec<(&str, &str)> = known.iter().map(|k| (*k, "x")).collect();
        let rendered = render(text, &vars);
        rendered
            .match_indices("{{")
            .filter_map(|(i, _)| {
                let rest = &rendered[i + 2..];
                let end = rest.find("}}")?;
                let key = &rest[..end];
                key.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    .then(|| key.to_owned())
            })
            .collect()
    }

    #[test]
    fn every_placeholder_is_known() {
        for (path, text) in API.iter().chain(MINIMAL) {
            assert!(
                leftovers(text, NEW_VARS).is_empty(),
                "{path}: {:?}",
                leftovers(text, NEW_VARS)
            );
        }
        for text in [HANDLER, LAYER, RESOURCE_DOMAIN, RESOURCE_HANDLER] {
            assert!(
                leftovers(text, GEN_VARS).is_empty(),
                "{:?}",
                leftovers(text, GEN_VARS)
            );
        }
    }

    #[test]
    fn toml_strings_escape() {
        assert_eq!(toml_string(r#"C:\a "b""#), r#""C:\\a \"b\"""#);
    }
}
