//! Moving to production in one copy: the `vllm serve` command that serves an
//! adapter the way `workbench serve` does.

use std::path::Path;

/// vLLM's supported LoRA ranks; `--max-lora-rank` takes one of them.
const VLLM_RANKS: [usize; 8] = [8, 16, 32, 64, 128, 256, 320, 512];

/// The `vllm serve` command serving the adapter in `dir` (of rank `rank`) as
/// `name` on `base`, with `--max-lora-rank` when the rank exceeds vLLM's
/// default of 16; paths made absolute.
pub fn command(base: &Path, name: &str, dir: &Path, rank: usize) -> String {
    let abs = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf()).display().to_string();
    let mut cmd = format!("vllm serve {} --enable-lora --lora-modules {name}={}", abs(base), abs(dir));
    if rank > 16 {
        let max = VLLM_RANKS.iter().copied().find(|r| *r >= rank).unwrap_or(rank);
        cmd.push_str(&format!(" --max-lora-rank {max}"));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_over_sixteen_get_the_next_supported_maximum() {
        let c = command(Path::new("/m/base"), "hr", Path::new("/r/adapter"), 16);
        assert_eq!(c, "vllm serve /m/base --enable-lora --lora-modules hr=/r/adapter");
        assert!(command(Path::new("/b"), "x", Path::new("/a"), 64).ends_with(" --max-lora-rank 64"));
        assert!(command(Path::new("/b"), "x", Path::new("/a"), 40).ends_with(" --max-lora-rank 64"));
    }
}
