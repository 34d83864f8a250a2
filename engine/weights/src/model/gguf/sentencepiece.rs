//! A SentencePiece BPE vocabulary (`tokenizer.ggml.model = llama`, as
//! Mistral and Llama 2 files have) as transformers 5 builds it from a GGUF
//! file: its `LlamaTokenizer` over the file's tokens, with the merges the
//! scores imply (the file stores none), byte fallback (`<0x41>` tokens), the
//! `Metaspace` pre-tokenizer (`▁` for spaces, prepended to the first word
//! unless `tokenizer.ggml.add_space_prefix` is false, as in Gemma's files)
//! and the matching decoder.

use std::collections::{HashMap, HashSet};

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::replace::Replace;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::{DecoderWrapper, PreTokenizerWrapper, Tokenizer};

use super::metadata::Meta;
use crate::error::Result;

/// SentencePiece's word-boundary mark.
const SPACE: char = '▁';

/// The BPE model, pre-tokenizer and decoder of the SentencePiece vocabulary `tokens`.
pub(crate) fn tokenizer(meta: &Meta, tokens: &[&str]) -> Result<Tokenizer> {
    let scores = meta.opt_floats("tokenizer.ggml.scores")?.ok_or_else(|| {
        meta.error("metadata key tokenizer.ggml.scores is missing; a SentencePiece vocabulary needs its scores to order its merges")
    })?;
    if scores.len() != tokens.len() {
        return Err(meta.error(format!(
            "tokenizer.ggml.scores has {} entries but tokenizer.ggml.tokens has {}; the file is inconsistent",
            scores.len(),
            tokens.len()
        )));
    }
    let mut vocab: Vocab = Vocab::default();
    for (i, t) in tokens.iter().enumerate() {
        vocab.insert(t.to_string(), i as u32);
    }
    let merges = merges_from_scores(tokens, &scores, &vocab);
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true)
        .fuse_unk(true)
        .build()
        .map_err(|e| meta.error(format!("cannot build the BPE tokenizer from tokenizer.ggml.tokens and scores: {e}")))?;
    let prefix = meta.opt_bool("tokenizer.ggml.add_space_prefix")?.unwrap_or(true);
    let mut tok = Tokenizer::new(bpe);
    let scheme = if prefix { PrependScheme::First } else { PrependScheme::Never };
    tok.with_pre_tokenizer(Some(PreTokenizerWrapper::Metaspace(Metaspace::new(SPACE, scheme, false))));
    let replace = Replace::new(SPACE.to_string(), " ").map_err(|e| meta.error(format!("the decoder: {e}")))?;
    let mut decoders = vec![
        DecoderWrapper::Replace(replace),
        DecoderWrapper::ByteFallback(ByteFallback::default()),
        DecoderWrapper::Fuse(Fuse::default()),
    ];
    // The space put before the text is taken off again.
    if prefix {
        decoders.push(DecoderWrapper::Strip(Strip::new(' ', 1, 0)));
    }
    tok.with_decoder(Some(DecoderWrapper::Sequence(DecoderSequence::new(decoders))));
    Ok(tok)
}

/// The merges a SentencePiece vocabulary implies (transformers'
/// `generate_merges` with scores): every split of a token into two tokens of
/// the vocabulary, ordered by the whole token's score, best first, then by
/// the longer left and right parts; ties keep vocabulary order (within a
/// token, by the parts' ids).
fn merges_from_scores(tokens: &[&str], scores: &[f64], vocab: &Vocab) -> Vec<(String, String)> {
    // A token listed twice takes its last score, and its first place.
    let score: HashMap<&str, f64> = tokens.iter().copied().zip(scores.iter().copied()).collect();
    let mut seen = HashSet::new();
    let mut all: Vec<(&str, &str, f64)> = Vec::new();
    for &token in tokens {
        if !seen.insert(token) {
            continue;
        }
        let mut local: Vec<(&str, &str, f64)> = token
            .char_indices()
            .skip(1)
            .map(|(i, _)| token.split_at(i))
            .filter(|(l, r)| vocab.contains_key(*l) && vocab.contains_key(*r))
            .map(|(l, r)| (l, r, score[token]))
            .collect();
        local.sort_by_key(|(l, r, _)| (vocab[*l], vocab[*r]));
        all.extend(local);
    }
    let chars = |s: &str| s.chars().count();
    all.sort_by(|a, b| {
        b.2.partial_cmp(&a.2).unwrap_or(std::cmp::Ordering::Equal).then(chars(b.0).cmp(&chars(a.0))).then(chars(b.1).cmp(&chars(a.1)))
    });
    all.into_iter().map(|(l, r, _)| (l.to_string(), r.to_string())).collect()
}
