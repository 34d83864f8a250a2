//! Config editor: every field of the engine's config as a widget, validated
//! as you type (the engine's message in red beside the field), tooltips,
//! presets, TOML load/save, and the live memory estimate as a bar against the
//! device budget with the engine's advice and a one-click apply.

use std::path::{Path, PathBuf};

use eframe::egui::{self, Color32, RichText};
use engine::config::{LINEAR_MODULES, Precision, Schedule, TrainConfig, TrainMode, TrainOn};
use engine::error::FieldError;
use engine::estimate::{Estimate, estimate, human_bytes};
use engine::model::ModelConfig;

use super::file_dialog::{self, Pick};
use super::pending::{self, LOOK_AGAIN, Pending};

/// The editor's state: the config being edited and what is derived from it.
pub struct ConfigEditor {
    /// The config being edited.
    pub config: TrainConfig,
    /// The file it came from or was saved to.
    pub path: Option<PathBuf>,
    /// Problems with the current values (empty when valid).
    pub errors: Vec<FieldError>,
    /// The current memory estimate (None when the model's config.json is unreadable).
    pub estimate: Option<Estimate>,
    /// A message about the last load or save.
    pub notice: Option<String>,
    /// The config file path as typed (open or save it without a dialog).
    pub path_text: String,
    /// The model directory last read, with its config.json (None when unreadable).
    model_cache: Option<(PathBuf, Option<ModelConfig>)>,
    /// What the last file check found wrong with the paths.
    file_errors: Vec<FieldError>,
    /// The file check of the latest edit, running on a worker thread.
    checking: Option<Pending<FileCheck>>,
}

/// What checking the config's files found: the paths that are wrong, and the
/// model's config.json when the model directory was read anew.
struct FileCheck {
    errors: Vec<FieldError>,
    model: Option<(PathBuf, Option<ModelConfig>)>,
}

impl ConfigEditor {
    /// An editor on `config`.
    pub fn new(config: TrainConfig, path: Option<PathBuf>) -> Self {
        let path_text = path.as_ref().map(|p| super::display_path(p)).unwrap_or_default();
        let mut e = Self {
            config,
            path,
            errors: Vec::new(),
            estimate: None,
            notice: None,
            path_text,
            model_cache: None,
            file_errors: Vec::new(),
            checking: None,
        };
        e.revalidate();
        e
    }

    /// Loads a config file into the editor.
    pub fn load(&mut self, path: &Path) -> Result<(), String> {
        // A config with bad values still loads, so the user can fix it here.
        let cfg = TrainConfig::load_unchecked(path).map_err(|e| e.to_string())?;
        self.config = cfg;
        self.path = Some(path.to_path_buf());
        self.path_text = super::display_path(path);
        self.notice = Some(format!("loaded {}", path.display()));
        self.revalidate();
        Ok(())
    }

    /// Loads `path`, or says why not in the notice line.
    fn open(&mut self, path: &Path) {
        if let Err(e) = self.load(path) {
            self.notice = Some(e);
        }
    }

    /// Writes the config to `path` (atomically) and says so in the notice line.
    fn save(&mut self, path: &Path) {
        self.notice = Some(match engine::atomic::write(path, self.config.to_toml().as_bytes()) {
            Ok(()) => {
                self.path = Some(path.to_path_buf());
                self.path_text = super::display_path(path);
                format!("saved {}", path.display())
            }
            Err(e) => e.to_string(),
        });
    }

    /// Re-checks values and files and recomputes the estimate, at once (for
    /// a config the window opens with, before its first frame).
    pub fn revalidate(&mut self) {
        // A check still running was of an older config.
        self.checking = None;
        let check = self.file_check();
        self.take_check(check());
    }

    /// Re-checks values and recomputes the estimate at once, and starts the
    /// file check (paths, the model's config.json when its directory changed)
    /// on a worker thread, taken up by a later frame: typing a path never
    /// waits for the disk.
    fn recheck(&mut self) {
        self.derive();
        self.checking = Some(Pending::spawn(self.file_check()));
    }

