//! What reviewers rate: criteria (binary, or a scale such as 1-5) with the
//! description shown to the reviewer, and whether they also state an overall
//! preference between the two answers and may comment. The default is Story
//! A's rubric: relevance and factual accuracy, then a preference.

use serde::{Deserialize, Serialize};

/// How a criterion is rated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Scale {
    /// Yes or no, with the words shown for each (counted as a rate of "yes").
    Binary {
        /// The word for 1 ("relevant").
        yes: String,
        /// The word for 0 ("not relevant").
        no: String,
    },
    /// Whole numbers from `min` to `max` (averaged).
    Points {
        /// The lowest score.
        min: u8,
        /// The highest score.
        max: u8,
    },
}

/// One thing each answer is rated on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    /// Short name, unique in the rubric ("relevance").
    pub name: String,
    /// What the reviewer is asked, shown beside the keys.
    pub description: String,
    /// How it is rated.
    pub scale: Scale,
}

impl Criterion {
    /// Whether `value` is a valid score on this criterion.
    pub fn accepts(&self, value: u8) -> bool {
        match self.scale {
            Scale::Binary { .. } => value <= 1,
            Scale::Points { min, max } => (min..=max).contains(&value),
        }
    }
}

/// The overall verdict between the two answers of an item, as Chatbot Arena asks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The answer shown as A is better.
    A,
    /// The answer shown as B is better.
    B,
    /// Equally good.
    Tie,
    /// Neither is acceptable.
    BothBad,
}

/// The criteria, and whether a preference and a comment are asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rubric {
    /// Rated for each answer, in this order.
    pub criteria: Vec<Criterion>,
    /// Ask which answer is better ([`Verdict`]).
    pub preference: bool,
    /// Offer a free comment.
    pub comment: bool,
}

impl Rubric {
    /// Story A's rubric: relevance and factual accuracy of each answer, then a preference and a comment.
    pub fn story_a() -> Self {
        let binary = |yes: &str, no: &str| Scale::Binary { yes: yes.into(), no: no.into() };
        Self {
            criteria: vec![
                Criterion {
                    name: "relevance".into(),
                    description: "Does the answer address what was asked?".into(),
                    scale: binary("relevant", "not relevant"),
                },
                Criterion {
                    name: "accuracy".into(),
                    description: "Is everything the answer states correct for our company?".into(),
                    scale: binary("accurate", "inaccurate"),
                },
            ],
            preference: true,
            comment: true,
        }
    }

    /// What is wrong with the rubric, if anything: no criteria and no
    /// preference, an empty or repeated name, a scale whose end is below its start.
    pub fn check(&self) -> Result<(), String> {
        if self.criteria.is_empty() && !self.preference {
            return Err("the rubric asks nothing: add a criterion or the preference".into());
        }
        for (i, c) in self.criteria.iter().enumerate() {
            if c.name.trim().is_empty() {
                return Err(format!("criterion {} has no name", i + 1));
            }
            if self.criteria[..i].iter().any(|d| d.name == c.name) {
                return Err(format!("two criteria are named {:?}; names must differ", c.name));
            }
            if let Scale::Points { min, max } = c.scale {
                if min >= max {
                    return Err(format!("criterion {:?}: its scale runs from {min} to {max}; the end must be above the start", c.name));
                }
                if max > 9 {
                    return Err(format!(
                        "criterion {:?}: its scale ends at {max}; reviewers rate with the keys 0-9, so end at 9 or below",
                        c.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The rubric in a TOML file (as `workbench human-eval rubric` prints it), checked.
    pub fn load(path: &std::path::Path) -> crate::error::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::error::Error::io(path, e))?;
        let bad = |message: String| crate::error::Error::File { path: path.into(), message };
        let rubric: Self = toml::from_str(&text).map_err(|e| bad(format!("not a rubric: {e}")))?;
        rubric.check().map_err(bad)?;
        Ok(rubric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn story_a_rubric_is_valid_and_bad_ones_say_why() {
        let r = Rubric::story_a();
        assert_eq!(r.check(), Ok(()));
        assert_eq!(r.criteria.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["relevance", "accuracy"]);
        assert!(r.criteria[0].accepts(1) && !r.criteria[0].accepts(2));
        let mut twice = r.clone();
        twice.criteria.push(r.criteria[0].clone());
        assert!(twice.check().unwrap_err().contains("relevance"));
        let mut scale = r.clone();
        scale.criteria.push(Criterion { name: "tone".into(), description: String::new(), scale: Scale::Points { min: 5, max: 1 } });
        assert!(scale.check().unwrap_err().contains("tone"));
        let points = Criterion { name: "tone".into(), description: String::new(), scale: Scale::Points { min: 1, max: 5 } };
        assert!(points.accepts(5) && !points.accepts(0) && !points.accepts(6));
        let empty = Rubric { criteria: Vec::new(), preference: false, comment: true };
        assert!(empty.check().unwrap_err().contains("asks nothing"));
        let back: Rubric = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let mut ten = r.clone();
        ten.criteria[0].scale = Scale::Points { min: 1, max: 10 };
        assert!(ten.check().unwrap_err().contains("keys 0-9"));
    }

    #[test]
    fn a_rubric_file_round_trips_and_bad_ones_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rubric.toml");
        let mut r = Rubric::story_a();
        r.criteria.push(Criterion { name: "tone".into(), description: "Polite?".into(), scale: Scale::Points { min: 1, max: 5 } });
        std::fs::write(&file, toml::to_string_pretty(&r).unwrap()).unwrap();
        assert_eq!(Rubric::load(&file).unwrap(), r);
        std::fs::write(
            &file,
            "preference = true\ncomment = true\ncriteria = [{ name = \"x\", description = \"\", scale = { kind = \"stars\" } }]\n",
        )
        .unwrap();
        let e = Rubric::load(&file).unwrap_err().to_string();
        assert!(e.contains("rubric.toml") && e.contains("stars"), "{e}");
    }
}
