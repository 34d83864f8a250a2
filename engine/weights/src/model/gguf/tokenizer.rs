//! The tokenizer a GGUF file describes, as a Hugging Face `tokenizer.json`,
//! `tokenizer_config.json` and `generation_config.json`.
//!
//! A byte-level BPE vocabulary (`tokenizer.ggml.model = gpt2`, as SmolLM2,
//! Llama 3 and Qwen files have) becomes what transformers' GGUF loader builds:
//! BPE over the file's tokens and merges, the ByteLevel pre-tokenizer
//! (`add_prefix_space = false`, GPT-2's split, or the split of a known
//! `tokenizer.ggml.pre` such as `llama-bpe` or `qwen2`), the ByteLevel decoder,
//! no normaliser. A SentencePiece vocabulary (`llama`: Mistral and Llama 2
//! files) becomes transformers' `LlamaTokenizer` ([`super::sentencepiece`]).
//! Either way tokens typed control (3) and the named special tokens become
//! special added tokens, user-defined ones (4) plain added tokens, and
//! `add_bos_token` / `add_eos_token` a post-processor, as transformers 5 does.

use std::collections::HashMap;

use serde_json::{Value as Json, json};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, DecoderWrapper, PostProcessorWrapper, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::metadata::Meta;
use crate::error::Result;

/// llama.cpp's token type of a control token (`<|im_start|>`).
const CONTROL: i64 = 3;
/// llama.cpp's token type of a user-defined added token (`<think>`).
const USER_DEFINED: i64 = 4;

/// Llama 3's pre-tokenizer split (llama.cpp `llama-bpe`).
pub(crate) const LLAMA3_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen2's split (llama.cpp `qwen2`): Llama 3's with single digits.
pub(crate) const QWEN2_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The split of a `tokenizer.ggml.pre` whose merges were learned on a split
/// other than GPT-2's, as transformers' GGUF loader maps them
/// (`GGUF_PRE_TOKENIZER_SPLITS`); None: GPT-2's split.
fn pre_split(pre: &str) -> Option<&'static str> {
    match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "smaug-bpe" | "dbrx" | "pixtral" | "midm-2.0" | "lfm2" => {
            Some(LLAMA3_SPLIT)
        }
        "qwen2" | "deepseek-r1-qwen" | "megrez" => Some(QWEN2_SPLIT),
        _ => None,
    }
}

/// GPT-2's reversible map from bytes to printable characters (the spelling of
/// byte-level vocabularies).
pub fn bytes_to_unicode() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        out[b as usize] = if printable {
            char::from(b)
        } else {
            n += 1;
            char::from_u32(255 + n).expect("valid char")
        };
    }
    out
}

/// The files a tokenizer becomes.
pub(crate) struct TokenizerFiles {
    /// `tokenizer.json`.
    pub tokenizer: Tokenizer,
    /// `tokenizer_config.json`.
    pub config: Json,
    /// `generation_config.json`.
    pub generation: Json,
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
}

