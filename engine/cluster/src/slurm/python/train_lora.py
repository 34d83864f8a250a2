#!/usr/bin/env python3
"""LoRA fine-tuning on a Slurm node, written by LoRA Workbench into a job directory.

Two accelerators, one script:
  --accelerator cuda    Hugging Face transformers Trainer + PEFT (optionally DeepSpeed), under torchrun.
  --accelerator neuron  optimum-neuron on AWS Trainium (NeuronSFTTrainer, tensor parallel), under torchrun.

The workbench tokenised the conversations with the model's chat template before
uploading them (data/*.tokens.jsonl: input_ids, and labels that are -100 where
no loss is taken), so every target trains on exactly what a local run trains on.

The script keeps a run directory as a local workbench run does, so the window
watches it like any other: status.json (state, host, heartbeat every 10 s,
written atomically), metrics.jsonl (one fsynced JSON line per log: step, epoch,
elapsed_s, loss, lr, grad_norm, tokens_per_s, peak_rss_bytes,
accelerator_util, and mfu on Trainium; val_loss and val_ppl on evaluations)
and adapter/ (PEFT).

`--check_args` parses the command line and prints it as JSON without importing
torch (the workbench's tests read the generated arguments back with it).
"""

import argparse
import atexit
import json
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HEARTBEAT_EVERY_S = 10


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--accelerator", choices=["cuda", "neuron"], required=True)
    p.add_argument("--model", required=True, help="Hugging Face model directory")
    p.add_argument("--train_file", required=True, help="tokenised training examples (JSONL)")
    p.add_argument("--validation_file", help="tokenised validation examples (JSONL)")
    p.add_argument("--run_dir", required=True, help="the workbench run directory to keep")
    p.add_argument("--output_dir", required=True, help="the trainer's checkpoints")
    p.add_argument("--config", help="the workbench config.toml, copied into the run directory")
    p.add_argument("--lora_r", type=int, required=True)
    p.add_argument("--lora_alpha", type=float, required=True)
    p.add_argument("--lora_dropout", type=float, required=True)
    p.add_argument("--target_modules", required=True, help="comma-separated projection names")
    p.add_argument("--per_device_train_batch_size", type=int, required=True)
    p.add_argument("--gradient_accumulation_steps", type=int, required=True)
    p.add_argument("--learning_rate", type=float, required=True)
    p.add_argument("--weight_decay", type=float, default=0.0)
    p.add_argument("--adam_beta1", type=float, default=0.9)
    p.add_argument("--adam_beta2", type=float, default=0.999)
    p.add_argument("--adam_epsilon", type=float, default=1e-8)
    p.add_argument("--lr_scheduler_type", choices=["cosine", "linear", "constant_with_warmup"], required=True)
    p.add_argument("--warmup_ratio", type=float, default=0.0)
    p.add_argument("--warmup_steps", type=int, default=-1, help="overrides --warmup_ratio when 0 or more")
    p.add_argument("--num_train_epochs", type=int, required=True)
    p.add_argument("--max_steps", type=int, default=-1)
    p.add_argument("--max_grad_norm", type=float, default=1.0)
    p.add_argument("--eval_steps", type=int, default=0, help="0: evaluate at each epoch's end")
    p.add_argument("--early_stopping_patience", type=int, default=0, help="0: no early stopping")
    p.add_argument("--early_stopping_threshold", type=float, default=0.0)
    p.add_argument("--gradient_checkpointing", action="store_true")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--logging_steps", type=int, default=1)
    p.add_argument("--save_steps", type=int, default=0, help="0: only the final adapter (with validation, checkpoints follow evaluations)")
    p.add_argument("--save_total_limit", type=int, default=2)
    p.add_argument("--max_length", type=int, required=True, help="examples are at most this long (Neuron pads to it)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 where the hardware has it")
    p.add_argument("--deepspeed", help="DeepSpeed config file (cuda)")
    p.add_argument("--tensor_parallel_size", type=int, default=1, help="Neuron tensor parallelism")
    p.add_argument("--zero_1", action="store_true", help="Neuron ZeRO-1 optimizer sharding")
    p.add_argument("--consolidate", action="store_true", help="after Neuron training: consolidate the adapter's shards into adapter/")
    p.add_argument("--check_args", action="store_true", help="print the parsed arguments as JSON and exit")
    args = p.parse_args(argv)
    args.target_modules = [m for m in args.target_modules.split(",") if m]
    return args


