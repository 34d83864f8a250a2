//! What the Trainium (Neuron) target adds to the Python job: NeuronCores
//! and tensor parallelism per instance type, the environment optimum-neuron's
//! examples set, the optional graph pre-compilation, consolidating the
//! tensor-parallel adapter shards into a standard PEFT adapter, and the
//! architectures optimum-neuron can train.
//!
//! Sources (huggingface/optimum-neuron v0.4.5, `abf5985`):
//! `examples/training/llama/finetune_llama.sh` (processes and TP degree per
//! instance, the exports), `examples/training/qwen3/finetune_qwen3.{py,sh}`
//! (NeuronSFTTrainer with a PEFT LoraConfig; at most 5 steps while
//! `NEURON_EXTRACT_GRAPHS_ONLY=1`), `optimum/commands/neuron/subcommands.py`
//! (`consolidate CHECKPOINT_DIR [OUTPUT_DIR]`),
//! `optimum/neuron/models/training/auto_models.py` (trainable model types).
//! aws-samples/awsome-distributed-training (`7217859`),
//! `3.test_cases/pytorch/optimum-neuron/llama3/slurm/fine-tuning/submit_jobs/3.finetune.sh`:
//! HyperPod detected by `/opt/sagemaker_cluster`, `srun --auto-resume=1`.

use std::path::Path;

use crate::error::{Error, Result};

/// A Trainium instance type: how many worker processes a node runs and the
/// tensor-parallel degree optimum-neuron's examples use on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instance {
    /// The EC2 name.
    pub name: &'static str,
    /// NeuronCores (logical, one process each) per node: torchrun's `--nproc_per_node`.
    pub cores: u32,
    /// `--tensor_parallel_size`.
    pub tensor_parallel: u32,
}

/// The instance types the workbench knows (finetune_llama.sh: 32 cores TP 8
/// on trn1.32xlarge, 64 TP 4 on trn2.48xlarge, 4 TP 4 on trn2.3xlarge;
/// trn1n.32xlarge has trn1.32xlarge's 16 devices, 32 cores, with more network).
pub const INSTANCES: [Instance; 4] = [
    Instance { name: "trn1.32xlarge", cores: 32, tensor_parallel: 8 },
    Instance { name: "trn1n.32xlarge", cores: 32, tensor_parallel: 8 },
    Instance { name: "trn2.48xlarge", cores: 64, tensor_parallel: 4 },
    Instance { name: "trn2.3xlarge", cores: 4, tensor_parallel: 4 },
];

/// The instance type named `name`.
pub fn instance(name: &str) -> Option<Instance> {
    INSTANCES.iter().copied().find(|i| i.name == name.trim())
}

/// The `model_type`s optimum-neuron trains (auto_models.py registers these).
pub const TRAINABLE: [&str; 3] = ["llama", "granite", "qwen3"];

/// Refuses a model optimum-neuron cannot train, or cannot split over the
/// job's tensor parallelism (its attention heads must divide over it; key and
/// value heads divide, or are replicated to fill it), naming what to change.
pub fn check_model(model_dir: &Path, layout: &super::python::Layout) -> Result<()> {
    let file = model_dir.join("config.json");
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::model(&file, format!("not valid JSON: {e}")))?;
    let kind = value.get("model_type").and_then(|v| v.as_str()).unwrap_or("(none)");
    if !TRAINABLE.contains(&kind) {
        return Err(Error::model(
            &file,
            format!(
                "model_type {kind:?} cannot be trained on Trainium: optimum-neuron trains {} (Mistral is not one). \
                 Use the cuda or engine target for this model",
                TRAINABLE.join(", ")
            ),
        ));
    }
    let count = |key: &str| value.get(key).and_then(serde_json::Value::as_u64).map(|n| n as u32);
    let heads = count("num_attention_heads").unwrap_or(0);
    let kv = count("num_key_value_heads").unwrap_or(heads);
    let fits = |tp: u32| tp > 0 && heads.is_multiple_of(tp) && kv > 0 && (kv.is_multiple_of(tp) || tp.is_multiple_of(kv));
    let tp = layout.tensor_parallel;
    if fits(tp) {
        return Ok(());
    }
    let cores = layout.per_node;
    let choices: Vec<String> = (1..=cores).filter(|&d| cores.is_multiple_of(d) && fits(d)).map(|d| d.to_string()).collect();
    Err(Error::model(
        &file,
        format!(
            "its {heads} attention heads ({kv} key/value heads) do not split over tensor parallelism {tp}: \
             set cluster.tensor_parallel to {} (what divides both the heads and the {cores} NeuronCores)",
            if choices.is_empty() { "a value that fits".to_string() } else { choices.join(" or ") }
        ),
    ))
}

