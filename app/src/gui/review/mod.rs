//! Review: blind human evaluation in the window. Pick an evaluation folder
//! (make one: models answer a prompt file as an engine job, or take the last
//! saved comparison; or open a review package), enter your name, and rate
//! each item's two answers, shown as "A" and "B" in your own random order,
//! by keyboard: 1 / 0 (or Y / N) for a yes-no criterion, digits for a scale,
//! A, B, T (tie) or X (both bad) for the verdict, Up / Down to move between
//! questions, Enter to save (then Enter again for the next item), Left /
//! Right to move between items. The models' names appear once an item is
//! rated. Results (rates with 95% intervals as bars with error bars,
//! verdicts, ranking, agreement, reviewers) below. Review packages go to
//! reviewers elsewhere and their ratings come back with **Import ratings**.

use std::path::{Path, PathBuf};
use std::time::Instant;

use eframe::egui::{self, Color32, RichText};
use egui_commonmark::{CommonMarkCache, CommonMarkViewer};
use egui_plot::{Bar, BarChart, Legend, Line, Plot};
use engine::generate::target::Target;
use engine::human_eval::evaluation::Evaluation;
use engine::human_eval::judge::JudgeRequest;
use engine::human_eval::plan::Plan;
use engine::human_eval::results::Results;
use engine::human_eval::review::{Draft, Review};
use engine::human_eval::rubric::{Criterion, Rubric, Scale, Verdict};
use engine::jobs::{JobEvent, JobId};

use super::new_evaluation::NewEvaluation;

mod view;

/// What the Review tab asks the window to do.
pub enum ReviewAction {
    /// Generate the answers of a new evaluation (an engine job).
    Create(Box<Plan>),
    /// A model rates the evaluation's items (an engine job).
    Judge(Box<JudgeRequest>),
    /// Compute the results of the evaluation in this folder (an engine job).
    Results(PathBuf),
    /// Stop generating answers, or judging.
    Cancel(JobId),
}

/// One question the reviewer answers for an item, in keyboard order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// Criterion `usize` of answer A (true) or B (false).
    Score(bool, usize),
    /// Which answer is better.
    Verdict,
}

/// The Review tab's state.
pub struct ReviewPanel {
    /// Folder of evaluation folders.
    dir: PathBuf,
    /// The shipped sample evaluations (copied into `dir` before anyone rates them).
    samples: PathBuf,
    /// Evaluation folders found there.
    pub evals: Vec<PathBuf>,
    /// The evaluation picked.
    pub selected: Option<PathBuf>,
    /// The reviewer's name.
    pub reviewer: String,
    /// The review under way.
    pub review: Option<Review>,
    /// The current item's rating so far.
    pub draft: Draft,
    /// Which question has the keyboard.
    field: usize,
    /// Saving a rated item again is allowed (after **Revise**).
    revising: bool,
    /// The results of the picked evaluation, once asked for.
    pub results: Option<Results>,
    /// The last message (text, is an error).
    pub notice: Option<(String, bool)>,
    /// The new-evaluation form, while it is open.
    pub new: Option<NewEvaluation>,
    /// The job generating a new evaluation's answers.
    pub job: Option<JobId>,
    /// A folder to open (a review package from elsewhere).
    pub open_path: String,
    /// A reviewer's package folder or ratings file to import.
    pub import_path: String,
    /// On conflicting ratings, take the imported ones.
    pub import_replace: bool,
    /// The model chosen as automatic judge.
    pub judge: Option<Target>,
    /// The judging job, with its items done and in all.
    pub judge_job: Option<(JobId, usize, usize)>,
    /// The job computing the results, if one runs.
    pub results_job: Option<JobId>,
    /// Results are wanted (after a judge rated): asked for on the next frame.
    results_wanted: bool,
    markdown: CommonMarkCache,
}

impl ReviewPanel {
    /// The panel over the evaluations in `dir` and the shipped samples in `samples`.
    pub fn new(dir: PathBuf, samples: PathBuf) -> Self {
        let mut p = Self {
            dir,
            samples,
            evals: Vec::new(),
            selected: None,
            reviewer: String::new(),
            review: None,
            draft: Draft::default(),
            field: 0,
            revising: false,
            results: None,
            notice: None,
            new: None,
            job: None,
            open_path: String::new(),
            import_path: String::new(),
            import_replace: false,
            judge: None,
            judge_job: None,
            results_job: None,
            results_wanted: false,
            markdown: CommonMarkCache::default(),
        };
        p.refresh();
        p
    }

    /// Re-reads the evaluation folders: the user's, newest name first, then
    /// the shipped samples not yet copied among them.
    pub fn refresh(&mut self) {
        let folders = engine::human_eval::evaluation::list;
        let mut evals = folders(&self.dir);
        let copied = |s: &PathBuf| s.file_name().is_some_and(|n| self.dir.join(n).exists());
        evals.extend(folders(&self.samples).into_iter().filter(|s| !copied(s)));
        // A folder opened from elsewhere stays on the list.
        if let Some(s) = self.selected.as_ref().filter(|s| !evals.contains(s)) {
            evals.push(s.clone());
        }
        if self.selected.is_none() {
            self.selected = evals.first().cloned();
        }
        self.evals = evals;
    }

