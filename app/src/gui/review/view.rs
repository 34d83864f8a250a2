//! The Review tab drawn: the evaluation picker, the item with its two
//! answers and the rubric's questions, the keyboard, the results with their
//! chart. The state it draws and changes is [`super::ReviewPanel`]'s.

use super::*;

impl ReviewPanel {
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
            let shown = self.selected.as_ref().map_or_else(|| "none yet".into(), |p| crate::gui::display_path(p));
            egui::ComboBox::from_id_salt("review-eval")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    for e in self.evals.clone() {
                        let name = crate::gui::display_path(&e);
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
            crate::gui::targets::combo(ui, "review-judge", "Automatic judge", &mut self.judge, choices);
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
                self.notice = Some(match engine::human_eval::export::evaluation_csv(&dir) {
                    Ok((file, n)) => (format!("{n} ratings written to {}", crate::gui::display_path(&file)), false),
                    Err(e) => (e.to_string(), true),
                });
            }
            if ui.button("Write report").on_hover_text("report.md with its charts as PNG, in the evaluation's report/ folder").clicked()
                && let Some(dir) = self.picked()
            {
                self.notice = Some(match crate::eval_report::write(&dir, &dir.join("report")) {
                    Ok(file) => (format!("report written to {}", crate::gui::display_path(&file)), false),
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
