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
        let folders = |dir: &Path| -> Vec<PathBuf> {
            let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join("evaluation.json").is_file()).collect())
                .unwrap_or_default();
            v.sort();
            v.reverse();
            v
        };
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
        let made = std::fs::create_dir_all(out.parent().unwrap_or(&out))
            .map_err(|e| e.to_string())
            .and_then(|()| engine::human_eval::package::export(&dir, &out).map_err(|e| e.to_string()));
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

    /// The keyboard: answers, moving between questions and items, saving.
    fn keys(&mut self, ui: &egui::Ui) {
        let Some(review) = &self.review else { return };
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        let rubric = review.eval.rubric.clone();
        let rated = review.item().is_some_and(|(i, _)| review.rating(i).is_some());
        let fields = Self::fields(&rubric);
        let pressed: Vec<egui::Key> = ui.input(|i| {
            i.events
                .iter()
                .filter_map(|e| match e {
                    egui::Event::Key { key, pressed: true, modifiers, .. } if !modifiers.ctrl && !modifiers.alt => Some(*key),
                    _ => None,
                })
                .collect()
        });
        for key in pressed {
            match key {
                egui::Key::Enter if rated && !self.revising => self.step(1),
                egui::Key::Enter => self.save(),
                egui::Key::ArrowRight => self.step(1),
                egui::Key::ArrowLeft => self.step(-1),
                egui::Key::ArrowDown => self.field = (self.field + 1).min(fields.len().saturating_sub(1)),
                egui::Key::ArrowUp => self.field = self.field.saturating_sub(1),
                k if !rated || self.revising => {
                    if let Some(&f) = fields.get(self.field)
                        && self.answer(&rubric, f, k)
                    {
                        self.field = (self.field + 1).min(fields.len().saturating_sub(1));
                    }
                }
                _ => {}
            }
        }
    }

    /// Draws the tab; `last_comparison` is the Compare tab's saved comparison,
    /// if any; `choices` the models a new evaluation can compare.
    pub fn ui(&mut self, ui: &mut egui::Ui, last_comparison: Option<&Path>, choices: &[Target]) -> Option<ReviewAction> {
        let mut action = None;
        if self.new.is_none() {
            self.keys(ui);
        }
        ui.horizontal(|ui| {
            let l = ui.label("Evaluation");
            let shown = self.selected.as_ref().map_or_else(|| "none yet".into(), |p| super::display_path(p));
            egui::ComboBox::from_id_salt("review-eval")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    for e in self.evals.clone() {
                        let name = super::display_path(&e);
                        if ui.selectable_label(self.selected.as_ref() == Some(&e), name).clicked() {
                            self.selected = Some(e);
                            self.review = None;
                            self.results = None;
                        }
                    }
                })
                .response
                .labelled_by(l.id);
            if ui.button("Refresh").clicked() {
                self.refresh();
            }
            if ui.selectable_label(self.new.is_some(), "New evaluation").clicked() {
                self.new = match self.new.take() {
                    Some(form) if form.progress.is_some() => Some(form),
                    Some(_) => None,
                    None => Some(NewEvaluation::default()),
                };
            }
            let button = ui.add_enabled(last_comparison.is_some(), egui::Button::new("New evaluation from the last comparison"));
            if let Some(c) = last_comparison
                && button.on_disabled_hover_text("compare models in the Compare tab first").clicked()
            {
                self.create_from(c);
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("Open folder");
            ui.add(egui::TextEdit::singleline(&mut self.open_path).desired_width(220.0).hint_text("an evaluation or review package"))
                .labelled_by(l.id);
            if ui.button("Open").clicked() {
                self.open(&PathBuf::from(self.open_path.trim()));
            }
            if ui
                .button("Export review package")
                .on_hover_text("items and rubric without the models' names, for a reviewer elsewhere")
                .clicked()
            {
                self.export_package();
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("Import ratings from");
            ui.add(
                egui::TextEdit::singleline(&mut self.import_path).desired_width(220.0).hint_text("their package folder or ratings.jsonl"),
            )
            .labelled_by(l.id);
            ui.checkbox(&mut self.import_replace, "take theirs on conflicts");
            if ui.button("Import").clicked() {
                self.import();
            }
        });
        ui.horizontal(|ui| {
            super::targets::combo(ui, "review-judge", "Automatic judge", &mut self.judge, choices);
            match self.judge_job {
                Some((job, done, total)) => {
                    ui.add(
                        egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                            .desired_width(200.0)
                            .text(format!("item {done} of {total}")),
                    );
                    if ui.button("Stop judging").clicked() {
                        action = Some(ReviewAction::Cancel(job));
                    }
                }
                None => {
                    if ui
                        .button("Judge")
                        .on_hover_text("the model rates every item with the rubric; Results compares it with the reviewers")
                        .clicked()
                    {
                        match (self.picked(), self.judge.clone()) {
                            (Some(dir), Some(judge)) => {
                                let settings = engine::generate::target::AnswerSettings::default();
                                action = Some(ReviewAction::Judge(Box::new(JudgeRequest { dir, judge, settings })));
                            }
                            (_, None) => self.notice = Some(("choose the model that judges".into(), true)),
                            (None, _) => {}
                        }
                    }
                }
            }
        });
        if let Some(form) = &mut self.new {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.strong("New evaluation");
                match form.ui(ui, choices, &self.dir) {
                    Some(Ok(plan)) => action = Some(ReviewAction::Create(Box::new(plan))),
                    Some(Err(e)) => self.notice = Some((e, true)),
                    None => {}
                }
                if let Some(job) = self.job
                    && ui.button("Cancel generating").clicked()
                {
                    action = Some(ReviewAction::Cancel(job));
                }
            });
        }
        ui.horizontal(|ui| {
            let l = ui.label("Reviewer");
            ui.add(egui::TextEdit::singleline(&mut self.reviewer).desired_width(180.0).hint_text("your name")).labelled_by(l.id);
            if ui.button("Start reviewing").clicked() {
                self.start();
            }
            if ui
                .button("Export ratings as CSV")
                .on_hover_text("one row per rating, models named: ratings.csv in the evaluation folder")
                .clicked()
                && let Some(dir) = self.picked()
            {
                self.notice = Some(match export_csv(&dir) {
                    Ok(file) => (format!("ratings written to {}", super::display_path(&file)), false),
                    Err(e) => (e, true),
                });
            }
            if ui.button("Write report").on_hover_text("report.md with its charts as PNG, in the evaluation's report/ folder").clicked()
                && let Some(dir) = self.picked()
            {
                self.notice = Some(match crate::eval_report::write(&dir, &dir.join("report")) {
                    Ok(file) => (format!("report written to {}", super::display_path(&file)), false),
                    Err(e) => (format!("{e:#}"), true),
                });
            }
            let results = ui.add_enabled(self.results_job.is_none(), egui::Button::new("Results"));
            let wanted = self.results_job.is_none() && std::mem::take(&mut self.results_wanted);
            if results.clicked() || wanted {
                match self.selected.clone() {
                    Some(dir) => action = Some(ReviewAction::Results(dir)),
                    None => self.notice = Some(("pick an evaluation first".into(), true)),
                }
            }
            if self.results_job.is_some() {
                ui.spinner();
            }
        });
        if let Some((text, bad)) = &self.notice {
            let color = if *bad { Color32::from_rgb(220, 50, 50) } else { ui.visuals().weak_text_color() };
            ui.label(RichText::new(text).color(color));
        }
        ui.separator();
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            if self.review.is_some() {
                self.item_ui(ui);
            } else {
                ui.label("Pick an evaluation, enter your name and press Start reviewing. The answers are shown as A and B; the models' names appear once you have rated an item.");
            }
            if let (Some(r), Some(dir)) = (&self.results, &self.selected)
                && let Ok(eval) = Evaluation::open(dir)
            {
                ui.separator();
                results_ui(ui, r, &eval);
            }
        });
        action
    }

    fn item_ui(&mut self, ui: &mut egui::Ui) {
        let Some(review) = self.review.clone() else { return };
        let Some((i, item)) = review.item() else {
            ui.label("This evaluation has no items.");
            return;
        };
        let (rated, total) = review.progress();
        ui.label(format!("Item {} of {total} · {rated} rated · you are {}", review.pos + 1, review.reviewer));
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.strong("Question");
            ui.label(item.prompt.question_text());
        });
        let fields = Self::fields(&review.eval.rubric);
        let current = fields.get(self.field).copied();
        let shown = review.shown().unwrap_or(["", ""]);
        let revealed = review.revealed();
        let saved = review.rating(i).cloned();
        ui.columns(2, |cols| {
            for (k, col) in cols.iter_mut().enumerate() {
                let side_a = k == 0;
                let title = match &revealed {
                    Some(names) => format!("Answer {} ({})", if side_a { "A" } else { "B" }, names[k]),
                    None => format!("Answer {}", if side_a { "A" } else { "B" }),
                };
                col.strong(title);
                CommonMarkViewer::new().show(col, &mut self.markdown, shown[k]);
                col.separator();
                for (c, criterion) in review.eval.rubric.criteria.iter().enumerate() {
                    let scores = match (&saved, side_a) {
                        (Some(s), true) if !self.revising => &s.scores_a,
                        (Some(s), false) if !self.revising => &s.scores_b,
                        (_, true) => &self.draft.scores_a,
                        (_, false) => &self.draft.scores_b,
                    };
                    let value = scores.get(&criterion.name).copied();
                    let here = current == Some(Field::Score(side_a, c));
                    let editable = saved.is_none() || self.revising;
                    if let Some(v) = col.horizontal(|ui| criterion_ui(ui, criterion, value, here)).inner
                        && editable
                    {
                        let draft = if side_a { &mut self.draft.scores_a } else { &mut self.draft.scores_b };
                        draft.insert(criterion.name.clone(), v);
                    }
                }
            }
        });
        if review.eval.rubric.preference {
            let verdict = if saved.is_some() && !self.revising { saved.as_ref().and_then(|s| s.verdict) } else { self.draft.verdict };
            ui.horizontal(|ui| {
                let marker = if current == Some(Field::Verdict) { "> " } else { "" };
                ui.label(format!("{marker}Which is better?"));
                for (v, text) in [
                    (Verdict::A, "A better (A)"),
                    (Verdict::B, "B better (B)"),
                    (Verdict::Tie, "Tie (T)"),
                    (Verdict::BothBad, "Both bad (X)"),
                ] {
                    if ui.selectable_label(verdict == Some(v), text).clicked() && (saved.is_none() || self.revising) {
                        self.draft.verdict = Some(v);
                    }
                }
            });
        }
        ui.horizontal(|ui| {
            if saved.is_none() || self.revising {
                let l = ui.label("Comment");
                ui.add(egui::TextEdit::singleline(&mut self.draft.comment).desired_width(400.0).hint_text("optional")).labelled_by(l.id);
                if ui.button("Save rating (Enter)").clicked() {
                    self.save();
                }
            } else {
                ui.label(RichText::new("Rated.").color(Color32::from_rgb(60, 170, 90)));
                if ui.button("Revise").clicked() {
                    self.revising = true;
                    if let Some(s) = &saved {
                        self.draft = Draft {
                            scores_a: s.scores_a.clone(),
                            scores_b: s.scores_b.clone(),
                            verdict: s.verdict,
                            comment: s.comment.clone(),
                        };
                    }
                }
            }
            if ui.button("Previous (Left)").clicked() {
                self.step(-1);
            }
            if ui.button("Next (Right)").clicked() {
                self.step(1);
            }
        });
    }
}

