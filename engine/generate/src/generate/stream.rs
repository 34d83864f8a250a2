//! Generated token ids as text, piece by piece: only whole UTF-8 characters
//! are handed out (a byte-level BPE token can end inside a character, and a
//! SentencePiece byte-fallback token is a single byte), and text that could
//! still grow into a stop string is held back until it cannot, so a streamed
//! answer never shows part of a stop string. Decoding restarts a few tokens
//! back each time (as transformers' and vLLM's incremental detokenizers do),
//! so decoders that treat the first token specially stay right.

use tokenizers::Tokenizer;

use crate::error::{Error, Result};

/// What one more token adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Text safe to show now (possibly empty).
    pub text: String,
    /// Whether a stop string was reached (the text is cut before it).
    pub stopped: bool,
}

/// The text of a generation so far.
pub struct TextStream<'t> {
    tok: &'t Tokenizer,
    ids: Vec<u32>,
    prefix_offset: usize,
    read_offset: usize,
    text: String,
    emitted: usize,
    stop: Vec<String>,
}

impl<'t> TextStream<'t> {
    /// A stream decoding with `tok` (special tokens skipped) that ends at any of `stop`.
    pub fn new(tok: &'t Tokenizer, stop: &[String]) -> Self {
        let stop = stop.iter().filter(|s| !s.is_empty()).cloned().collect();
        Self { tok, ids: Vec::new(), prefix_offset: 0, read_offset: 0, text: String::new(), emitted: 0, stop }
    }

    /// Adds a generated token.
    pub fn push(&mut self, id: u32) -> Result<Piece> {
        self.ids.push(id);
        let decode = |ids: &[u32]| self.tok.decode(ids, true).map_err(|e| Error::Other(format!("decoding generated tokens: {e}")));
        let prefix = decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let full = decode(&self.ids[self.prefix_offset..])?;
        if full.len() > prefix.len() && !full.ends_with('\u{FFFD}') && full.starts_with(&prefix) {
            self.text.push_str(&full[prefix.len()..]);
            self.prefix_offset = self.read_offset;
            self.read_offset = self.ids.len();
        }
        // A stop string may start in text already handed out's held-back tail.
        if let Some(at) = self.stop.iter().filter_map(|s| self.text[self.emitted..].find(s.as_str()).map(|i| self.emitted + i)).min() {
            self.text.truncate(at);
            return Ok(Piece { text: self.take(at), stopped: true });
        }
        let safe = self.text.len() - self.held_back();
        Ok(Piece { text: self.take(safe), stopped: false })
    }

    /// The text held back at the end (the generation ended without reaching a stop string).
    pub fn finish(&mut self) -> String {
        self.take(self.text.len())
    }

    /// Everything generated so far (cut before a stop string).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Hands out `text[emitted..end]`.
    fn take(&mut self, end: usize) -> String {
        let piece = self.text[self.emitted..end].to_string();
        self.emitted = end;
        piece
    }

    /// Bytes at the end of the text that are the start of some stop string.
    fn held_back(&self) -> usize {
        let tail = &self.text[self.emitted..];
        self.stop
            .iter()
            .flat_map(|s| s.char_indices().skip(1).map(move |(k, _)| &s[..k]))
            .filter(|start| tail.ends_with(start))
            .map(str::len)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A byte-level tokenizer whose vocabulary is the 256 bytes alone, so
    /// that every multi-byte character arrives as several tokens.
    fn bytes_tokenizer() -> Tokenizer {
        use tokenizers::decoders::byte_level::ByteLevel as Decoder;
        use tokenizers::models::bpe::BPE;
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        let vocab: tokenizers::models::bpe::Vocab =
            crate::model::gguf::tokenizer::bytes_to_unicode().iter().enumerate().map(|(i, c)| (c.to_string(), i as u32)).collect();
        let mut tok = Tokenizer::new(BPE::builder().vocab_and_merges(vocab, vec![]).build().unwrap());
        tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        tok.with_decoder(Some(Decoder::default()));
        tok
    }

    fn pieces(text: &str, stop: &[&str]) -> (Vec<String>, bool, String) {
        let tok = bytes_tokenizer();
        let ids = tok.encode(text, false).unwrap().get_ids().to_vec();
        let stop: Vec<String> = stop.iter().map(|s| s.to_string()).collect();
        let mut stream = TextStream::new(&tok, &stop);
        let mut out = Vec::new();
        for id in ids {
            let p = stream.push(id).unwrap();
            out.push(p.text);
            if p.stopped {
                return (out, true, stream.text().to_string());
            }
        }
        out.push(stream.finish());
        (out, false, stream.text().to_string())
    }

    #[test]
    fn multi_byte_characters_arrive_whole() {
        let text = "Grüße 🙂 日本";
        let (out, stopped, all) = pieces(text, &[]);
        assert!(!stopped);
        assert_eq!(out.concat(), text);
        assert_eq!(all, text);
        assert!(out.iter().all(|p| !p.contains('\u{FFFD}')));
        // 🙂 is four bytes, so four tokens: three empty pieces, then the whole character.
        assert!(out.contains(&"🙂".to_string()), "{out:?}");
    }

    #[test]
    fn a_stop_string_ends_the_text_and_is_never_shown() {
        let (out, stopped, all) = pieces("Reset it.\nUser: thanks", &["\nUser:"]);
        assert!(stopped);
        assert_eq!(all, "Reset it.");
        assert_eq!(out.concat(), "Reset it.");
        assert!(out.iter().all(|p| !p.contains('\n')), "part of the stop string was shown: {out:?}");
        // A prefix of a stop string that does not complete it is shown in the end.
        let (out, stopped, _) = pieces("a\nUse it", &["\nUser:"]);
        assert!(!stopped);
        assert_eq!(out.concat(), "a\nUse it");
    }
}
