//! End-to-end tests of the `workbench` binary: bad input exits non-zero with
//! the field named, `kill -9` mid-run then `--resume` reproduces an
//! uninterrupted run, SIGTERM (from the local backend's cancel, as Slurm's
//! `scancel` sends it) checkpoints and marks the run cancelled, and
//! estimate / eval / data print what they promise.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{sample_dir, tiny_setup as setup};

fn workbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_workbench")).args(args).output().expect("run workbench")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn run_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir.join("runs")).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    v.sort();
    v
}

fn losses(run: &Path) -> Vec<(usize, f64)> {
    engine::runs::RunDir::open(run).unwrap().metrics().unwrap().iter().filter_map(|r| r.loss.map(|l| (r.step, l))).collect()
}

#[test]
fn bad_config_exits_nonzero_naming_the_field_and_writes_no_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "epochs = 1");
    let bad = std::fs::read_to_string(&cfg).unwrap().replace("rank = 4", "rank = 0").replace("grad_accum = 2", "grad_accum = 0");
    std::fs::write(&cfg, bad).unwrap();
    let out = workbench(&["train", "--config", cfg.to_str().unwrap()]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("lora.rank") && msg.contains("training.grad_accum"), "{msg}");
    assert!(run_dirs(dir.path()).is_empty());

    let out = workbench(&["train", "--config", dir.path().join("missing.toml").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("missing.toml"), "{}", text(&out));
}

