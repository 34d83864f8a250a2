//! The Python targets: `train_lora.py` (transformers + PEFT on GPUs, or
//! optimum-neuron on Trainium) launched by torchrun (`python -m
//! torch.distributed.run` of the profile's Python), one per node
//! (`srun --ntasks-per-node=1`, whole nodes), with c10d rendezvous when
//! there is more than one node.
//!
//! The examples are tokenised here, by the same code and chat template a
//! local run uses (`data/*.tokens.jsonl`: `input_ids`, and `labels` of -100
//! where no loss is taken), so `data.chat_template`, `data.train_on`,
//! `data.max_seq_len` and the seeded validation split mean exactly what
//! they mean locally. Every other setting is a `train_lora.py` argument in
//! the script's `TRAIN_ARGS` array, named as Hugging Face's
//! `TrainingArguments` names it.

use std::fmt::Write as _;

use super::neuron;
use super::{JobDir, sbatch_head, shared_model};
use crate::config::{Precision, Schedule, TrainConfig};
use crate::data::Dataset;
use crate::error::Result;
use crate::slurm::profile::{Profile, Target};
use crate::slurm::ssh::quote;

/// The training script every Python job runs.
pub const TRAIN_SCRIPT: &str = include_str!("../python/train_lora.py");

/// Where the trainer's own checkpoints go, in the job directory.
const OUTPUT: &str = "output";

/// How the processes of a job are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Nodes.
    pub nodes: u32,
    /// Worker processes per node (torchrun's `--nproc_per_node`).
    pub per_node: u32,
    /// Tensor-parallel degree (1 on GPUs).
    pub tensor_parallel: u32,
}

impl Layout {
    /// The layout `profile` asks for (its instance type on Trainium, with the
    /// profile's tensor parallelism if it sets one; its tasks per node on GPUs).
    pub fn of(profile: &Profile) -> Self {
        let c = &profile.cluster;
        match (c.target, neuron::instance(&c.instance_type)) {
            (Target::Neuron, Some(i)) => {
                let tensor_parallel = if c.tensor_parallel > 0 { c.tensor_parallel } else { i.tensor_parallel };
                Self { nodes: c.nodes, per_node: i.cores, tensor_parallel }
            }
            _ => Self { nodes: c.nodes, per_node: c.tasks_per_node, tensor_parallel: 1 },
        }
    }

    /// Optimizer steps in an epoch of `examples`, as the Hugging Face Trainer
    /// counts them: each replica gets its share of the examples (rounded up),
    /// in micro-batches of `batch`, `accum` of them per step.
    pub fn steps_per_epoch(&self, examples: usize, batch: usize, accum: usize) -> usize {
        let share = examples.div_ceil(self.data_parallel() as usize);
        share.div_ceil(batch.max(1)).div_ceil(accum.max(1)).max(1)
    }

    /// Data-parallel replicas: each sees its own micro-batches.
    pub fn data_parallel(&self) -> u32 {
        (self.nodes * self.per_node / self.tensor_parallel).max(1)
    }

    /// The micro-batch per replica and the accumulation that keep the
    /// config's effective batch (`batch_size` x `grad_accum`) across the
    /// replicas, when it divides; otherwise the config's own, with a note that
    /// the effective batch grows.
    pub fn batch(&self, batch: usize, accum: usize) -> (usize, usize, Option<String>) {
        let dp = self.data_parallel() as usize;
        if dp == 1 {
            (batch, accum, None)
        } else if batch.is_multiple_of(dp) {
            (batch / dp, accum, None)
        } else if accum.is_multiple_of(dp) {
            (batch, accum / dp, None)
        } else {
            let note = format!(
                "the effective batch {batch} x {accum} does not divide over {dp} data-parallel replicas: each takes {batch} x {accum}, \
                 {} examples per step in all",
                batch * accum * dp
            );
            (batch, accum, Some(note))
        }
    }
}

