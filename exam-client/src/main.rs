fn main() -> std::process::ExitCode {
    exam_client::cli::main()
}
