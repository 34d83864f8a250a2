//! The invariants of ARCHITECTURE.md that no compiler checks, checked on the
//! source of the engine's crates (the facade's `engine/src` and each lower
//! crate's `engine/CRATE/src`), without their `#[cfg(test)]` items and test
//! files: test helpers and fixtures write files as they like.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The engine's folder (this crate's; the lower crates are inside it).
fn engine_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The folders of the engine's lower crates under `engine/` (`core`,
/// `model`, ...): each one with a `Cargo.toml`.
fn lower_crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(engine_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 10 && names.contains(&"core".to_string()), "the engine's crates were not found: {names:?}");
    names
}

/// Each engine source file that is not test code, named from `engine/`
/// (`src/jobs.rs`, `core/src/atomic.rs`, `model/src/arch/qwen3.rs`), with its non-test text.
fn engine_sources() -> Vec<(String, String)> {
    let root = engine_dir();
    let dirs = std::iter::once("src".to_string()).chain(lower_crates().into_iter().map(|c| format!("{c}/src")));
    let mut out = Vec::new();
    for path in dirs.flat_map(|dir| rust_files(&root.join(dir))) {
        let name = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        if name.ends_with("tests.rs") || name.ends_with("fixture.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        out.push((name, without_test_items(&text)));
    }
    assert!(out.len() > 50, "the engine's sources were not found");
    out
}

/// `text` without its `#[cfg(test)]` items: each attribute with the item it
/// marks (an out-of-line `mod x;`, or everything up to the brace that closes
/// the item's first one), lines kept blank so that line numbers still match.
fn without_test_items(text: &str) -> String {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            out.push(line);
            continue;
        }
        out.push("");
        let mut depth = 0i64;
        let mut opened = false;
        for item in lines.by_ref() {
            out.push("");
            depth += item.matches('{').count() as i64 - item.matches('}').count() as i64;
            opened |= item.contains('{');
            if (opened && depth <= 0) || (!opened && item.trim_end().ends_with(';')) {
                break;
            }
        }
    }
    out.join("\n")
}

#[test]
fn test_items_are_left_out_and_the_rest_kept() {
    let text = "fn a() {}\n#[cfg(test)]\nmod tests;\nfn b() {\n}\n#[cfg(test)]\nmod t {\n    fn c() { x(\"{}\") }\n}\nfn d() {}";
    let kept = without_test_items(text);
    assert_eq!(kept.lines().count(), text.lines().count());
    let names: Vec<&str> = kept.lines().filter(|l| l.starts_with("fn")).collect();
    assert_eq!(names, ["fn a() {}", "fn b() {", "fn d() {}"]);
}

/// The places in `sources` (outside `allowed` files) whose code contains any of `needles`.
fn offenders(sources: &[(String, String)], allowed: &[&str], needles: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, code) in sources {
        if allowed.contains(&name.as_str()) {
            continue;
        }
        for (i, line) in code.lines().enumerate() {
            if needles.iter().any(|n| line.contains(n.as_str())) && !line.trim_start().starts_with("//") {
                found.push(format!("{name}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    found
}

/// Every file is written atomically: only `atomic` creates files.
#[test]
fn only_atomic_writes_files() {
    let needles = ["fs::write(".to_string(), "File::create(".to_string()];
    let found = offenders(&engine_sources(), &["core/src/atomic.rs"], &needles);
    assert!(found.is_empty(), "files written outside `atomic` (use crate::atomic):\n{}", found.join("\n"));
}

/// The run directory's file names are spelled only in `runs::files` (the
/// names with an extension; folder names such as "model" are also plain words).
#[test]
fn run_file_names_are_spelled_only_in_runs_files() {
    let sources = engine_sources();
    let home = "runs/src/runs/files.rs";
    let files = &sources.iter().find(|(n, _)| n == home).expect(home).1;
    let names: Vec<String> = files
        .lines()
        .filter_map(|l| l.split("&str = ").nth(1))
        .map(|v| v.trim_end_matches(';').to_string())
        .filter(|v| v.contains('.'))
        .collect();
    assert!(names.len() >= 8 && names.contains(&"\"metrics.jsonl\"".to_string()), "{names:?}");
    let found = offenders(&sources, &[home], &names);
    assert!(found.is_empty(), "run file names spelled outside runs::files:\n{}", found.join("\n"));
}

/// Families are told apart only by their description: nothing outside
/// `model::arch` compares `model_type`.
#[test]
fn only_the_architecture_files_compare_model_types() {
    let needles = ["model_type ==".to_string(), "model_type.as_str()".to_string(), "model_type !=".to_string()];
    let found =
        offenders(&engine_sources(), &[], &needles).into_iter().filter(|place| !place.starts_with("model/src/arch/")).collect::<Vec<_>>();
    assert!(found.is_empty(), "model_type compared outside model::arch (add to the Family instead):\n{}", found.join("\n"));
}

/// The window and the command line reach the engine through its facade
/// alone: the app depends on `workbench-engine` and on no lower engine crate.
#[test]
fn the_front_ends_use_only_the_facade() {
    let manifest = std::fs::read_to_string(engine_dir().join("../app/Cargo.toml")).unwrap();
    assert!(manifest.contains("workbench-engine"), "app/Cargo.toml does not name the engine");
    for lower in lower_crates() {
        let package = std::fs::read_to_string(engine_dir().join(&lower).join("Cargo.toml")).unwrap();
        let name = package.lines().find_map(|l| l.strip_prefix("name = ")).unwrap().trim_matches('"').to_string();
        assert!(name.starts_with("workbench-"), "engine/{lower}/Cargo.toml names its package {name}");
        assert!(!manifest.contains(&name), "app/Cargo.toml depends on {name}: use what workbench-engine re-exports");
    }
}

/// The engine crates `manifest` (a `Cargo.toml`) depends on, not counting dev-dependencies.
fn engine_dependencies(manifest: &str) -> Vec<String> {
    let mut in_dependencies = false;
    let mut names = Vec::new();
    for line in manifest.lines() {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
        } else if in_dependencies && line.starts_with("workbench-") {
            names.push(line.split_whitespace().next().unwrap().to_string());
        }
    }
    names.sort();
    names
}

/// ARCHITECTURE.md's table of crates says what each uses, as each
/// `Cargo.toml` does; the facade uses every lower crate.
#[test]
fn the_architecture_table_of_crates_matches_their_manifests() {
    let architecture = std::fs::read_to_string(engine_dir().join("../ARCHITECTURE.md")).unwrap();
    let rows: Vec<Vec<&str>> = architecture
        .lines()
        .filter(|l| l.starts_with("| workbench-"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    let crates = lower_crates();
    assert_eq!(rows.len(), crates.len() + 1, "ARCHITECTURE.md lists {} crates, engine/ holds {} and the facade", rows.len(), crates.len());
    for row in rows {
        let (name, folder, uses) = (row[0], row[1].trim_matches('`'), row[3]);
        let manifest = std::fs::read_to_string(engine_dir().join("..").join(folder).join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("ARCHITECTURE.md puts {name} in {folder}: {e}"));
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{folder}/Cargo.toml is not {name}");
        let mut documented: Vec<String> = if uses == "all of them" {
            crates.iter().map(|c| format!("workbench-{}", c.replace('_', "-"))).collect()
        } else {
            uses.split(',').map(str::trim).filter(|u| !u.is_empty()).map(|u| format!("workbench-{u}")).collect()
        };
        documented.sort();
        assert_eq!(engine_dependencies(&manifest), documented, "{name}: its Cargo.toml and ARCHITECTURE.md disagree on what it uses");
    }
}