/// What a Python target does not honour of `config` and `profile`, in words.
pub fn not_honoured(config: &TrainConfig, profile: &Profile) -> Vec<String> {
    let c = &profile.cluster;
    let layout = Layout::of(profile);
    let mut out = Vec::new();
    if config.model.device != "cpu" {
        out.push(format!("device {} is not used: torchrun gives each process its accelerator", config.model.device));
    }
    if let Some(note) = layout.batch(config.training.batch_size, config.training.grad_accum).2 {
        out.push(note);
    }
    let t = &config.training;
    if c.target == Target::Cuda && t.checkpoint_every != t.eval_every {
        out.push(format!(
            "checkpoints follow evaluations ({}), not training.checkpoint_every, so the adapter kept is the best one, as locally",
            if t.eval_every > 0 { format!("every {} steps", t.eval_every) } else { "at each epoch's end".into() }
        ));
    }
    if c.target == Target::Neuron && t.precision == Precision::F32 {
        out.push("Trainium trains in bf16: training.precision = \"f32\" is not used".into());
    }
    if c.target == Target::Neuron {
        out.push(
            "optimum-neuron does not evaluate during training: no validation loss, no early stopping, the last adapter is kept \
             (evaluate the fetched adapter here)"
                .into(),
        );
        if c.tasks_per_node != 1 && c.tasks_per_node != layout.per_node {
            out.push(format!(
                "tasks per node = {} is not used: a {} runs {} processes",
                c.tasks_per_node, c.instance_type, layout.per_node
            ));
        }
        if c.deepspeed != 0 {
            out.push("DeepSpeed is a GPU setting: Trainium shards the optimizer with ZeRO-1 instead".into());
        }
        out.push(
            "optimum-neuron cannot resume from a checkpoint: a job HyperPod restarts (--auto-resume) trains again from step 1 \
             (metrics already written are kept)"
                .into(),
        );
        out.push(format!("Trainium pads every example to data.max_seq_len = {} (graphs have fixed shapes)", config.data.max_seq_len));
    } else if c.precompile {
        out.push("pre-compilation is a Trainium setting: not used on GPUs".into());
    }
    out
}

/// The job directory of `config` (resolved, checked) for `profile`'s Python target, named `name`.
pub fn job(config: &TrainConfig, profile: &Profile, name: &str) -> Result<JobDir> {
    super::check(config, profile)?;
    let target = profile.cluster.target;
    let model_config = crate::model::ModelConfig::load(&config.model.path)?;
    let chat = crate::chat::ChatFormat::load(&config.model.path, &model_config, &config.data.chat_template)?;
    let (train, validation) = Dataset::for_training(config, &chat)?;
    let (local_model, key, remote_model) = shared_model(config);
    let mut remote = config.clone();
    remote.model.path = remote_model.clone().into();
    remote.run.runs_dir = "runs".into();
    let mut files = vec![
        (crate::runs::files::CONFIG.to_string(), remote.to_toml().into_bytes()),
        ("train_lora.py".to_string(), TRAIN_SCRIPT.as_bytes().to_vec()),
        ("data/train.tokens.jsonl".to_string(), tokens_jsonl(&train)),
    ];
    if target == Target::Cuda {
        files.push(("data/validation.tokens.jsonl".to_string(), tokens_jsonl(&validation)));
    }
    if profile.cluster.deepspeed != 0 && target == Target::Cuda {
        files.push(("ds_config.json".into(), deepspeed_config(profile.cluster.deepspeed).into_bytes()));
    }
    let (batch, accum, _) = Layout::of(profile).batch(config.training.batch_size, config.training.grad_accum);
    let steps_per_epoch = Layout::of(profile).steps_per_epoch(train.examples.len(), batch, accum);
    let args = train_args(config, profile, &remote_model, name, steps_per_epoch);
    files.push(("job.sbatch".into(), sbatch(profile, name, &args).into_bytes()));
    Ok(JobDir { name: name.into(), model: (local_model, key), uploads: Vec::new(), files })
}