    /// The file check of the config as it is now.
    fn file_check(&self) -> impl FnOnce() -> FileCheck + Send + 'static {
        let config = self.config.clone();
        let read_model = self.model_cache.as_ref().is_none_or(|(p, _)| *p != config.model.path);
        move || {
            let model = read_model.then(|| (config.model.path.clone(), ModelConfig::load(&config.model.path).ok()));
            FileCheck { errors: config.validate_files(), model }
        }
    }

    fn take_check(&mut self, check: FileCheck) {
        self.file_errors = check.errors;
        if let Some(model) = check.model {
            self.model_cache = Some(model);
        }
        self.derive();
    }

    /// The errors and the estimate from the values, the last file check and
    /// the model read for the current model directory (no estimate until it is).
    fn derive(&mut self) {
        let value_errors = self.config.validate();
        let valid = value_errors.is_empty();
        self.errors = value_errors;
        self.errors.extend(self.file_errors.iter().cloned());
        let model = self.model_cache.as_ref().filter(|(p, _)| *p == self.config.model.path).and_then(|(_, m)| m.as_ref());
        let budget = self
            .config
            .run
            .memory_limit_gb
            .map(|gb| (gb * (1u64 << 30) as f64) as u64)
            .or_else(|| engine::device::parse_device_name(&self.config.model.device).ok().and_then(engine::device::memory_bytes));
        self.estimate = model.filter(|_| valid).map(|m| estimate(&self.config, m, budget));
    }

    /// The error message for `field`, if any.
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }

    /// Draws the editor. Returns true when the user pressed Launch.
    pub fn ui(&mut self, ui: &mut egui::Ui, presets_dir: &Path, can_launch: bool) -> bool {
        if let Some(check) = pending::take(&mut self.checking) {
            self.take_check(check);
        }
        if self.checking.is_some() {
            ui.ctx().request_repaint_after(LOOK_AGAIN);
        }
        let before = self.config.clone();
        let mut launch = false;
        ui.horizontal(|ui| {
            ui.label("Presets:");
            for (label, file) in [
                ("Story A (sample)", "story-a-sample.toml"),
                ("SmolLM2 help desk", "smollm2-helpdesk.toml"),
                ("Quick smoke test", "quick-smoke.toml"),
            ] {
                if ui.button(label).on_hover_text(format!("load {file}")).clicked() {
                    self.open(&presets_dir.join(file));
                }
            }
            ui.separator();
            if ui.button("Open...").on_hover_text("choose a config file in a dialog").clicked() {
                match file_dialog::pick(Pick::Open("TOML", &["toml"])) {
                    Ok(Some(p)) => self.open(&p),
                    Ok(None) => {}
                    Err(e) => self.notice = Some(e),
                }
            }
            if ui.button("Save as...").on_hover_text("choose where to save in a dialog").clicked() {
                match file_dialog::pick(Pick::Save("TOML", &["toml"], "config.toml")) {
                    Ok(Some(p)) => self.save(&p),
                    Ok(None) => {}
                    Err(e) => self.notice = Some(e),
                }
            }
            let valid = self.errors.is_empty();
            let button = ui.add_enabled(valid && can_launch, egui::Button::new(RichText::new("Launch").strong()));
            let button = button.on_hover_text("Start training on the local device (Ctrl+Enter)");
            let button = if valid { button } else { button.on_disabled_hover_text("fix the fields in red first") };
            launch = button.clicked();
        });
        ui.horizontal(|ui| {
            let l = ui.label("Config file");
            ui.add(egui::TextEdit::singleline(&mut self.path_text).desired_width(420.0))
                .labelled_by(l.id)
                .on_hover_text("type or paste a path");
            let typed = PathBuf::from(self.path_text.trim());
            let has_path = !self.path_text.trim().is_empty();
            if ui.add_enabled(has_path, egui::Button::new("Open")).on_hover_text("open the typed path").clicked() {
                self.open(&typed);
            }
            if ui.add_enabled(has_path, egui::Button::new("Save")).on_hover_text("save to the typed path").clicked() {
                self.save(&typed);
            }
        });
        if let Some(n) = &self.notice {
            ui.label(RichText::new(n).weak());
        }
        ui.separator();
        egui::ScrollArea::vertical().id_salt("config-scroll").show(ui, |ui| {
            egui::Grid::new("config-columns").num_columns(2).spacing([32.0, 8.0]).show(ui, |ui| {
                ui.vertical(|ui| {
                    self.model_section(ui);
                    self.data_section(ui);
                    self.lora_section(ui);
                });
                ui.vertical(|ui| {
                    self.training_section(ui);
                    self.memory_section(ui);
                });
            });
        });
        if self.config != before {
            self.recheck();
        }
        launch
    }

    fn field_error(&self, ui: &mut egui::Ui, field: &str) {
        if let Some(msg) = self.error_for(field) {
            ui.label(RichText::new(format!("{field}: {msg}")).color(Color32::from_rgb(220, 50, 50)));
        }
    }

    fn model_section(&mut self, ui: &mut egui::Ui) {
        ui.heading("Model");
        path_field(
            ui,
            "Model directory",
            &mut self.config.model.path,
            "A Hugging Face model directory: config.json, safetensors weights, tokenizer.json",
            &mut self.notice,
        );
        self.field_error(ui, "model.path");
        ui.horizontal(|ui| {
            let l = ui.label("Device");
            egui::ComboBox::from_id_salt("device")
                .selected_text(self.config.model.device.clone())
                .show_ui(ui, |ui| {
                    for (name, memory) in engine::device::available() {
                        let text = match memory {
                            Some(m) => format!("{name} ({})", human_bytes(m)),
                            None => name.clone(),
                        };
                        ui.selectable_value(&mut self.config.model.device, name, text);
                    }
                })
                .response
                .labelled_by(l.id)
                .on_hover_text("Where training runs; CUDA and Metal need a build with --features cuda / metal");
        });
        self.field_error(ui, "model.device");
    }

    fn data_section(&mut self, ui: &mut egui::Ui) {
        ui.heading("Data files");
        let d = &mut self.config.data;
        path_field(ui, "Training file", &mut d.train_file, "JSONL conversations: messages, prompt/completion or text", &mut self.notice);
        let mut has_val = d.validation_file.is_some();
        if ui
            .checkbox(&mut has_val, "Separate validation file")
            .on_hover_text("Otherwise a fraction of the training file is held out")
            .changed()
        {
            d.validation_file = has_val.then(|| d.train_file.with_file_name("validation.jsonl"));
        }
        match &mut d.validation_file {
            Some(p) => path_field(ui, "Validation file", p, "JSONL conversations for validation loss", &mut self.notice),
            None => {
                num_field(ui, "Validation ratio", &mut d.validation_ratio, 0.01, "Fraction of the training file held out for validation")
            }
        }
        num_field(ui, "Max sequence length", &mut d.max_seq_len, 1.0, "Longer conversations are truncated (and counted)");
        ui.horizontal(|ui| {
            ui.label("Loss on");
            ui.selectable_value(&mut d.train_on, TrainOn::Assistant, "assistant replies")
                .on_hover_text("Only the model's replies carry loss");
            ui.selectable_value(&mut d.train_on, TrainOn::All, "all tokens");
        });
        text_field(
            ui,
            "Chat template",
            &mut d.chat_template,
            "model: the model's own (tokenizer_config.json), else the built-in Mistral one; mistral; or the path of a Jinja file",
        );
        self.field_error(ui, "data.train_file");
        self.field_error(ui, "data.chat_template");
        self.field_error(ui, "data.validation_file");
        self.field_error(ui, "data.validation_ratio");
        self.field_error(ui, "data.max_seq_len");
    }

    fn lora_section(&mut self, ui: &mut egui::Ui) {
        ui.heading("LoRA");
        ui.horizontal(|ui| {
            ui.label("Mode");
            ui.selectable_value(&mut self.config.training.mode, TrainMode::Lora, "LoRA")
                .on_hover_text("Train low-rank adapters; the base stays frozen");
            ui.selectable_value(&mut self.config.training.mode, TrainMode::Full, "Full fine-tuning").on_hover_text("Train every weight");
        });
        if self.config.training.mode == TrainMode::Full {
            return;
        }
        let l = &mut self.config.lora;
        num_field(ui, "Rank", &mut l.rank, 1.0, "Rank r of the update B·A; more capacity, more memory (typical 8-64)");
        num_field(ui, "Alpha", &mut l.alpha, 1.0, "The update is scaled by alpha / rank (typical: 2 x rank)");
        num_field(ui, "Dropout", &mut l.dropout, 0.01, "Dropout on the adapter's input (typical 0.05)");
        let mut all = l.target_modules.iter().any(|m| m == "all-linear");
        if ui.checkbox(&mut all, "All linear layers").on_hover_text("q, k, v, o, gate, up and down projections").changed() {
            l.target_modules = if all { vec!["all-linear".into()] } else { vec!["q_proj".into(), "v_proj".into()] };
        }
        if !all {
            ui.horizontal_wrapped(|ui| {
                for m in LINEAR_MODULES {
                    let mut on = l.target_modules.iter().any(|t| t == m);
                    if ui.checkbox(&mut on, m).changed() {
                        l.target_modules.retain(|t| t != m);
                        if on {
                            l.target_modules.push(m.to_string());
                        }
                    }
                }
            });
        }
        for f in ["lora.rank", "lora.alpha", "lora.dropout", "lora.target_modules"] {
            self.field_error(ui, f);
        }
    }

    fn training_section(&mut self, ui: &mut egui::Ui) {
        ui.heading("Training");
        let t = &mut self.config.training;
        num_field(ui, "Batch size", &mut t.batch_size, 1.0, "Examples per micro-batch on the device");
        num_field(ui, "Gradient accumulation", &mut t.grad_accum, 1.0, "Micro-batches per optimizer step");
        ui.label(RichText::new(format!("Effective batch: {} x {} = {}", t.batch_size, t.grad_accum, t.effective_batch())).strong());
        num_field(ui, "Learning rate", &mut t.learning_rate, 1e-5, "Peak learning rate (LoRA typical 1e-4 to 3e-4)");
        ui.horizontal(|ui| {
            ui.label("Schedule");
            for (s, name) in [(Schedule::Cosine, "cosine"), (Schedule::Linear, "linear"), (Schedule::Constant, "constant")] {
                ui.selectable_value(&mut t.schedule, s, name);
            }
        });
        num_field(ui, "Warmup ratio", &mut t.warmup_ratio, 0.01, "Fraction of steps with a linear warmup");
        num_field(ui, "Epochs", &mut t.epochs, 1.0, "Passes over the training data");
        let mut capped = t.max_steps.is_some();
        if ui.checkbox(&mut capped, "Limit steps").on_hover_text("Stop after a fixed number of optimizer steps").changed() {
            t.max_steps = capped.then_some(100);
        }
        if let Some(m) = t.max_steps.as_mut() {
            num_field(ui, "Max steps", m, 1.0, "Optimizer steps before stopping");
        }
        num_field(ui, "Evaluate every (steps)", &mut t.eval_every, 1.0, "Validation every N steps; 0 = at each epoch end only");
        num_field(
            ui,
            "Early-stopping patience",
            &mut t.early_stopping_patience,
            1.0,
            "Stop after this many evaluations without improvement; 0 = off",
        );
        num_field(ui, "Weight decay", &mut t.weight_decay, 0.001, "AdamW decoupled weight decay");
        num_field(ui, "Max gradient norm", &mut t.max_grad_norm, 0.1, "Clip the global gradient norm; 0 = off");
        ui.checkbox(&mut t.gradient_checkpointing, "Gradient checkpointing")
            .on_hover_text("Recompute each layer's activations in the backward pass: much less memory, about a third more time");
        ui.horizontal(|ui| {
            ui.label("Precision").on_hover_text(
                "bf16: the frozen weights' matrix products in bfloat16 on the CPU's AMX unit (Intel Xeon since Sapphire Rapids), \
                 1.4-1.7x faster a step; the adapters' weights and gradients and the optimizer stay f32",
            );
            for p in Precision::ALL {
                ui.selectable_value(&mut t.precision, p, p.name());
            }
            if t.precision == Precision::Bf16 {
                let (text, color) = if engine::device::cpu_has_amx() {
                    ("this CPU has AMX", Color32::from_rgb(60, 150, 60))
                } else {
                    ("this CPU has no AMX: the run will train in f32", Color32::from_rgb(200, 120, 0))
                };
                ui.label(RichText::new(text).color(color).small());
            }
        });
        num_field(ui, "Seed", &mut t.seed, 1.0, "The same seed repeats a run exactly");
        num_field(ui, "Checkpoint every (steps)", &mut t.checkpoint_every, 1.0, "Resumable checkpoints; 0 = only on cancel");
        text_field(ui, "Run name", &mut self.config.run.name, "Runs are stored as NAME-DATE-TIME");
        for f in [
            "training.batch_size",
            "training.grad_accum",
            "training.learning_rate",
            "training.warmup_ratio",
            "training.epochs",
            "training.max_steps",
            "training.weight_decay",
            "training.max_grad_norm",
            "run.name",
        ] {
            self.field_error(ui, f);
        }
    }

    fn memory_section(&mut self, ui: &mut egui::Ui) {
        ui.heading("Memory estimate");
        let mut limited = self.config.run.memory_limit_gb.is_some();
        if ui.checkbox(&mut limited, "Memory limit").on_hover_text("Budget in GiB instead of the device's memory").changed() {
            self.config.run.memory_limit_gb = limited.then_some(8.0);
        }
        if let Some(gb) = self.config.run.memory_limit_gb.as_mut() {
            num_field(ui, "Limit (GiB)", gb, 0.1, "Memory budget for the estimate");
        }
        let Some(e) = self.estimate.clone() else {
            ui.label("No estimate: fix the fields in red (or the model directory).");
            return;
        };
        ui.label(format!("{} parameters, {} trainable", e.parameters, e.trainable));
        ui.label(format!(
            "weights {} | gradients {} | optimizer {} | activations {}",
            human_bytes(e.weights_bytes),
            human_bytes(e.gradients_bytes),
            human_bytes(e.optimizer_bytes),
            human_bytes(if self.config.training.gradient_checkpointing { e.activations_checkpointed_bytes } else { e.activations_bytes })
        ));
        match e.budget_bytes {
            Some(budget) => {
                let fraction = e.total_bytes as f32 / budget as f32;
                let color = if e.fits { Color32::from_rgb(40, 160, 60) } else { Color32::from_rgb(210, 50, 50) };
                ui.add(egui::ProgressBar::new(fraction.min(1.0)).fill(color).text(format!(
                    "{} of {} ({:.0}%)",
                    human_bytes(e.total_bytes),
                    human_bytes(budget),
                    fraction * 100.0
                )));
            }
            None => {
                ui.label(format!("total {} (device memory unknown)", human_bytes(e.total_bytes)));
            }
        }
        ui.label(
            RichText::new(format!("full fine-tuning rule of thumb (24 B/parameter): {}", human_bytes(e.rule_of_thumb_full_bytes))).weak(),
        );
        if !e.fits {
            ui.label(RichText::new("Will not fit. Suggestions:").color(Color32::from_rgb(210, 50, 50)));
            for a in &e.advice {
                if ui.button(format!("Apply: {}", a.message)).clicked() {
                    a.apply(&mut self.config);
                }
            }
        }
    }
}