/// Builds the tokenizer files from the file's `tokenizer.*` metadata.
pub(crate) fn build(meta: &Meta) -> Result<TokenizerFiles> {
    let kind = meta.str("tokenizer.ggml.model")?;
    let tokens = meta.opt_strings("tokenizer.ggml.tokens")?.ok_or_else(|| meta.error("metadata key tokenizer.ggml.tokens is missing"))?;
    let types = meta.opt_ints("tokenizer.ggml.token_type")?.unwrap_or_default();
    if !types.is_empty() && types.len() != tokens.len() {
        return Err(meta.error(format!(
            "tokenizer.ggml.token_type has {} entries but tokenizer.ggml.tokens has {}; the file is inconsistent",
            types.len(),
            tokens.len()
        )));
    }
    // Which tokens become added tokens: a byte-level vocabulary's control
    // tokens must be spelled in its alphabet (others are llama.cpp mislabels).
    let byte_level = kind == "gpt2";
    let alphabet: std::collections::HashSet<char> = bytes_to_unicode().into_iter().collect();
    let in_alphabet = |t: &str| !byte_level || t.chars().all(|c| alphabet.contains(&c));
    let (mut tok, add_bos_default) = match kind {
        "gpt2" => (byte_level_model(meta, &tokens)?, false),
        // llama.cpp prepends BOS to a SentencePiece vocabulary that does not say otherwise.
        "llama" => (super::sentencepiece::tokenizer(meta, &tokens)?, true),
        other => {
            return Err(meta.error(format!(
                "tokenizer.ggml.model is {other:?}, which the importer does not convert \
(supported: gpt2, byte-level BPE; llama, SentencePiece BPE)"
            )));
        }
    };

    let named = |key: &str| meta.opt_usize(key).map(|id| id.and_then(|id| tokens.get(id).copied()));
    let mut specials: Vec<&str> = tokens.iter().zip(&types).filter(|(t, ty)| **ty == CONTROL && in_alphabet(t)).map(|(t, _)| *t).collect();
    for key in
        ["tokenizer.ggml.unknown_token_id", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id"]
    {
        if let Some(t) = named(key)?
            && !specials.contains(&t)
        {
            specials.push(t);
        }
    }
    let control: Vec<AddedToken> = specials.into_iter().map(|t| AddedToken::from(t, true).normalized(false)).collect();
    tok.add_special_tokens(control).map_err(|e| meta.error(format!("adding the control tokens: {e}")))?;
    let user: Vec<AddedToken> = tokens
        .iter()
        .zip(&types)
        .filter(|(t, ty)| **ty == USER_DEFINED && in_alphabet(t))
        .map(|(t, _)| AddedToken::from(*t, false).normalized(false))
        .collect();
    tok.add_tokens(user).map_err(|e| meta.error(format!("adding the user-defined tokens: {e}")))?;
    let add_bos = meta.opt_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(add_bos_default);
    let add_eos = meta.opt_bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false);
    let (bos, eos) = (named("tokenizer.ggml.bos_token_id")?, named("tokenizer.ggml.eos_token_id")?);
    if let Some(post) = post_processor(&tok, bos.filter(|_| add_bos), eos.filter(|_| add_eos)) {
        tok.with_post_processor(Some(post));
    }

    let token = |key: &str| -> Result<Option<String>> {
        match meta.opt_usize(key)? {
            None => Ok(None),
            Some(id) => tokens.get(id).map(|t| Some(t.to_string())).ok_or_else(|| {
                meta.error(format!("{key} is {id}, but the vocabulary has only {} tokens; the file is damaged", tokens.len()))
            }),
        }
    };
    let mut config = serde_json::Map::new();
    config.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
    for (name, key) in [
        ("bos_token", "tokenizer.ggml.bos_token_id"),
        ("eos_token", "tokenizer.ggml.eos_token_id"),
        ("unk_token", "tokenizer.ggml.unknown_token_id"),
        ("pad_token", "tokenizer.ggml.padding_token_id"),
    ] {
        config.insert(name.into(), token(key)?.map(Json::String).unwrap_or(Json::Null));
    }
    config.insert("add_bos_token".into(), json!(add_bos));
    config.insert("add_eos_token".into(), json!(add_eos));
    config.insert("add_prefix_space".into(), json!(false));
    if let Some(template) = meta.opt_str("tokenizer.chat_template")? {
        config.insert("chat_template".into(), json!(template));
    }

    let mut generation: HashMap<&str, Json> = HashMap::new();
    for (name, key) in [
        ("bos_token_id", "tokenizer.ggml.bos_token_id"),
        ("eos_token_id", "tokenizer.ggml.eos_token_id"),
        ("pad_token_id", "tokenizer.ggml.padding_token_id"),
    ] {
        if let Some(id) = meta.opt_usize(key)? {
            generation.insert(name, json!(id));
        }
    }
    Ok(TokenizerFiles { tokenizer: tok, config: Json::Object(config), generation: json!(generation), vocab_size: tokens.len() })
}

