//! The Remote tab drawn: the profile form and its target's settings, the
//! test report and host key, Submit with its preflight, the remote runs with
//! their Slurm jobs, and a run's job output. The state it draws and changes
//! is [`super::RemotePanel`]'s.

use super::*;

impl RemotePanel {
    /// Draws the tab; `config` is the Configure tab's.
    pub fn ui(&mut self, ui: &mut egui::Ui, config: &TrainConfig, runs: &[RunEntry]) -> Option<RemoteAction> {
        let mut action = None;
        self.follow_saved();
        ui.horizontal(|ui| {
            let l = ui.label("Profile");
            egui::ComboBox::from_id_salt("remote-profile")
                .selected_text(self.profile.name.clone())
                .show_ui(ui, |ui| {
                    let names: Vec<String> = self.saved.keys().cloned().collect();
                    for name in names {
                        if ui.selectable_label(name == self.profile.name, &name).clicked() {
                            self.load(&name);
                        }
                    }
                })
                .response
                .labelled_by(l.id);
            if ui.button("Save profile").clicked() {
                self.save();
            }
        });
        egui::Grid::new("remote-profile-form").num_columns(4).show(ui, |ui| {
            let s = &mut self.profile.ssh;
            text_row(ui, "Name", &mut self.profile.name, "my-cluster");
            opt_row(ui, "User", &mut s.user, "from ~/.ssh/config");
            ui.end_row();
            text_row(ui, "Host", &mut s.host, "login node, or a ~/.ssh/config Host alias");
            opt_row(ui, "Jump host", &mut s.jump_host, "bastion (optional)");
            ui.end_row();
            let mut port = s.port.map_or_else(String::new, |p| p.to_string());
            text_row(ui, "Port", &mut port, "22");
            s.port = port.trim().parse().ok();
            let mut key = s.identity_file.as_ref().map_or_else(String::new, |k| k.display().to_string());
            text_row(ui, "Key file", &mut key, "from the agent or ~/.ssh/config");
            s.identity_file = (!key.is_empty()).then(|| PathBuf::from(key));
            ui.end_row();
            let mut cfg_file = s.config_file.as_ref().map_or_else(String::new, |k| k.display().to_string());
            text_row(ui, "SSH config", &mut cfg_file, "~/.ssh/config");
            s.config_file = (!cfg_file.is_empty()).then(|| PathBuf::from(cfg_file));
            let c = &mut self.profile.cluster;
            text_row(ui, "Partition", &mut c.partition, "the default");
            ui.end_row();
            text_row(ui, "Time limit", &mut c.time_limit, "HH:MM:SS");
            text_row(ui, "Account", &mut c.account, "none");
            ui.end_row();
            text_row(ui, "Remote folder", &mut c.remote_dir, "/fsx/you/workbench");
            text_row(ui, "Price per node-hour", &mut self.price, "for the cost estimate, e.g. 21.50");
            c.price_per_node_hour = self.price.trim().trim_start_matches('$').parse().unwrap_or(0.0);
            ui.end_row();
        });
        self.target_form(ui);
        ui.horizontal(|ui| {
            let l = ui.label("Set-up lines");
            ui.add(
                egui::TextEdit::multiline(&mut self.setup)
                    .desired_rows(2)
                    .desired_width(500.0)
                    .hint_text("module load ...\nsource ~/venv/bin/activate"),
            )
            .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            let busy = self.job.is_some();
            if ui.add_enabled(!busy, egui::Button::new("Test connection")).clicked()
                && let Some(p) = self.checked()
            {
                action = Some(RemoteAction::Start(Box::new(RemoteTask::Test(p)), None));
            }
            let valid = self.preflight(config).can_submit;
            let submit = ui.add_enabled(!busy && valid, egui::Button::new("Submit the configured run"));
            if submit
                .on_hover_text(format!("{} on the cluster: {}", config.run.name, self.profile.cluster.target.describe()))
                .on_disabled_hover_text("fix the config in the Configure tab first, or choose a target that can train it")
                .clicked()
                && let Some(p) = self.checked()
            {
                // Saved, so the run's later Watch / Cancel / Fetch (and re-attaching) find this very profile.
                self.save();
                action = Some(RemoteAction::Submit(Box::new(p), Box::new(config.clone())));
            }
            if busy {
                ui.spinner();
            }
        });
        let pre = self.preflight(config);
        let color = if pre.refused { Color32::from_rgb(220, 50, 50) } else { ui.visuals().text_color() };
        ui.label(RichText::new(pre.text.clone()).color(color));
        if let Some((text, bad)) = &self.notice {
            let color = if *bad { Color32::from_rgb(220, 50, 50) } else { ui.visuals().weak_text_color() };
            ui.label(RichText::new(text).color(color));
        }
        if let Some(key) = self.host_key.clone() {
            ui.label(format!("Host key of {} (compare with what your administrator gives):", key.host));
            for (_, print) in &key.keys {
                ui.horizontal(|ui| {
                    ui.monospace(print);
                    if ui.button(format!("Accept {print}")).clicked()
                        && let Some(p) = self.checked()
                    {
                        let fingerprint = print.split_whitespace().last().unwrap_or_default().to_string();
                        action = Some(RemoteAction::Start(Box::new(RemoteTask::Trust(p, fingerprint)), None));
                    }
                });
            }
        }
        if let Some(r) = &self.report {
            for line in r.lines() {
                ui.label(line);
            }
        }
        ui.separator();
        ui.strong("Remote runs");
        egui::Grid::new("remote-runs").striped(true).show(ui, |ui| {
            for r in runs {
                let Some(remote) = &r.remote else { continue };
                ui.label(&r.name);
                ui.label(format!("job {}", remote.job_id));
                let state = self
                    .watching
                    .get(&r.path)
                    .map_or_else(|| format!("{:?}", r.state.unwrap_or(engine::runs::RunState::Running)).to_lowercase(), |w| w.1.clone());
                ui.label(state);
                let mut clicked = None;
                if ui.button(format!("Watch {}", r.name)).clicked() {
                    clicked = Some(0);
                }
                if ui.button(format!("Cancel job {}", r.name)).clicked() {
                    clicked = Some(1);
                }
                if ui.button(format!("Fetch adapter {}", r.name)).clicked() {
                    clicked = Some(2);
                }
                if ui.button(format!("Log {}", r.name)).on_hover_text("the job's output (slurm.log)").clicked() {
                    let shown = self.log.as_ref().is_some_and(|log| log.run == r.path);
                    self.log = (!shown).then(|| JobLog::new(r.path.clone()));
                }
                // Only the run's own profile (read when a button is clicked): another could reach another
                // cluster, where the same job id is someone else's.
                match (clicked, clicked.and_then(|_| self.saved(&remote.profile))) {
                    (None, _) => {}
                    (Some(_), None) => {
                        self.notice =
                            Some((format!("the profile {:?} this run was submitted with is not saved here", remote.profile), true))
                    }
                    (Some(0), Some(p)) => {
                        action = Some(RemoteAction::Start(Box::new(RemoteTask::Watch(p, r.path.clone())), Some(r.path.clone())))
                    }
                    (Some(1), Some(p)) => action = Some(RemoteAction::Cancel(Box::new(p), r.path.clone())),
                    (Some(_), Some(p)) => action = Some(RemoteAction::Start(Box::new(RemoteTask::Fetch(p, r.path.clone())), None)),
                }
                ui.end_row();
            }
        });
        self.log_ui(ui);
        action
    }

