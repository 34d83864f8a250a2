//! One reviewer's session over an evaluation: their own item order and A/B
//! sides ([`super::blind`]), the first item they have not rated yet (so they
//! can stop and continue later), ratings saved the moment they are made
//! ([`super::ratings`]), a rated item never rated again by accident (a
//! revision is explicit), and the models' names revealed only once an item is rated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::evaluation::{Evaluation, Item};
use super::ratings::{self, Rating};
use super::rubric::Verdict;
use crate::error::{Error, Result};

/// What a reviewer gives for one item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// Scores of the answer shown as A, by criterion.
    pub scores_a: BTreeMap<String, u8>,
    /// Scores of the answer shown as B.
    pub scores_b: BTreeMap<String, u8>,
    /// Which is better.
    pub verdict: Option<Verdict>,
    /// A comment.
    pub comment: String,
}

/// A reviewer working through an evaluation.
#[derive(Debug, Clone)]
pub struct Review {
    /// The evaluation folder.
    pub dir: PathBuf,
    /// The evaluation.
    pub eval: Evaluation,
    /// The reviewer's name.
    pub reviewer: String,
    /// Item indices in this reviewer's order.
    pub order: Vec<usize>,
    /// Position in `order`.
    pub pos: usize,
    /// The ratings file's last line was cut off mid-write (a crash): its line
    /// number. It is not counted; the next rating sets it aside.
    pub torn_last_line: Option<usize>,
    /// This reviewer's latest rating of each item.
    mine: BTreeMap<usize, Rating>,
}

impl Review {
    /// Starts (or continues) `reviewer`'s review of the evaluation in `dir`,
    /// at their first unrated item.
    pub fn start(dir: &Path, reviewer: &str) -> Result<Self> {
        let reviewer = reviewer.trim().to_string();
        if reviewer.is_empty() {
            return Err(Error::Other("enter your name first: ratings are kept per reviewer".into()));
        }
        let eval = Evaluation::open(dir)?;
        let all = ratings::read(&Evaluation::ratings_path(dir))?;
        let mine = all.latest().into_iter().filter(|r| r.reviewer.eq_ignore_ascii_case(&reviewer)).map(|r| (r.item, r.clone())).collect();
        let order = super::blind::order(eval.seed, &reviewer, eval.items.len());
        let torn_last_line = all.torn_last_line;
        let mut review = Self { dir: dir.to_path_buf(), eval, reviewer, order, pos: 0, mine, torn_last_line };
        review.pos = review.order.iter().position(|i| !review.mine.contains_key(i)).unwrap_or(0);
        Ok(review)
    }

    /// The item at the current position: its index and the item.
    pub fn item(&self) -> Option<(usize, &Item)> {
        let i = *self.order.get(self.pos)?;
        Some((i, &self.eval.items[i]))
    }

    /// Whether this reviewer sees item `i`'s first model as "A".
    pub fn first_is_a(&self, i: usize) -> bool {
        super::blind::first_is_a(self.eval.seed, &self.reviewer, i)
    }

    /// The answers of the current item as shown: `[A, B]`.
    pub fn shown(&self) -> Option<[&str; 2]> {
        let (i, item) = self.item()?;
        let [first, second] = [item.answers[0].as_str(), item.answers[1].as_str()];
        Some(if self.first_is_a(i) { [first, second] } else { [second, first] })
    }

    /// This reviewer's rating of item `i`, if any.
    pub fn rating(&self, i: usize) -> Option<&Rating> {
        self.mine.get(&i)
    }

    /// The models behind A and B of the current item, once this reviewer has rated it (else None: blind).
    pub fn revealed(&self) -> Option<[String; 2]> {
        let (i, item) = self.item()?;
        self.mine.get(&i)?;
        let [first, second] = [self.eval.model_name(item.models[0]), self.eval.model_name(item.models[1])];
        Some(if self.first_is_a(i) { [first, second] } else { [second, first] })
    }

