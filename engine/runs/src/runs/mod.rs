//! The run store: every run is a directory whose layout is a contract that
//! other programs (a remote trainer, the GUI) read and write too.
//!
//! ```text
//! RUN_DIR/
//!   config.toml        the resolved training config (absolute paths)
//!   status.json        state, step, best validation loss, host and heartbeat (see [`status`])
//!   metrics.jsonl      one JSON object per logged step (see [`metrics`])
//!   train.log          human-readable log
//!   notes.json         a person's display name, tags and note (see [`notes`])
//!   checkpoints/step-NNNNNNNN/   resumable checkpoints (see workbench-train's `train::checkpoint`)
//!   adapter/           the final LoRA adapter in PEFT layout (LoRA runs)
//!   model/             the final full model in Hugging Face layout (full runs)
//!   evaluations.json   perplexity tables of this run's adapter (see workbench-eval's `eval::saved`)
//! ```
//! The names have one home, [`files`].
//! Every file is written atomically (see [`crate::atomic`]).

pub mod files;
pub mod job_output;
pub mod metrics;
pub mod notes;
pub mod run_dir;
pub mod status;

pub use metrics::MetricRecord;
pub use notes::Notes;
pub use run_dir::RunDir;
pub use status::{LiveStatus, RunState, Status};