/// One criterion's row: its name and description, and the chosen value;
/// returns a value clicked.
fn criterion_ui(ui: &mut egui::Ui, c: &Criterion, value: Option<u8>, has_keyboard: bool) -> Option<u8> {
    let marker = if has_keyboard { "> " } else { "" };
    ui.label(format!("{marker}{}", c.name)).on_hover_text(&c.description);
    let choices: Vec<(u8, String)> = match &c.scale {
        Scale::Binary { yes, no } => vec![(1, format!("{yes} (1)")), (0, format!("{no} (0)"))],
        Scale::Points { min, max } => (*min..=*max).map(|v| (v, v.to_string())).collect(),
    };
    let mut clicked = None;
    for (v, text) in choices {
        if ui.selectable_label(value == Some(v), text).clicked() {
            clicked = Some(v);
        }
    }
    clicked
}

/// Writes the ratings of the evaluation in `dir` to `dir/ratings.csv`.
fn export_csv(dir: &Path) -> Result<PathBuf, String> {
    let eval = Evaluation::open(dir).map_err(|e| e.to_string())?;
    let ratings = engine::human_eval::ratings::read(&Evaluation::ratings_path(dir)).map_err(|e| e.to_string())?;
    let file = dir.join("ratings.csv");
    engine::human_eval::export::ratings_csv(&eval, &ratings.latest(), &file).map_err(|e| e.to_string())?;
    Ok(file)
}

