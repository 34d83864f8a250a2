//! An automatic judge: any model the workbench can ask (local, or on an
//! OpenAI-compatible endpoint) rates the same frozen items with the same
//! rubric, blind to the models' names and with its own A/B sides, as one more
//! reviewer whose ratings go to `judge.jsonl` (never mixed with the people's).
//! The results then say how well it agrees with the human reviewers:
//! agreement rate, Cohen's kappa per criterion and for the preference, and
//! Pearson's correlation for scales, so a team learns whether it can trust
//! the judge for its next run. The judge sees the data's reference answer
//! where there is one, as a reviewer knows the facts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::evaluation::{Evaluation, Item};
use super::ratings::{self, Rating};
use super::rubric::{Rubric, Scale, Verdict};
use super::stats::{Rate, Z95, cohen_kappa, pearson, wilson};
use crate::cancel::CancelFlag;
use crate::data::conversation::{Message, Role};
use crate::error::{Error, Result};
use crate::generate::FinishReason;
use crate::generate::models::Models;
use crate::generate::target::{AnswerSettings, Question, Target};

/// The judges' ratings, beside `ratings.jsonl`.
pub const JUDGE_FILE: &str = "judge.jsonl";

/// The judges' ratings file of the evaluation in `dir`.
pub fn judge_path(dir: &Path) -> PathBuf {
    dir.join(JUDGE_FILE)
}

/// Which model judges which evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeRequest {
    /// The evaluation folder.
    pub dir: PathBuf,
    /// The judge.
    pub judge: Target,
    /// Its generation settings (greedy by default).
    pub settings: AnswerSettings,
}

/// What a judging run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judged {
    /// The judge's name as a reviewer ("judge: ...").
    pub reviewer: String,
    /// Items rated.
    pub rated: usize,
    /// Items whose reply could not be read, with the reason and the reply's start.
    pub unreadable: Vec<String>,
}

/// The judge's reviewer name.
pub fn reviewer_name(judge: &Target) -> String {
    format!("judge: {}", judge.label())
}

/// The conversation that asks the judge to rate `item`, its answers shown as A and B.
pub fn prompt(rubric: &Rubric, item: &Item, first_is_a: bool) -> Vec<Message> {
    let (a, b) = if first_is_a { (&item.answers[0], &item.answers[1]) } else { (&item.answers[1], &item.answers[0]) };
    let mut text = format!("Question:\n{}\n\n", item.prompt.question_text());
    if let Some(r) = &item.prompt.reference {
        let _ = write!(text, "A correct reference answer:\n{r}\n\n");
    }
    let _ = write!(text, "Answer A:\n{a}\n\nAnswer B:\n{b}\n\nRate each answer on:\n");
    let mut shape = Vec::new();
    for c in &rubric.criteria {
        let range = match &c.scale {
            Scale::Binary { yes, no } => format!("1 = {yes}, 0 = {no}"),
            Scale::Points { min, max } => format!("a whole number from {min} to {max}"),
        };
        let _ = writeln!(text, "- {} ({range}): {}", c.name, c.description);
        shape.push(format!("\"{}\": <number>", c.name));
    }
    let scores = format!("{{{}}}", shape.join(", "));
    let mut reply = format!("{{\"A\": {scores}, \"B\": {scores}");
    if rubric.preference {
        text.push_str("Then say which answer is better: \"A\", \"B\", \"tie\" or \"both_bad\".\n");
        reply.push_str(", \"better\": \"A\" | \"B\" | \"tie\" | \"both_bad\"");
    }
    reply.push('}');
    let _ = write!(text, "\nReply with only this JSON object:\n{reply}");
    let system = "You are a careful, impartial reviewer of an assistant's answers. You rate exactly as asked and reply with JSON only.";
    vec![Message { role: Role::System, content: system.into() }, Message { role: Role::User, content: text }]
}

/// Scores of A and B and the verdict.
pub type Scores = (BTreeMap<String, u8>, BTreeMap<String, u8>, Option<Verdict>);