    /// The shown run's job output: its last part, re-read every second off the window's thread.
    fn log_ui(&mut self, ui: &mut egui::Ui) {
        let Some(log) = &mut self.log else { return };
        ui.ctx().request_repaint_after(log.poll());
        ui.separator();
        let name = log.run.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        ui.strong(format!("Job output of {name}"));
        egui::ScrollArea::vertical().id_salt("remote-log").max_height(ui.available_height()).stick_to_bottom(true).show(ui, |ui| {
            ui.add(egui::Label::new(RichText::new(log.text.as_str()).monospace().small()).wrap());
        });
    }
}

impl RemotePanel {
    /// The target and the settings it reads: devices per node, DeepSpeed and
    /// Python for GPUs; instance type, pre-compilation and Python for Trainium.
    fn target_form(&mut self, ui: &mut egui::Ui) {
        let c = &mut self.profile.cluster;
        ui.horizontal(|ui| {
            let l = ui.label("Target");
            egui::ComboBox::from_id_salt("remote-target")
                .selected_text(c.target.describe())
                .show_ui(ui, |ui| {
                    for t in Target::ALL {
                        ui.selectable_value(&mut c.target, t, t.describe());
                    }
                })
                .response
                .labelled_by(l.id);
        });
        egui::Grid::new("remote-target-form").num_columns(4).show(ui, |ui| match c.target {
            Target::Engine => {
                text_row(ui, "Workbench program", &mut c.workbench, "workbench");
                ui.end_row();
            }
            Target::Cuda => {
                number_row(ui, "Nodes", &mut c.nodes);
                number_row(ui, "GPUs per node", &mut c.tasks_per_node);
                ui.end_row();
                let l = ui.label("DeepSpeed");
                egui::ComboBox::from_id_salt("remote-deepspeed")
                    .selected_text(deepspeed_name(c.deepspeed))
                    .show_ui(ui, |ui| {
                        for stage in [0, 2, 3] {
                            ui.selectable_value(&mut c.deepspeed, stage, deepspeed_name(stage));
                        }
                    })
                    .response
                    .labelled_by(l.id);
                text_row(ui, "Python", &mut c.python, "python3 of the set-up environment");
                ui.end_row();
                ui.label("");
                ui.checkbox(&mut c.request_gpus, "Ask Slurm for the GPUs (--gpus-per-node)")
                    .on_hover_text("off on clusters where Slurm does not manage GPUs as a resource (GRES)");
                ui.end_row();
            }
            Target::Neuron => {
                number_row(ui, "Nodes", &mut c.nodes);
                let l = ui.label("Instance type");
                egui::ComboBox::from_id_salt("remote-instance")
                    .selected_text(c.instance_type.clone())
                    .show_ui(ui, |ui| {
                        for i in neuron::INSTANCES {
                            let text = format!("{} ({} NeuronCores, TP {})", i.name, i.cores, i.tensor_parallel);
                            ui.selectable_value(&mut c.instance_type, i.name.to_string(), text);
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
                text_row(ui, "Python", &mut c.python, "python3 of the Neuron environment");
                let l = ui.label("Tensor parallel");
                ui.add(egui::DragValue::new(&mut c.tensor_parallel).range(0..=64))
                    .labelled_by(l.id)
                    .on_hover_text("0: the instance type's (as optimum-neuron's examples); 1 for a small model whose heads do not split");
                ui.end_row();
                ui.label("");
                ui.checkbox(&mut c.precompile, "Pre-compile the graphs (neuron_parallel_compile, a few steps)");
                ui.end_row();
            }
        });
    }
}

/// A DeepSpeed stage as the window names it.
fn deepspeed_name(stage: u8) -> &'static str {
    match stage {
        2 => "ZeRO-2",
        3 => "ZeRO-3",
        _ => "none",
    }
}

/// A labelled whole-number field (at least 1) in a grid row.
fn number_row(ui: &mut egui::Ui, label: &str, value: &mut u32) {
    let l = ui.label(label);
    ui.add(egui::DragValue::new(value).range(1..=4096)).labelled_by(l.id);
}

/// A labelled one-line text field in a grid row.
fn text_row(ui: &mut egui::Ui, label: &str, value: &mut String, hint: &str) {
    let l = ui.label(label);
    ui.add_sized([260.0, 20.0], egui::TextEdit::singleline(value).hint_text(hint)).labelled_by(l.id);
}

/// A labelled optional text field (empty is None).
fn opt_row(ui: &mut egui::Ui, label: &str, value: &mut Option<String>, hint: &str) {
    let mut text = value.clone().unwrap_or_default();
    text_row(ui, label, &mut text, hint);
    *value = (!text.is_empty()).then_some(text);
}
