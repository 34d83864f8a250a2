//! The ratings file of an evaluation: one JSON line per rating, appended and
//! fsynced the moment a reviewer makes it, so a crash or a kill loses
//! nothing saved. A torn last line (the process died mid-write) is reported,
//! not silently dropped; any other bad line is an error naming it. A reviewer
//! who revises a rating appends a new line; the latest per reviewer and item counts.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::rubric::{Rubric, Verdict};
use crate::error::{Error, Result};

/// One reviewer's rating of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// The reviewer's name.
    pub reviewer: String,
    /// The item rated (its index in the evaluation).
    pub item: usize,
    /// Whether the item's first model was shown as "A" ([`super::blind::first_is_a`]).
    pub first_is_a: bool,
    /// Scores of the answer shown as A, by criterion name.
    pub scores_a: BTreeMap<String, u8>,
    /// Scores of the answer shown as B.
    pub scores_b: BTreeMap<String, u8>,
    /// Which answer was better, if the rubric asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// A free comment.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// When it was made (seconds since 1970).
    pub unix: i64,
}

impl Rating {
    /// The scores of the item's first model's answer and of its second's,
    /// whichever side ("A" or "B") each was shown on.
    pub fn scores_in_item_order(&self) -> [&BTreeMap<String, u8>; 2] {
        if self.first_is_a { [&self.scores_a, &self.scores_b] } else { [&self.scores_b, &self.scores_a] }
    }

    /// The verdict in the item's terms: `A` when the item's first model was
    /// judged better, `B` its second; a tie or "both bad" as it is.
    pub fn verdict_in_item_order(&self) -> Option<Verdict> {
        self.verdict.map(|v| match v {
            Verdict::A if !self.first_is_a => Verdict::B,
            Verdict::B if !self.first_is_a => Verdict::A,
            other => other,
        })
    }

    /// What is missing or out of range against `rubric`, if anything.
    pub fn check(&self, rubric: &Rubric) -> std::result::Result<(), String> {
        if self.reviewer.trim().is_empty() {
            return Err("the rating has no reviewer name".into());
        }
        for (side, scores) in [("A", &self.scores_a), ("B", &self.scores_b)] {
            for c in &rubric.criteria {
                match scores.get(&c.name) {
                    None => return Err(format!("answer {side} has no {} score", c.name)),
                    Some(&v) if !c.accepts(v) => return Err(format!("answer {side}: {v} is not a {} score", c.name)),
                    Some(_) => {}
                }
            }
            if let Some(extra) = scores.keys().find(|k| !rubric.criteria.iter().any(|c| &c.name == *k)) {
                return Err(format!("answer {side} is scored on {extra:?}, which the rubric does not have"));
            }
        }
        if rubric.preference && self.verdict.is_none() {
            return Err("say which answer is better (A, B, tie or both bad)".into());
        }
        Ok(())
    }
}

/// Appends `rating` to the ratings file `path` and fsyncs it. A torn last
/// line (a write cut off by a crash) is first moved to [`torn_path`], so the
/// new line starts on a line of its own and the fragment stays for inspection.
pub fn append(path: &Path, rating: &Rating) -> Result<()> {
    set_aside_torn_tail(path)?;
    let line = serde_json::to_string(rating).map_err(|e| Error::File { path: path.into(), message: e.to_string() })?;
    crate::atomic::append_line(path, &line)
}

/// Where the fragments of torn lines of the ratings file `path` are kept.
pub fn torn_path(path: &Path) -> std::path::PathBuf {
    path.with_extension("jsonl.torn")
}

/// Moves an unfinished last line of `path` (no newline at its end) to [`torn_path`].
fn set_aside_torn_tail(path: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match std::fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut last = [0u8];
    if len == 0
        || f.seek(SeekFrom::End(-1)).and_then(|_| f.read_exact(&mut last)).map_err(|e| Error::io(path, e)).map(|()| last[0] == b'\n')?
    {
        return Ok(());
    }
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let cut = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    crate::atomic::append_line(&torn_path(path), &String::from_utf8_lossy(&text[cut..]))?;
    f.set_len(cut as u64).and_then(|()| f.sync_data()).map_err(|e| Error::io(path, e))
}