/// Reads the judge's reply: the first JSON object in it, its scores checked against `rubric`.
pub fn parse(reply: &str, rubric: &Rubric) -> std::result::Result<Scores, String> {
    let start = reply.find('{').ok_or("no JSON object in the reply")?;
    // The first whole JSON value from there; whatever follows it (notes, a repeat) is ignored.
    let value: serde_json::Value = serde_json::Deserializer::from_str(&reply[start..])
        .into_iter()
        .next()
        .ok_or("no JSON object in the reply")?
        .map_err(|e| format!("not valid JSON ({e})"))?;
    let get = |key: &str| value.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v));
    let side = |name: &str| -> std::result::Result<BTreeMap<String, u8>, String> {
        let scores = get(name).ok_or(format!("no scores for answer {name}"))?;
        rubric
            .criteria
            .iter()
            .map(|c| {
                let v = scores.get(&c.name).ok_or(format!("answer {name} has no {} score", c.name))?;
                let n = match v {
                    serde_json::Value::Bool(b) => Some(u64::from(*b)),
                    serde_json::Value::String(s) if ["yes", "true"].contains(&s.to_lowercase().as_str()) => Some(1),
                    serde_json::Value::String(s) if ["no", "false"].contains(&s.to_lowercase().as_str()) => Some(0),
                    other => other.as_u64().or_else(|| other.as_str().and_then(|s| s.trim().parse().ok())),
                };
                match n.and_then(|n| u8::try_from(n).ok()).filter(|&n| c.accepts(n)) {
                    Some(n) => Ok((c.name.clone(), n)),
                    None => Err(format!("answer {name}: {v} is not a {} score", c.name)),
                }
            })
            .collect()
    };
    let verdict = if rubric.preference {
        let v = get("better").and_then(|v| v.as_str()).ok_or("no \"better\" verdict")?;
        Some(match v.trim().to_lowercase().replace(' ', "_").as_str() {
            "a" => Verdict::A,
            "b" => Verdict::B,
            "tie" => Verdict::Tie,
            "both_bad" => Verdict::BothBad,
            other => return Err(format!("\"better\" is {other:?}, not A, B, tie or both_bad")),
        })
    } else {
        None
    };
    Ok((side("A")?, side("B")?, verdict))
}

/// The judge rates every item of the evaluation (`progress(done, total)`
/// after each); each rating is appended to [`JUDGE_FILE`] as it is made.
pub fn run(req: &JudgeRequest, models: &Models, cancel: &CancelFlag, mut progress: impl FnMut(usize, usize)) -> Result<Judged> {
    let eval = Evaluation::open(&req.dir)?;
    if eval.package_of.is_some() {
        return Err(Error::File { path: req.dir.clone(), message: "is a review package; judge the original evaluation".into() });
    }
    let reviewer = reviewer_name(&req.judge);
    let mut out = Judged { reviewer: reviewer.clone(), ..Default::default() };
    progress(0, eval.items.len());
    for (i, item) in eval.items.iter().enumerate() {
        let first_is_a = super::blind::first_is_a(eval.seed, &reviewer, i);
        let question =
            Question { target: req.judge.clone(), messages: prompt(&eval.rubric, item, first_is_a), settings: req.settings.clone() };
        let answer = match question.ask(models, cancel, |_| {}) {
            Ok(a) => a,
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            // One item the judge cannot answer (a prompt longer than its context) does not stop the others.
            Err(e) => {
                out.unreadable.push(format!("item {}: the judge could not answer: {e}", i + 1));
                progress(i + 1, eval.items.len());
                continue;
            }
        };
        if answer.stats.finish_reason == FinishReason::Cancelled || cancel.is_set() {
            return Err(Error::Cancelled);
        }
        match parse(&answer.text, &eval.rubric) {
            Ok((scores_a, scores_b, verdict)) => {
                let unix = chrono::Utc::now().timestamp();
                let rating =
                    Rating { reviewer: reviewer.clone(), item: i, first_is_a, scores_a, scores_b, verdict, comment: String::new(), unix };
                ratings::append(&judge_path(&req.dir), &rating)?;
                out.rated += 1;
            }
            Err(why) => {
                let start: String = answer.text.chars().take(80).collect();
                out.unreadable.push(format!("item {}: {why}; the reply began {start:?}", i + 1));
            }
        }
        progress(i + 1, eval.items.len());
    }
    Ok(out)
}

