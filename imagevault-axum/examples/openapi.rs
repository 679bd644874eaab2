//! Run with `cargo run -p imagevault-axum --example openapi > openapi.json`
//!
//! Prints the API's OpenAPI 3.1 document, the same one a server answers at `/api/schema/`,
//! for client generators and API linters that want a file.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", imagevault_axum::openapi().to_pretty_json()?);
    Ok(())
}