/// A ratings file as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ratings {
    /// Every rating, in the order made (revisions included).
    pub all: Vec<Rating>,
    /// The line number of a last line cut off mid-write, if there is one.
    pub torn_last_line: Option<usize>,
}

impl Ratings {
    /// The ratings that count: the latest of each reviewer for each item.
    pub fn latest(&self) -> Vec<&Rating> {
        let mut by: HashMap<(&str, usize), usize> = HashMap::new();
        for (i, r) in self.all.iter().enumerate() {
            by.insert((r.reviewer.as_str(), r.item), i);
        }
        let mut keep: Vec<usize> = by.into_values().collect();
        keep.sort_unstable();
        keep.into_iter().map(|i| &self.all[i]).collect()
    }
}

/// Reads the ratings file `path` (none yet when it does not exist).
pub fn read(path: &Path) -> Result<Ratings> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ratings::default()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut out = Ratings::default();
    let lines: Vec<&str> = text.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Rating>(line) {
            Ok(r) => out.all.push(r),
            // The last line, without its newline: a write the process did not finish.
            Err(_) if i == lines.len() - 1 => out.torn_last_line = Some(i + 1),
            Err(e) => {
                return Err(Error::DataLine {
                    path: path.into(),
                    line: i + 1,
                    message: format!("not a rating ({e}); the file was edited by hand? remove or fix that line"),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rating(reviewer: &str, item: usize, relevant: u8) -> Rating {
        let scores = |v: u8| BTreeMap::from([("relevance".to_string(), v), ("accuracy".to_string(), 1)]);
        Rating {
            reviewer: reviewer.into(),
            item,
            first_is_a: item.is_multiple_of(2),
            scores_a: scores(relevant),
            scores_b: scores(1),
            verdict: Some(Verdict::B),
            comment: String::new(),
            unix: 1_796_000_000,
        }
    }

    #[test]
    fn ratings_append_read_back_and_the_latest_revision_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.jsonl");
        assert_eq!(read(&path).unwrap(), Ratings::default());
        for r in [rating("Ana", 0, 1), rating("Ben", 0, 0), rating("Ana", 1, 1), rating("Ana", 0, 0)] {
            append(&path, &r).unwrap();
        }
        let got = read(&path).unwrap();
        assert_eq!((got.all.len(), got.torn_last_line), (4, None));
        let latest = got.latest();
        assert_eq!(latest.len(), 3);
        let ana0 = latest.iter().find(|r| r.reviewer == "Ana" && r.item == 0).unwrap();
        assert_eq!(ana0.scores_a["relevance"], 0, "the revision replaces the first rating");
    }

    #[test]
    fn a_torn_last_line_is_reported_and_a_bad_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.jsonl");
        append(&path, &rating("Ana", 0, 1)).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"reviewer\":\"Ana\",\"ite");
        std::fs::write(&path, &text).unwrap();
        let got = read(&path).unwrap();
        assert_eq!((got.all.len(), got.torn_last_line), (1, Some(2)));
        // The next rating starts on a line of its own; the fragment is kept aside.
        append(&path, &rating("Ben", 0, 1)).unwrap();
        let got = read(&path).unwrap();
        assert_eq!((got.all.len(), got.torn_last_line), (2, None));
        assert_eq!(std::fs::read_to_string(torn_path(&path)).unwrap(), "{\"reviewer\":\"Ana\",\"ite\n");
        std::fs::write(&path, format!("oops\n{text}\n")).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains(":1:") && err.contains("not a rating"), "{err}");
    }

    #[test]
    fn a_rating_is_checked_against_the_rubric() {
        let rubric = Rubric::story_a();
        assert_eq!(rating("Ana", 0, 1).check(&rubric), Ok(()));
        assert!(rating("Ana", 0, 3).check(&rubric).unwrap_err().contains("not a relevance score"));
        let mut r = rating("Ana", 0, 1);
        r.scores_b.remove("accuracy");
        assert!(r.check(&rubric).unwrap_err().contains("answer B has no accuracy"));
        let mut r = rating("Ana", 0, 1);
        r.verdict = None;
        assert!(r.check(&rubric).unwrap_err().contains("which answer is better"));
        let mut r = rating(" ", 0, 1);
        r.scores_a.insert("tone".into(), 3);
        assert!(r.check(&rubric).unwrap_err().contains("reviewer"));
    }
}