def now():
    return int(time.time())


def write_atomic(path, text):
    """Temporary name, fsync, rename: a reader never sees half a file."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def finite_or_text(x):
    """Metric values as the workbench writes them: numbers, or "NaN" / "inf" / "-inf"."""
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


class Run:
    """The workbench run directory: status.json with a heartbeat, metrics.jsonl, adapter/.

    Only the process of global rank 0 writes; the others keep a Run that does nothing.
    """

    def __init__(self, run_dir, writer, config=None):
        self.dir = run_dir
        self.writer = writer
        self.lock = threading.Lock()
        self.started = time.time()
        self.last_step = 0
        self.status = {
            "state": "running", "step": 0, "total_steps": 0, "epoch": 0.0, "best_val_loss": None, "best_step": None,
            "message": None, "pid": os.getpid(), "host": socket.gethostname(), "created_unix": now(),
            "updated_unix": now(), "heartbeat_unix": now(),
        }
        if not writer:
            return
        os.makedirs(run_dir, exist_ok=True)
        if config and not os.path.exists(os.path.join(run_dir, "config.toml")):
            shutil.copy(config, os.path.join(run_dir, "config.toml"))
        old = os.path.join(run_dir, "status.json")
        if os.path.exists(old):  # a restarted job (HyperPod --auto-resume) or the finishing step: keep its history
            with open(old) as f:
                prev = json.load(f)
            for key in ("state", "step", "total_steps", "epoch", "best_val_loss", "best_step", "message", "created_unix"):
                self.status[key] = prev.get(key, self.status[key])
        self.last_step = self._last_logged_step()
        self.save()
        threading.Thread(target=self._heartbeat, daemon=True).start()

    def _last_logged_step(self):
        """The last step metrics.jsonl holds; a torn last line (a killed writer) is cut off first,
        so the next line does not run into it."""
        path = os.path.join(self.dir, "metrics.jsonl")
        if not os.path.exists(path):
            return 0
        with open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
                data = data[: data.rfind(b"\n") + 1]
        last = 0
        for line in data.decode("utf-8", "replace").splitlines():
            try:
                last = max(last, int(json.loads(line)["step"]))
            except (ValueError, KeyError, TypeError):
                pass
        return last

    def _heartbeat(self):
        while True:
            time.sleep(HEARTBEAT_EVERY_S)
            self.update()

    def save(self):
        if self.writer:
            write_atomic(os.path.join(self.dir, "status.json"), json.dumps(self.status, indent=2))

    def update(self, **fields):
        with self.lock:
            self.status.update(fields)
            self.status["updated_unix"] = self.status["heartbeat_unix"] = now()
            self.save()

    def metric(self, record):
        """Appends one metrics line (fsynced); steps already logged before a restart are not repeated."""
        if not self.writer or record["step"] <= self.last_step:
            return
        record = {k: finite_or_text(v) if isinstance(v, float) else v for k, v in record.items() if v is not None}
        with self.lock, open(os.path.join(self.dir, "metrics.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())


class Utilisation:
    """The accelerators' utilisation in percent, sampled in the background:
    `nvidia-smi` on GPUs, `neuron-monitor`'s JSON reports on Trainium."""

    def __init__(self, accelerator):
        """Samples `accelerator`'s ("cuda", "neuron"; None: none, on every rank but the first)."""
        self.value = None
        if accelerator is None:
            return
        target = self._nvidia if accelerator == "cuda" else self._neuron
        if shutil.which("nvidia-smi" if accelerator == "cuda" else "neuron-monitor"):
            threading.Thread(target=target, daemon=True).start()

    def _nvidia(self):
        while True:
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                    capture_output=True, text=True, timeout=10,
                ).stdout
                values = [float(v) for v in out.split()]
                self.value = sum(values) / len(values) if values else None
            except (OSError, ValueError, subprocess.SubprocessError):
                self.value = None
            time.sleep(5)

    def _neuron(self):
        # neuron-monitor prints one JSON report per period (5 s by default); the cores in use report
        # neuroncore_utilization under neuron_runtime_data[].report.neuroncore_counters.neuroncores_in_use.
        proc = subprocess.Popen(["neuron-monitor"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        atexit.register(proc.terminate)
        for line in proc.stdout:
            try:
                report = json.loads(line)
                cores = [
                    c.get("neuroncore_utilization", 0.0)
                    for rt in report.get("neuron_runtime_data") or []
                    for c in ((rt.get("report") or {}).get("neuroncore_counters") or {}).get("neuroncores_in_use", {}).values()
                ]
                self.value = sum(cores) / len(cores) if cores else None
            except (ValueError, AttributeError):
                continue


def read_examples(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Collate:
    """Pads a micro-batch (to the longest example, or to `pad_to` where shapes must not change,
    as on Neuron) and counts the real tokens it saw, for tokens per second."""

    def __init__(self, pad_to=None):
        self.pad_to = pad_to
        self.tokens = 0

    def __call__(self, examples):
        import torch

        n = self.pad_to or max(len(e["input_ids"]) for e in examples)
        ids, labels, mask = [], [], []
        for e in examples:
            k = len(e["input_ids"])
            ids.append(e["input_ids"] + [0] * (n - k))
            labels.append(e["labels"] + [-100] * (n - k))
            mask.append([1] * k + [0] * (n - k))
            self.tokens += k
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


STOP = threading.Event()


def stop_everywhere():
    """Whether any worker got SIGTERM: on GPUs the flag is all-reduced, so every rank stops
    at the same step (a rank that went on alone would hang in the next collective)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_backend() not in ("nccl", "gloo"):
        return STOP.is_set()
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    flag = torch.tensor([1.0 if STOP.is_set() else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    if flag.item() > 0:
        STOP.set()
    return STOP.is_set()


def on_sigterm(signum, frame):
    """scancel (and Slurm's time limit) send SIGTERM: stop after this step and save."""
    STOP.set()


def workbench_callback(run, collate, utilisation, data_parallel):
    """The Trainer callback that writes the run directory from the Trainer's logs."""
    from transformers import TrainerCallback

    class Workbench(TrainerCallback):
        def __init__(self):
            self.window = (time.time(), 0)

        def on_train_begin(self, args, state, control, **kwargs):
            run.update(total_steps=state.max_steps, step=state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            if stop_everywhere():
                control.should_training_stop = True
                control.should_save = True

        def on_evaluate(self, args, state, control, **kwargs):
            # Evaluation time and tokens are not training throughput.
            self.window = (time.time(), collate.tokens)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            base = {"step": state.global_step, "epoch": float(state.epoch or 0.0), "elapsed_s": time.time() - run.started}
            if "loss" in logs:
                t0, n0 = self.window
                t1, n1 = time.time(), collate.tokens
                self.window = (t1, n1)
                run.metric(dict(
                    base,
                    loss=float(logs["loss"]),
                    lr=float(logs.get("learning_rate", 0.0)),
                    grad_norm=float(logs["grad_norm"]) if "grad_norm" in logs else None,
                    tokens_per_s=(n1 - n0) * data_parallel / (t1 - t0) if t1 > t0 else None,
                    peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                    accelerator_util=utilisation.value,
                    # optimum-neuron's model FLOPs utilisation (percent), where it logs it.
                    mfu=float(logs["train/mfu"]) if "train/mfu" in logs else None,
                ))
                run.update(step=state.global_step, epoch=base["epoch"])
            if "eval_loss" in logs:
                val = float(logs["eval_loss"])
                run.metric(dict(base, val_loss=val, val_ppl=math.exp(min(val, 700.0))))
                best = run.status["best_val_loss"]
                if best is None or val < best:
                    run.update(best_val_loss=val, best_step=state.global_step)

    return Workbench()


def training_arguments(cls, args, has_validation):
    """The Trainer's arguments from ours, with the names of the installed transformers version."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    kw = dict(
        output_dir=args.output_dir,
        per_device_train_batch_size=args.per_device_train_batch_size,
        per_device_eval_batch_size=args.per_device_train_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        adam_beta1=args.adam_beta1,
        adam_beta2=args.adam_beta2,
        adam_epsilon=args.adam_epsilon,
        lr_scheduler_type=args.lr_scheduler_type,
        num_train_epochs=args.num_train_epochs,
        max_steps=args.max_steps,
        max_grad_norm=args.max_grad_norm,
        seed=args.seed,
        logging_steps=args.logging_steps,
        save_total_limit=args.save_total_limit,
        report_to="none",
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    if args.warmup_steps >= 0:
        kw["warmup_steps"] = args.warmup_steps
    elif "warmup_ratio" in names:
        kw["warmup_ratio"] = args.warmup_ratio
    else:  # transformers 5: a float below 1 is a ratio
        kw["warmup_steps"] = args.warmup_ratio
    if args.gradient_checkpointing:
        # transformers 5 renamed it; older versions and optimum-neuron keep the first name.
        name = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
        kw[name] = True
        if name + "_kwargs" in names:
            kw[name + "_kwargs"] = {"use_reentrant": False}
    strategy = "eval_strategy" if "eval_strategy" in names else "evaluation_strategy"
    if has_validation:
        # As the local trainer does, the adapter kept is the one of the best validation loss:
        # checkpoints follow evaluations, and the best is loaded at the end.
        kw[strategy] = "steps" if args.eval_steps > 0 else "epoch"
        kw.update(save_strategy=kw[strategy], load_best_model_at_end=True, metric_for_best_model="eval_loss", greater_is_better=False)
        if args.eval_steps > 0:
            kw.update(eval_steps=args.eval_steps, save_steps=args.eval_steps)
    elif args.save_steps > 0:
        kw.update(save_strategy="steps", save_steps=args.save_steps)
    else:
        kw["save_strategy"] = "no"
    if args.deepspeed:
        kw["deepspeed"] = args.deepspeed
    if args.accelerator == "neuron":
        kw.update(tensor_parallel_size=args.tensor_parallel_size, zero_1=args.zero_1, bf16=args.bf16)
    elif args.bf16:
        import torch

        kw["bf16"] = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        if not kw["bf16"]:
            print("workbench: no bfloat16 GPU here; training in float32", file=sys.stderr)
    unused = sorted(k for k in kw if k not in names)
    if unused:
        print("workbench: %s has no %s; not used" % (cls.__name__, ", ".join(unused)), file=sys.stderr)
    return cls(**{k: v for k, v in kw.items() if k in names})


def lora_config(args):
    from peft import LoraConfig

    return LoraConfig(
        r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        target_modules=args.target_modules, bias="none", task_type="CAUSAL_LM",
    )


def dtype_argument():
    """`from_pretrained`'s name for the weights' dtype: `dtype` since transformers 4.56, `torch_dtype` before."""
    import transformers
    from packaging.version import Version

    return "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


def cuda_trainer(args, train, validation, collate, callbacks):
    """transformers Trainer + PEFT (DeepSpeed through the Trainer's `deepspeed` argument)."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    if not torch.cuda.is_available() and os.environ.get("WORKBENCH_ALLOW_CPU") != "1":
        raise RuntimeError(
            "no CUDA device on this node (%s): submit to a partition with GPUs, or set WORKBENCH_ALLOW_CPU=1 in the "
            "profile's set-up lines to train on its CPUs" % socket.gethostname()
        )
    targs = training_arguments(TrainingArguments, args, bool(validation))
    dtype = torch.bfloat16 if targs.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(args.model, **{dtype_argument(): dtype})
    if args.gradient_checkpointing:
        model.enable_input_require_grads()
    model = get_peft_model(model, lora_config(args))
    trainer = Trainer(model=model, args=targs, train_dataset=train, eval_dataset=validation or None,
                      data_collator=collate, callbacks=callbacks)
    return trainer, model


def neuron_trainer(args, train, validation, collate, callbacks):
    """optimum-neuron: the model sharded by tensor parallelism, LoRA through PEFT's LoraConfig,
    trained by NeuronSFTTrainer on the already tokenised examples (as optimum-neuron's
    examples/training/qwen3/finetune_qwen3.py does, with the dataset preparation skipped).
    optimum-neuron 0.4 does not evaluate during training (NeuronTrainingArguments refuses
    do_eval, NeuronTrainer an eval_dataset): the job passes no validation set."""
    import torch
    from optimum.neuron import NeuronSFTConfig, NeuronSFTTrainer, NeuronTrainingArguments
    from optimum.neuron.models.training import NeuronModelForCausalLM
    from transformers import AutoTokenizer

    from datasets import Dataset

    # trl's trainers expect datasets' tables (trl depends on datasets).
    train = Dataset.from_list(train)
    targs = training_arguments(NeuronTrainingArguments, args, False)
    model = NeuronModelForCausalLM.from_pretrained(args.model, targs.trn_config, torch_dtype=torch.bfloat16 if args.bf16 else torch.float32)
    sft = NeuronSFTConfig(max_length=args.max_length, packing=False, dataset_kwargs={"skip_prepare_dataset": True}, **targs.to_dict())
    trainer = NeuronSFTTrainer(
        args=sft, model=model, peft_config=lora_config(args), processing_class=AutoTokenizer.from_pretrained(args.model),
        train_dataset=train, data_collator=collate, callbacks=callbacks,
    )
    return trainer, trainer.model


def consolidate(args, run):
    """After Neuron training: `optimum-cli neuron consolidate` joins the tensor-parallel shards
    of the adapter saved in output/adapter_default beside its adapter_config.json (as
    optimum-neuron's Qwen3 tutorial does), which then becomes the run's adapter/ (the shards
    left behind). The run's heartbeat goes on meanwhile."""
    saved = os.path.join(args.output_dir, "adapter_default")
    run.update(message="consolidating the adapter")
    subprocess.run(["optimum-cli", "neuron", "consolidate", args.output_dir, saved], check=True)
    publish(saved, args.run_dir, ignore=shutil.ignore_patterns("adapter_shards"))
    stopped = (run.status["message"] or "").startswith("stopped by SIGTERM")
    if run.status["state"] == "running" and not stopped:
        run.update(state="finished", message=None)
    elif not stopped:
        run.update(message=None)


def publish(folder, run_dir, ignore=None):
    """Copies a saved adapter into the run's adapter/ whole (a sibling first, then renamed)."""
    adapter = os.path.join(run_dir, "adapter")
    tmp = adapter + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(folder, tmp, ignore=ignore)
    shutil.rmtree(adapter, ignore_errors=True)
    os.replace(tmp, adapter)


def train(args, run):
    from transformers import EarlyStoppingCallback
    from transformers.trainer_utils import get_last_checkpoint

    run.update(state="running", message=None)
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    data_parallel = max(1, world // max(1, args.tensor_parallel_size))
    train_set = read_examples(args.train_file)
    # optimum-neuron does not evaluate during training (see neuron_trainer).
    evaluate = args.accelerator == "cuda" and args.validation_file
    validation = read_examples(args.validation_file) if evaluate else []
    collate = Collate(pad_to=args.max_length if args.accelerator == "neuron" else None)
    callbacks = [workbench_callback(run, collate, Utilisation(args.accelerator if rank == 0 else None), data_parallel)]
    if args.early_stopping_patience > 0 and validation:
        callbacks.append(EarlyStoppingCallback(args.early_stopping_patience, args.early_stopping_threshold))
    build = cuda_trainer if args.accelerator == "cuda" else neuron_trainer
    trainer, model = build(args, train_set, validation, collate, callbacks)
    # NeuronTrainer cannot resume (optimum-neuron's trainers/transformers.py raises on resume_from_checkpoint).
    can_resume = args.accelerator == "cuda" and os.path.isdir(args.output_dir)
    resume = get_last_checkpoint(args.output_dir) if can_resume else None
    if resume:
        run.update(message="resuming from %s" % resume)
    trainer.train(resume_from_checkpoint=resume)
    state = trainer.state
    if STOP.is_set():
        # Cancelled, the time limit, or torchrun stopping the others after a worker failed: Slurm knows
        # which, and the workbench's sync sets the final state from it.
        end = ("running", "stopped by SIGTERM after step %d; Slurm's final state follows" % state.global_step)
    elif state.max_steps > 0 and state.global_step < state.max_steps:
        end = ("early_stopped", "validation loss stopped improving")
    else:
        end = ("finished", None)
    if args.accelerator == "neuron":
        # Saved sharded by tensor parallelism into output/adapter_default; `--consolidate` (next in job.sbatch) joins it.
        trainer.save_model(args.output_dir)
        run.update(state="running" if end[0] == "finished" else end[0], message=end[1] or "trained; consolidating next")
        return
    # Every rank saves (DeepSpeed ZeRO-3 gathers the adapter's shards); the main process writes.
    saved = os.path.join(args.output_dir, "final-adapter")
    trainer.save_model(saved)
    if rank == 0:
        publish(saved, args.run_dir)
    run.update(state=end[0], message=end[1])


def main(argv=None):
    args = parse_args(argv)
    if args.check_args:
        print(json.dumps(vars(args), sort_keys=True))
        return 0
    signal.signal(signal.SIGTERM, on_sigterm)
    run = Run(args.run_dir, int(os.environ.get("RANK", "0")) == 0, args.config)
    try:
        if args.consolidate:
            consolidate(args, run)
        else:
            train(args, run)
    except BaseException as e:
        run.update(state="failed", message="%s: %s" % (type(e).__name__, e))
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
