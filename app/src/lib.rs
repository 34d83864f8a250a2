//! The `workbench` application: the CLI subcommands and the GUI, both thin
//! views over the `engine` crate. The binary (`main.rs`) only wires them.

pub mod cli;
pub mod eval_report;
#[cfg(feature = "gui")]
pub mod gui;
pub mod signals;