/// How well one judge agrees with the people on one criterion (or the preference).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeAgreement {
    /// The judge.
    pub judge: String,
    /// The criterion's name, or "preference".
    pub criterion: String,
    /// How often the judge's score equals a person's on the same answer (each person's rating a pair).
    pub agreement: Option<Rate>,
    /// Cohen's kappa over those pairs.
    pub kappa: Option<f64>,
    /// Pearson's correlation over those pairs (scales only).
    pub correlation: Option<f64>,
}

/// A rating's scores and verdict in model terms: the item's first model's
/// scores, the second's, and the verdict (0 first better, 1 second, 2 tie, 3 both bad).
fn in_model_terms(r: &Rating) -> (&BTreeMap<String, u8>, &BTreeMap<String, u8>, Option<usize>) {
    let [first, second] = r.scores_in_item_order();
    let verdict = r.verdict_in_item_order().map(|v| match v {
        Verdict::A => 0,
        Verdict::B => 1,
        Verdict::Tie => 2,
        Verdict::BothBad => 3,
    });
    (first, second, verdict)
}

/// Each judge's agreement with the people (`humans`), per criterion and for the preference.
pub fn agreement(eval: &Evaluation, humans: &[&Rating], judges: &[&Rating]) -> Vec<JudgeAgreement> {
    let mut names: Vec<&str> = judges.iter().map(|r| r.reviewer.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let mine: Vec<&&Rating> = judges.iter().filter(|r| r.reviewer == name).collect();
        let pairs_of = |value: &dyn Fn(&Rating) -> Vec<Option<usize>>| -> (Vec<usize>, Vec<usize>) {
            let mut pairs = (Vec::new(), Vec::new());
            for j in &mine {
                for h in humans.iter().filter(|h| h.item == j.item) {
                    for (x, y) in value(j).into_iter().zip(value(h)) {
                        if let (Some(x), Some(y)) = (x, y) {
                            pairs.0.push(x);
                            pairs.1.push(y);
                        }
                    }
                }
            }
            pairs
        };
        let summarize = |criterion: String, (a, b): (Vec<usize>, Vec<usize>), scale: bool| {
            let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
            let as_f64 = |v: &[usize]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
            JudgeAgreement {
                judge: name.to_string(),
                criterion,
                agreement: wilson(same, a.len(), Z95),
                kappa: cohen_kappa(&a, &b),
                correlation: if scale { pearson(&as_f64(&a), &as_f64(&b)) } else { None },
            }
        };
        for c in &eval.rubric.criteria {
            let pairs = pairs_of(&|r: &Rating| {
                let (first, second, _) = in_model_terms(r);
                vec![first.get(&c.name).map(|&v| usize::from(v)), second.get(&c.name).map(|&v| usize::from(v))]
            });
            out.push(summarize(c.name.clone(), pairs, matches!(c.scale, Scale::Points { .. })));
        }
        if eval.rubric.preference {
            out.push(summarize("preference".into(), pairs_of(&|r: &Rating| vec![in_model_terms(r).2]), false));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::human_eval::evaluation::tests::comparison;

    fn eval() -> Evaluation {
        Evaluation::from_comparison(&comparison(2), Rubric::story_a(), 5).unwrap()
    }

    #[test]
    fn the_prompt_shows_both_answers_the_rubric_and_the_reply_to_give() {
        let e = eval();
        let m = prompt(&e.rubric, &e.items[0], false);
        let text = &m[1].content;
        assert!(text.contains("Answer A:\nanswer 1 to Q1") && text.contains("Answer B:\nanswer 0 to Q1"), "sides swapped: {text}");
        assert!(text.contains("- relevance (1 = relevant, 0 = not relevant): Does the answer address"), "{text}");
        assert!(text.contains(r#"{"A": {"relevance": <number>, "accuracy": <number>}, "B": {"#) && text.contains("both_bad"), "{text}");
        assert!(!text.contains("model0"), "no model name");
    }

    #[test]
    fn replies_are_read_leniently_and_bad_ones_say_why() {
        let r = Rubric::story_a();
        let (a, b, v) = parse("Sure! ```json\n{\"A\": {\"relevance\": 1, \"accuracy\": \"yes\"}, \"b\": {\"relevance\": false, \"accuracy\": 0}, \"better\": \"Both bad\"}\n```", &r).unwrap();
        assert_eq!((a["relevance"], a["accuracy"], b["relevance"], b["accuracy"], v), (1, 1, 0, 0, Some(Verdict::BothBad)));
        let trailing = "{\"A\": {\"relevance\": 1, \"accuracy\": 1}, \"B\": {\"relevance\": 0, \"accuracy\": 1}, \"better\": \"A\"}\nNote: {B is terse}";
        assert_eq!(parse(trailing, &r).unwrap().2, Some(Verdict::A), "text after the object is ignored");
        for (reply, why) in [
            ("I think A is better.", "no JSON object"),
            ("{\"A\": {\"relevance\": 1}", "not valid JSON"),
            ("}{", "not valid JSON"),
            ("{\"A\": {\"relevance\": 1, \"accuracy\": 1}, \"B\": {\"relevance\": 1, \"accuracy\": 1}}", "no \"better\""),
            (
                "{\"A\": {\"relevance\": 3, \"accuracy\": 1}, \"B\": {\"relevance\": 1, \"accuracy\": 1}, \"better\": \"A\"}",
                "3 is not a relevance score",
            ),
            ("{\"A\": {\"relevance\": 1, \"accuracy\": 1}, \"better\": \"A\"}", "no scores for answer B"),
            (
                "{\"A\": {\"relevance\": 1, \"accuracy\": 1}, \"B\": {\"relevance\": 1, \"accuracy\": 1}, \"better\": \"C\"}",
                "not A, B, tie",
            ),
        ] {
            let e = parse(reply, &r).unwrap_err();
            assert!(e.contains(why), "{reply}: {e}");
        }
    }

    #[test]
    fn agreement_with_people_goes_through_both_sides() {
        let e = eval();
        let s = |rel: u8| BTreeMap::from([("relevance".to_string(), rel), ("accuracy".to_string(), 1)]);
        // Ana sees the first model as A; the judge as B. Both: first model not relevant, second relevant, second better.
        let ana = Rating {
            reviewer: "Ana".into(),
            item: 0,
            first_is_a: true,
            scores_a: s(0),
            scores_b: s(1),
            verdict: Some(Verdict::B),
            comment: String::new(),
            unix: 0,
        };
        let ben = Rating {
            reviewer: "Ben".into(),
            item: 0,
            first_is_a: true,
            scores_a: s(1),
            scores_b: s(1),
            verdict: Some(Verdict::A),
            comment: String::new(),
            unix: 0,
        };
        let judge = Rating {
            reviewer: "judge: x".into(),
            item: 0,
            first_is_a: false,
            scores_a: s(1),
            scores_b: s(0),
            verdict: Some(Verdict::A),
            comment: String::new(),
            unix: 0,
        };
        let got = agreement(&e, &[&ana, &ben], &[&judge]);
        let relevance = got.iter().find(|g| g.criterion == "relevance").unwrap();
        assert_eq!(relevance.agreement.unwrap().n, 4, "two answers x two people");
        assert_eq!(relevance.agreement.unwrap().rate, 0.75, "agrees with Ana on both, with Ben on one");
        assert_eq!(relevance.kappa, cohen_kappa(&[0, 1, 0, 1], &[0, 1, 1, 1]));
        let preference = got.iter().find(|g| g.criterion == "preference").unwrap();
        assert_eq!(preference.agreement.unwrap().rate, 0.5, "the judge prefers the second model, as Ana, not Ben");
        assert_eq!(got.iter().find(|g| g.criterion == "accuracy").unwrap().kappa, None, "all accurate: no variance");
    }
}
