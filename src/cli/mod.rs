//! The command-line face of prebounce: flags, input, output, commands.

pub mod alloc;
pub mod args;
pub mod audit;
pub mod check;
pub mod config;
pub mod db;
pub mod docs;
pub mod domain;
pub mod input;
pub mod lab;
pub mod output;
pub mod policy;
pub mod progress;
pub mod recheck;
pub mod records;
pub mod report;
pub mod sched;
pub mod serve;
pub mod summary;