/// A key's digit, if it is one.
fn digit(key: egui::Key) -> Option<u8> {
    use egui::Key::*;
    [Num0, Num1, Num2, Num3, Num4, Num5, Num6, Num7, Num8, Num9].iter().position(|k| *k == key).map(|d| d as u8)
}

/// The results: a bar chart of each criterion's rate per model with its 95%
/// interval, then tables of rates, verdicts, ranking, agreement, reviewers.
fn results_ui(ui: &mut egui::Ui, r: &Results, eval: &Evaluation) {
    let report = r.report(eval);
    ui.heading("Results");
    rates_chart(ui, r, eval);
    egui::Grid::new("review-results").striped(true).show(ui, |ui| {
        ui.strong("model");
        ui.strong("criterion");
        ui.strong("rate (95% interval)");
        ui.end_row();
        for row in &report.rows {
            for cell in row {
                ui.label(cell);
            }
            ui.end_row();
        }
    });
    for (heading, lines) in report.sections() {
        ui.add_space(6.0);
        ui.strong(heading);
        for line in lines {
            ui.label(line);
        }
    }
}

/// The bars' colours, one per model.
const MODEL_COLORS: [Color32; 4] =
    [Color32::from_rgb(90, 140, 220), Color32::from_rgb(230, 150, 60), Color32::from_rgb(90, 180, 110), Color32::from_rgb(200, 90, 160)];

