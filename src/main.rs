//! The `bookpipe` binary: parse, resolve settings, run one task, exit with its documented code.
//! Everything else lives in the library so tests drive the same code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    bookpipe::allocator::limit_arenas();
    let cli = bookpipe::cli::Cli::parse();
    bookpipe::logging::init(cli.global.log_format);
    let nothing_to_do = cli.global.nothing_to_do_exit_code;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return bookpipe::exit::Code::Failure.into();
        }
    };
    let result = runtime.block_on(bookpipe::commands::dispatch(cli));
    match bookpipe::exit::report(result) {
        bookpipe::exit::Code::NothingToDo => ExitCode::from(nothing_to_do),
        code => code.into(),
    }
}
