fn main() {
    std::process::exit(simctl::cli::main())
}
