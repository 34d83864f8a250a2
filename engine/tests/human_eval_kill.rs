//! A reviewer's process killed with SIGKILL in the middle of rating loses no
//! rating it had saved: this test runs itself again as a child process that
//! rates (and revises) as fast as it can through `human_eval::review`, as the
//! Review tab does, printing each rating once `rate` returned; the parent
//! kills it with SIGKILL, then reads the ratings file back and rates on.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use engine::comparisons::{Comparison, Prompt};
use engine::generate::target::{Answer, Target};
use engine::generate::{AnswerStats, FinishReason};
use engine::human_eval::evaluation::Evaluation;
use engine::human_eval::ratings;
use engine::human_eval::review::{Draft, Review};
use engine::human_eval::rubric::{Rubric, Verdict};

const CHILD: &str = "WORKBENCH_RATE_UNTIL_KILLED";

/// An evaluation of two models on 40 prompts in `dir`.
fn evaluation(dir: &Path) {
    let stats = AnswerStats {
        finish_reason: FinishReason::Stop,
        prompt_tokens: 1,
        completion_tokens: 1,
        time_to_first_token_s: 0.0,
        tokens_per_s: 0.0,
        elapsed_s: 0.0,
    };
    let answer = |t: String| Some(Answer { text: t, stats: stats.clone() });
    let mut c = Comparison {
        targets: vec![Target::base(Path::new("/m/a"), "model"), Target::base(Path::new("/m/b"), "model")],
        ..Default::default()
    };
    for i in 0..40 {
        c.record(&Prompt::question(&format!("question {i}")), vec![answer(format!("a{i}")), answer(format!("b{i}"))]);
    }
    Evaluation::from_comparison(&c, Rubric::story_a(), 11).unwrap().create(dir).unwrap();
}

/// A rating whose relevance of A is `n % 2` (so each revision differs).
fn draft(n: usize) -> Draft {
    let s = |v: u8| BTreeMap::from([("relevance".to_string(), v), ("accuracy".to_string(), 1)]);
    Draft { scores_a: s((n % 2) as u8), scores_b: s(1), verdict: Some(Verdict::Tie), comment: format!("rating {n}") }
}

/// The child: rates every item, then revises them round and round, printing
/// "item n" after each rating `rate` saved, until it is killed.
fn rate_until_killed(dir: &Path) -> ! {
    let mut review = Review::start(dir, "Ana").unwrap();
    let mut out = std::io::stdout();
    for n in 0.. {
        review.rate(&draft(n), n >= 40, n as i64).unwrap();
        let (item, _) = review.item().unwrap();
        writeln!(out, "{item} {n}").unwrap();
        out.flush().unwrap();
        if review.pos + 1 == review.order.len() {
            review.pos = 0;
        } else {
            review.step(1);
        }
    }
    unreachable!()
}

#[test]
fn kill_9_while_rating_loses_no_saved_rating() {
    if let Ok(dir) = std::env::var(CHILD) {
        rate_until_killed(Path::new(&dir));
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("eval");
    evaluation(&dir);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_9_while_rating_loses_no_saved_rating", "--nocapture", "--test-threads=1"])
        .env(CHILD, &dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it has saved 100 ratings (40 first ones, then revisions), then SIGKILL it mid-stream.
    let mut saved: BTreeMap<usize, usize> = BTreeMap::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while saved.len() < 40 || saved.values().max().copied().unwrap_or(0) < 100 {
        let line = lines.next().expect("the child stopped early").unwrap();
        let Some((item, n)) = line.split_once(' ').and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?))) else { continue };
        saved.insert(item, n);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Whatever was being written when it died, every rating it reported saved is there, as its latest.
    let read = ratings::read(&Evaluation::ratings_path(&dir)).unwrap();
    let latest: BTreeMap<usize, String> = read.latest().iter().map(|r| (r.item, r.comment.clone())).collect();
    for (item, n) in &saved {
        let got: usize = latest[item].trim_start_matches("rating ").parse().unwrap();
        assert!(got >= *n, "item {item}: saved rating {n} reported, the file has {got}");
    }
    // Reviewing goes on: a new rating after the kill is read back with the rest.
    let mut review = Review::start(&dir, "Ana").unwrap();
    assert_eq!(review.progress().0, 40);
    review.rate(&draft(1), true, 0).unwrap();
    let after = ratings::read(&Evaluation::ratings_path(&dir)).unwrap();
    assert_eq!((after.torn_last_line, after.all.len()), (None, read.all.len() + 1));
}
