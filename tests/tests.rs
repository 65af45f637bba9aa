//! End-to-end tests: the real binary against real DNS servers on loopback.

mod addresses;
mod audit;
mod cli;
mod conventions;
mod engines;
mod evidence;
mod flags;
mod health;
mod history;
mod inputs;
mod knot;
mod mta;
mod pg;
mod policy;
mod probe;
mod reasons;
mod report;
mod serve;
mod summary;
mod unbound;
mod util;
