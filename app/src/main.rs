//! `workbench`: with no arguments, the LoRA Workbench window; with a
//! subcommand, the command line. Wiring only: see `lib.rs`.

use workbench::cli;

/// mimalloc keeps freed tensor buffers for reuse; glibc's malloc returns large
/// blocks to the OS and the next allocation pays for zeroed pages again
/// (docs/BENCHMARKS.md has the measurements).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc's `purge_delay` option (index 15 of `mi_option_e`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Never hand freed memory back to the OS: a training step reallocates
    // the same buffers, and fresh pages cost a page fault and zeroing each.
    // SAFETY: sets a global allocator option; mimalloc documents it as safe at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_writer(std::io::stderr).init();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