/// Each binary criterion's "yes" rate per model as bars (percent), grouped by
/// criterion, with the 95% interval drawn as an error bar on each.
fn rates_chart(ui: &mut egui::Ui, r: &Results, eval: &Evaluation) {
    let Some(chart) = r.rate_bars(eval) else { return };
    let labels = chart.clone();
    Plot::new("review-rates")
        .height(220.0)
        .legend(Legend::default())
        .y_axis_label("% yes (95% interval)")
        .include_y(0.0)
        .include_y(100.0)
        .x_axis_formatter(move |mark, _| labels.label_at(mark.value))
        .allow_scroll(false)
        .show(ui, |plot| {
            for (m, rates) in chart.bars.iter().enumerate() {
                let name = eval.model_name(m);
                let bars = rates.iter().map(|(x, rate)| Bar::new(*x, rate.rate * 100.0).width(chart.width * 0.9)).collect();
                let color = MODEL_COLORS[m % MODEL_COLORS.len()];
                plot.bar_chart(BarChart::new(name.clone(), bars).color(color));
                for (x, rate) in rates {
                    plot.line(
                        Line::new(name.clone(), vec![[*x, rate.low * 100.0], [*x, rate.high * 100.0]])
                            .color(color.gamma_multiply(0.6))
                            .width(2.0),
                    );
                }
            }
        });
}
