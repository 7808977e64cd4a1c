fn main() -> std::process::ExitCode {
    central_sync::cli::main()
}
