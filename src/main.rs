fn main() -> std::process::ExitCode {
    dag::cli::main()
}