/// The byte-level BPE model and its pre-tokenizer and decoder.
fn byte_level_model(meta: &Meta, tokens: &[&str]) -> Result<Tokenizer> {
    let merges = meta
        .opt_strings("tokenizer.ggml.merges")?
        .ok_or_else(|| meta.error("metadata key tokenizer.ggml.merges is missing; a byte-level BPE vocabulary needs its merges"))?;
    // Tokens are spelled in the byte alphabet; one that is not (llama.cpp writes
    // some added tokens as plain text) is respelled, as transformers does.
    let spelling = bytes_to_unicode();
    let alphabet: std::collections::HashSet<char> = spelling.iter().copied().collect();
    let mut vocab: Vocab = Vocab::default();
    for (i, t) in tokens.iter().enumerate() {
        let spelled =
            if t.chars().all(|c| alphabet.contains(&c)) { t.to_string() } else { t.bytes().map(|b| spelling[b as usize]).collect() };
        vocab.insert(spelled, i as u32);
    }
    let mut pairs = Vec::with_capacity(merges.len());
    for (i, m) in merges.iter().enumerate() {
        let (a, b) = m.split_once(' ').ok_or_else(|| {
            meta.error(format!("tokenizer.ggml.merges entry {i} is {m:?}, not two tokens separated by a space; the file is damaged"))
        })?;
        pairs.push((a.to_string(), b.to_string()));
    }
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, pairs)
        .continuing_subword_prefix(String::new())
        .end_of_word_suffix(String::new())
        .build()
        .map_err(|e| meta.error(format!("cannot build the BPE tokenizer from tokenizer.ggml.tokens and merges: {e}")))?;
    let mut tok = Tokenizer::new(bpe);
    let pre = meta.opt_str("tokenizer.ggml.pre")?.unwrap_or("default");
    match pre_split(pre) {
        None => {
            tok.with_pre_tokenizer(Some(PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true))));
        }
        Some(regex) => {
            let split = Split::new(SplitPattern::Regex(regex.into()), SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| meta.error(format!("the split of tokenizer.ggml.pre {pre:?}: {e}")))?;
            let seq =
                Sequence::new(vec![PreTokenizerWrapper::Split(split), PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, false))]);
            tok.with_pre_tokenizer(Some(PreTokenizerWrapper::Sequence(seq)));
        }
    }
    tok.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevelDecoder::default())));
    Ok(tok)
}

/// transformers' post-processor for `add_bos_token` / `add_eos_token`:
/// `BOS $A EOS` (and `BOS $A EOS BOS $B EOS` for pairs); None when neither is added.
fn post_processor(tok: &Tokenizer, bos: Option<&str>, eos: Option<&str>) -> Option<PostProcessorWrapper> {
    if bos.is_none() && eos.is_none() {
        return None;
    }
    let id = |t: &str| tok.token_to_id(t).map(|id| (t.to_string(), id));
    let tokens: Vec<(String, u32)> = bos.iter().chain(eos.iter()).filter_map(|t| id(t)).collect();
    let wrap = |seq: &str, type_id: u32| {
        let mut parts = Vec::new();
        parts.extend(bos.map(|b| format!("{b}:{type_id}")));
        parts.push(format!("${seq}:{type_id}"));
        parts.extend(eos.map(|e| format!("{e}:{type_id}")));
        parts.join(" ")
    };
    let single = wrap("A", 0);
    let pair = format!("{single} {}", wrap("B", 1));
    TemplateProcessing::builder()
        .try_single(single.as_str())
        .ok()?
        .try_pair(pair.as_str())
        .ok()?
        .special_tokens(tokens)
        .build()
        .ok()
        .map(PostProcessorWrapper::Template)
}
