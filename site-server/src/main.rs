fn main() -> std::process::ExitCode {
    site_server::cli::main()
}
