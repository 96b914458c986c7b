//! The billcenter binary: parses the command line and hands it to [`billcenter::cli`].

use std::process::ExitCode;

/// mimalloc: the night and ingestion allocate and free millions of small texts, across
/// threads (a file's records are read on one and stored on another).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    // Unlocked handles: the server's log writes to stderr from other threads.
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    ExitCode::from(runtime.block_on(billcenter::cli::main(args, &cwd, &mut stdout, &mut stderr)))
}