/// The examples as JSON lines of `input_ids` and `labels` (-100: no loss).
fn tokens_jsonl(set: &Dataset) -> Vec<u8> {
    let mut out = String::new();
    for ex in &set.examples {
        let labels: Vec<i64> = ex.ids.iter().zip(&ex.trained).map(|(&id, &t)| if t { i64::from(id) } else { -100 }).collect();
        let _ = writeln!(out, "{}", serde_json::json!({ "input_ids": ex.ids, "labels": labels }));
    }
    out.into_bytes()
}

/// `train_lora.py`'s arguments for `config` on `profile`'s target, for a
/// training set of `steps_per_epoch` optimizer steps an epoch.
pub fn train_args(
    config: &TrainConfig,
    profile: &Profile,
    model: &str,
    name: &str,
    steps_per_epoch: usize,
) -> Vec<(String, Option<String>)> {
    let t = &config.training;
    let l = &config.lora;
    let layout = Layout::of(profile);
    let (batch, accum, _) = layout.batch(t.batch_size, t.grad_accum);
    let schedule = match t.schedule {
        Schedule::Cosine => "cosine",
        Schedule::Linear => "linear",
        Schedule::Constant => "constant_with_warmup",
    };
    let target = profile.cluster.target;
    // The run's steps as the local trainer counts them (the Trainer's epochs round the last accumulation
    // window down): max_steps makes the Trainer train exactly as many.
    let max_steps = t.total_steps(steps_per_epoch);
    // optimum-neuron does not evaluate during training.
    let evaluates = target == Target::Cuda;
    let mut args: Vec<(&str, Option<String>)> = vec![
        ("accelerator", Some(target.name().into())),
        ("model", Some(model.into())),
        ("train_file", Some("data/train.tokens.jsonl".into())),
        ("run_dir", Some(format!("runs/{name}"))),
        ("output_dir", Some(OUTPUT.into())),
        ("config", Some(crate::runs::files::CONFIG.into())),
        ("lora_r", Some(l.rank.to_string())),
        ("lora_alpha", Some(l.alpha.to_string())),
        ("lora_dropout", Some(l.dropout.to_string())),
        ("target_modules", Some(l.peft_target_names().join(","))),
        ("per_device_train_batch_size", Some(batch.to_string())),
        ("gradient_accumulation_steps", Some(accum.to_string())),
        ("learning_rate", Some(t.learning_rate.to_string())),
        ("weight_decay", Some(t.weight_decay.to_string())),
        ("adam_beta1", Some(t.beta1.to_string())),
        ("adam_beta2", Some(t.beta2.to_string())),
        ("adam_epsilon", Some(t.eps.to_string())),
        ("lr_scheduler_type", Some(schedule.into())),
        ("warmup_ratio", Some(t.warmup_ratio.to_string())),
        ("warmup_steps", Some(t.warmup_steps.map_or(-1, |w| w as i64).to_string())),
        ("num_train_epochs", Some(t.epochs.to_string())),
        ("max_steps", Some(max_steps.to_string())),
        ("max_grad_norm", Some(t.max_grad_norm.to_string())),
        ("eval_steps", Some(if evaluates { t.eval_every } else { 0 }.to_string())),
        ("early_stopping_patience", Some(if evaluates { t.early_stopping_patience } else { 0 }.to_string())),
        ("early_stopping_threshold", Some(t.early_stopping_min_delta.to_string())),
        ("seed", Some(t.seed.to_string())),
        ("logging_steps", Some(t.log_every.max(1).to_string())),
        // Trainium checkpoints cannot be resumed from (see neuron): none are written.
        ("save_steps", Some(if evaluates { t.checkpoint_every } else { 0 }.to_string())),
        ("save_total_limit", Some(t.keep_checkpoints.max(1).to_string())),
        ("max_length", Some(config.data.max_seq_len.to_string())),
    ];
    // bf16 mixed precision as asked for; Trainium always trains in bf16.
    if t.precision == Precision::Bf16 || target == Target::Neuron {
        args.push(("bf16", None));
    }
    // No validation file on Trainium (it does not evaluate).
    if evaluates {
        args.push(("validation_file", Some("data/validation.tokens.jsonl".into())));
    }
    if t.gradient_checkpointing {
        args.push(("gradient_checkpointing", None));
    }
    match target {
        Target::Neuron => {
            args.push(("tensor_parallel_size", Some(layout.tensor_parallel.to_string())));
            args.push(("zero_1", None));
        }
        _ if profile.cluster.deepspeed != 0 => args.push(("deepspeed", Some("ds_config.json".into()))),
        _ => {}
    }
    args.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// `job.sbatch` of a Python target.
fn sbatch(profile: &Profile, name: &str, args: &[(String, Option<String>)]) -> String {
    let c = &profile.cluster;
    let layout = Layout::of(profile);
    let neuron = c.target == Target::Neuron;
    // Whole nodes, as the AWS samples take them: the Neuron runtime owns every core, and torchrun's workers
    // need the node's CPUs. GPUs must also be asked for: an exclusive job's step does not get them implicitly.
    let gpus = format!("--gpus-per-node={}", c.tasks_per_node);
    let extra: Vec<&str> = if c.target == Target::Cuda && c.request_gpus { vec!["--exclusive", &gpus] } else { vec!["--exclusive"] };
    let mut s = sbatch_head(profile, name, c.nodes, &extra);
    s += "export PYTHONUNBUFFERED=1\n";
    if neuron {
        s += &neuron::environment(c.nodes);
    }
    s += &format!("PYTHON={}\n", quote(&c.python));
    // HyperPod replaces a failed node and restarts the job when srun asks it to.
    s += "AUTO_RESUME=\"\"\nif [ -d /opt/sagemaker_cluster ]; then AUTO_RESUME=\"--auto-resume=1\"; fi\n";
    if c.nodes > 1 {
        s += "MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)\n";
        s += &format!(
            "LAUNCH=(\"$PYTHON\" -m torch.distributed.run --nnodes=\"$SLURM_JOB_NUM_NODES\" --nproc_per_node={} \
             --rdzv_id=\"$SLURM_JOB_ID\" --rdzv_backend=c10d --rdzv_endpoint=\"$MASTER_ADDR:29500\")\n",
            layout.per_node
        );
    } else {
        s += &format!("LAUNCH=(\"$PYTHON\" -m torch.distributed.run --standalone --nproc_per_node={})\n", layout.per_node);
    }
    s += "TRAIN_ARGS=(\n";
    for (k, v) in args {
        match v {
            Some(v) => s += &format!("  --{k} {}\n", quote(v)),
            None => s += &format!("  --{k}\n"),
        }
    }
    s += ")\n";
    if neuron && c.precompile {
        // Graph extraction runs a few steps only (see neuron::PRECOMPILE_STEPS), into folders of its own.
        s += &format!(
            "srun --ntasks-per-node=1 env NEURON_EXTRACT_GRAPHS_ONLY=1 neuron_parallel_compile \"${{LAUNCH[@]}}\" train_lora.py \
             \"${{TRAIN_ARGS[@]}}\" --max_steps {} --save_steps 0 --run_dir precompile/run --output_dir precompile/output\n",
            neuron::PRECOMPILE_STEPS
        );
    }
    s += "srun $AUTO_RESUME --ntasks-per-node=1 \"${LAUNCH[@]}\" train_lora.py \"${TRAIN_ARGS[@]}\"\n";
    if neuron {
        // The adapter is sharded by tensor parallelism: `optimum-cli neuron consolidate`, run by the script
        // (so the run's heartbeat goes on), makes it a standard PEFT adapter.
        s += "\"$PYTHON\" train_lora.py \"${TRAIN_ARGS[@]}\" --consolidate\n";
    }
    s
}

/// A DeepSpeed ZeRO config for the Hugging Face Trainer ("auto": taken from
/// the Trainer's arguments), as transformers' `docs/source/en/deepspeed.md` gives it.
fn deepspeed_config(stage: u8) -> String {
    let mut zero = serde_json::json!({
        "stage": stage,
        "overlap_comm": true,
        "contiguous_gradients": true,
        "reduce_bucket_size": "auto",
    });
    if stage == 3 {
        zero["stage3_prefetch_bucket_size"] = "auto".into();
        zero["stage3_param_persistence_threshold"] = "auto".into();
        zero["stage3_gather_16bit_weights_on_model_save"] = true.into();
    }
    let config = serde_json::json!({
        "bf16": { "enabled": "auto" },
        "zero_optimization": zero,
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::*;
    use crate::slurm::profile::Cluster;

    fn sample() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample_data")
    }

    /// The sample config with Story A's settings.
    fn story_a(model: Option<&Path>) -> TrainConfig {
        let mut c = TrainConfig::load(&sample().join("configs/quick-smoke.toml")).unwrap();
        if let Some(m) = model {
            c.model.path = m.to_path_buf();
        }
        c.lora = crate::config::LoraSection { rank: 64, alpha: 128.0, dropout: 0.05, target_modules: vec!["all-linear".into()] };
        let t = &mut c.training;
        (t.batch_size, t.grad_accum, t.learning_rate, t.warmup_ratio, t.epochs, t.max_steps) = (32, 4, 2e-4, 0.1, 3, None);
        (t.early_stopping_patience, t.early_stopping_min_delta, t.gradient_checkpointing, t.seed) = (3, 0.01, true, 7);
        t.precision = Precision::Bf16;
        c
    }

    /// How many training examples `config` has, as the job tokenises them.
    fn train_count(config: &TrainConfig) -> usize {
        let model_config = crate::model::ModelConfig::load(&config.model.path).unwrap();
        let chat = crate::chat::ChatFormat::load(&config.model.path, &model_config, &config.data.chat_template).unwrap();
        Dataset::for_training(config, &chat).unwrap().0.examples.len()
    }

    fn profile(target: Target, nodes: u32, tasks_per_node: u32) -> Profile {
        Profile {
            name: "hyperpod".into(),
            cluster: Cluster { target, nodes, tasks_per_node, setup: vec!["source /fsx/venv/bin/activate".into()], ..Default::default() },
            ..Default::default()
        }
    }

    /// Writes the job directory, checks its scripts (`bash -n`, `py_compile`)
    /// and returns `train_lora.py`'s own reading of the script's arguments.
    fn written_and_read_back(job: &JobDir) -> (tempfile::TempDir, serde_json::Value) {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in &job.files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let run = |cmd: &mut Command| {
            let out = cmd.current_dir(dir.path()).output().unwrap();
            assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        run(Command::new("bash").args(["-n", "job.sbatch"]));
        run(Command::new("python3").args(["-m", "py_compile", "train_lora.py"]));
        let read = "source <(sed -n '/^TRAIN_ARGS=(/,/^)/p' job.sbatch); python3 train_lora.py --check_args \"${TRAIN_ARGS[@]}\"";
        let args = run(Command::new("bash").args(["-c", read]));
        (dir, serde_json::from_str(&args).unwrap())
    }

    #[test]
    fn the_gpu_job_maps_every_setting_to_its_argument_keeps_the_effective_batch_and_ships_tokenised_data() {
        let config = story_a(None);
        let mut p = profile(Target::Cuda, 2, 4);
        p.cluster.deepspeed = 3;
        let job = job(&config, &p, "hr-lora-1").unwrap();
        let (dir, args) = written_and_read_back(&job);
        let expect = serde_json::json!({
            "accelerator": "cuda", "model": format!("../models/{}", job.model.1), "run_dir": "runs/hr-lora-1",
            "lora_r": 64, "lora_alpha": 128.0, "lora_dropout": 0.05,
            // Phi-3's fused modules too: PEFT adapts whichever names the model has.
            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "qkv_proj", "gate_up_proj"],
            // 32 x 4 over 2 nodes x 4 GPUs: 4 x 4 on each of 8 replicas, 128 examples per step as configured.
            "per_device_train_batch_size": 4, "gradient_accumulation_steps": 4,
            "learning_rate": 2e-4, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1, "warmup_steps": -1, "num_train_epochs": 3,
            "max_steps": 3 * Layout::of(&p).steps_per_epoch(train_count(&config), 4, 4), "eval_steps": 5, "early_stopping_patience": 3, "early_stopping_threshold": 0.01,
            "gradient_checkpointing": true, "seed": 7, "max_length": 128, "bf16": true, "deepspeed": "ds_config.json",
            "tensor_parallel_size": 1, "zero_1": false, "save_steps": 5,
        });
        for (key, want) in expect.as_object().unwrap() {
            assert_eq!(&args[key], want, "{key}");
        }
        // An f32 config trains the GPU job in f32.
        let mut f32_config = config.clone();
        f32_config.training.precision = Precision::F32;
        assert!(!train_args(&f32_config, &p, "m", "x", 10).iter().any(|(k, _)| k == "bf16"));
        let script = job.text("job.sbatch");
        for line in [
            "#SBATCH --nodes=2",
            "#SBATCH --gpus-per-node=4",
            "#SBATCH --ntasks-per-node=1",
            "source /fsx/venv/bin/activate",
            "--nproc_per_node=4 --rdzv_id=\"$SLURM_JOB_ID\" --rdzv_backend=c10d",
            "srun $AUTO_RESUME --ntasks-per-node=1 \"${LAUNCH[@]}\" train_lora.py \"${TRAIN_ARGS[@]}\"",
            "if [ -d /opt/sagemaker_cluster ]; then AUTO_RESUME=\"--auto-resume=1\"",
        ] {
            assert!(script.contains(line), "{line} in\n{script}");
        }
        assert!(!script.contains("neuron") && script.contains("#SBATCH --exclusive"));
        let ds: serde_json::Value = serde_json::from_str(job.text("ds_config.json")).unwrap();
        assert_eq!((ds["zero_optimization"]["stage"].as_u64(), ds["train_micro_batch_size_per_gpu"].as_str()), (Some(3), Some("auto")));
        // The tokenised examples are the local trainer's: same count, loss only where it takes loss.
        let model_config = crate::model::ModelConfig::load(&config.model.path).unwrap();
        let chat = crate::chat::ChatFormat::load(&config.model.path, &model_config, &config.data.chat_template).unwrap();
        let (train, validation) = Dataset::for_training(&config, &chat).unwrap();
        for (file, set) in [("train", &train), ("validation", &validation)] {
            let text = std::fs::read_to_string(dir.path().join(format!("data/{file}.tokens.jsonl"))).unwrap();
            let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert_eq!(lines.len(), set.examples.len(), "{file}");
            for (line, ex) in lines.iter().zip(&set.examples) {
                let ids: Vec<u32> = serde_json::from_value(line["input_ids"].clone()).unwrap();
                let labels: Vec<i64> = serde_json::from_value(line["labels"].clone()).unwrap();
                assert_eq!(ids, ex.ids);
                let want: Vec<i64> = ex.ids.iter().zip(&ex.trained).map(|(&i, &t)| if t { i64::from(i) } else { -100 }).collect();
                assert_eq!(labels, want);
            }
        }
        assert!(text_has_prompt_masked(&dir.path().join("data/train.tokens.jsonl")));
        assert!(not_honoured(&config, &p).is_empty(), "{:?}", not_honoured(&config, &p));
        // max_steps is the run's steps as the local trainer counts them: the smaller of max_steps and the epochs'.
        let steps = |max_steps: Option<usize>| {
            let mut c = config.clone();
            (c.training.max_steps, c.training.epochs) = (max_steps, 1);
            let (_, args) = written_and_read_back(&super::job(&c, &p, "m").unwrap());
            args["max_steps"].as_i64().unwrap()
        };
        let per_epoch = Layout::of(&p).steps_per_epoch(train.examples.len(), 4, 4) as i64;
        assert_eq!((steps(Some(1)), steps(Some(100_000)), steps(None)), (1, per_epoch, per_epoch));
        // Full fine-tuning is the engine's alone.
        let mut full = config.clone();
        full.training.mode = crate::config::TrainMode::Full;
        assert!(super::job(&full, &p, "x").unwrap_err().to_string().contains("mode"));
    }

    /// Whether some label of the file is -100 (prompts carry no loss).
    fn text_has_prompt_masked(path: &Path) -> bool {
        std::fs::read_to_string(path).unwrap().contains("-100")
    }

    #[test]
    fn the_trainium_job_uses_the_instances_cores_and_tensor_parallelism_precompiles_briefly_and_consolidates() {
        // The sample model is a Mistral: optimum-neuron cannot train it, and says so before anything is uploaded.
        let p = profile(Target::Neuron, 1, 1);
        let e = job(&story_a(None), &p, "x").unwrap_err().to_string();
        assert!(e.contains("\"mistral\"") && e.contains("llama"), "{e}");
        // The same weights as a Llama (the architecture is the same) are accepted.
        let llama = tempfile::tempdir().unwrap();
        for f in std::fs::read_dir(sample().join("model")).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, llama.path().join(f.file_name().unwrap())).unwrap();
        }
        let cfg = std::fs::read_to_string(llama.path().join("config.json")).unwrap().replace("\"mistral\"", "\"llama\"");
        std::fs::write(llama.path().join("config.json"), cfg).unwrap();
        let mut p = profile(Target::Neuron, 1, 1);
        (p.cluster.instance_type, p.cluster.precompile) = ("trn2.48xlarge".into(), true);
        // Its 6 heads (2 key/value heads) do not split over the instance's TP 4: said before submitting, with what fits.
        let e = job(&story_a(Some(llama.path())), &p, "x").unwrap_err().to_string();
        assert!(e.contains("6 attention heads") && e.contains("set cluster.tensor_parallel to 1 or 2 "), "{e}");
        p.cluster.tensor_parallel = 2;
        let job = job(&story_a(Some(llama.path())), &p, "hr-lora-2").unwrap();
        let (_dir, args) = written_and_read_back(&job);
        // 64 NeuronCores with TP 2: 32 replicas, so 1 x 4 each keeps 32 x 4; no evaluation on Trainium.
        for (key, want) in [
            ("accelerator", serde_json::json!("neuron")),
            ("tensor_parallel_size", 2.into()),
            ("zero_1", true.into()),
            ("per_device_train_batch_size", 1.into()),
            ("gradient_accumulation_steps", 4.into()),
            ("deepspeed", serde_json::Value::Null),
            ("validation_file", serde_json::Value::Null),
            ("eval_steps", 0.into()),
            ("early_stopping_patience", 0.into()),
        ] {
            assert_eq!(args[key], want, "{key}");
        }
        assert!(job.text("data/validation.tokens.jsonl").is_empty() && !job.text("data/train.tokens.jsonl").is_empty());
        let script = job.text("job.sbatch");
        for line in [
            "#SBATCH --exclusive",
            "export NEURON_CC_FLAGS=",
            "export NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS=3",
            "LAUNCH=(\"$PYTHON\" -m torch.distributed.run --standalone --nproc_per_node=64)",
            "env NEURON_EXTRACT_GRAPHS_ONLY=1 neuron_parallel_compile \"${LAUNCH[@]}\" train_lora.py \"${TRAIN_ARGS[@]}\" --max_steps 5 --save_steps 0 --run_dir precompile/run",
            "\"$PYTHON\" train_lora.py \"${TRAIN_ARGS[@]}\" --consolidate",
        ] {
            assert!(script.contains(line), "{line} in\n{script}");
        }
        // Pre-compilation runs before training, consolidation after it.
        let at = |s: &str| script.find(s).unwrap();
        assert!(at("neuron_parallel_compile") < at("srun $AUTO_RESUME") && at("srun $AUTO_RESUME") < at("--consolidate"));
        let notes = not_honoured(&story_a(None), &p);
        assert!(notes.iter().any(|n| n.contains("auto-resume")) && notes.iter().any(|n| n.contains("does not evaluate")), "{notes:?}");
        // An f32 config still trains in bf16 on Trainium, and is told so.
        let mut f32_config = story_a(Some(llama.path()));
        f32_config.training.precision = Precision::F32;
        assert!(not_honoured(&f32_config, &p).iter().any(|n| n.contains("Trainium trains in bf16")));
        assert!(train_args(&f32_config, &p, "m", "x", 10).iter().any(|(k, _)| k == "bf16"));
        // Two trn1.32xlarge nodes: rendezvous over EFA, 64 processes with TP 2, 32 replicas.
        (p.cluster.instance_type, p.cluster.nodes) = ("trn1.32xlarge".into(), 2);
        assert_eq!(Layout::of(&p).data_parallel(), 32);
        let two = super::job(&story_a(Some(llama.path())), &p, "hr-lora-3").unwrap();
        let script = two.text("job.sbatch");
        assert!(script.contains("--nproc_per_node=32 --rdzv_id") && script.contains("FI_PROVIDER=efa"), "{script}");
        let (_dir, args) = written_and_read_back(&two);
        assert_eq!((args["per_device_train_batch_size"].as_u64(), args["tensor_parallel_size"].as_u64()), (Some(1), Some(2)));
    }

    #[test]
    fn the_python_jobs_run_directory_survives_a_restart_and_reads_as_a_local_runs() {
        // train_lora.py's Run without torch: what a restarted job (HyperPod --auto-resume) finds and writes.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train_lora.py"), TRAIN_SCRIPT).unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("metrics.jsonl"), "{\"step\": 1, \"epoch\": 0.1, \"elapsed_s\": 1, \"loss\": 2.0}\n{\"step\": 2, \"ep")
            .unwrap();
        std::fs::write(dir.path().join("config.toml"), story_a(None).to_toml()).unwrap();
        let script = "import sys, math\nsys.path.insert(0, '.')\nimport train_lora as t\nrun = t.Run('run', True, 'config.toml')\nassert run.last_step == 1, run.last_step\n\
            run.metric({'step': 1, 'epoch': 0.1, 'elapsed_s': 5.0, 'loss': 9.0})\n\
            run.metric({'step': 2, 'epoch': 0.2, 'elapsed_s': 6.0, 'loss': math.nan, 'grad_norm': math.inf, 'tokens_per_s': None})\n\
            run.update(step=2, total_steps=10, state='finished')\n";
        let out = Command::new("python3").args(["-c", script]).current_dir(dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // The torn line is gone, step 1 is not repeated, NaN and inf are written as the workbench writes them.
        let records = crate::runs::RunDir::open(&run).unwrap().metrics().unwrap();
        assert_eq!(records.iter().map(|r| r.step).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(records[0].loss, Some(2.0));
        assert!(
            records[1].loss.is_some_and(f64::is_nan) && records[1].grad_norm == Some(f64::INFINITY) && records[1].tokens_per_s.is_none()
        );
        let status = crate::runs::Status::read(&run).unwrap();
        assert_eq!((status.state, status.step, status.total_steps), (crate::runs::RunState::Finished, 2, 10));
        assert!(status.heartbeat_unix > 0 && !status.host.is_empty());
        assert!(std::fs::read_dir(&run).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains(".tmp")));
        assert_eq!(TrainConfig::load(&run.join("config.toml")).unwrap().lora.rank, 64, "the config is kept with the run");
    }

    #[test]
    fn an_effective_batch_that_does_not_divide_is_said() {
        let layout = Layout { nodes: 1, per_node: 3, tensor_parallel: 1 };
        assert_eq!(layout.batch(6, 4), (2, 4, None));
        assert_eq!(layout.batch(4, 6), (4, 2, None));
        let (b, a, note) = layout.batch(4, 4);
        assert_eq!((b, a), (4, 4));
        assert!(note.unwrap().contains("48 examples per step"));
    }
}
