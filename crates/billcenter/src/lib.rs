//! The billcenter command line: a thin layer that parses arguments into use-case calls and
//! prints their results. `main.rs` only wires it to the process.

pub mod cli;
mod demo;
