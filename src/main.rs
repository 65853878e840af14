//! The `leadgate` binary: parses the command line, starts logging, and hands over to
//! `leadgate::cli::main` (the gateway by default, or an admin subcommand).

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = leadgate::cli::Cli::parse();
    leadgate::telemetry::init();
    leadgate::cli::main(cli).await
}
