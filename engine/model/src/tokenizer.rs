//! Loading a model directory's `tokenizer.json` and checking it fits the model.

use std::path::Path;

use tokenizers::Tokenizer;

use crate::ModelConfig;
use crate::error::{Error, Result};

/// Loads `DIR/tokenizer.json` and checks every token id fits the model's
/// embedding matrix.
pub fn load(dir: &Path, config: &ModelConfig) -> Result<Tokenizer> {
    let path = dir.join("tokenizer.json");
    let tok = Tokenizer::from_file(&path).map_err(|e| Error::model(&path, format!("cannot load tokenizer: {e}")))?;
    let size = tok.get_vocab_size(true);
    if size > config.vocab_size {
        return Err(Error::model(
            &path,
            format!(
                "tokenizer has {size} tokens but the model's vocab_size is {}; this tokenizer does not belong to this model",
                config.vocab_size
            ),
        ));
    }
    Ok(tok)
}

/// Id of a special token such as `<s>`, or an error naming the tokenizer.
pub fn special_id(tok: &Tokenizer, token: &str) -> Result<u32> {
    tok.token_to_id(token).ok_or_else(|| Error::Other(format!("tokenizer has no {token} token; the chat template needs it")))
}
