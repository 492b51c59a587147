//! Compile-time behaviour of `#[task]`: what expands and runs, and what is
//! rejected with which message (`TRYBUILD=overwrite` regenerates the
//! `.stderr` files).

#[test]
fn task_attribute() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/pass/*.rs");
    cases.compile_fail("tests/fail/*.rs");
}
