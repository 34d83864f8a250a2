//! The file and folder names of a run directory: their one home, for the
//! engine, the window and other producers (a remote job's script).

/// The resolved training config.
pub const CONFIG: &str = "config.toml";
/// State, step, host and heartbeat.
pub const STATUS: &str = "status.json";
/// One JSON record per logged step.
pub const METRICS: &str = "metrics.jsonl";
/// The human-readable log.
pub const LOG: &str = "train.log";
/// A person's display name, tags and note.
pub const NOTES: &str = "notes.json";
/// Resumable checkpoints, one folder per step.
pub const CHECKPOINTS: &str = "checkpoints";
/// The LoRA adapter in PEFT layout.
pub const ADAPTER: &str = "adapter";
/// The fully fine-tuned model in Hugging Face layout.
pub const MODEL: &str = "model";
/// The adapter merged into the base model (written on request).
pub const MERGED: &str = "merged";
/// Perplexity tables of the run's adapter.
pub const EVALUATIONS: &str = "evaluations.json";
/// Inside a checkpoint folder: the loop state (its presence marks a complete checkpoint).
pub const CHECKPOINT_STATE: &str = "state.json";
/// Inside a checkpoint folder: the trained parameters by name.
pub const CHECKPOINT_PARAMS: &str = "trainable.safetensors";
/// Inside a checkpoint folder: the optimizer's moments.
pub const CHECKPOINT_OPTIMIZER: &str = "optimizer.safetensors";
/// A remote run's link to its cluster job: profile, job id, job directory.
pub const REMOTE: &str = "remote.json";
/// A remote run's Slurm output (the job's stdout and stderr), fetched.
pub const SLURM_LOG: &str = "slurm.log";
