//! `rta`: the command line client of an RTA deployment (sessions, configs,
//! data, CSV import and export). `rta --help` lists the commands; every
//! command has `--help` with an example. The logic is `rta_client::cli`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    rta_client::cli::main().await
}
