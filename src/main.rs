//! The single-machine Leadgate gateway: reads its config, starts logging, and runs.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = leadgate::config::GatewayConfig::parse();
    leadgate::telemetry::init();
    match leadgate::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leadgate: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