    /// Makes an evaluation folder from the saved comparison `comparison` and picks it.
    pub fn create_from(&mut self, comparison: &Path) {
        let made = engine::documents::load(comparison).map_err(|e| e.to_string()).and_then(|c| {
            let eval = Evaluation::from_comparison(&c, Rubric::story_a(), rand::random()).map_err(|e| e.to_string())?;
            let stem = comparison.file_stem().map_or_else(|| "evaluation".into(), |s| s.to_string_lossy().into_owned());
            let dir = self.dir.join(stem);
            eval.create(&dir).map_err(|e| e.to_string())?;
            Ok((dir, eval.items.len()))
        });
        match made {
            Ok((dir, n)) => {
                self.notice = Some((format!("evaluation {} with {n} items", super::display_path(&dir)), false));
                self.selected = Some(dir);
                self.review = None;
                self.refresh();
            }
            Err(e) => self.notice = Some((e, true)),
        }
    }

    /// Applies an event of the job generating a new evaluation.
    pub fn on_event(&mut self, ev: &JobEvent) {
        match ev {
            JobEvent::Progress { done, total } => {
                if let Some(form) = &mut self.new {
                    let since = form.progress.map_or_else(Instant::now, |p| p.2);
                    form.progress = Some((*done, *total, since));
                }
            }
            JobEvent::EvaluationCreated(dir) => {
                self.notice = Some((format!("evaluation {} ready: enter your name and start reviewing", super::display_path(dir)), false));
                self.selected = Some(dir.clone());
                self.review = None;
                self.results = None;
                self.new = None;
                self.refresh();
            }
            JobEvent::Failed(e) => self.notice = Some((e.clone(), true)),
            JobEvent::Cancelled => self.notice = Some(("generation cancelled; nothing was written".into(), true)),
            JobEvent::Ended => {
                self.job = None;
                if let Some(form) = &mut self.new {
                    form.progress = None;
                }
            }
            _ => {}
        }
    }

    /// Applies an event of the judging job.
    pub fn on_judge_event(&mut self, ev: &JobEvent) {
        match ev {
            JobEvent::Progress { done, total } => {
                if let Some(j) = &mut self.judge_job {
                    (j.1, j.2) = (*done, *total);
                }
            }
            JobEvent::Judged(j) => {
                let mut text = format!("{} rated {} items", j.reviewer, j.rated);
                if !j.unreadable.is_empty() {
                    text += &format!("; {} replies were unreadable ({})", j.unreadable.len(), j.unreadable.join("; "));
                }
                self.notice = Some((text, !j.unreadable.is_empty()));
                self.results_wanted = true;
            }
            JobEvent::Failed(e) => self.notice = Some((format!("judging failed: {e}"), true)),
            JobEvent::Cancelled => self.notice = Some(("judging cancelled; the ratings made so far are kept".into(), true)),
            JobEvent::Ended => self.judge_job = None,
            _ => {}
        }
    }

    /// Applies an event of the results job: results of the evaluation still shown are kept.
    pub fn on_results_event(&mut self, ev: &JobEvent) {
        match ev {
            JobEvent::Results(dir, r) if self.selected.as_deref() == Some(dir.as_path()) => self.results = Some((**r).clone()),
            JobEvent::Failed(e) => self.notice = Some((e.clone(), true)),
            JobEvent::Ended => self.results_job = None,
            _ => {}
        }
    }

    /// Picks the evaluation (or review package) folder `dir`.
    fn open(&mut self, dir: &Path) {
        match Evaluation::open(dir) {
            Ok(e) => {
                let kind = if e.package_of.is_some() { "review package" } else { "evaluation" };
                self.notice = Some((format!("{kind} {}: {} items", super::display_path(dir), e.items.len()), false));
                self.selected = Some(dir.to_path_buf());
                self.review = None;
                self.results = None;
                self.refresh();
            }
            Err(e) => self.notice = Some((e.to_string(), true)),
        }
    }

    /// Writes the picked evaluation's review package beside the evaluations folder.
    fn export_package(&mut self) {
        let Some(dir) = self.selected.clone() else {
            self.notice = Some(("pick an evaluation first".into(), true));
            return;
        };
        let name = dir.file_name().map_or_else(|| "evaluation".into(), |n| n.to_string_lossy().into_owned());
        let out = self.dir.with_file_name("review-packages").join(name);
        let made = engine::human_eval::package::export(&dir, &out).map_err(|e| e.to_string());
        self.notice = Some(match made {
            Ok(p) => (
                format!(
                    "review package of {} items in {}: send the folder; the reviewer opens it here and sends back its ratings.jsonl",
                    p.items.len(),
                    super::display_path(&out)
                ),
                false,
            ),
            Err(e) => (e, true),
        });
    }

