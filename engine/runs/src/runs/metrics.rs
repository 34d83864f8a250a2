//! `metrics.jsonl`: one JSON object per line. Every record has `step`,
//! `epoch` and `elapsed_s`; training steps add `loss`, `lr`, `grad_norm`,
//! `tokens_per_s` (and `peak_rss_bytes` where known); evaluation steps add `val_loss` and `val_ppl`.
//! A value that is not finite is written as the text `"NaN"`, `"inf"` or
//! `"-inf"` (JSON has no such numbers; a missing value is a missing field). Other
//! writers (remote jobs) may add fields such as `accelerator_util`; readers
//! keep them in `extra`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MetricRecord {
    /// Optimizer step (1-based).
    pub step: usize,
    /// Fractional epoch reached.
    pub epoch: f64,
    /// Mean token loss over the step's effective batch.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "float_or_text")]
    pub loss: Option<f64>,
    /// Learning rate used at this step.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "float_or_text")]
    pub lr: Option<f64>,
    /// Global gradient norm before clipping.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "float_or_text")]
    pub grad_norm: Option<f64>,
    /// Training throughput of this step (real tokens per second).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "float_or_text")]
    pub tokens_per_s: Option<f64>,
    /// Seconds since the run started (excluding time paused or stopped).
    pub elapsed_s: f64,
    /// Peak resident memory of the training process so far (CPU runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// Validation loss, on evaluation steps.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "float_or_text")]
    pub val_loss: Option<f64>,
    /// Validation perplexity, exp(val_loss), on evaluation steps.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "float_or_text")]
    pub val_ppl: Option<f64>,
    /// Fields written by other producers.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Serde for metric values: finite numbers as JSON numbers, others as text.
mod float_or_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) if x.is_finite() => s.serialize_f64(*x),
            Some(x) if x.is_nan() => s.serialize_str("NaN"),
            Some(x) if *x > 0.0 => s.serialize_str("inf"),
            Some(_) => s.serialize_str("-inf"),
            None => s.serialize_none(),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Number(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None => Ok(None),
            Some(Value::Number(x)) => Ok(Some(x)),
            Some(Value::Text(t)) => match t.as_str() {
                "NaN" | "nan" => Ok(Some(f64::NAN)),
                "inf" | "Infinity" | "+inf" => Ok(Some(f64::INFINITY)),
                "-inf" | "-Infinity" => Ok(Some(f64::NEG_INFINITY)),
                other => Err(serde::de::Error::custom(format!("expected a number, \"NaN\", \"inf\" or \"-inf\", got {other:?}"))),
            },
        }
    }
}

impl MetricRecord {
    /// The record as one JSON line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("metric records serialise")
    }
}

/// Reads every record of a metrics file; a malformed line is an error naming
/// the line, except a torn last line (a writer killed mid-write), which is
/// ignored.
pub fn read(path: &Path) -> Result<Vec<MetricRecord>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => return Err(Error::DataLine { path: path.into(), line: i + 1, message: e.to_string() }),
        }
    }
    Ok(out)
}

/// Rewrites the metrics file keeping only records up to `step` (used when a
/// run resumes from a checkpoint at `step`).
pub fn truncate_after(path: &Path, step: usize) -> Result<()> {
    let kept: String = read(path)?.into_iter().filter(|r| r.step <= step).map(|r| r.to_line() + "\n").collect();
    crate::atomic::write(path, kept.as_bytes())
}

/// The selected runs' metrics as CSV, one row per record.
pub fn to_csv(runs: &[(String, Vec<MetricRecord>)]) -> String {
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut out = String::from("run,step,epoch,elapsed_s,loss,lr,grad_norm,tokens_per_s,val_loss,val_ppl\n");
    for (name, records) in runs {
        for r in records {
            out += &format!(
                "{name},{},{},{},{},{},{},{},{},{}\n",
                r.step,
                r.epoch,
                r.elapsed_s,
                opt(r.loss),
                opt(r.lr),
                opt(r.grad_norm),
                opt(r.tokens_per_s),
                opt(r.val_loss),
                opt(r.val_ppl)
            );
        }
    }
    out
}

/// Writes [`to_csv`] of `runs` to `path`, atomically.
pub fn write_csv(path: &Path, runs: &[(String, Vec<MetricRecord>)]) -> Result<()> {
    crate::atomic::write(path, to_csv(runs).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_unknown_fields() {
        let line = r#"{"step":3,"epoch":0.5,"loss":2.0,"elapsed_s":1.5,"accelerator_util":0.89}"#;
        let r: MetricRecord = serde_json::from_str(line).unwrap();
        assert_eq!(r.loss, Some(2.0));
        assert_eq!(r.extra["accelerator_util"], serde_json::json!(0.89));
        let back: MetricRecord = serde_json::from_str(&r.to_line()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn non_finite_values_are_text_and_read_back_apart_from_missing_ones() {
        let r =
            MetricRecord { step: 3, loss: Some(f64::NAN), grad_norm: Some(f64::INFINITY), lr: Some(-f64::INFINITY), ..Default::default() };
        let line = r.to_line();
        assert!(line.contains(r#""loss":"NaN""#) && line.contains(r#""grad_norm":"inf""#) && line.contains(r#""lr":"-inf""#), "{line}");
        assert!(!line.contains("val_loss"), "a missing value stays missing: {line}");
        let back: MetricRecord = serde_json::from_str(&line).unwrap();
        assert!(back.loss.unwrap().is_nan());
        assert_eq!((back.grad_norm, back.lr, back.val_loss), (Some(f64::INFINITY), Some(f64::NEG_INFINITY), None));
        let null: MetricRecord = serde_json::from_str(r#"{"step":1,"epoch":0,"elapsed_s":0,"loss":null}"#).unwrap();
        assert_eq!(null.loss, None);
    }

    #[test]
    fn torn_last_line_is_ignored_but_bad_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        std::fs::write(&p, "{\"step\":1,\"epoch\":0.1,\"elapsed_s\":1}\n{\"step\":2,\"ep").unwrap();
        assert_eq!(read(&p).unwrap().len(), 1);
        std::fs::write(&p, "{\"step\":1,\"ep\n{\"step\":2,\"epoch\":0.1,\"elapsed_s\":1}\n").unwrap();
        assert!(read(&p).unwrap_err().to_string().contains(":1:"));
    }

    #[test]
    fn csv_has_a_row_per_record_and_empty_cells_for_missing_values() {
        let r = MetricRecord { step: 3, epoch: 0.5, loss: Some(1.5), elapsed_s: 2.0, ..Default::default() };
        let csv = to_csv(&[("a".into(), vec![r])]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1], "a,3,0.5,2,1.5,,,,,");
    }
}