/// A labelled number field.
fn num_field<T: egui::emath::Numeric>(ui: &mut egui::Ui, label: &str, value: &mut T, speed: f64, tip: &str) {
    ui.horizontal(|ui| {
        let l = ui.label(label);
        ui.add(egui::DragValue::new(value).speed(speed).max_decimals(6)).labelled_by(l.id).on_hover_text(tip);
    });
}

/// A labelled single-line text field.
fn text_field(ui: &mut egui::Ui, label: &str, value: &mut String, tip: &str) {
    ui.horizontal(|ui| {
        let l = ui.label(label);
        ui.text_edit_singleline(value).labelled_by(l.id).on_hover_text(tip);
    });
}

/// A labelled path field (typed or pasted) with a browse button; a dialog
/// that cannot open says why in `notice`.
fn path_field(ui: &mut egui::Ui, label: &str, value: &mut PathBuf, tip: &str, notice: &mut Option<String>) {
    ui.horizontal(|ui| {
        let l = ui.label(label);
        let mut text = value.display().to_string();
        if ui.text_edit_singleline(&mut text).labelled_by(l.id).on_hover_text(tip).changed() {
            *value = PathBuf::from(text);
        }
        if ui.small_button("...").on_hover_text(format!("browse for {label}")).clicked() {
            let what = if label.contains("directory") { Pick::Folder } else { Pick::Open("JSONL", &["jsonl", "json"]) };
            match file_dialog::pick(what) {
                Ok(Some(p)) => *value = p,
                Ok(None) => {}
                Err(e) => *notice = Some(e),
            }
        }
    });
}