#[test]
fn kill_dash_9_then_resume_reproduces_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "epochs = 12\ncheckpoint_every = 3\neval_every = 8");
    let cfg_arg = cfg.to_str().unwrap();

    let out = workbench(&["train", "--config", cfg_arg]);
    assert!(out.status.success(), "{}", text(&out));
    let uninterrupted = run_dirs(dir.path()).pop().unwrap();
    let expected = losses(&uninterrupted);

    let mut child = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["train", "--config", cfg_arg])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let run = loop {
        let runs = run_dirs(dir.path());
        let newest = runs.iter().find(|r| **r != uninterrupted).cloned();
        if let Some(r) = newest.filter(|r| engine::runs::RunDir::open(r).map(|d| d.checkpoints().len() >= 2).unwrap_or(false)) {
            break r;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(5));
    };
    // A second process may not resume a run that is still training.
    let out = workbench(&["train", "--resume", run.to_str().unwrap()]);
    assert!(!out.status.success() && text(&out).contains("still training"), "{}", text(&out));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let status = engine::runs::RunDir::open(&run).unwrap().status().unwrap();
    assert!(status.step < status.total_steps, "the run finished before it could be killed");
    assert_eq!(status.effective_state(), engine::runs::RunState::Crashed);

    let out = workbench(&["train", "--resume", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(losses(&run), expected);
}

/// `training.precision = "bf16"`: the run's log says which precision it got. On a CPU with AMX it learns as the f32 run does,
/// within bf16's rounding, without being the same run; elsewhere it is the f32
/// run exactly.
#[test]
fn bf16_training_says_what_it_got_and_learns_like_f32() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "epochs = 4\neval_every = 0");
    let out = workbench(&["train", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let f32_losses = losses(&run_dirs(dir.path()).pop().unwrap());
    let bf16 = std::fs::read_to_string(&cfg).unwrap().replace("epochs = 4", "epochs = 4\nprecision = \"bf16\"");
    std::fs::write(&cfg, bf16).unwrap();
    let out = workbench(&["train", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let run = run_dirs(dir.path()).pop().unwrap();
    let log = std::fs::read_to_string(run.join("train.log")).unwrap();
    let bf16_losses = losses(&run);
    assert_eq!(bf16_losses.len(), f32_losses.len());
    if log.contains("precision: bf16 products of the frozen weights on AMX") {
        let worst = bf16_losses.iter().zip(&f32_losses).map(|((_, b), (_, f))| ((b - f) / f).abs()).fold(0.0, f64::max);
        assert!(worst < 0.05, "bf16 losses {bf16_losses:?} vs f32 {f32_losses:?}");
        assert!(worst > 1e-7, "bf16 gave the f32 run exactly: were the products bf16?");
        assert!(bf16_losses.last().unwrap().1 < bf16_losses[0].1, "{bf16_losses:?}");
    } else {
        assert!(log.contains("bf16 was asked for, but it needs a CPU with AMX") && log.contains("training in f32"), "{log}");
        assert_eq!(bf16_losses, f32_losses);
    }
}

#[test]
fn sigterm_checkpoints_and_marks_the_run_cancelled_and_the_local_backend_sends_it() {
    use engine::backend::{Backend, LocalBackend};
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "epochs = 200\ncheckpoint_every = 0\neval_every = 0");
    let mut child = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["train", "--config", cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let run = loop {
        let stepped =
            run_dirs(dir.path()).pop().filter(|r| engine::runs::RunDir::open(r).and_then(|d| d.status()).is_ok_and(|s| s.step >= 2));
        if let Some(r) = stepped {
            break r;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "the run made no steps");
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = engine::runs::RunDir::open(&run).unwrap().status().unwrap();
    assert_eq!((status.pid, status.host.clone()), (child.id(), engine::runs::status::this_host()));
    // Another process (this test, as the window would) cancels the run by its directory: SIGTERM.
    let backend = LocalBackend::new(std::sync::Arc::new(engine::jobs::Engine::new()));
    backend.cancel(&run).unwrap();
    let exit = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(exit.success(), "{exit:?}: {stderr}");
    let run_dir = engine::runs::RunDir::open(&run).unwrap();
    let status = run_dir.status().unwrap();
    assert_eq!(status.state, engine::runs::RunState::Cancelled, "{stderr}");
    assert!(status.step < status.total_steps);
    assert_eq!(run_dir.checkpoints().last().map(|c| c.0), Some(status.step), "SIGTERM leaves a checkpoint of the last step");
    assert!(backend.cancel(&run).unwrap_err().to_string().contains("not running"));
}

#[test]
fn estimate_advises_keeping_the_effective_batch() {
    let cfg = sample_dir().join("configs/story-a-sample.toml");
    let out = workbench(&["estimate", "--config", cfg.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let total = e["total_bytes"].as_f64().unwrap();
    let limit_gb = total * 0.9 / (1u64 << 30) as f64;
    let out = workbench(&["estimate", "--config", cfg.to_str().unwrap(), "--memory-limit-gb", &limit_gb.to_string()]);
    let msg = text(&out);
    assert!(msg.contains("DOES NOT FIT") && msg.contains("advice:"), "{msg}");
    assert!(msg.contains("keeps the effective batch of 16"), "{msg}");
}

#[test]
fn eval_prints_base_and_adapter_perplexity_table() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "max_steps = 4\neval_every = 2");
    assert!(workbench(&["train", "--config", cfg.to_str().unwrap()]).status.success());
    let run = run_dirs(dir.path()).pop().unwrap();
    let out = workbench(&["eval", "--run", run.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["name"], "base");
    let (base, tuned) = (rows[0]["perplexity"].as_f64().unwrap(), rows[1]["perplexity"].as_f64().unwrap());
    assert!(base.is_finite() && tuned.is_finite() && base != tuned);
    let out = workbench(&["eval", "--run", run.to_str().unwrap()]);
    let msg = text(&out);
    assert!(msg.contains("perplexity") && msg.contains("vs base"), "{msg}");
    // 8-bit weights: labelled rows, perplexity close to f32's.
    let out = workbench(&["eval", "--run", run.to_str().unwrap(), "--json", "--quantize", "q8_0"]);
    assert!(out.status.success(), "{}", text(&out));
    let q8: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(q8[0]["name"], "base [q8_0]");
    for (row, f32_row) in q8.as_array().unwrap().iter().zip(rows.as_array().unwrap()) {
        let (q, f) = (row["perplexity"].as_f64().unwrap(), f32_row["perplexity"].as_f64().unwrap());
        assert!((q / f - 1.0).abs() < 0.05 && q != f, "{}: q8_0 {q} against f32 {f}", row["name"]);
    }
    let out = workbench(&["eval", "--run", run.to_str().unwrap(), "--quantize", "q3"]);
    assert!(!out.status.success() && text(&out).contains("q8_0"), "{}", text(&out));
}

#[test]
fn merge_writes_a_model_that_evaluates_like_base_plus_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "max_steps = 4\neval_every = 2");
    assert!(workbench(&["train", "--config", cfg.to_str().unwrap()]).status.success());
    let run = run_dirs(dir.path()).pop().unwrap();
    let merged = dir.path().join("merged");
    let out = workbench(&["merge", "--run", run.to_str().unwrap(), "--out", merged.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let data = dir.path().join("validation.jsonl");
    let ppl = |args: &[&str]| -> Vec<f64> {
        let out = workbench(&[&["eval", "--json", "--data", data.to_str().unwrap(), "--max-seq-len", "64"], args].concat());
        assert!(out.status.success(), "{}", text(&out));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        rows.as_array().unwrap().iter().map(|r| r["perplexity"].as_f64().unwrap()).collect()
    };
    let with_adapter = ppl(&["--model", dir.path().join("model").to_str().unwrap(), "--adapter", run.join("adapter").to_str().unwrap()]);
    let merged_ppl = ppl(&["--model", merged.to_str().unwrap()]);
    assert!((with_adapter[1] - merged_ppl[0]).abs() < 1e-3 * with_adapter[1], "base + adapter {with_adapter:?}, merged {merged_ppl:?}");
    assert!((with_adapter[0] - merged_ppl[0]).abs() > 1e-6, "the adapter changed nothing: the test cannot tell");
    let out = workbench(&["merge", "--adapter", dir.path().join("nope").to_str().unwrap(), "--model", "x", "--out", "y"]);
    assert!(!out.status.success() && text(&out).contains("nope"), "{}", text(&out));

    // The run exported as GGUF (merged on the fly), imported back: the merged model's perplexity, to f16's precision.
    let gguf = dir.path().join("tuned.gguf");
    let out = workbench(&["export", "gguf", "--run", run.to_str().unwrap(), "--out", gguf.to_str().unwrap(), "--type", "f16"]);
    assert!(out.status.success() && text(&out).contains("F16"), "{}", text(&out));
    let back = dir.path().join("from-gguf");
    let out = workbench(&["model", "import", gguf.to_str().unwrap(), "--out", back.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let round_trip = ppl(&["--model", back.to_str().unwrap()]);
    assert!((round_trip[0] - merged_ppl[0]).abs() < 1e-2 * merged_ppl[0], "merged {merged_ppl:?}, through GGUF {round_trip:?}");
}

#[test]
fn data_command_reports_counts_stats_and_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.jsonl");
    let good = r#"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}"#;
    std::fs::write(&file, format!("{good}\n{{broken\n{good}\n")).unwrap();
    let model = sample_dir().join("model");
    let out = workbench(&["data", file.to_str().unwrap(), "--model", model.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("d.jsonl:2:"), "{}", text(&out));
    let out = workbench(&["data", file.to_str().unwrap(), "--model", model.to_str().unwrap(), "--skip-bad-lines"]);
    let msg = text(&out);
    assert!(out.status.success(), "{msg}");
    assert!(msg.contains("2 records") && msg.contains("skipped line 2") && msg.contains("<s>[INST] Hi [/INST] Hello</s>"), "{msg}");

    // Written on Windows: a byte-order mark, and 6 bad lines of 20, every one named with the file's own numbers.
    let bad_at = [3, 4, 8, 12, 15, 20];
    let lines: Vec<String> = (1..=20).map(|i| if bad_at.contains(&i) { "{oops".to_string() } else { good.to_string() }).collect();
    std::fs::write(&file, format!("\u{feff}{}\n", lines.join("\n"))).unwrap();
    let out = workbench(&["data", file.to_str().unwrap(), "--model", model.to_str().unwrap()]);
    let msg = text(&out);
    assert!(!out.status.success());
    assert!(msg.contains("6 of 20 lines are malformed"), "{msg}");
    for line in bad_at {
        assert!(msg.contains(&format!("d.jsonl:{line}:")), "line {line}: {msg}");
    }
    let out = workbench(&["data", file.to_str().unwrap(), "--model", model.to_str().unwrap(), "--skip-bad-lines"]);
    assert!(text(&out).contains("14 records (14 of 20 lines valid, 6 malformed)"), "{}", text(&out));
}

#[test]
fn data_command_reads_sharegpt_alpaca_and_openai_lines_in_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.jsonl");
    let lines = [
        r#"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}"#,
        r#"{"conversations":[{"from":"human","value":"VPN down?"},{"from":"gpt","value":"Restart the client."}]}"#,
        r#"{"instruction":"Reset my password","input":"account: jdoe","output":"Use the self-service portal."}"#,
        r#"{"conversations":[{"from":"robot","value":"?"}]}"#,
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let model = sample_dir().join("model");
    let out = workbench(&["data", file.to_str().unwrap(), "--model", model.to_str().unwrap(), "--skip-bad-lines"]);
    let msg = text(&out);
    assert!(out.status.success(), "{msg}");
    assert!(msg.contains("3 records (3 of 4 lines valid, 1 malformed)") && msg.contains("\"robot\""), "{msg}");
    assert!(msg.contains("<s>[INST] VPN down? [/INST] Restart the client.</s>"), "{msg}");
}

#[test]
fn model_import_converts_a_gguf_file_into_a_loadable_model_directory() {
    use engine::model::gguf::fixture::{self, Fixture};
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    fixture::write(&gguf, &Fixture { weight_type: candle_core::quantized::GgmlDType::Q8_0, ..Fixture::default() }).unwrap();
    let out = dir.path().join("tiny-model");
    let out_arg = out.to_str().unwrap();
    let o = workbench(&["model", "import", gguf.to_str().unwrap(), "--out", out_arg, "--dtype", "bf16"]);
    assert!(o.status.success(), "{}", text(&o));
    let msg = text(&o);
    assert!(msg.contains("architecture   llama") && msg.contains("16 Q8_0") && msg.contains("bfloat16"), "{msg}");
    let model = engine::model::Model::load(&out, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    engine::model::tokenizer::load(&out, &model.config).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }

    // The folder now exists and is not empty: refused, named, untouched.
    let o = workbench(&["model", "import", gguf.to_str().unwrap(), "--out", out_arg]);
    assert!(!o.status.success() && text(&o).contains("tiny-model") && text(&o).contains("not empty"), "{}", text(&o));
    assert!(out.join("model.safetensors").is_file());
    let o =
        workbench(&["model", "import", dir.path().join("nope.gguf").to_str().unwrap(), "--out", dir.path().join("x").to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("nope.gguf"), "{}", text(&o));
}

#[test]
fn generate_streams_an_answer_and_reports_its_speed() {
    let model = sample_dir().join("model");
    let m = model.to_str().unwrap();
    let out = workbench(&["generate", "--model", m, "--prompt", "How many vacation days do I get?", "--max-new-tokens", "16"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.trim().is_empty(), "no answer: {stderr}");
    assert!(stderr.contains("tokens/s") && stderr.contains("finish:"), "{stderr}");
    let json = |extra: &[&str]| -> serde_json::Value {
        let out =
            workbench(&[&["generate", "--model", m, "--prompt", "Reset my password", "--max-new-tokens", "8", "--json"], extra].concat());
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let greedy = json(&[]);
    assert_eq!(greedy["tokens"], json(&[])["tokens"], "greedy decoding must repeat");
    assert!(greedy["tokens"].as_array().unwrap().len() <= 8);
    assert!(["stop", "length"].contains(&greedy["finish_reason"].as_str().unwrap()));
    let sampled = json(&["--temperature", "1.2", "--seed", "5"]);
    assert_eq!(sampled["tokens"], json(&["--temperature", "1.2", "--seed", "5"])["tokens"], "a seed must repeat");
    let out = workbench(&["generate", "--model", m, "--prompt", "x", "--top-p", "1.5"]);
    assert!(!out.status.success() && text(&out).contains("top_p"), "{}", text(&out));
    // 8-bit weights, a fixed length past the end of turn.
    let q8 = json(&["--quantize", "q8_0", "--ignore-eos"]);
    assert_eq!((q8["tokens"].as_array().unwrap().len(), q8["finish_reason"].as_str()), (8, Some("length")));
}

#[test]
fn bench_decode_reports_prefill_speed_and_memory() {
    let model = sample_dir().join("model");
    for extra in [&[][..], &["--quantize", "q8_0"]] {
        let args =
            [&["bench", "decode", "--model", model.to_str().unwrap(), "--prompt-tokens", "8", "--new-tokens", "8", "--rounds", "1"], extra];
        let out = workbench(&args.concat());
        assert!(out.status.success(), "{}", text(&out));
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(line["decode_tokens_per_s"].as_f64().unwrap() > 0.0 && line["prefill_s"].as_f64().unwrap() > 0.0, "{line}");
        assert_eq!(line["weights"], if extra.is_empty() { "f32" } else { "q8_0" });
    }
}

#[test]
fn human_eval_freezes_a_comparison_and_reports_blinded_rates() {
    use engine::generate::target::Target;
    use engine::human_eval::ratings::{Rating, append};
    use engine::human_eval::rubric::Verdict;
    let dir = tempfile::tempdir().unwrap();
    let mut c = engine::comparisons::Comparison {
        title: "base vs tuned".into(),
        targets: vec![Target::base(Path::new("/m/base"), "model"), Target::base(Path::new("/m/tuned"), "model")],
        ..Default::default()
    };
    for q in ["Q1", "Q2"] {
        c.record(&engine::comparisons::Prompt::question(q), vec![Some(common::answer("meh")), Some(common::answer("good"))]);
    }
    let file = dir.path().join("comparison.json");
    engine::documents::save(&file, &c).unwrap();
    let eval = dir.path().join("eval");
    let out = workbench(&["human-eval", "create", "--comparison", file.to_str().unwrap(), "--out", eval.to_str().unwrap()]);
    assert!(out.status.success() && text(&out).contains("2 items"), "{}", text(&out));
    // Two reviewers, each seeing the sides their own way; tuned (model 1) is relevant every time, base once.
    let e = engine::human_eval::evaluation::Evaluation::open(&eval).unwrap();
    for (who, base_relevant) in [("Ana", [1u8, 0]), ("Ben", [0, 0])] {
        for (item, &base) in base_relevant.iter().enumerate() {
            let first_is_a = engine::human_eval::blind::first_is_a(e.seed, who, item);
            let s = |v: u8| std::collections::BTreeMap::from([("relevance".to_string(), v), ("accuracy".to_string(), 1u8)]);
            let (a, b) = if first_is_a { (s(base), s(1)) } else { (s(1), s(base)) };
            let verdict = if first_is_a { Verdict::B } else { Verdict::A };
            let r = Rating {
                reviewer: who.into(),
                item,
                first_is_a,
                scores_a: a,
                scores_b: b,
                verdict: Some(verdict),
                comment: "tuned is right, base \"guesses\", honestly".into(),
                unix: 0,
            };
            append(&engine::human_eval::evaluation::Evaluation::ratings_path(&eval), &r).unwrap();
        }
    }
    let out = workbench(&["human-eval", "results", eval.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rate = |model: u64, criterion: &str| {
        let c = r["criteria"].as_array().unwrap().iter().find(|c| c["model"] == model && c["criterion"] == criterion).unwrap();
        c["rate"]["rate"].as_f64().unwrap()
    };
    assert_eq!((rate(0, "relevance"), rate(1, "relevance")), (0.25, 1.0));
    assert_eq!(r["pairs"][0]["second_wins"]["rate"].as_f64(), Some(1.0));
    let csv = dir.path().join("ratings.csv");
    let out = workbench(&["human-eval", "results", eval.to_str().unwrap(), "--csv", csv.to_str().unwrap()]);
    assert!(text(&out).contains("relevance") && text(&out).contains("100% ["), "{}", text(&out));
    // One row per rating, models named, sides resolved, the comment's comma and quotes intact.
    let mut reader = csv::Reader::from_path(&csv).unwrap();
    let header = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for row in &rows {
        assert_eq!((&row[col("first_model")], &row[col("second_model")]), ("m/base (base)", "m/tuned (base)"));
        assert_eq!((&row[col("relevance_second")], &row[col("verdict")]), ("1", "second"));
        assert_eq!(&row[col("comment")], "tuned is right, base \"guesses\", honestly");
    }
}

#[test]
fn human_eval_generates_answers_packages_them_for_a_reviewer_elsewhere_and_writes_a_report() {
    use engine::human_eval::evaluation::Evaluation;
    use engine::human_eval::ratings::{Rating, append};
    use engine::human_eval::rubric::Verdict;
    let dir = tempfile::tempdir().unwrap();
    let models: Vec<PathBuf> = [21, 22]
        .iter()
        .map(|&seed| {
            let m = dir.path().join(format!("model{seed}"));
            engine::sample_build::write_tiny_model(&sample_dir().join("model"), seed, &m).unwrap();
            m
        })
        .collect();
    let prompts = sample_dir().join("data/test.jsonl");
    let eval = dir.path().join("eval");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let out = workbench(&[
        "human-eval",
        "create",
        "--prompts",
        &s(&prompts),
        "--limit",
        "3",
        "--max-new-tokens",
        "5",
        "--model",
        &s(&models[0]),
        "--model",
        &s(&models[1]),
        "--out",
        &s(&eval),
    ]);
    assert!(out.status.success() && text(&out).contains("3 items, 2 models"), "{}", text(&out));
    let e = Evaluation::open(&eval).unwrap();
    assert_eq!(e.items[0].prompt.question_text(), engine::comparisons::prompts_from_file(&prompts).unwrap()[0].question_text());
    assert!(e.items.iter().all(|i| i.answers.iter().all(|a| !a.is_empty())), "every answer generated");
    // One model only is refused with the reason, and nothing is written.
    let lone = dir.path().join("lone");
    let out = workbench(&["human-eval", "create", "--prompts", &s(&prompts), "--model", &s(&models[0]), "--out", &s(&lone)]);
    assert!(!out.status.success() && text(&out).contains("two or more models") && !lone.exists(), "{}", text(&out));

    // A package for a reviewer elsewhere: no model path in it; their ratings come back.
    let pkg = dir.path().join("pkg");
    let out = workbench(&["human-eval", "package", &s(&eval), "--out", &s(&pkg)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!std::fs::read_to_string(pkg.join("evaluation.json")).unwrap().contains("model21"));
    for item in 0..3 {
        let scores = |v: u8| std::collections::BTreeMap::from([("relevance".to_string(), v), ("accuracy".to_string(), v)]);
        let first_is_a = engine::human_eval::blind::first_is_a(e.seed, "Cy", item);
        let r = Rating {
            reviewer: "Cy".into(),
            item,
            first_is_a,
            scores_a: scores(1),
            scores_b: scores(0),
            verdict: Some(Verdict::A),
            comment: String::new(),
            unix: 1,
        };
        append(&Evaluation::ratings_path(&pkg), &r).unwrap();
    }
    let out = workbench(&["human-eval", "import", &s(&eval), &s(&pkg)]);
    assert!(out.status.success() && text(&out).contains("3 ratings added, 0 replaced, 0 already here, 0 conflicts"), "{}", text(&out));
    let out = workbench(&["human-eval", "import", &s(&eval), &s(&pkg)]);
    assert!(text(&out).contains("0 ratings added, 0 replaced, 3 already here"), "{}", text(&out));

    let out = workbench(&["human-eval", "results", &s(&eval)]);
    assert!(out.status.success() && text(&out).contains("Ranking (Bradley-Terry") && text(&out).contains("Cy: 3 items"), "{}", text(&out));
    let out = workbench(&["human-eval", "report", &s(&eval)]);
    assert!(out.status.success(), "{}", text(&out));
    let report = std::fs::read_to_string(eval.join("report/report.md")).unwrap();
    assert!(report.contains("3 ratings by 1 reviewer(s) of 3 items") && report.contains("(ranking.png)"), "{report}");
    for png in ["rates.png", "ranking.png"] {
        assert!(std::fs::read(eval.join("report").join(png)).unwrap().starts_with(b"\x89PNG"), "{png}");
    }
}
