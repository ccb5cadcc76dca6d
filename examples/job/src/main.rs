//! A Job's work: adds up the numbers in its arguments, prints the total and exits 0; a
//! non-number makes it exit 1 with a message, so the Job retries and then fails.

fn main() -> std::process::ExitCode {
    let mut total: i64 = 0;
    for arg in std::env::args().skip(1) {
        match arg.parse::<i64>() {
            Ok(n) => total = total.saturating_add(n),
            Err(_) => {
                skiff_sdk::log::error("job", &format!("{arg:?} is not a whole number"));
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    skiff_sdk::log::info("job", "added everything up");
    println!("total {total}");
    std::process::ExitCode::SUCCESS
}
