//! Building the shipped sample: a byte-level BPE tokenizer trained with the
//! tokenizers crate, and a randomly initialised Mistral-architecture model
//! directory that the trainer then pretrains (full fine-tuning) on the
//! generic company-documents corpus. `workbench sample build` drives it; see
//! `sample_data/README.md`.

use std::path::Path;

use candle_core::{DType, Device};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{AddedToken, DecoderWrapper, PreTokenizerWrapper, Tokenizer, TokenizerImpl};

use crate::error::{Error, Result};
pub use crate::model::presets::{sample_model_config, tiny_model_config};
use crate::model::{Model, ModelConfig};

/// Special tokens, in id order: unknown, BOS, EOS and the Mistral
/// instruction tags (single tokens, as in Mistral's v3 tokenizer).
pub const SPECIAL_TOKENS: [&str; 5] = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"];

/// Trains a byte-level BPE tokenizer of `vocab_size` tokens on `files` and
/// writes it as `tokenizer.json` in `out_dir`.
pub fn train_tokenizer(files: &[&Path], vocab_size: usize, out_dir: &Path) -> Result<Tokenizer> {
    let specials: Vec<AddedToken> = SPECIAL_TOKENS.iter().map(|t| AddedToken::from(*t, true)).collect();
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tok: TokenizerImpl<BPE, NormalizerWrapper, PreTokenizerWrapper, PostProcessorWrapper, DecoderWrapper> =
        TokenizerImpl::new(BPE::default());
    tok.with_pre_tokenizer(Some(PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true))));
    tok.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevelDecoder::default())));
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    tok.train_from_files(&mut trainer, names).map_err(|e| Error::Other(format!("tokenizer training: {e}")))?;
    let tok: Tokenizer = tok.into();
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let path = out_dir.join("tokenizer.json");
    let json = tok.to_string(true).map_err(|e| Error::Other(format!("tokenizer: {e}")))?;
    crate::atomic::write(&path, json.as_bytes())?;
    Ok(tok)
}

/// Writes a randomly initialised model of `config` (seeded) with the
/// tokenizer of `tokenizer_dir` as a Hugging Face directory `out_dir`.
pub fn init_model_dir(config: ModelConfig, seed: u64, tokenizer_dir: &Path, out_dir: &Path) -> Result<()> {
    let mut model = Model::random(config, seed, DType::F32, &Device::Cpu)?;
    crate::model::save_model_dir(&mut model, tokenizer_dir, out_dir)
}

/// Converts a text corpus (documents separated by blank lines) to JSONL
/// `{"text": ...}` records for pretraining. Returns the document count.
pub fn corpus_to_jsonl(corpus: &Path, out: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(corpus).map_err(|e| Error::io(corpus, e))?;
    let docs: Vec<String> =
        text.split("\n\n").map(str::trim).filter(|d| !d.is_empty()).map(|d| serde_json::json!({ "text": d }).to_string()).collect();
    crate::atomic::write(out, (docs.join("\n") + "\n").as_bytes())?;
    Ok(docs.len())
}

/// Writes a randomly initialised tiny model directory that uses the tokenizer
/// of `tokenizer_dir` (for tests and smoke runs).
pub fn write_tiny_model(tokenizer_dir: &Path, seed: u64, out_dir: &Path) -> Result<()> {
    let tok = Tokenizer::from_file(tokenizer_dir.join("tokenizer.json"))
        .map_err(|e| Error::model(tokenizer_dir, format!("cannot load tokenizer: {e}")))?;
    init_model_dir(tiny_model_config(tok.get_vocab_size(true)), seed, tokenizer_dir, out_dir)
}
