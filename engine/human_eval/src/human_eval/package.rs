//! Reviewers on other machines: a review package is an evaluation folder
//! without the models' names (the items, rubric and seed only, so every
//! reviewer sees the same blind order and sides as here), marked with the
//! fingerprint of the items it was made from. The reviewer rates in it with
//! the workbench like any evaluation; their ratings file comes back with
//! [`import`], which refuses ratings of other items, skips duplicates, and
//! reports conflicts (the same reviewer and item already rated differently
//! here) instead of overwriting them unless asked.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::evaluation::{Evaluation, RATINGS_FILE};
use super::ratings::{self, Rating};
use crate::error::{Error, Result};

/// What a package says about where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageOf {
    /// The fingerprint of the original's items and rubric ([`fingerprint`]).
    pub fingerprint: String,
    /// How many models the original compares (their names stay there).
    pub models: usize,
}

/// SHA-256 (hex) of an evaluation's items and rubric: equal exactly when the
/// reviewers of two folders judge the same texts on the same questions.
pub fn fingerprint(eval: &Evaluation) -> String {
    let text = serde_json::to_string(&(&eval.items, &eval.rubric)).unwrap_or_default();
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the review package of the evaluation in `dir` to the new folder
/// `out` (its parent made if missing).
pub fn export(dir: &Path, out: &Path) -> Result<Evaluation> {
    let eval = Evaluation::open(dir)?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    if eval.package_of.is_some() {
        return Err(Error::File { path: dir.into(), message: "is itself a review package; export from the original evaluation".into() });
    }
    let package = Evaluation {
        models: Vec::new(),
        package_of: Some(PackageOf { fingerprint: fingerprint(&eval), models: eval.models.len() }),
        ..eval
    };
    package.create(out)?;
    Ok(package)
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Ratings appended here.
    pub added: usize,
    /// Ratings already here, the same.
    pub duplicates: usize,
    /// Ratings that replaced a different one here (`replace`).
    pub replaced: usize,
    /// Ratings not imported because this reviewer rated the item differently here: one line each.
    pub conflicts: Vec<String>,
    /// A line of the file cut off mid-write (not imported).
    pub torn_last_line: Option<usize>,
}

/// Whether two ratings say the same (when they were made aside).
fn same(a: &Rating, b: &Rating) -> bool {
    Rating { unix: 0, ..a.clone() } == Rating { unix: 0, ..b.clone() }
}

/// Imports the ratings of `from` (a review package folder, or a ratings file
/// of one) into the evaluation in `dir`. Conflicting ratings are left out
/// (and listed) unless `replace`, which appends them as revisions.
pub fn import(dir: &Path, from: &Path, replace: bool) -> Result<Imported> {
    let eval = Evaluation::open(dir)?;
    let file: PathBuf = if from.is_dir() {
        let package = Evaluation::open(from)?;
        let theirs = package.package_of.as_ref().map_or_else(|| fingerprint(&package), |p| p.fingerprint.clone());
        if theirs != fingerprint(&eval) {
            return Err(Error::File {
                path: from.into(),
                message: format!("was made from another evaluation (its items or rubric differ from {}'s); import it there", dir.display()),
            });
        }
        from.join(RATINGS_FILE)
    } else {
        from.to_path_buf()
    };
    let incoming = ratings::read(&file)?;
    let path = Evaluation::ratings_path(dir);
    let here = ratings::read(&path)?;
    let mut out = Imported { torn_last_line: incoming.torn_last_line, ..Default::default() };
    let latest = here.latest();
    // Every rating is checked before any is imported: a bad file imports nothing.
    for r in incoming.latest() {
        if r.item >= eval.items.len() {
            return Err(Error::File {
                path: file,
                message: format!("{} rated item {}, which this evaluation does not have; nothing was imported", r.reviewer, r.item + 1),
            });
        }
        r.check(&eval.rubric).map_err(|e| Error::File {
            path: file.clone(),
            message: format!("{}'s rating of item {}: {e}; nothing was imported", r.reviewer, r.item + 1),
        })?;
    }
    for r in incoming.latest() {
        match latest.iter().find(|h| h.reviewer == r.reviewer && h.item == r.item) {
            Some(h) if same(h, r) => {
                out.duplicates += 1;
                continue;
            }
            Some(_) if !replace => {
                out.conflicts.push(format!("{} rated item {} differently here; kept the rating here", r.reviewer, r.item + 1));
                continue;
            }
            Some(_) => out.replaced += 1,
            None => out.added += 1,
        }
        ratings::append(&path, r)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::human_eval::rubric::{Rubric, Verdict};

    fn rating(who: &str, item: usize, relevant: u8) -> Rating {
        let s = |v: u8| BTreeMap::from([("relevance".to_string(), v), ("accuracy".to_string(), 1)]);
        Rating {
            reviewer: who.into(),
            item,
            first_is_a: true,
            scores_a: s(relevant),
            scores_b: s(1),
            verdict: Some(Verdict::Tie),
            comment: String::new(),
            unix: 5,
        }
    }

    #[test]
    fn a_package_hides_the_models_and_its_ratings_come_back_with_duplicates_and_conflicts_named() {
        let tmp = tempfile::tempdir().unwrap();
        let eval = Evaluation::from_comparison(&crate::human_eval::evaluation::tests::comparison(3), Rubric::story_a(), 4).unwrap();
        let (dir, pkg) = (tmp.path().join("eval"), tmp.path().join("pkg"));
        eval.create(&dir).unwrap();
        let package = export(&dir, &pkg).unwrap();
        let text = std::fs::read_to_string(pkg.join("evaluation.json")).unwrap();
        assert!(!text.contains("model0") && !text.contains("/m/"), "no model name or path in the package: {text}");
        assert_eq!((package.items.clone(), package.seed), (eval.items.clone(), eval.seed));
        assert!(export(&pkg, &tmp.path().join("again")).unwrap_err().to_string().contains("itself a review package"));

        // Here: Ana rated item 1 and Ben item 2. There: Ana item 1 the same, Ana item 2 (new), Ben item 2 differently.
        ratings::append(&Evaluation::ratings_path(&dir), &rating("Ana", 0, 1)).unwrap();
        ratings::append(&Evaluation::ratings_path(&dir), &rating("Ben", 1, 1)).unwrap();
        let theirs = Evaluation::ratings_path(&pkg);
        for r in [rating("Ana", 0, 1), rating("Ana", 1, 0), rating("Ben", 1, 0)] {
            ratings::append(&theirs, &Rating { unix: 99, ..r }).unwrap();
        }
        let got = import(&dir, &pkg, false).unwrap();
        assert_eq!((got.added, got.duplicates, got.replaced), (1, 1, 0));
        assert_eq!(got.conflicts, ["Ben rated item 2 differently here; kept the rating here"]);
        assert_eq!(ratings::read(&Evaluation::ratings_path(&dir)).unwrap().latest().len(), 3);
        // Importing again adds nothing; with replace the conflict becomes a revision.
        let again = import(&dir, &pkg, true).unwrap();
        assert_eq!((again.added, again.duplicates, again.replaced), (0, 2, 1));
        let now = ratings::read(&Evaluation::ratings_path(&dir)).unwrap();
        let ben = now.latest().into_iter().find(|r| r.reviewer == "Ben").unwrap().clone();
        assert_eq!(ben.scores_a["relevance"], 0);

        // Another evaluation's package is refused; so is a rating of an item that does not exist.
        let other = tmp.path().join("other");
        let mut e2 = eval.clone();
        e2.items[0].answers[0].push('!');
        e2.create(&other).unwrap();
        assert!(import(&other, &pkg, false).unwrap_err().to_string().contains("another evaluation"));
        let stray = tmp.path().join("stray.jsonl");
        ratings::append(&stray, &rating("Cy", 40, 1)).unwrap();
        ratings::append(&stray, &rating("Cy", 0, 1)).unwrap();
        let before = ratings::read(&Evaluation::ratings_path(&dir)).unwrap().all.len();
        assert!(import(&dir, &stray, false).unwrap_err().to_string().contains("item 41"));
        assert_eq!(ratings::read(&Evaluation::ratings_path(&dir)).unwrap().all.len(), before, "a bad file imports nothing");
    }
}