/// The exports of optimum-neuron's fine-tuning scripts, and EFA's for more than one node.
pub fn environment(nodes: u32) -> String {
    let mut s = String::from(
        "export NEURON_CC_FLAGS=\"--model-type transformer --retry_failed_compilation\"\n\
         export NEURON_FUSE_SOFTMAX=1\n\
         export NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS=3\n\
         export MALLOC_ARENA_MAX=64\n\
         export OMP_NUM_THREADS=1\n",
    );
    if nodes > 1 {
        s += "export FI_PROVIDER=efa\nexport FI_EFA_USE_DEVICE_RDMA=1\nexport FI_EFA_FORK_SAFE=1\n";
    }
    s
}

/// Steps the pre-compilation runs: graphs are extracted, not trained
/// (losses are zeros and saving does nothing), so compiling the whole run
/// would only waste hours.
pub const PRECOMPILE_STEPS: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_give_cores_and_tensor_parallelism_and_unknown_models_are_refused_by_name() {
        assert_eq!(instance("trn1.32xlarge").map(|i| (i.cores, i.tensor_parallel)), Some((32, 8)));
        assert_eq!(instance("trn2.48xlarge").map(|i| (i.cores, i.tensor_parallel)), Some((64, 4)));
        assert_eq!(instance(" trn2.3xlarge").map(|i| (i.cores, i.tensor_parallel)), Some((4, 4)));
        assert!(instance("p5.48xlarge").is_none());
        let dir = tempfile::tempdir().unwrap();
        let trn1 = super::super::python::Layout { nodes: 1, per_node: 32, tensor_parallel: 8 };
        std::fs::write(dir.path().join("config.json"), r#"{"model_type": "mistral", "num_attention_heads": 32, "num_key_value_heads": 8}"#)
            .unwrap();
        let e = check_model(dir.path(), &trn1).unwrap_err().to_string();
        assert!(e.contains("\"mistral\"") && e.contains("llama, granite, qwen3") && e.contains("config.json"), "{e}");
        // Llama 3 8B's 32 heads and 8 key/value heads split over TP 8; 2 key/value heads are replicated to fill it.
        std::fs::write(dir.path().join("config.json"), r#"{"model_type": "llama", "num_attention_heads": 32, "num_key_value_heads": 8}"#)
            .unwrap();
        check_model(dir.path(), &trn1).unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"model_type": "llama", "num_attention_heads": 32, "num_key_value_heads": 2}"#)
            .unwrap();
        check_model(dir.path(), &trn1).unwrap();
        // SmolLM2-135M's 9 heads (3 key/value heads) do not: TP 1 is what fits 32 cores.
        std::fs::write(dir.path().join("config.json"), r#"{"model_type": "llama", "num_attention_heads": 9, "num_key_value_heads": 3}"#)
            .unwrap();
        let e = check_model(dir.path(), &trn1).unwrap_err().to_string();
        assert!(e.contains("9 attention heads") && e.contains("set cluster.tensor_parallel to 1 "), "{e}");
        check_model(dir.path(), &super::super::python::Layout { tensor_parallel: 1, ..trn1 }).unwrap();
        assert!(!environment(1).contains("efa") && environment(2).contains("FI_PROVIDER=efa"));
    }
}
