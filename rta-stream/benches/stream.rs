//! Stream benches.
fn main() {}