    /// Imports a reviewer's package folder or ratings file into the picked evaluation.
    fn import(&mut self) {
        let Some(dir) = self.picked() else { return };
        let from = PathBuf::from(self.import_path.trim());
        self.notice = Some(match engine::human_eval::package::import(&dir, &from, self.import_replace) {
            Ok(got) => {
                let mut text = format!("{} ratings added, {} replaced, {} already here", got.added, got.replaced, got.duplicates);
                if !got.conflicts.is_empty() {
                    text += &format!(
                        "; {} conflicts kept as here (tick \"take theirs\" to replace): {}",
                        got.conflicts.len(),
                        got.conflicts.join("; ")
                    );
                }
                if let Some(line) = got.torn_last_line {
                    text += &format!("; their line {line} was cut off mid-write and not imported");
                }
                self.results = None;
                (text, !got.conflicts.is_empty())
            }
            Err(e) => (e.to_string(), true),
        });
    }

    /// A shipped sample evaluation copied into the user's evaluations folder
    /// (so ratings never go into `sample_data/`); any other folder as it is.
    fn writable(&mut self, dir: PathBuf) -> Result<PathBuf, String> {
        let Some(name) = dir.file_name().filter(|_| dir.starts_with(&self.samples)) else { return Ok(dir) };
        let copy = self.dir.join(name);
        if !copy.exists() {
            Evaluation::open(&dir).and_then(|e| e.create(&copy)).map_err(|e| e.to_string())?;
        }
        self.selected = Some(copy.clone());
        self.refresh();
        Ok(copy)
    }

    /// The picked evaluation's folder to write into (a sample copied first);
    /// None, with the reason shown, without one.
    fn picked(&mut self) -> Option<PathBuf> {
        let Some(dir) = self.selected.clone() else {
            self.notice = Some(("pick an evaluation first".into(), true));
            return None;
        };
        self.writable(dir).map_err(|e| self.notice = Some((e, true))).ok()
    }

    /// Starts (or continues) reviewing the picked evaluation as [`Self::reviewer`].
    pub fn start(&mut self) {
        let Some(dir) = self.picked() else { return };
        match Review::start(&dir, &self.reviewer) {
            Ok(r) => {
                let (rated, total) = r.progress();
                self.notice = Some(match r.torn_last_line {
                    Some(line) => (
                        format!(
                            "{rated} of {total} items rated so far; line {line} of the ratings file was cut off mid-write (a crash?) and is not counted: rate that item again"
                        ),
                        true,
                    ),
                    None => (format!("{rated} of {total} items rated so far"), false),
                });
                self.review = Some(r);
                self.reset_draft();
            }
            Err(e) => self.notice = Some((e.to_string(), true)),
        }
    }

    fn reset_draft(&mut self) {
        self.draft = Draft::default();
        self.field = 0;
        self.revising = false;
    }

    /// The questions of `rubric` in keyboard order.
    fn fields(rubric: &Rubric) -> Vec<Field> {
        let n = rubric.criteria.len();
        let mut f: Vec<Field> = (0..n).map(|c| Field::Score(true, c)).chain((0..n).map(|c| Field::Score(false, c))).collect();
        if rubric.preference {
            f.push(Field::Verdict);
        }
        f
    }

    /// Sets `field` to `value` from a key; true when the key meant something there.
    fn answer(&mut self, rubric: &Rubric, field: Field, key: egui::Key) -> bool {
        match field {
            Field::Score(side_a, c) => {
                let criterion = &rubric.criteria[c];
                let value = match (key, &criterion.scale) {
                    (egui::Key::Y, Scale::Binary { .. }) => Some(1),
                    (egui::Key::N, Scale::Binary { .. }) => Some(0),
                    _ => digit(key),
                };
                match value.filter(|v| criterion.accepts(*v)) {
                    Some(v) => {
                        let scores = if side_a { &mut self.draft.scores_a } else { &mut self.draft.scores_b };
                        scores.insert(criterion.name.clone(), v);
                        true
                    }
                    None => false,
                }
            }
            Field::Verdict => {
                let verdict = match key {
                    egui::Key::A => Verdict::A,
                    egui::Key::B => Verdict::B,
                    egui::Key::T => Verdict::Tie,
                    egui::Key::X => Verdict::BothBad,
                    _ => return false,
                };
                self.draft.verdict = Some(verdict);
                true
            }
        }
    }

    /// Saves the draft as the current item's rating.
    fn save(&mut self) {
        let Some(review) = &mut self.review else { return };
        let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        match review.rate(&self.draft, self.revising, unix) {
            Ok(()) => {
                self.revising = false;
                self.results = None;
                let (rated, total) = review.progress();
                self.notice = Some((format!("saved: {rated} of {total} rated; Enter for the next item"), false));
            }
            Err(e) => self.notice = Some((e.to_string(), true)),
        }
    }

    /// Moves to another item and clears the draft.
    fn step(&mut self, by: isize) {
        if let Some(r) = &mut self.review {
            r.step(by);
        }
        self.reset_draft();
    }
}

/// A key's digit, if it is one.
fn digit(key: egui::Key) -> Option<u8> {
    use egui::Key::*;
    [Num0, Num1, Num2, Num3, Num4, Num5, Num6, Num7, Num8, Num9].iter().position(|k| *k == key).map(|d| d as u8)
}