    /// Items this reviewer has rated, and all items.
    pub fn progress(&self) -> (usize, usize) {
        (self.mine.len(), self.order.len())
    }

    /// Saves `draft` as the current item's rating (checked against the rubric,
    /// appended and fsynced). An item already rated is refused unless `revise`.
    pub fn rate(&mut self, draft: &Draft, revise: bool, unix: i64) -> Result<()> {
        let (i, _) = self.item().ok_or_else(|| Error::Other("no item to rate".into()))?;
        if self.mine.contains_key(&i) && !revise {
            return Err(Error::Other("you have rated this item already; choose Revise to change your rating".into()));
        }
        let rating = Rating {
            reviewer: self.reviewer.clone(),
            item: i,
            first_is_a: self.first_is_a(i),
            scores_a: draft.scores_a.clone(),
            scores_b: draft.scores_b.clone(),
            verdict: draft.verdict,
            comment: draft.comment.trim().to_string(),
            unix,
        };
        rating.check(&self.eval.rubric).map_err(Error::Other)?;
        ratings::append(&Evaluation::ratings_path(&self.dir), &rating)?;
        self.mine.insert(i, rating);
        Ok(())
    }

    /// Moves to the next (`+1`) or previous (`-1`) item, within bounds.
    pub fn step(&mut self, by: isize) {
        let last = self.order.len().saturating_sub(1) as isize;
        self.pos = (self.pos as isize + by).clamp(0, last) as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::human_eval::rubric::Rubric;

    fn folder() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::human_eval::evaluation::tests::comparison(2);
        let more = c.items[0].clone();
        for q in ["Q3", "Q4"] {
            c.record(&crate::comparisons::Prompt::question(q), more.answers.clone());
        }
        let e = Evaluation::from_comparison(&c, Rubric::story_a(), 5).unwrap();
        let path = dir.path().join("eval");
        e.create(&path).unwrap();
        (dir, path)
    }

    fn draft() -> Draft {
        let s = BTreeMap::from([("relevance".to_string(), 1u8), ("accuracy".to_string(), 0u8)]);
        Draft { scores_a: s.clone(), scores_b: s, verdict: Some(Verdict::Tie), comment: " ok ".into() }
    }

    #[test]
    fn a_review_hides_names_until_rated_refuses_double_rating_and_continues_where_it_stopped() {
        let (_tmp, dir) = folder();
        assert!(Review::start(&dir, "  ").unwrap_err().to_string().contains("name"));
        let mut r = Review::start(&dir, "Ana").unwrap();
        assert_eq!(r.progress(), (0, 3));
        let (first, _) = r.item().unwrap();
        assert_eq!(r.revealed(), None, "names hidden before rating");
        r.rate(&draft(), false, 1).unwrap();
        let names = r.revealed().unwrap();
        assert!(names.iter().all(|n| n.contains("/m/") || n.contains("model")), "{names:?}");
        assert!(r.rate(&draft(), false, 2).unwrap_err().to_string().contains("Revise"));
        r.rate(&Draft { verdict: Some(Verdict::A), ..draft() }, true, 3).unwrap();
        let mut bad = draft();
        bad.scores_b.clear();
        r.step(1);
        assert!(r.rate(&bad, false, 4).unwrap_err().to_string().contains("answer B has no relevance"));
        // Continue later: the same order, at the first unrated item; the revision counts once.
        let again = Review::start(&dir, "ana").unwrap();
        assert_eq!((again.order.clone(), again.progress()), (r.order.clone(), (1, 3)));
        assert_ne!(again.item().unwrap().0, first);
        assert_eq!(again.rating(first).unwrap().verdict, Some(Verdict::A));
        assert_eq!(again.rating(first).unwrap().comment, "ok");
        let shown = again.shown().unwrap();
        let (i, item) = again.item().unwrap();
        assert_eq!(shown[0] == item.answers[0], again.first_is_a(i));
    }
}
